"""Calls into the user's own classes (``ModelBase``/``DataBase`` subclasses) that say where an error came from.

An exception raised by user code keeps its type and traceback (it is the user's to read), but first
one line on stderr names the hook and the class that raised it, so the traceback's last frames, deep
inside Keras for instance, are not the only clue.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from trainrig.errors import TrainrigError

_REPORTED = "__trainrig_reported__"


@contextlib.contextmanager
def calling(owner: object, hook: str) -> Iterator[None]:
    """``with calling(model, "create_graph"): graph = model.create_graph(params)``."""
    try:
        yield
    except TrainrigError:
        raise
    except Exception as e:
        if not getattr(e, _REPORTED, False):
            cls = owner if isinstance(owner, type) else type(owner)
            lines = str(e).strip().splitlines()
            print(
                f"trainrig: {cls.__name__}.{hook} (in {cls.__module__}) raised {type(e).__name__}: "
                f"{lines[0] if lines else ''} — the traceback follows",
                file=sys.stderr,
                flush=True,
            )
            try:
                setattr(e, _REPORTED, True)
            except AttributeError:  # an exception type that takes no attributes: it is reported once anyway
                pass
        raise
