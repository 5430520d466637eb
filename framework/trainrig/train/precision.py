"""Mixed precision (``trainer.precision``): Keras dtype policies, float32 outputs, dynamic loss scaling.

``mixed_float16`` and ``mixed_bfloat16`` are Keras' dtype policies: layers compute in float16 or
bfloat16 and keep their variables in float32. The policy is set only while the model's graph is
built (layers take the global policy when they are created) and restored afterwards, so one process
can run several trainers of different precisions; the layers keep theirs in exports.

Every floating output of a mixed-precision model is cast to float32 by a float32 ``Activation("linear")``
layer appended to the graph, so losses, metrics, the metric suite, printed samples, TensorBoard and
exported graphs (``.keras`` and SavedModel) see float32. ``mixed_float16`` wraps the optimizer in
``keras.optimizers.LossScaleOptimizer`` (the loss is multiplied by a dynamic scale before the
gradients are taken, and they are divided by it before they are applied; a step with non-finite
gradients is skipped, does not count as an optimizer step, and halves the scale). The scale and its
step counter are optimizer variables, saved with every checkpoint.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import keras
import tensorflow as tf

from trainrig.model.base import ModelBase
from trainrig.train.build import BuiltModel, build_model

_LOW = ("float16", "bfloat16")


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy set to ``name`` for the ``with`` block; the previous one restored after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_in_precision(precision: str, model: ModelBase, signature: tuple[dict, dict]) -> BuiltModel:
    """:func:`~trainrig.train.build.build_model` under the dtype policy ``precision``, outputs cast to float32."""
    with dtype_policy(precision):
        built = build_model(model, signature)
    if precision == "float32":
        return built
    return _float32_outputs(built)


def _float32_outputs(built: BuiltModel) -> BuiltModel:
    """The model with every float16/bfloat16 output cast to float32 by a float32 identity layer."""
    taken = {layer.name for layer in built.keras_model.layers}  # names must be unique among these
    outputs = {}
    for name, tensor in built.outputs.items():
        if keras.backend.standardize_dtype(tensor.dtype) not in _LOW:
            outputs[name] = tensor
            continue
        layer_name = base = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}_float32"
        count = 1
        while layer_name in taken:
            count += 1
            layer_name = f"{base}_{count}"
        taken.add(layer_name)
        outputs[name] = keras.layers.Activation("linear", dtype="float32", name=layer_name)(tensor)
    if all(outputs[name] is tensor for name, tensor in built.outputs.items()):
        return built  # the graph's outputs are float32 already
    keras_model = keras.Model(inputs=built.inputs, outputs=outputs, name=built.keras_model.name)
    return BuiltModel(keras_model=keras_model, inputs=built.inputs, outputs=outputs, targets=built.targets)


def loss_scaled(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a dynamic ``LossScaleOptimizer`` for ``mixed_float16``, else itself."""
    if precision != "mixed_float16":
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def scales_loss(optimizer: keras.optimizers.Optimizer) -> bool:
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def non_finite_everywhere(gradients: list) -> list:
    """(In a replica.) Every replica's gradients made non-finite when any replica's are.

    Keras' ``LossScaleOptimizer`` decides whether to skip a step from the first replica's gradients
    alone, before the optimizer sums them over the replicas; an overflow on another replica would
    reach the weights. A scalar all-reduce makes the decision every replica's (a no-op ``x * 1`` on
    the gradients when all are finite).
    """
    values = [g.values if isinstance(g, tf.IndexedSlices) else g for g in gradients]
    finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in values]))
    bad = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    factor = tf.where(bad > 0, float("nan"), 1.0)
    return [_times(g, factor) for g in gradients]


def _times(g, factor):
    if isinstance(g, tf.IndexedSlices):
        return tf.IndexedSlices(g.values * tf.cast(factor, g.dtype), g.indices, g.dense_shape)
    return g * tf.cast(factor, g.dtype)
