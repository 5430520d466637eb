"""A digits run for the resume tests, run in a subprocess: ``python resume_script.py OUT MODE [OPTIONS_JSON]``.

MODE: ``full`` (train), ``resume`` (Trainer.resume), ``kill-batch:N`` (SIGKILL itself at training batch
N), ``kill-epoch-end:N`` (SIGKILL itself in ``on_epoch_end`` of epoch N, after every base callback's
``on_epoch_end`` and before the epoch checkpoint), ``kill-save:N`` (SIGKILL itself in the middle of
writing its N-th checkpoint), ``term-batch:N`` (SIGTERM itself at batch N: a graceful stop),
``stopfile-batch:N`` (create OUT/STOP at batch N), ``fail-save:N`` (the N-th checkpoint write fails:
disk full).
OPTIONS: TrainerParams overrides, plus ``"lr_counter": true`` for seed 004's per-batch LR callback and
``"loss_scale_growth_steps": N`` (with precision mixed_float16: the loss scale doubles after N finite steps
instead of 2000, so it grows, overflows and halves within a short run).
Prints ``HASH <sha256 of the exported weights>`` and ``EPOCHS <n>`` at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys

import keras
import numpy as np

import trainrig
import trainrig.checkpoint.store as store
from trainrig.params import from_dict
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel, DigitsModelParams


class PerBatchLearningRate(keras.callbacks.Callback):
    """Seed 004's callback: a counter of all batches so far sets the learning rate of every batch."""

    def __init__(self):
        super().__init__()
        self.counter = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(0.01 / (1.0 + 0.05 * self.counter))

    def on_train_batch_end(self, batch, logs=None):
        self.counter += 1

    def get_state(self):
        return {"counter": self.counter}

    def set_state(self, state):
        self.counter = state["counter"]


class AtBatch(keras.callbacks.Callback):
    def __init__(self, at: int, action):
        super().__init__()
        self.seen, self.at, self.action = 0, at, action

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            self.action()


class AtEpochEnd(keras.callbacks.Callback):
    """Placed after the base callbacks (user callbacks come last): acts once they have all seen epoch ``at``."""

    def __init__(self, at: int, action):
        super().__init__()
        self.at, self.action = at, action

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at:
            self.action()


def kill_during_save(nth: int) -> None:
    original, calls = store.np.savez, {"n": 0}

    def savez(path, **arrays):
        calls["n"] += 1
        original(path, **arrays)
        if calls["n"] == nth:
            with open(path, "r+b") as f:  # leave the file half-written, as a kill mid-write would
                f.truncate(os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    store.np.savez = savez


def fail_save(nth: int) -> None:
    original, calls = store.np.savez, {"n": 0}

    def savez(path, **arrays):
        calls["n"] += 1
        if calls["n"] == nth:
            original(path, **{k: v for k, v in list(arrays.items())[:1]})  # partly written, then the disk is full
            raise OSError(28, "No space left on device")
        original(path, **arrays)

    store.np.savez = savez


def main() -> None:
    out, mode = sys.argv[1], sys.argv[2]
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    lr_counter = options.pop("lr_counter", False)
    growth = options.pop("loss_scale_growth_steps", None)
    if growth:
        import trainrig.train.setup as setup

        setup.loss_scaled = lambda optimizer, precision: keras.optimizers.LossScaleOptimizer(
            optimizer, dynamic_growth_steps=growth
        )
    callbacks = [PerBatchLearningRate()] if lr_counter else []
    action, _, n = mode.partition(":")
    if action == "kill-batch":
        callbacks.append(AtBatch(int(n), lambda: os.kill(os.getpid(), signal.SIGKILL)))
    elif action == "kill-epoch-end":
        callbacks.append(AtEpochEnd(int(n), lambda: os.kill(os.getpid(), signal.SIGKILL)))
    elif action == "term-batch":
        callbacks.append(AtBatch(int(n), lambda: os.kill(os.getpid(), signal.SIGTERM)))
    elif action == "stopfile-batch":
        callbacks.append(AtBatch(int(n), lambda: open(os.path.join(out, "STOP"), "w").close()))
    elif action == "kill-save":
        kill_during_save(int(n))
    elif action == "fail-save":
        fail_save(int(n))
    if mode == "resume":
        if lr_counter:
            history = trainrig.Trainer.resume(out, callbacks=[PerBatchLearningRate()])
        else:
            history = trainrig.Trainer.resume(out)
    else:
        values = dict(epochs=3, batch_size=64, learning_rate=0.01, deterministic=True, seed=1, progress="none",
                      output_dir=out, checkpoint_every_steps=10)
        values.update(options)
        params = from_dict(trainrig.TrainerParams, values)  # nested params given as dicts
        model = DigitsModel(DigitsModelParams(filters=4))
        history = trainrig.Trainer(params, model, DigitsData(), callbacks=callbacks).train()
    weights = trainrig.load_model(out).get_weights()
    print("HASH", hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in weights)).hexdigest())
    print("EPOCHS", len(history["loss"]))
    print("OUT", out)
    print("HISTORY", json.dumps(history))


if __name__ == "__main__":
    main()
