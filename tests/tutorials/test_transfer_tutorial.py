"""The transfer tutorial's claim: warm start + freeze training reach the from-scratch accuracy in fewer epochs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fixtures_pkg.helpers import subprocess_env

PARITY = [
    "--model", "trainrig_transfer.model:ParityModel", "--data", "trainrig_transfer.data:DigitTask",
    "--data.train_per_digit", "5", "--trainer.batch_size", "16", "--trainer.learning_rate", "0.01",
    "--trainer.epochs", "15", "--trainer.deterministic", "true", "--trainer.progress", "epoch",
]
TRANSFER = [
    "--trainer.warm_start.rename", '["layers/digits_graph/=layers/parity_graph/digits/"]',
    "--trainer.warm_start.exclude", '["/parity/"]',
    "--trainer.freeze.schedule",
    '[{"epoch": 0, "freeze": ["digits"], "learning_rate": 0.1}, {"epoch": 5, "unfreeze": ["all"], "learning_rate": 0.001}]',
]


def train(*args) -> str:
    result = subprocess.run([sys.executable, "-m", "trainrig", "train", *args], capture_output=True, text=True,
                            env=subprocess_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def val_acc(run) -> list[float]:
    return [json.loads(line)["val_acc"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_transfer_reaches_the_from_scratch_accuracy_in_fewer_epochs(tmp_path):
    digits = tmp_path / "digits"
    train("--model", "trainrig_digits.model:DigitsModel", "--data", "trainrig_digits.data:DigitsData",
          "--trainer.epochs", "10", "--trainer.deterministic", "true", "--trainer.progress", "none",
          "--trainer.output_dir", str(digits))
    train(*PARITY, "--trainer.output_dir", str(tmp_path / "scratch"))
    out = train(*PARITY, *TRANSFER, "--trainer.warm_start.path", str(digits), "--trainer.output_dir", str(tmp_path / "transfer"))
    assert "loaded 6 of 8 variables; left at their initial values: layers/parity_graph/parity/vars/0" in out
    assert "freeze: epoch 1: frozen digits; learning rate 0.1" in out
    assert "freeze: epoch 6: frozen none; released digits; learning rate 0.001" in out
    scratch, transfer = val_acc(tmp_path / "scratch"), val_acc(tmp_path / "transfer")
    target = max(scratch)
    scratch_epochs = scratch.index(target) + 1
    transfer_epochs = next(i + 1 for i, acc in enumerate(transfer) if acc >= target)
    assert transfer_epochs < scratch_epochs, (scratch, transfer)
    assert transfer[-1] > scratch[-1] + 0.05
