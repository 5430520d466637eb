"""``TrainrigCallback``: the base of trainrig's callbacks (a keras callback with resumable state)."""

from __future__ import annotations

import keras


class TrainrigCallback(keras.callbacks.Callback):
    """A keras callback that knows its trainer and can save and restore its state.

    ``self.trainer`` is the running :class:`~trainrig.Trainer` (its params, model, data, run directory
    and history); ``self.model`` is the keras model being trained. Override :meth:`get_state` and
    :meth:`set_state` (JSON-ready dicts) when the callback keeps anything that must survive a resume.
    """

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        del state
