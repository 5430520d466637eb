"""Set a run up: seeds, strategy, the data's sequences, the model, its objectives, the optimizer, the steps,
and the model's evaluator (if any, checked on the first validation batch: :mod:`trainrig.train.evaluator`).

Everything that can fail on the user's definitions fails here, on one real batch, before the first
step and before anything is written to the output directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import tensorflow as tf

from trainrig.context import RunContext
from trainrig.data.base import DataBase
from trainrig.data.pipeline import BatchSource
from trainrig.errors import TrainrigError
from trainrig.hooks.manager import PluginManager
from trainrig.model.base import ModelBase
from trainrig.model.definitions import PredictionDefinition
from trainrig.model.objectives import MetricSet, Objectives
from trainrig.train.accumulation import accumulation_of, check_params as check_accumulation, optimizer_steps_per_epoch
from trainrig.train.augment import augmented
from trainrig.train.build import BuiltModel
from trainrig.train.checks import check_first_batch, check_sample_weights, checked_prediction
from trainrig.train.contributions import plugged_sequence
from trainrig.train.distribution import make_strategy
from trainrig.train.environment import seed_everything
from trainrig.train.evaluator import model_evaluator, probe_names
from trainrig.train.fit_arguments import built_sequences
from trainrig.train.freeze import optimizer_variables
from trainrig.train.optimizer import check_optimization, make_optimizer
from trainrig.train.params import TrainerParams
from trainrig.train.precision import build_in_precision, loss_scaled
from trainrig.train.schedules import learning_rate_schedule
from trainrig.train.steps import Steps, check_gatherable
from trainrig.user_code import calling


@dataclass(eq=False)
class RunParts:
    """The objects one run trains with."""

    strategy: tf.distribute.Strategy
    train_source: BatchSource
    val_source: BatchSource
    built: BuiltModel
    objectives: Objectives
    train_metrics: MetricSet
    val_metrics: MetricSet
    optimizer: keras.optimizers.Optimizer
    prediction: PredictionDefinition | None
    steps: Steps
    evaluator_names: list[str] | None = field(default=None)
    """The names the model's evaluator logs (``val_<name>``), or ``None`` without an evaluator."""

    @property
    def keras_model(self) -> keras.Model:
        return self.built.keras_model

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train_source)


def check_params(params: TrainerParams) -> None:
    """Combinations of trainer params that cannot work together."""
    if params.reduce_lr.patience > 0 and params.lr_schedule != "constant":
        raise TrainrigError("trainer.reduce_lr needs trainer.lr_schedule constant (a schedule owns the learning rate)")
    if params.lr_schedule != "constant" and any("learning_rate" in step for step in params.freeze.schedule):
        raise TrainrigError(
            "trainer.freeze.schedule learning_rate needs trainer.lr_schedule constant (a schedule owns the learning rate)"
        )
    if params.devices > 1 and params.strategy != "mirrored":
        raise TrainrigError(
            f"trainer.devices {params.devices} needs trainer.strategy mirrored; with trainer.strategy "
            f"{params.strategy} (one device) trainer.devices must be 0 or 1"
        )
    check_optimization(params)  # optimizer, its options, weight decay, clipping, schedule, warmup
    check_accumulation(params)  # accumulate and precision against the rest


def _sources(
    params: TrainerParams, model: ModelBase, data: DataBase, plugins: PluginManager, context: RunContext
) -> tuple[BatchSource, BatchSource]:
    """The training and validation sources: the model's ``_build_sequences`` over the data's
    sequences, then ``trainer.augmentation``, then the plugins' sequence hooks."""
    data.seed = params.seed

    def build_train(batch_size: int):
        with calling(data, "train_sequence"):
            return data.train_sequence(batch_size)

    def build_validation(batch_size: int):
        with calling(data, "val_sequence"):
            return data.val_sequence(batch_size)

    train, validation = built_sequences(model, build_train, build_validation, params.batch_size)
    train = augmented(train, params.augmentation, plugins, params.seed)
    train = plugged_sequence(plugins, "trainrig_train_sequence", train, context)
    validation = plugged_sequence(plugins, "trainrig_val_sequence", validation, context)
    context.train_sequence = train
    return BatchSource(train, "training", params.steps_per_epoch), BatchSource(validation, "validation")


