"""Pre-fit and post-fit: the model's ``_pre_fit`` before the first epoch and ``_post_fit`` after the last.

Each runs once around the whole training — never once per freeze phase, and ``_pre_fit`` not again on
resume: its cache (JSON data and numpy arrays) is part of every checkpoint and handed back as it was.
"""

from __future__ import annotations

from trainrig.context import RunContext
from trainrig.errors import TrainrigError
from trainrig.user_code import calling


class FitStages:
    """Calls ``model._pre_fit(context) -> dict | None`` and ``model._post_fit(context, cache)``."""

    state_key = "trainrig.pre_fit"

    def __init__(self, context: RunContext):
        self.context = context
        self.pre_fit_done = False

    def pre_fit(self) -> None:
        if self.pre_fit_done:
            return
        model = self.context.model
        with calling(model, "_pre_fit"):
            cache = model._pre_fit(self.context)
        if cache is not None and not isinstance(cache, dict):
            raise TrainrigError(f"{type(model).__name__}._pre_fit must return a dict or None, got {type(cache).__name__}")
        self.context.pre_fit_cache = dict(cache or {})
        self.pre_fit_done = True

    def post_fit(self) -> None:
        model = self.context.model
        with calling(model, "_post_fit"):
            model._post_fit(self.context, self.context.pre_fit_cache or {})

    def get_state(self) -> dict:
        return {"done": self.pre_fit_done, "cache": self.context.pre_fit_cache or {}}

    def set_state(self, state: dict) -> None:
        self.pre_fit_done = bool(state["done"])
        self.context.pre_fit_cache = state["cache"]
