"""Built-in plugin: a few numpy augmentations for any array input (``--trainer.augmentation.ops``).

Each factory takes its options as keyword arguments and returns an object with
``random_transform(x, seed)``, ``x`` being one sample without a batch axis.
"""

from __future__ import annotations

import numpy as np

from trainrig.hooks.markers import hookimpl


class GaussianNoise:
    """Adds N(0, stddev^2) noise to every value."""

    def __init__(self, stddev: float = 0.1):
        self.stddev = float(stddev)

    def random_transform(self, x, seed=None):
        x = np.asarray(x)
        return x + np.random.default_rng(seed).normal(0.0, self.stddev, size=x.shape).astype(x.dtype)


class Flip:
    """Mirrors the sample along ``axis`` with probability ``p`` (axis 1 of an HxWxC image: left-right)."""

    def __init__(self, axis: int = 1, p: float = 0.5):
        self.axis, self.p = int(axis), float(p)

    def random_transform(self, x, seed=None):
        return np.flip(x, axis=self.axis) if np.random.default_rng(seed).random() < self.p else np.asarray(x)


class Shift:
    """Shifts the first two axes (an image's height and width) by up to ``max_shift`` positions, zero-filled."""

    def __init__(self, max_shift: int = 1):
        self.max_shift = int(max_shift)

    def random_transform(self, x, seed=None):
        x = np.asarray(x)
        dy, dx = np.random.default_rng(seed).integers(-self.max_shift, self.max_shift + 1, size=2)
        out = np.zeros_like(x)
        h, w = x.shape[0], x.shape[1]
        out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
            max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
        return out


@hookimpl(tryfirst=True)
def trainrig_register_augmentations():
    return {"gaussian_noise": GaussianNoise, "flip": Flip, "shift": Shift}
