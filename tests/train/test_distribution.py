"""Reading the cluster of ``trainer.strategy multi_worker`` and the launcher's command line (no TensorFlow runs)."""

from __future__ import annotations

import json
import socket

import pytest

import trainrig
from trainrig.cli.launch import free_ports, local_threads, tf_config, worker_command
from trainrig.cli.main import main
from trainrig.train.distribution import Cluster, cluster_of


def config(cluster: dict, task_type: str, index: int) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_one_process_is_its_own_chief():
    assert cluster_of("default", {}) == cluster_of("mirrored", config({"worker": ["a:1", "b:2"]}, "worker", 1)) == Cluster()
    assert Cluster().is_chief and Cluster().workers == 1


@pytest.mark.parametrize(
    "cluster, task, index, expected",
    [
        ({"worker": ["a:1", "b:2", "c:3"]}, "worker", 0, Cluster(0, 3, "TF_CONFIG")),
        ({"worker": ["a:1", "b:2", "c:3"]}, "worker", 2, Cluster(2, 3, "TF_CONFIG")),
        ({"chief": ["c:0"], "worker": ["a:1", "b:2"]}, "chief", 0, Cluster(0, 3, "TF_CONFIG")),
        ({"chief": ["c:0"], "worker": ["a:1", "b:2"]}, "worker", 0, Cluster(1, 3, "TF_CONFIG")),
    ],
)
def test_tf_config_names_the_chief_and_the_worker_index(cluster, task, index, expected):
    found = cluster_of("multi_worker", config(cluster, task, index))
    assert found == expected
    assert found.is_chief == (expected.index == 0)


def test_slurm_gives_the_cluster_when_tf_config_is_absent():
    assert cluster_of("multi_worker", {"SLURM_PROCID": "3", "SLURM_NTASKS": "4"}) == Cluster(3, 4, "Slurm")


@pytest.mark.parametrize(
    "environ, words",
    [
        ({}, ["needs a cluster", "TF_CONFIG", "trainrig launch --workers N"]),
        ({"TF_CONFIG": "{not json"}, ["TF_CONFIG must be JSON like", '"cluster"']),
        ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}})}, ["TF_CONFIG must be JSON", "'task'"]),
        (config({"worker": ["a:1"], "ps": ["b:2"]}, "worker", 0), ["task type(s) ['ps']", "'chief' and 'worker'"]),
        (config({"worker": ["a:1"]}, "evaluator", 0), ["['evaluator']"]),
        (config({"worker": ["a:1", "b:2"]}, "worker", 2), ["task worker 2 is not in its cluster", "2 worker"]),
    ],
)
def test_a_missing_or_broken_cluster_is_one_line_that_says_what_is_valid(environ, words):
    with pytest.raises(trainrig.TrainrigError) as error:
        cluster_of("multi_worker", environ)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_scratch_dirs_are_per_worker_and_under_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    one, two = Cluster(1, 2).scratch_dir(), Cluster(1, 2).scratch_dir()
    assert one != two and one.parent == two.parent == tmp_path
    assert one.name.startswith("trainrig-worker1-") and not one.exists()


# --- trainrig launch ---------------------------------------------------------------------------------


def test_launch_generates_a_cluster_of_free_loopback_ports():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:  # free: each can be bound now
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    addresses = [f"127.0.0.1:{p}" for p in ports]
    assert cluster_of("multi_worker", {"TF_CONFIG": tf_config(addresses, 2)}) == Cluster(2, 3, "TF_CONFIG")


def test_launch_runs_train_with_the_multi_worker_strategy_unless_told_otherwise():
    assert worker_command(["train", "--model", "m:M"])[-2:] == ["--trainer.strategy", "multi_worker"]
    assert worker_command(["train", "--trainer.strategy", "mirrored"])[-2:] == ["--trainer.strategy", "mirrored"]
    assert worker_command(["train", "--trainer.strategy=mirrored"]).count("--trainer.strategy") == 0
    assert worker_command(["resume", "OUT"])[-3:] == ["trainrig", "resume", "OUT"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["launch", "--workers", "2"], ["give the command the workers run after --"]),
        (["launch", "--workers", "0", "--", "train"], ["--workers must be at least 1, got 0"]),
        (["launch", "--workers", "2", "--", "fly"], ["must be a trainrig command", "train, resume", "'fly'"]),
        (["launch", "--workers", "2", "--", "launch"], ["must be a trainrig command", "'launch'"]),
    ],
)
def test_launch_refuses_a_bad_command_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("trainrig launch: error:")
    for word in words:
        assert word in err, err


def test_local_workers_share_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert [local_threads(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
