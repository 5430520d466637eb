"""Record every epoch's ``logs`` into the history that ``Trainer.train()`` returns."""

from __future__ import annotations

from trainrig.callbacks.base import TrainrigCallback


class HistoryRecorder(TrainrigCallback):
    """Appends each value of the epoch-end ``logs`` to ``context.history[name]``.

    ``logs`` at epoch end hold every training loss and metric (``loss``, each named loss, each metric),
    the same for validation with a ``val_`` prefix, and ``learning_rate``.
    """

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.context.history.setdefault(name, []).append(float(value))

    def get_state(self) -> dict:
        return {"history": self.context.history}

    def set_state(self, state: dict) -> None:
        self.context.history.clear()
        self.context.history.update({k: list(v) for k, v in state["history"].items()})
