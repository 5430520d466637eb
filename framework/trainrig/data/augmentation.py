"""Data augmentation of a training sequence: ``DataAugmentationSequence`` and the augmentator protocol.

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
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from trainrig.data.random_draws import SEED_SPACE, derived_seeds
from trainrig.data.workers import parallelism
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


def transform_batch(augmentator: Any, x: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """``augmentator`` applied to every sample of ``x`` with its seed: by the batch method if it has one."""
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

    def random_transform_batch(self, x, seeds):
        x = np.asarray(x)
        for stream, augmentator in enumerate(self.augmentators):
            x = transform_batch(augmentator, x, derived_seeds(seeds, stream))
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


class DataAugmentationSequence(keras.utils.PyDataset):
    """Wraps a training sequence; each batch of size B becomes B * ``n_augmentation``.

    Batch ``i`` of the wrapped sequence becomes ``n_augmentation`` copies stacked along the batch axis
    (copy-major: all samples of copy 0, then of copy 1...). In every copy the input ``input_name`` is
    augmented per sample; other inputs and the targets are repeated. An augmentator with
    ``random_transform_batch(x, seeds)`` is called once per batch for all copies; one with only
    ``random_transform(x, seed)`` once per sample and copy. Seeds are distinct per (epoch, batch,
    copy, sample) and derived from ``seed``, so the batches depend only on how many epochs have
    passed: exact resume holds. With ``seed=None`` the seed comes from numpy's global generator at
    construction (seeded by the trainer).

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are ``keras.utils.PyDataset``'s: how
    trainrig reads the augmented batches (README: how batches are read). ``None`` takes the wrapped
    sequence's setting.
    """

    def __init__(
        self,
        sequence,
        input_name: str,
        augmentator,
        n_augmentation: int = 1,
        seed: int | None = None,
        workers: int | None = None,
        use_multiprocessing: bool | None = None,
        max_queue_size: int | None = None,
    ):
        inherited = parallelism(sequence, "training") if hasattr(sequence, "__getitem__") else (1, False, 10)
        chosen = (workers, use_multiprocessing, max_queue_size)
        workers, use_multiprocessing, max_queue_size = (i if c is None else c for i, c in zip(inherited, chosen))
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if not isinstance(n_augmentation, (int, np.integer)) or n_augmentation < 1:
            raise TrainrigError(f"n_augmentation must be an integer >= 1, got {n_augmentation!r}")
        check_augmentator(augmentator)
        self.sequence, self.input_name = sequence, input_name
        self.augmentator, self.n_augmentation = augmentator, int(n_augmentation)
        self.seed = int(np.random.randint(SEED_SPACE)) if seed is None else int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.sequence)

    def seeds(self, index: int, count: int) -> np.ndarray:
        """``(n_augmentation, count)`` seeds of batch ``index`` in the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return rng.integers(0, SEED_SPACE, size=(self.n_augmentation, count))

    def original(self, index: int) -> tuple[dict, dict]:
        """Batch ``index`` of the wrapped sequence, with the input to augment checked."""
        inputs, targets = self.sequence[index]
        if self.input_name not in inputs:
            raise TrainrigError(f"augmentation input {self.input_name!r} is not an input; inputs: {sorted(inputs)}")
        return inputs, targets

    def augment(self, x, index: int) -> np.ndarray:
        """The ``n_augmentation`` copies of ``x`` (the input of batch ``index``), copy-major."""
        x = np.asarray(x)
        seeds = self.seeds(index, len(x))
        return transform_batch(self.augmentator, np.concatenate([x] * self.n_augmentation), seeds.reshape(-1))

    def __getitem__(self, index: int):
        inputs, targets = self.original(index)
        n = self.n_augmentation
        out_inputs = {k: np.concatenate([np.asarray(v)] * n) for k, v in inputs.items() if k != self.input_name}
        out_inputs[self.input_name] = self.augment(inputs[self.input_name], index)
        out_targets = {k: np.concatenate([np.asarray(v)] * n) for k, v in targets.items()}
        return out_inputs, out_targets

    def on_epoch_end(self) -> None:
        self.epoch += 1
        if hasattr(self.sequence, "on_epoch_end"):
            self.sequence.on_epoch_end()

    def get_state(self) -> dict:
        state = {"epoch": self.epoch}
        if hasattr(self.sequence, "get_state"):
            state["sequence"] = self.sequence.get_state()
        return state

    def set_state(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        if "sequence" in state:
            self.sequence.set_state(state["sequence"])


def augmentation_sequence_in(sequence: Any) -> DataAugmentationSequence | None:
    """The ``DataAugmentationSequence`` a (possibly wrapped) sequence reads from, following ``.sequence``."""
    seen = 0
    while sequence is not None and seen < 16:
        if isinstance(sequence, DataAugmentationSequence):
            return sequence
        sequence, seen = getattr(sequence, "sequence", None), seen + 1
    return None
