"""The built-in augmentations ``gaussian_noise``, ``flip``, ``shift``: numpy, for any array input.

Each factory takes its options as keyword arguments and returns a
:class:`~trainrig.data.augmentation.BatchAugmentation`: one numpy expression per batch, every sample's
draws decided by its own seed. Image ops (rotation, zoom, ... and every Keras augmentation layer) come
from the first-party ``trainrig-imageaug`` plugin.
"""

from __future__ import annotations

import numpy as np

from trainrig.data import random_draws
from trainrig.data.augmentators import BatchAugmentation
from trainrig.errors import TrainrigError


def _at_least_rank(x: np.ndarray, rank: int, op: str, what: str) -> None:
    if x.ndim < rank + 1:
        raise TrainrigError(f"augmentation {op} needs {what}; got one sample of shape {x.shape[1:]}")


class GaussianNoise(BatchAugmentation):
    """Adds N(0, stddev^2) noise to every value."""

    name = "gaussian_noise"

    def __init__(self, stddev: float = 0.1):
        if not stddev >= 0:
            raise ValueError(f"stddev must be >= 0, got {stddev}")
        self.stddev = float(stddev)

    def random_transform_batch(self, x, seeds):
        x = np.asarray(x)
        noise = random_draws.normal(seeds, 0, int(np.prod(x.shape[1:]))).reshape(x.shape)
        return (x + self.stddev * noise).astype(x.dtype)


class Flip(BatchAugmentation):
    """Mirrors a sample along ``axis`` (of the sample, no batch axis) with probability ``p``
    (axis 1 of an HxWxC image: left-right)."""

    name = "flip"

    def __init__(self, axis: int = 1, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.axis, self.p = int(axis), float(p)

    def random_transform_batch(self, x, seeds):
        x = np.asarray(x)
        _at_least_rank(x, self.axis + 1, self.name, f"samples with an axis {self.axis}")
        flip = random_draws.uniform(seeds, 0)[:, 0] < self.p
        return np.where(flip.reshape((-1,) + (1,) * (x.ndim - 1)), np.flip(x, axis=self.axis + 1), x)


class Shift(BatchAugmentation):
    """Shifts the first two axes of a sample (an image's height and width) by up to ``max_shift``
    positions each way, zero-filled; a positive shift moves the content to higher indices."""

    name = "shift"

    def __init__(self, max_shift: int = 1):
        if not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
        self.max_shift = max_shift

    def random_transform_batch(self, x, seeds):
        x = np.asarray(x)
        _at_least_rank(x, 2, self.name, "samples with at least two axes (height, width)")
        m = self.max_shift
        shifts = random_draws.integers(seeds, 0, -m, m, count=2)  # (dy, dx) per sample
        padded = np.pad(x, [(0, 0), (m, m), (m, m)] + [(0, 0)] * (x.ndim - 3))
        h, w = x.shape[1], x.shape[2]
        rows = (np.arange(h)[None, :] + m - shifts[:, :1])[:, :, None]  # (B, h, 1)
        cols = (np.arange(w)[None, :] + m - shifts[:, 1:])[:, None, :]  # (B, 1, w)
        return padded[np.arange(len(x))[:, None, None], rows, cols]
