"""The augmentator protocols of ``DataAugmentationSequence``, the built-in numpy ops and ``build_augmentation``."""

from __future__ import annotations

import numpy as np
import pytest

import trainrig
from trainrig.data import random_draws
from trainrig.data.augmentation import BatchAugmentation, Compose, DataAugmentationSequence
from trainrig.errors import TrainrigError
from trainrig.data.array_ops import Flip, GaussianNoise, Shift


def batch_sequence(images: np.ndarray, batch_size: int = 4, **kwargs) -> trainrig.ArraySequence:
    labels = np.arange(len(images), dtype="float32")[:, None]
    return trainrig.ArraySequence({"image": images, "other": labels}, {"y": labels}, batch_size, **kwargs)


def images(n: int = 6, size: int = 5) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (n, size, size, 1)).astype("float32")


class PerSampleOnly:
    """Hides an op's batch method: the sequence must fall back to one call per sample."""

    def __init__(self, op):
        self.op = op

    def random_transform(self, x, seed=None):
        return self.op.random_transform(x, seed=seed)


@pytest.mark.parametrize("op", [Shift(1), Flip(), GaussianNoise(0.2), Compose([Shift(2), Flip(axis=0), GaussianNoise()])])
def test_batch_and_per_sample_protocols_give_the_same_batches(op):
    x = images()
    direct = DataAugmentationSequence(batch_sequence(x), "image", op, n_augmentation=3, seed=7)
    looped = DataAugmentationSequence(batch_sequence(x), "image", PerSampleOnly(op), n_augmentation=3, seed=7)
    for index in range(len(direct)):
        a, b = direct[index], looped[index]
        np.testing.assert_array_equal(a[0]["image"], b[0]["image"])
        assert a[0]["image"].shape[0] == 3 * len(batch_sequence(x)[index][0]["image"])
    seeds = np.array([3, 99, 12345])
    whole = op.random_transform_batch(x[:3], seeds)
    for i in range(3):
        np.testing.assert_array_equal(op.random_transform(x[i], seed=int(seeds[i])), whole[i])


def test_copies_and_epochs_get_distinct_transforms_and_other_inputs_repeat():
    x = images(4)
    sequence = DataAugmentationSequence(batch_sequence(x), "image", GaussianNoise(0.5), n_augmentation=3, seed=1)
    inputs, targets = sequence[0]
    copies = inputs["image"].reshape(3, 4, 5, 5, 1)
    assert not np.array_equal(copies[0], copies[1]) and not np.array_equal(copies[1], copies[2])
    np.testing.assert_array_equal(inputs["other"], np.tile(np.arange(4, dtype="float32")[:, None], (3, 1)))
    np.testing.assert_array_equal(targets["y"], inputs["other"])
    sequence.on_epoch_end()
    assert not np.array_equal(sequence[0][0]["image"], inputs["image"])
    sequence.set_state({"epoch": 0, "sequence": sequence.sequence.get_state()})
    np.testing.assert_array_equal(sequence[0][0]["image"], inputs["image"])


def test_shift_moves_a_marked_pixel_by_its_draw():
    x = np.zeros((8, 7, 7, 1), "float32")
    x[:, 3, 3, 0] = 1.0
    seeds = np.arange(8)
    shifts = random_draws.integers(seeds, 0, -2, 2, count=2)
    out = Shift(2).random_transform_batch(x, seeds)
    for i, (dy, dx) in enumerate(shifts):
        assert np.argwhere(out[i, ..., 0]).tolist() == [[3 + dy, 3 + dx]]
    assert len({tuple(s) for s in shifts}) > 3  # the draws differ between samples


