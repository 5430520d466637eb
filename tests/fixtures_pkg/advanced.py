"""A digits model in the advanced training mode (importable by path: resume rebuilds it from params.json)."""

from __future__ import annotations

import keras

import trainrig
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel

SEEN_LOGS: list[list[str]] = []  # the logs keys the added callback saw at every epoch end


class RecordLogs(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        SEEN_LOGS.append(sorted(logs or {}))


class AdvancedDigitsModel(DigitsModel):
    """Trains on two shifted copies of half-size batches, for 2 epochs of 5 steps, with a callback added."""

    def _build_sequences(self, build_train_sequence_with_batch_size, build_validation_sequence_with_batch_size, batch_size):
        train = build_train_sequence_with_batch_size(batch_size // 2)
        augmentator = trainrig.build_augmentation([{"name": "shift", "max_shift": 1}])
        augmented = trainrig.DataAugmentationSequence(train, "image", augmentator, n_augmentation=2, seed=3)
        return augmented, build_validation_sequence_with_batch_size(batch_size)

    def _fit_model(self, trainer, fit):
        assert [type(c).__name__ for c in fit.base_callbacks][:2] == ["MetricSuite", "HistoryRecorder"]
        fit.epochs, fit.steps_per_epoch = 2, 5
        fit.callbacks.append(RecordLogs())


class Scale(trainrig.BatchAugmentation):
    """Multiplies each sample by a factor in [0.5, 1.5) drawn from its seed: numpy draws, keras.ops apply
    (so it runs in the input graph)."""

    name = "scale"

    def parameters(self, seeds, sample_shape):
        from trainrig.data import random_draws

        return random_draws.uniform(seeds, 0, 1, 0.5, 1.5).astype("float32")

    def apply(self, x, parameters):
        factors = keras.ops.reshape(parameters, (-1,) + (1,) * (len(x.shape) - 1))
        return keras.ops.cast(keras.ops.cast(x, "float32") * factors, x.dtype)

    def random_transform_batch(self, x, seeds):
        import numpy as np

        return keras.ops.convert_to_numpy(self.apply(np.asarray(x), self.parameters(seeds, np.shape(x)[1:])))


class ScaledDigits(DigitsData):
    """The digits, every training batch in two scaled copies (augmented in tf.data)."""

    def train_sequence(self, batch_size):
        return trainrig.DataAugmentationSequence(super().train_sequence(batch_size), "image", Scale(), 2, seed=self.seed)
