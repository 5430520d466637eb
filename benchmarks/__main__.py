"""The runner: ``python -m benchmarks [NAME ...] [--size tiny|full] [--repeats N] [--json FILE] [--list]``.

Runs the named benchmarks (all by default) one after the other in this process, prints one markdown
table (min / median / max of the repetitions, and the ratio of every compared side) followed by the
machine, and writes every row, the machine and the command to a JSON file. Progress goes to stderr.
A benchmark that fails is reported and skipped; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from benchmarks import BENCHMARKS
from benchmarks.common import Row, SIZES, command_line, machine, machine_line, table, write_json

DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"
DEFAULT_REPEATS = 3


def load(name: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.{name}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--size", choices=SIZES, default="full", help="full (default), or tiny for a smoke test")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help=f"repetitions of every measure (default {DEFAULT_REPEATS})")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results (default benchmarks/results.json)")
    parser.add_argument("--list", action="store_true", help="print the benchmarks, one line each, and exit")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def run_all(names: list[str], size: str, repeats: int) -> tuple[list[Row], dict[str, float], list[str]]:
    """Run each benchmark; return the rows, each one's wall time in seconds and the names of those that failed."""
    rows: list[Row] = []
    durations: dict[str, float] = {}
    failed: list[str] = []
    for name in names:
        print(f"[{name}] size {size}, {repeats} repetition(s)...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            rows += load(name).run(size, repeats)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        durations[name] = round(time.perf_counter() - started, 1)
        print(f"[{name}] {'FAILED' if name in failed else 'done'} in {durations[name]:.0f} s", file=sys.stderr, flush=True)
    return rows, durations, failed


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.list:
        for name in BENCHMARKS:
            print(f"{name:<16} {load(name).DESCRIPTION}")
        return 0
    info = machine()
    rows, durations, failed = run_all(args.names or list(BENCHMARKS), args.size, args.repeats)
    command = command_line(argv)
    print(table(rows))
    print()
    print(f"{machine_line(info)}; `{command}`; {sum(durations.values()):.0f} s")
    write_json(args.json, rows, command, info, durations)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
