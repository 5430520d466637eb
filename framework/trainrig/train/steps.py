"""The compiled train, eval and predict steps, run through ``strategy.run`` for every strategy.

Keras' ``Model.fit`` is not used: under ``MultiWorkerMirroredStrategy`` it fails in Keras 3 (keras
issue 20585), while a ``tf.function`` step over Keras layers, optimizer and metrics run with
``strategy.run`` works under every strategy. ``steps_per_execution`` steps run inside one call.

With several replicas every global batch is split into one share per replica; a share may be
smaller than the others or empty (a batch of fewer rows than replicas). A replica's share of the
loss is weighted by its rows over the rows of the whole step (an all-reduce), so training on any
split gives the gradient one device gets from the whole batch, and empty shares add nothing to the
losses, metrics or the gathered predictions (see :mod:`trainrig.model.objectives`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainrig.model.objectives import MetricSet, Objectives, batch_rows


def _owned(batch):
    """The batch copied into buffers of its own (``DeepCopy``); used only with several replicas.

    A replica's share of a batch can alias the numpy arrays the sequence yielded (``ArraySequence``
    yields views of the user's arrays); TensorFlow may then write an op's output into that buffer in
    place, which was seen to overwrite the user's validation arrays now and then with 2 replicas on CPU.
    """
    return tf.nest.map_structure(lambda t: tf.raw_ops.DeepCopy(x=t), batch)


class Steps:
    """Holds the traced step functions of one run; retrace with :meth:`retrace` after freezing layers."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        keras_model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        objectives: Objectives,
        train_metrics: MetricSet,
        val_metrics: MetricSet,
        prediction=None,
    ):
        self.strategy = strategy
        self.keras_model = keras_model
        self.optimizer = optimizer
        self.objectives = objectives
        self.train_metrics = train_metrics
        self.val_metrics = val_metrics
        self.prediction = prediction  # a PredictionDefinition: gather its target and output in validation
        self.retrace()

    def retrace(self) -> None:
        """(Re)create the tf.functions; the trainable variables are captured when they are traced."""
        self._train = tf.function(self._train_execution)
        self._eval = tf.function(self._eval_execution)
        self._predict = tf.function(self._predict_batch, reduce_retracing=True)

    # --- one replica's work ----------------------------------------------------------------------

    def _train_step(self, batch):
        model = self.keras_model
        replicas = self.strategy.num_replicas_in_sync
        inputs, targets = _owned(batch) if replicas > 1 else batch
        rows = global_rows = None
        if replicas > 1:
            rows = batch_rows(inputs, targets)
            global_rows = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, rows)
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            regularization = model.losses
            losses = self.objectives.losses(inputs, targets, outputs, regularization)
            # The optimizer sums gradients over replicas: weight each replica's share by its rows.
            objective = self.objectives.replica_objective(losses, regularization, rows, global_rows, replicas)
        variables = model.trainable_variables
        gradients = tape.gradient(objective, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        self.train_metrics.update(inputs, targets, outputs, losses)

    def _eval_step(self, batch):
        inputs, targets = _owned(batch) if self.strategy.num_replicas_in_sync > 1 else batch
        outputs = self.keras_model(inputs, training=False)
        losses = self.objectives.losses(inputs, targets, outputs, self.keras_model.losses)
        self.val_metrics.update(inputs, targets, outputs, losses)
        if self.prediction is not None:
            p = self.prediction
            y_true = tf.cast(targets[p.target], tf.float64)
            weight = {**inputs, **targets}[p.weight] if p.weight else tf.ones(tf.shape(y_true)[:1])
            return y_true, tf.cast(outputs[p.output], tf.float64), tf.reshape(tf.cast(weight, tf.float64), [-1])
        return None

    # --- executions of several steps ------------------------------------------------------------

    def _train_execution(self, iterator, steps):
        for _ in tf.range(steps):
            self.strategy.run(self._train_step, args=(next(iterator),))

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

    def _predict_batch(self, inputs):
        return self.keras_model(inputs, training=False)

    # --- what the loop calls --------------------------------------------------------------------

    def train(self, iterator, steps: int) -> None:
        self._train(iterator, tf.constant(steps, dtype=tf.int32))

    def evaluate(self, iterator, steps: int):
        """Run ``steps`` validation steps; with a prediction declared, return ``(y_true, y_pred, weight)`` as numpy."""
        gathered = self._eval(iterator, tf.constant(steps, dtype=tf.int32))
        if gathered is None:
            return None
        return tuple(g.numpy() for g in gathered)

    def predict(self, inputs: dict):
        return self._predict(inputs)
