"""Checkpoint cost per save and resume start-up, as ratios to the epoch time measured in the same run.

    python benchmarks/bench_checkpoint.py

For the digits tutorial model (about 10k parameters) and a 10-million-parameter MLP it measures, on
this machine and in this process:
- the time of a training epoch (with validation and callbacks, after a warm-up epoch) without any
  checkpoint, averaged over 3 epochs: the baseline;
- the time the loop is blocked per save (capturing weights, optimizer slots, RNGs, callback states;
  the write then runs in a background thread) and the whole save (capture + atomic write with
  checksums and fsync, as if it were synchronous), best of 3, and the checkpoint's size;
- the start-up of a resumed run (build + restore of the newest checkpoint) against a fresh start-up.
The goal: a save costs under 5% of an epoch at the default frequency (one save per epoch).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TRAINRIG_LOAD_PLUGINS", "")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import trainrig  # noqa: E402
from trainrig import LossDefinition  # noqa: E402
from trainrig.checkpoint.state import Position  # noqa: E402


class BigMLP(trainrig.ModelBase[trainrig.ModelBaseParams]):
    """3 dense layers of width 1800 on 1800 features: 9.73M parameters."""

    def create_graph(self, params):
        x = keras.Input((1800,), name="x")
        h = keras.layers.Dense(1800, activation="relu")(x)
        h = keras.layers.Dense(1800, activation="relu")(h)
        h = keras.layers.Dense(1800, activation="relu")(h)
        y = keras.layers.Dense(1)(h)
        return keras.Model({"x": x}, {"y_hat": y})

    def _loss(self):
        return {"mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError())}


class BigData(trainrig.DataBase[trainrig.DataBaseParams]):
    def __init__(self, params=None):
        super().__init__(params)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(4096, 1800)).astype("float32")
        self.y = rng.normal(size=(4096, 1)).astype("float32")

    def train_sequence(self, batch_size):
        return trainrig.ArraySequence({"x": self.x}, {"y": self.y}, batch_size, shuffle=True, seed=self.seed)

    def val_sequence(self, batch_size):
        return trainrig.ArraySequence({"x": self.x[:256]}, {"y": self.y[:256]}, batch_size)


def digits():
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel

    return DigitsModel(), DigitsData(), 32


def big():
    return BigMLP(), BigData(), 128


def measure(name: str, make, root: Path) -> dict:
    model, data, batch = make()
    out = root / name
    params = trainrig.TrainerParams(epochs=4, batch_size=batch, output_dir=str(out), progress="none", print_samples=0)
    started = time.perf_counter()
    trainer = trainrig.Trainer(params, model, data)
    trainer.prepare()
    fresh_startup = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    from trainrig.train.stop import StopRequest

    epochs = 3
    checkpoints = trainer.checkpoints
    with StopRequest(out) as checkpoints.stop_request:
        trainer.keras_model.stop_training = False
        trainer.callbacks.on_train_begin()
        trainer.loop.epoch(0)  # warm-up: tracing, first export and checkpoint
        checkpoints.store.wait()
        checkpoints.save = lambda *args, **kwargs: None  # epochs without checkpoints
        started = time.perf_counter()
        for epoch in range(1, 1 + epochs):
            trainer.loop.epoch(epoch)
        plain = (time.perf_counter() - started) / epochs
        del checkpoints.save
    from trainrig.checkpoint.state import capture

    blocking, full_save = [], []
    for i in range(3):
        started = time.perf_counter()
        capture(checkpoints.run, Position(epoch=0, step=0, global_step=0))
        blocking.append(time.perf_counter() - started)
        started = time.perf_counter()
        checkpoints.save(Position(epoch=99 + i, step=0, global_step=checkpoints.global_step() + i), wait=True)
        full_save.append(time.perf_counter() - started)
    blocking, full_save = min(blocking), min(full_save)
    size = sum(f.stat().st_size for f in checkpoints.store.list()[-1][1].iterdir())
    parameters = trainer.keras_model.count_params()

    model, data, _ = make()
    started = time.perf_counter()
    resumed = trainrig.Trainer(params, model, data)
    resumed.context.resumed = True
    resumed.prepare()
    resumed.checkpoints.restore_latest()
    resume_startup = time.perf_counter() - started
    return {
        "model": name,
        "parameters": parameters,
        "epoch_s": plain,
        "blocking_s": blocking,
        "blocking_ratio": blocking / plain,
        "full_save_s": full_save,
        "full_ratio": full_save / plain,
        "size_mb": size / 1e6,
        "fresh_startup_s": fresh_startup,
        "resume_startup_s": resume_startup,
        "resume_ratio": resume_startup / fresh_startup,
    }


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
    try:
        rows = [measure("digits tutorial", digits, root), measure("10M-parameter MLP", big, root)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        "| model | parameters | epoch (s) | loop blocked per save (s) | blocked / epoch | whole save incl. write (s) "
        "| whole save / epoch | size (MB) | fresh start-up (s) | resume start-up (s) | resume / fresh |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['parameters']:,} | {r['epoch_s']:.3f} | {r['blocking_s']:.4f} | {r['blocking_ratio']:.1%} "
            f"| {r['full_save_s']:.3f} | {r['full_ratio']:.1%} | {r['size_mb']:.1f} | {r['fresh_startup_s']:.2f} "
            f"| {r['resume_startup_s']:.2f} | {r['resume_ratio']:.2f}x |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
