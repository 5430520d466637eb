"""9. Distribution: training throughput on 2 replicas of one CPU machine against 1 (a CPU sanity figure).

Three ways to train the digits tutorial (``trainrig_digits``) with the same global batch, each in a
fresh process (logical CPU devices and a multi-worker strategy must be set up before TensorFlow runs
anything):

* ``1 device`` (the baseline of both comparisons): ``trainrig train ... --trainer.strategy default``;
* ``2 devices (mirrored)``: ``trainrig train ... --trainer.strategy mirrored --trainer.devices 2``,
  a ``MirroredStrategy`` over 2 logical CPU devices of one process, half the global batch on each;
* ``2 workers (launch)``: ``trainrig launch --workers 2 -- train ...``: 2 worker processes, each run with
  ``--trainer.strategy multi_worker`` and a ``TF_CONFIG`` naming both on 127.0.0.1, half the global batch
  on each, the gradients all-reduced over gRPC on the loopback interface.

Measure: the training throughput, the training rows of an epoch over the training part of the epoch
(``on_epoch_begin`` to ``on_test_begin`` of a timer callback: no validation, metric suite or checkpoint,
and no start-up of the strategy). The timer is this module loaded as a plugin (``--plugin
benchmarks.distribution``, the :func:`trainrig_register_callbacks` hook below); it runs on the chief
only (worker 0 of a launch; the workers step together, every step waits for the all-reduce) and
writes its readings to the JSON file named by ``TRAINRIG_BENCH_EPOCH_TIMES``.

The first epoch is skipped (tracing, the strategy's first collectives, the first sizing of the
automatic ``steps_per_execution``); of the others the fastest is taken (at the tiny size there is only
the second). Whatever disturbs an epoch on this machine only adds time to it: checkpoint writes and
the first epoch's best-model export run on background threads on the same 2 cores, the automatic
``steps_per_execution`` resizes its calls as it times them, other processes take the cores now and
then; synchronous replicas amplify it (every step waits for the slower replica): on a loaded machine
the epochs of ``mirrored`` vary threefold or more within one run, those of one device and of the
workers much less. The fastest epoch is each configuration's least disturbed one, taken alike on
every side. The best model is chosen by ``val_loss`` in ``max`` mode, so it is exported after the
first epoch only. Also the whole run: spawn to exit (for the launch: both workers' start-up, the
cluster's set-up, the exit of the last one). The three sides are interleaved, rotated per repetition;
ratios to the one-device run of the same repetition (throughput: above 1 is faster; whole run: above
1 is longer).

Only a sanity figure: the machine has 2 CPU cores and no GPU, so the 2 replicas share the cores the
one device already uses (TensorFlow's intra-op threads), and the 2 workers are 2 processes on the same
2 cores exchanging gradients over loopback. It shows that the strategies run and what they cost on one
small machine, not the speed-up of real devices or machines.

Sizes: full, the tutorial's network with 64 filters (a step long enough not to be pure overhead), a
global batch of 64, 6 epochs of 1,438 rows (23 steps); tiny, the tutorial's network (16 filters), a
global batch of 64, 2 epochs of 8 steps.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import trainrig
from benchmarks.common import Row, child_env, compared, interleave, scratch_dir
from benchmarks.startup import trainrig_command

NAME = "distribution"
DESCRIPTION = "training throughput of 2 logical CPU devices (mirrored), 2 local workers (launch) vs 1 device; CPU only"

TIMES_ENV = "TRAINRIG_BENCH_EPOCH_TIMES"
"""The JSON file the chief's timer (this module as a plugin) writes its clock readings to."""

SETTINGS = {
    "full": {"filters": 64, "batch": 64, "epochs": 6, "steps": 0},
    "tiny": {"filters": 16, "batch": 64, "epochs": 2, "steps": 8},
}
WORKERS = DEVICES = 2
TIMEOUT = {"full": 600, "tiny": 180}  # seconds a child (a launch: all its workers) may take
SIDES = {
    "1 device": ["train", "--trainer.strategy", "default"],
    f"{DEVICES} devices (mirrored)": ["train", "--trainer.strategy", "mirrored", "--trainer.devices", str(DEVICES)],
    f"{WORKERS} workers (launch)": ["launch", "--workers", str(WORKERS), "--", "train"],  # launch adds multi_worker
}
BASELINE = "1 device"


