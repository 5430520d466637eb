"""What the benchmarks share: the result row, interleaved A/B runs, the table, the JSON file, the machine.

Imports nothing heavy (no TensorFlow): the runner lists and reports with it alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = ("tiny", "full")

T = TypeVar("T")


# --- results ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured quantity of one case: a value per repetition.

    A row compared with a reference also holds ``ratios``: its value over the reference's, one per
    repetition, each from two measurements taken together in that repetition; ``ratio_of`` names them
    (``"trainrig/keras"``, ``"blocked/epoch"``).
    """

    benchmark: str
    case: str
    measure: str
    unit: str
    values: list[float]
    ratio_of: str = ""
    ratios: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["summary"] = spread(self.values)
        data["ratio_summary"] = spread(self.ratios) if self.ratios else None
        return data


def spread(values: list[float]) -> dict[str, float]:
    """Min, median and max of the repetitions."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def compared(
    benchmark: str, case: str, measure: str, unit: str, results: dict[str, list[float]], baseline: str
) -> list[Row]:
    """One row per side of an interleaved comparison; every side but ``baseline`` gets its ratio to it."""
    rows = []
    for side, values in results.items():
        ratios = [] if side == baseline else [a / b for a, b in zip(values, results[baseline])]
        ratio_of = "" if side == baseline else f"{side}/{baseline}"
        rows.append(Row(benchmark, case, f"{measure}: {side}", unit, list(values), ratio_of, ratios))
    return rows


# --- measuring -------------------------------------------------------------------------------------


def interleave(sides: dict[str, Callable[[], T]], repeats: int) -> dict[str, list[T]]:
    """Run every side once per repetition, one after the other, rotating which side goes first.

    With two sides: A, B, then B, A, then A, B... so that load on the machine and warm-up effects
    fall on both sides alike. Returns ``{side: [result per repetition]}``.
    """
    names = list(sides)
    results: dict[str, list[T]] = {name: [] for name in names}
    for repetition in range(repeats):
        first = repetition % len(names)
        for name in names[first:] + names[:first]:
            results[name].append(sides[name]())
    return results


def steady_mean(intervals: list[float]) -> float:
    """The mean of per-epoch times after the first epoch (tracing, first export); all of them when
    there are only one or two epochs (the tiny size)."""
    return statistics.fmean(intervals[1:] if len(intervals) > 2 else intervals)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what the code under test prints to ``sys.stdout`` (progress lines, Keras' epoch logs)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary directory for one run's output, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="trainrig-bench-") as directory:
        yield Path(directory)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, with the repository root on ``PYTHONPATH``
    (so ``benchmarks.*`` imports) and ``extra``."""
    env = dict(os.environ, **extra)
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> tuple[float, str]:
    """Run a child process to its end; return its wall time (from just before it is spawned) and stdout.

    A failing child raises ``RuntimeError`` with the end of its stderr.
    """
    started = time.perf_counter()
    done = subprocess.run(args, env=env or child_env(), capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def last_json_line(stdout: str) -> dict:
    """The JSON object a child printed on its last line starting with ``{``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line in the child's output:\n{stdout[-2000:]}")


# --- reporting -------------------------------------------------------------------------------------

COLUMNS = ("benchmark", "case", "measure", "min", "median", "max", "unit", "ratio", "ratio min / median / max")


def number(value: float) -> str:
    """A value with 4 significant digits (no exponent below a million)."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"


def table(rows: list[Row]) -> str:
    """The rows as a markdown table: min / median / max of the repetitions, and ratios where compared."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 3 + ["---"] * 2 + ["---:"]) + "|"]
    for row in rows:
        s = spread(row.values)
        ratios = " / ".join(number(v) for v in spread(row.ratios).values()) if row.ratios else ""
        cells = [row.benchmark, row.case, row.measure, *(number(v) for v in s.values()), row.unit, row.ratio_of, ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (the platform's processor string elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def version(*distributions: str) -> str:
    """The installed version of the first of ``distributions`` found (TensorFlow ships as several)."""
    for name in distributions:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
    return "not installed"


def machine() -> dict[str, object]:
    """What the numbers depend on: CPUs, their model, the versions of Python and the libraries, the date."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": version("tensorflow", "tensorflow-cpu", "tf-nightly"),
        "keras": version("keras"),
        "numpy": version("numpy"),
        "scikit-learn": version("scikit-learn"),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def machine_line(info: dict[str, object]) -> str:
    """The machine in one line, as the README quotes it."""
    return (
        f"{info['date']}, {info['cpus']} CPUs ({info['cpu_model']}), {info['platform']}, Python {info['python']}, "
        f"TensorFlow {info['tensorflow']}, Keras {info['keras']}, numpy {info['numpy']}, "
        f"scikit-learn {info['scikit-learn']}"
    )


def write_json(path: Path, rows: list[Row], command: str, info: dict, durations: dict[str, float]) -> None:
    """Every row (with its repetitions), the machine, the command and each benchmark's wall time."""
    document = {
        "command": command,
        "machine": info,
        "durations_s": durations,
        "rows": [row.to_json() for row in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def command_line(argv: list[str]) -> str:
    """How this run was started, as one would type it."""
    return " ".join(["python -m benchmarks", *argv]).strip()
