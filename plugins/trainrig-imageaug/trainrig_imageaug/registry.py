"""The augmentations the plugin registers: ``{name: factory}``. Importing this module imports Keras."""

from __future__ import annotations

from trainrig_imageaug.geometric import HeightShift, Rotation, Shear, WidthShift, Zoom
from trainrig_imageaug.keras_layers import layer_augmentations
from trainrig_imageaug.pixel import Brightness, ChannelShift, HorizontalFlip, VerticalFlip

IMAGE_OPS = {
    "rotation": Rotation,
    "width_shift": WidthShift,
    "height_shift": HeightShift,
    "shear": Shear,
    "zoom": Zoom,
    "horizontal_flip": HorizontalFlip,
    "vertical_flip": VerticalFlip,
    "brightness": Brightness,
    "channel_shift": ChannelShift,
}
"""The ImageDataGenerator-style ops, by name (their classes are the factories)."""


def augmentations() -> dict:
    """The ImageDataGenerator-style ops plus ``keras.<LayerName>`` for every Keras augmentation layer."""
    return {**IMAGE_OPS, **layer_augmentations()}
