"""The digits tutorial reaches its accuracy and its run is readable by a real TensorBoard server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import trainrig
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    params = trainrig.TrainerParams(epochs=10, output_dir=str(out), progress="none", seed=0)
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers={"X-XSRF-Protected": "1", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def tensorboard_server(digits_run):
    out, _ = digits_run
    port = _free_port()
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    process = subprocess.Popen(
        [tensorboard, "--logdir", str(out / "tensorboard"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                tags = _get(f"{base}/data/plugin/scalars/tags")
                if "train" in tags and "validation" in tags:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("tensorboard did not serve the run within 60 s")
            time.sleep(0.5)
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
