"""The ``ema`` plugin end to end with real TensorFlow: discovery, params, exports, the average itself, state.

The repository's root conftest sets ``TRAINRIG_LOAD_PLUGINS=""`` (no installed plugin loads); these
tests opt in with ``TRAINRIG_LOAD_PLUGINS=ema`` and a fresh ``PluginManager`` handed to the Trainer.
They need this distribution and the digits tutorial installed (``pip install -e plugins/trainrig-ema
-e tutorials/digits``).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import trainrig
from trainrig.hooks import manager as manager_module
from trainrig.hooks.manager import PluginManager
from trainrig.params import from_dict
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel, DigitsModelParams
from trainrig_ema import GRAPH_NAME, EmaParams
from trainrig_ema.averaging import EmaCallback, build_ema_graph, warmup_decay

DECAY = 0.9
HOOKS = ["trainrig_register_callbacks", "trainrig_register_export_graphs", "trainrig_register_params"]


# --- helpers -------------------------------------------------------------------------------------


def ema_manager(mp: pytest.MonkeyPatch) -> PluginManager:
    mp.setenv("TRAINRIG_LOAD_PLUGINS", "ema")
    return PluginManager()


def numpy_weights(weights) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w).copy() for w in weights]


class WeightRecorder(keras.callbacks.Callback):
    """A user callback (so it runs after the plugin's): the model's weights at start and after every batch."""

    def __init__(self):
        super().__init__()
        self.initial: list[np.ndarray] = []
        self.snapshots: list[list[np.ndarray]] = []
        self.averaged: list[bool] = []

    def on_train_begin(self, logs=None):
        self.initial = numpy_weights(self.model.weights)
        self.averaged = [bool(w.trainable) for w in self.model.weights]

    def on_train_batch_end(self, batch, logs=None):
        self.snapshots.append(numpy_weights(self.model.weights))


class ExportSpy:
    """A test plugin: the ema graph's weights in each export, and the epochs trained when the weights were
    taken (from the manifest: a best model's SavedModel is written in the background, later)."""

    def __init__(self, recorder: WeightRecorder):
        self.recorder = recorder
        self.exports: list[tuple[str, int, list[np.ndarray]]] = []

    @trainrig.hookimpl
    def trainrig_export_written(self, directory, graphs, kind):
        manifest = json.loads((directory / "trainrig.json").read_text())
        epochs = manifest["epoch"] if kind == "best" else manifest["epochs"]
        self.exports.append((kind, epochs, numpy_weights(graphs[GRAPH_NAME].weights)))


def reference_ema(recorder: WeightRecorder, decay: float, updates: int | None = None) -> list[np.ndarray]:
    """The EMA computed independently in float64 from the recorded weights (non-trainable: the latest)."""
    snapshots = recorder.snapshots[: len(recorder.snapshots) if updates is None else updates]
    shadow = [w.astype(np.float64) for w in recorder.initial]
    for t, weights in enumerate(snapshots):
        d = min(decay, (1.0 + t) / (10.0 + t))
        shadow = [
            d * s + (1.0 - d) * w.astype(np.float64) if averaged else w.astype(np.float64)
            for s, w, averaged in zip(shadow, weights, recorder.averaged)
        ]
    return shadow


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b)
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b))


def ema_callbacks(trainer) -> list[EmaCallback]:
    return [c for c in trainer.callbacks.callbacks if isinstance(c, EmaCallback)]


def digits_params(output_dir, **overrides) -> trainrig.TrainerParams:
    values = dict(epochs=2, batch_size=64, learning_rate=0.01, progress="none", output_dir=str(output_dir))
    values["overwrite"] = True
    values.update(overrides)
    return trainrig.TrainerParams(**values)


# --- a real run, shared by the tests below --------------------------------------------------------


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ema") / "run"
    recorder = WeightRecorder()
    with pytest.MonkeyPatch.context() as mp:
        manager = ema_manager(mp)
    spy = ExportSpy(recorder)
    manager.register(spy, name="export_spy")
    trainer = trainrig.Trainer(
        digits_params(root),
        DigitsModel(DigitsModelParams(filters=4)),
        DigitsData(),
        callbacks=[recorder],
        plugins=manager,
        plugin_params={"ema": EmaParams(decay=DECAY)},
    )
    trainer.train()
    return root, trainer, recorder, spy


