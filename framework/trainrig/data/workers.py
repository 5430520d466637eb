"""A ``PyDataset`` read through Python: one batch at a time, or by the workers it declares.

Every batch goes through :meth:`PythonReader.arrays`: ``sequence[index]``, checked against the batch
signature (the same keys, shapes compatible with batch 0's), converted to the signature's dtypes as
``tf.data.Dataset.from_generator`` did (an unsafe numpy cast, text to UTF-8 bytes) and copied (a batch
never shares memory with the sequence's arrays; TensorFlow may reuse an input's buffer for an
output). A failure is raised as one :class:`~trainrig.errors.TrainrigError` naming the sequence and
the batch index; TensorFlow hands it on from the iterator inside its own error.

How the batches are read (``keras.utils.PyDataset``'s ``workers``, ``use_multiprocessing``,
``max_queue_size``; see :func:`parallelism`):

- one at a time (``workers`` <= 1): a ``map`` over the indices calling ``tf.numpy_function`` in a
  background thread, prefetched by 2; reads are in order and never overlap, so the global-RNG watch
  applies.
- threads (``workers`` > 1): the same ``map`` with ``workers`` calls at once on a private pool of
  ``workers`` threads, results kept in index order, at most ``max_queue_size`` batches read ahead.
  The threads are tf.data's; nothing of Python is left behind when an iterator is dropped.
- processes (``use_multiprocessing``): a pool of ``workers`` processes forked when an epoch's
  iterator asks for its first batch (so they hold the sequence as it is that epoch, after
  ``on_epoch_end()``), fed the batch indices in order with at most ``max_queue_size`` batches in
  flight; the pool is shut down when the epoch's batches are read, when its iterator is dropped
  (a run stopped mid-epoch) or on an error. Linux (fork) only; ``__getitem__`` must not use
  TensorFlow there.

With workers the global-RNG watch cannot tell what a read did (reads overlap, or happen in other
processes) and is skipped. The read functions are stateless for TensorFlow, so op determinism
(``trainer.deterministic``) keeps the prefetching and the parallel calls (it turns prefetching off
for a pipeline with stateful ops, as ``from_generator`` has: the process path then yields in the
step's thread, while its pool still reads ahead).
"""

from __future__ import annotations

import collections
import gc
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from trainrig.data.native import plain_options
from trainrig.errors import TrainrigError

PREFETCH_BATCHES = 2


def _declared(sequence: Any, attribute: str, default):
    keras_property = getattr(keras.utils.PyDataset, attribute)
    if getattr(type(sequence), attribute, None) is keras_property and not hasattr(sequence, "_" + attribute):
        return default  # a PyDataset that did not call super().__init__(): Keras' default, without its warning
    return getattr(sequence, attribute, default)


