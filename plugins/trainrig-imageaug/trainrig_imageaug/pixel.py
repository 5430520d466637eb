"""Non-geometric ImageDataGenerator-style ops: flips, brightness, channel shift.

Each draws its per-image parameter from the sample's own seed (:mod:`trainrig.data.random_draws`)
in numpy (:meth:`parameters`) and transforms the whole batch in one ``keras.ops`` expression
(:meth:`apply`): eagerly on a numpy batch, or inside a ``tf.data`` graph when trainrig reads the
sequence natively. Images are ``(N, H, W, C)`` or ``(N, H, W)``, any number of channels, any dtype
(brightness and channel shift compute in float32; integer dtypes are rounded and clipped to their
range on the way back).
"""

from __future__ import annotations

import numpy as np

from trainrig.data import random_draws
from trainrig.data.augmentators import BatchAugmentation
from trainrig_imageaug.images import (
    float_images,
    from_float,
    image_batch,
    is_number,
    non_negative,
    pair,
    restore,
    restore_dtype,
    to_float,
)


def _probability(p) -> float:
    if not is_number(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be a number in [0, 1] (the probability of a flip), got {p!r}")
    return float(p)


class _PixelOp(BatchAugmentation):
    """An op with one drawn number per image. :meth:`apply` (``keras.ops``) runs in trainrig's input graph;
    ``random_transform_batch`` runs the same formula in numpy (two to three times faster than eager
    TensorFlow on a batch, and bit-equal: the plugin's tests compare the two paths)."""

    def random_transform_batch(self, x, seeds):
        images, squeezed = image_batch(x, self.name)
        if len(images) == 0:
            return np.asarray(x).copy()
        return restore(self.numpy_apply(images, self.parameters(seeds, images.shape[1:])), squeezed)

    def parameters(self, seeds, sample_shape) -> np.ndarray:
        """``(N, 1)`` float32: each image's drawn number."""
        raise NotImplementedError

    def numpy_apply(self, images: np.ndarray, parameters: np.ndarray) -> np.ndarray:
        """:meth:`apply` in numpy, on ``(N, H, W, C)`` images."""
        raise NotImplementedError

    def apply(self, x, parameters):
        raise NotImplementedError


class _Flip(_PixelOp):
    axis = 0  # of the (N, H, W, C) batch

    def __init__(self, p: float = 0.5):
        self.p = _probability(p)

    def parameters(self, seeds, sample_shape):
        """1 for an image to mirror (probability ``p``, its own draw), 0 otherwise."""
        return (random_draws.uniform(seeds, 0)[:, :1] < self.p).astype(np.float32)

    def numpy_apply(self, images, parameters):
        out = images.copy()
        flipped = np.flatnonzero(parameters[:, 0] > 0.5)
        out[flipped] = np.flip(images[flipped], axis=self.axis)
        return out

    def apply(self, x, parameters):
        """Every image with parameter 1 mirrored; dtype and values unchanged."""
        import keras

        images, added = _channels(x)
        flip = keras.ops.reshape(parameters[:, 0] > 0.5, (-1, 1, 1, 1))
        out = keras.ops.where(flip, keras.ops.flip(images, axis=self.axis), images)
        return out[..., 0] if added else out


def _channels(x):
    import keras

    added = len(x.shape) == 3
    return (keras.ops.expand_dims(x, -1) if added else x), added


class HorizontalFlip(_Flip):
    """Mirrors an image left-right (its columns) with probability ``p`` (default 0.5).

    ImageDataGenerator took ``horizontal_flip=True``; here listing the op enables it.
    """

    name = "horizontal_flip"
    axis = 2


class VerticalFlip(_Flip):
    """Mirrors an image upside down (its rows) with probability ``p`` (default 0.5).

    ImageDataGenerator took ``vertical_flip=True``; here listing the op enables it.
    """

    name = "vertical_flip"
    axis = 1


def _value_range(value_range) -> tuple[float, float]:
    bounds = pair(value_range)
    if bounds is None or not bounds[0] < bounds[1]:
        raise ValueError(f"value_range must be a pair [low, high] with low < high, got {value_range!r}")
    return bounds


class Brightness(_PixelOp):
    """Multiplies every image by a factor uniform in ``brightness_range = [low, high]`` (its own draw) and
    clips the result to ``value_range`` (default ``[0, 255]``, the Keras layers' convention).

    Differences: ``keras.layers.RandomBrightness`` ADDS a delta, this op MULTIPLIES like
    ImageDataGenerator. ImageDataGenerator also went through PIL, which first rescaled every image to
    0..255 by its own min and max and quantised it to 8 bits; this op does neither.
    """

    name = "brightness"

    def __init__(self, brightness_range, value_range=(0.0, 255.0)):
        bounds = pair(brightness_range)
        if bounds is None or not 0 <= bounds[0] <= bounds[1]:
            raise ValueError(
                f"brightness_range must be a pair [low, high] with 0 <= low <= high (factors; 1 keeps the image), "
                f"got {brightness_range!r}"
            )
        self.brightness_range = bounds
        self.value_range = _value_range(value_range)

    def parameters(self, seeds, sample_shape):
        """Each image's factor."""
        return random_draws.uniform(seeds, 0, 1, *self.brightness_range).astype(np.float32)

    def numpy_apply(self, images, parameters):
        out = to_float(images) * parameters.reshape(-1, 1, 1, 1)
        np.clip(out, *self.value_range, out=out)
        return from_float(out, images.dtype)

    def apply(self, x, parameters):
        """``clip(x * factor, *value_range)`` per image."""
        import keras

        images, added = float_images(x)
        out = keras.ops.clip(images * keras.ops.reshape(parameters, (-1, 1, 1, 1)), *self.value_range)
        return restore_dtype(out, x.dtype, added)


class ChannelShift(_PixelOp):
    """Adds one intensity uniform in ``[-channel_shift_range, channel_shift_range]`` (per image, the same
    for every channel) and clips to that image's own ``[min, max]``, as ImageDataGenerator did."""

    name = "channel_shift"

    def __init__(self, channel_shift_range: float):
        self.channel_shift_range = float(
            non_negative(channel_shift_range, "channel_shift_range", " (intensities are uniform in [-r, r])")
        )

    def parameters(self, seeds, sample_shape):
        """Each image's intensity."""
        r = self.channel_shift_range
        return random_draws.uniform(seeds, 0, 1, -r, r).astype(np.float32)

    def numpy_apply(self, images, parameters):
        values = to_float(images)
        low, high = values.min(axis=(1, 2, 3), keepdims=True), values.max(axis=(1, 2, 3), keepdims=True)
        return from_float(np.clip(values + parameters.reshape(-1, 1, 1, 1), low, high), images.dtype)

    def apply(self, x, parameters):
        """``clip(x + intensity, image.min(), image.max())`` per image."""
        import keras

        values, added = float_images(x)
        low = keras.ops.min(values, axis=(1, 2, 3), keepdims=True)
        high = keras.ops.max(values, axis=(1, 2, 3), keepdims=True)
        out = keras.ops.clip(values + keras.ops.reshape(parameters, (-1, 1, 1, 1)), low, high)
        return restore_dtype(out, x.dtype, added)
