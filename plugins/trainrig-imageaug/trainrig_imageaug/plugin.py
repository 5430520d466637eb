"""The hook of the ``imageaug`` plugin (entry point ``imageaug = "trainrig_imageaug.plugin"``, group ``trainrig``).

Importing this module imports no TensorFlow or Keras (``trainrig --help`` and ``trainrig plugins`` stay
fast); the hook imports :mod:`trainrig_imageaug.registry` when a run asks for augmentations.
"""

from __future__ import annotations

import trainrig


@trainrig.hookimpl
def trainrig_register_augmentations():
    """The ImageDataGenerator-style ops (``rotation``, ``zoom``, ``horizontal_flip``, ...) and
    ``keras.<LayerName>`` for every Keras image augmentation layer."""
    from trainrig_imageaug.registry import augmentations

    return augmentations()
