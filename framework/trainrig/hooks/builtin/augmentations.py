"""Built-in plugin: the numpy augmentations of :mod:`trainrig.data.array_ops` (``--trainer.augmentation.ops``)."""

from __future__ import annotations

from trainrig.hooks.markers import hookimpl


@hookimpl(tryfirst=True)
def trainrig_register_augmentations():
    from trainrig.data.array_ops import Flip, GaussianNoise, Shift

    return {"gaussian_noise": GaussianNoise, "flip": Flip, "shift": Shift}
