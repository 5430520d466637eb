"""The user's own metric, reported as ``"Custom Score"``.

``custom_score`` is any callable ``score(y_true, y_pred, sample_weight=None) -> float``. It is called
with the suite's normalised numpy arrays (regression and binary: 1-d float arrays; multiclass:
``y_true`` integer labels ``[n]`` — one-hot targets are converted — and ``y_pred`` ``[n, k]``) and with
``sample_weight=`` the weights as a 1-d float array, or ``None`` when the suite got none.

The result must convert to a finite float. ``None``, ``NaN``, an infinity, a non-number, or an
exception raised by the callable become a :class:`~trainrig.errors.TrainrigError` naming the function
as ``module:qualname``. Whether greater is better is the caller's ``custom_greater_is_better``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from trainrig.errors import TrainrigError

__all__ = ["custom_score_value", "describe_callable"]


def describe_callable(function) -> str:
    """``module:qualname`` of ``function`` (of its class for a callable instance; partials show their function)."""
    if isinstance(function, functools.partial):
        return f"functools.partial({describe_callable(function.func)})"
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if qualname is None:  # a callable instance: name its class
        module, qualname = type(function).__module__, type(function).__qualname__
    return f"{module}:{qualname}"


def custom_score_value(
    function: Callable, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None
) -> float:
    """Call the user's ``function`` and return its result as a finite float (else :class:`TrainrigError`)."""
    name = describe_callable(function)
    try:
        result = function(y_true, y_pred, sample_weight=sample_weight)
    except TrainrigError:
        raise
    except Exception as exc:
        raise TrainrigError(f"custom score {name} raised {type(exc).__name__}: {exc}") from exc
    if result is None:
        raise TrainrigError(f"custom score {name} returned None; it must return a finite number")
    try:
        value = float(result)
    except (TypeError, ValueError):
        raise TrainrigError(f"custom score {name} returned {result!r}, not a number") from None
    if not math.isfinite(value):
        raise TrainrigError(f"custom score {name} returned {value}; it must return a finite number")
    return value
