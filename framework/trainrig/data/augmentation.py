"""``DataAugmentationSequence``: each training batch of size B becomes B * n, one input augmented.

The augmentator protocol (``random_transform`` / ``random_transform_batch``) and the helpers
``BatchAugmentation`` and ``Compose`` are in :mod:`trainrig.data.augmentators`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from trainrig.data.augmentators import BatchAugmentation, Compose, check_augmentator, fused, transform_batch
from trainrig.data.random_draws import SEED_SPACE
from trainrig.data.workers import parallelism
from trainrig.errors import TrainrigError

__all__ = ["BatchAugmentation", "Compose", "DataAugmentationSequence", "augmentation_sequence_in", "fused"]


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