def run(size: str, repeats: int) -> list[Row]:
    settings = SETTINGS[size]
    rows_per_epoch = training_rows(settings)
    sides = {side: functools.partial(one_run, command, settings, TIMEOUT[size]) for side, command in SIDES.items()}
    results = interleave(sides, repeats)
    throughput = {side: [rows_per_epoch / epoch for epoch, _ in values] for side, values in results.items()}
    whole = {side: [total for _, total in values] for side, values in results.items()}
    filters, batch = settings["filters"], settings["batch"]
    case = (
        f"digits CNN, {filters} filters, global batch {batch}, {rows_per_epoch:,} rows an epoch (CPU sanity figure: "
        "2 cores shared by all replicas and workers; workers all-reduce over gRPC on loopback)"
    )
    epochs = settings["epochs"]
    return compared(NAME, case, "training throughput", "rows/s", throughput, baseline=BASELINE) + compared(
        NAME, case, f"whole run, {epochs} epoch{'s' if epochs > 1 else ''}", "s", whole, baseline=BASELINE
    )


def training_rows(settings: dict) -> int:
    """Rows of one training epoch: the tutorial's training split, or ``steps`` full batches of it."""
    from trainrig_digits.data import DigitsData

    rows = len(DigitsData().train_rows)
    return min(rows, settings["steps"] * settings["batch"]) if settings["steps"] else rows


def one_run(command: list[str], settings: dict, timeout: float) -> tuple[float, float]:
    """Run ``trainrig COMMAND`` (a ``train`` or a ``launch ... -- train``) of the digits tutorial to its end
    in a fresh process; return the fastest training part of the epochs after the first, and the wall time."""
    with scratch_dir() as tmp:
        times = tmp / "epoch_times.json"
        args = [
            *trainrig_command(),
            *command,
            "--model", "trainrig_digits.model:DigitsModel",
            "--data", "trainrig_digits.data:DigitsData",
            "--model.filters", str(settings["filters"]),
            "--trainer.batch_size", str(settings["batch"]),
            "--trainer.epochs", str(settings["epochs"]),
            "--trainer.steps_per_epoch", str(settings["steps"]),
            "--trainer.output_dir", str(tmp / "run"),
            "--trainer.progress", "none",
            "--trainer.print_samples", "0",
            "--trainer.export", "false",
            "--trainer.best_metric", "val_loss",
            "--trainer.best_mode", "max",  # improves in the first epoch only: one best-model export
            "--plugin", "benchmarks.distribution",
        ]  # fmt: skip
        total = run_group(args, child_env(**{TIMES_ENV: str(times)}), timeout)
        if not times.is_file():
            raise RuntimeError(f"{' '.join(args)} wrote no epoch times to {times}")
        training = json.loads(times.read_text())["training"]
    if len(training) != settings["epochs"]:
        raise RuntimeError(f"expected {settings['epochs']} epochs' times, got {len(training)}: {training}")
    return min(training[1:] if len(training) > 1 else training), total


def run_group(args: list[str], env: dict[str, str], timeout: float) -> float:
    """Like :func:`benchmarks.common.run_child`, but the child leads a new process group which is killed
    on a timeout: a launch's workers stuck in a collective would outlive a killed ``trainrig launch``."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        raise RuntimeError(f"{' '.join(args)} did not end within {timeout:g} s; killed:\n{stderr[-3000:]}") from None
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({process.returncode}):\n{stderr[-3000:]}")
    return elapsed


# --- the plugin: this module loaded into the child with --plugin benchmarks.distribution -------------


def epoch_timer(path: Path):
    """A keras callback writing, after every epoch, the training part of each epoch so far (seconds from
    ``on_epoch_begin`` to ``on_test_begin``) and the whole epochs to ``path`` as JSON. No batch hooks: a
    callback with one makes trainrig run one step per call, changing what is measured."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begin = self.test_begin = 0.0
            self.training: list[float] = []
            self.epochs: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.begin = self.test_begin = time.perf_counter()

        def on_test_begin(self, logs=None):
            if self.test_begin == self.begin:  # the epoch's validation (not an evaluation inside a callback)
                self.test_begin = time.perf_counter()
                self.training.append(self.test_begin - self.begin)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self.begin)
            path.write_text(json.dumps({"training": self.training, "epochs": self.epochs}))

    return EpochTimer()


@trainrig.hookimpl
def trainrig_register_callbacks(trainer):
    path = os.environ.get(TIMES_ENV)
    return [epoch_timer(Path(path))] if path and trainer.is_chief else []
