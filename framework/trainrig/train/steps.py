"""The compiled train, eval and predict steps, run through ``strategy.run`` for every strategy.

Keras' ``Model.fit`` is not used: under ``MultiWorkerMirroredStrategy`` it fails in Keras 3 (keras
issue 20585), while a ``tf.function`` step over Keras layers, optimizer and metrics run with
``strategy.run`` works under every strategy. ``steps_per_execution`` steps run inside one call.

With several replicas every global batch is split into one share per replica; a share may be
smaller than the others or empty (a batch of fewer rows than replicas). A replica's share of the
loss is weighted by its rows over the rows of the whole step (an all-reduce), so training on any
split gives the gradient one device gets from the whole batch, and empty shares add nothing to the
losses, metrics or the gathered predictions (see :mod:`trainrig.model.objectives`). For a model
evaluator validation also gathers every row's inputs, targets and outputs (:class:`Evaluated`).

With ``trainer.accumulate`` N > 1 a batch adds its gradients to the accumulators of an
:class:`~trainrig.train.accumulation.Accumulation` and the optimizer steps once per group of N batches
(see that module); with N = 1 the step is the plain one above, with no accumulator. With
``trainer.precision mixed_float16`` the objective is multiplied by the optimizer's loss scale (see
:mod:`trainrig.train.precision`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from trainrig.errors import TrainrigError
from trainrig.model.objectives import MetricSet, Objectives, batch_rows
from trainrig.train.accumulation import Accumulation
from trainrig.train.precision import non_finite_everywhere, scales_loss


def _owned(batch):
    """The batch copied into buffers of its own (``DeepCopy``); used only with several replicas.

    A replica's share of a batch can alias the numpy arrays the sequence yielded (``ArraySequence``
    yields views of the user's arrays); TensorFlow may then write an op's output into that buffer in
    place, which was seen to overwrite the user's validation arrays now and then with 2 replicas on CPU.
    """
    return tf.nest.map_structure(lambda t: tf.raw_ops.DeepCopy(x=t), batch)


# The dtypes TensorFlow's all-gather collective takes; narrower ones are widened for it and back.
_COLLECTIVE_DTYPES = (tf.float16, tf.float32, tf.float64, tf.int32, tf.int64)
_WIDER = {tf.bool: tf.int32, tf.int8: tf.int32, tf.uint8: tf.int32, tf.int16: tf.int32, tf.uint16: tf.int32,
          tf.uint32: tf.int64, tf.bfloat16: tf.float32}


def check_gatherable(strategy: tf.distribute.Strategy, dtypes: dict[str, Any]) -> None:
    """With several workers, the evaluator's rows are gathered by a collective: ``dtypes`` (``{"target 'y'":
    dtype}`` of the validation inputs, targets and outputs) must be ones it can take (numbers, booleans)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    for what, dtype in dtypes.items():
        dtype = tf.as_dtype(dtype)
        if dtype not in _COLLECTIVE_DTYPES and dtype not in _WIDER:
            raise TrainrigError(
                f"the model's evaluator needs every validation row on every worker, and TensorFlow cannot gather the "
                f"{dtype.name} {what} across workers; with trainer.strategy multi_worker an evaluator needs inputs, "
                "targets and outputs of numbers or booleans (or trainer.strategy mirrored)"
            )


def _gathered_across_workers(strategy: tf.distribute.Strategy, value):
    """Every replica's share of ``value`` on every worker (a collective; see :func:`check_gatherable`)."""
    dtype = value.dtype
    if dtype in _WIDER:
        return tf.cast(strategy.gather(tf.cast(value, _WIDER[dtype]), axis=0), dtype)
    return strategy.gather(value, axis=0)


class Pass(NamedTuple):
    """One replica's forward and backward pass over its share of a batch."""

    inputs: dict
    targets: dict
    outputs: dict
    losses: dict
    gradients: list  # of the variables below: those that got a gradient
    variables: list
    step_rows: Any  # the batch's rows over all replicas; None on one replica unless asked for


