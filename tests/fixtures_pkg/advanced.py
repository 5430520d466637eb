"""A digits model in the advanced training mode (importable by path: resume rebuilds it from params.json)."""

from __future__ import annotations

import keras

import trainrig
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
