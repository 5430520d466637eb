"""Several replicas: ``trainer.strategy multi_worker`` worker processes on loopback give one process's
run; a stopped run on several replicas (workers or logical devices) resumes exactly.

Every run here is real: ``trainrig launch`` (or the test itself) starts ``python -m trainrig``
worker processes with a ``TF_CONFIG`` naming each other on 127.0.0.1, TensorFlow's
MultiWorkerMirroredStrategy all-reduces over gRPC, and the chief alone writes the output directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fixtures_pkg.helpers import completed, subprocess_env
from trainrig.cli.launch import free_ports, local_threads, tf_config

TOLERANCE = 1e-5
# ReplicaModel (every kind of loss and metric, the binary suite, no randomness) on uneven batches:
# 91 training rows in batches of 15 leave a last batch of ONE row, split 1/0 between the two workers.
COMMON = [
    "--model", "fixtures_pkg.replicas:ReplicaModel", "--data", "fixtures_pkg.tinymodels:TinyData",
    "--data.n_train", "91", "--data.n_val", "31", "--trainer.batch_size", "15", "--trainer.epochs", "3",
    "--trainer.learning_rate", "0.02", "--trainer.seed", "7", "--trainer.deterministic", "true",
    "--trainer.print_samples", "0", "--trainer.steps_per_execution", "2", "--trainer.progress", "epoch",
]  # fmt: skip


def env_with_tmp(tmpdir: Path) -> dict[str, str]:
    env = {**subprocess_env(), "TRAINRIG_LOAD_PLUGINS": "", "TMPDIR": str(tmpdir)}
    tmpdir.mkdir(parents=True, exist_ok=True)
    return env


def trainrig(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trainrig", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def ok(process: subprocess.Popen) -> subprocess.CompletedProcess:
    result = completed(process)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def newest_checkpoint(run: Path) -> dict[str, np.ndarray]:
    """The arrays of the run's newest checkpoint (ordered by step, then rewrite number)."""
    def order(path: Path):
        step, _, rewrite = path.name.removeprefix("ckpt-").partition(".")
        return int(step), int(rewrite or 0)

    newest = max((run / "checkpoints").glob("ckpt-*"), key=order)
    with np.load(newest / "arrays.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


def model_weights(run: Path) -> list[np.ndarray]:
    arrays = newest_checkpoint(run)
    return [arrays[f"model/{i}"] for i in range(sum(key.startswith("model/") for key in arrays))]


def history(run: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        for key, value in json.loads(line).items():
            if isinstance(value, (int, float)) and key not in ("epoch", "time", "step", "global_step"):
                out.setdefault(key, []).append(float(value))
    return out


def tree(run: Path) -> list[str]:
    """The files of a run, with TensorBoard event file names (which hold host and pid) reduced to their directory."""
    names = []
    for path in sorted(run.rglob("*")):
        if path.is_file():
            relative = path.relative_to(run)
            names.append(str(relative.parent / "EVENTS") if "tfevents" in path.name else str(relative))
    return names


def assert_same_run(one: Path, two: Path) -> None:
    weights = max(float(np.max(np.abs(a - b))) for a, b in zip(model_weights(one), model_weights(two), strict=True))
    assert weights <= TOLERANCE, weights
    h1, h2 = history(one), history(two)
    assert set(h1) == set(h2) and len(h1["loss"]) == 3
    for name in h1:
        scale = max(1.0, float(np.max(np.abs(h1[name]))))
        assert np.max(np.abs(np.subtract(h1[name], h2[name]))) <= TOLERANCE * scale, (name, h1[name], h2[name])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process, and two workers started by ``trainrig launch`` (with a plugin that reports roles)."""
    root = tmp_path_factory.mktemp("multi_worker")
    env = env_with_tmp(root / "tmp")
    single = trainrig("train", *COMMON, "--trainer.output_dir", str(root / "one"), env=env)
    launched = trainrig(
        "launch", "--workers", "2", "--", "train", *COMMON, "--trainer.output_dir", str(root / "two"),
        "--plugin", "fixtures_pkg.multi_worker", env=env,
    )  # fmt: skip
    return {"root": root, "one": ok(single), "two": ok(launched)}


def test_two_workers_reach_the_weights_history_and_suite_of_one_process(runs):
    root = runs["root"]
    assert_same_run(root / "one", root / "two")
    assert {f"Test {n}" for n in ("ROC AUC", "Accuracy")} <= set(history(root / "two"))
    params = json.loads((root / "two" / "params.json").read_text())
    assert params["trainer"]["strategy"] == "multi_worker"


def test_only_the_chief_writes_and_plugins_can_tell_which_worker_they_run_on(runs):
    root, out = runs["root"], runs["two"].stdout
    threads = local_threads(2)  # launch shares the cores between the two workers
    assert f"[worker 0] ROLE index=0 workers=2 chief=True threads={threads}" in out
    assert f"[worker 1] ROLE index=1 workers=2 chief=False threads={threads}" in out
    # the chief's files are those of a one-process run: one TensorBoard writer per run, one line per
    # epoch, the checkpoints of the same steps, best/ and export/ -- nothing from a second writer
    assert tree(root / "two") == tree(root / "one")
    assert tree(root / "two").count("tensorboard/train/EVENTS") == 1
    assert len((root / "two" / "metrics.jsonl").read_text().splitlines()) == 3
    assert (root / "two" / "export" / "default.keras").is_file()
    # the non-chief wrote into a scratch directory, removed at its end; it printed no progress
    assert not list((root / "tmp").glob("trainrig-worker*"))
    assert "[worker 1] Epoch" not in out and "[worker 0] Epoch 3/3" in out
    assert f"[worker 1] run directory: {root / 'two'}" in out


def test_a_stop_request_to_the_chief_stops_every_worker_at_the_same_step_and_resume_is_exact(runs):
    """The chief alone sees the STOP file (made by a plugin at global step 5, inside epoch 1); the
    workers share it after the step, write one checkpoint and all exit with the stop code."""
    root = runs["root"]
    env = env_with_tmp(root / "tmp")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "checkpoint"), env["PYTHONPATH"]])
    out = root / "stopped"
    stopped = completed(trainrig(
        "launch", "--workers", "2", "--", "train", *COMMON, "--trainer.output_dir", str(out), "--plugin", "stop_file_plugin",
        "--trainer.steps_per_execution", "1", env=env,  # (the plugin looks at every step; results do not change)
    ))  # fmt: skip
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    for worker, reason in ((0, "STOP file"), (1, "a stop request to another worker")):
        assert f"[worker {worker}] trainrig train: stopped by {reason} at epoch 1, step 5 (global step 5)" in stopped.stderr
    assert [p.name for p in (out / "checkpoints").glob("ckpt-*")] == ["ckpt-5"]
    resumed = ok(trainrig("launch", "--workers", "2", "--", "resume", str(out), env=env))
    assert "[worker 0] resuming from ckpt-5: epoch 1, step 5" in resumed.stdout
    assert all(np.array_equal(a, b) for a, b in zip(model_weights(root / "two"), model_weights(out), strict=True))
    assert history(root / "two") == history(out)  # the running averages of epoch 1 too: every replica's part


def test_mirrored_replicas_resume_mid_epoch_exactly(tmp_path):
    """Two logical CPU devices in one process: a STOP inside epoch 1, then resume, gives the history of
    a run never stopped bit for bit (each replica's part of the running sums is checkpointed)."""
    env = env_with_tmp(tmp_path / "tmp")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "checkpoint"), env["PYTHONPATH"]])
    mirrored = [*COMMON, "--trainer.strategy", "mirrored", "--trainer.devices", "2", "--trainer.steps_per_execution", "1"]
    whole = trainrig("train", *mirrored, "--trainer.output_dir", str(tmp_path / "whole"), env=env)
    out = tmp_path / "stopped"
    stopped = completed(trainrig("train", *mirrored, "--trainer.output_dir", str(out), "--plugin", "stop_file_plugin", env=env))
    assert stopped.returncode == 3 and "at epoch 1, step 5" in stopped.stderr, stopped.stderr[-3000:]
    ok(trainrig("resume", str(out), env=env))
    ok(whole)
    assert all(np.array_equal(a, b) for a, b in zip(model_weights(tmp_path / "whole"), model_weights(out), strict=True))
    assert history(tmp_path / "whole") == history(out)
    with np.load(next((out / "checkpoints").glob("ckpt-*")) / "arrays.npz") as arrays:
        assert arrays["metrics/0@replicas"].shape[0] == 2


