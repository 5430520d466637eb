"""Smoke test of the benchmark runner (``python -m benchmarks``, run from the repository root).

Every benchmark runs once at the tiny size and reports well-formed numbers. No timing is asserted:
the machine running the tests is not the one the numbers are about.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_pkg.helpers import subprocess_env

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
POSITIVE_UNITS = {"s", "ms", "MB", "MiB"}  # times and sizes; other units (%, flag) may be 0


def runner(*args: str, timeout: float) -> subprocess.CompletedProcess:
    """``python -m benchmarks ARGS`` in a fresh process, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=REPO_ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def listed() -> list[str]:
    done = runner("--list", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def benchmark_modules() -> set[str]:
    """The modules of benchmarks/ that define ``NAME``, ``DESCRIPTION`` and ``run`` at top level."""
    found = set()
    for path in BENCHMARKS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        if {"NAME", "DESCRIPTION"} <= names and "run" in functions:
            found.add(path.stem)
    return found


def test_list_names_every_benchmark_module():
    names = listed()
    assert set(names) == benchmark_modules()
    assert len(names) == len(set(names))
    assert {"fit_vs_keras", "step_overhead", "startup", "memory", "input_pipeline", "metric_suite", "checkpoint"} <= set(names)


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.slow
def test_every_benchmark_runs_at_the_tiny_size(tmp_path):
    out = tmp_path / "out.json"
    done = runner("--size", "tiny", "--repeats", "1", "--json", str(out), timeout=600)
    assert done.returncode == 0, f"STDOUT:\n{done.stdout[-3000:]}\nSTDERR:\n{done.stderr[-5000:]}"

    results = json.loads(out.read_text())
    rows = results["rows"]
    names = listed()
    assert {row["benchmark"] for row in rows} == set(names)
    for name in names:
        assert f"| {name} |" in done.stdout, f"{name} is missing from the printed table"
    for row in rows:
        where = f"{row['benchmark']} / {row['case']} / {row['measure']}"
        assert row["values"] and all(finite(v) and v >= 0 for v in row["values"]), where
        if row["unit"] in POSITIVE_UNITS:
            assert all(v > 0 for v in row["values"]), where
        assert all(finite(r) and r > 0 for r in row["ratios"]), where
    assert any(row["ratios"] for row in rows)
    assert results["command"].startswith("python -m benchmarks")
    machine = results["machine"]
    assert machine["cpus"] >= 1 and all(machine[key] for key in ("cpu_model", "python", "tensorflow", "keras", "numpy", "date"))
