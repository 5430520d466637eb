"""Augmentators: the protocol ``DataAugmentationSequence`` calls, a base class for whole batches, chains.

An augmentator is any object with ``random_transform(x, seed=None)``: ``x`` is ONE sample (no batch
axis) and the result has its shape. An augmentator may also have
``random_transform_batch(x, seeds)``: ``x`` is a batch, ``seeds`` one integer per sample, and sample
``i`` of the result must be what ``random_transform(x[i], seed=seeds[i])`` gives. The sequence calls
the batch method when there is one (once per batch, all copies together) and the per-sample method
otherwise, so both give the same batches for the same seed.

:class:`BatchAugmentation` is the base class of augmentations written for whole batches (the built-in
ops and the ``trainrig-imageaug`` plugin's): it derives ``random_transform`` from the batch method and
lets neighbouring augmentations :meth:`~BatchAugmentation.fuse` into one (several geometric ops into
one warp). :class:`Compose` chains augmentators, each with seeds derived from the sample's seed.

**In the input graph.** An augmentator may also split its work in two: ``parameters(seeds,
sample_shape)`` draws, in numpy, an ``(N, P)`` float32 array of each sample's parameters from its
seed alone, and ``apply(x, parameters)`` transforms a batch with ``keras.ops`` (eagerly on a numpy
batch, or as part of a ``tf.data`` graph), with ``random_transform_batch(x, seeds) ==
apply(x, parameters(seeds, x.shape[1:]))``. When the wrapped sequence is read natively (an
``ArraySequence``), trainrig then draws a whole epoch's parameters at once and augments inside
``tf.data``, without Python per batch (:mod:`trainrig.data.native_augmentation`). :func:`in_graph`
tells whether an augmentator can.

This module needs numpy only (plugins import it when trainrig lists them, without TensorFlow).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from trainrig.data.random_draws import SEED_SPACE, derived_seeds
from trainrig.errors import TrainrigError

BATCH_METHOD = "random_transform_batch"


def _name(augmentator: Any) -> str:
    return getattr(augmentator, "name", None) or type(augmentator).__name__


def check_augmentator(augmentator: Any) -> None:
    if not callable(getattr(augmentator, "random_transform", None)):
        raise TrainrigError(
            f"augmentator {augmentator!r} has no random_transform(x, seed=None) method "
            f"(optionally also {BATCH_METHOD}(x, seeds) for whole batches)"
        )


def in_graph(augmentator: Any) -> bool:
    """Whether ``augmentator`` has ``parameters(seeds, sample_shape)`` and ``apply(x, parameters)``
    (a :class:`Compose` whose every part has them does)."""
    declared = getattr(augmentator, "graph_capable", None)
    if declared is not None:
        return bool(declared)
    return callable(getattr(augmentator, "parameters", None)) and callable(getattr(augmentator, "apply", None))


def _problem(error: Exception) -> str:
    """The gist of an error in one line (TensorFlow's op errors carry the kernel's message inside)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    kernel = re.search(r"\}\}\s*(.+?)\s*\[Op:", text, re.S)
    lines = [line.strip() for line in (kernel.group(1) if kernel else text).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def transform_batch(augmentator: Any, x: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """``augmentator`` applied to every sample of ``x`` with its seed: by the batch method if it has one.

    Whatever the augmentator raises becomes one line naming it and the batch's shape."""
    try:
        return _transform_batch(augmentator, x, seeds)
    except TrainrigError:
        raise
    except Exception as error:
        raise TrainrigError(
            f"augmentation {_name(augmentator)} failed on a batch of shape {x.shape} ({x.dtype}): {_problem(error)}"
        ) from error


def _transform_batch(augmentator: Any, x: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    batch_method = getattr(augmentator, BATCH_METHOD, None)
    if callable(batch_method):
        out = np.asarray(batch_method(x, np.asarray(seeds, dtype=np.int64)))
        shape_in, shape_out = x.shape, out.shape
    else:
        samples = [np.asarray(augmentator.random_transform(sample, seed=int(s))) for sample, s in zip(x, seeds)]
        bad = next((s.shape for s in samples if s.shape != x.shape[1:]), None)
        out = np.stack(samples) if bad is None else None
        shape_in, shape_out = x.shape[1:], bad if bad is not None else x.shape[1:]
    if out is None or shape_out != shape_in:
        raise TrainrigError(
            f"augmentation {_name(augmentator)} changed the shape {shape_in} to {shape_out}; an augmentation must keep it"
        )
    return out.astype(x.dtype, copy=False)


class BatchAugmentation:
    """Base class of an augmentation written for whole batches.

    Subclasses implement :meth:`random_transform_batch`, drawing everything random from the
    per-sample ``seeds`` (see :mod:`trainrig.data.random_draws`), never from a generator shared by
    the batch, so that a sample's result does not depend on its neighbours.
    """

    name = ""

    def random_transform_batch(self, x: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def random_transform(self, x, seed=None):
        """One sample: the batch method on a batch of one (``seed=None``: a random seed)."""
        seed = int(np.random.randint(SEED_SPACE)) if seed is None else int(seed)
        x = np.asarray(x)
        return self.random_transform_batch(x[np.newaxis], np.array([seed], dtype=np.int64))[0]

    def fuse(self, following: Any) -> Any | None:
        """One augmentation doing ``self`` then ``following``, or ``None`` when they cannot be fused."""
        return None

    def __repr__(self) -> str:
        return self.name or type(self).__name__


class Compose(BatchAugmentation):
    """Augmentators applied in order; the ``k``-th gets seeds derived from the samples' seeds and ``k``.

    Neighbours that can :meth:`~BatchAugmentation.fuse` are merged when the chain is built.
    """

    def __init__(self, augmentators: list):
        for augmentator in augmentators:
            check_augmentator(augmentator)
        self.augmentators = fused(list(augmentators))
        self.name = " -> ".join(_name(a) for a in self.augmentators)
        self.graph_capable = all(in_graph(a) for a in self.augmentators)

    def random_transform_batch(self, x, seeds):
        x = np.asarray(x)
        for stream, augmentator in enumerate(self.augmentators):
            x = transform_batch(augmentator, x, derived_seeds(seeds, stream))
        return x

    def parameters(self, seeds, sample_shape) -> np.ndarray:
        """The parts' parameters side by side (part ``k`` with seeds derived with ``k``)."""
        parts = [a.parameters(derived_seeds(seeds, k), sample_shape) for k, a in enumerate(self.augmentators)]
        return np.concatenate([np.asarray(p, dtype=np.float32).reshape(len(p), -1) for p in parts], axis=1)

    def apply(self, x, parameters):
        """The parts applied in order, each to its columns of ``parameters``."""
        sample_shape = tuple(x.shape[1:])
        probe = np.zeros(1, dtype=np.int64)
        widths = [np.asarray(a.parameters(probe, sample_shape)).reshape(1, -1).shape[1] for a in self.augmentators]
        start = 0
        for augmentator, width in zip(self.augmentators, widths):
            x = augmentator.apply(x, parameters[:, start : start + width])
            start += width
        return x


def fused(augmentators: list) -> list:
    """``augmentators`` with every neighbour pair that agrees to :meth:`~BatchAugmentation.fuse` merged."""
    out: list = []
    for augmentator in augmentators:
        fuse = getattr(out[-1], "fuse", None) if out else None
        merged = fuse(augmentator) if callable(fuse) else None
        if merged is not None:
            out[-1] = merged
        else:
            out.append(augmentator)
    return out
