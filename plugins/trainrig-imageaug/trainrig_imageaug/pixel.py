"""Non-geometric ImageDataGenerator-style ops: flips, brightness, channel shift.

Each is one vectorised numpy expression over the batch, every draw taken from the sample's own seed
(:mod:`trainrig.data.random_draws`). Images are ``(N, H, W, C)`` or ``(N, H, W)``, any number of
channels, any dtype (brightness and channel shift compute in float32; integer dtypes are rounded and
clipped to their range on the way back).
"""

from __future__ import annotations

import numpy as np

from trainrig.data import random_draws
from trainrig.data.augmentators import BatchAugmentation
from trainrig_imageaug.images import from_float, image_batch, is_number, non_negative, pair, restore, to_float


def _probability(p) -> float:
    if not is_number(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be a number in [0, 1] (the probability of a flip), got {p!r}")
    return float(p)


class _Flip(BatchAugmentation):
    axis = 0  # of the (N, H, W, C) batch

    def __init__(self, p: float = 0.5):
        self.p = _probability(p)

    def random_transform_batch(self, x, seeds):
        """Every image mirrored with probability ``p`` (its own draw); dtype and values unchanged."""
        images, squeezed = image_batch(x, self.name)
        flipped = np.flatnonzero(random_draws.uniform(seeds, 0)[:, 0] < self.p)
        out = images.copy()
        out[flipped] = np.flip(images[flipped], axis=self.axis)
        return restore(out, squeezed)


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


class Brightness(BatchAugmentation):
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

    def random_transform_batch(self, x, seeds):
        """``clip(x * factor, *value_range)`` per image."""
        images, squeezed = image_batch(x, self.name)
        factors = random_draws.uniform(seeds, 0, 1, *self.brightness_range).astype(np.float32)
        out = to_float(images) * factors.reshape(-1, 1, 1, 1)
        np.clip(out, *self.value_range, out=out)
        return restore(from_float(out, images.dtype), squeezed)


class ChannelShift(BatchAugmentation):
    """Adds one intensity uniform in ``[-channel_shift_range, channel_shift_range]`` (per image, the same
    for every channel) and clips to that image's own ``[min, max]``, as ImageDataGenerator did."""

    name = "channel_shift"

    def __init__(self, channel_shift_range: float):
        self.channel_shift_range = float(
            non_negative(channel_shift_range, "channel_shift_range", " (intensities are uniform in [-r, r])")
        )

    def random_transform_batch(self, x, seeds):
        """``clip(x + intensity, image.min(), image.max())`` per image."""
        images, squeezed = image_batch(x, self.name)
        r = self.channel_shift_range
        shifts = random_draws.uniform(seeds, 0, 1, -r, r).astype(np.float32).reshape(-1, 1, 1, 1)
        values = to_float(images)
        low, high = values.min(axis=(1, 2, 3), keepdims=True), values.max(axis=(1, 2, 3), keepdims=True)
        out = np.clip(values + shifts, low, high)
        return restore(from_float(out, images.dtype), squeezed)
