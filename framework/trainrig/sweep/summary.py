"""What a sweep's runs reached: ``SWEEP_DIR/summary.csv`` and the console table.

One row per run: its id, status, the params that vary across the sweep (a column each, named by its
dotted key), the best-model metric (``best/trainrig.json``: which logs key, its best value, the epoch,
the direction), the epochs run, the wall time of its processes, the final value of every validation
and suite value (``final:<key>``), and the one-line error of a failed run. The table is sorted by
the best value (best first; runs without one last).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainrig.sweep.plan import Plan
from trainrig.sweep.space import varying_keys

SUMMARY_FILE = "summary.csv"
STATUS_DIR = "logs"


@dataclass
class RunResult:
    id: str
    status: str  # "done", "failed", "stopped" (interrupted, resumable), "pending"; with halving "paused", "halted"
    config: dict[str, Any]
    monitor: str = ""
    best: float = math.nan
    best_epoch: int = 0
    greater_is_better: bool = False
    epochs: int = 0
    seconds: float = 0.0
    error: str = ""
    final: dict[str, float] = field(default_factory=dict)

    def sort_key(self) -> tuple:
        if math.isnan(self.best):
            return (1, 0.0)
        return (0, -self.best if self.greater_is_better else self.best)


def status_path(plan: Plan, run_id: str) -> Path:
    return plan.out / STATUS_DIR / f"{run_id}.json"


def read_status(plan: Plan, run_id: str) -> dict[str, Any]:
    path = status_path(plan, run_id)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"status": "pending", "seconds": 0.0, "error": ""}


def write_status(plan: Plan, run_id: str, status: dict[str, Any]) -> None:
    path = status_path(plan, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(status) + "\n")
    staging.replace(path)


def run_result(plan: Plan, run_id: str) -> RunResult:
    status = read_status(plan, run_id)
    result = RunResult(
        id=run_id, status=status["status"], config=plan.config(run_id), seconds=float(status.get("seconds", 0.0)),
        error=status.get("error", ""),
    )
    run = plan.run_dir(run_id)
    try:
        best = json.loads((run / "best" / "trainrig.json").read_text())
        result.monitor, result.best, result.best_epoch = best["monitor"], float(best["value"]), int(best["epoch"])
        result.greater_is_better = bool(best.get("greater_is_better", False))
    except (FileNotFoundError, KeyError, ValueError):
        pass
    try:
        lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    except (FileNotFoundError, ValueError):
        lines = []
    result.epochs = len(lines)
    if lines:
        last = lines[-1]
        result.final = {k: float(v) for k, v in last.items() if k.startswith(("val_", "Test ")) and isinstance(v, (int, float))}
    return result


def results(plan: Plan) -> list[RunResult]:
    return [run_result(plan, run_id) for run_id in plan.ids]


def _number(value: float) -> str:
    return "" if isinstance(value, float) and math.isnan(value) else f"{value:.6g}"


def write_csv(plan: Plan, rows: list[RunResult]) -> Path:
    varying = varying_keys(plan.configs)
    finals = sorted({key for row in rows for key in row.final})
    path = plan.out / SUMMARY_FILE
    staging = path.with_name(f".{SUMMARY_FILE}.tmp")
    with staging.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "status", *varying, "best_metric", "best_value", "best_epoch", "epochs", "seconds",
                         *(f"final:{key}" for key in finals), "error"])  # fmt: skip
        for row in rows:
            writer.writerow([
                row.id, row.status, *(json.dumps(row.config.get(k)) if isinstance(row.config.get(k), (list, dict)) else row.config.get(k) for k in varying),
                row.monitor, _number(row.best), row.best_epoch or "", row.epochs, f"{row.seconds:.1f}",
                *(_number(row.final[k]) if k in row.final else "" for k in finals), row.error,
            ])  # fmt: skip
    staging.replace(path)
    return path


def table(plan: Plan, rows: list[RunResult]) -> str:
    """The console table: best first; the params that vary, the best value, epochs, time, status."""
    from trainrig.cli.options import option_text

    varying = varying_keys(plan.configs)
    monitors = sorted({row.monitor for row in rows if row.monitor})
    best_header = f"best {monitors[0]}" if len(monitors) == 1 else "best (metric)"
    header = ["run", *varying, best_header, "epoch", "epochs", "time", "status"]
    lines = []
    for row in sorted(rows, key=RunResult.sort_key):
        best = _number(row.best) if len(monitors) <= 1 else f"{_number(row.best)} ({row.monitor})"
        status = row.status if not row.error else f"{row.status}: {row.error}"
        lines.append([row.id, *(option_text(row.config.get(k)) for k in varying), best, str(row.best_epoch or ""),
                      str(row.epochs), f"{row.seconds:.0f} s", status])  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header) - 1)]
    render = lambda r: "  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]).rstrip()  # noqa: E731
    return "\n".join([render(header), *(render(r) for r in lines)])


def best_so_far(rows: list[RunResult]) -> RunResult | None:
    scored = [row for row in rows if not math.isnan(row.best)]
    return min(scored, key=RunResult.sort_key) if scored else None
