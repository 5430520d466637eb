"""``trainrig lav``, ``predict`` and ``export`` on a real run, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import trainrig
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel, DigitsModelParams


def trainrig_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainrig", *args], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("commands") / "run"
    params = trainrig.TrainerParams(epochs=3, output_dir=str(out), progress="none", seed=3, print_samples=0)
    trainrig.Trainer(params, DigitsModel(DigitsModelParams(filters=4)), DigitsData()).train()
    return out


def epochs(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def lav(path, *extra) -> dict:
    result = trainrig_cli("lav", str(path), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_lav_of_the_final_export_reproduces_the_last_validation(run_dir):
    values = lav(run_dir)
    last = epochs(run_dir)[-1]
    assert set(values) == {k for k in last if k.startswith(("val_", "Test "))}
    for name, value in values.items():
        assert value == pytest.approx(last[name], rel=1e-5, abs=1e-6), name


def test_lav_of_best_reproduces_the_best_epoch(run_dir):
    best = json.loads((run_dir / "best" / "trainrig.json").read_text())
    values = lav(run_dir / "best")
    assert values["val_acc"] == pytest.approx(epochs(run_dir)[best["epoch"] - 1]["val_acc"], abs=1e-6)
    assert values["val_acc"] == pytest.approx(best["value"], abs=1e-6)


def test_predict_writes_every_output(run_dir, tmp_path):
    out = tmp_path / "predictions.npz"
    result = trainrig_cli("predict", str(run_dir), "--output", str(out))
    assert result.returncode == 0, result.stderr
    with np.load(out) as predictions:
        assert set(predictions.files) == {"logits", "probabilities", "class", "conv"}
        data = DigitsData()
        images = data.images[data.val_rows]  # scaled when loaded
        expected = trainrig.load_model(run_dir)({"image": images})["probabilities"]
        np.testing.assert_allclose(predictions["probabilities"], expected, rtol=1e-5, atol=1e-6)


def test_export_rebuilds_the_export_from_the_newest_checkpoint(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = trainrig.load_model(copy).get_weights()
    shutil.rmtree(copy / "export")
    result = trainrig_cli("export", str(copy))
    assert result.returncode == 0, result.stderr
    after = trainrig.load_model(copy).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert (copy / "export" / "default" / "saved_model.pb").is_file()


def test_commands_on_a_directory_that_is_not_a_run(tmp_path):
    for command in (["lav", str(tmp_path)], ["export", str(tmp_path)], ["predict", str(tmp_path), "-o", "x.npz"]):
        result = trainrig_cli(*command)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].endswith("is not a trainrig run, nor an export inside one (no params.json found)")
