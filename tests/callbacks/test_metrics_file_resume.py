"""MetricsFile on resume: metrics.jsonl is cut back to the epochs of the restored history, atomically.

(The same with a real SIGKILL between an epoch's callbacks and its checkpoint:
``tests/checkpoint/test_resume.py::test_kill_between_epoch_callbacks_and_epoch_checkpoint_keeps_each_epoch_once``.)
"""

from __future__ import annotations

import json
import os

import pytest

import trainrig
from trainrig.callbacks.metrics_file import MetricsFile
from trainrig.context import RunContext
from trainrig.run_dir import RunDir


def record(epoch: int, loss: float) -> str:
    return json.dumps({"epoch": epoch, "loss": loss, "val_loss": loss + 1})


def callback(tmp_path, resumed: bool, epochs_in_history: int) -> MetricsFile:
    history = {"loss": [0.1 * (e + 1) for e in range(epochs_in_history)]}
    history["val_loss"] = [v + 1 for v in history["loss"]]
    params = trainrig.TrainerParams(output_dir=str(tmp_path))
    context = RunContext(params=params, run_dir=RunDir(tmp_path), history=history, resumed=resumed)
    return MetricsFile(context)


def lines(tmp_path) -> list[str]:
    return (tmp_path / "metrics.jsonl").read_text().splitlines()


def test_resume_drops_the_epochs_after_the_checkpoint_and_a_partial_line(tmp_path):
    written = [record(1, 0.1), record(2, 0.2), record(3, 0.3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(written) + '\n{"epoch": 4, "lo')
    metrics = callback(tmp_path, resumed=True, epochs_in_history=2)
    metrics.on_train_begin()
    assert lines(tmp_path) == written[:2]  # the records kept are the very lines written
    metrics.on_epoch_end(2, {"loss": 0.3, "val_loss": 1.3})
    assert [json.loads(line)["epoch"] for line in lines(tmp_path)] == [1, 2, 3]
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".metrics")]


def test_resume_keeps_the_last_record_of_an_epoch_written_twice_and_rebuilds_a_missing_one(tmp_path):
    # 2 twice (a file from before this fix: the second one is the resumed run's), 3 lost
    written = [record(1, 0.1), record(2, 9.0), record(2, 0.2), record(4, 0.4)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(written) + "\n")
    callback(tmp_path, resumed=True, epochs_in_history=3).on_train_begin()
    rebuilt = json.dumps({"epoch": 3, "loss": 0.1 * 3, "val_loss": 0.1 * 3 + 1})  # the history's values
    assert lines(tmp_path) == [record(1, 0.1), record(2, 0.2), rebuilt]


def test_resume_without_a_checkpoint_starts_the_file_over(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(record(1, 0.1) + "\n")
    callback(tmp_path, resumed=True, epochs_in_history=0).on_train_begin()
    assert lines(tmp_path) == []


def test_a_fresh_run_and_an_unchanged_file_are_left_alone(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(record(1, 0.1) + "\n" + record(2, 0.2) + "\n")
    before = path.stat().st_mtime_ns, path.stat().st_ino
    callback(tmp_path, resumed=False, epochs_in_history=0).on_train_begin()
    callback(tmp_path, resumed=True, epochs_in_history=2).on_train_begin()
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
    assert lines(tmp_path) == [record(1, 0.1), record(2, 0.2)]


def test_the_rewrite_is_atomic(tmp_path, monkeypatch):
    """A crash before the new file is renamed into place leaves the old file whole (never truncated in place)."""
    path = tmp_path / "metrics.jsonl"
    original = record(1, 0.1) + "\n" + record(2, 0.2) + "\n"
    path.write_text(original)

    def crash(*args, **kwargs):
        raise OSError(5, "Input/output error (injected crash)")

    monkeypatch.setattr(os, "replace", crash)
    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="injected crash"):
        callback(tmp_path, resumed=True, epochs_in_history=1).on_train_begin()
    monkeypatch.undo()
    assert path.read_text() == original
    callback(tmp_path, resumed=True, epochs_in_history=1).on_train_begin()  # the next resume does it
    assert lines(tmp_path) == [record(1, 0.1)]
