"""One process per run directory: ``train``, ``resume`` and ``export`` hold ``OUTPUT/.trainrig.lock``.

The lock is an advisory ``fcntl.flock`` on that file, held for the whole command. The kernel releases
it when the holder exits, however it exits, so a lock left by a killed process is simply taken over;
the file itself stays and says who holds (or last held) it: PID, host and command, as JSON. A second
process that finds the lock held fails at once with one line naming the holder, before it writes
anything. ``flock`` works on local file systems; on a network file system that does not support it,
runs are not protected against each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path

from trainrig.errors import TrainrigError

LOCK_FILE = ".trainrig.lock"


def _holder_text(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"PID {holder['pid']} on {holder['host']} ({holder['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """``with RunLock(run_root, "trainrig train ..."):`` — exclusive use of a run directory (which must exist)."""

    def __init__(self, run_root: str | Path, command: str | None = None):
        self.path = Path(run_root) / LOCK_FILE
        self.command = command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise TrainrigError(
                f"output directory {self.path.parent} is in use by {_holder_text(self.path)}; "
                "wait for it to finish or choose another --trainer.output_dir"
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
