"""The best model's export on a background thread: weights taken at the request, newest request wins,
errors surface on the training thread, nothing half-written is left behind."""

from __future__ import annotations

import json
import os
import random
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import trainrig
from trainrig.export.exporter import Exporter
from trainrig.hooks.manager import PluginManager


def small_graph():
    inputs = {"x": keras.Input(shape=(3,), name="x")}
    return keras.Model(inputs, {"y": keras.layers.Dense(2)(inputs["x"])})


class ExportRecorder:
    """A plugin: the thread and the weights each export was written with; fails on request."""

    def __init__(self, fail_kind: str | None = None):
        self.fail_kind = fail_kind
        self.calls: list[tuple[str, str, int]] = []

    @trainrig.hookimpl
    def trainrig_export_written(self, directory, graphs, kind):
        manifest = json.loads((directory / "trainrig.json").read_text())
        self.calls.append((kind, threading.current_thread().name, manifest.get("n")))
        if kind == self.fail_kind:
            raise RuntimeError("the plugin could not convert the graph")


def exporter_with(recorder=None):
    plugins = None
    if recorder is not None:
        plugins = PluginManager(load_entry_points=False)
        plugins.register(recorder, name="export_recorder")
    graph = small_graph()
    return graph, Exporter({"default": graph}, [], "tests:none", plugins=plugins)


def test_the_weights_are_those_of_the_request_not_of_the_write(tmp_path):
    graph, exporter = exporter_with()
    kernel = graph.layers[-1].kernel
    with exporter.background():
        kernel.assign(np.full((3, 2), 1.0, "float32"))
        exporter.export_in_background(tmp_path / "best", "best", extra={"n": 1})
        kernel.assign(np.full((3, 2), 7.0, "float32"))  # training goes on meanwhile
    reloaded = trainrig.load_model(tmp_path / "best")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded.layers[-1].kernel), np.ones((3, 2)))
    saved_model = tf.saved_model.load(str(tmp_path / "best" / "default"))
    served = saved_model.serve({"x": np.ones((1, 3), "float32")})["y"].numpy()
    np.testing.assert_allclose(served, [[3.0, 3.0]], atol=1e-6)  # x @ ones + zero bias


def test_a_newer_request_replaces_one_that_has_not_started_and_nothing_is_left_behind(tmp_path):
    recorder = ExportRecorder()
    _, exporter = exporter_with(recorder)
    with exporter.background():
        for n in range(1, 6):
            exporter.export_in_background(tmp_path / "best", "best", extra={"n": n})
    assert json.loads((tmp_path / "best" / "trainrig.json").read_text())["n"] == 5
    written = [n for _, _, n in recorder.calls]
    assert written[-1] == 5 and written == sorted(written) and len(written) < 5  # some were skipped
    assert all(thread.startswith("trainrig-export") for _, thread, _ in recorder.calls)
    assert sorted(os.listdir(tmp_path)) == ["best"]


def test_making_the_shadows_leaves_pythons_global_random_state_alone(tmp_path):
    inputs = {"x": keras.Input(shape=(3,), name="x")}
    hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(4)(inputs["x"]))  # seeds drawn when reloaded
    exporter = Exporter({"default": keras.Model(inputs, {"y": hidden})}, [], "tests:none")
    random.seed(5)
    with exporter.background():
        assert exporter._shadows is not None
        drawn = random.random()
    random.seed(5)
    assert drawn == random.random()


def test_outside_the_background_block_a_best_export_is_written_at_once(tmp_path):
    _, exporter = exporter_with()
    exporter.export_in_background(tmp_path / "best", "best", extra={"n": 1})
    assert json.loads((tmp_path / "best" / "trainrig.json").read_text())["n"] == 1


def test_a_failing_plugin_surfaces_on_the_training_thread_after_the_swap(tmp_path):
    _, exporter = exporter_with(ExportRecorder(fail_kind="best"))
    with pytest.raises(trainrig.TrainrigError, match="could not convert the graph"):
        with exporter.background():
            exporter.export_in_background(tmp_path / "best", "best", extra={"n": 1})
    assert json.loads((tmp_path / "best" / "trainrig.json").read_text())["n"] == 1  # the export itself is kept
    assert sorted(os.listdir(tmp_path)) == ["best"]


def test_an_error_in_the_block_wins_over_a_background_error(tmp_path):
    _, exporter = exporter_with(ExportRecorder(fail_kind="best"))
    with pytest.raises(KeyError, match="the loop failed"):
        with exporter.background():
            exporter.export_in_background(tmp_path / "best", "best", extra={"n": 1})
            raise KeyError("the loop failed")
    assert sorted(os.listdir(tmp_path)) == ["best"]


def test_later_exports_rewrite_only_the_variables_of_the_saved_model_and_serve_the_new_weights(tmp_path):
    graph, exporter = exporter_with()
    kernel = graph.layers[-1].kernel
    served = []
    with exporter.background():
        for n, value in ((1, 1.0), (2, 2.0), (3, -0.5)):
            kernel.assign(np.full((3, 2), value, "float32"))
            exporter.export_in_background(tmp_path / f"best{n}", "best", extra={"n": n})
            exporter.wait()
    for n in (1, 2, 3):
        saved_model = tf.saved_model.load(str(tmp_path / f"best{n}" / "default"))
        served.append(saved_model.serve({"x": np.ones((1, 3), "float32")})["y"].numpy()[0, 0])
        assert (tmp_path / f"best{n}" / "default" / "fingerprint.pb").is_file()
    np.testing.assert_allclose(served, [3.0, 6.0, -1.5], atol=1e-6)


def test_a_checkpoint_is_written_only_after_the_best_model_requested_before_it(tmp_path):
    from trainrig.checkpoint.store import CheckpointStore

    release = threading.Event()

    class SlowPlugin:
        @trainrig.hookimpl
        def trainrig_export_written(self, directory, graphs, kind):
            assert release.wait(30)

    _, exporter = exporter_with(SlowPlugin())
    store = CheckpointStore(tmp_path / "checkpoints")
    with exporter.background():
        exporter.export_in_background(tmp_path / "best", "best", extra={"n": 1})
        store.save_async(7, {"a": np.zeros(2)}, {"format": 1}, after=exporter.barrier())
        time.sleep(0.5)
        assert store.list() == [] and not (tmp_path / "best").exists()  # a kill now loses both: consistent
        release.set()
        store.wait()
        assert [step for step, _ in store.list()] == [7] and (tmp_path / "best" / "trainrig.json").is_file()
    store.close()
