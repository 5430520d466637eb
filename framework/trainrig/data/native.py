"""An ``ArraySequence`` read in ``tf.data`` alone: no Python call per batch.

The arrays become CPU variables once per :class:`~trainrig.data.pipeline.BatchSource` (one copy of
the data; variables are not serialized into the dataset graph the way captured constants are, which
``iter()`` and ``experimental_distribute_dataset`` would redo every epoch, up to GraphDef's 2 GB).
An epoch's dataset holds the rows of its batches (``sequence._order`` as it is when
:meth:`NativeArrays.dataset` is called, from ``start``) and gathers each batch in a ``map``: the
same rows, dtypes and shapes as ``sequence[i]``, the last batch smaller.

When the native path is used (:func:`reads_natively`): the sequence is an ``ArraySequence``
whose ``__getitem__``, ``__len__``, ``_order_of``, ``on_epoch_end`` and ``set_state`` are
ArraySequence's own (a subclass may add or override anything else), ``preprocess`` is ``None``, and
every array is a plain ``numpy.ndarray`` (not a memmap or another array-like) of a numeric or bool
dtype in native byte order. Those methods are what decide which rows batch ``i`` holds; overriding
any of them may change that (or the arrays) in ways only ``__getitem__`` knows, so such sequences are
read through Python. Arrays replaced on the sequence (``seq.inputs = {...}``) are noticed and
converted again; arrays changed in place after the first epoch started are not.

With ``tf.config.experimental.enable_op_determinism()`` (``trainer.deterministic``) TensorFlow runs a
pipeline that reads variables without prefetching: the gather then runs when the step asks for the
batch (tens of microseconds; no Python).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from trainrig.data.arrays import ArraySequence

PREFETCH_BATCHES = 2
# Batches gathered one after the other in the prefetch thread: per step no parallel setting measured
# better on 2 cores, and a parallel map makes each epoch's iterator slower to start (its thread pool).
PARALLEL_GATHERS = None

_OWN_METHODS = ("__getitem__", "__len__", "_order_of", "on_epoch_end", "set_state")
_NATIVE_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex


def _plain_array(value: Any) -> bool:
    return (
        type(value) is np.ndarray
        and value.ndim >= 1
        and value.dtype.kind in _NATIVE_KINDS
        and value.dtype.isnative
    )


def keeps_methods(sequence: Any, base: type, names: tuple[str, ...]) -> bool:
    """Whether ``sequence`` is a ``base`` whose methods ``names`` are ``base``'s own (not overridden by
    its class or replaced on the object): then ``base`` alone decides what those methods do."""
    if not isinstance(sequence, base):
        return False
    cls, own = type(sequence), vars(sequence)
    return not any(getattr(cls, name) is not getattr(base, name) or name in own for name in names)


def reads_natively(sequence: Any) -> bool:
    """Whether ``sequence`` can be read without Python per batch (the rule in the module docstring)."""
    if not keeps_methods(sequence, ArraySequence, _OWN_METHODS):
        return False
    if getattr(sequence, "preprocess", None) is not None:
        return False
    return all(_plain_array(v) for v in (*sequence.inputs.values(), *sequence.targets.values()))


def plain_options() -> tf.data.Options:
    """No default graph rewrites: none applies to range -> map -> prefetch, and they cost ~5-10 ms per iterator."""
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_optimization.map_parallelization = False  # a sequential map stays sequential
    return options


class NativeArrays:
    """The arrays of one ``ArraySequence`` as CPU variables (made on first use, kept), and an epoch's batches.

    The variables live as long as this object: keep it (its ``BatchSource``) while a dataset it made
    is read.
    """

    def __init__(self, sequence: ArraySequence, signature: tuple[dict, dict]):
        self.sequence = sequence
        self.signature = signature
        self._sources: tuple | None = None  # the numpy arrays the variables were made from
        self._variables: tuple[dict, dict] | None = None
        self.conversions = 0  # how many times the arrays were made into variables
        self._epoch: tuple | None = None  # (key, batch function, order variable or None) of a whole epoch
        self._whole_epoch: tuple | None = None  # (key, dataset)

    def usable(self) -> bool:
        """The rule of :func:`reads_natively` now (a sequence may change), and no strategy scope entered.

        Inside a ``strategy.scope()`` a ``tf.Variable`` would become a distributed one; the loop never
        asks for a dataset there, and if someone does the Python path is used.
        """
        return reads_natively(self.sequence) and (self._variables is not None or not tf.distribute.has_strategy())

    def _arrays(self) -> tuple[dict, dict]:
        sequence = self.sequence
        sources = tuple(sequence.inputs.values()) + tuple(sequence.targets.values())
        if self._sources is None or len(sources) != len(self._sources) or any(
            a is not b for a, b in zip(sources, self._sources)
        ):
            self._variables, self._epoch, self._whole_epoch = None, None, None  # free the old copy first
            with tf.init_scope(), tf.device("CPU:0"):
                self._variables = tuple(
                    {k: tf.Variable(v, trainable=False, name=f"trainrig_data_{k}") for k, v in part.items()}
                    for part in (sequence.inputs, sequence.targets)
                )
            self._sources = sources
            self.conversions += 1
        return self._variables

    def element_spec(self) -> tuple[dict, dict]:
        """The specs of the batches :meth:`dataset` gives (``signature`` unless the arrays changed since)."""
        sequence = self.sequence

        def spec(array: np.ndarray) -> tf.TensorSpec:
            return tf.TensorSpec((None, *array.shape[1:]), tf.as_dtype(array.dtype))

        return (
            {k: spec(v) for k, v in sequence.inputs.items()},
            {k: spec(v) for k, v in sequence.targets.items()},
        )

    def batches(self, start: int, stop: int) -> tuple[Callable, tuple | None]:
        """``(batch, key)``: ``batch(i)`` gathers batch ``start + i`` of the current epoch, in a graph.

        For a whole epoch (``start`` 0) the function is made once and ``key`` names it (a dataset built
        on it may be reused while the key stays); a shuffled sequence's order goes into a variable it
        reads, assigned here, before the epoch's iterator exists (the previous epoch's has read all its
        batches by then). For a partial epoch ``key`` is ``None``.
        """
        sequence = self.sequence
        arrays = self._arrays()
        if start != 0:
            return self._batch_function(start, stop, arrays, None), None
        key = (stop, int(sequence.batch_size), bool(sequence.shuffle), int(sequence.size), id(arrays))
        if self._epoch is None or self._epoch[0] != key:
            order = None
            if sequence.shuffle:
                dtype = tf.int32 if sequence.size < 2**31 else tf.int64
                with tf.init_scope(), tf.device("CPU:0"):
                    order = tf.Variable(tf.zeros([sequence.size], dtype), trainable=False, name="trainrig_data_order")
            self._epoch = (key, self._batch_function(0, stop, arrays, order), order)
        _, batch, order = self._epoch
        if order is not None:
            order.assign(np.asarray(sequence._order).astype(order.dtype.as_numpy_dtype))
        return batch, key

    def dataset(self, start: int, stop: int) -> tf.data.Dataset:
        """Batches ``start .. stop-1`` of the current epoch, equal to ``sequence[i]``.

        A whole epoch (``start`` 0) reuses one dataset built once (building one traces its map: ~15-40 ms
        an epoch); see :meth:`batches`.
        """
        batch, key = self.batches(start, stop)
        if key is not None and self._whole_epoch is not None and self._whole_epoch[0] == key:
            return self._whole_epoch[1]
        indices = tf.data.Dataset.range(max(stop - start, 0))
        if PARALLEL_GATHERS is None:
            dataset = indices.map(batch)
        else:
            dataset = indices.map(batch, num_parallel_calls=PARALLEL_GATHERS, deterministic=True)
        dataset = dataset.prefetch(PREFETCH_BATCHES).with_options(plain_options())
        dataset._trainrig_arrays = self  # keeps the variables alive with the dataset (see the class docstring)
        if key is not None:
            self._whole_epoch = (key, dataset)
        return dataset

    def _batch_function(self, start: int, stop: int, arrays: tuple[dict, dict], order: tf.Variable | None) -> Callable:
        """``i -> batch start + i``; shuffled rows from ``order`` (read per batch) or, without it, from
        the current order fixed in the function."""
        sequence = self.sequence
        inputs, targets = arrays
        batch_size, size = int(sequence.batch_size), int(sequence.size)
        if sequence.shuffle and order is not None:

            def batch(i):
                low = i * batch_size
                picked = tf.gather(order, tf.range(low, tf.minimum(low + batch_size, size)))
                return (
                    {k: tf.gather(v, picked) for k, v in inputs.items()},
                    {k: tf.gather(v, picked) for k, v in targets.items()},
                )

        elif sequence.shuffle:
            # The rows of batches start..stop-1, as __getitem__ slices them from the order; int32 halves
            # the constant (it is serialized when the iterator is made).
            rows = np.asarray(sequence._order)[start * batch_size : stop * batch_size]
            rows = tf.constant(rows.astype(np.int32 if size < 2**31 else np.int64))

            def batch(i):
                picked = rows[i * batch_size : (i + 1) * batch_size]
                return (
                    {k: tf.gather(v, picked) for k, v in inputs.items()},
                    {k: tf.gather(v, picked) for k, v in targets.items()},
                )

        else:  # contiguous rows, as __getitem__ slices them

            def batch(i):
                low = (i + start) * batch_size
                high = tf.minimum(low + batch_size, size)
                return {k: v[low:high] for k, v in inputs.items()}, {k: v[low:high] for k, v in targets.items()}

        return batch
