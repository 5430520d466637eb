"""Steps per execution "auto" (the default): fused steps when no callback needs every batch, nothing else changes."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import trainrig
from trainrig.checkpoint.store import CheckpointStore
from trainrig.train import executions
from trainrig.train.executions import ExecutionSizes, listeners, needs_every_batch, validation_steps_per_execution
from fixtures_pkg.tinymodels import PlainModel, TinyData, TinyDataParams, weights_sha256


class EveryBatch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(batch)


class PerExecution(EveryBatch):
    batch_hooks_per_execution = True


class OldStyle(keras.callbacks.Callback):
    def on_batch_end(self, batch, logs=None):
        pass


class ValidationBatches(keras.callbacks.Callback):
    def on_test_batch_end(self, batch, logs=None):
        pass


class EpochsOnly(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


# --- who needs every batch ----------------------------------------------------------------------


def test_a_callback_needs_every_batch_when_it_overrides_a_batch_hook_and_does_not_opt_out():
    assert needs_every_batch(EveryBatch())
    assert needs_every_batch(OldStyle())  # on_batch_end is what Keras' on_train_batch_end calls
    assert not needs_every_batch(PerExecution())
    assert not needs_every_batch(EpochsOnly())
    assert not needs_every_batch(ValidationBatches())
    assert needs_every_batch(ValidationBatches(), executions.TEST_BATCH_HOOKS)
    assert needs_every_batch(keras.callbacks.TerminateOnNaN())
    assert not needs_every_batch(keras.callbacks.EarlyStopping())
    assert listeners([EpochsOnly(), EveryBatch(), PerExecution()]) == ["EveryBatch"]


def test_validation_runs_in_one_call_unless_fixed_a_test_batch_listener_or_replicas():
    assert validation_steps_per_execution(0, [EpochsOnly()], replicas=1, total=7) == 7
    assert validation_steps_per_execution(3, [EpochsOnly()], replicas=1, total=7) == 3
    assert validation_steps_per_execution(0, [ValidationBatches()], replicas=1, total=7) == 1
    assert validation_steps_per_execution(0, [EpochsOnly()], replicas=2, total=7) == 1
    assert validation_steps_per_execution(3, [EpochsOnly()], replicas=2, total=7) == 1  # (see the module docstring)


# --- how many steps per call ----------------------------------------------------------------------


def test_fixed_and_per_batch_sizes_never_adapt():
    fixed = ExecutionSizes(4, per_batch=False)
    fixed.observe(4, 1e-6)
    assert [fixed.next(s, 10, 0) for s in (0, 4, 8)] == [4, 4, 2]
    per_batch = ExecutionSizes(0, per_batch=True)
    per_batch.observe(1, 1e-6)
    assert per_batch.next(0, 10, 0) == 1


def test_auto_sizes_grow_towards_the_target_time_and_shrink_after_a_slow_call():
    sizes = ExecutionSizes(0, per_batch=False)
    assert sizes.next(0, 10_000, 0) == 1
    grown = []
    for _ in range(8):
        sizes.observe(sizes.size, sizes.size * 0.001)  # 1 ms per step
        grown.append(sizes.size)
    assert grown == [4, 16, 64, 200, 200, 200, 200, 200]  # 0.2 s / 1 ms, at most x4 per call
    sizes.observe(200, 5.0)  # a retrace after freezing, say
    assert sizes.size == 8
    sizes.observe(10**6, 1e-9)
    assert sizes.size == 32
    assert sizes.next(9_990, 10_000, 0) == 10  # never past the epoch's end
    huge = ExecutionSizes(0, per_batch=False)
    for _ in range(20):
        huge.observe(huge.size, huge.size * 1e-7)
    assert huge.size == executions.MAX_STEPS


@pytest.mark.parametrize(
    ("every", "accumulate", "steps_per_epoch", "step", "global_step", "expected"),
    [
        (5, 1, 100, 0, 0, 5),  # the call ends at optimizer step 5
        (5, 1, 100, 3, 3, 2),
        (5, 1, 100, 7, 12, 3),  # resumed: global 12 -> the boundary at 15
        (2, 3, 10, 0, 0, 6),  # accumulate 3: optimizer steps after batches 3, 6, 9, 10
        (4, 3, 10, 0, 0, 10),  # ... the 4th is the short group at the epoch's end
        (3, 3, 10, 0, 0, 9),
        (7, 1, 100, 0, 0, 7),
    ],
)
def test_auto_calls_end_at_step_checkpoints(every, accumulate, steps_per_epoch, step, global_step, expected):
    sizes = ExecutionSizes(0, per_batch=False, checkpoint_every=every, accumulate=accumulate)
    sizes.size = 64
    assert sizes.next(step, steps_per_epoch, global_step) == expected


# --- runs --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same deterministic run with one step per call, 4 per call and auto (fused), each recorded."""
    root = tmp_path_factory.mktemp("executions")
    data = TinyData(TinyDataParams(n_train=400))  # batch 8: 50 steps per epoch
    out = {}
    for name, spe in (("one", 1), ("four", 4), ("auto", 0)):
        recorder = PerExecution()
        params = trainrig.TrainerParams(
            epochs=3, batch_size=8, learning_rate=0.01, progress="none", output_dir=str(root / name),
            steps_per_execution=spe, deterministic=True, seed=3, checkpoint_every_steps=20, keep_checkpoints=100,
        )
        trainer = trainrig.Trainer(params, PlainModel(), data, callbacks=[recorder])
        history = trainer.train()
        steps = [step for step, _ in CheckpointStore(root / name / "checkpoints").list()]
        out[name] = dict(
            history=history, weights=weights_sha256(trainer.keras_model.weights), batches=recorder.batches,
            checkpoints=steps, trainer=trainer,
        )
    return out


