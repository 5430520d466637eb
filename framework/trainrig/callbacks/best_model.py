"""Track the best validation value and export the model to ``OUTPUT/best/`` whenever it improves."""

from __future__ import annotations

import math

from trainrig.callbacks.base import TrainrigCallback


class BestModel(TrainrigCallback):
    """Exports to ``best/`` when ``logs[context.best.monitor]`` beats the best so far.

    The monitored key and direction come from the model's ``_best_logging_settings`` (validation
    value, e.g. ``val_loss``). ``best/trainrig.json`` records the epoch and the value. The weights are
    taken at once (each graph's ``.keras`` file); the SavedModels and the swap into ``best/`` are written
    on a background thread while training goes on (:meth:`~trainrig.export.exporter.Exporter.export_in_background`);
    the run waits for them before its final export.
    """

    def __init__(self, context):
        super().__init__(context)
        self.monitor, self.greater_is_better = context.best.monitor, context.best.greater_is_better
        self.best: float | None = None
        self.best_epoch: int | None = None

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.greater_is_better else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {})[self.monitor])
        if not self.improved(value):
            return
        previous = self.best
        self.best, self.best_epoch = value, epoch + 1
        best = {"epoch": self.best_epoch, "monitor": self.monitor, "value": value, "greater_is_better": self.greater_is_better}
        self.context.exporter.export_in_background(self.context.run_dir.best, "best", extra=best)
        if self.context.params.progress != "none":
            before = "" if previous is None else f" (was {previous:.6g})"
            print(f"best {self.monitor} = {value:.6g}{before}: exported to {self.context.run_dir.best}", flush=True)

    def get_state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def set_state(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
