"""Wrap the training sequence in a ``DataAugmentationSequence`` built from ``TrainerParams.augmentation``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainrig.data.augmentation import Compose, DataAugmentationSequence
from trainrig.errors import TrainrigError, one_of
from trainrig.train.params import AugmentationParams

if TYPE_CHECKING:
    from trainrig.hooks.manager import PluginManager


def augmentation_registry(plugins: PluginManager) -> dict:
    """``{name: factory}`` of every augmentation plugins register (later plugins may not reuse a name)."""
    return plugins.named_contributions(
        "trainrig_register_augmentations",
        what="augmentation",
        expected="a dict of name -> factory",
        valid=lambda result: isinstance(result, dict),
    )


def build_augmentator(ops: list[dict], registry: dict):
    augmentators = []
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or "name" not in op:
            raise TrainrigError(f"trainer.augmentation.ops[{i}] must be an object with a 'name', got {op!r}")
        options = {k: v for k, v in op.items() if k != "name"}
        factory = registry.get(op["name"])
        if factory is None:
            raise TrainrigError(f"unknown augmentation {op['name']!r}; registered: {one_of(registry)}")
        try:
            augmentators.append(factory(**options))
        except (TypeError, ValueError) as e:
            raise TrainrigError(f"augmentation {op['name']!r} rejected its options {options}: {e}") from None
    return augmentators[0] if len(augmentators) == 1 else Compose(augmentators)


def augmented(sequence, params: AugmentationParams, plugins: PluginManager, seed: int):
    """The training sequence with augmentation applied, or unchanged if none is configured."""
    if not params.input and not params.ops:
        return sequence
    if not params.input or not params.ops:
        raise TrainrigError("trainer.augmentation needs both input (the input to augment) and ops (the augmentations)")
    if not hasattr(sequence, "__getitem__"):
        raise TrainrigError("trainer.augmentation works on a keras.utils.PyDataset training sequence, not a tf.data.Dataset")
    augmentator = build_augmentator(params.ops, augmentation_registry(plugins))
    return DataAugmentationSequence(sequence, params.input, augmentator, n_augmentation=params.n, seed=seed)
