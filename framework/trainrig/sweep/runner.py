"""Run a sweep's configurations as ``trainrig train`` processes, K at a time (``--parallel K``).

Each run is a normal run in ``SWEEP_DIR/runs/<id>/``, its console output in ``SWEEP_DIR/logs/<id>.log``
and its status in ``SWEEP_DIR/logs/<id>.json`` (``done``, ``failed`` with its one-line error,
``stopped``; with halving ``paused`` at a rung or ``halted``). Running the sweep again skips the ``done`` runs, resumes every run that has a
``params.json`` (``trainrig resume``: exactly where its newest checkpoint left it) and starts the
others; a failed run is tried again. A failing run never stops the others. SIGINT or SIGTERM to
the sweep is passed to the running runs, which stop after a checkpoint; no new run starts.

With K > 1 the runs share the machine's cores (``TF_NUM_INTRAOP_THREADS`` = cores / K unless set).
With ``--halving`` the runs race through rungs of epochs and only the best go on
(:mod:`trainrig.sweep.halving`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO

from trainrig.sweep.halving import rungs, survivors
from trainrig.sweep.plan import Plan, describe, option_args
from trainrig.sweep.space import SWEEP_VARYING, varying_keys
from trainrig.sweep.summary import best_so_far, read_status, results, run_result, write_status

POLL_SECONDS = 0.2
_ERROR = re.compile(r"^trainrig (?:train|resume): error: (.*)$")


@dataclass
class Running:
    run_id: str
    process: subprocess.Popen
    log: IO[str]
    started: float
    stop_after: int | None = None  # the rung it trains to (None: no halving)


def run_command(plan: Plan, run_id: str, stop_after: int | None = None) -> list[str]:
    """``trainrig resume RUN`` when the run has begun, else ``trainrig train`` with its configuration;
    ``stop_after``: pause after that epoch (0: train to the end), for halving."""
    run = plan.run_dir(run_id)
    if (run / "params.json").is_file():
        pause = [] if stop_after is None else ["--stop-after-epoch", str(stop_after)]
        return [sys.executable, "-m", "trainrig", "resume", str(run), *pause]
    pause = [] if not stop_after else ["--trainer.stop_after_epoch", str(stop_after)]
    return [
        sys.executable, "-m", "trainrig", "train", *plan.command, *option_args(plan.config(run_id)),
        "--trainer.output_dir", str(run), "--trainer.progress", "epoch", *pause,
    ]  # fmt: skip


def error_line(log_text: str) -> str:
    """The run's one-line error (``trainrig train: error: ...``), else its last line."""
    lines = [line for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        match = _ERROR.match(line)
        if match:
            return match.group(1)
    return lines[-1] if lines else "no output"


class SweepRunner:
    def __init__(self, plan: Plan, parallel: int = 1, out: IO[str] = sys.stdout):
        self.plan = plan
        self.parallel = max(1, parallel)
        self.out = out
        self.running: list[Running] = []
        self.stopping = False

    def run(self) -> dict[str, int]:
        """Run every run not done yet; ``{status: count}`` over the whole sweep at the end."""
        from trainrig.cli.launch import INTRA_OP_THREADS, local_threads

        env = {**os.environ, SWEEP_VARYING: json.dumps(varying_keys(self.plan.configs))}
        if self.parallel > 1:
            env.setdefault(INTRA_OP_THREADS, str(local_threads(self.parallel)))
        finished = ("done", "halted")
        pending = [run_id for run_id in self.plan.ids if read_status(self.plan, run_id)["status"] not in finished]
        done_before = len(self.plan.ids) - len(pending)
        if done_before:
            self._say(f"{done_before} of {len(self.plan.ids)} runs already done; {len(pending)} to run")
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if "halving" in self.plan.spec:
                self._race(env)
            else:
                self._run_all(pending, env)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        counts: dict[str, int] = {}
        for run_id in self.plan.ids:
            status = read_status(self.plan, run_id)["status"]
            counts[status] = counts.get(status, 0) + 1
        return counts

    def _run_all(self, run_ids: list[str], env: dict[str, str], stop_after: int | None = None) -> None:
        """Run ``run_ids``, K at a time, until every one has ended (or the sweep is stopped)."""
        pending = list(run_ids)
        while (pending and not self.stopping) or self.running:
            while pending and not self.stopping and len(self.running) < self.parallel:
                self._start(pending.pop(0), env, stop_after)
            self._reap()
            time.sleep(POLL_SECONDS)

    def _race(self, env: dict[str, str]) -> None:
        """Successive halving: every run still in the race trains to the next rung; the best go on."""
        halving = self.plan.spec["halving"]
        points = rungs(halving["epochs"], halving["eta"], halving["min_epochs"])
        alive = list(self.plan.ids)
        for rung in points:
            final = rung == points[-1]
            self._run_all([i for i in alive if self._value_at(i, rung) is None], env, 0 if final else rung)
            if self.stopping or final:
                return
            values = {i: v for i in alive if (v := self._value_at(i, rung)) is not None}
            greater = any(run_result(self.plan, i).greater_is_better for i in values)
            alive = survivors(values, halving["eta"], greater)
            for run_id in sorted(set(values) - set(alive)):
                self._halt(run_id, rung, values[run_id])
            self._say(f"rung epoch {rung}: {len(alive)} of {len(values)} runs go on ({', '.join(alive)})")

    def _value_at(self, run_id: str, rung: int) -> float | None:
        """The run's best-model value when it reached epoch ``rung`` (``None``: not reached yet)."""
        status = read_status(self.plan, run_id)
        if status["status"] == "done":
            return run_result(self.plan, run_id).best
        return status.get("rungs", {}).get(str(rung))

    def _halt(self, run_id: str, rung: int, value: float) -> None:
        status = read_status(self.plan, run_id)
        if status["status"] != "halted":
            write_status(self.plan, run_id, {**status, "status": "halted", "error": ""})
            self._say(f"run {run_id} ({describe(self.plan.config(run_id))}) halted at epoch {rung}: {value:.6g}")

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True
        for running in self.running:
            if running.process.poll() is None:
                running.process.send_signal(signum)

    def _start(self, run_id: str, env: dict[str, str], stop_after: int | None = None) -> None:
        logs = self.plan.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = (logs / f"{run_id}.log").open("a")
        command = run_command(self.plan, run_id, stop_after)
        log.write(f"$ trainrig {' '.join(command[3:])}\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
        self.running.append(Running(run_id, process, log, time.monotonic(), stop_after))

    def _reap(self) -> None:
        for running in [r for r in self.running if r.process.poll() is not None]:
            self.running.remove(running)
            running.log.close()
            self._record(running)

    def _record(self, running: Running) -> None:
        from trainrig.train.stop import EXIT_STOPPED

        plan, run_id, code = self.plan, running.run_id, running.process.returncode
        before = read_status(plan, run_id)
        seconds = float(before.get("seconds", 0.0)) + time.monotonic() - running.started
        status = "done" if code == 0 else "stopped" if code in (EXIT_STOPPED, -signal.SIGINT, 130) else "failed"
        reached = run_result(plan, run_id)
        rung_values = dict(before.get("rungs", {}))
        if status == "stopped" and running.stop_after and not self.stopping and reached.epochs == running.stop_after:
            status = "paused"  # at its rung, as asked
        if status in ("done", "paused"):
            rung_values[str(reached.epochs)] = reached.best
        error = "" if status in ("done", "paused") else error_line((plan.out / "logs" / f"{run_id}.log").read_text())
        write_status(plan, run_id, {"status": status, "seconds": seconds, "error": error, "rungs": rung_values})
        reached.status, reached.seconds, reached.error = status, seconds, error
        self._report(run_id, status, error, reached)

    def _report(self, run_id: str, status: str, error: str, result) -> None:
        finished = sum(read_status(self.plan, i)["status"] in ("done", "failed", "halted") for i in self.plan.ids)
        head = f"[{finished}/{len(self.plan.ids)}] run {run_id} ({describe(self.plan.config(run_id))}) {status}"
        if status not in ("done", "paused"):
            self._say(f"{head}: {error}")
            return
        if status == "paused":
            self._say(f"{head} at epoch {result.epochs}: best {result.monitor} {result.best:.6g}")
            return
        best = best_so_far([row for row in results(self.plan) if row.status == "done"])
        value = f": best {result.monitor} {result.best:.6g}" if result.monitor else ""
        leader = f"; best so far {best.best:.6g} (run {best.id})" if best is not None else ""
        self._say(head + value + f" in {result.seconds:.0f} s" + leader)

    def _say(self, message: str) -> None:
        print(message, file=self.out, flush=True)
