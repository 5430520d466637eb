"""``--trainer.profile START,END``: the TensorFlow profiler over a range of optimizer steps (``StepProfiler``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf

import trainrig
from trainrig.callbacks import profiler
from trainrig.callbacks.profiler import StepProfiler
from trainrig.context import RunContext
from trainrig.params import from_dict, leaf_fields, parse_text
from trainrig.run_dir import RunDir
from trainrig.train.executions import needs_every_batch
from fixtures_pkg.tinymodels import PlainModel

TINY = ["--model", "fixtures_pkg.tinymodels:PlainModel", "--data", "fixtures_pkg.tinymodels:TinyData"]


def profiles(run_root) -> list:
    return sorted((run_root / "tensorboard" / "train" / "plugins" / "profile").glob("*/*.xplane.pb"))


def traced_steps(xplane) -> list[int]:
    """``step_num`` of every ``train`` trace event (one per profiled call) in an ``.xplane.pb``."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(xplane.read_bytes())
    steps = []
    for plane in space.planes:
        stat_names = {key: stat.name for key, stat in plane.stat_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                if plane.event_metadata[event.metadata_id].name == "train":
                    stats = {stat_names[stat.metadata_id]: stat.int64_value for stat in event.stats}
                    steps.append(stats["step_num"])
    return sorted(steps)


@pytest.fixture(autouse=True)
def no_profiler_left_running():
    yield
    profiler.stop_left_running()  # a failed test must not leave TensorFlow's one profiler session to the next


# --- real runs ------------------------------------------------------------------------------------


def test_a_run_with_profile_writes_an_xplane_under_the_train_run_and_says_where(tiny_params, tiny_data, capsys):
    params = tiny_params("run", profile="2,4", progress="epoch")  # 4 steps per epoch, steps per call auto
    trainer = trainrig.Trainer(params, PlainModel(), tiny_data)
    trainer.train()
    root = trainer.run_dir.root
    written = profiles(root)
    assert len(written) == 1 and written[0].stat().st_size > 0
    (callback,) = [c for c in trainer.callbacks.callbacks if isinstance(c, StepProfiler)]
    assert not needs_every_batch(callback), "the profiler must not make the loop run one step per call"
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("profile of")]
    assert len(lines) == 1, lines
    start, end = map(int, re.match(r"profile of optimizer steps (\d+) to (\d+) written to ", lines[0]).groups())
    assert 2 <= start < end and end >= 4  # whole calls: at least the asked range, from its start
    steps = traced_steps(written[0])  # a trace event "train" per profiled call, at the iterations it starts from
    assert steps and steps[0] == start and steps[-1] < end
    assert str(written[0].parent) in lines[0] and "pip install tensorboard-plugin-profile" in lines[0]
    assert written[0].parents[3] == root / "tensorboard" / "train"


def test_a_run_without_profile_writes_no_profile(tiny_params, tiny_data):
    params = tiny_params("plain", epochs=1)
    trainer = trainrig.Trainer(params, PlainModel(), tiny_data)
    trainer.train()
    assert not any(isinstance(c, StepProfiler) for c in trainer.callbacks.callbacks)
    assert (trainer.run_dir.root / "tensorboard" / "train").is_dir()
    assert not (trainer.run_dir.root / "tensorboard" / "train" / "plugins" / "profile").exists()


