"""The plain-Keras side of the comparisons, written as a new user would, and what both sides share.

The graphs (the MLP and the digits tutorial's CNN as plain Keras models), their data as numpy arrays,
``fit`` with the usual callbacks, and :class:`EpochTimer`, the clock both sides are timed with. Imports
no trainrig: the memory benchmark's plain-Keras child process imports this module alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
from sklearn.datasets import load_digits

from benchmarks.common import quiet, scratch_dir

Arrays = tuple[np.ndarray, np.ndarray]  # (inputs, integer class labels)

MLP_FEATURES, MLP_HIDDEN, MLP_CLASSES, MLP_BATCH = 64, 128, 10, 128
MLP_ROWS = {"full": (40_000, 8_000), "tiny": (512, 128)}  # (training, validation) rows per size
DIGITS_BATCH = 32


# --- data ------------------------------------------------------------------------------------------


def synthetic_classes(rows: int, features: int, classes: int, seed: int = 0) -> Arrays:
    """Seeded normal features; the label of a row is the argmax of a fixed random linear map plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype("float32")
    weights = rng.normal(size=(features, classes))
    y = np.argmax(x @ weights + rng.normal(size=(rows, classes)), axis=1).astype("int32")
    return x, y


def mlp_data(size: str) -> tuple[Arrays, Arrays]:
    """The MLP benchmarks' training and validation arrays (40,000 + 8,000 rows; tiny: 512 + 128)."""
    train_rows, val_rows = MLP_ROWS[size]
    x, y = synthetic_classes(train_rows + val_rows, MLP_FEATURES, MLP_CLASSES)
    return (x[:train_rows], y[:train_rows]), (x[train_rows:], y[train_rows:])


def digits_arrays(train_rows: np.ndarray, val_rows: np.ndarray) -> tuple[Arrays, Arrays]:
    """The digits tutorial's split (its row indices) as arrays, scaled as the tutorial does per batch."""
    digits = load_digits()
    images = (digits.images.astype("float32")[..., None] / 16.0).astype("float32")
    labels = digits.target.astype("int32")
    return (images[train_rows], labels[train_rows]), (images[val_rows], labels[val_rows])


# --- graphs ----------------------------------------------------------------------------------------


def mlp_logits(x, hidden: int = MLP_HIDDEN, classes: int = MLP_CLASSES):
    """Dense(hidden, relu), Dense(hidden, relu), Dense(classes) logits on the symbolic tensor ``x``."""
    h = keras.layers.Dense(hidden, activation="relu")(x)
    h = keras.layers.Dense(hidden, activation="relu")(h)
    return keras.layers.Dense(classes)(h)


def mlp(features: int = MLP_FEATURES, hidden: int = MLP_HIDDEN, classes: int = MLP_CLASSES) -> keras.Model:
    """The MLP as a plain Keras model: features in, logits out."""
    x = keras.Input((features,))
    return keras.Model(x, mlp_logits(x, hidden, classes))


def digits_cnn(filters: int = 16, dropout: float = 0.25, classes: int = 10) -> keras.Model:
    """The digits tutorial's ``DigitsGraph`` (with its default params) as a plain Keras model: logits out."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(classes),
        ]
    )


# --- training --------------------------------------------------------------------------------------


class EpochTimer(keras.callbacks.Callback):
    """Clock readings of a run's train-, epoch- and test-level events; put it last in the callbacks.

    It has no batch hooks on purpose: a callback overriding one adds Python work to every step and makes
    trainrig's automatic ``steps_per_execution`` fall back to one step per call, changing what is measured.
    """

    def __init__(self):
        super().__init__()
        self.train_begin = 0.0
        self.epoch_begins: list[float] = []
        self.test_begins: list[float] = []
        self.epoch_ends: list[float] = []

    def on_train_begin(self, logs=None):
        self.train_begin = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_begins.append(time.perf_counter())

    def on_test_begin(self, logs=None):
        self.test_begins.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(time.perf_counter())

    def epoch_times(self) -> list[float]:
        """Whole epochs, everything included: between consecutive epoch ends (the first from the start of training)."""
        ends = [self.train_begin, *self.epoch_ends]
        return [later - earlier for earlier, later in zip(ends, ends[1:])]

    def training_times(self) -> list[float]:
        """The training part of every epoch: from its start to the start of its validation."""
        return [min(t for t in self.test_begins if t > begin) - begin for begin in self.epoch_begins]


def fit(
    model: keras.Model, train: Arrays, validation: Arrays, batch_size: int, epochs: int, out_dir: Path, callbacks=()
) -> None:
    """``model.fit`` as a new user writes it: adam, cross-entropy on logits, accuracy, TensorBoard logs and
    a best-model checkpoint; ``callbacks`` come last. Prints Keras' epoch lines (``verbose=2``)."""
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    model.fit(
        *train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=validation,
        verbose=2,
        callbacks=[
            keras.callbacks.TensorBoard(str(out_dir / "tensorboard")),
            keras.callbacks.ModelCheckpoint(
                str(out_dir / "best.keras"), save_best_only=True, monitor="val_accuracy", mode="max"
            ),
            *callbacks,
        ],
    )


def timed_fit(model: keras.Model, train: Arrays, validation: Arrays, batch_size: int, epochs: int) -> EpochTimer:
    """:func:`fit` into a temporary directory, its console lines swallowed, an :class:`EpochTimer` last."""
    timer = EpochTimer()
    with scratch_dir() as out, quiet():
        fit(model, train, validation, batch_size, epochs, out, callbacks=[timer])
    return timer
