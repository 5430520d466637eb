"""trainrig-imageaug: image augmentations for ``--trainer.augmentation.ops``.

Installed, the plugin ``imageaug`` registers:

- ImageDataGenerator-style ops (:mod:`trainrig_imageaug.geometric`, :mod:`trainrig_imageaug.pixel`):
  ``rotation``, ``width_shift``, ``height_shift``, ``shear``, ``zoom`` (neighbours fuse into one
  affine warp per batch), ``horizontal_flip``, ``vertical_flip``, ``brightness``, ``channel_shift``;
  every sample's draws come from its own seed;
- ``keras.<LayerName>`` for every Keras image augmentation layer (:mod:`trainrig_imageaug.keras_layers`),
  seeded per batch.

Importing this package imports no TensorFlow; the names below load their module on first access.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "AffineWarp": "trainrig_imageaug.geometric",
    "GeometricOp": "trainrig_imageaug.geometric",
    "Rotation": "trainrig_imageaug.geometric",
    "WidthShift": "trainrig_imageaug.geometric",
    "HeightShift": "trainrig_imageaug.geometric",
    "Shear": "trainrig_imageaug.geometric",
    "Zoom": "trainrig_imageaug.geometric",
    "warp": "trainrig_imageaug.geometric",
    "HorizontalFlip": "trainrig_imageaug.pixel",
    "VerticalFlip": "trainrig_imageaug.pixel",
    "Brightness": "trainrig_imageaug.pixel",
    "ChannelShift": "trainrig_imageaug.pixel",
    "KerasLayerAugmentation": "trainrig_imageaug.keras_layers",
    "EXCLUDED_LAYERS": "trainrig_imageaug.keras_layers",
    "augmentations": "trainrig_imageaug.registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    """The public names, imported from their module on first access (they need Keras)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trainrig_imageaug' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
