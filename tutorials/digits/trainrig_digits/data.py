"""The data: scikit-learn's 1797 digits, split once with a fixed seed, scaled once when loaded."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

import trainrig


@trainrig.define
class DigitsDataParams(trainrig.DataBaseParams):
    val_fraction: float = trainrig.field(default=0.2, help="Fraction of the images held out for validation.")
    split_seed: int = trainrig.field(default=1234, help="Seed of the train/validation split (fixed across runs).")


def scale(images: np.ndarray) -> np.ndarray:
    """Pixel values 0..16 to 0..1, with a channel axis."""
    return (images[..., None] / 16.0).astype("float32")


class DigitsData(trainrig.DataBase[DigitsDataParams]):
    def __init__(self, params: DigitsDataParams | None = None):
        super().__init__(params)
        digits = load_digits()
        order = np.random.default_rng(self.params.split_seed).permutation(len(digits.images))
        n_val = int(len(order) * self.params.val_fraction)
        self.val_rows, self.train_rows = order[:n_val], order[n_val:]
        # Scaled once here rather than per batch with ArraySequence(preprocess=...): a fixed transform of
        # small arrays, and without a preprocess function trainrig reads the batches natively in tf.data.
        self.images = scale(digits.images.astype("float32"))
        self.labels = digits.target.astype("int32")

    def _sequence(self, rows, batch_size, shuffle):
        return trainrig.ArraySequence(
            {"image": self.images[rows]},
            {"label": self.labels[rows]},
            batch_size,
            shuffle=shuffle,
            seed=self.seed,
        )

    def train_sequence(self, batch_size):
        return self._sequence(self.train_rows, batch_size, shuffle=True)

    def val_sequence(self, batch_size):
        return self._sequence(self.val_rows, batch_size, shuffle=False)
