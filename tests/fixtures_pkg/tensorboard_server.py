"""A real ``tensorboard`` server on 127.0.0.1 for tests: a port of its choosing, always stopped.

The server is waited for by what it says, not by a fixed time: the test reads the address it prints,
then polls until it serves the expected runs, with a generous deadline for a busy machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterable, Iterator

import pytest

SERVER_TIMEOUT = 600  # seconds for TensorBoard to start and load the runs: generous, for a busy machine


def get(url: str, data: bytes | None = None):
    """The JSON a TensorBoard endpoint answers (POST when ``data`` is given)."""
    request = urllib.request.Request(url, data=data, headers={"X-XSRF-Protected": "1", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _read_lines(stream, lines: queue.Queue) -> None:
    """Drain the server's output (so it never blocks on a full pipe); ``None`` at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _address(process: subprocess.Popen, lines: queue.Queue, deadline: float) -> str:
    """The ``http://host:port`` TensorBoard prints once it listens (``--port 0``: a port it chose)."""
    seen = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"tensorboard printed no address within {SERVER_TIMEOUT} s:\n{''.join(seen)[-3000:]}")
        if line is None:
            process.wait(timeout=30)
            pytest.fail(f"tensorboard exited ({process.returncode}) before serving:\n{''.join(seen)[-3000:]}")
        seen.append(line)
        match = re.search(r"TensorBoard \S+ at (http://[^/\s]+)/", line)
        if match:
            return match.group(1)


def _wait_for_runs(process: subprocess.Popen, base: str, runs: Iterable[str], deadline: float) -> None:
    """Poll until the server lists scalars of every run in ``runs`` (it loads event files after it listens)."""
    pause, runs = 0.05, set(runs)
    while True:
        if process.poll() is not None:
            pytest.fail(f"tensorboard exited ({process.returncode}) while loading the runs")
        try:
            if runs <= set(get(f"{base}/data/plugin/scalars/tags")):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"tensorboard did not serve {sorted(runs)} within {SERVER_TIMEOUT} s")
        time.sleep(pause)  # a short pause between polls, growing to at most 1 s
        pause = min(2 * pause, 1.0)


@contextlib.contextmanager
def serve(logdir: Path, runs: Iterable[str]) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a TensorBoard over ``logdir`` once it serves ``runs``; stopped on exit."""
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    process = subprocess.Popen(
        [tensorboard, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0", "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stderr, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        base = _address(process, lines, deadline)
        _wait_for_runs(process, base, runs, deadline)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