def test_auto_fuses_steps_when_no_callback_needs_every_batch(runs):
    assert runs["one"]["batches"] == list(range(50)) * 3
    auto = runs["auto"]["batches"]
    assert len(auto) < 3 * 50 / 2  # several steps per call
    assert auto[-1] == 49 and all(b < 50 for b in auto)


def test_auto_gives_the_same_weights_history_and_checkpoint_steps(runs):
    for name in ("four", "auto"):
        assert runs[name]["weights"] == runs["one"]["weights"], name
        assert runs[name]["history"] == runs["one"]["history"], name
    # step checkpoints every 20 optimizer steps and at epoch ends (50, 100, 150): auto calls end there too
    assert runs["auto"]["checkpoints"] == runs["one"]["checkpoints"]
    assert {20, 40, 60, 80, 100, 120, 140}.issubset(runs["one"]["checkpoints"])


def test_a_callback_that_needs_every_batch_gets_every_batch_in_auto(tmp_path):
    recorder = EveryBatch()
    params = trainrig.TrainerParams(epochs=1, batch_size=8, progress="none", output_dir=str(tmp_path / "run"), export=False)
    trainrig.Trainer(params, PlainModel(), TinyData(), callbacks=[recorder]).train()
    assert recorder.batches == list(range(8))


def test_the_best_model_is_written_in_the_background_and_complete_when_train_returns(runs):
    trainer = runs["auto"]["trainer"]
    best = trainer.run_dir.best
    epoch = trainer.history["val_loss"].index(min(trainer.history["val_loss"])) + 1
    assert json.loads((best / "trainrig.json").read_text())["epoch"] == epoch
    assert not [p.name for p in best.parent.iterdir() if p.name.startswith(".best.")]  # no staging left behind
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    saved_model = tf.saved_model.load(str(best / "default"))  # keep it referenced while serving
    served = saved_model.serve({"x": x})
    reloaded = trainrig.load_model(best)({"x": x})
    for name in served:
        np.testing.assert_allclose(np.asarray(served[name]), keras.ops.convert_to_numpy(reloaded[name]), atol=1e-6)
