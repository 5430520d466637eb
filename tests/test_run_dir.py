"""The output directory: overwrite starts a clean run, unusable paths are one line, nothing is left by a failed start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import trainrig
from trainrig.cli.main import main
from trainrig.errors import TrainrigError
from trainrig.run_dir import RunDir

from fixtures_pkg.helpers import make_params, subprocess_env, tensorboard_tensors
from fixtures_pkg.tinymodels import TinyData, TinyModel

TINY = ["--model", "fixtures_pkg.tinymodels:TinyModel", "--data", "fixtures_pkg.tinymodels:TinyData"]


def trainrig_cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    command = [*prefix, sys.executable, "-m", "trainrig", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=subprocess_env())


def test_overwrite_removes_every_file_of_the_previous_run_and_nothing_else(tmp_path, capsys):
    out = tmp_path / "out"
    trainrig.Trainer(make_params(out, epochs=3, overwrite=False), TinyModel(), TinyData()).train()
    steps = len(TinyData().train_sequence(16))
    assert {f"ckpt-{2 * steps}", f"ckpt-{3 * steps}"} <= set(os.listdir(out / "checkpoints"))
    (out / "notes.txt").write_text("the user's own file")
    (out / "plugin-output").mkdir()

    trainer = trainrig.Trainer(make_params(out, epochs=1, seed=7, progress="epoch"), TinyModel(), TinyData())
    trainer.train()
    assert "overwrite: removed the previous run's" in capsys.readouterr().out
    assert all(int(name.split("-")[1].split(".")[0]) <= steps for name in os.listdir(out / "checkpoints"))
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    assert set(tensorboard_tensors(out / "tensorboard" / "train")["losses/loss"]) == {1}  # epoch 1 written, not skipped
    assert set(tensorboard_tensors(out / "tensorboard" / "validation")["losses/loss"]) == {1}
    assert (out / "notes.txt").read_text() == "the user's own file" and (out / "plugin-output").is_dir()
    assert not [name for name in os.listdir(out) if name.startswith(".trainrig-overwritten-")]

    new_weights = trainer.keras_model.get_weights()
    shutil.rmtree(out / "export")
    assert main(["export", str(out)]) == 0  # from the newest checkpoint: the new run's
    for exported, trained in zip(trainrig.load_model(out).get_weights(), new_weights):
        np.testing.assert_array_equal(exported, trained)
    assert main(["resume", str(out)]) == 0
    assert "has already finished" in capsys.readouterr().out


def test_a_failed_overwrite_keeps_the_previous_run(tmp_path):
    out = tmp_path / "out"
    trainrig.Trainer(make_params(out, epochs=1), TinyModel(), TinyData()).train()
    before = sorted(p.name for p in out.iterdir())
    broken = trainrig.Trainer(make_params(out, epochs=1, best_metric="no_such_metric"), TinyModel(), TinyData())
    with pytest.raises(TrainrigError, match="no_such_metric"):
        broken.train()
    assert sorted(p.name for p in out.iterdir()) == before


def test_an_output_dir_that_cannot_be_created_is_one_line_before_anything_runs(tmp_path):
    result = trainrig_cli("train", *TINY, "--trainer.output_dir", "/proc/forbidden")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "trainrig train: error: output directory /proc/forbidden cannot be used: No such file or directory; "
        "choose another --trainer.output_dir"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "name, reason",
    [
        ("a-file", "it is a file, not a directory"),
        ("a-file/run", "Not a directory"),
    ],
)
def test_a_file_in_the_way_is_one_line(tmp_path, name, reason):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(TrainrigError, match=f"^output directory {tmp_path / name} cannot be used: {reason}"):
        trainrig.Trainer(make_params(tmp_path / name), TinyModel(), TinyData()).train()


def test_a_read_only_file_system_is_one_line(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    mount = f"mount --bind {read_only} {read_only} && mount -o remount,bind,ro {read_only} {read_only}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", mount], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.decode().strip()}")
    output = read_only / "run"
    command = f"{mount} && exec {sys.executable} -m trainrig train {' '.join(TINY)} --trainer.output_dir {output}"
    result = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, env=subprocess_env())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"trainrig train: error: output directory {output} cannot be used: Read-only file system; "
        "choose another --trainer.output_dir"
    )


def test_a_run_that_fails_before_writing_leaves_no_directory(tmp_path):
    out = tmp_path / "new" / "run"
    trainer = trainrig.Trainer(make_params(out, best_metric="nope"), TinyModel(), TinyData())
    with pytest.raises(TrainrigError):
        trainer.train()
    assert not (tmp_path / "new").exists()


def test_an_error_in_the_users_create_graph_names_the_hook_before_its_traceback(tmp_path):
    result = trainrig_cli(
        "train",
        "--model",
        "trainrig_digits.model:DigitsModel",
        "--data",
        "trainrig_digits.data:DigitsData",
        "--model.filters",
        "0",
        "--trainer.output_dir",
        str(tmp_path / "run"),
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    named = [i for i, line in enumerate(lines) if line.startswith("trainrig: DigitsModel.create_graph")]
    assert named, result.stderr
    assert lines[named[0]] == (
        "trainrig: DigitsModel.create_graph (in trainrig_digits.model) raised ValueError: Invalid value for argument "
        "`filters`. Expected a strictly positive value. Received filters=0. — the traceback follows"
    )
    assert lines[named[0] + 1] == "Traceback (most recent call last):"
    assert lines[-1].startswith("ValueError: Invalid value for argument `filters`")
    assert not (tmp_path / "run").exists()


def test_owned_entries_are_trainrigs_only(tmp_path):
    for name in ("params.json", "metrics.jsonl", "STOP", "notes.txt", ".export.abc", ".hidden"):
        (tmp_path / name).write_text("")
    for name in ("checkpoints", "best", "export", "tensorboard", "mine"):
        (tmp_path / name).mkdir()
    owned = [p.name for p in RunDir(tmp_path).owned_entries()]
    assert owned == sorted(
        [".export.abc", "STOP", "best", "checkpoints", "export", "metrics.jsonl", "params.json", "tensorboard"]
    )
