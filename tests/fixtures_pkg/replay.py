"""Data whose training sequence has no get_state() (resume replays its on_epoch_end() calls); a crash at a
batch; the hash of an export's weights (to compare an interrupted and resumed run with a whole one)."""

from __future__ import annotations

import hashlib

import keras
import numpy as np

from fixtures_pkg.tinymodels import TinyData


class EpochShuffledSequence(keras.utils.PyDataset):
    """Shuffles by the number of epochs seen, and keeps no get_state/set_state."""

    def __init__(self, x, y, label, batch_size, seed):
        super().__init__()
        self.x, self.y, self.label, self.batch_size, self.seed = x, y, label, batch_size, seed
        self.epochs_seen = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        order = np.random.default_rng([self.seed, self.epochs_seen]).permutation(len(self.x))
        rows = order[index * self.batch_size : (index + 1) * self.batch_size]
        return {"x": self.x[rows]}, {"y": self.y[rows], "label": self.label[rows]}

    def on_epoch_end(self):
        self.epochs_seen += 1


class ReplayData(TinyData):
    def train_sequence(self, batch_size):
        return EpochShuffledSequence(self.x_train, self.y_train, self.label_train, batch_size, self.seed)


class CrashAt(keras.callbacks.Callback):
    """Raises after the ``at``-th training batch (a crash in the middle of a run)."""

    def __init__(self, at):
        super().__init__()
        self.seen, self.at = 0, at

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            raise RuntimeError("simulated crash")


def weights_hash(path) -> str:
    """sha256 of the weights of the export at ``path`` (a run or export directory)."""
    import trainrig

    weights = trainrig.load_model(path).get_weights()
    return hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in weights)).hexdigest()