# --- bad values -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5,3", "x", "4,4", "3", "-1,4", "1,2,3", "1.5,3"])
def test_a_bad_range_is_a_one_line_error_before_training(value, tmp_path, capsys):
    from trainrig.cli.main import main

    out = tmp_path / "run"
    assert main(["train", *TINY, "--trainer.output_dir", str(out), f"--trainer.profile={value}"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "trainrig train: error: trainer.profile must be two optimizer steps START,END with 0 <= START < END "
        f"(e.g. 10,20), or empty for no profiling; got {value!r}"
    )
    assert not out.exists()


def test_the_range_on_the_command_line_in_python_and_in_params_json():
    (option,) = [a for path, a in leaf_fields(trainrig.TrainerParams) if path == "profile"]
    assert parse_text("10,20", option.type, "trainer.profile") == "10,20"  # --trainer.profile 10,20
    assert trainrig.TrainerParams(profile=" 10 , 20 ").profile == " 10 , 20 "
    assert from_dict(trainrig.TrainerParams, {"profile": "0,1"}).profile == "0,1"
    with pytest.raises(ValueError, match="profile must be two optimizer steps START,END"):
        trainrig.TrainerParams(profile="20,10")
    with pytest.raises(trainrig.TrainrigError, match="profile: expected a string"):
        from_dict(trainrig.TrainerParams, {"profile": [10, 20]})


# --- when it starts and stops (TensorFlow's start/stop recorded) ------------------------------------


class FakeOptimizer:
    def __init__(self, iterations: int = 0):
        self.iterations = np.int64(iterations)


@pytest.fixture
def recorded(monkeypatch):
    """TensorFlow's profiler start and stop replaced by a record of calls ``("start", logdir)``, ``("stop",)``."""
    calls = []
    monkeypatch.setattr(tf.profiler.experimental, "start", lambda logdir, options=None: calls.append(("start", logdir)))
    monkeypatch.setattr(tf.profiler.experimental, "stop", lambda save=True: calls.append(("stop",)))
    return calls


def profiled(tmp_path, profile="2,4", iterations=0, progress="epoch", **context) -> tuple[StepProfiler, FakeOptimizer]:
    optimizer = FakeOptimizer(iterations)
    params = trainrig.TrainerParams(output_dir=str(tmp_path), progress=progress, profile=profile)
    callback = StepProfiler(RunContext(params=params, run_dir=RunDir(tmp_path), optimizer=optimizer, **context))
    return callback, optimizer


def run_calls(callback: StepProfiler, optimizer: FakeOptimizer, ends: list[int], recorded: list) -> list[tuple[str, int]]:
    """Drive the hooks of a run whose calls end at optimizer iterations ``ends``; return
    ``(start|stop, iterations)`` of every profiler start and stop."""
    events = []

    def hook(method, *args):
        before = len(recorded)
        method(*args)
        events.extend((call[0], int(optimizer.iterations)) for call in recorded[before:])

    hook(callback.on_train_begin)
    for end in ends:
        hook(callback.on_train_batch_begin, 0)
        optimizer.iterations = np.int64(end)
        hook(callback.on_train_batch_end, 0)
    hook(callback.on_train_end)
    return events


@pytest.mark.parametrize(
    "profile, iterations, ends, expected",
    [
        ("2,4", 0, [1, 2, 3, 4, 5, 6], [("start", 2), ("stop", 4)]),  # one step per call: exact
        ("2,4", 0, [3, 6, 9], [("start", 3), ("stop", 6)]),  # a call straddles START: from the next call
        ("2,4", 0, [1, 8, 16, 24], [("start", 8), ("stop", 16)]),  # one call jumps past both: the next call
        ("0,3", 0, [2, 4, 6], [("start", 0), ("stop", 4)]),  # START 0: from the first call
        ("2,40", 0, [4, 8], [("start", 4), ("stop", 8)]),  # the run ends first: stopped at train end
        ("2,4", 3, [4, 5], [("start", 3), ("stop", 4)]),  # resumed inside the range
        ("2,4", 4, [5, 6], []),  # resumed at END: nothing
        ("2,4", 9, [10], []),  # resumed past END: nothing
    ],
)
def test_start_and_stop_follow_the_optimizer_iterations(tmp_path, recorded, profile, iterations, ends, expected):
    callback, optimizer = profiled(tmp_path, profile, iterations)
    assert run_calls(callback, optimizer, ends, recorded) == expected
    if expected:
        assert recorded[0] == ("start", str(tmp_path / "tensorboard" / "train"))
    assert callback.phase == "done"


def test_only_the_chief_profiles(tmp_path, recorded):
    callback, optimizer = profiled(tmp_path, is_chief=False)
    assert run_calls(callback, optimizer, [1, 2, 3, 4, 5], recorded) == []


def test_the_line_waits_for_the_epoch_end_and_progress_none_prints_nothing(tmp_path, recorded, capsys):
    callback, optimizer = profiled(tmp_path)
    callback.on_train_begin()
    for end in (2, 4):
        callback.on_train_batch_begin(0)
        optimizer.iterations = np.int64(end)
        callback.on_train_batch_end(0)
    assert recorded == [("start", str(tmp_path / "tensorboard" / "train")), ("stop",)]
    assert capsys.readouterr().out == ""  # not inside the progress bar's line
    callback.on_epoch_end(0)
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("profile of optimizer steps 2 to 4 written to ")
    quiet, optimizer = profiled(tmp_path / "quiet", progress="none")
    assert run_calls(quiet, optimizer, [2, 4], recorded) == [("start", 2), ("stop", 4)]
    quiet.on_epoch_end(0)
    assert capsys.readouterr().out == ""


# --- a run that fails while profiling (the real profiler) -------------------------------------------


def test_a_profile_left_running_by_a_failed_run_is_written_at_exit_or_by_the_next_profiled_run(tmp_path, capsys):
    failed, optimizer = profiled(tmp_path / "failed")
    failed.on_train_begin()
    optimizer.iterations = np.int64(2)
    failed.on_train_batch_begin(0)
    tf.reduce_sum(tf.ones((8, 8)) @ tf.ones((8, 8)))
    assert failed.phase == "running" and profiler._running is failed
    # ... the step raises: no batch end, no train end. The next profiled run of the process stops it:
    following, optimizer = profiled(tmp_path / "next")
    following.on_train_begin()
    optimizer.iterations = np.int64(2)
    following.on_train_batch_begin(0)
    assert len(profiles(tmp_path / "failed")) == 1 and profiler._running is following
    assert "profile of optimizer steps from 2 (the run ended early) written to " in capsys.readouterr().out
    # ... and fails as well: what process exit runs (atexit) writes its profile
    profiler.stop_left_running()
    assert len(profiles(tmp_path / "next")) == 1 and profiler._running is None
    assert "profile of optimizer steps from 2 (the run ended early) written to " in capsys.readouterr().out


def test_another_profiler_running_is_a_warning_and_the_run_goes_on(tmp_path, capsys):
    tf.profiler.experimental.start(str(tmp_path / "theirs"))
    try:
        callback, optimizer = profiled(tmp_path / "ours", iterations=2)
        callback.on_train_begin()
        callback.on_train_batch_begin(0)
        optimizer.iterations = np.int64(5)
        callback.on_train_batch_end(0)
        callback.on_train_end()
    finally:
        tf.profiler.experimental.stop(save=False)
    assert callback.phase == "done" and profiler._running is None and not profiles(tmp_path / "ours")
    err = capsys.readouterr().err
    assert "trainrig: warning: trainer.profile: the TensorFlow profiler did not start (Another profiler is running.)" in err
