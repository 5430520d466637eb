"""The one exception type meant for users.

Every mistake a user can make (a bad option, a loss naming an output that does not exist, a
plugin that fails) is raised as :class:`TrainrigError` with a one-line message that says what was
wrong and what is valid. The command line prints it as a single line and exits non-zero.

:func:`warn` is the one-line counterpart for problems that do not stop a run.
"""

import sys


class TrainrigError(Exception):
    """A user-facing error; ``str(error)`` is a complete one-line explanation."""


def one_of(values) -> str:
    """Render a collection of valid values for an error message: ``'a', 'b' or 'c'``."""
    items = [repr(v) for v in sorted(values, key=str)]
    if not items:
        return "(none)"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def warn(message: str) -> None:
    """Print ``trainrig: warning: <message>`` as one line on stderr."""
    print(f"trainrig: warning: {message}", file=sys.stderr, flush=True)
