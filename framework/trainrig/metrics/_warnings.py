"""Warnings of the metric suite.

Every undefined case of a metric (a single-class validation set, a precision without predicted
samples, RMSLE of values <= -1, ...) yields a number (``NaN`` or ``0.0``, as each metric documents)
and a :class:`MetricWarning` instead of an exception, so a validation epoch never crashes on them.

:func:`warn` issues a warning every time (Python's default filter still shows an identical message
from the same place only once); :func:`warn_once` issues a given warning at most once per process.
"""

from __future__ import annotations

import threading
import warnings

__all__ = ["MetricWarning", "warn", "warn_once"]


class MetricWarning(UserWarning):
    """A metric of the validation suite is undefined or ill-defined for the data it was given."""


_issued: set[str] = set()
_lock = threading.Lock()

# Point the warning at the caller of compute_suite, not at the metric internals.
_STACKLEVEL = 4


def warn(message: str) -> None:
    """Issue ``message`` as a :class:`MetricWarning`."""
    warnings.warn(message, MetricWarning, stacklevel=_STACKLEVEL)


def warn_once(key: str, message: str) -> None:
    """Issue ``message`` as a :class:`MetricWarning` unless a warning with ``key`` was issued before."""
    with _lock:
        if key in _issued:
            return
        _issued.add(key)
    warnings.warn(message, MetricWarning, stacklevel=_STACKLEVEL)


def _reset_once() -> None:
    """Forget which once-per-process warnings were issued (for tests)."""
    with _lock:
        _issued.clear()
