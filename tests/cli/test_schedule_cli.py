"""``trainrig schedule``: the learning rate at every epoch boundary, without training; and the optimizer
and schedule options of ``trainrig train`` on the command line (one-line errors, params.json)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

MODEL = "trainrig_digits.model:DigitsModel"
DATA = "trainrig_digits.data:DigitsData"


@pytest.fixture
def trainrig(capsys):
    """``trainrig(*args)``: the command line run in this process (TensorFlow is imported once), as a
    ``CompletedProcess`` with its exit status and output."""
    from trainrig.cli.main import main

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("trainrig")]


def test_schedule_is_a_command_and_help_stays_without_tensorflow():
    code = (
        "import sys; from trainrig.cli.main import COMMANDS, main; main(['--help']); "
        "print(COMMANDS['schedule'][0], 'TF' if 'tensorflow' in sys.modules else 'noTF')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "  schedule  print the learning rate at every epoch boundary" in out
    assert out.strip().endswith("trainrig.cli.schedule noTF")


def test_schedule_table_with_steps_per_epoch(trainrig, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = trainrig(
        "schedule", "--trainer.epochs", "4", "--trainer.learning_rate", "0.1", "--trainer.lr_schedule", "cosine",
        "--trainer.warmup_steps", "15", "--steps-per-epoch", "10",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "lr_schedule cosine, learning_rate 0.1, warmup 15 steps; 10 optimizer steps per epoch (--steps-per-epoch)"
    assert lines[1].split() == ["epoch", "step", "learning_rate"]
    rows = [line.split() for line in lines[2:]]
    assert [(int(e), int(s)) for e, s, _ in rows] == [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]
    cosine = lambda step: 0.1 * (1 + np.cos(np.pi * step / 40)) / 2  # noqa: E731
    expected = [0.0, cosine(15) * 10 / 15, cosine(20), cosine(30), cosine(40)]
    assert [float(v) for _, _, v in rows] == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert not (tmp_path / "trainrig_output").exists()


def test_schedule_takes_a_train_command_line_and_counts_the_data_steps(trainrig):
    """Model and data options of a train command line are accepted; --data gives the steps per epoch."""
    result = trainrig(
        "schedule", "--model", MODEL, "--data", DATA, "--model.filters", "4", "--trainer.epochs", "4",
        "--trainer.batch_size", "64", "--trainer.learning_rate", "0.1", "--trainer.lr_schedule", "piecewise",
        "--trainer.lr_schedule_options", '{"boundaries": [1, 3], "values": [0.1, 0.01, 0.001]}',
        "--trainer.warmup_epochs", "0.5", "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    from trainrig_digits.data import DigitsData

    steps = len(DigitsData().train_sequence(64))
    assert out["steps_per_epoch"] == steps and out["warmup_steps"] == round(steps / 2)
    assert [r["step"] for r in out["rates"]] == [e * steps for e in range(5)]
    assert [r["learning_rate"] for r in out["rates"]] == pytest.approx([0.0, 0.01, 0.01, 0.001, 0.001])


def test_schedule_counts_optimizer_steps_with_accumulation(trainrig):
    """With trainer.accumulate 4, 10 batches are 3 optimizer steps (the last group is short)."""
    result = trainrig(
        "schedule", "--steps-per-epoch", "10", "--trainer.accumulate", "4", "--trainer.epochs", "2",
        "--trainer.lr_schedule", "linear", "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["batches_per_epoch"], out["steps_per_epoch"]) == (10, 3)
    assert [r["step"] for r in out["rates"]] == [0, 3, 6]
    assert [r["learning_rate"] for r in out["rates"]] == pytest.approx([0.001, 0.0005, 0.0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trainer.epochs", "3"], "the steps per epoch are unknown: pass --data PKG.MOD:Data (or --config with a data "
         "class), --steps-per-epoch N or --trainer.steps_per_epoch N"),
        (["--steps-per-epoch", "5", "--trainer.lr_schedule", "piecewise", "--trainer.lr_schedule_options",
          '{"boundaries": [1], "values": [0.1]}'],
         "trainer.lr_schedule_options of piecewise: values must be one longer than boundaries: 1 boundaries need 2 "
         "values, got 1"),
        (["--steps-per-epoch", "5", "--trainer.epochs", "2", "--trainer.warmup_steps", "11"],
         "trainer.warmup_steps 11 is longer than the run: 2 epochs x 5 steps = 10 optimizer steps"),
        (["--steps-per-epoch", "5", "--trainer.lr_schedule", "cosinus"], "unknown trainer.lr_schedule 'cosinus'; valid: "),
        (["--steps-per-epoch", "5", "--trainer.clipnorm", "0"], "trainer.clipnorm must be a finite number > 0, got 0.0"),
        (["--steps-per-epoch", "0"], "--steps-per-epoch must be >= 1, got 0"),
    ],
)
def test_schedule_bad_input_is_one_line(trainrig, args, message):
    result = trainrig("schedule", *args)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"trainrig schedule: error: {message}"), result.stderr
    assert "Traceback" not in result.stderr


# --- the options on trainrig train ----------------------------------------------------------------


def test_train_options_reach_params_json(trainrig):
    args = [
        "train", "--model", MODEL, "--data", DATA, "--print-config", "--trainer.optimizer", "AdamW",
        "--trainer.optimizer_options", '{"beta_1": 0.95}', "--trainer.weight_decay", "0.01",
        "--trainer.global_clipnorm", "1.0", "--trainer.lr_schedule", "cosine",
        "--trainer.lr_schedule_options", '{"restart_epochs": 2}', "--trainer.warmup_steps", "100",
    ]
    result = trainrig(*args)
    assert result.returncode == 0, result.stderr
    trainer = json.loads(result.stdout)["trainer"]
    assert {k: trainer[k] for k in ("optimizer", "optimizer_options", "weight_decay", "global_clipnorm", "clipnorm",
                                     "clipvalue", "lr_schedule", "lr_schedule_options", "warmup_steps", "warmup_epochs")} == {
        "optimizer": "AdamW", "optimizer_options": {"beta_1": 0.95}, "weight_decay": 0.01, "global_clipnorm": 1.0,
        "clipnorm": None, "clipvalue": None, "lr_schedule": "cosine", "lr_schedule_options": {"restart_epochs": 2},
        "warmup_steps": 100, "warmup_epochs": 0.0,
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trainer.optimizer", "adamm"], "unknown trainer.optimizer 'adamm'; valid: adadelta, adafactor, adagrad, adam, adamax, adamw, "),
        (["--trainer.optimizer", "lion", "--trainer.optimizer_options", '{"momentum": 0.9}'],
         "unknown option 'momentum' in trainer.optimizer_options for optimizer Lion; its options: beta_1, beta_2, "),
        (["--trainer.clipnorm", "1", "--trainer.global_clipnorm", "1"], "trainer.clipnorm and trainer.global_clipnorm cannot be combined"),
        (["--trainer.global_clipnorm", "-1"], "trainer.global_clipnorm must be a finite number > 0, got -1.0"),
    ],
)
def test_train_with_bad_optimizer_options_is_one_line_before_anything_is_written(trainrig, args, message, tmp_path):
    out = tmp_path / "run"
    result = trainrig("train", "--model", MODEL, "--data", DATA, "--trainer.output_dir", str(out), *args)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"trainrig train: error: {message}"), result.stderr
    assert not out.exists()