def parallelism(sequence: Any, name: str) -> tuple[int, bool, int]:
    """``(workers, processes, max_queue_size)`` of a sequence: ``(1, False, 10)`` if it declares nothing.

    As in Keras: processes when ``use_multiprocessing`` and ``workers`` >= 1, threads when
    ``workers`` > 1, otherwise one batch at a time.
    """
    workers = _declared(sequence, "workers", 1)
    processes = bool(_declared(sequence, "use_multiprocessing", False))
    queue = _declared(sequence, "max_queue_size", 10)
    for label, value in (("workers", workers), ("max_queue_size", queue)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TrainrigError(f"the {name} sequence's {label} must be an integer, got {value!r}")
    workers, queue = int(workers), int(queue)
    processes = processes and workers >= 1
    if (workers > 1 or processes) and queue < 1:
        raise TrainrigError(
            f"the {name} sequence {type(sequence).__name__} has workers {workers} and max_queue_size {queue}; "
            "max_queue_size must be at least 1 (the batches read ahead)"
        )
    return workers, processes, queue


def _shape_text(dims: list) -> str:
    """``[None, 3]`` as ``(None, 3)``, like a numpy shape with a free batch axis."""
    text = ", ".join("None" if d is None else str(d) for d in dims)
    return f"({text},)" if len(dims) == 1 else f"({text})"


class PythonReader:
    """Reads one sequence's batches as flat lists of checked arrays in the order of ``signature``."""

    def __init__(self, sequence: Any, name: str, signature: tuple[dict, dict], watch=None):
        self.sequence = sequence
        self.name = name
        self.signature = signature
        self.watch = watch  # a _GlobalRngWatch, or None
        self.keys = (sorted(signature[0]), sorted(signature[1]))  # tf.nest.flatten's order
        self.specs = tf.nest.flatten(signature)
        self.dtypes = [s.dtype for s in self.specs]
        self.numpy_dtypes = [object if s.dtype == tf.string else s.dtype.as_numpy_dtype for s in self.specs]
        self.shapes = [s.shape.as_list() for s in self.specs]
        self.error: TrainrigError | None = None  # the last failure, for a caller that wants it unwrapped

    # --- one batch ---------------------------------------------------------------------------------

    def _failure(self, index: int, problem: str, where: str) -> TrainrigError:
        place = f" (read in a worker {where})" if where else ""
        self.error = TrainrigError(
            f"the {self.name} sequence {type(self.sequence).__name__}, batch {index}{place}: {problem}"
        )
        return self.error

    def arrays(self, index: int, where: str = "") -> list[np.ndarray]:
        """``sequence[index]`` checked, converted and copied; flat in the signature's order."""
        try:
            batch = self.sequence[index]
        except Exception as error:
            raise self._failure(index, f"__getitem__ raised {type(error).__name__}: {error}", where) from error
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(b, dict) for b in batch)):
            returned = type(batch).__name__
            raise self._failure(index, f"__getitem__ returned {returned}, not (inputs, targets) dicts", where)
        out: list[np.ndarray] = []
        position = 0
        for part, keys, kind in zip(batch, self.keys, ("input", "target")):
            if sorted(part) != keys:
                raise self._failure(index, f"{kind}s {sorted(part)} where batch 0 had {keys}", where)
            for key in keys:
                value = part[key]
                dtype, shape = self.numpy_dtypes[position], self.shapes[position]
                try:
                    array = np.array(value, dtype=dtype, copy=True, order="C")
                except (TypeError, ValueError) as error:
                    raise self._failure(
                        index, f"{kind} {key!r} cannot be converted to {self.dtypes[position].name}: {error}", where
                    ) from error
                if array.ndim != len(shape) or any(e is not None and e != a for e, a in zip(shape, array.shape)):
                    raise self._failure(
                        index, f"{kind} {key!r} has shape {array.shape} where batch 0 had {_shape_text(shape)}", where
                    )
                out.append(array)
                position += 1
        return out

    def _read_in_thread(self, index) -> list[np.ndarray]:
        return self.arrays(int(index), "thread")

    def _read_watched(self, index) -> list[np.ndarray]:
        watch = self.watch
        if watch is None or watch.warned:
            return self.arrays(int(index))
        before = watch.state()
        arrays = self.arrays(int(index))
        watch.check(before, type(self.sequence).__name__)
        return arrays

    # --- an epoch --------------------------------------------------------------------------------

    def _mapped(self, start: int, stop: int, read: Callable, calls: int | None) -> tf.data.Dataset:
        specs, dtypes, signature = self.specs, self.dtypes, self.signature

        def batch(index):
            flat = tf.numpy_function(read, [index], dtypes, stateful=False)
            for tensor, spec in zip(flat, specs):
                tensor.set_shape(spec.shape)
            return tf.nest.pack_sequence_as(signature, flat)

        indices = tf.data.Dataset.range(start, max(start, stop))
        if calls is None:
            return indices.map(batch)
        return indices.map(batch, num_parallel_calls=calls, deterministic=True)

    def dataset(self, start: int, stop: int) -> tf.data.Dataset:
        """One batch at a time, in order, in tf.data's background thread (the global-RNG watch applies)."""
        # plain_options: tf.data would make a stateless map parallel (map_parallelization)
        dataset = self._mapped(start, stop, self._read_watched, None).prefetch(PREFETCH_BATCHES)
        return dataset.with_options(plain_options())

    def thread_dataset(self, start: int, stop: int, workers: int, queue: int) -> tf.data.Dataset:
        """``workers`` reads at once on ``workers`` threads, in index order, at most ``queue`` batches ahead."""
        calls = min(workers, queue)
        options = plain_options()
        options.threading.private_threadpool_size = workers
        dataset = self._mapped(start, stop, self._read_in_thread, calls)
        if queue > calls:
            dataset = dataset.prefetch(queue - calls)
        return dataset.with_options(options)

    def process_dataset(self, start: int, stop: int, workers: int, queue: int) -> tf.data.Dataset:
        """``workers`` processes, forked when the iterator asks for its first batch; see the module docstring."""
        if "fork" not in multiprocessing.get_all_start_methods():
            raise TrainrigError(
                f"the {self.name} sequence {type(self.sequence).__name__} sets use_multiprocessing, which needs the "
                "'fork' start method (Linux); use threads (use_multiprocessing=False) on this platform"
            )
        prefetch = min(PREFETCH_BATCHES, queue - 1)
        in_flight = queue - prefetch  # read by the pool (or done) and not yet yielded; >= 1
        signature = self.signature

        def batches() -> Iterator:
            for flat in self._from_processes(start, stop, workers, in_flight):
                yield tf.nest.pack_sequence_as(signature, flat)

        dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
        return (dataset.prefetch(prefetch) if prefetch > 0 else dataset).with_options(plain_options())

    def _from_processes(self, start: int, stop: int, workers: int, in_flight: int) -> Iterator[list[np.ndarray]]:
        if start >= stop:
            return
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_adopt,
            initargs=(self,),
        )
        POOLS.add(pool)
        pending: collections.deque = collections.deque()
        following = start
        try:
            while following < stop and len(pending) < in_flight:
                pending.append((following, pool.submit(_read_in_process, following)))
                following += 1
            while pending:
                index, future = pending.popleft()
                try:
                    flat = future.result()
                except TrainrigError as error:  # raised by arrays() in the worker, already naming the batch
                    self.error = error
                    raise
                except BrokenProcessPool as error:
                    raise self._failure(
                        index,
                        "the worker process died (killed, out of memory or crashed in native code)",
                        "process",
                    ) from error
                except Exception as error:  # e.g. a result that could not be pickled
                    raise self._failure(index, f"{type(error).__name__}: {error}", "process") from error
                if following < stop:
                    pending.append((following, pool.submit(_read_in_process, following)))
                    following += 1
                yield flat
        finally:
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            POOLS.discard(pool)


POOLS: set = set()  # the process pools running now (tests check that none is left behind)

_WORKER_READER: PythonReader | None = None  # in a worker process: the reader it was forked with


def _adopt(reader: PythonReader) -> None:
    """Initializer of a worker process (forked: ``reader`` is the parent's object as it was, not a pickle)."""
    global _WORKER_READER
    _WORKER_READER = reader
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it shuts the pool down
    gc.freeze()  # the parent's objects (TensorFlow's among them) are never collected, finalized, touched here


def _read_in_process(index: int) -> list[np.ndarray]:
    return _WORKER_READER.arrays(index, "process")
