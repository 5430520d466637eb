"""Checkpoint cost per save and resume start-up, as ratios to the epoch time measured in the same run.

For the digits tutorial model (about 10k parameters) and a 10-million-parameter MLP (3 x Dense(1800)
on 1800 features, Adam, 32 steps of 128 rows an epoch) it measures in this process, per repetition:

- the time of a training epoch (with validation, callbacks and the best-model exports they start,
  after a warm-up epoch) without any checkpoint, averaged over 3 epochs (tiny: 1): the baseline;
- the time the loop is blocked per save (capturing weights, optimizer slots, RNGs, callback states;
  the write then runs in a background thread) and the whole save (capture + atomic write with
  checksums and fsync, as if it were synchronous), best of 3, as ratios to the epoch; the checkpoint's size;
- the start-up of a resumed run (build + restore of the newest checkpoint) against a fresh start-up.

The goal: a save costs under 5% of an epoch at the default frequency (one save per epoch). Tiny: the
digits model only. This benchmark drives trainrig internals (``Trainer.prepare``, ``loop.epoch``,
``checkpoints``) to time the parts of a run separately.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable

from benchmarks.common import Row, scratch_dir

NAME = "checkpoint"
DESCRIPTION = "checkpoint save cost (loop blocked, whole write) per epoch and resume vs fresh start-up"

PLAIN_EPOCHS = {"full": 3, "tiny": 1}
INNER_SAVES = 3


def digits():
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel

    from benchmarks.keras_side import DIGITS_BATCH

    return DigitsModel(), DigitsData(), DIGITS_BATCH


def big():
    from benchmarks.trainrig_side import BigData, BigMLP

    return BigMLP(), BigData(), BigData.batch_size


MODELS = {"full": {"digits tutorial": digits, "10M-parameter MLP": big}, "tiny": {"digits tutorial": digits}}


def run(size: str, repeats: int) -> list[Row]:
    rows = []
    for name, make in MODELS[size].items():
        with scratch_dir() as root:
            results = [measure(make, root / f"run{i}", PLAIN_EPOCHS[size]) for i in range(repeats)]
        rows += model_rows(f"{name} ({results[0]['parameters']:,} parameters)", results)
    return rows


def model_rows(case: str, results: list[dict]) -> list[Row]:
    """The measures of one model over the repetitions; the costs as ratios to the epoch / fresh start-up."""

    def values(key: str) -> list[float]:
        return [r[key] for r in results]

    def ratios(key: str, base: str) -> list[float]:
        return [r[key] / r[base] for r in results]

    return [
        Row(NAME, case, "epoch without checkpoints", "s", values("epoch_s")),
        Row(NAME, case, "loop blocked per save", "s", values("blocking_s"), "blocked/epoch", ratios("blocking_s", "epoch_s")),
        Row(NAME, case, "whole save incl. write", "s", values("full_save_s"), "whole save/epoch", ratios("full_save_s", "epoch_s")),
        Row(NAME, case, "checkpoint size", "MB", values("size_mb")),
        Row(NAME, case, "fresh start-up", "s", values("fresh_startup_s")),
        Row(NAME, case, "resume start-up", "s", values("resume_startup_s"), "resume/fresh", ratios("resume_startup_s", "fresh_startup_s")),
    ]


def exports_finished(trainer):
    """What ``Trainer.train`` wraps its epochs in: leaving it waits for the best-model exports the epochs
    started in the background, so they count in the epochs' time and overlap nothing measured later
    (a no-op on a trainrig that exports synchronously)."""
    background = getattr(trainer.exporter, "background", None)
    return background() if background is not None else contextlib.nullcontext()


def measure(make: Callable, out: Path, plain_epochs: int) -> dict:
    """One repetition: the epoch baseline, the save costs and the two start-ups of the model ``make()`` builds."""
    import trainrig
    from trainrig.checkpoint.state import Position, capture
    from trainrig.train.stop import StopRequest

    model, data, batch = make()
    params = trainrig.TrainerParams(
        epochs=1 + plain_epochs, batch_size=batch, output_dir=str(out), progress="none", print_samples=0
    )
    started = time.perf_counter()
    trainer = trainrig.Trainer(params, model, data)
    trainer.prepare()
    fresh_startup = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)

    checkpoints = trainer.checkpoints
    with StopRequest(out) as checkpoints.stop_request:
        trainer.keras_model.stop_training = False
        trainer.callbacks.on_train_begin()
        with exports_finished(trainer):
            trainer.loop.epoch(0)  # warm-up: tracing, first export and checkpoint
        checkpoints.store.wait()
        checkpoints.save = lambda *args, **kwargs: None  # epochs without checkpoints
        started = time.perf_counter()
        with exports_finished(trainer):
            for epoch in range(1, 1 + plain_epochs):
                trainer.loop.epoch(epoch)
        plain = (time.perf_counter() - started) / plain_epochs
        del checkpoints.save

    blocking, full_save = [], []
    for i in range(INNER_SAVES):
        started = time.perf_counter()
        capture(checkpoints.run, Position(epoch=0, step=0, global_step=0))
        blocking.append(time.perf_counter() - started)
        started = time.perf_counter()
        checkpoints.save(Position(epoch=99 + i, step=0, global_step=checkpoints.global_step() + i), wait=True)
        full_save.append(time.perf_counter() - started)
    checkpoints.store.close()
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
        "parameters": parameters,
        "epoch_s": plain,
        "blocking_s": min(blocking),
        "full_save_s": min(full_save),
        "size_mb": size / 1e6,
        "fresh_startup_s": fresh_startup,
        "resume_startup_s": resume_startup,
    }
