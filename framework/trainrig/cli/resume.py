"""``trainrig resume OUTPUT``: continue an interrupted run exactly where its newest checkpoint left it."""

from __future__ import annotations

from trainrig.cli.options import Parser


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="trainrig resume",
        description="Continue the run in OUTPUT from its newest usable checkpoint, with the params and plugins "
        "saved in OUTPUT/params.json. A finished run is left as it is.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="the run directory (holds params.json)")
    args = parser.parse_args(argv)
    from trainrig.errors import TrainrigError
    from trainrig.run_dir import RunDir

    if not RunDir(args.output).is_run():  # before TensorFlow is imported: answer at once
        raise TrainrigError(f"{args.output} is not a trainrig run (no params.json)")

    from trainrig.train.trainer import Trainer

    Trainer.resume(args.output)
    return 0