def test_flip_flips_exactly_when_drawn_and_noise_has_its_stddev():
    x = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    always = Flip(axis=1, p=1.0).random_transform_batch(x, np.array([1, 2]))
    np.testing.assert_array_equal(always, x[:, :, ::-1])
    np.testing.assert_array_equal(Flip(p=0.0).random_transform_batch(x, np.array([1, 2])), x)
    noise = GaussianNoise(0.5).random_transform_batch(np.zeros((50, 40), "float32"), np.arange(50))
    assert abs(noise.std() - 0.5) < 0.02 and abs(noise.mean()) < 0.02 and noise.dtype == np.float32


def test_random_draws_are_uniform_and_per_seed():
    u = random_draws.uniform(np.arange(20000), 0, 2)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert not np.array_equal(u[:, 0], u[:, 1])
    np.testing.assert_array_equal(random_draws.uniform([5], 3, 4)[0], random_draws.uniform([9, 5], 3, 4)[1])
    assert np.bincount(random_draws.integers(np.arange(5000), 1, -1, 1).ravel() + 1).min() > 1500


def test_build_augmentation_uses_the_registry_and_says_what_is_valid():
    chain = trainrig.build_augmentation([{"name": "shift", "max_shift": 1}, {"name": "gaussian_noise", "stddev": 0.1}])
    assert isinstance(chain, Compose) and [type(a) for a in chain.augmentators] == [Shift, GaussianNoise]
    assert isinstance(trainrig.build_augmentation([{"name": "flip"}]), Flip)
    with pytest.raises(TrainrigError, match=r"^unknown augmentation 'spin'; registered: .*'flip'.*'shift'"):
        trainrig.build_augmentation([{"name": "spin"}])
    with pytest.raises(TrainrigError, match=r"^augmentation 'shift' has no option 'max_shfit'; its options: max_shift$"):
        trainrig.build_augmentation([{"name": "shift", "max_shfit": 2}])
    with pytest.raises(TrainrigError, match=r"^augmentation 'flip' rejected its options \{'p': 2\}: p must be in \[0, 1\], got 2$"):
        trainrig.build_augmentation([{"name": "flip", "p": 2}])
    with pytest.raises(TrainrigError, match="must be an object with a 'name'"):
        trainrig.build_augmentation(["shift"])


def test_bad_augmentators_and_inputs_are_one_line_errors():
    x = images()
    with pytest.raises(TrainrigError, match=r"has no random_transform\(x, seed=None\) method"):
        DataAugmentationSequence(batch_sequence(x), "image", object())

    class Crops(BatchAugmentation):
        def random_transform_batch(self, x, seeds):
            return x[:, 1:]

    with pytest.raises(TrainrigError, match=r"^augmentation Crops changed the shape \(12, 5, 5, 1\) to \(12, 4, 5, 1\)"):
        DataAugmentationSequence(batch_sequence(x), "image", Crops(), n_augmentation=3)[0]
    with pytest.raises(TrainrigError, match=r"^augmentation input 'img' is not an input; inputs: \['image', 'other'\]$"):
        DataAugmentationSequence(batch_sequence(x), "img", Flip())[0]
    with pytest.raises(TrainrigError, match=r"^augmentation shift needs samples with at least two axes"):
        Shift(1).random_transform_batch(np.zeros((3, 4), "float32"), np.arange(3))


    class Breaks:
        def random_transform(self, x, seed=None):
            raise ValueError("cannot do it\nsecond line")

    with pytest.raises(TrainrigError, match=r"^augmentation Breaks failed on a batch of shape \(8, 5, 5, 1\) \(float32\): ValueError: cannot do it$"):
        DataAugmentationSequence(batch_sequence(x), "image", Breaks(), n_augmentation=2)[0]


def test_the_sequence_reads_with_the_workers_it_is_given_or_inherits():
    x = images()
    inherited = DataAugmentationSequence(batch_sequence(x, workers=3), "image", Flip())
    assert (inherited.workers, inherited.use_multiprocessing) == (3, False)
    chosen = DataAugmentationSequence(batch_sequence(x), "image", Flip(), workers=2, max_queue_size=4)
    assert (chosen.workers, chosen.max_queue_size) == (2, 4)
