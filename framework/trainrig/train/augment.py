"""Wrap the training sequence in a ``DataAugmentationSequence`` built from ``TrainerParams.augmentation``.

The ops of ``--trainer.augmentation.ops`` are looked up in the registry plugins fill through
``trainrig_register_augmentations``; :func:`build_augmentation` builds the augmentator the same way
for anyone who wants to look at it (a notebook preview).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable

from trainrig.data.augmentation import DataAugmentationSequence
from trainrig.data.augmentators import Compose, fused
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


def option_names(factory: Callable) -> list[str] | None:
    """The keyword options a factory accepts, or ``None`` when it takes any (``**kwargs``)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _build_op(i: int, op: Any, registry: dict):
    if not isinstance(op, dict) or "name" not in op:
        raise TrainrigError(f"trainer.augmentation.ops[{i}] must be an object with a 'name', got {op!r}")
    name, options = op["name"], {k: v for k, v in op.items() if k != "name"}
    factory = registry.get(name)
    if factory is None:
        raise TrainrigError(f"unknown augmentation {name!r}; registered: {one_of(registry)}")
    valid = option_names(factory)
    unknown = sorted(set(options) - set(valid)) if valid is not None else []
    if unknown:
        raise TrainrigError(
            f"augmentation {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(valid) if valid else 'none'}"
        )
    try:
        return factory(**options)
    except TrainrigError:
        raise
    except (TypeError, ValueError) as e:
        message = " ".join(str(e).split())
        raise TrainrigError(f"augmentation {name!r} rejected its options {options}: {message}") from None


def build_augmentator(ops: list[dict], registry: dict):
    """The augmentator of ``ops`` (neighbours that can fuse are fused; one op stays itself)."""
    augmentators = fused([_build_op(i, op, registry) for i, op in enumerate(ops)])
    return augmentators[0] if len(augmentators) == 1 else Compose(augmentators)


def build_augmentation(ops: list[dict], plugins: PluginManager | None = None):
    """The augmentator ``--trainer.augmentation.ops`` builds from ``ops`` (same registry, same fusion).

    ``plugins`` defaults to the installed plugins. Preview it on a batch ``x`` with seeds of your
    choice: ``build_augmentation(ops).random_transform_batch(x, np.arange(len(x)))``.
    """
    if plugins is None:
        from trainrig.hooks.manager import plugin_manager

        plugins = plugin_manager()
    if not isinstance(ops, (list, tuple)) or not ops:
        raise TrainrigError(f"augmentation ops must be a non-empty list of {{'name': ..., **options}}, got {ops!r}")
    return build_augmentator(list(ops), augmentation_registry(plugins))


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
