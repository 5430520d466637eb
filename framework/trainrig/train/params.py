"""``TrainerParams``: everything about how a run trains (imports no TensorFlow)."""

from __future__ import annotations

import math
import re
from typing import Literal

from trainrig.params import ParamsError, at_least, choice, define, field, positive


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

    @property
    def active(self) -> bool:
        """Whether augmentation is on (an input is named): the other fields of this section only matter then."""
        return bool(self.input)


@define
class SuiteParams:
    """The validation metric suite (``"Test <name>"`` in logs) of the model's ``_prediction()``."""

    average: Literal["macro", "micro", "weighted"] = field(
        default="macro",
        help="Averaging of multiclass Precision, Recall and F1 over classes.",
        validator=choice("macro", "micro", "weighted"),
    )
    cost_gains: dict = field(
        factory=lambda: {"tp": 1.0, "tn": 0.0, "fp": -0.3, "fn": 0.0},
        help="Gains of the binary Cost Matrix Gain: (TP*tp + TN*tn + FP*fp + FN*fn) / n.",
    )
    lift_ratio: float = field(default=0.4, help="Share of rows (highest P(positive) first) of the Cumulative Lift.", validator=positive)
    custom_score: str = field(
        default="",
        help="A 'module:function' score(y_true, y_pred, sample_weight=None) logged as 'Test Custom Score' "
        "(empty: the model's _custom_score(), if any).",
    )
    custom_greater_is_better: bool = field(default=True, help="Whether a higher custom score is better.")


@define
class EarlyStoppingParams:
    """Stop when the monitored value stops improving (keras EarlyStopping; its state is resumable)."""

    patience: int = field(default=0, help="Epochs without improvement before stopping; 0 = never stop early.", validator=at_least(0))
    min_delta: float = field(default=0.0, help="Smallest change that counts as an improvement.", validator=at_least(0))
    monitor: str = field(default="", help="logs key to monitor; empty = the best-model metric (MODEL_METRIC).")
    restore_best_weights: bool = field(default=False, help="Restore the weights of the best epoch when stopping.")

    @property
    def active(self) -> bool:
        """Whether early stopping is on: the other fields of this section only matter then."""
        return self.patience > 0


@define
class ReduceLRParams:
    """Reduce the learning rate on a plateau (keras ReduceLROnPlateau; needs lr_schedule constant)."""

    patience: int = field(default=0, help="Epochs without improvement before reducing; 0 = off.", validator=at_least(0))
    factor: float = field(default=0.5, help="Multiply the learning rate by this factor.", validator=positive)
    min_delta: float = field(default=0.0, help="Smallest change that counts as an improvement.", validator=at_least(0))
    min_lr: float = field(default=0.0, help="Lower bound of the learning rate.", validator=at_least(0))
    monitor: str = field(default="", help="logs key to monitor; empty = the best-model metric (MODEL_METRIC).")

    @property
    def active(self) -> bool:
        """Whether the learning rate is reduced on a plateau: the other fields of this section only matter then."""
        return self.patience > 0


@define
class FreezeParams:
    """Freeze training: which layers train in which epochs (and the learning rate at each change)."""

    schedule: list[dict] = field(
        factory=list,
        help='Strategy schedule: steps [{"epoch": E, "freeze": [patterns], "unfreeze": [patterns], "learning_rate": lr}] '
        "applied at the start of epoch E (0-based), in order; every key but epoch optional. A pattern is a layer "
        'name, a regular expression over layer paths ("encoder/.*") or "all".',
    )
    strategy: Literal["schedule", "round_robin", "random"] = field(
        default="schedule",
        help="schedule (the steps above); round_robin: every interval epochs the next count layers of layers are "
        "frozen and the others released, cycling; random: every interval epochs a fresh seeded choice of count of them.",
        validator=choice("schedule", "round_robin", "random"),
    )
    layers: list[str] = field(factory=list, help="Layer patterns that round_robin and random choose from (in order).")
    count: int = field(default=1, help="Layers frozen at a time by round_robin and random.", validator=at_least(1))
    interval: int = field(default=1, help="Epochs between two choices of round_robin and random.", validator=at_least(1))
    dry_run: bool = field(
        default=False, help="Print the phases (epochs, frozen layers of the real model, learning rates) and exit."
    )

    @property
    def active(self) -> bool:
        """Whether freeze training is on: the other fields of this section only matter then."""
        return bool(self.schedule) or bool(self.layers)


