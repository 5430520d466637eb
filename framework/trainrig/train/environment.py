"""Process-wide set-up of a run: seeds, op determinism; the current learning rate.

The tf.distribute strategy is made in :mod:`trainrig.train.distribution`; the optimizer and its
learning-rate schedule in :mod:`trainrig.train.optimizer` and :mod:`trainrig.train.schedules`.
"""

from __future__ import annotations

import math
import random

import keras
import numpy as np
import tensorflow as tf


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, numpy, TensorFlow and Keras; with ``deterministic`` also enable op determinism."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The optimizer's learning rate now: its schedule's value at its ``iterations`` (NaN if not finite)."""
    value = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return value if math.isfinite(value) else float("nan")


def learning_rate_schedule_of(optimizer: keras.optimizers.Optimizer):
    """The optimizer's ``LearningRateSchedule`` (through a loss-scale wrapper), or ``None`` for a fixed rate."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = getattr(inner, "_learning_rate", None)
    return rate if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) else None
