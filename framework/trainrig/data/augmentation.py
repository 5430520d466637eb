"""``DataAugmentationSequence``: each training batch of size B becomes B * n, one input augmented per sample."""

from __future__ import annotations

import keras
import numpy as np

from trainrig.errors import TrainrigError

_SEED_SPACE = 2**31 - 1


class DataAugmentationSequence(keras.utils.PyDataset):
    """Wraps a training sequence; ``augmentator.random_transform(x, seed=...)`` gets ONE sample at a time.

    Batch ``i`` of the wrapped sequence becomes ``n_augmentation`` copies stacked along the batch axis
    (copy-major: all samples of copy 0, then of copy 1...). In every copy the input ``input_name``
    is replaced by ``random_transform(sample, seed)`` per sample; other inputs and the targets are
    repeated. Seeds are distinct per (epoch, batch, copy, sample) and derived from ``seed``, so the
    batches depend only on how many epochs have passed: exact resume holds. With ``seed=None`` the
    seeds come from the process RNG at construction (numpy's global generator, seeded by the trainer).
    """

    def __init__(self, sequence, input_name: str, augmentator, n_augmentation: int = 1, seed: int | None = None):
        super().__init__()
        if n_augmentation < 1:
            raise TrainrigError(f"n_augmentation must be >= 1, got {n_augmentation}")
        if not callable(getattr(augmentator, "random_transform", None)):
            raise TrainrigError(f"augmentator {augmentator!r} has no random_transform(x, seed=None) method")
        self.sequence, self.input_name = sequence, input_name
        self.augmentator, self.n_augmentation = augmentator, n_augmentation
        self.seed = int(np.random.randint(_SEED_SPACE)) if seed is None else int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.sequence)

    def _seeds(self, index: int, count: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return rng.integers(0, _SEED_SPACE, size=(self.n_augmentation, count))

    def __getitem__(self, index: int):
        inputs, targets = self.sequence[index]
        if self.input_name not in inputs:
            raise TrainrigError(f"augmentation input {self.input_name!r} is not an input; inputs: {sorted(inputs)}")
        x = np.asarray(inputs[self.input_name])
        seeds = self._seeds(index, len(x))
        copies = []
        for copy_seeds in seeds:
            augmented = [np.asarray(self.augmentator.random_transform(sample, seed=int(s))) for sample, s in zip(x, copy_seeds)]
            if augmented and augmented[0].shape != x.shape[1:]:
                raise TrainrigError(
                    f"random_transform of {type(self.augmentator).__name__} changed a sample's shape "
                    f"{x.shape[1:]} to {augmented[0].shape}; it must keep it"
                )
            copies.append(np.stack(augmented).astype(x.dtype, copy=False))
        n = self.n_augmentation
        out_inputs = {k: np.concatenate([np.asarray(v)] * n) for k, v in inputs.items() if k != self.input_name}
        out_inputs[self.input_name] = np.concatenate(copies)
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


class Compose:
    """Several augmentators applied in order, each with its own seed derived from the sample's seed."""

    def __init__(self, augmentators: list):
        self.augmentators = list(augmentators)

    def random_transform(self, x, seed=None):
        seeds = np.random.default_rng(seed).integers(0, _SEED_SPACE, size=len(self.augmentators))
        for augmentator, s in zip(self.augmentators, seeds):
            x = augmentator.random_transform(x, seed=int(s))
        return x