@define
class WarmStartParams:
    """Start from the weights of a previous run or model instead of a fresh initialisation."""

    path: str = field(
        default="", help="A run directory, an exported .keras file or a Keras .weights.h5 file; empty = no warm start."
    )
    weights: Literal["best", "latest", "final"] = field(
        default="best",
        help="Of a run directory: its best model (best/), its newest checkpoint (latest) or its final export (final).",
        validator=choice("best", "latest", "final"),
    )
    include: list[str] = field(
        factory=list, help="Regular expressions over variable names: load only matching ones (empty = all)."
    )
    exclude: list[str] = field(factory=list, help="Regular expressions over variable names: never load these.")
    rename: list[str] = field(
        factory=list,
        help='Rules "old_prefix=new_prefix": a source variable whose name starts with old_prefix loads into the '
        "variable named new_prefix + the rest.",
    )
    allow_partial: bool = field(
        default=False,
        help="Load what matches and leave the rest at its initial value even when shapes differ or variables are "
        "missing (else that is an error listing them).",
    )

    @property
    def active(self) -> bool:
        """Whether the run starts from a previous run or model: the other fields of this section only matter then."""
        return bool(self.path)


def _finite(instance, attribute, value):
    """Validator: the value is a finite number."""
    if not math.isfinite(value):
        raise ParamsError(f"{attribute.name} must be a finite number, got {value!r}")


def _optional(*validators):
    """Validator: ``None``, or a value every one of ``validators`` accepts."""

    def check(instance, attribute, value):
        if value is not None:
            for validator in validators:
                validator(instance, attribute, value)

    return check


_STEP_RANGE = re.compile(r"\s*(\d+)\s*,\s*(\d+)\s*")


def profile_steps(text: str) -> tuple[int, int] | None:
    """``(START, END)`` of a ``trainer.profile`` value such as ``"10,20"``; ``None`` for ``""`` (no profiling)
    and for text that is not two integers ``0 <= START < END``."""
    match = _STEP_RANGE.fullmatch(text)
    if match is None:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    return (start, end) if start < end else None


