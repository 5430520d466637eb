"""3. Start-up: how soon the ``trainrig`` command answers, and how soon a run starts training.

* ``trainrig --help``: wall time of the console script next to this Python (``python -m trainrig``
  if there is none) in a fresh process, per repetition; and whether the command's ``main`` imports
  TensorFlow to print it (a fresh process runs ``main(["--help"])`` and reports ``'tensorflow' in
  sys.modules``: 0 = not imported). Goal: well under 1 s, without TensorFlow.
* ``trainrig train`` of the digits tutorial for 1 epoch (``--trainer.progress none``) with the plugin
  :mod:`benchmarks.first_step`: the time from just before the process is spawned to its first
  training step (written by the plugin), and the wall time of the whole run (set-up, the epoch,
  validation, exports, checkpoints, exit). The same at both sizes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.common import Row, child_env, run_child, scratch_dir

NAME = "startup"
DESCRIPTION = "`trainrig --help` wall time and whether it imports TensorFlow; `trainrig train` to its first step"

FIRST_STEP_ENV = "TRAINRIG_BENCH_FIRST_STEP"
"""The file :mod:`benchmarks.first_step` writes the time of the first training step to."""

TENSORFLOW_CHECK = """
import contextlib, io, sys
from trainrig.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["--help"])
print(int("tensorflow" in sys.modules))
"""


def run(size: str, repeats: int) -> list[Row]:
    return help_rows(repeats) + first_step_rows(repeats)


def trainrig_command() -> list[str]:
    """The ``trainrig`` console script of this environment, else ``python -m trainrig``."""
    script = Path(sys.executable).with_name("trainrig")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trainrig"]


def help_rows(repeats: int) -> list[Row]:
    times = [run_child([*trainrig_command(), "--help"])[0] for _ in range(repeats)]
    _, imported = run_child([sys.executable, "-c", TENSORFLOW_CHECK])
    return [
        Row(NAME, "trainrig --help", "wall time", "s", times),
        Row(NAME, "trainrig --help", "tensorflow imported (0 = no)", "flag", [float(imported.strip())]),
    ]


def first_step_rows(repeats: int) -> list[Row]:
    first_steps, totals = zip(*(first_step_and_total() for _ in range(repeats)))
    case = "trainrig train digits, 1 epoch"
    return [
        Row(NAME, case, "spawn to first training step", "s", list(first_steps)),
        Row(NAME, case, "whole run", "s", list(totals)),
    ]


def first_step_and_total() -> tuple[float, float]:
    """Seconds from spawning ``trainrig train`` (digits, 1 epoch) to its first step, and to its exit."""
    with scratch_dir() as tmp:
        stamp = tmp / "first_step"
        args = [
            *trainrig_command(),
            "train",
            "--model", "trainrig_digits.model:DigitsModel",
            "--data", "trainrig_digits.data:DigitsData",
            "--trainer.output_dir", str(tmp / "run"),
            "--trainer.epochs", "1",
            "--trainer.progress", "none",
            "--plugin", "benchmarks.first_step",
        ]  # fmt: skip
        env = child_env(**{FIRST_STEP_ENV: str(stamp)})
        spawned = time.time()
        total, _ = run_child(args, env=env)
        return float(stamp.read_text()) - spawned, total
