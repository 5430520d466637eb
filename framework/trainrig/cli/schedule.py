"""``trainrig schedule``: print the learning rate at every epoch boundary of a run, without training.

It takes the options of ``trainrig train`` (so a train command line works with ``train`` replaced by
``schedule``), builds the run's learning-rate schedule exactly as training would (warmup included) and
evaluates it at optimizer step ``e * steps_per_epoch`` for ``e = 0 .. epochs``: the value ``logs
["learning_rate"]`` holds at the end of epoch ``e``. The training batches per epoch come from
``--steps-per-epoch N``, else from the data (``--data``/``--config``: the length of its training sequence
at ``trainer.batch_size``, capped by ``trainer.steps_per_epoch``), else from ``trainer.steps_per_epoch``;
with ``trainer.accumulate`` A an epoch has batches / A optimizer steps (rounded up).
"""

from __future__ import annotations

import json

from trainrig.cli.options import Parser
from trainrig.cli.train import parse_run_options
from trainrig.errors import TrainrigError
from trainrig.experiment import section_params
from trainrig.params import from_dict
from trainrig.train.params import TrainerParams

DESCRIPTION = """Print the learning rate at every epoch boundary (epoch e = after e epochs, optimizer step
e x optimizer steps per epoch) without training: trainer.learning_rate, lr_schedule, lr_schedule_options, warmup_steps /
warmup_epochs, epochs and accumulate as trainrig train would use them. Takes every option of trainrig train. The
batches per epoch come from --steps-per-epoch, else from --data (its training sequence at trainer.batch_size),
else from trainer.steps_per_epoch."""


def _schedule_arguments(parser: Parser) -> None:
    parser.add_argument("--model", metavar="PKG.MOD:CLASS", help="the ModelBase subclass (for its options only)")
    parser.add_argument("--data", metavar="PKG.MOD:CLASS", help="the DataBase subclass: its training sequence gives the steps per epoch")
    parser.add_argument("--config", metavar="FILE.json", help="params as in OUTPUT/params.json (options override it)")
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        metavar="N",
        help="training batches per epoch, instead of asking the data (with trainer.accumulate A: N/A optimizer steps, rounded up)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(argv: list[str]) -> int:
    args, tree, _, classes = parse_run_options(argv, "trainrig schedule", DESCRIPTION, _schedule_arguments)
    data_cls = classes.get("data")
    params = from_dict(TrainerParams, tree.get("trainer") or {}, "trainer")
    if args.steps_per_epoch is None and data_cls is None and params.steps_per_epoch == 0:  # before TensorFlow starts
        raise TrainrigError(
            "the steps per epoch are unknown: pass --data PKG.MOD:Data (or --config with a data class), "
            "--steps-per-epoch N or --trainer.steps_per_epoch N"
        )

    from trainrig.train.setup import check_params

    check_params(params)  # the checks trainrig train makes before anything runs
    batches, source = _batches_per_epoch(args.steps_per_epoch, params, data_cls, tree)

    from trainrig.train.accumulation import optimizer_steps_per_epoch
    from trainrig.train.schedules import epoch_boundary_rates, has_warmup, warmup_steps_of

    steps_per_epoch = optimizer_steps_per_epoch(batches, params.accumulate)
    if params.accumulate > 1:
        source += f", {batches} batches accumulated {params.accumulate} at a time"

    rows = epoch_boundary_rates(params, steps_per_epoch)
    warmup = warmup_steps_of(params, steps_per_epoch) if has_warmup(params) else 0
    if args.json:
        out = {"batches_per_epoch": batches, "steps_per_epoch": steps_per_epoch, "warmup_steps": warmup, "rates": rows}
        print(json.dumps(out, indent=2))
        return 0
    options = f" {json.dumps(params.lr_schedule_options)}" if params.lr_schedule_options else ""
    print(
        f"lr_schedule {params.lr_schedule}{options}, learning_rate {params.learning_rate:g}, "
        f"warmup {warmup} steps; {steps_per_epoch} optimizer steps per epoch ({source})"
    )
    step_width = max(4, len(str(rows[-1]["step"])))
    print(f"{'epoch':>5}  {'step':>{step_width}}  learning_rate")
    for row in rows:
        print(f"{row['epoch']:>5}  {row['step']:>{step_width}}  {row['learning_rate']:.6g}")
    return 0


def _batches_per_epoch(given: int | None, params: TrainerParams, data_cls, tree: dict) -> tuple[int, str]:
    """The training batches of one epoch and where that number comes from."""
    if given is not None:
        if given < 1:
            raise TrainrigError(f"--steps-per-epoch must be >= 1, got {given}")
        return given, "--steps-per-epoch"
    if data_cls is not None:
        from trainrig.data.pipeline import BatchSource
        from trainrig.user_code import calling

        data_params = section_params(tree, "data", data_cls)
        with calling(data_cls, "__init__"):
            data = data_cls(data_params)
        data.seed = params.seed
        with calling(data, "train_sequence"):
            sequence = data.train_sequence(params.batch_size)
        return len(BatchSource(sequence, "training", params.steps_per_epoch)), f"the data at batch size {params.batch_size}"
    return params.steps_per_epoch, "trainer.steps_per_epoch"
