"""``trainrig sweep`` end to end: real runs of a tiny model in their own processes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures_pkg.helpers import completed, subprocess_env
from fixtures_pkg.tensorboard_server import get, serve

TINY = [
    "--model", "fixtures_pkg.tinymodels:PlainModel", "--data", "fixtures_pkg.tinymodels:TinyData",
    "--trainer.epochs", "2", "--trainer.batch_size", "16", "--trainer.export", "false", "--trainer.seed", "3",
]  # fmt: skip


def sweep(*args: str, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    return completed(start(*args, **popen), timeout)


def start(*args: str, **popen) -> subprocess.Popen:
    env = {**subprocess_env(), "TRAINRIG_LOAD_PLUGINS": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "trainrig", "sweep", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def test_a_grid_runs_every_combination_records_a_failing_one_and_sorts_by_the_best_value(tmp_path):
    out = tmp_path / "grid"
    # cosine with reduce_lr cannot work together: that configuration fails when its run sets up
    grid = {"trainer.lr_schedule": ["constant", "cosine"], "trainer.reduce_lr.patience": [0, 1]}
    result = sweep("--out", str(out), *TINY, "--grid", json.dumps(grid), "--parallel", "2")
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    # a run that fails while it sets up leaves no directory (nothing was written), only its log and status
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["000", "001", "002"]
    assert "trainrig train: error:" in (out / "logs" / "003.log").read_text()
    table = {row["id"]: row for row in rows(out)}
    assert [table[i]["status"] for i in ("000", "001", "002", "003")] == ["done", "done", "done", "failed"]
    assert "trainer.reduce_lr needs trainer.lr_schedule constant" in table["003"]["error"]
    assert (table["002"]["trainer.lr_schedule"], table["002"]["trainer.reduce_lr.patience"]) == ("cosine", "0")
    for run_id in ("000", "001", "002"):
        row = table[run_id]
        assert row["best_metric"] == "val_loss" and float(row["best_value"]) > 0 and row["epochs"] == "2"
        assert float(row["final:val_loss"]) >= float(row["best_value"]) and float(row["seconds"]) > 0
    # every run is a normal run: params.json with its configuration
    params = json.loads((out / "runs" / "002" / "params.json").read_text())
    assert params["trainer"]["lr_schedule"] == "cosine" and params["trainer"]["output_dir"] == str(out / "runs" / "002")
    # the console table: best value first, the failed run last with its error
    lines = result.stdout.split("run  trainer.lr_schedule", 1)[1].splitlines()[1:5]
    values = [float(line.split()[3]) for line in lines[:3]]
    assert values == sorted(values) and lines[3].startswith("003") and "failed: trainer.reduce_lr needs" in lines[3]
    assert "summary: " in result.stdout and "3 done, 1 failed" in result.stdout
    again = sweep("--summary", str(out))
    assert again.returncode == 0 and again.stdout.splitlines()[1:4] == [line.rstrip() for line in lines[:3]]
    tensorboard_over_the_sweep_compares_its_runs(out, {row["id"]: float(row["best_value"]) for row in table.values() if row["best_value"]})


def tensorboard_over_the_sweep_compares_its_runs(out: Path, best: dict[str, float]) -> None:
    """A real TensorBoard over SWEEP_DIR: one HParams session per run, named by its id, the varying
    settings first (a plumbing-free, off section's key too, since the sweep varies it), the validation
    metrics declared, and each session's best/loss equal to the run's best value in summary.csv."""
    runs = [f"runs/{run_id}/tensorboard/validation" for run_id in best]
    with serve(out, runs=runs) as base:
        experiment = get(f"{base}/data/plugin/hparams/experiment", data=json.dumps({"experimentName": ""}).encode())
        first = {h["name"] for h in experiment["hparamInfos"] if h.get("differs")}
        assert {"trainer.lr_schedule", "trainer.reduce_lr.patience", "trainer.learning_rate"} <= first, first
        metrics = {(m["name"]["group"], m["name"]["tag"]) for m in experiment["metricInfos"]}
        assert {("validation", "losses/loss"), ("validation", "metrics/mae"), ("validation", "best/loss")} <= metrics
        request = {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 100,
        }
        groups = get(f"{base}/data/plugin/hparams/session_groups", data=json.dumps(request).encode())["sessionGroups"]
    assert sorted(group["name"] for group in groups) == sorted(best)
    for group in groups:
        assert group["sessions"][0]["name"] == f"runs/{group['name']}/tensorboard"
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"] if m["name"]["group"] == "validation"}
        assert values["best/loss"] == pytest.approx(best[group["name"]], rel=1e-6)
        assert group["hparams"]["trainer.reduce_lr.patience"] in (0, 1)


def test_a_random_sweep_draws_seeded_configurations(tmp_path):
    out = tmp_path / "random"
    space = {"trainer.learning_rate": {"log_uniform": [0.001, 0.1]}, "model.hidden": {"int": [2, 8]}}
    result = sweep("--out", str(out), *TINY, "--random", "3", "--space", json.dumps(space), "--seed", "4", "--parallel", "2")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    found = rows(out)
    assert [row["status"] for row in found] == ["done"] * 3
    plan = json.loads((out / "sweep.json").read_text())
    assert plan["spec"] == {"random": 3, "space": space, "seed": 4}
    for row, config in zip(found, plan["configs"]):
        assert float(row["trainer.learning_rate"]) == config["trainer.learning_rate"]
        assert 0.001 <= config["trainer.learning_rate"] < 0.1 and 2 <= config["model.hidden"] <= 8
        params = json.loads((out / "runs" / row["id"] / "params.json").read_text())
        assert params["model"]["params"]["hidden"] == config["model.hidden"]


@pytest.mark.parametrize(
    "grid, words",
    [
        ({"model.hiden": [4, 8]}, ["configuration 000 (model.hiden=4)", "unknown option --model.hiden; did you mean --model.hidden?"]),
        ({"trainer.batch_size": [16, 0]}, ["configuration 001 (trainer.batch_size=0)", "trainer.batch_size"]),
        ({"trainer.output_dir": ["a", "b"]}, ["--trainer.output_dir is set by the sweep"]),
    ],
)
def test_a_bad_configuration_is_refused_before_any_run_starts(tmp_path, grid, words, capsys, monkeypatch):
    from trainrig.cli.main import main

    monkeypatch.setenv("TRAINRIG_LOAD_PLUGINS", "")
    out = tmp_path / "bad"
    assert main(["sweep", "--out", str(out), *TINY, "--grid", json.dumps(grid)]) == 2  # in this process: no run starts
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("trainrig sweep: error: ")
    for word in words:
        assert word in error, error
    assert not out.exists()


SLOW = [*TINY[:2], "--data", "fixtures_pkg.multi_worker:SlowData", "--data.delay", "0.1", *TINY[4:]]
SLOW = [a if not (a == "2" and SLOW[i - 1] == "--trainer.epochs") else "4" for i, a in enumerate(SLOW)]


def test_an_interrupted_sweep_skips_finished_runs_and_resumes_the_interrupted_one(tmp_path):
    out = tmp_path / "resumed"
    args = ["--out", str(out), *SLOW, "--trainer.checkpoint_every_steps", "1", "--grid", '{"model.hidden": [4, 8, 6]}']
    first = start(*args, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (json_status(out, "000") == "done" and list((out / "runs" / "001" / "checkpoints").glob("ckpt-*"))):
        assert first.poll() is None and time.monotonic() < deadline, completed(first).stderr[-3000:]
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the sweep and its running run, at once
    completed(first)
    finished = {p: p.stat().st_mtime_ns for p in (out / "runs" / "000").rglob("*") if p.is_file()}
    assert not (out / "runs" / "002").exists()

    second = sweep(*args)
    assert second.returncode == 0, second.stdout + second.stderr[-3000:]
    assert "1 of 3 runs already done; 2 to run" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "runs" / "000").rglob("*") if p.is_file()} == finished
    log = (out / "logs" / "001.log").read_text()
    assert "$ trainrig resume" in log and "resuming from ckpt-" in log
    assert [row["status"] for row in rows(out)] == ["done"] * 3
    assert all(row["epochs"] == "4" for row in rows(out))


def json_status(out: Path, run_id: str) -> str:
    try:
        return json.loads((out / "logs" / f"{run_id}.json").read_text())["status"]
    except (FileNotFoundError, ValueError):
        return "pending"


def test_halving_keeps_the_best_half_at_each_rung_and_its_winner_is_a_run_without_pauses(tmp_path):
    out = tmp_path / "halving"
    options = [*TINY, "--trainer.epochs", "4", "--grid", json.dumps({"trainer.learning_rate": [0.001, 0.003, 0.01, 0.03]})]
    result = sweep("--out", str(out), *options, "--halving", "2", "--parallel", "2")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    history = {i: [json.loads(line) for line in (out / "runs" / i / "metrics.jsonl").read_text().splitlines()] for i in ("000", "001", "002", "003")}

    def best_at(run_id: str, epoch: int) -> float:
        return min(record["val_loss"] for record in history[run_id][:epoch])

    # rungs 1, 2, 4: all four reach epoch 1, the best two epoch 2, the best of those the end
    second = sorted(history, key=lambda i: best_at(i, 1))[:2]
    winner = min(second, key=lambda i: best_at(i, 2))
    assert {i: len(h) for i, h in history.items()} == {i: 4 if i == winner else 2 if i in second else 1 for i in history}
    table = {row["id"]: row for row in rows(out)}
    assert {i: row["status"] for i, row in table.items()} == {i: "done" if i == winner else "halted" for i in history}
    assert "rung epoch 1: 2 of 4 runs go on" in result.stdout and "1 done, 3 halted" in result.stdout
    # paused and resumed twice, the winner is the run trained without pauses, to the bit
    straight = tmp_path / "straight"
    rate = table[winner]["trainer.learning_rate"]
    env = {**subprocess_env(), "TRAINRIG_LOAD_PLUGINS": ""}
    command = [sys.executable, "-m", "trainrig", "train", *TINY, "--trainer.epochs", "4", "--trainer.learning_rate", rate]
    done = subprocess.run([*command, "--trainer.output_dir", str(straight)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (straight / "metrics.jsonl").read_text() == (out / "runs" / winner / "metrics.jsonl").read_text()
    # the same command again replays the decisions from the status files and trains nothing
    logs = {i: (out / "logs" / f"{i}.log").read_text() for i in history}
    again = sweep("--out", str(out), *options, "--halving", "2")
    assert again.returncode == 0 and "4 of 4 runs already done" in again.stdout, again.stdout + again.stderr[-2000:]
    assert {i: (out / "logs" / f"{i}.log").read_text() for i in history} == logs


@pytest.mark.parametrize(
    "args, words",
    [
        (["--halving", "1"], "--halving must be an integer >= 2"),
        (["--halving", "2", "--min-epochs", "5"], "--min-epochs must be between 1 and trainer.epochs (2)"),
        (["--min-epochs", "2"], "--min-epochs goes with --halving ETA"),
    ],
)
def test_bad_halving_options_are_one_line_before_any_run(tmp_path, args, words, capsys, monkeypatch):
    from trainrig.cli.main import main

    monkeypatch.setenv("TRAINRIG_LOAD_PLUGINS", "")
    out = tmp_path / "bad"
    assert main(["sweep", "--out", str(out), *TINY, "--grid", '{"trainer.learning_rate": [0.01, 0.02]}', *args]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and words in error, error
    assert not out.exists()
