"""Graceful stop: SIGINT/SIGTERM or a ``STOP`` file in the run directory end the run after the current step."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from trainrig.errors import TrainrigError

STOP_FILE = "STOP"
EXIT_STOPPED = 3


class TrainingStopped(TrainrigError):
    """The run stopped on request after writing a checkpoint; ``trainrig resume`` continues it."""

    exit_code = EXIT_STOPPED


class StopRequest:
    """Watches for a stop request while a run trains (signal handlers only in the main thread).

    The first SIGINT or SIGTERM asks for a graceful stop; a second SIGINT interrupts at once.
    ``watch_file`` false: only signals (a non-chief worker neither reads nor removes the chief's file).
    """

    def __init__(self, run_root: Path, watch_file: bool = True):
        self.file = Path(run_root) / STOP_FILE if watch_file else None
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequest":
        if self.file is not None and self.file.exists():
            self.file.unlink()  # a STOP left over from the last run must not stop this one at once
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum, frame) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def requested(self) -> bool:
        if self.reason is None and self.file is not None and self.file.exists():
            self.reason = f"{STOP_FILE} file"
            self.file.unlink(missing_ok=True)
        return self.reason is not None
