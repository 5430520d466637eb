"""``trainrig resume OUTPUT``: continue an interrupted run exactly where its newest checkpoint left it."""

from __future__ import annotations

from trainrig.cli.options import Parser
from trainrig.errors import TrainrigError


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="trainrig resume",
        description="Continue the run in OUTPUT from its newest usable checkpoint, with the params and plugins "
        "saved in OUTPUT/params.json. A finished run is left as it is.",
    )
    parser.add_argument("output", metavar="OUTPUT", help="the run directory (holds params.json)")
    parser.add_argument(
        "--stop-after-epoch", type=int, metavar="N",
        help="stop again after epoch N, with a checkpoint (exit status 3); default: the run's trainer.stop_after_epoch",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.stop_after_epoch is not None and args.stop_after_epoch < 0:
        raise TrainrigError(f"--stop-after-epoch must be >= 0, got {args.stop_after_epoch}")
    from trainrig.run_dir import RunDir

    if not RunDir(args.output).is_run():  # before TensorFlow is imported: answer at once
        raise TrainrigError(f"{args.output} is not a trainrig run (no params.json)")

    from trainrig.train.trainer import Trainer

    if args.stop_after_epoch is None:
        Trainer.resume(args.output)
    else:
        Trainer.reopen(args.output, stop_after_epoch=args.stop_after_epoch).train(resume=True)
    return 0
