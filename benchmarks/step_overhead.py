"""2. trainrig's training step against the floor: a bare ``tf.function`` step over the same graph.

trainrig side: the MLP of ``fit_vs_keras`` trained by a default ``Trainer`` run; per epoch the time
from ``on_epoch_begin`` to ``on_test_begin`` of a timer callback (its training part: reading batches,
steps, metric updates, batch callbacks) divided by the number of batches. Bare side: the same Keras
graph, a fresh Adam and the same batches as a pre-built list of tensors; a ``tf.function`` step
(forward, loss, ``tape.gradient``, ``optimizer.apply``) called once per batch from Python, timed per
epoch and divided by the number of batches. Both: the mean over the epochs after the first (tracing);
6 epochs (tiny: 2). Ratio trainrig / bare per repetition, the sides interleaved.
"""

from __future__ import annotations

import math
import time

from benchmarks.common import Row, compared, interleave, steady_mean

NAME = "step_overhead"
DESCRIPTION = "time per training step: trainrig's loop vs a bare tf.function step over the same MLP and batches"

EPOCHS = {"full": 6, "tiny": 2}


def run(size: str, repeats: int) -> list[Row]:
    from benchmarks import keras_side as k

    train, validation = k.mlp_data(size)
    epochs = EPOCHS[size]
    sides = {
        "trainrig": lambda: trainrig_step_ms(train, validation, epochs),
        "bare tf.function": lambda: bare_step_ms(train, epochs),
    }
    case = f"MLP {len(train[0]):,} x {k.MLP_FEATURES}, batch {k.MLP_BATCH}"
    return compared(NAME, case, "training step", "ms", interleave(sides, repeats), baseline="bare tf.function")


def trainrig_step_ms(train, validation, epochs: int) -> float:
    """Milliseconds per batch of the training part of a trainrig epoch (mean after the first epoch)."""
    from benchmarks import keras_side as k
    from benchmarks import trainrig_side as t

    timer = t.timed_train(t.MLPModel(), t.ArrayData(train, validation), epochs, k.MLP_BATCH)
    return 1e3 * steady_mean(timer.training_times()) / math.ceil(len(train[0]) / k.MLP_BATCH)


def bare_step_ms(train, epochs: int) -> float:
    """Milliseconds per batch of a bare tf.function step over pre-built batches (mean after the first epoch)."""
    import keras
    import tensorflow as tf

    from benchmarks import keras_side as k

    x, y = train
    batches = [(tf.constant(x[i : i + k.MLP_BATCH]), tf.constant(y[i : i + k.MLP_BATCH])) for i in range(0, len(x), k.MLP_BATCH)]
    model, optimizer = k.mlp(), keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    loss_of = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    signature = [tf.TensorSpec((None, k.MLP_FEATURES), tf.float32), tf.TensorSpec((None,), tf.int32)]

    @tf.function(input_signature=signature)
    def step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_of(labels, model(inputs, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    per_epoch = []
    for _ in range(epochs):
        started = time.perf_counter()
        for inputs, labels in batches:
            loss = step(inputs, labels)
        float(loss)  # the last step has finished
        per_epoch.append(time.perf_counter() - started)
    return 1e3 * steady_mean(per_epoch) / len(batches)