# --- discovery and params ------------------------------------------------------------------------


def test_entry_point_is_discovered_with_its_distribution_and_hooks(monkeypatch):
    (entry_point,) = [ep for ep in importlib.metadata.entry_points(group="trainrig") if ep.name == "ema"]
    assert entry_point.value == "trainrig_ema.plugin"
    rows = {row["name"]: row for row in ema_manager(monkeypatch).listing()}
    assert rows["ema"] == {
        "name": "ema",
        "distribution": "trainrig-ema",
        "version": importlib.metadata.version("trainrig-ema"),
        "builtin": False,
        "hooks": HOOKS,
    }
    monkeypatch.setenv("TRAINRIG_LOAD_PLUGINS", "")
    assert "ema" not in {row["name"] for row in PluginManager().listing()}


def test_plugin_module_imports_no_tensorflow():
    code = "import sys, trainrig_ema.plugin; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]


def test_params_defaults_and_help():
    params = EmaParams()
    assert (params.enabled, params.decay) == (True, 0.999)
    for a in trainrig.params.fields_of(EmaParams):
        assert trainrig.params.help_of(a), a.name


@pytest.mark.parametrize("decay", [1.5, 1.0, 0.0, -0.1, math.nan, math.inf])
def test_bad_decay_is_a_trainrig_error_naming_the_valid_range(decay):
    with pytest.raises(trainrig.TrainrigError, match=r"decay must be a number with 0 < decay < 1"):
        EmaParams(decay=decay)
    expected = r"^plugins\.ema\.decay must be a number with 0 < decay < 1.*got 1\.5"
    with pytest.raises(trainrig.TrainrigError, match=expected):
        from_dict(EmaParams, {"decay": 1.5}, "plugins.ema")


@pytest.fixture
def isolated_cli(monkeypatch):
    """The command line configures the process-wide plugin manager: restore it after the test."""
    monkeypatch.setattr(manager_module, "_default", None)
    monkeypatch.setattr(manager_module, "_settings", {"modules": [], "blocked": []})
    monkeypatch.setenv("TRAINRIG_LOAD_PLUGINS", "ema")
    from trainrig.cli.main import main

    return main


