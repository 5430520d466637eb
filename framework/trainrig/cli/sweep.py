"""``trainrig sweep``: one run per configuration of a grid or a random sample, compared in one table.

    trainrig sweep --out SWEEP_DIR --model ... --data ... [fixed options] --grid JSON [--parallel K]
    trainrig sweep --out SWEEP_DIR --model ... --data ... [fixed options] --random N --space JSON [--seed S]
    ... [--halving ETA [--min-epochs R]]                 (successive halving: see trainrig.sweep.halving)
    trainrig sweep --resume SWEEP_DIR [--parallel K]      (or the same command again)
    trainrig sweep --summary SWEEP_DIR

Every option that is not the sweep's own is given to every run (``--model``, ``--data``,
``--trainer.epochs 5``, ``--plugin ...``). Exit status: 0 when every run is done, 1 when some failed,
3 when the sweep was stopped (run it again to continue).
"""

from __future__ import annotations

import json

from trainrig.cli.options import Parser
from trainrig.errors import TrainrigError

EXIT_FAILED_RUNS = 1


def _parser() -> Parser:
    parser = Parser(
        prog="trainrig sweep",
        usage="trainrig sweep --out SWEEP_DIR --model M --data D [options] (--grid JSON | --random N --space JSON) "
        "[--parallel K] | --resume SWEEP_DIR | --summary SWEEP_DIR",
        description="Train one run per configuration (SWEEP_DIR/runs/<id>/, each a normal run) and compare them "
        "(SWEEP_DIR/summary.csv and a table sorted by the best-model metric). Keys are the dotted option names "
        "(trainer.learning_rate, model.units); options that are not the sweep's own go to every run.",
    )
    parser.add_argument("--out", metavar="SWEEP_DIR", help="the sweep's directory")
    parser.add_argument("--grid", metavar="JSON", help='every combination: {"trainer.learning_rate": [0.001, 0.003]}')
    parser.add_argument("--random", type=int, metavar="N", help="N configurations drawn from --space")
    parser.add_argument(
        "--space", metavar="JSON",
        help='distributions: {"trainer.learning_rate": {"log_uniform": [1e-4, 1e-2]}}; choice, uniform, log_uniform, int',
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the --random draws (default 0)")
    parser.add_argument("--parallel", type=int, default=1, metavar="K", help="runs at once, each its own process (default 1)")
    parser.add_argument(
        "--halving", type=int, metavar="ETA",
        help="successive halving: pause every run at epochs R, R*ETA, ... and keep the best 1/ETA at each (default: off)",
    )  # fmt: skip
    parser.add_argument("--min-epochs", type=int, default=1, metavar="R", help="with --halving: the first rung (default 1)")
    parser.add_argument("--resume", metavar="SWEEP_DIR", help="continue the sweep in SWEEP_DIR")
    parser.add_argument("--summary", metavar="SWEEP_DIR", help="print the table of the sweep in SWEEP_DIR again")
    return parser


def _json(text: str, option: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TrainrigError(f"{option} is not valid JSON: {e}") from None


def _new_plan(args, command: list[str]):
    from pathlib import Path

    from trainrig.sweep.plan import Plan
    from trainrig.sweep.space import grid, random_configs

    if not args.out:
        raise TrainrigError("give the sweep's directory with --out SWEEP_DIR (or --resume / --summary SWEEP_DIR)")
    if (args.grid is None) == (args.random is None):
        raise TrainrigError("give either --grid JSON or --random N with --space JSON")
    if args.grid is not None:
        if args.space is not None:
            raise TrainrigError("--space goes with --random N, not with --grid")
        spec = {"grid": _json(args.grid, "--grid")}
        configs = grid(spec["grid"])
    else:
        if args.space is None:
            raise TrainrigError("--random N needs --space JSON (the distribution of every key)")
        spec = {"random": args.random, "space": _json(args.space, "--space"), "seed": args.seed}
        configs = random_configs(spec["space"], args.random, args.seed)
    if args.halving is None and args.min_epochs != 1:
        raise TrainrigError("--min-epochs goes with --halving ETA")
    if args.halving is not None:
        spec["halving"] = {"eta": args.halving, "min_epochs": args.min_epochs}
    return Plan(out=Path(args.out), command=command, configs=configs, spec=spec)


def run(argv: list[str]) -> int:
    args, command = _parser().parse_known_args(argv)
    if args.parallel < 1:
        raise TrainrigError(f"--parallel must be at least 1, got {args.parallel}")
    from trainrig.sweep.plan import Plan, check_configs
    from trainrig.sweep.runner import SweepRunner
    from trainrig.sweep.summary import results, table, write_csv

    if args.summary:
        plan = Plan.load(args.summary)
        print(table(plan, results(plan)))
        return 0
    if args.resume:
        if command or args.out or args.grid or args.random or args.space or args.halving:
            raise TrainrigError("--resume SWEEP_DIR takes only --parallel; the sweep's options are in its sweep.json")
        plan = Plan.load(args.resume)
    else:
        plan = _new_plan(args, command)
        epochs = check_configs(plan)  # every configuration, before any run starts
        if "halving" in plan.spec:
            from trainrig.sweep.halving import rungs, same_epochs

            halving = plan.spec["halving"]
            halving["epochs"] = same_epochs(epochs)
            rungs(halving["epochs"], halving["eta"], halving["min_epochs"])  # a bad --halving / --min-epochs: one line
        plan = plan.continue_or_save()
    print(f"sweep {plan.out}: {len(plan.configs)} runs, {args.parallel} at a time", flush=True)
    counts = SweepRunner(plan, args.parallel).run()
    rows = results(plan)
    path = write_csv(plan, rows)
    print(table(plan, rows))
    print(f"summary: {path}; " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if counts.get("stopped") or counts.get("pending") or counts.get("paused"):
        print(f"continue with: trainrig sweep --resume {plan.out}")
        return 3
    return EXIT_FAILED_RUNS if counts.get("failed") else 0
