"""``ArraySequence``: batches from numpy arrays, shuffled reproducibly, preprocessed per batch."""

from __future__ import annotations

import math
from typing import Callable

import keras
import numpy as np

from trainrig.errors import TrainrigError

Batch = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]


class ArraySequence(keras.utils.PyDataset):
    """A ``PyDataset`` over dicts of equally long numpy arrays.

    With ``shuffle=True`` the order of epoch ``e`` is a permutation drawn from ``(seed, e)`` alone, so
    the batches depend only on how many epochs have passed (``on_epoch_end()`` calls); this is what
    exact resume relies on. ``preprocess(inputs, targets) -> (inputs, targets)`` runs on every batch,
    never on the whole arrays. The last batch is smaller when the length does not divide evenly.

    How trainrig reads it (``trainrig.data.pipeline.BatchSource``): without ``preprocess`` the batches
    are gathered in ``tf.data`` from a copy of the arrays made once (no Python per batch), when
    ``__getitem__``, ``__len__``, ``_order_of``, ``on_epoch_end`` and ``set_state`` are this class's
    own (a subclass overriding one of them decides the rows itself and is read through
    ``__getitem__``) and every array is a plain numeric or bool ``numpy.ndarray`` (a memmap is not
    copied into memory; text arrays go through Python). With ``preprocess`` every batch is
    ``__getitem__`` called from Python: one at a time in a background thread, or by ``workers``
    threads (``use_multiprocessing=True``: processes, Linux only), at most ``max_queue_size`` batches
    ahead, as in ``keras.utils.PyDataset`` — the batches and their order are the same either way.
    """

    def __init__(
        self,
        inputs: dict[str, np.ndarray],
        targets: dict[str, np.ndarray],
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        preprocess: Callable[[dict, dict], Batch] | None = None,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        lengths = {name: len(a) for name, a in {**inputs, **targets}.items()}
        if len(set(lengths.values())) != 1:
            raise TrainrigError(f"ArraySequence arrays must have the same length, got {lengths}")
        if batch_size < 1:
            raise TrainrigError(f"ArraySequence batch_size must be >= 1, got {batch_size}")
        self.inputs, self.targets = inputs, targets
        self.batch_size = batch_size
        self.shuffle, self.seed = shuffle, seed
        self.preprocess = preprocess
        self.size = next(iter(lengths.values()))
        self.epoch = 0
        self._order = self._order_of(0)

    def _order_of(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __getitem__(self, index: int) -> Batch:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        if not self.shuffle:
            rows = slice(rows[0], rows[-1] + 1)
        inputs = {k: v[rows] for k, v in self.inputs.items()}
        targets = {k: v[rows] for k, v in self.targets.items()}
        if self.preprocess is not None:
            inputs, targets = self.preprocess(inputs, targets)
        return inputs, targets

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._order_of(self.epoch)

    def get_state(self) -> dict:
        return {"epoch": self.epoch}

    def set_state(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self._order = self._order_of(self.epoch)