def test_command_line_options(isolated_cli, tmp_path, capsys):
    base = ["train", "--model", "trainrig_digits.model:DigitsModel", "--data", "trainrig_digits.data:DigitsData"]
    base += ["--trainer.output_dir", str(tmp_path / "run"), "--print-config"]
    assert isolated_cli([*base, "--plugins.ema.decay", "0.99", "--plugins.ema.enabled", "false"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["plugins"]["params"]["ema"] == {"enabled": False, "decay": 0.99}

    assert isolated_cli([*base, "--plugins.ema.decay", "1.5"]) == 2
    error = capsys.readouterr().err
    assert "plugins.ema.decay must be a number with 0 < decay < 1" in error and "got 1.5" in error

    with pytest.raises(SystemExit) as exited:  # argparse's --help
        isolated_cli(["train", "--help"])
    assert exited.value.code == 0
    assert "--plugins.ema.decay" in capsys.readouterr().out


# --- the run --------------------------------------------------------------------------------------


def test_run_writes_ema_graph_to_export_and_best(digits_run):
    root, trainer, _, _ = digits_run
    for directory in (root / "export", root / "best"):
        assert (directory / "ema.keras").is_file()
        assert (directory / "ema" / "saved_model.pb").is_file()
        assert json.loads((directory / "trainrig.json").read_text())["graphs"] == ["default", "ema"]
    params = json.loads((root / "params.json").read_text())
    assert params["plugins"]["params"]["ema"] == {"enabled": True, "decay": DECAY}
    assert len(ema_callbacks(trainer)) == 1
    # the ema graph has variables of its own
    training_ids = {id(v) for v in trainer.keras_model.weights}
    assert not training_ids & {id(v) for v in trainer.exporter.graphs["ema"].weights}


def test_reloaded_ema_graph_holds_the_moving_average(digits_run):
    root, trainer, recorder, _ = digits_run
    steps = trainer.parts.steps_per_epoch * 2
    assert len(recorder.snapshots) == steps
    (callback,) = ema_callbacks(trainer)
    assert int(callback.updates.numpy()) == steps

    reloaded = trainrig.load_model(root, graph="ema")
    weights = numpy_weights(reloaded.weights)
    assert max_difference(weights, reference_ema(recorder, DECAY)) < 1e-6
    assert max_difference(weights, recorder.snapshots[-1]) > 1e-3  # not the raw weights
    # the default graph holds the raw final weights
    assert max_difference(numpy_weights(trainrig.load_model(root).weights), recorder.snapshots[-1]) == 0.0


def test_every_export_writes_the_current_average(digits_run):
    """BestModel (a base callback) exports at an epoch end before plugin callbacks run: the average is
    already current because it is updated after every batch."""
    root, trainer, recorder, spy = digits_run
    kinds = [kind for kind, _, _ in spy.exports]
    assert kinds[0] == "best" and kinds[-1] == "final"
    for kind, epochs, weights in spy.exports:
        assert epochs > 0, kind
        batches = epochs * trainer.parts.steps_per_epoch  # one snapshot per batch: the recorder needs every batch
        assert max_difference(weights, reference_ema(recorder, DECAY, batches)) < 1e-6, (kind, batches)
    best_epoch = json.loads((root / "best" / "trainrig.json").read_text())["epoch"]
    best = numpy_weights(trainrig.load_model(root / "best", graph="ema").weights)
    assert max_difference(best, reference_ema(recorder, DECAY, best_epoch * trainer.parts.steps_per_epoch)) < 1e-6


def test_saved_model_serves_the_ema_weights(digits_run):
    root, _, _, _ = digits_run
    images = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    saved_model = tf.saved_model.load(str(root / "export" / "ema"))  # keep it referenced while serving
    served = saved_model.serve({"image": images})
    reloaded = trainrig.load_model(root, graph="ema")({"image": images})
    np.testing.assert_allclose(served["logits"].numpy(), keras.ops.convert_to_numpy(reloaded["logits"]), atol=1e-6)


def test_state_round_trip_restores_identical_shadow_and_continues_bit_for_bit(digits_run):
    _, trainer, recorder, _ = digits_run
    (callback,) = ema_callbacks(trainer)
    graph = trainer.exporter.graphs["ema"]
    state = callback.get_state()
    assert json.loads(json.dumps(state)) == state  # JSON-ready, exactly
    state = json.loads(json.dumps(state))
    assert state["updates"] == len(recorder.snapshots)
    saved = numpy_weights(graph.weights)

    def continue_training(n=3):
        for i in range(n):  # the model's weights move on; the average follows
            for w in trainer.keras_model.trainable_weights:
                w.assign(w * 0.5 + 0.01 * (i + 1))
            callback.on_train_batch_end(i)
        return numpy_weights(graph.weights), int(callback.updates.numpy())

    raw = numpy_weights(trainer.keras_model.weights)
    after, updates = continue_training()
    assert updates == state["updates"] + 3
    for w, value in zip(trainer.keras_model.weights, raw):
        w.assign(value)

    callback.set_state(state)  # restores the shadow (bit for bit) and the update count
    assert all(np.array_equal(a, b) for a, b in zip(numpy_weights(graph.weights), saved))
    assert int(callback.updates.numpy()) == state["updates"]
    again, updates_again = continue_training()
    assert updates_again == updates
    assert all(np.array_equal(a, b) for a, b in zip(again, after))

    # a fresh callback on a fresh ema graph (as in a resumed process) takes the same state
    fresh_graph = build_ema_graph(trainer.parts.built.inputs, trainer.parts.built.outputs, name="fresh")
    fresh = EmaCallback(trainer, fresh_graph, DECAY)
    fresh.set_state(state)
    assert all(np.array_equal(a, b) for a, b in zip(numpy_weights(fresh_graph.weights), saved))
    fresh.on_train_begin()  # updates > 0: a resumed average is not reset to the weights
    assert all(np.array_equal(a, b) for a, b in zip(numpy_weights(fresh_graph.weights), saved))

    # invalid states are one-line errors
    with pytest.raises(trainrig.TrainrigError, match="holds 1 weights"):
        fresh.set_state({"updates": 1, "weights": state["weights"][:1]})
    with pytest.raises(trainrig.TrainrigError, match="has shape"):
        fresh.set_state({"updates": 1, "weights": [[0.0]] * len(state["weights"])})
    with pytest.raises(trainrig.TrainrigError, match="expected keys"):
        fresh.set_state({})

    for w, value in zip(trainer.keras_model.weights, raw):  # leave the shared run as it was
        w.assign(value)
    callback.set_state(state)


# --- other runs -----------------------------------------------------------------------------------


def test_disabled_adds_no_graph_and_no_callback(tmp_path, monkeypatch):
    root = tmp_path / "run"
    trainer = trainrig.Trainer(
        digits_params(root, epochs=1, steps_per_epoch=2),
        DigitsModel(DigitsModelParams(filters=2)),
        DigitsData(),
        plugins=ema_manager(monkeypatch),
        plugin_params={"ema": EmaParams(enabled=False, decay=DECAY)},
    )
    trainer.train()
    assert list(trainer.exporter.graphs) == ["default"]
    assert ema_callbacks(trainer) == []
    assert sorted(p.name for p in (root / "export").iterdir()) == ["default", "default.keras", "trainrig.json"]
    assert not (root / "best" / "ema.keras").exists()


class BatchNormGraph(trainrig.GraphBase):
    """Digits with a BatchNormalization: its moving statistics are copied, gamma and beta averaged."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.conv = keras.layers.Conv2D(params.filters, 3, padding="same")
        self.norm = keras.layers.BatchNormalization(momentum=0.5)
        self.flatten = keras.layers.Flatten()
        self.logits = keras.layers.Dense(params.n_classes)

    def call(self, inputs, training=None):
        conv = keras.ops.relu(self.norm(self.conv(inputs["image"]), training=training))
        logits = self.logits(self.flatten(conv))
        return {"logits": logits, "probabilities": keras.ops.softmax(logits), "conv": conv}


class BatchNormModel(DigitsModel):
    def create_graph(self, params):
        return BatchNormGraph(params)


def test_batch_norm_statistics_are_copied_and_steps_per_execution(tmp_path, monkeypatch):
    recorder = WeightRecorder()
    trainer = trainrig.Trainer(
        digits_params(tmp_path / "run", epochs=1, steps_per_epoch=6, steps_per_execution=2, export=False, print_samples=0),
        BatchNormModel(DigitsModelParams(filters=2)),
        DigitsData(),
        callbacks=[recorder],
        plugins=ema_manager(monkeypatch),
        plugin_params={"ema": EmaParams(decay=DECAY)},
    )
    trainer.train()
    (callback,) = ema_callbacks(trainer)
    assert int(callback.updates.numpy()) == len(recorder.snapshots) == 3  # one update per execution
    assert recorder.averaged.count(False) == 2  # moving_mean, moving_variance
    graph = trainer.exporter.graphs["ema"]
    weights = numpy_weights(graph.weights)
    assert max_difference(weights, reference_ema(recorder, DECAY)) < 1e-6
    for w, raw, averaged in zip(weights, recorder.snapshots[-1], recorder.averaged):
        if not averaged:
            assert np.array_equal(w, raw)  # copied as they are
    everything_averaged = reference_ema(recorder, DECAY)
    recorder.averaged = [True] * len(recorder.averaged)
    assert max_difference(reference_ema(recorder, DECAY), everything_averaged) > 1e-4  # so the copy mattered

    # a layer frozen between epochs: its weights are copied from the next epoch on
    norm = trainer.parts.built.keras_model.get_layer(index=1).norm
    norm.trainable = False
    try:
        callback.on_epoch_begin(1)
        assert callback._averaged.count(False) == 4
        callback.update()
        gamma = [i for i, w in enumerate(trainer.keras_model.weights) if w is norm.gamma][0]
        assert np.array_equal(numpy_weights(graph.weights)[gamma], keras.ops.convert_to_numpy(norm.gamma))
    finally:
        norm.trainable = True


def test_warmup_decay():
    assert warmup_decay(0.999, 0) == pytest.approx(0.1)
    assert warmup_decay(0.999, 90) == pytest.approx(0.91)
    assert warmup_decay(0.5, 0) == pytest.approx(0.1) and warmup_decay(0.5, 10) == 0.5
