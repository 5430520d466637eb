"""The digits tutorial reaches its accuracy and its run is readable by a real TensorBoard server.

The run is deterministic (``seed=0``, ``deterministic=True``: TensorFlow's op determinism), so its
accuracies are the same on every run on a given TensorFlow build and CPU; it ends near 0.98, and the
test asserts the tutorial's promise of 95 %. The TensorBoard server is waited for by what it says, not
by a fixed time: it is started on a free port of its choosing and the test reads the address it prints,
then polls until it serves both runs, with a generous deadline for a busy machine.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import trainrig
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    params = trainrig.TrainerParams(epochs=10, output_dir=str(out), progress="none", seed=0, deterministic=True)
    history = trainrig.Trainer(params, DigitsModel(), DigitsData()).train()
    return out, history


def test_reaches_95_percent_validation_accuracy(digits_run):
    _, history = digits_run
    assert max(history["val_acc"]) >= 0.95
    assert len(history["val_acc"]) == 10


def test_best_export_holds_the_best_epoch(digits_run):
    out, history = digits_run
    best = json.loads((out / "best" / "trainrig.json").read_text())
    assert best["monitor"] == "val_acc"
    assert best["value"] == pytest.approx(max(history["val_acc"]))
    assert best["epoch"] == history["val_acc"].index(max(history["val_acc"])) + 1


SERVER_TIMEOUT = 600  # seconds for TensorBoard to start and load the run: generous, for a busy machine


def _get(url: str, data: bytes | None = None):
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


def _wait_for_runs(process: subprocess.Popen, base: str, deadline: float) -> None:
    """Poll until the server lists both runs' scalars (it loads event files after it starts listening)."""
    pause = 0.05
    while True:
        if process.poll() is not None:
            pytest.fail(f"tensorboard exited ({process.returncode}) while loading the run")
        try:
            tags = _get(f"{base}/data/plugin/scalars/tags")
            if "train" in tags and "validation" in tags:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"tensorboard did not serve the run within {SERVER_TIMEOUT} s")
        time.sleep(pause)  # a short pause between polls, growing to at most 1 s
        pause = min(2 * pause, 1.0)


@pytest.fixture(scope="module")
def tensorboard_server(digits_run):
    out, _ = digits_run
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    process = subprocess.Popen(
        [tensorboard, "--logdir", str(out / "tensorboard"), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stderr, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        base = _address(process, lines, deadline)
        _wait_for_runs(process, base, deadline)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_tensorboard_shows_losses_metrics_images_and_hparams(tensorboard_server):
    base = tensorboard_server
    scalars = _get(f"{base}/data/plugin/scalars/tags")
    for run in ("train", "validation"):
        assert {"loss", "xent", "acc"} <= set(scalars[run]), scalars[run]
    assert "learning_rate" in scalars["train"]
    series = _get(f"{base}/data/plugin/scalars/scalars?run=validation&tag=acc")
    assert [point[1] for point in series] == list(range(1, 11))
    images = _get(f"{base}/data/plugin/images/tags")
    assert "conv" in images["validation"]
    experiment = _get(f"{base}/data/plugin/hparams/experiment", data=json.dumps({"experimentName": ""}).encode())
    names = {h["name"] for h in experiment["hparamInfos"]}
    assert {"model.filters", "trainer.epochs", "data.val_fraction"} <= names