def set_up(
    params: TrainerParams, model: ModelBase, data: DataBase, plugins: PluginManager, context: RunContext
) -> RunParts:
    """Build the run's parts (``context.strategy`` is set before the sequence hooks run)."""
    check_params(params)
    seed_everything(params.seed, params.deterministic)
    strategy = context.strategy = make_strategy(params.strategy, params.devices)
    train_source, val_source = _sources(params, model, data, plugins, context)
    with strategy.scope():
        built = build_in_precision(params.precision, model, train_source.signature)  # dtype policy, float32 outputs
        objectives = Objectives(model)
        first_batch = check_first_batch(objectives, built.keras_model, train_source.first_batch())
        train_metrics = MetricSet(model, objectives)
        val_metrics = MetricSet(model, objectives)
        optimizer = make_optimizer(params, optimizer_steps_per_epoch(len(train_source), params.accumulate))
        optimizer = loss_scaled(optimizer, params.precision)  # mixed_float16: dynamic loss scaling
        freezing = params.freeze.schedule or params.freeze.strategy != "schedule"
        # With freeze training every variable that may ever train gets its slots now, once.
        optimizer.build(optimizer_variables(built.keras_model) if freezing else built.keras_model.trainable_variables)
    built.keras_model.optimizer = optimizer  # what keras callbacks read as self.model.optimizer
    check_sample_weights(model, train_metrics, first_batch)
    prediction = checked_prediction(model, first_batch, built.keras_model.output)
    evaluator = model_evaluator(model)  # None: validation gathers nothing for it
    steps = _steps(
        params, strategy, built.keras_model, optimizer, objectives, train_metrics, val_metrics, prediction,
        len(train_source), gather_samples=evaluator is not None,
    )
    evaluator_names = None
    if evaluator is not None:  # fed the first validation batch now, so a bad evaluator fails before the first step
        check_gatherable(strategy, _validation_dtypes(val_source, built.keras_model))
        evaluator_names = probe_names(model, evaluator, val_source.first_batch(), steps.predict, val_metrics.names())
    return RunParts(
        strategy=strategy,
        train_source=train_source,
        val_source=val_source,
        built=built,
        objectives=objectives,
        train_metrics=train_metrics,
        val_metrics=val_metrics,
        optimizer=optimizer,
        prediction=prediction,
        steps=steps,
        evaluator_names=evaluator_names,
    )


def _validation_dtypes(val_source: BatchSource, keras_model: keras.Model) -> dict:
    """``{"input 'x'": dtype, "target 'y'": ..., "output 'y_hat'": ...}`` of a validation step."""
    inputs, targets = val_source.signature
    return {
        **{f"input {k!r}": v.dtype for k, v in inputs.items()},
        **{f"target {k!r}": v.dtype for k, v in targets.items()},
        **{f"output {k!r}": v.dtype for k, v in keras_model.output.items()},
    }


def _steps(
    params: TrainerParams, strategy, keras_model, optimizer, objectives, train_metrics, val_metrics, prediction, batches: int,
    gather_samples: bool = False,
) -> Steps:
    accumulation = accumulation_of(params.accumulate, strategy, optimizer, batches)
    return Steps(
        strategy, keras_model, optimizer, objectives, train_metrics, val_metrics, prediction, accumulation, gather_samples
    )


def refit(parts: RunParts, params: TrainerParams) -> None:
    """Adapt the parts to new ``epochs`` / ``steps_per_epoch`` (``ModelBase._fit_model``), before any step:
    the training source's length, the learning-rate schedule and the steps (accumulation groups)."""
    check_params(params)
    source = parts.train_source
    parts.train_source = BatchSource(source.sequence, source.name, params.steps_per_epoch)
    optimizer_steps = optimizer_steps_per_epoch(len(parts.train_source), params.accumulate)
    schedule = learning_rate_schedule(params, optimizer_steps)
    if not isinstance(schedule, (int, float)):  # a constant rate is a variable that does not depend on the run's length
        parts.optimizer.learning_rate = schedule
    parts.steps = _steps(
        params, parts.strategy, parts.keras_model, parts.optimizer, parts.objectives,
        parts.train_metrics, parts.val_metrics, parts.prediction, len(parts.train_source),
        gather_samples=parts.evaluator_names is not None,
    )
