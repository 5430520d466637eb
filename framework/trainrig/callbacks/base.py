"""``TrainrigCallback``: the base of trainrig's callbacks (a keras callback with resumable state)."""

from __future__ import annotations

import keras

from trainrig.context import RunContext


class TrainrigCallback(keras.callbacks.Callback):
    """A keras callback that knows its run and can save and restore its state.

    ``self.context`` is the run's :class:`~trainrig.context.RunContext` (params, model, data, run
    directory, history, the last validation, plugin params; ``self.trainer`` is the same object, the
    name the plugin hooks use); ``self.model`` is the keras model being trained.

    Override :meth:`get_state` and :meth:`set_state` (JSON-ready dicts, numpy arrays allowed) when the
    callback keeps anything that must survive a resume. The state is saved under :attr:`state_key`,
    by default the class path; set it to a fixed string when a class is renamed or moved, or when a
    run uses two callbacks of one class.

    A callback that overrides a training batch hook makes trainrig run one step per execution (by
    default, ``trainer.steps_per_execution`` 0), so that it sees every batch. Set
    :attr:`batch_hooks_per_execution` to ``True`` when the hook is as well served once per execution of
    several steps (``batch`` is then the execution's last batch): a progress display, say.
    """

    state_key: str | None = None
    batch_hooks_per_execution: bool = False

    def __init__(self, context: RunContext):
        super().__init__()
        self.context = context

    @property
    def trainer(self) -> RunContext:
        """The run context (the name the plugin hooks give it)."""
        return self.context

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        del state
