"""An ArraySequence without preprocess is read in tf.data alone; its batches are exactly sequence[i]."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import trainrig
from trainrig.data.pipeline import BatchSource

ROWS, BATCH = 103, 10  # 11 batches, the last one of 3 rows


def arrays(rows: int = ROWS, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    inputs = {
        "x": rng.normal(size=(rows, 4)).astype("float32"),
        "image": rng.integers(0, 255, size=(rows, 2, 3)).astype("uint8"),
        "mask": rng.random(rows) > 0.5,
    }
    targets = {"y": rng.integers(0, 5, size=(rows, 1)).astype("int64"), "w": rng.random(rows).astype("float16")}
    return inputs, targets


def assert_same_batch(got, expected, where) -> None:
    for part_got, part_expected in zip(got, expected):
        assert sorted(part_got) == sorted(part_expected), where
        for key, value in part_expected.items():
            value = np.asarray(value)
            if value.dtype.kind == "U":  # text comes out of TensorFlow as UTF-8 bytes
                value = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(value)
            assert part_got[key].dtype == value.dtype, (where, key)
            assert part_got[key].shape == value.shape, (where, key)
            assert np.array_equal(part_got[key], value), (where, key)


def assert_epoch_matches(source: BatchSource, sequence, start: int, where: str) -> None:
    got = list(source.dataset(start).as_numpy_iterator())
    assert len(got) == len(source) - start, where
    for index, batch in enumerate(got, start):
        assert_same_batch(batch, sequence[index], f"{where}, batch {index}")


def count_reads(monkeypatch) -> list[int]:
    """Count calls of ArraySequence.__getitem__ (patched on the class itself, so the native rule still holds)."""
    calls = [0]
    original = trainrig.ArraySequence.__getitem__

    def counted(self, index):
        calls[0] += 1
        return original(self, index)

    monkeypatch.setattr(trainrig.ArraySequence, "__getitem__", counted)
    return calls


@pytest.mark.parametrize("shuffle", [True, False])
def test_native_batches_equal_sequence_items_over_epochs_and_starts(shuffle):
    inputs, targets = arrays()
    sequence = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=shuffle, seed=7)
    source = BatchSource(sequence, "training")
    assert source.native is not None and source.native.usable()
    assert source.dataset(0).element_spec == source.signature
    first_epoch = [b["x"] for b, _ in source.dataset(0).as_numpy_iterator()]
    for epoch in range(3):
        for start in (0, 1, 4, len(sequence) - 1):
            assert_epoch_matches(source, sequence, start, f"shuffle={shuffle}, epoch {epoch}, start {start}")
        assert list(source.dataset(len(sequence)).as_numpy_iterator()) == []
        source.epoch_end()
    assert len(first_epoch[-1]) == ROWS % BATCH
    later = [b["x"] for b, _ in source.dataset(0).as_numpy_iterator()]
    assert all(np.array_equal(a, b) for a, b in zip(first_epoch, later)) != shuffle  # shuffled epochs differ
    assert source.native.conversions == 1  # the arrays became variables once, not once per epoch


def test_native_path_calls_no_python_per_batch(monkeypatch):
    calls = count_reads(monkeypatch)
    inputs, targets = arrays()
    sequence = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=True, seed=1)
    source = BatchSource(sequence, "training")
    assert calls[0] == 1  # batch 0, read once for the signature
    calls[0] = 0
    for start in (0, 3):
        assert len(list(source.dataset(start).as_numpy_iterator())) == len(sequence) - start
    assert calls[0] == 0
    # the same sequence with a preprocess function is read through __getitem__, every batch
    same = lambda i, t: (i, t)  # noqa: E731
    with_preprocess = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=True, seed=1, preprocess=same)
    source = BatchSource(with_preprocess, "training")
    assert source.native is None
    calls[0] = 0
    list(source.dataset(0).as_numpy_iterator())
    assert calls[0] == len(with_preprocess)


def test_a_resumed_sequence_gives_the_epoch_it_was_set_to():
    inputs, targets = arrays()
    walked = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=True, seed=3)
    walked_source = BatchSource(walked, "training")
    for _ in range(2):
        walked_source.epoch_end()
    restored = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=True, seed=3)
    restored_source = BatchSource(restored, "training")
    restored.set_state(walked.get_state())
    assert_epoch_matches(restored_source, walked, 5, "set_state to epoch 2, start 5")


def test_steps_per_epoch_shorter_than_the_sequence():
    inputs, targets = arrays()
    sequence = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=True, seed=2)
    source = BatchSource(sequence, "training", steps=4)
    assert len(source) == 4
    assert_epoch_matches(source, sequence, 1, "steps 4, start 1")


def test_replaced_arrays_are_converted_again():
    inputs, targets = arrays()
    sequence = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=False)
    source = BatchSource(sequence, "validation")
    assert_epoch_matches(source, sequence, 0, "before")
    new_inputs, new_targets = arrays(seed=9)
    sequence.inputs, sequence.targets = new_inputs, new_targets
    assert_epoch_matches(source, sequence, 0, "after replacing the arrays")
    assert source.native.conversions == 2


class OwnOrder(trainrig.ArraySequence):
    def _order_of(self, epoch):
        return np.arange(self.size)[::-1].copy()


class CountsEpochs(trainrig.ArraySequence):
    def on_epoch_end(self):
        super().on_epoch_end()
        self.ends = getattr(self, "ends", 0) + 1


class KeepsMoreState(trainrig.ArraySequence):
    def get_state(self):
        return {**super().get_state(), "extra": 1}


@pytest.mark.parametrize(
    "make, native",
    [
        (lambda i, t: trainrig.ArraySequence(i, t, BATCH, shuffle=True), True),
        (lambda i, t: KeepsMoreState(i, t, BATCH, shuffle=True), True),
        (lambda i, t: OwnOrder(i, t, BATCH, shuffle=True), False),
        (lambda i, t: CountsEpochs(i, t, BATCH, shuffle=True), False),
        (lambda i, t: trainrig.ArraySequence(i, t, BATCH, preprocess=lambda a, b: (a, b)), False),
        (lambda i, t: trainrig.ArraySequence({**i, "name": np.array([f"r{n}" for n in range(ROWS)])}, t, BATCH), False),
    ],
    ids=["exact", "get_state-overridden", "_order_of-overridden", "on_epoch_end-overridden", "preprocess", "strings"],
)
def test_which_sequences_are_read_natively_and_every_way_gives_the_same_batches(make, native):
    inputs, targets = arrays()
    sequence = make(inputs, targets)
    source = BatchSource(sequence, "training")
    assert (source.native is not None) == native
    for epoch in range(2):
        assert_epoch_matches(source, sequence, 2, f"epoch {epoch}")
        source.epoch_end()


def test_a_memmap_is_read_through_python(tmp_path):
    inputs, targets = arrays()
    mapped = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype="float32", shape=inputs["x"].shape)
    mapped[:] = inputs["x"]
    sequence = trainrig.ArraySequence({"x": mapped}, targets, BATCH, shuffle=True)
    source = BatchSource(sequence, "training")
    assert source.native is None  # converting it would load the whole file into memory
    assert_epoch_matches(source, sequence, 0, "memmap")


def test_inside_a_strategy_scope_the_python_path_is_used():
    inputs, targets = arrays()
    sequence = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=True)
    source = BatchSource(sequence, "training")
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        dataset = source.dataset(0)
    assert source.native.conversions == 0
    got = list(dataset.as_numpy_iterator())
    for index, batch in enumerate(got):
        assert_same_batch(batch, sequence[index], f"batch {index}")


def test_native_batches_do_not_share_memory_with_the_arrays():
    inputs, targets = arrays()
    before = {k: v.copy() for k, v in inputs.items()}
    sequence = trainrig.ArraySequence(inputs, targets, BATCH, shuffle=False)
    source = BatchSource(sequence, "validation")
    for batch_inputs, _ in source.dataset(0):
        batch_inputs["x"].numpy()[:] = -1.0  # a tensor's numpy view; writing it must not reach the arrays
    assert all(np.array_equal(inputs[k], before[k]) for k in inputs)
