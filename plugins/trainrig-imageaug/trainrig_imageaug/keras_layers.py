"""Every Keras image augmentation layer as the augmentation ``keras.<LayerName>``.

The layers are discovered in ``keras.layers`` when the registry is built: every subclass of Keras'
``BaseImagePreprocessingLayer`` whose constructor takes a ``seed`` (it is random, hence an
augmentation), minus :data:`EXCLUDED_LAYERS`. A layer added by a later Keras release appears without a
change here.

Determinism is per BATCH for these layers, not per sample: Keras layers draw from
``keras.random.SeedGenerator`` s they hold, for the whole batch at once, and cannot draw sample ``i``'s
parameters from sample ``i``'s seed. Before every call this module sets the state of every generator
the layer (and its sub-layers) holds to values hashed from ALL the batch's seeds. So the same batch with
the same seeds gives the same result, but a sample's result depends on the whole batch's seeds, and
``random_transform(x[i], seeds[i])`` is NOT ``random_transform_batch(x, seeds)[i]``.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import sys
import threading

import numpy as np

from trainrig.data.augmentators import BatchAugmentation
from trainrig_imageaug.images import from_float, image_batch, restore, to_float

EXCLUDED_LAYERS = {
    "CutMix": "mixes pairs of images of the batch and must mix their targets too; trainrig augments one input",
    "MixUp": "mixes pairs of images of the batch and must mix their targets too; trainrig augments one input",
    "RandomCrop": "changes the image size (height, width); an augmentation must keep the shape",
}
"""Random Keras image layers that are not registered, with the reason."""

FALLBACK_NAMES = ("RandAugment", "AugMix")
"""Without ``BaseImagePreprocessingLayer`` (a future Keras moved it): layers named ``Random*`` plus these."""

_NOT_OPTIONS = ("self", "seed", "name", "dtype")
_SEED_MAX = 2**31 - 1  # generator states in [1, _SEED_MAX): 0 may mean "no seed" to some Keras code
_PYTHON_RANDOM_LOCK = threading.Lock()


def _image_layer_base():
    try:
        from keras.src.layers.preprocessing.image_preprocessing.base_image_preprocessing_layer import (
            BaseImagePreprocessingLayer,
        )
    except ImportError:
        return None
    return BaseImagePreprocessingLayer


def _init_parameters(cls) -> dict:
    try:
        return dict(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        return {}


def augmentation_layer_classes() -> dict[str, type]:
    """``{name: class}`` of the random Keras image layers in ``keras.layers``, minus :data:`EXCLUDED_LAYERS`."""
    import keras

    base = _image_layer_base()
    found = {}
    for name in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, name, None)
        if not isinstance(cls, type) or name in EXCLUDED_LAYERS:
            continue
        if base is not None:
            image_layer = issubclass(cls, base)
        else:
            image_layer = issubclass(cls, keras.layers.Layer) and (name.startswith("Random") or name in FALLBACK_NAMES)
        if image_layer and "seed" in _init_parameters(cls):
            found[name] = cls
    return found


def option_signature(cls) -> inspect.Signature:
    """The options of ``cls``'s constructor as keyword-only parameters, without ``self``, ``seed``,
    ``name``, ``dtype`` and ``*args``/``**kwargs`` (what trainrig's unknown-option check lists)."""
    options = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in _init_parameters(cls).values()
        if p.name not in _NOT_OPTIONS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return inspect.Signature(options)


def layer_factory(name: str, cls: type):
    """The factory of ``keras.<name>``: takes exactly the layer's options, returns a
    :class:`KerasLayerAugmentation`."""
    signature = option_signature(cls)

    def factory(**options):
        signature.bind(**options)  # TypeError naming a missing or unknown option
        return KerasLayerAugmentation(cls, options)

    factory.__signature__ = signature
    factory.__name__ = factory.__qualname__ = f"keras.{name}"
    factory.__doc__ = f"``keras.layers.{name}(**options)`` applied to whole batches (see KerasLayerAugmentation)."
    return factory


def layer_augmentations() -> dict:
    """``{"keras.<LayerName>": factory}`` for every discovered layer."""
    return {f"keras.{name}": layer_factory(name, cls) for name, cls in augmentation_layer_classes().items()}


# --- determinism ---------------------------------------------------------------------------------


def sub_layers(layer) -> list:
    """``layer`` and every layer inside it (tracked sub-layers and layer attributes), in a fixed order."""
    import keras

    order, seen, stack = [], set(), [layer]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        order.append(current)
        children = list(getattr(current, "_layers", None) or [])
        children += [v for v in vars(current).values() if isinstance(v, keras.layers.Layer)]
        stack.extend(reversed(children))
    return order


def seed_generators(layer) -> list:
    """Every ``keras.random.SeedGenerator`` ``layer`` and its sub-layers hold, in a fixed order."""
    import keras

    found, seen = [], set()
    for current in sub_layers(layer):
        candidates = list(getattr(current, "_seed_generators", None) or [])
        candidates += list((getattr(current, "_backend_generators", None) or {}).values())
        candidates += [v for v in vars(current).values() if isinstance(v, keras.random.SeedGenerator)]
        for generator in candidates:
            if isinstance(generator, keras.random.SeedGenerator) and id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found


def batch_states(seeds, count: int) -> np.ndarray:
    """``count`` integers in ``[1, 2**31 - 1)`` hashed from all of ``seeds`` (order matters)."""
    entropy = [int(s) % 2**64 for s in np.asarray(seeds).reshape(-1)] or [0]
    words = np.random.SeedSequence(entropy).generate_state(count, dtype=np.uint64)
    return (1 + words % np.uint64(_SEED_MAX - 1)).astype(np.int64)


def _python_random_users(layer) -> list[tuple[object, str]]:
    """``(module, attribute)`` pairs where the modules of ``layer``'s classes hold the stdlib ``random``
    module (keras 3.15's AugMix picks its ops with ``random.choice``)."""
    users = []
    for name in dict.fromkeys(type(current).__module__ for current in sub_layers(layer)):
        module = sys.modules.get(name)
        users += [(module, attr) for attr, value in vars(module).items() if value is random] if module else []
    return users


@contextlib.contextmanager
def _seeded_python_random(users: list[tuple[object, str]], state: int):
    """While active, the ``random`` module references in ``users`` point to a ``random.Random(state)``."""
    if not users:
        yield
        return
    with _PYTHON_RANDOM_LOCK:
        seeded = random.Random(state)
        for module, attr in users:
            setattr(module, attr, seeded)
        try:
            yield
        finally:
            for module, attr in users:
                setattr(module, attr, random)


class KerasLayerAugmentation(BatchAugmentation):
    """A Keras image layer (built with ``dtype="float32"``) applied to a whole batch in one call with
    ``training=True``.

    Images are ``(N, H, W, C)`` or ``(N, H, W)`` in the layer's ``value_range`` (Keras' default
    ``[0, 255]``); any dtype, computed in float32 (integer dtypes rounded and clipped back). Whether
    the channel count fits is the layer's business (e.g. ``RandomHue`` needs 3).

    Seeding is per batch (see the module doc): every ``SeedGenerator`` of the layer is set from a hash
    of all the batch's seeds before the call, under a lock, so concurrent batches on several threads
    do not interfere. References to Python's ``random`` module in the layers' modules (AugMix) point
    to a ``random.Random`` seeded the same way during the call.
    """

    def __init__(self, layer_class: type, options: dict | None = None):
        self.options = dict(options or {})
        self.name = f"keras.{layer_class.__name__}"
        self.layer_class = layer_class
        # A fixed constructor seed keeps Keras from drawing one from Python's global random; the
        # generators' states are set before every batch anyway.
        self.layer = layer_class(**self.options, seed=1, dtype="float32")
        self._lock = threading.Lock()

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def random_transform_batch(self, x, seeds):
        """The layer applied once to the batch, its generators seeded from all of ``seeds``."""
        import keras

        images, squeezed = image_batch(x, self.name)
        if len(images) == 0:
            return np.asarray(x).copy()
        inputs = keras.ops.convert_to_tensor(to_float(images))
        with self._lock:
            generators = seed_generators(self.layer)
            states = batch_states(seeds, len(generators) + 1)
            for generator, value in zip(generators, states):
                generator.state.assign(np.array([value, 0], dtype=np.dtype(generator.state.dtype)))
            with _seeded_python_random(_python_random_users(self.layer), int(states[-1])):
                out = keras.ops.convert_to_numpy(self.layer(inputs, training=True))
        return restore(from_float(out, images.dtype), squeezed)
