"""A ``DataAugmentationSequence`` over an ``ArraySequence`` with an in-graph augmentator is augmented in
``tf.data`` (no Python per batch) and gives exactly the batches ``sequence[i]`` gives."""

from __future__ import annotations

import numpy as np
import pytest

import trainrig
from trainrig.data.array_ops import Shift
from trainrig.data.augmentators import Compose, in_graph
from trainrig.data.native_augmentation import NativeAugmented
from trainrig.data.pipeline import BatchSource

from fixtures_pkg.advanced import Scale, ScaledDigits
from fixtures_pkg.helpers import make_params
from fixtures_pkg.replay import CrashAt, weights_hash


def sequence(augmentator, n: int = 3, rows: int = 23, batch_size: int = 5, **kwargs):
    rng = np.random.default_rng(0)
    inputs = {"image": rng.uniform(0, 1, (rows, 4, 4, 1)).astype("float32"), "other": np.arange(rows, dtype="int64")}
    targets = {"y": rng.integers(0, 3, rows).astype("int32")}
    inner = trainrig.ArraySequence(inputs, targets, batch_size, shuffle=True, seed=4)
    return trainrig.DataAugmentationSequence(inner, "image", augmentator, n_augmentation=n, seed=9, **kwargs)


def assert_batches_equal(source: BatchSource, wrapped, start: int = 0) -> int:
    count = 0
    for index, (inputs, targets) in enumerate(source.dataset(start).as_numpy_iterator(), start):
        expected_inputs, expected_targets = wrapped[index]
        for got, expected in ((inputs, expected_inputs), (targets, expected_targets)):
            assert sorted(got) == sorted(expected)
            for key in expected:
                np.testing.assert_array_equal(got[key], expected[key], err_msg=f"batch {index}, {key}")
        count += 1
    return count


def test_an_in_graph_augmentation_is_read_natively_with_the_same_batches_every_epoch():
    wrapped = sequence(Compose([Scale(), Scale()]))
    source = BatchSource(wrapped, "training")
    assert isinstance(source.native, NativeAugmented) and source.native.usable()
    for _ in range(3):  # the order and the draws change every epoch
        assert assert_batches_equal(source, wrapped) == 5  # the last batch holds 3 rows
        source.epoch_end()
    assert assert_batches_equal(source, wrapped, start=3) == 2  # a mid-epoch resume starts inside one


def test_an_augmentator_that_cannot_run_in_the_graph_is_read_through_python():
    assert in_graph(Scale()) and not in_graph(Shift(1)) and not in_graph(Compose([Scale(), Shift(1)]))
    for wrapped in (sequence(Shift(1)), sequence(Compose([Scale(), Shift(1)]))):
        source = BatchSource(wrapped, "training")
        assert source.native is None
        assert assert_batches_equal(source, wrapped) == 5

    class Custom(trainrig.DataAugmentationSequence):
        def augment(self, x, index):
            return super().augment(x, index) * 0

    inner = sequence(Scale()).sequence
    custom = Custom(inner, "image", Scale(), n_augmentation=2, seed=1)
    assert BatchSource(custom, "training").native is None  # a subclass deciding its batches itself


def test_a_run_reads_the_augmented_batches_natively_and_resumes_bit_exactly(tmp_path):
    from trainrig_digits.model import DigitsModel, DigitsModelParams

    def trainer(out) -> trainrig.Trainer:
        params = make_params(out, epochs=2, batch_size=16, steps_per_epoch=6, deterministic=True, seed=3, print_samples=0)
        return trainrig.Trainer(params, DigitsModel(DigitsModelParams(filters=4)), ScaledDigits())

    reference = trainer(tmp_path / "reference")
    reference.train()
    assert isinstance(reference.parts.train_source.native, NativeAugmented)
    crashed = trainer(tmp_path / "crashed")
    crashed.user_callbacks.append(CrashAt(8))  # epoch 2, batch 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.train()
    trainrig.Trainer.resume(tmp_path / "crashed")
    assert weights_hash(tmp_path / "crashed") == weights_hash(tmp_path / "reference")
