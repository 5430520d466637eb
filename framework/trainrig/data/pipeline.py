"""One view of any sequence the loop reads: its length, its batch signature, an epoch as ``tf.data``.

``dataset(start)`` gives batches ``start ..`` of the current epoch (a mid-epoch resume starts
inside one), read one of these ways:

- a ``tf.data.Dataset`` is used as it is (``take``/``skip``);
- an ``ArraySequence`` without ``preprocess`` (and without overrides of what decides its rows) is
  gathered in ``tf.data`` from the arrays, converted to variables once: no Python per batch
  (:mod:`trainrig.data.native` has the exact rule); a ``DataAugmentationSequence`` over one, with an
  augmentator that can run in the input graph, is augmented there too
  (:mod:`trainrig.data.native_augmentation`);
- any other ``PyDataset`` is read through Python, one batch at a time in a background thread, or by
  the ``workers`` threads or processes it declares (:mod:`trainrig.data.workers`).

Every way gives the same batches, in the same order, as ``sequence[i]``.
"""

from __future__ import annotations

import contextlib

import random
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from trainrig.data.native import NativeArrays, reads_natively
from trainrig.data.native_augmentation import NativeAugmented, augments_natively
from trainrig.data.workers import PythonReader, parallelism
from trainrig.errors import TrainrigError, warn


def _spec_of(value, where: str) -> tf.TensorSpec:
    array = np.asarray(value)
    if array.ndim == 0:
        raise TrainrigError(f"{where} is a scalar; every input and target needs a batch axis")
    dtype = tf.string if array.dtype.kind in "OUS" else tf.as_dtype(array.dtype)
    return tf.TensorSpec(shape=(None, *array.shape[1:]), dtype=dtype)


def _check_batch(batch, name: str) -> tuple[dict, dict]:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(b, dict) for b in batch)):
        raise TrainrigError(
            f"the {name} sequence must yield (inputs, targets) with both dicts of arrays, got {type(batch).__name__}"
        )
    return batch[0], batch[1]


class _GlobalRngWatch:
    """Notices (once) a training sequence whose ``__getitem__`` draws from numpy's or Python's global
    random generator. Batches are prefetched in a background thread, so how far such a draw has
    advanced the generator when a checkpoint saves it depends on timing: exact resume is lost.
    Comparing the two generators' states around each read costs a few microseconds; after the
    first warning (or for validation and prediction) nothing is compared. Sequences read natively
    (``ArraySequence``'s own ``__getitem__`` draws nothing) or by workers (reads overlap or happen in
    other processes, so nothing can be told) are not watched."""

    def __init__(self, enabled: bool):
        self.warned = not enabled

    @staticmethod
    def state() -> tuple:
        _, keys, position, *_ = np.random.get_state()
        return keys.tobytes(), position, random.getstate()

    def check(self, before: tuple, sequence_name: str) -> None:
        if not self.warned and self.state() != before:
            self.warned = True
            warn(
                f"the training sequence {sequence_name} draws from the global random generator (numpy's or Python's) "
                "in __getitem__; batches are prefetched, so a resumed run will not be exact. Draw from a generator "
                "seeded by (seed, epoch, index) instead, as trainrig.ArraySequence does (README: exact resume)"
            )


def native_reader(sequence: Any, signature: tuple[dict, dict]) -> NativeArrays | NativeAugmented | None:
    """What reads ``sequence`` in ``tf.data`` alone, or ``None`` when it is read through Python."""
    if reads_natively(sequence):
        return NativeArrays(sequence, signature)
    if augments_natively(sequence):
        return NativeAugmented(sequence, signature)
    return None


