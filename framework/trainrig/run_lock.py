"""One process per run directory: ``train``, ``resume`` and ``export`` hold ``OUTPUT/.trainrig.lock``.

The lock is an advisory ``fcntl.flock`` on that file, held for the whole command; the file says who
holds it (PID, host and command, as JSON) and is removed when the command ends. The kernel releases
the lock when its holder exits, however it exits, so the file a killed process left behind is simply
taken over. A second process that finds the lock held fails at once with one line naming the
holder, before it writes anything. (The holder removes the file while still holding the lock, and a
process that acquires a lock checks that the file it locked is still the one at the path, so removal
cannot let two processes in.) ``flock`` works on local file systems; on a network file system that does not support it,
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
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise TrainrigError(
                    f"output directory {self.path.parent} is in use by {_holder_text(self.path)}; "
                    "wait for it to finish or choose another --trainer.output_dir"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed the file we locked meanwhile: lock the one at the path now
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # still locked: nobody can have locked this file meanwhile
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
