"""Freeze training: phases resolved against the real model, frozen weights untouched, one continuous resumable run."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import trainrig
from trainrig.errors import TrainrigError
from trainrig.train.freeze import FreezePlan, layer_paths
from trainrig.train.params import FreezeParams

from fixtures_pkg.helpers import make_params, resume_result, resume_script, subprocess_env, tensorboard_tensors
from fixtures_pkg.tinymodels import N_FEATURES, TinyData, TinyModel



class WeightsPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append({v.path.split("/", 1)[1]: keras.ops.convert_to_numpy(v) for v in self.model.weights})


def tiny_trainer(tmp_path, freeze: FreezeParams, epochs=4, callbacks=(), model=None, **overrides):
    params = make_params(tmp_path / "run", epochs=epochs, freeze=freeze, deterministic=True, seed=3, **overrides)
    return trainrig.Trainer(params, model or TinyModel(), TinyData(), callbacks=list(callbacks))


def built_paths(tmp_path) -> list[str]:
    trainer = tiny_trainer(tmp_path, FreezeParams())
    trainer.prepare()
    return list(layer_paths(trainer.keras_model))


def plan(tmp_path, **freeze) -> FreezePlan:
    return FreezePlan(FreezeParams(**freeze), built_paths(tmp_path), set(), seed=5, epochs=6)


class Encoder(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [keras.layers.Dense(4), keras.layers.Dense(4)]

    def call(self, x):
        return self.blocks[1](self.blocks[0](x))


class NestedGraph(trainrig.GraphBase):
    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.encoder = Encoder()
        self.head = keras.layers.Dense(1, name="the_head")

    def call(self, inputs, training=None):
        return {"y_hat": self.head(self.encoder(inputs["x"]))}


class NestedModel(TinyModel):
    def create_graph(self, params):
        return NestedGraph(params)


def test_layers_are_named_by_attribute_path_inside_the_graph(tmp_path):
    trainer = tiny_trainer(tmp_path, FreezeParams(), model=NestedModel())
    trainer.prepare()
    paths = layer_paths(trainer.keras_model)
    assert list(paths) == ["encoder", "encoder/blocks/0", "encoder/blocks/1", "head"]
    p = FreezePlan(FreezeParams(), list(paths), set(), 0, 2, {k: v.name for k, v in paths.items()})
    assert p.resolve("encoder/.*", "t") == {"encoder/blocks/0", "encoder/blocks/1"}
    assert p.resolve("encoder", "t") == {"encoder", "encoder/blocks/0", "encoder/blocks/1"}  # with its sublayers
    assert p.resolve("the_head", "t") == p.resolve("head", "t") == {"head"}  # its keras name or its path
    assert p.resolve("all", "t") == set(paths)


def test_patterns_name_layers_by_name_path_regex_and_all(tmp_path):
    paths = built_paths(tmp_path)
    assert paths == ["hidden", "dropout", "head", "logit"]
    p = plan(tmp_path)
    assert p.resolve("hidden", "t") == {"hidden"}
    assert p.resolve("(head|logit)", "t") == {"head", "logit"}
    assert p.resolve("all", "t") == set(paths)
    with pytest.raises(TrainrigError, match=r"^t: 'encoder' matches no layer; layers: hidden, dropout, head, logit$"):
        p.resolve("encoder", "t")


def test_schedule_phases_accumulate_freezes_and_releases(tmp_path):
    p = plan(tmp_path, schedule=[
        {"epoch": 0, "freeze": ["all"]},
        {"epoch": 2, "unfreeze": ["head"], "learning_rate": 0.5},
        {"epoch": 4, "unfreeze": ["all"]},
    ])
    assert p.phase_at(0).frozen == p.phase_at(1).frozen == frozenset(built_paths(tmp_path))
    assert "head" not in p.phase_at(2).frozen and "hidden" in p.phase_at(3).frozen
    assert p.phase_at(2).learning_rate == 0.5
    assert p.phase_at(5).frozen == frozenset()
    assert [line.split(":")[0].strip() for line in p.describe().splitlines()[1:]] == ["epochs 1-2", "epochs 3-4", "epochs 5-6"]


def test_round_robin_cycles_and_random_is_seeded(tmp_path):
    rr = plan(tmp_path, strategy="round_robin", layers=["hidden", "head", "logit"], count=1, interval=2)
    order = [sorted(rr.phase_at(e).frozen) for e in range(6)]
    assert order == [["hidden"]] * 2 + [["head"]] * 2 + [["logit"]] * 2
    random_phases = [plan(tmp_path, strategy="random", layers=["hidden", "head", "logit"], count=2).phase_at(e) for e in range(6)]
    again = [plan(tmp_path, strategy="random", layers=["hidden", "head", "logit"], count=2).phase_at(e) for e in range(6)]
    assert random_phases == again and all(len(p.frozen) == 2 for p in random_phases)
    assert len({p.frozen for p in random_phases}) > 1  # fresh choices, not one fixed set
    other_seed = FreezePlan(FreezeParams(strategy="random", layers=["hidden", "head", "logit"], count=2),
                            built_paths(tmp_path), set(), seed=6, epochs=6)
    assert [other_seed.phase_at(e).frozen for e in range(6)] != [p.frozen for p in random_phases]


def test_frozen_weights_stay_bit_identical_and_train_after_release(tmp_path):
    recorder = WeightsPerEpoch()
    freeze = FreezeParams(schedule=[{"epoch": 0, "freeze": ["hidden"]}, {"epoch": 2, "unfreeze": ["all"], "learning_rate": 0.002}])
    trainer = tiny_trainer(tmp_path, freeze, epochs=4, callbacks=[recorder])
    trainer.prepare()
    initial = {v.path.split("/", 1)[1]: keras.ops.convert_to_numpy(v) for v in trainer.keras_model.weights}
    history = trainer.train()
    hidden = [k for k in initial if k.startswith("hidden/")]
    head = [k for k in initial if k.startswith("head/")]
    assert len(hidden) == len(head) == 2
    for epoch in (0, 1):
        for key in hidden:
            np.testing.assert_array_equal(recorder.weights[epoch][key], initial[key])
    assert any(not np.array_equal(recorder.weights[0][k], initial[k]) for k in head)
    assert all(not np.array_equal(recorder.weights[3][k], initial[k]) for k in hidden)
    assert history["learning_rate"] == pytest.approx([0.01, 0.01, 0.002, 0.002])
    assert history["frozen_layers"] == [1.0, 1.0, 0.0, 0.0]
    text = tensorboard_tensors(tmp_path / "run" / "tensorboard" / "train")["freeze/change"]
    assert sorted(text) == [1, 3] and b"released" in text[3].item()


class BatchNormModel(TinyModel):
    def create_graph(self, params):
        x = keras.Input(shape=(N_FEATURES,), name="x")
        h = keras.layers.Dense(8, name="dense_in")(x)
        h = keras.layers.BatchNormalization(name="norm")(h)
        return keras.Model({"x": x}, {"y_hat": keras.layers.Dense(1, name="out")(h)}, name="bn_graph")


def test_a_frozen_batch_normalization_keeps_its_moving_statistics(tmp_path):
    recorder = WeightsPerEpoch()
    trainer = tiny_trainer(tmp_path, FreezeParams(schedule=[{"epoch": 0, "freeze": ["norm"]}]), epochs=2,
                           callbacks=[recorder], model=BatchNormModel())
    trainer.prepare()
    initial = {v.path.split("/", 1)[1]: keras.ops.convert_to_numpy(v) for v in trainer.keras_model.weights}
    trainer.train()
    statistics = [k for k in initial if "moving" in k]
    assert len(statistics) == 2
    for key in statistics:
        np.testing.assert_array_equal(recorder.weights[-1][key], initial[key])


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [30, 47], ids=["frozen-phase", "right-after-the-change"])
def test_a_kill_during_freeze_training_resumes_bit_exact(tmp_path, kill_at):
    options = {"epochs": 4, "freeze": {"schedule": [
        {"epoch": 0, "freeze": ["conv1", "conv2"]},
        {"epoch": 2, "unfreeze": ["all"], "learning_rate": 0.003},
    ]}}
    reference = resume_result(resume_script(tmp_path / "reference", "full", options))
    killed = resume_script(tmp_path / "run", f"kill-batch:{kill_at}", options)
    assert killed.returncode == -9, killed.stderr[-3000:]
    resumed = resume_result(resume_script(tmp_path / "run", "resume"))
    assert resumed["hash"] == reference["hash"]
    assert resumed["history"] == reference["history"]


class StagedModel(TinyModel):
    calls: list = []

    def _pre_fit(self, trainer):
        StagedModel.calls.append(("pre", trainer.run_dir.root.name))
        return {"mean": np.asarray(trainer.data.x_train.mean(axis=0)), "rows": len(trainer.data.x_train)}

    def _post_fit(self, trainer, cache):
        StagedModel.calls.append(("post", cache["rows"], np.asarray(cache["mean"]).shape))


class CrashAtEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("crash")


def test_pre_and_post_fit_run_once_around_all_phases_and_the_cache_survives_resume(tmp_path):
    StagedModel.calls = []
    freeze = FreezeParams(schedule=[{"epoch": 0, "freeze": ["hidden"]}, {"epoch": 1, "unfreeze": ["all"]}])
    with pytest.raises(RuntimeError, match="crash"):
        tiny_trainer(tmp_path, freeze, epochs=3, callbacks=[CrashAtEpoch()], model=StagedModel()).train()
    assert StagedModel.calls == [("pre", "run")]
    trainrig.Trainer.resume(tmp_path / "run")
    assert StagedModel.calls == [("pre", "run"), ("post", 64, (N_FEATURES,))]


def test_dry_run_prints_the_phases_and_writes_nothing(tmp_path):
    schedule = json.dumps([{"epoch": 0, "freeze": ["hidden"]}, {"epoch": 2, "unfreeze": ["all"], "learning_rate": 0.003}])
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "trainrig", "train", "--model", "fixtures_pkg.tinymodels:TinyModel", "--data",
         "fixtures_pkg.tinymodels:TinyData", "--trainer.epochs", "4", "--trainer.output_dir", str(out),
         "--trainer.freeze.schedule", schedule, "--trainer.freeze.dry_run", "true"],
        capture_output=True, text=True, env=subprocess_env(), timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "freeze training (schedule), 4 epochs, layers: hidden, dropout, head, logit"
    assert lines[1:] == ["  epochs 1-2: frozen hidden", "  epochs 3-4: frozen none; learning rate 0.003"]
    assert not out.exists()


def test_bad_freeze_params_are_one_line_errors(tmp_path):
    with pytest.raises(TrainrigError, match=r"trainer.freeze.schedule\[0\] must be"):
        tiny_trainer(tmp_path, FreezeParams(schedule=[{"freeze": ["hidden"]}])).train()
    with pytest.raises(TrainrigError, match="needs trainer.freeze.layers"):
        tiny_trainer(tmp_path, FreezeParams(strategy="round_robin")).train()
    with pytest.raises(TrainrigError, match="learning_rate needs trainer.lr_schedule constant"):
        tiny_trainer(tmp_path, FreezeParams(schedule=[{"epoch": 1, "learning_rate": 0.1}]), lr_schedule="cosine").train()
    assert not (tmp_path / "run").exists()
