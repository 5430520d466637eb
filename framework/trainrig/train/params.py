"""``TrainerParams``: everything about how a run trains (imports no TensorFlow)."""

from __future__ import annotations

from typing import Literal

from trainrig.params import at_least, choice, define, field, positive


@define
class AugmentationParams:
    """Data augmentation of the training sequence (see ``DataAugmentationSequence``)."""

    input: str = field(default="", help="Name of the input to augment; empty = no augmentation.")
    n: int = field(default=1, help="Augmented copies of every training batch (the batch grows n times).", validator=at_least(1))
    ops: list[dict] = field(
        factory=list,
        help='Augmentations applied in order: [{"name": registered name, **options}], e.g. [{"name": "shift", "max_shift": 1}]. '
        "Names come from plugins (trainrig plugins --all).",
    )


@define
class TrainerParams:
    """How to train: epochs, batches, optimizer, output directory, seed, distribution."""

    epochs: int = field(default=10, help="Number of passes over the training sequence.", validator=at_least(1))
    batch_size: int = field(default=32, help="Batch size handed to the data's train/val sequences.", validator=at_least(1))
    steps_per_epoch: int = field(
        default=0,
        help="Training batches per epoch; 0 = the whole training sequence (required for a tf.data.Dataset of unknown length).",
        validator=at_least(0),
    )
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = field(
        default="adam", help="The keras optimizer.", validator=choice("adam", "adamw", "sgd", "rmsprop")
    )
    learning_rate: float = field(default=1e-3, help="Initial learning rate.", validator=positive)
    lr_schedule: Literal["constant", "cosine", "exponential"] = field(
        default="constant",
        help="Learning-rate schedule over optimizer steps: constant; cosine decay to 0 over all epochs; "
        "exponential (multiplied by lr_decay_rate once per epoch, smoothly).",
        validator=choice("constant", "cosine", "exponential"),
    )
    lr_decay_rate: float = field(default=0.9, help="Per-epoch factor of the exponential schedule.", validator=positive)
    output_dir: str = field(default="trainrig_output", help="Directory of the run (params, checkpoints, exports, TensorBoard).")
    seed: int = field(default=0, help="Seed of weights, dropout, shuffling and augmentation.")
    deterministic: bool = field(
        default=False, help="Enable TensorFlow op determinism: the same seed gives the same bits on CPU (slower on some ops)."
    )
    steps_per_execution: int = field(
        default=1,
        help="Training/validation steps run inside one tf.function call; >1 speeds up small models "
        "(batch callbacks then run once per execution).",
        validator=at_least(1),
    )
    strategy: Literal["default", "mirrored"] = field(
        default="default",
        help="tf.distribute strategy: default (one device) or mirrored (all local devices).",
        validator=choice("default", "mirrored"),
    )
    progress: Literal["auto", "bar", "epoch", "none"] = field(
        default="auto",
        help="Console output: a live progress bar (bar), one line per epoch (epoch), nothing (none); "
        "auto = bar on a terminal, epoch otherwise.",
        validator=choice("auto", "bar", "epoch", "none"),
    )
    print_samples: int = field(
        default=3, help="Validation samples handed to the model's _print_evaluate each validation.", validator=at_least(0)
    )
    overwrite: bool = field(
        default=False, help="Train into an output_dir that already holds a run, replacing its files."
    )
    augmentation: AugmentationParams = field(factory=AugmentationParams, help="Data augmentation of the training batches.")
    export: bool = field(default=True, help="Export the final model to OUTPUT/export at the end of training.")
