"""Process-wide set-up of a run: seeds, op determinism, the tf.distribute strategy, the optimizer."""

from __future__ import annotations

import math
import random

import keras
import numpy as np
import tensorflow as tf

from trainrig.train.params import TrainerParams


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, numpy, TensorFlow and Keras; with ``deterministic`` also enable op determinism."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def learning_rate_schedule(params: TrainerParams, steps_per_epoch: int):
    """A float, or a keras schedule over optimizer steps (its position is the optimizer's ``iterations``)."""
    if params.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(params.learning_rate, decay_steps=params.epochs * steps_per_epoch)
    if params.lr_schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            params.learning_rate, decay_steps=steps_per_epoch, decay_rate=params.lr_decay_rate
        )
    return params.learning_rate


def make_optimizer(params: TrainerParams, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return classes[params.optimizer](learning_rate=learning_rate_schedule(params, steps_per_epoch))


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    value = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return value if math.isfinite(value) else float("nan")
