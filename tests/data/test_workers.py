"""A PyDataset that declares workers gets them: threads or processes, the batches of workers=1, in order."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import trainrig
from trainrig.data import workers as reading
from trainrig.data.pipeline import BatchSource
from trainrig.errors import TrainrigError

WORKERS = {
    "threads": dict(workers=3),
    "processes": dict(workers=3, use_multiprocessing=True),
    "processes, queue 1": dict(workers=2, use_multiprocessing=True, max_queue_size=1),
}


class EpochSequence(keras.utils.PyDataset):
    """Deterministic per (epoch, index): rows drawn from a generator seeded by both; the last batch is short.

    Every batch also carries the id of the process that read it and how many reads were running at
    once when it was read (``pid`` and ``concurrent`` inputs).
    """

    def __init__(self, batches=9, rows=4, delay=0.0, fail_at=None, **kwargs):
        super().__init__(**kwargs)
        self.batches, self.rows, self.delay, self.fail_at = batches, rows, delay, fail_at
        self.data = np.random.default_rng(0).normal(size=(batches * rows - 1, 3)).astype("float32")
        self.epoch = 0
        self.running, self.lock = 0, threading.Lock()

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        with self.lock:
            self.running += 1
            concurrent = self.running
        try:
            if self.delay:
                time.sleep(self.delay)
            if index == self.fail_at:
                raise ValueError(f"no batch {index} today")
            order = np.random.default_rng([self.epoch, index]).permutation(len(self.data))
            rows = order[index * self.rows : (index + 1) * self.rows][: len(self.data) - index * self.rows]
            n = len(rows)
            inputs = {"x": self.data[rows], "pid": np.full(n, os.getpid()), "concurrent": np.full(n, concurrent)}
            return inputs, {"y": self.data[rows, :1] * 2.0}
        finally:
            with self.lock:
                self.running -= 1

    def on_epoch_end(self):
        self.epoch += 1

    # Lock objects cannot be pickled; a fork does not need it, this keeps the class usable elsewhere.
    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "lock"}

    def __setstate__(self, state):
        self.__dict__.update(state, lock=threading.Lock())


def read(source: BatchSource, start: int = 0) -> list:
    return list(source.dataset(start).as_numpy_iterator())


def data_of(batches: list) -> list:
    """The rows of every batch, without the bookkeeping inputs."""
    return [(inputs["x"], targets["y"]) for inputs, targets in batches]


def assert_same(one: list, two: list) -> None:
    assert len(one) == len(two)
    for (x1, y1), (x2, y2) in zip(data_of(one), data_of(two)):
        assert x1.shape == x2.shape and np.array_equal(x1, x2) and np.array_equal(y1, y2)


def python_threads() -> set[str]:
    """Threads started by Python (not TensorFlow's own, which show up as dummies once they ran Python code)."""
    return {t.name for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}


@pytest.fixture
def nothing_left_behind():
    """After the test: no process pool, no child process, no new Python thread."""
    threads = python_threads()
    yield
    gc.collect()
    deadline = time.monotonic() + 10
    def left() -> bool:
        return bool(reading.POOLS or multiprocessing.active_children() or python_threads() - threads)

    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
        gc.collect()
    assert not reading.POOLS
    assert multiprocessing.active_children() == []
    assert python_threads() - threads == set()


@pytest.mark.parametrize("kind", list(WORKERS))
def test_workers_give_the_batches_of_one_worker(kind, nothing_left_behind):
    one = BatchSource(EpochSequence(), "training")
    several = BatchSource(EpochSequence(**WORKERS[kind]), "training")
    for epoch in range(2):  # on_epoch_end changes every batch: processes must see the new epoch
        for start in (0, 3):
            reference, got = read(one, start), read(several, start)
            assert_same(got, reference)
            assert len(got[-1][0]["x"]) == 3 and len(got) == 9 - start  # the short last batch
        one.epoch_end()
        several.epoch_end()
    assert several.dataset(0).element_spec == one.dataset(0).element_spec == one.signature


def test_threads_read_several_batches_at_once(nothing_left_behind):
    alone = read(BatchSource(EpochSequence(batches=12, delay=0.02), "training"))
    assert max(int(inputs["concurrent"].max()) for inputs, _ in alone) == 1
    threads = read(BatchSource(EpochSequence(batches=12, delay=0.02, workers=3), "training"))
    most = max(int(inputs["concurrent"].max()) for inputs, _ in threads)
    assert 2 <= most <= 3
    assert_same(threads, alone)
    # at most max_queue_size batches in flight, even with more workers
    queued = read(BatchSource(EpochSequence(batches=12, delay=0.02, workers=4, max_queue_size=2), "training"))
    assert max(int(inputs["concurrent"].max()) for inputs, _ in queued) <= 2


def test_processes_read_in_other_processes(nothing_left_behind):
    batches = read(BatchSource(EpochSequence(batches=12, delay=0.01, workers=3, use_multiprocessing=True), "training"))
    pids = {int(inputs["pid"][0]) for inputs, _ in batches}
    assert os.getpid() not in pids and 2 <= len(pids) <= 3


@pytest.mark.parametrize(
    "kind, where",
    [("one", ""), ("threads", " \\(read in a worker thread\\)"), ("processes", " \\(read in a worker process\\)")],
)
def test_a_failing_read_names_the_sequence_and_batch_and_leaves_nothing_behind(kind, where, nothing_left_behind):
    declared = {} if kind == "one" else WORKERS[kind]
    source = BatchSource(EpochSequence(fail_at=5, **declared), "training")
    message = f"the training sequence EpochSequence, batch 5{where}: __getitem__ raised ValueError: no batch 5 today"
    with pytest.raises(tf.errors.OpError, match=message):
        read(source)
    assert isinstance(source.read_error, TrainrigError)
    assert str(source.read_error) == message.replace("\\", "")


@pytest.mark.parametrize("kind", list(WORKERS))
def test_an_epoch_dropped_midway_shuts_its_workers_down(kind, nothing_left_behind):
    source = BatchSource(EpochSequence(delay=0.01, **WORKERS[kind]), "training")
    iterator = iter(source.dataset(0))
    next(iterator), next(iterator)
    if "processes" in kind:
        assert len(reading.POOLS) == 1 and len(multiprocessing.active_children()) >= 1
    del iterator  # a run stopped mid-epoch


def test_the_global_rng_watch_is_skipped_with_workers(capfd):
    class Noisy(EpochSequence):
        def __getitem__(self, index):
            inputs, targets = super().__getitem__(index)
            return {**inputs, "x": inputs["x"] + np.float32(np.random.normal())}, targets

    read(BatchSource(Noisy(workers=2), "training"))
    assert "global random generator" not in capfd.readouterr().err
    read(BatchSource(Noisy(), "training"))
    assert "global random generator" in capfd.readouterr().err


class NoSuper(keras.utils.PyDataset):
    """Never calls super().__init__(): Keras' defaults (one worker), and no Keras warning from trainrig."""

    def __init__(self):  # noqa: D107  (deliberately no super().__init__())
        self.data = np.arange(12, dtype="float32").reshape(6, 2)

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return {"x": self.data[index * 2 : index * 2 + 2]}, {"y": self.data[index * 2 : index * 2 + 2, :1]}


def test_declared_parallelism(recwarn):
    assert reading.parallelism(NoSuper(), "training") == (1, False, 10)
    assert not [w for w in recwarn if "super().__init__" in str(w.message)]
    assert reading.parallelism(EpochSequence(workers=4, max_queue_size=3), "training") == (4, False, 3)
    assert reading.parallelism(EpochSequence(workers=1, use_multiprocessing=True), "training") == (1, True, 10)
    assert reading.parallelism(EpochSequence(workers=0, use_multiprocessing=True), "training") == (0, False, 10)
    with pytest.raises(TrainrigError, match="max_queue_size must be at least 1"):
        reading.parallelism(EpochSequence(workers=2, max_queue_size=0), "training")
    with pytest.raises(TrainrigError, match="workers must be an integer"):
        reading.parallelism(EpochSequence(workers=2.5), "training")


def test_batches_that_do_not_match_batch_0_are_named():
    class Drifting(EpochSequence):
        def __getitem__(self, index):
            inputs, targets = super().__getitem__(index)
            if index == 2:
                return {**inputs, "x": inputs["x"][:, :2]}, targets
            if index == 3:
                return inputs, {}
            return inputs, targets

    source = BatchSource(Drifting(), "validation")
    shape = r"validation sequence Drifting, batch 2: input 'x' has shape \(4, 2\) where batch 0 had \(None, 3\)"
    with pytest.raises(tf.errors.OpError, match=shape):
        read(source)
    with pytest.raises(tf.errors.OpError, match=r"batch 3: targets \[\] where batch 0 had \['y'\]"):
        read(source, 3)


def test_values_are_converted_as_before():
    """float64 where batch 0 had float32 is cast (as from_generator did); text becomes UTF-8 bytes."""

    class Mixed(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            x = np.full((2, 1), 0.1, dtype="float32" if index == 0 else "float64")
            return {"x": x, "text": np.array(["é", "b"])}, {"y": [[1], [2]]}

    batches = read(BatchSource(Mixed(), "prediction"))
    assert batches[1][0]["x"].dtype == np.float32 and batches[1][0]["x"][0, 0] == np.float32(0.1)
    assert list(batches[1][0]["text"]) == ["é".encode(), b"b"]
    assert batches[0][1]["y"].dtype == np.int64


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_an_array_sequence_with_preprocess_takes_workers(kind, nothing_left_behind):
    import trainrig

    rng = np.random.default_rng(5)
    inputs = {"x": rng.normal(size=(50, 3)).astype("float32")}
    targets = {"y": rng.normal(size=(50, 1)).astype("float32")}
    scale = lambda i, t: ({"x": i["x"] * 2.0}, t)  # noqa: E731
    one = trainrig.ArraySequence(inputs, targets, 8, shuffle=True, seed=4, preprocess=scale)
    several = trainrig.ArraySequence(inputs, targets, 8, shuffle=True, seed=4, preprocess=scale, **WORKERS[kind])
    assert reading.parallelism(several, "training") == (3, kind == "processes", 10)
    one_source, several_source = BatchSource(one, "training"), BatchSource(several, "training")
    for _ in range(2):
        expected, got = read(one_source, 2), read(several_source, 2)
        assert len(got) == len(expected) == 5
        for (gi, gt), (ei, et) in zip(got, expected):
            assert np.array_equal(gi["x"], ei["x"]) and np.array_equal(gt["y"], et["y"])
        one_source.epoch_end()
        several_source.epoch_end()


class DiesInAWorker(EpochSequence):
    """Batch 4 kills the worker process reading it (as the OOM killer would)."""

    parent = os.getpid()

    def __getitem__(self, index):
        if index == 4 and os.getpid() != self.parent:
            os._exit(3)
        return super().__getitem__(index)


def test_a_worker_process_that_dies_is_reported(nothing_left_behind):
    source = BatchSource(DiesInAWorker(workers=2, use_multiprocessing=True), "training")
    died = r"sequence DiesInAWorker, batch \d \(read in a worker process\): the worker process died"
    with pytest.raises(tf.errors.OpError, match=died):
        read(source)


class FailingData(trainrig.DataBase[trainrig.DataBaseParams]):
    """A training sequence that fails at batch 5 of the first epoch; 8 x 4 validation rows."""

    def train_sequence(self, batch_size):
        return EpochSequence(fail_at=5, workers=2)

    def val_sequence(self, batch_size):
        return EpochSequence()


class XModel(trainrig.ModelBase[trainrig.ModelBaseParams]):
    def create_graph(self, params):
        inputs = {"x": keras.Input((3,), name="x"), "pid": keras.Input((), name="pid", dtype="int64"),
                  "concurrent": keras.Input((), name="concurrent", dtype="int64")}
        return keras.Model(inputs, {"y_hat": keras.layers.Dense(1)(inputs["x"])})

    def _loss(self):
        return {"mse": trainrig.LossDefinition("y", "y_hat", keras.losses.MeanSquaredError())}


def test_a_run_whose_sequence_fails_stops_with_the_one_line_error(tmp_path, nothing_left_behind):
    params = trainrig.TrainerParams(epochs=1, batch_size=4, progress="none", output_dir=str(tmp_path / "run"))
    with pytest.raises(TrainrigError) as info:
        trainrig.Trainer(params, XModel(), FailingData()).train()
    message = "the training sequence EpochSequence, batch 5 (read in a worker thread): __getitem__ raised ValueError: no batch 5 today"
    assert str(info.value) == message
