"""Process-wide set-up of a run: seeds, op determinism, the tf.distribute strategy; the current learning rate.

The optimizer and its learning-rate schedule are in :mod:`trainrig.train.optimizer` and
:mod:`trainrig.train.schedules`.
"""

from __future__ import annotations

import math
import random

import keras
import numpy as np
import tensorflow as tf

from trainrig.errors import TrainrigError


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, numpy, TensorFlow and Keras; with ``deterministic`` also enable op determinism."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def make_strategy(name: str, devices: int = 0) -> tf.distribute.Strategy:
    """The tf.distribute strategy of a run (``trainer.strategy``, ``trainer.devices``).

    ``default`` is TensorFlow's default strategy (one device). ``mirrored`` is a MirroredStrategy over
    the first ``devices`` GPUs when there are GPUs, else over ``devices`` logical CPU devices (the
    physical CPU split with ``tf.config.set_logical_device_configuration``, which must happen before
    TensorFlow's runtime is initialised); ``devices`` 0 means all local GPUs, or the one CPU.
    """
    if name != "mirrored":
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=mirrored_devices(devices))


def mirrored_devices(devices: int) -> list[str]:
    """The device names a MirroredStrategy with ``trainer.devices`` = ``devices`` replicates over."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if devices > len(gpus):
            raise TrainrigError(
                f"trainer.devices is {devices} but this machine has {len(gpus)} GPU(s); use at most {len(gpus)} "
                "(0 = all GPUs)"
            )
        names = [d.name for d in tf.config.list_logical_devices("GPU")]
        return names[:devices] if devices > 0 else names
    if devices > 1:
        _split_cpu(devices)
        return [d.name for d in tf.config.list_logical_devices("CPU")]
    return ["/device:CPU:0"]


def _split_cpu(devices: int) -> None:
    """Configure ``devices`` logical CPU devices, or fail if TensorFlow already runs with another count."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])
    except RuntimeError:  # the runtime is initialised; fine if it already has exactly this many CPU devices
        count = len(tf.config.list_logical_devices("CPU"))
        if count != devices:
            raise TrainrigError(
                f"trainer.devices is {devices}, but TensorFlow was already initialised in this process with {count} "
                f"logical CPU device(s) and cannot be split any more; start a fresh process (set up nothing in "
                f"TensorFlow before the Trainer), or use trainer.devices {count}"
            ) from None


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The optimizer's learning rate now: its schedule's value at its ``iterations`` (NaN if not finite)."""
    value = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return value if math.isfinite(value) else float("nan")


def learning_rate_schedule_of(optimizer: keras.optimizers.Optimizer):
    """The optimizer's ``LearningRateSchedule`` (through a loss-scale wrapper), or ``None`` for a fixed rate."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = getattr(inner, "_learning_rate", None)
    return rate if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) else None
