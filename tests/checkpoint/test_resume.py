"""Kill a run at any point, resume it, and get the same weights bit for bit (deterministic CPU runs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import trainrig
from trainrig.checkpoint.store import CheckpointStore
from trainrig.tensorboard.writers import read_events
from fixtures_pkg.helpers import RESUME_SCRIPT as SCRIPT, resume_result, resume_script

EXIT_STOPPED = 3


def run(out: Path, mode: str, options: dict | None = None, plugins: str = "") -> subprocess.CompletedProcess:
    return resume_script(out, mode, options, plugins)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, by options."""
    cache = {}

    def get(options: dict | None = None, plugins: str = "") -> dict:
        key = json.dumps([options or {}, plugins], sort_keys=True)
        if key not in cache:
            out = tmp_path_factory.mktemp("reference") / "run"
            cache[key] = resume_result(run(out, "full", options, plugins))
        return cache[key]

    return get


def interrupted_then_resumed(tmp_path, mode: str, options: dict | None = None, plugins: str = "") -> dict:
    out = tmp_path / "run"
    first = run(out, mode, options, plugins)
    assert first.returncode == -9, (first.returncode, first.stderr[-3000:])
    return resume_result(run(out, "resume", options, plugins))


def test_augmentation_ema_plugin_and_best_weights_resume_exactly(tmp_path, reference):
    """What the plugin and augmentation features add is resumed exactly too."""
    options = {
        "augmentation": {"input": "image", "n": 2, "ops": [{"name": "shift", "max_shift": 1}, {"name": "gaussian_noise"}]},
        "early_stopping": {"patience": 5, "restore_best_weights": True},
    }
    expected = reference(options, plugins="ema")
    resumed = interrupted_then_resumed(tmp_path, "kill-batch:33", options, plugins="ema")
    assert resumed["hash"] == expected["hash"]
    assert ema_hash(tmp_path / "run") == ema_hash(Path(expected["out"]))


def ema_hash(run_dir: Path) -> str:
    weights = trainrig.load_model(run_dir, graph="ema").get_weights()
    return hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in weights)).hexdigest()


@pytest.mark.parametrize(
    "mode",
    [
        "kill-batch:25",  # mid-epoch, between step checkpoints (the newest is at step 20)
        "kill-batch:31",  # right after the step-30 checkpoint
        "kill-batch:23",  # on the last batch of the first epoch, before its epoch-end checkpoint
        "kill-save:3",  # in the middle of writing the third checkpoint
    ],
)
def test_sigkill_then_resume_gives_identical_weights(mode, tmp_path, reference):
    resumed = interrupted_then_resumed(tmp_path, mode)
    expected = reference()
    assert resumed["hash"] == expected["hash"]
    assert resumed["history"] == expected["history"]
    # TensorBoard continues without duplicated or missing epochs
    for run_name in ("train", "validation"):
        assert scalar_steps(tmp_path / "run" / "tensorboard" / run_name, "losses/loss") == [1, 2, 3]


def scalar_steps(directory: Path, tag: str) -> list[int]:
    """Every step ``tag`` was written at, duplicates included."""
    steps = []
    for path in sorted(directory.glob("events.out.tfevents.*")):
        for event in read_events(path):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


def metrics_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_kill_between_epoch_callbacks_and_epoch_checkpoint_keeps_each_epoch_once(tmp_path, reference):
    """SIGKILL in the last callback's on_epoch_end of epoch 2: metrics.jsonl already holds epoch 2, the
    newest checkpoint does not (it is the step-40 one, mid-epoch 2). The resume cuts the file back to the
    checkpoint and the file ends as an uninterrupted run's, each epoch once."""
    out = tmp_path / "run"
    first = run(out, "kill-epoch-end:2")
    assert first.returncode == -9, (first.returncode, first.stderr[-3000:])
    assert [r["epoch"] for r in metrics_records(out)] == [1, 2]  # epoch 2 written, its checkpoint not
    newest = CheckpointStore(out / "checkpoints").load_latest()
    assert newest[2]["position"]["epoch"] == 1  # the checkpoint is before epoch 2's end
    resumed = resume_result(run(out, "resume"))
    expected = reference()
    assert [r["epoch"] for r in metrics_records(out)] == [1, 2, 3]
    assert metrics_records(out) == metrics_records(Path(expected["out"]))
    assert (out / "metrics.jsonl").read_bytes() == (Path(expected["out"]) / "metrics.jsonl").read_bytes()
    assert resumed["hash"] == expected["hash"] and resumed["history"] == expected["history"]
    for run_name in ("train", "validation"):
        assert scalar_steps(out / "tensorboard" / run_name, "losses/loss") == [1, 2, 3]


