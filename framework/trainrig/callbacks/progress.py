"""Console output: a progress bar per epoch (or one line per epoch when not on a terminal)."""

from __future__ import annotations

import sys

import keras

from trainrig.callbacks.base import TrainrigCallback


def progress_mode(setting: str) -> str:
    """``"bar"``, ``"epoch"`` or ``"none"``; ``"auto"`` is a bar on a terminal, a line per epoch otherwise."""
    if setting == "auto":
        return "bar" if sys.stdout.isatty() else "epoch"
    return setting


class ProgressLogger(TrainrigCallback):
    """Shows ``loss``, the named losses and metrics while training, and the validation values at epoch end.

    Reads the batch-end ``logs`` (running training averages) and the epoch-end ``logs``. Its batch hook
    accepts executions of several steps (the bar then moves once per execution).
    """

    batch_hooks_per_execution = True

    def __init__(self, context):
        super().__init__(context)
        self.mode = progress_mode(context.params.progress)
        self.bar: keras.utils.Progbar | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.mode == "none":
            return
        print(f"Epoch {epoch + 1}/{self.context.params.epochs}", flush=True)
        self.bar = keras.utils.Progbar(
            target=self.context.steps_per_epoch, verbose=1 if self.mode == "bar" else 2, unit_name="step"
        )

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None and self.mode == "bar":
            self.bar.update(batch + 1, values=list((logs or {}).items()), finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.update(self.context.steps_per_epoch, values=list((logs or {}).items()), finalize=True)
            self.bar = None