class BatchSource:
    """A training, validation or prediction sequence as the loop sees it."""

    def __init__(self, sequence: Any, name: str, steps: int = 0):
        self.sequence = sequence
        self.name = name
        self.watch_global_rng = _GlobalRngWatch(enabled=name == "training")
        self.is_dataset = isinstance(sequence, tf.data.Dataset)
        if self.is_dataset:
            cardinality = int(sequence.cardinality())
            if steps <= 0 and cardinality < 0:
                raise TrainrigError(
                    f"the {name} tf.data.Dataset has no known length; set --trainer.steps_per_epoch "
                    "or give the dataset a finite cardinality"
                )
            self.length = min(steps, cardinality) if steps > 0 and cardinality >= 0 else (steps or cardinality)
            inputs_spec, targets_spec = _check_batch(sequence.element_spec, name)
            self.signature = (inputs_spec, targets_spec)
        else:
            if not hasattr(sequence, "__getitem__") or not hasattr(sequence, "__len__"):
                raise TrainrigError(
                    f"the {name} sequence must be a keras.utils.PyDataset or a tf.data.Dataset, got {type(sequence).__name__}"
                )
            self.length = len(sequence) if steps <= 0 else min(steps, len(sequence))
            inputs, targets = _check_batch(sequence[0], name)
            self.signature = (
                {k: _spec_of(v, f"{name} input {k!r}") for k, v in inputs.items()},
                {k: _spec_of(v, f"{name} target {k!r}") for k, v in targets.items()},
            )
            self.reader = PythonReader(sequence, name, self.signature, self.watch_global_rng)
            self._whole_epoch: tuple[tuple, tf.data.Dataset] | None = None
            self.native = native_reader(sequence, self.signature)
        if self.length == 0:
            raise TrainrigError(f"the {name} sequence is empty")

    def __len__(self) -> int:
        return self.length

    def first_batch(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The first batch as numpy arrays (used to check the model before training)."""
        if self.is_dataset:
            inputs, targets = next(iter(self.sequence.take(1)))
            return {k: v.numpy() for k, v in inputs.items()}, {k: v.numpy() for k, v in targets.items()}
        inputs, targets = self.sequence[0]
        return {k: np.asarray(v) for k, v in inputs.items()}, {k: np.asarray(v) for k, v in targets.items()}

    def first_rows(self, count: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The first whole batches holding at least ``count`` rows (at least one batch), joined."""
        if self.is_dataset:
            batches = self.sequence.take(self.length).as_numpy_iterator()
        else:
            batches = (self.sequence[i] for i in range(self.length))
        parts, rows = [], 0
        for inputs, targets in batches:
            parts.append((inputs, targets))
            rows += len(next(iter({**targets, **inputs}.values())))
            if rows >= count:
                break
        join = lambda trees: {k: np.concatenate([np.asarray(t[k]) for t in trees]) for k in trees[0]}  # noqa: E731
        return join([p[0] for p in parts]), join([p[1] for p in parts])

    def dataset(self, start: int = 0) -> tf.data.Dataset:
        """The batches ``start .. len-1`` of the current epoch (see the module docstring for how they are read)."""
        if self.is_dataset:
            return self.sequence.take(self.length).skip(start)
        native = self._native_dataset(start)
        return native if native is not None else self._python_dataset(start)

    def _native_dataset(self, start: int) -> tf.data.Dataset | None:
        native = self.native
        if native is None or not native.usable() or native.element_spec() != self.signature:
            return None
        return native.dataset(start, self.length)

    def _python_dataset(self, start: int) -> tf.data.Dataset:
        workers, processes, queue = parallelism(self.sequence, self.name)
        if processes:
            return self.reader.process_dataset(start, self.length, workers, queue)
        key = (workers, queue)
        if start == 0 and self._whole_epoch is not None and self._whole_epoch[0] == key:
            return self._whole_epoch[1]  # reads sequence[i] when iterated: the same dataset serves every epoch
        if workers > 1:
            dataset = self.reader.thread_dataset(start, self.length, workers, queue)
        else:
            dataset = self.reader.dataset(start, self.length)
        if start == 0:
            self._whole_epoch = (key, dataset)  # building it traces the read function (~10-20 ms): once
        return dataset

    @property
    def read_error(self) -> TrainrigError | None:
        """The last failure reading a batch of a ``PyDataset`` (TensorFlow raises it wrapped in its own error)."""
        return None if self.is_dataset else self.reader.error

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around the steps that read this source: a failure reading a batch comes out as its own one-line
        error (naming the sequence and the batch) instead of TensorFlow's wrapper of it."""
        try:
            yield
        except tf.errors.OpError as error:
            failure = self.read_error
            if failure is not None and str(failure) in str(error):
                raise failure from error
            raise

    def epoch_end(self) -> None:
        """Tell a ``PyDataset`` an epoch has passed (it may reshuffle)."""
        if not self.is_dataset and hasattr(self.sequence, "on_epoch_end"):
            self.sequence.on_epoch_end()
