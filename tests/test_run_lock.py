"""One process per run directory: train, resume and export are refused while another process holds it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

import trainrig
from trainrig.errors import TrainrigError
from trainrig.run_lock import LOCK_FILE, RunLock

from fixtures_pkg.helpers import make_params, subprocess_env, tree_snapshot
from fixtures_pkg.tinymodels import TinyData, TinyModel

TINY = ["--model", "fixtures_pkg.tinymodels:TinyModel", "--data", "fixtures_pkg.tinymodels:TinyData"]


def trainrig_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainrig", *args], capture_output=True, text=True, timeout=300, env=subprocess_env()
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lock") / "run"
    trainrig.Trainer(make_params(out, epochs=1), TinyModel(), TinyData()).train()
    return out


@pytest.mark.parametrize(
    "command",
    [
        ["train", *TINY, "--trainer.overwrite", "true", "--trainer.output_dir", "{out}"],
        ["resume", "{out}"],
        ["export", "{out}"],
    ],
    ids=["train", "resume", "export"],
)
def test_a_second_process_is_refused_in_one_line_and_writes_nothing(finished_run, command):
    assert not (finished_run / LOCK_FILE).exists()  # removed when the run that made it ended
    with RunLock(finished_run, command="trainrig train --the-holder"):
        before = tree_snapshot(finished_run)
        result = trainrig_cli(*[part.format(out=finished_run) for part in command])
        after = tree_snapshot(finished_run)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"trainrig {command[0]}: error: output directory {finished_run} is in use by PID {os.getpid()} on "
        f"{socket.gethostname()} (trainrig train --the-holder); wait for it to finish or choose another "
        "--trainer.output_dir"
    )
    assert after == before  # the holder's lock file included
    assert not (finished_run / LOCK_FILE).exists()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, sys; from trainrig.run_lock import RunLock; RunLock(sys.argv[1], 'killed holder').__enter__(); "
            "print('held', flush=True); os.kill(os.getpid(), signal.SIGKILL)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert holder.stdout.readline().strip() == "held"
    assert holder.wait(timeout=60) == -signal.SIGKILL
    assert json.loads((tmp_path / LOCK_FILE).read_text())["command"] == "killed holder"
    with RunLock(tmp_path, command="the new holder"):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_holder_that_removes_the_file_does_not_let_a_waiting_locker_in_twice(tmp_path):
    import fcntl

    first = RunLock(tmp_path, command="first").__enter__()
    stale = os.open(tmp_path / LOCK_FILE, os.O_RDWR)  # a second process opened the file before it was removed
    first.__exit__(None, None, None)
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # it now locks the removed file...
    with RunLock(tmp_path, command="third"):  # ...which must not keep a new locker out, nor count as the lock
        assert json.loads((tmp_path / LOCK_FILE).read_text())["command"] == "third"
    os.close(stale)


def test_two_holders_in_one_process_conflict_too(tmp_path):
    with RunLock(tmp_path, command="first"):
        with pytest.raises(TrainrigError, match=r"is in use by PID \d+ on .* \(first\)"):
            with RunLock(tmp_path, command="second"):
                pass
    with RunLock(tmp_path, command="third"):  # released: free again
        pass
