"""Warnings of the metric suite.

Every undefined case of a metric (a single-class validation set, a precision without predicted
samples, RMSLE of values <= -1, ...) yields a number (``NaN`` or ``0.0``, as each metric documents)
and a :class:`MetricWarning` instead of an exception, so a validation epoch never crashes on them.

:func:`warn` issues a warning every time it is called (Python's default filter still shows an
identical message from the same place only once); :func:`warn_once` issues a given warning at most
once per process. Warnings point at the first frame outside ``trainrig.metrics`` (the code that
called :func:`~trainrig.metrics.compute_suite`).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings

__all__ = ["MetricWarning", "warn", "warn_once"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class MetricWarning(UserWarning):
    """A metric of the validation suite is undefined or ill-defined for the data it was given."""


_issued: set[str] = set()
_lock = threading.Lock()


def _stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this package, seen from ``warnings.warn`` in our caller."""
    level = 2  # 1 would be warn()/warn_once() itself, 2 its caller
    frame = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str) -> None:
    """Issue ``message`` as a :class:`MetricWarning`."""
    warnings.warn(message, MetricWarning, stacklevel=_stacklevel())


def warn_once(key: str, message: str) -> None:
    """Issue ``message`` as a :class:`MetricWarning` unless a warning with ``key`` was issued before."""
    with _lock:
        if key in _issued:
            return
        _issued.add(key)
    warnings.warn(message, MetricWarning, stacklevel=_stacklevel())


def _reset_once() -> None:
    """Forget which once-per-process warnings were issued (for tests)."""
    with _lock:
        _issued.clear()
