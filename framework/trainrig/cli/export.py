"""``trainrig export OUTPUT``: (re)export every graph from the newest checkpoint or the best model."""

from __future__ import annotations

from trainrig.cli.options import Parser


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="trainrig export",
        description="Write OUTPUT/export again (every export graph, .keras + SavedModel, and what export plugins add) "
        "from the newest checkpoint (default, e.g. of an interrupted run) or from the best model.",
    )
    parser.add_argument("path", metavar="OUTPUT", help="the run directory")
    parser.add_argument("--from", dest="source", choices=("latest", "best"), default="latest", help="which weights")
    args = parser.parse_args(argv)

    from trainrig.cli.open_run import find_run, open_run
    from trainrig.run_lock import RunLock

    run, _ = find_run(args.path)
    with RunLock(run.root):  # no train or resume may write this run meanwhile
        trainer = open_run(run.root, args.source)
        trainer.exporter.export(trainer.run_dir.export, "final", extra={"exported_from": args.source})
    print(f"exported {', '.join(trainer.exporter.graphs)} from the {args.source} weights to {trainer.run_dir.export}")
    return 0