def test_a_multi_worker_run_opens_in_one_process(runs):
    """lav reads a run trained on two workers without a cluster (the strategy becomes the default one)."""
    result = ok(trainrig("lav", str(runs["root"] / "two"), env=env_with_tmp(runs["root"] / "tmp")))
    assert "Test ROC AUC" in result.stdout


# --- a worker dies ---------------------------------------------------------------------------------

SLOW = [
    *COMMON[:4], "--data", "fixtures_pkg.multi_worker:SlowData", "--data.delay", "0.05",
    *COMMON[6:], "--trainer.checkpoint_every_steps", "2", "--trainer.strategy", "multi_worker",
]  # fmt: skip
SLOW = [a if a != "3" or SLOW[i - 1] != "--trainer.epochs" else "5" for i, a in enumerate(SLOW)]


def start_workers(out: Path, env: dict) -> list[subprocess.Popen]:
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    return [
        trainrig("train", *SLOW, "--trainer.output_dir", str(out), env={**env, "TF_CONFIG": tf_config(addresses, i)})
        for i in range(2)
    ]


def wait_for_checkpoints(out: Path, count: int, processes, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(list((out / "checkpoints").glob("ckpt-*"))) < count:
        assert all(p.poll() is None for p in processes), [completed(p).stderr[-3000:] for p in processes]
        assert time.monotonic() < deadline, "no checkpoints"
        time.sleep(0.05)


def test_a_killed_worker_stops_the_other_and_the_run_resumes_exactly(tmp_path):
    env = env_with_tmp(tmp_path / "tmp")
    whole = trainrig("launch", "--workers", "2", "--", "train", *SLOW, "--trainer.output_dir", str(tmp_path / "whole"), env=env)
    out = tmp_path / "killed"
    chief, other = start_workers(out, env)
    wait_for_checkpoints(out, 2, [chief, other])
    other.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    result = completed(chief, timeout=180)
    waited = time.monotonic() - killed_at
    completed(other)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.startswith("trainrig train: error:")]
    assert len(message) == 1, result.stderr[-4000:]
    assert "worker 1 of this multi-worker run stopped or cannot be reached" in message[0]
    assert f"trainrig launch --workers 2 -- resume {out}" in message[0]
    assert not newest_checkpoint_is_finished(out)
    print(f"the chief stopped {waited:.1f} s after worker 1 was killed")

    resumed = ok(trainrig("launch", "--workers", "2", "--", "resume", str(out), env=env))
    assert "[worker 0] resuming from ckpt-" in resumed.stdout
    ok(whole)
    one, two = model_weights(tmp_path / "whole"), model_weights(out)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))  # bit for bit
    # the running training averages of the epoch resumed in too: each replica's part was restored
    assert history(tmp_path / "whole") == history(out)


