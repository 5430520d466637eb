"""The advanced training mode: ``ModelBase._build_sequences`` and ``ModelBase._fit_model``; the
augmentation preview in TensorBoard; a bad augmentation stops the run before training."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import trainrig
from trainrig.errors import TrainrigError
from trainrig.hooks.manager import PluginManager
from trainrig.tensorboard.writers import read_events
from trainrig.train.params import AugmentationParams
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel, DigitsModelParams

from fixtures_pkg import advanced
from fixtures_pkg.helpers import make_params
from fixtures_pkg.replay import CrashAt, weights_hash


def advanced_trainer(out, **overrides) -> trainrig.Trainer:
    params = make_params(out, epochs=1, batch_size=32, deterministic=True, seed=4, print_samples=0, **overrides)
    return trainrig.Trainer(params, advanced.AdvancedDigitsModel(DigitsModelParams(filters=4)), DigitsData())


def png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return height, width


def test_the_model_chooses_its_sequences_and_changes_the_fit(tmp_path):
    advanced.SEEN_LOGS.clear()
    trainer = advanced_trainer(tmp_path / "run")
    history = trainer.train()
    assert len(history["loss"]) == 2  # fit.epochs, although --trainer.epochs is 1
    assert trainer.context.steps_per_epoch == 5 and trainer.params.epochs == 2
    first = trainer.parts.train_source.first_batch()[0]["image"]
    assert first.shape == (32, 8, 8, 1)  # two copies of a 16-row batch
    assert len(advanced.SEEN_LOGS) == 2
    assert {"val_loss", "Test Accuracy", "Test ROC AUC", "learning_rate"} <= set(advanced.SEEN_LOGS[-1])


def test_a_run_in_advanced_mode_resumes_exactly(tmp_path):
    reference = tmp_path / "reference"
    advanced_trainer(reference).train()
    crashed = tmp_path / "crashed"
    trainer = advanced_trainer(crashed)
    trainer.user_callbacks.append(CrashAt(7))  # epoch 2, batch 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer.train()
    history = trainrig.Trainer.resume(crashed)
    assert len(history["loss"]) == 2
    assert weights_hash(crashed) == weights_hash(reference)


def test_the_first_augmented_batch_is_in_tensorboard_beside_its_originals(tmp_path):
    out = tmp_path / "run"
    augmentation = AugmentationParams(input="image", n=3, ops=[{"name": "shift", "max_shift": 2}])
    params = make_params(out, epochs=1, batch_size=16, steps_per_epoch=2, print_samples=0, augmentation=augmentation)
    trainrig.Trainer(params, DigitsModel(DigitsModelParams(filters=4)), DigitsData()).train()
    images = [
        (event.step, value)
        for path in sorted((out / "tensorboard" / "train").glob("events.out.tfevents.*"))
        for event in read_events(path)
        for value in event.summary.value
        if value.tag == "augmentation/image"
    ]
    assert len(images) == 1 and images[0][0] == 0
    strings = images[0][1].tensor.string_val
    assert strings[:2] == [b"35", b"8"]  # width: 4 panels of 8 and 3 separators; height 8
    assert len(strings) == 2 + 4 and all(png_size(png) == (8, 35) for png in strings[2:])


def test_an_augmentation_that_breaks_the_batch_stops_the_run_before_training(tmp_path):
    class Cropper(trainrig.BatchAugmentation):
        def random_transform_batch(self, x, seeds):
            return x[:, :, 1:]

    class Plugin:
        @trainrig.hookimpl
        def trainrig_register_augmentations(self):
            return {"crop": Cropper}

    manager = PluginManager()
    manager.register(Plugin(), name="cropper")
    out = tmp_path / "run"
    augmentation = AugmentationParams(input="image", n=2, ops=[{"name": "crop"}])
    params = make_params(out, epochs=1, batch_size=16, augmentation=augmentation)
    trainer = trainrig.Trainer(params, DigitsModel(DigitsModelParams(filters=4)), DigitsData(), plugins=manager)
    with pytest.raises(TrainrigError, match=r"augmentation Cropper changed the shape \(32, 8, 8, 1\) to \(32, 8, 7, 1\)"):
        trainer.train()
    assert not out.exists()


def test_fit_model_values_are_checked(tmp_path):
    class BadFit(DigitsModel):
        def _fit_model(self, trainer, fit):
            fit.epochs = 0

    params = make_params(tmp_path / "run", epochs=1, batch_size=16)
    trainer = trainrig.Trainer(params, BadFit(DigitsModelParams(filters=4)), DigitsData())
    with pytest.raises(TrainrigError, match=r"^BadFit._fit_model set fit.epochs to 0; it must be an integer >= 1$"):
        trainer.prepare()
    np.testing.assert_equal(trainer.params.epochs, 1)
