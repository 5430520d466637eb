"""The compiled train, eval and predict steps, run through ``strategy.run`` for every strategy.

Keras' ``Model.fit`` is not used: under ``MultiWorkerMirroredStrategy`` it fails in Keras 3 (keras
issue 20585), while a ``tf.function`` step over Keras layers, optimizer and metrics run with
``strategy.run`` works under every strategy. ``steps_per_execution`` steps run inside one call.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainrig.model.objectives import TOTAL_LOSS, MetricSet, Objectives


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
        inputs, targets = batch
        model = self.keras_model
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            losses = self.objectives.losses(inputs, targets, outputs, model.losses)
            # The optimizer sums gradients over replicas: scale so the sum is the mean.
            scaled = losses[TOTAL_LOSS] / self.strategy.num_replicas_in_sync
        variables = model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        self.train_metrics.update(inputs, targets, outputs, losses)

    def _eval_step(self, batch):
        inputs, targets = batch
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
