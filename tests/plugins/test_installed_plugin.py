"""A real plugin distribution (the first-plugin tutorial) installed with pip, listed, and used in a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import trainrig

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "tutorials" / "first-plugin"
DISTRIBUTION = "trainrig-first-plugin"


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True, timeout=600)


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """Build and install the tutorial plugin (a regular, non-editable install), uninstall it afterwards."""
    already = subprocess.run([sys.executable, "-m", "pip", "show", DISTRIBUTION], capture_output=True).returncode == 0
    pip("install", "--no-deps", str(PLUGIN_DIR))
    yield
    if not already:
        pip("uninstall", "-y", DISTRIBUTION)


def run_trainrig(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRAINRIG_LOAD_PLUGINS"}  # load every installed plugin
    return subprocess.run(
        [sys.executable, "-m", "trainrig", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def test_listed_with_distribution_version_and_hooks(installed_plugin):
    result = run_trainrig("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["first_plugin"] == {
        "name": "first_plugin",
        "distribution": DISTRIBUTION,
        "version": "0.1.0",
        "builtin": False,
        "hooks": [
            "trainrig_register_callbacks",
            "trainrig_register_export_graphs",
            "trainrig_register_params",
            "trainrig_run_start",
        ],
    }
    table = run_trainrig("plugins")
    assert table.stdout.splitlines()[0].split() == ["name", "distribution", "version", "hooks"]
    assert any(line.startswith("first_plugin") and DISTRIBUTION in line for line in table.stdout.splitlines())


def test_used_in_a_run_from_the_command_line(installed_plugin, tmp_path):
    out = tmp_path / "run"
    result = run_trainrig(
        "train",
        "--model", "trainrig_digits.model:DigitsModel",
        "--data", "trainrig_digits.data:DigitsData",
        "--model.filters", "4",
        "--trainer.epochs", "2",
        "--trainer.output_dir", str(out),
        "--trainer.progress", "none",
        "--plugins.first_plugin.serving_outputs", '["probabilities"]',
    )
    assert result.returncode == 0, result.stderr
    assert "first_plugin: logging epochs to" in result.stdout
    # its callback ran every epoch and saw the validation metrics
    records = [json.loads(line) for line in (out / "epochs.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all({"val_acc", "val_loss", "acc", "loss"} <= set(r) for r in records)
    # its export graph was written with only the chosen output
    serving = trainrig.load_model(out, graph="serving")
    outputs = serving({"image": np.zeros((3, 8, 8, 1), "float32")})
    assert list(outputs) == ["probabilities"] and outputs["probabilities"].shape == (3, 10)
    # its params are saved with the run
    params = json.loads((out / "params.json").read_text())
    assert params["plugins"]["params"]["first_plugin"] == {"log_file": "epochs.jsonl", "serving_outputs": ["probabilities"]}


def test_no_plugin_blocks_it_for_one_run(installed_plugin, tmp_path):
    result = run_trainrig("plugins", "--json", "--no-plugin", "first_plugin")
    assert "first_plugin" not in {row["name"] for row in json.loads(result.stdout)}