def _step_range(instance, attribute, value):
    """Validator: empty, or two optimizer steps ``START,END`` with ``0 <= START < END``."""
    if value != "" and profile_steps(value) is None:
        raise ParamsError(
            f"{attribute.name} must be two optimizer steps START,END with 0 <= START < END (e.g. 10,20), "
            f"or empty for no profiling; got {value!r}"
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
    optimizer: str = field(
        default="adam",
        help="The optimizer: any keras.optimizers class by name, in any case, snake_case or the class name "
        "(adam, adamw, sgd, rmsprop, lion, nadam, adafactor, ...), or 'module:Class' of your own "
        "keras.optimizers.Optimizer subclass. Checked at set-up.",
    )
    learning_rate: float = field(default=1e-3, help="Initial learning rate.", validator=positive)
    lr_schedule: str = field(
        default="constant",
        help="Learning-rate schedule over optimizer steps: constant; cosine (decay to 0 over all epochs; "
        "restart_epochs in lr_schedule_options: cosine with restarts); exponential (multiplied by lr_decay_rate "
        "once per epoch, smoothly); step or piecewise (lr_schedule_options boundaries in epochs, values); "
        "polynomial; linear (decay to 0); or any keras.optimizers.schedules class by name (its own arguments, "
        "in optimizer steps) or 'module:Class'. Checked at set-up.",
    )
    lr_decay_rate: float = field(default=0.9, help="Per-epoch factor of the exponential schedule.", validator=positive)
    lr_schedule_options: dict = field(
        factory=dict,
        help='Options of lr_schedule, e.g. cosine {"alpha": 0.1, "restart_epochs": 2, "t_mul": 2.0, "m_mul": 1.0}; '
        'piecewise {"boundaries": [epochs], "values": [one more than boundaries]} or {"boundaries": [...], '
        '"factor": 0.1}; exponential {"decay_epochs": 1, "staircase": false}; polynomial {"decay_epochs": E, '
        '"end_learning_rate": 0, "power": 1, "cycle": false}; durations in epochs (may be fractional).',
    )
    warmup_steps: int = field(
        default=0,
        help="Linear warmup over this many optimizer steps, from 0 up to the schedule's value at the warmup's "
        "end; composes with every lr_schedule (then the schedule as without warmup). A warmup makes even a constant "
        "rate a schedule (no reduce_lr, no freeze learning_rate). 0 = no warmup.",
        validator=at_least(0),
    )
    warmup_epochs: float = field(
        default=0.0,
        help="Linear warmup over this many epochs (may be fractional; converted to optimizer steps); "
        "an alternative to warmup_steps. 0 = no warmup.",
        validator=[at_least(0), _finite],
    )
    optimizer_options: dict = field(
        factory=dict,
        help='Keyword arguments of the optimizer, e.g. {"beta_1": 0.95} for adam, {"momentum": 0.9, "nesterov": true} '
        "for sgd (learning rate, weight decay and clipping have options of their own).",
    )
    weight_decay: float | None = field(
        default=None,
        help="Decoupled weight decay of the optimizer (keras' weight_decay); null = the optimizer's default "
        "(adamw: 0.004, most others: none). An error for an optimizer without weight decay.",
        validator=_optional(at_least(0), _finite),
    )
    clipnorm: float | None = field(
        default=None,
        help="Clip each gradient tensor to this norm (keras' clipnorm; of the gradient summed over replicas); null = off.",
        validator=_optional(positive),
    )
    clipvalue: float | None = field(
        default=None,
        help="Clip every gradient value to [-clipvalue, clipvalue] (keras' clipvalue); null = off.",
        validator=_optional(positive),
    )
    global_clipnorm: float | None = field(
        default=None,
        help="Clip all gradients together to this global norm (keras' global_clipnorm); null = off. "
        "At most one of clipnorm, clipvalue and global_clipnorm, as in keras.",
        validator=_optional(positive),
    )
    output_dir: str = field(setting=False, default="trainrig_output", help="Directory of the run (params, checkpoints, exports, TensorBoard).")
    seed: int = field(default=0, help="Seed of weights, dropout, shuffling and augmentation.")
    deterministic: bool = field(
        setting=False,
        default=False, help="Enable TensorFlow op determinism: the same seed gives the same bits on CPU (slower on some ops)."
    )
    steps_per_execution: int = field(
        setting=False,
        default=0,
        help="Training/validation steps run inside one tf.function call. 0 = auto: one step per call while a callback "
        "needs every batch (overrides a batch hook), else as many as take about 0.2 s (never across a step "
        "checkpoint) and the whole validation pass in one call. N >= 1: N steps per call (batch callbacks then run "
        "once per call). Validation on several replicas runs one step per call. The results are the same either way.",
        validator=at_least(0),
    )
    accumulate: int = field(
        default=1,
        help="Batches whose gradients are averaged (weighted by their rows) into one optimizer step; the optimizer's "
        "iterations, learning-rate schedules and checkpoint_every_steps count optimizer steps. The batches of an epoch "
        "are grouped from its start; a partial group at the epoch's end is applied as one step.",
        validator=at_least(1),
    )
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = field(
        default="float32",
        help="Keras dtype policy of the model's layers: float32, or mixed (float16/bfloat16 compute, float32 "
        "variables); mixed_float16 scales the loss dynamically. Outputs, losses, metrics and exports stay float32.",
        validator=choice("float32", "mixed_float16", "mixed_bfloat16"),
    )
    checkpoint_every_steps: int = field(
        setting=False,
        default=0,
        help="Also write a checkpoint every this many training steps; 0 = at epoch ends only.",
        validator=at_least(0),
    )
    keep_checkpoints: int = field(setting=False, default=3, help="Newest checkpoints kept in OUTPUT/checkpoints.", validator=at_least(1))
    strategy: Literal["default", "mirrored", "multi_worker"] = field(
        setting=False,
        default="default",
        help="tf.distribute strategy: default (one device), mirrored (all local GPUs, or trainer.devices replicas), "
        "multi_worker (every worker process runs the same command; the cluster from TF_CONFIG or Slurm, or started "
        "by trainrig launch --workers N). The global batch is trainer.batch_size on every strategy.",
        validator=choice("default", "mirrored", "multi_worker"),
    )
    devices: int = field(
        setting=False,
        default=0,
        help="Replicas of strategy mirrored: N>0 = the first N GPUs, or N logical CPU devices when there is no GPU "
        "(the CPU is split before TensorFlow initialises; a process already initialised with another count fails); "
        "0 = all local GPUs, or the one CPU. Strategy default allows only 0 or 1. A batch is split across replicas "
        "(a share may be empty); losses, metrics and gradients are weighted by rows, as on one device.",
        validator=at_least(0),
    )
    progress: Literal["auto", "bar", "epoch", "none"] = field(
        setting=False,
        default="auto",
        help="Console output: a live progress bar (bar), one line per epoch (epoch), nothing (none); "
        "auto = bar on a terminal, epoch otherwise.",
        validator=choice("auto", "bar", "epoch", "none"),
    )
    stop_after_epoch: int = field(
        setting=False,
        default=0,
        help="Stop after this epoch, with a checkpoint, as a stop request does (exit status 3); trainrig resume "
        "continues (trainrig resume --stop-after-epoch N pauses again). 0 or >= epochs = no pause.",
        validator=at_least(0),
    )
    log_every_steps: int = field(
        setting=False,
        default=0,
        help="Also write the training values (means over the epoch so far) to TensorBoard every N optimizer steps, "
        "as steps/<name>; 0 = once per epoch only.",
        validator=at_least(0),
    )
    print_samples: int = field(
        setting=False,
        default=3, help="Validation samples handed to the model's _print_evaluate each validation.", validator=at_least(0)
    )
    overwrite: bool = field(
        setting=False,
        default=False, help="Train into an output_dir that already holds a run, replacing its files."
    )
    best_metric: str = field(
        setting=False,
        default="",
        help="What decides the best model (and what early stopping and LR-on-plateau follow): a logs key "
        "('val_acc', 'Test ROC AUC') or a name ('acc', 'ROC AUC'); empty = the model's _best_logging_settings.",
    )
    best_mode: Literal["auto", "min", "max"] = field(
        setting=False,
        default="auto",
        help="Direction of best_metric; auto knows losses (min), the suite's metrics and the model's own setting.",
        validator=choice("auto", "min", "max"),
    )
    suite: SuiteParams = field(setting=False, factory=SuiteParams, help="The validation metric suite.")
    early_stopping: EarlyStoppingParams = field(factory=EarlyStoppingParams, help="Early stopping.")
    reduce_lr: ReduceLRParams = field(factory=ReduceLRParams, help="Learning-rate reduction on a plateau.")
    augmentation: AugmentationParams = field(factory=AugmentationParams, help="Data augmentation of the training batches.")
    export: bool = field(setting=False, default=True, help="Export the final model to OUTPUT/export at the end of training.")
    profile: str = field(
        setting=False,
        default="",
        help="Profile optimizer steps START,END (e.g. 10,20) with the TensorFlow profiler, on the chief, into "
        "OUTPUT/tensorboard/train (TensorBoard's Profile tab; pip install tensorboard-plugin-profile): from the first "
        "call that starts at optimizer.iterations >= START to the end of the first call that reaches END (with several "
        "steps per call the range widens to whole calls; steps_per_execution 1 makes it exact). Empty = no profiling.",
        validator=_step_range,
    )
    freeze: FreezeParams = field(factory=FreezeParams, help="Freeze training: layers frozen and released by epoch.")
    warm_start: WarmStartParams = field(factory=WarmStartParams, help="Warm start from a previous run or model.")
