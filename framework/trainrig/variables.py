"""Shared variables: values the trainer publishes for callbacks, e.g. which metric decides the best model.

``get_variable("MODEL_METRIC")`` is the ``logs`` key of that metric (such as ``"val_loss"`` or
``"val_acc"``) and ``get_variable("MODEL_METRIC_GREATER_IS_BETTER")`` its direction. They are set
when ``Trainer.train()`` starts, before any callback's ``on_train_begin``.
"""

from __future__ import annotations

from typing import Any

from trainrig.errors import one_of

_VARIABLES: dict[str, Any] = {}


def get_variable(name: str) -> Any:
    """The value of a shared variable; a ``KeyError`` that lists the set ones if it is not set."""
    try:
        return _VARIABLES[name]
    except KeyError:
        raise KeyError(
            f"shared variable {name!r} is not set (it is set when Trainer.train() starts); set: {one_of(_VARIABLES)}"
        ) from None


def set_variable(name: str, value: Any) -> None:
    _VARIABLES[name] = value