def newest_checkpoint_is_finished(run: Path) -> bool:
    states = sorted((run / "checkpoints").glob("ckpt-*/state.json"))
    return any(json.loads(s.read_text()).get("position", {}).get("finished") for s in states)


def test_launch_stops_every_worker_when_one_dies(tmp_path):
    env = env_with_tmp(tmp_path / "tmp")
    out = tmp_path / "run"
    launch = trainrig("launch", "--workers", "2", "--grace", "3", "--", "train", *SLOW, "--trainer.output_dir", str(out), env=env)
    wait_for_checkpoints(out, 1, [launch])
    workers = [int(pid) for pid in Path(f"/proc/{launch.pid}/task/{launch.pid}/children").read_text().split()]
    assert len(workers) == 2
    os.kill(workers[1], signal.SIGKILL)
    result = completed(launch, timeout=120)
    assert result.returncode == 128 + signal.SIGKILL
    assert "trainrig launch: worker 1 was killed by SIGKILL; stopping the other workers" in result.stderr
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


LATE_START = """
import os, sys
import tensorflow as tf
import trainrig
from fixtures_pkg.helpers import make_params
from fixtures_pkg.tinymodels import PlainModel, TinyData

tf.constant(1.0) + 1.0  # TensorFlow's runtime starts before the strategy
try:
    trainrig.Trainer(make_params(sys.argv[1], strategy="multi_worker"), PlainModel(), TinyData()).train()
except trainrig.TrainrigError as e:
    print("ERROR", e)
"""


def test_multi_worker_after_tensorflow_started_is_a_clear_error_and_writes_nothing(tmp_path):
    from fixtures_pkg.helpers import run_python

    out = tmp_path / "run"
    addresses = [f"127.0.0.1:{free_ports(1)[0]}"]
    os.environ["TF_CONFIG"] = tf_config(addresses, 0)  # run_python copies this process's environment
    try:
        printed = run_python(LATE_START, str(out))
    finally:
        del os.environ["TF_CONFIG"]
    error = printed.split("ERROR ", 1)[1].strip()
    assert "\n" not in error
    assert "must set TensorFlow's collectives up before TensorFlow runs anything" in error and "fresh process" in error
    assert not out.exists()


def test_ctrl_c_to_launch_stops_every_worker_after_one_checkpoint(tmp_path):
    out = tmp_path / "run"
    launch = trainrig("launch", "--workers", "2", "--", "train", *SLOW, "--trainer.output_dir", str(out), env=env_with_tmp(tmp_path / "tmp"))
    wait_for_checkpoints(out, 1, [launch])
    launch.send_signal(signal.SIGINT)
    result = completed(launch, timeout=120)
    assert result.returncode == 3, result.stderr[-3000:]
    stops = sorted(line.split("] ", 1) for line in result.stderr.splitlines() if "trainrig train: stopped by SIGINT" in line)
    assert [worker for worker, _ in stops] == ["[worker 0", "[worker 1"]
    assert stops[0][1] == stops[1][1]  # at the same step
    assert "stopping the other workers" not in result.stderr
    assert not newest_checkpoint_is_finished(out)