def test_a_failed_checkpoint_write_stops_the_run_and_keeps_the_previous_one(tmp_path, reference):
    out = tmp_path / "run"
    first = run(out, "fail-save:2")
    assert first.returncode == 1
    last = first.stderr.strip().splitlines()[-1]
    assert "writing checkpoint" in last and "No space left on device" in last and "previous checkpoints are intact" in last
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["ckpt-10"]
    assert resume_result(run(out, "resume"))["hash"] == reference()["hash"]


def test_killed_before_the_first_checkpoint_resumes_from_the_start(tmp_path, reference):
    options = {"checkpoint_every_steps": 0}
    resumed = interrupted_then_resumed(tmp_path, "kill-batch:3", options)
    assert resumed["hash"] == reference(options)["hash"]


def test_stateful_per_batch_learning_rate_callback_resumes_exactly(tmp_path, reference):
    options = {"lr_counter": True}
    resumed = interrupted_then_resumed(tmp_path, "kill-batch:37", options)
    assert resumed["hash"] == reference(options)["hash"]
    assert resumed["history"]["learning_rate"] == reference(options)["history"]["learning_rate"]


def test_early_stopping_mid_patience_resumes_exactly(tmp_path, reference):
    # min_delta so large that no epoch counts as an improvement: patience 2 stops after epoch 3 of 5
    options = {"epochs": 5, "early_stopping": {"patience": 2, "min_delta": 10.0}}
    expected = reference(options)
    assert expected["epochs"] == 3
    resumed = interrupted_then_resumed(tmp_path, "kill-batch:30", options)  # epoch 2: wait == 1
    assert resumed["epochs"] == 3 and resumed["hash"] == expected["hash"]


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, reference):
    out = tmp_path / "run"
    assert run(out, "kill-batch:25").returncode == -9
    newest = CheckpointStore(out / "checkpoints").list()[-1][1]
    data = (newest / "arrays.npz").read_bytes()
    (newest / "arrays.npz").write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    resumed = run(out, "resume")
    assert f"checkpoint {newest} is corrupt (arrays.npz does not match its checksum); using the previous one" in resumed.stderr
    assert resume_result(resumed)["hash"] == reference()["hash"]


@pytest.mark.parametrize("mode", ["term-batch:12", "stopfile-batch:12"])
def test_graceful_stop_writes_a_checkpoint_and_says_how_to_resume(mode, tmp_path, reference):
    out = tmp_path / "run"
    first = run(out, mode)
    assert first.returncode != 0
    message = first.stderr.strip().splitlines()[-1]
    assert "TrainingStopped" in message and f"continue with: trainrig resume {out}" in message
    assert (out / "checkpoints" / "ckpt-12").is_dir()
    assert not (out / "STOP").exists()
    assert resume_result(run(out, "resume"))["hash"] == reference()["hash"]


def test_cli_graceful_stop_exit_status_and_resume(tmp_path):
    """A plugin's callback creates STOP at the end of global step 5 (of 2 epochs): the run stops there,
    whatever the machine's speed, with exit status 3 and a checkpoint at step 5; resume finishes it."""
    from stop_file_plugin import STOP_AT_STEP

    out = tmp_path / "run"
    base = [sys.executable, "-m", "trainrig"]
    train = base + ["train", "--model", "trainrig_digits.model:DigitsModel", "--data", "trainrig_digits.data:DigitsData",
                    "--model.filters", "4", "--trainer.epochs", "2", "--trainer.output_dir", str(out),
                    "--trainer.progress", "none", "--plugin", "stop_file_plugin"]
    pythonpath = os.pathsep.join([str(SCRIPT.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": pythonpath, "TRAINRIG_LOAD_PLUGINS": ""}
    stopped = subprocess.run(train, capture_output=True, text=True, timeout=600, env=env)
    assert stopped.returncode == EXIT_STOPPED, stopped.stderr[-3000:]
    assert stopped.stderr.strip().splitlines()[-1].startswith("trainrig train: stopped by STOP file at epoch 1, step 5")
    assert [step for step, _ in CheckpointStore(out / "checkpoints").list()] == [STOP_AT_STEP]
    assert not (out / "STOP").exists() and not (out / "export").exists()
    resumed = subprocess.run(base + ["resume", str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (out / "export" / "default.keras").is_file()
    assert [r["epoch"] for r in metrics_records(out)] == [1, 2]
    again = subprocess.run(base + ["resume", str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and "has already finished" in again.stdout


def test_resume_of_a_directory_that_is_not_a_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "trainrig", "resume", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"trainrig resume: error: {tmp_path} is not a trainrig run (no params.json)"
