"""``trainrig launch --workers N -- COMMAND ...``: N local worker processes of one multi-worker run.

For trying ``trainer.strategy multi_worker`` on one machine (and for tests): every worker runs
``trainrig COMMAND ...`` with a ``TF_CONFIG`` naming all of them on 127.0.0.1 at free ports and its
own index (worker 0 is the chief). Each line a worker prints comes out prefixed with ``[worker I]``
(its stdout on stdout, its stderr on stderr). ``train`` gets ``--trainer.strategy multi_worker``
unless the command names a strategy itself. The machine's cores are shared among the workers
(``TF_NUM_INTRAOP_THREADS``, unless set already; see :func:`local_threads`).

When one worker fails, the others are stopped (SIGTERM, then SIGKILL after ``--grace`` seconds: a
worker waiting in a collective for a dead peer cannot stop gracefully) and ``launch`` exits with the
failed worker's code (128 + N for a worker killed by signal N). SIGINT or SIGTERM to ``launch`` is
passed to every worker, which then stop together after a checkpoint (``trainrig launch --workers N
-- resume OUTPUT`` continues). No TensorFlow is imported here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO

from trainrig.cli.options import Parser
from trainrig.errors import TrainrigError
from trainrig.train.stop import EXIT_STOPPED  # (imports no TensorFlow)

POLL_SECONDS = 0.1
INTRA_OP_THREADS = "TF_NUM_INTRAOP_THREADS"  # read by TensorFlow when it starts


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free on ``host`` now (the OS picks them; all held open until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(addresses: list[str], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` of a cluster of ``addresses`` (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def worker_command(command: list[str]) -> list[str]:
    """``python -m trainrig COMMAND ...``, with ``--trainer.strategy multi_worker`` added to a ``train``
    that names no strategy."""
    if command[0] == "train" and not any(a == "--trainer.strategy" or a.startswith("--trainer.strategy=") for a in command):
        command = [*command, "--trainer.strategy", "multi_worker"]
    return [sys.executable, "-m", "trainrig", *command]


def local_threads(workers: int) -> int:
    """TensorFlow's intra-op threads per local worker: this machine's cores shared among the workers.

    Each TensorFlow process otherwise runs as many threads per op as there are cores, so N workers on
    one machine oversubscribe it N-fold (measured with 2 workers on 2 cores: a 6-epoch digits run of 28 s
    takes 24 s with one thread each, the validation steps gaining most). The inter-op pool is left
    alone: the collectives use it (one inter-op thread each made the run slower).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def _pump(stream: IO[str], prefix: str, out: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            out.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
            out.flush()
    stream.close()


class Workers:
    """The worker processes of one launch, their prefixed output, and stopping them together."""

    def __init__(self, command: list[str], count: int, grace: float):
        addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
        self.grace = grace
        self.lock = threading.Lock()
        self.processes: list[subprocess.Popen] = []
        self.pumps: list[threading.Thread] = []
        threads = local_threads(count)
        for index in range(count):
            env = {**os.environ, "TF_CONFIG": tf_config(addresses, index), "PYTHONUNBUFFERED": "1"}
            env.setdefault(INTRA_OP_THREADS, str(threads))
            process = subprocess.Popen(
                worker_command(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
            )
            self.processes.append(process)
            for stream, out in ((process.stdout, sys.stdout), (process.stderr, sys.stderr)):
                pump = threading.Thread(target=_pump, args=(stream, f"[worker {index}] ", out, self.lock), daemon=True)
                pump.start()
                self.pumps.append(pump)

    def say(self, message: str) -> None:
        with self.lock:
            print(f"trainrig launch: {message}", file=sys.stderr, flush=True)

    def signal_all(self, signum: int) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signum)

    def wait(self) -> int:
        """Wait for every worker; on the first failure stop the rest. The launch's exit code: the failed
        worker's, else the stop code if the workers stopped on request (they stop together), else 0."""
        failed: tuple[int, int] | None = None
        while True:
            codes = [p.poll() for p in self.processes]
            if failed is None:
                failed = next(((i, c) for i, c in enumerate(codes) if c not in (None, 0, EXIT_STOPPED)), None)
                if failed is not None and any(c is None for c in codes):
                    self.say(f"worker {failed[0]} {describe(failed[1])}; stopping the other workers")
                    self._stop_rest()
                    continue
            if all(c is not None for c in codes):
                break
            time.sleep(POLL_SECONDS)
        for pump in self.pumps:
            pump.join(timeout=5)
        if failed is None:
            return EXIT_STOPPED if EXIT_STOPPED in codes else 0
        index, code = failed
        self.say(f"worker {index} {describe(code)}")
        return code if code > 0 else 128 - code

    def _stop_rest(self) -> None:
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(p.poll() is None for p in self.processes):
            time.sleep(POLL_SECONDS)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait()


def describe(code: int) -> str:
    """``exited with code 2`` or ``was killed by SIGKILL``."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def run(argv: list[str]) -> int:
    own, command = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = Parser(
        prog="trainrig launch",
        usage="trainrig launch --workers N [--grace SECONDS] -- COMMAND [OPTIONS ...]",
        description="Run a trainrig command as N local workers of one multi-worker run (trainer.strategy "
        "multi_worker), e.g. trainrig launch --workers 2 -- train --model ... --data ... . Each worker's output "
        "lines are prefixed with [worker I]; if one fails, the others are stopped.",
        epilog="Continue a stopped or failed launch with: trainrig launch --workers N -- resume OUTPUT",
    )
    parser.add_argument("--workers", type=int, required=True, metavar="N", help="number of worker processes (>= 1)")
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="after one worker fails, how long the others get to end on SIGTERM before they are killed (default 10)",
    )
    args = parser.parse_args(own)
    if args.workers < 1:
        raise TrainrigError(f"--workers must be at least 1, got {args.workers}")
    if not command:
        raise TrainrigError("give the command the workers run after --, e.g. trainrig launch --workers 2 -- train ...")
    from trainrig.cli.main import COMMANDS

    if command[0] not in COMMANDS or command[0] == "launch":
        names = ", ".join(name for name in COMMANDS if name != "launch")
        raise TrainrigError(f"the workers' command must be a trainrig command ({names}), got {command[0]!r}")

    workers = Workers(command, args.workers, args.grace)
    forwarded = {sig: signal.signal(sig, lambda signum, frame: workers.signal_all(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return workers.wait()
    finally:
        for sig, handler in forwarded.items():
            signal.signal(sig, handler)
