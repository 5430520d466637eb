"""Helpers shared by the ops: image batch checks, dtype round trips, option validation.

The numpy helpers import no TensorFlow; :func:`float_images` and :func:`restore_dtype` are their
``keras.ops`` counterparts for :meth:`apply` (eager on numpy batches, or inside a ``tf.data`` graph).
"""

from __future__ import annotations

import math

import numpy as np

from trainrig.errors import TrainrigError


def image_batch(x, op: str) -> tuple[np.ndarray, bool]:
    """``x`` as an ``(N, H, W, C)`` array and whether a channel axis was added (``(N, H, W)`` input).

    Anything else is a :class:`trainrig.TrainrigError` naming the op ``op``.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        return x[..., np.newaxis], True
    if x.ndim == 4:
        return x, False
    raise TrainrigError(
        f"augmentation {op} needs image batches (N, H, W, C) or (N, H, W); "
        f"got samples of shape {tuple(x.shape[1:]) if x.ndim else ()}"
    )


def restore(images: np.ndarray, squeezed: bool) -> np.ndarray:
    """Undo :func:`image_batch`'s added channel axis."""
    return images[..., 0] if squeezed else images


def to_float(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 (no copy when it already is)."""
    return x.astype(np.float32, copy=False)


def from_float(y: np.ndarray, dtype) -> np.ndarray:
    """Float results back to ``dtype``: integer dtypes are rounded and clipped to their range."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(dtype)
    if dtype.kind == "b":
        return np.rint(y).astype(dtype)
    return y.astype(dtype, copy=False)


def is_number(value) -> bool:
    """A finite int or float (``bool`` is not a number here)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) and (
        math.isfinite(value)
    )


def non_negative(value, option: str, hint: str = "") -> float:
    """``value`` checked to be a finite number >= 0 (``ValueError`` naming ``option`` otherwise)."""
    if not is_number(value) or value < 0:
        raise ValueError(f"{option} must be a number >= 0{hint}, got {value!r}")
    return value


def pair(value) -> tuple[float, float] | None:
    """``value`` as a pair of finite floats, or ``None`` when it is not one (the caller explains what is valid)."""
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2 and all(is_number(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def float_images(x):
    """``(images as float32 (N, H, W, C), added channel axis?)`` of a numpy array or tensor (``keras.ops``)."""
    import keras

    added = len(x.shape) == 3
    images = keras.ops.expand_dims(x, -1) if added else x
    return keras.ops.cast(images, "float32"), added


def restore_dtype(y, dtype, added: bool):
    """:func:`from_float` and :func:`restore` in ``keras.ops``: ``y`` back to ``dtype`` (integers rounded
    and clipped to their range) without the added channel axis."""
    import keras

    dtype = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))  # a numpy dtype, or a tensor's tf.DType
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        y = keras.ops.clip(keras.ops.round(y), float(info.min), float(info.max))
    elif dtype.kind == "b":
        y = keras.ops.round(y)
    y = keras.ops.cast(y, dtype.name)
    return y[..., 0] if added else y
