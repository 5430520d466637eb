"""The trainrig side of the comparisons: the MLP as a ``ModelBase``, the data sources as ``DataBase``s,
and a quiet ``Trainer`` run timed by an :class:`~benchmarks.keras_side.EpochTimer`."""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

import trainrig
from benchmarks.common import quiet, scratch_dir
from benchmarks.keras_side import MLP_CLASSES, MLP_FEATURES, MLP_HIDDEN, Arrays, EpochTimer, mlp_logits
from trainrig import LossDefinition, MetricDefinition, PredictionDefinition
from trainrig_digits.data import DigitsData

# --- the model -------------------------------------------------------------------------------------


@trainrig.define
class MLPParams(trainrig.ModelBaseParams):
    features: int = trainrig.field(default=MLP_FEATURES, help="Input features.")
    hidden: int = trainrig.field(default=MLP_HIDDEN, help="Width of the two hidden layers.")
    classes: int = trainrig.field(default=MLP_CLASSES, help="Number of classes.")


class MLPModel(trainrig.ModelBase[MLPParams]):
    """The MLP of :func:`benchmarks.keras_side.mlp` on input ``x``, target ``label``: cross-entropy on the
    logits, accuracy, best model by validation accuracy, the multiclass metric suite on the probabilities."""

    def create_graph(self, params):
        x = keras.Input((params.features,), name="x")
        logits = mlp_logits(x, params.hidden, params.classes)
        return keras.Model({"x": x}, {"logits": logits, "probabilities": keras.layers.Softmax()(logits)})

    def _loss(self):
        return {"xent": LossDefinition("label", "logits", keras.losses.SparseCategoricalCrossentropy(from_logits=True))}

    def _metric(self):
        return {"acc": MetricDefinition("label", "logits", keras.metrics.SparseCategoricalAccuracy())}

    def _best_logging_settings(self):
        return "max", "acc"

    def _prediction(self):
        return PredictionDefinition("label", "probabilities", "multiclass")


class BigMLP(trainrig.ModelBase[trainrig.ModelBaseParams]):
    """3 dense layers of width 1800 on 1800 features and a regression head: 9.73M parameters."""

    def create_graph(self, params):
        x = keras.Input((1800,), name="x")
        h = keras.layers.Dense(1800, activation="relu")(x)
        h = keras.layers.Dense(1800, activation="relu")(h)
        h = keras.layers.Dense(1800, activation="relu")(h)
        return keras.Model({"x": x}, {"y_hat": keras.layers.Dense(1)(h)})

    def _loss(self):
        return {"mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError())}


# --- the data --------------------------------------------------------------------------------------


class ArrayData(trainrig.DataBase[trainrig.DataBaseParams]):
    """Training and validation arrays as ``ArraySequence``s (input ``x``, target ``label``; training shuffled)."""

    def __init__(self, train: Arrays, validation: Arrays):
        super().__init__()
        self.train, self.validation = train, validation

    def train_sequence(self, batch_size):
        x, y = self.train
        return trainrig.ArraySequence({"x": x}, {"label": y}, batch_size, shuffle=True, seed=self.seed)

    def val_sequence(self, batch_size):
        x, y = self.validation
        return trainrig.ArraySequence({"x": x}, {"label": y}, batch_size)


def materialised(sequence) -> tf.data.Dataset:
    """One epoch of ``sequence`` (a ``PyDataset`` whose batches have one size, but maybe the last) computed
    now and held in memory as a cached ``tf.data.Dataset``."""
    batches = [sequence[index] for index in range(len(sequence))]
    dataset = tf.data.Dataset.from_tensors(batches[-1])
    if len(batches) > 1:
        stacked = tf.nest.map_structure(lambda *parts: np.stack(parts), *batches[:-1])
        dataset = tf.data.Dataset.from_tensor_slices(stacked).concatenate(dataset)
    return dataset.cache()


class MaterialisedData(trainrig.DataBase[trainrig.DataBaseParams]):
    """The training batches of another data computed once, before training (see :func:`materialised`).

    Every epoch replays the first epoch's order: a timing floor for the input pipeline, not a data set.
    """

    def __init__(self, data: trainrig.DataBase):
        super().__init__()
        self.data = data

    def train_sequence(self, batch_size):
        self.data.seed = self.seed
        return materialised(self.data.train_sequence(batch_size))

    def val_sequence(self, batch_size):
        return self.data.val_sequence(batch_size)


class SlowBatches(keras.utils.PyDataset):
    """Random batches that take ``delay`` seconds each to produce (a sleep standing for decoding or
    augmentation), declaring ``workers`` reader threads."""

    def __init__(self, batches: int, batch_size: int, features: int, delay: float, workers: int):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.batches, self.batch_size, self.features, self.delay = batches, batch_size, features, delay

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        time.sleep(self.delay)
        x = np.random.default_rng(index).normal(size=(self.batch_size, self.features)).astype("float32")
        return {"x": x}, {"label": (x[:, 0] > 0).astype("int32")}


class SlowData(trainrig.DataBase[trainrig.DataBaseParams]):
    """:class:`SlowBatches` for training (``batches`` of them); two batches without delay for validation."""

    def __init__(self, batches: int, features: int, delay: float, workers: int):
        super().__init__()
        self.batches, self.features, self.delay, self.workers = batches, features, delay, workers

    def train_sequence(self, batch_size):
        return SlowBatches(self.batches, batch_size, self.features, self.delay, self.workers)

    def val_sequence(self, batch_size):
        return SlowBatches(2, batch_size, self.features, delay=0.0, workers=1)


class BigData(trainrig.DataBase[trainrig.DataBaseParams]):
    """Random regression data for :class:`BigMLP`: 4096 training rows (32 batches), 256 validation rows."""

    batch_size = 128

    def __init__(self, params=None):
        super().__init__(params)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(4096, 1800)).astype("float32")
        self.y = rng.normal(size=(4096, 1)).astype("float32")

    def train_sequence(self, batch_size):
        return trainrig.ArraySequence({"x": self.x}, {"y": self.y}, batch_size, shuffle=True, seed=self.seed)

    def val_sequence(self, batch_size):
        return trainrig.ArraySequence({"x": self.x[:256]}, {"y": self.y[:256]}, batch_size)


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """The row indices of the digits tutorial's training and validation split."""
    data = DigitsData()
    return data.train_rows, data.val_rows


# --- a run -----------------------------------------------------------------------------------------


def timed_train(model: trainrig.ModelBase, data: trainrig.DataBase, epochs: int, batch_size: int, **params) -> EpochTimer:
    """``Trainer(TrainerParams(...), model, data, callbacks=[timer]).train()`` with every trainer param but
    ``params`` at its default (validation, metric suite, TensorBoard, best-model export, checkpoints), one
    console line per epoch (swallowed), into a temporary directory. Returns the timer."""
    timer = EpochTimer()
    with scratch_dir() as out, quiet():
        params = trainrig.TrainerParams(
            epochs=epochs, batch_size=batch_size, output_dir=str(out / "run"), progress="epoch", **params
        )
        trainrig.Trainer(params, model, data, callbacks=[timer]).train()
    return timer