class Evaluated(NamedTuple):
    """What validation steps gathered over all replicas, as numpy.

    ``predictions``: ``(y_true, y_pred, weight)`` of the model's prediction (``None`` without one);
    ``samples``: ``(inputs, targets, outputs)`` of every step, only for a model evaluator (else empty).
    """

    predictions: tuple | None
    samples: list


class Steps:
    """Holds the traced step functions of one run; retrace with :meth:`retrace` after freezing layers.

    ``gather_samples``: validation also gathers every row's inputs, targets and outputs, one step per
    call, for the model's evaluator (:mod:`trainrig.train.evaluator`).
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        keras_model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        objectives: Objectives,
        train_metrics: MetricSet,
        val_metrics: MetricSet,
        prediction=None,
        accumulation: Accumulation | None = None,
        gather_samples: bool = False,
    ):
        self.strategy = strategy
        self.keras_model = keras_model
        self.optimizer = optimizer
        self.objectives = objectives
        self.train_metrics = train_metrics
        self.val_metrics = val_metrics
        self.prediction = prediction  # a PredictionDefinition: gather its target and output in validation
        self.accumulation = accumulation
        self.gather_samples = gather_samples
        self.loss_scaling = scales_loss(optimizer)
        self._accumulated: list = []  # the variables the traced accumulating step gives gradients to
        self.retrace()

    def retrace(self) -> None:
        """(Re)create the tf.functions; the trainable variables are captured when they are traced."""
        self._train = tf.function(self._train_execution if self.accumulation is None else self._accumulating_execution)
        self._eval = tf.function(self._eval_execution)
        self._eval_gathering = tf.function(self._eval_gathering_execution)
        self._predict = tf.function(self._predict_batch, reduce_retracing=True)

    # --- one replica's work ----------------------------------------------------------------------

    def _pass(self, batch, weigh_by_rows: bool = False) -> Pass:
        """Forward and backward pass of one replica's share (``weigh_by_rows``: count the rows on one replica too)."""
        model = self.keras_model
        replicas = self.strategy.num_replicas_in_sync
        inputs, targets = _owned(batch) if replicas > 1 else batch
        rows = global_rows = None
        if replicas > 1:
            rows = batch_rows(inputs, targets)
            global_rows = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, rows)
        elif weigh_by_rows:
            global_rows = batch_rows(inputs, targets)
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            regularization = model.losses
            losses = self.objectives.losses(inputs, targets, outputs, regularization)
            # The optimizer sums gradients over replicas: weight each replica's share by its rows.
            objective = self.objectives.replica_objective(losses, regularization, rows, global_rows, replicas)
            if self.loss_scaling:
                objective = self.optimizer.scale_loss(objective)
        variables = model.trainable_variables
        gradients = tape.gradient(objective, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        return Pass(inputs, targets, outputs, losses, [g for g, _ in pairs], [v for _, v in pairs], global_rows)

    def _apply(self, gradients: list, variables: list) -> None:
        """One optimizer step (mixed_float16 on several replicas: skipped on all when any overflowed)."""
        if self.loss_scaling and self.strategy.num_replicas_in_sync > 1:
            gradients = non_finite_everywhere(gradients)
        self.optimizer.apply(gradients, variables)

    def _train_step(self, batch):
        p = self._pass(batch)
        self._apply(p.gradients, p.variables)
        self.train_metrics.update(p.inputs, p.targets, p.outputs, p.losses)

    def _accumulate_step(self, batch):
        """Add the batch's gradients to the accumulators (trainer.accumulate > 1); no optimizer step."""
        p = self._pass(batch, weigh_by_rows=True)
        self._accumulated = p.variables  # (at trace time) what the optimizer step of this trace applies to
        self.accumulation.add(p.gradients, p.variables, p.step_rows)
        self.train_metrics.update(p.inputs, p.targets, p.outputs, p.losses)

    def _optimizer_step(self):
        """The optimizer step of a complete group of batches: their mean gradient, then cleared."""
        self.accumulation.apply(self._apply, self._accumulated)

    def _eval_step(self, batch, samples: bool = False):
        """Update the validation metrics; return the prediction's values (or ``None``), and with
        ``samples`` a dict of them (if any) and of this share's ``(inputs, targets, outputs)``."""
        inputs, targets = _owned(batch) if self.strategy.num_replicas_in_sync > 1 else batch
        outputs = self.keras_model(inputs, training=False)
        losses = self.objectives.losses(inputs, targets, outputs, self.keras_model.losses)
        self.val_metrics.update(inputs, targets, outputs, losses)
        prediction = None
        if self.prediction is not None:
            p = self.prediction
            y_true = tf.cast(targets[p.target], tf.float64)
            weight = {**inputs, **targets}[p.weight] if p.weight else tf.ones(tf.shape(y_true)[:1])
            prediction = y_true, tf.cast(outputs[p.output], tf.float64), tf.reshape(tf.cast(weight, tf.float64), [-1])
        if not samples:
            return prediction
        values = {"samples": (inputs, targets, outputs)}
        if prediction is not None:
            values["prediction"] = prediction
        return values

    # --- executions of several steps ------------------------------------------------------------

    def _train_execution(self, iterator, steps):
        for _ in tf.range(steps):
            self.strategy.run(self._train_step, args=(next(iterator),))

    def _accumulating_execution(self, iterator, steps):
        for _ in tf.range(steps):
            self.strategy.run(self._accumulate_step, args=(next(iterator),))
            if self.accumulation.batch_done():  # across replicas: a cond in a replica may not merge_call
                self.strategy.run(self._optimizer_step)

    def _eval_execution(self, iterator, steps):
        if self.prediction is None:
            for _ in tf.range(steps):
                self.strategy.run(self._eval_step, args=(next(iterator),))
            return None
        # Gather the prediction's target and output of every step (all replicas) for the metric suite.
        arrays = [tf.TensorArray(tf.float64, size=0, dynamic_size=True, infer_shape=False) for _ in range(3)]
        for i in tf.range(steps):
            values = self.strategy.run(self._eval_step, args=(next(iterator),))
            arrays = [a.write(i, self.strategy.gather(v, axis=0)) for a, v in zip(arrays, values)]
        return tuple(a.concat() for a in arrays)

    def _eval_gathering_execution(self, iterator):
        """One validation step (one per call: batches may differ in shape beyond the rows): its
        prediction values gathered over the replicas, and every share's inputs, targets and outputs.

        The shares stay per replica (the caller joins this process's replicas' shares in numpy, which
        works for every dtype, strings included); only across the workers of a multi-worker run are they
        gathered here, by a collective (see :func:`_gathered_across_workers`).
        """
        values = self.strategy.run(self._eval_step, args=(next(iterator),), kwargs={"samples": True})
        if "prediction" in values:
            values["prediction"] = tuple(self.strategy.gather(v, axis=0) for v in values["prediction"])
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            values["samples"] = tf.nest.map_structure(lambda v: _gathered_across_workers(self.strategy, v), values["samples"])
        return values

    def _predict_batch(self, inputs):
        return self.keras_model(inputs, training=False)

    # --- what the loop calls --------------------------------------------------------------------

    def train(self, iterator, steps: int) -> None:
        self._train(iterator, tf.constant(steps, dtype=tf.int32))

    def evaluate(self, iterator, steps: int) -> Evaluated:
        """Run ``steps`` validation steps; return what they gathered (see :class:`Evaluated`)."""
        if self.gather_samples:
            return self._evaluate_gathering(iterator, steps)
        gathered = self._eval(iterator, tf.constant(steps, dtype=tf.int32))
        return Evaluated(None if gathered is None else tuple(g.numpy() for g in gathered), [])

    def _evaluate_gathering(self, iterator, steps: int) -> Evaluated:
        predictions, samples = [], []
        for _ in range(steps):
            values = tf.nest.map_structure(self._local_rows, self._eval_gathering(iterator))
            samples.append(values["samples"])
            if "prediction" in values:
                predictions.append(values["prediction"])
        joined = tuple(np.concatenate(p) for p in zip(*predictions)) if predictions else None
        return Evaluated(joined, samples)

    def _local_rows(self, value) -> np.ndarray:
        """The rows of a (per-replica) value of this process's replicas, joined in replica order (the data's)."""
        parts = [t.numpy() for t in self.strategy.experimental_local_results(value)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def predict(self, inputs: dict):
        return self._predict(inputs)
