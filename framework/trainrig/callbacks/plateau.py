"""Keras' EarlyStopping and ReduceLROnPlateau with resumable state, following MODEL_METRIC by default."""

from __future__ import annotations

import keras
import numpy as np

from trainrig.context import RunContext


class _ResumableState:
    """Keras resets ``wait``/``best`` in ``on_train_begin``; a state restored before that is applied after it."""

    STATE_FIELDS: tuple[str, ...] = ()

    def get_state(self) -> dict:
        return {name: _plain(getattr(self, name)) for name in self.STATE_FIELDS}

    def set_state(self, state: dict) -> None:
        self._pending_state = dict(state)
        for name, value in state.items():
            setattr(self, name, value)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        pending = getattr(self, "_pending_state", None)
        if pending:
            for name, value in pending.items():
                setattr(self, name, value)


def _plain(value):
    try:
        return float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return value


class EarlyStopping(_ResumableState, keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` whose ``wait``, ``best``, epochs and best weights survive a resume."""

    STATE_FIELDS = ("wait", "best", "best_epoch", "stopped_epoch")

    def get_state(self) -> dict:
        state = super().get_state()
        if self.restore_best_weights and self.best_weights is not None:
            state["best_weights"] = [np.asarray(w) for w in self.best_weights]
        return state


class ReduceLROnPlateau(_ResumableState, keras.callbacks.ReduceLROnPlateau):
    """``keras.callbacks.ReduceLROnPlateau`` whose ``wait``, ``best`` and cooldown survive a resume."""

    STATE_FIELDS = ("wait", "best", "cooldown_counter")


def _following(cls, settings, context: RunContext, **options) -> keras.callbacks.Callback:
    monitor = settings.monitor or context.best.monitor
    return cls(
        monitor=monitor,
        mode=context.best.direction_of(monitor),
        patience=settings.patience,
        min_delta=settings.min_delta,
        **options,
    )


def plateau_callbacks(context: RunContext) -> list[keras.callbacks.Callback]:
    """The early-stopping and LR-on-plateau callbacks ``TrainerParams`` asks for (none by default)."""
    stopping, reduce = context.params.early_stopping, context.params.reduce_lr
    callbacks = []
    if stopping.patience > 0:
        callbacks.append(
            _following(EarlyStopping, stopping, context, restore_best_weights=stopping.restore_best_weights)
        )
    if reduce.patience > 0:
        callbacks.append(
            _following(ReduceLROnPlateau, reduce, context, factor=reduce.factor, min_lr=reduce.min_lr, verbose=0)
        )
    return callbacks
