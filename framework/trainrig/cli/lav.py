"""``trainrig lav OUTPUT|EXPORT``: load and validate — every loss, metric, the model evaluator's values and the
metric suite on the validation data."""

from __future__ import annotations

import json
import math

from trainrig.cli.open_run import add_run_arguments
from trainrig.cli.options import Parser


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="trainrig lav",
        description="Load a run's model and validate it on the run's validation data: every loss, metric, "
        "evaluator (ModelBase._evaluator) and metric-suite value, as the run logged them (val_*, Test *).",
    )
    add_run_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    from trainrig.callbacks.metric_suite import suite_values
    from trainrig.cli.open_run import open_run

    trainer = open_run(args.path, args.weights)
    values = {**trainer.validate().logs, **suite_values(trainer.context)}
    if args.json:
        print(json.dumps({k: v if math.isfinite(v) else str(v) for k, v in values.items()}, indent=2))
    else:
        width = max(len(k) for k in values)
        for name, value in values.items():
            print(f"{name:<{width}}  {value:.6g}")
    return 0
