"""Tiny, fast models and data used by the tests.

This module must stay importable in a fresh process (``PYTHONPATH=tests``): exported graphs refer
to ``fixtures_pkg.tinymodels:TinyGraph`` and ``fixtures_pkg.tinymodels:tiny_act`` by import path.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import trainrig
from trainrig import LossDefinition, MetricDefinition

N_FEATURES = 3
TRUE_W = np.array([[1.5], [-2.0], [0.5]], dtype="float32")


def tiny_act(x):
    """A custom activation function: only reachable through ``_additional_layers``."""
    return keras.ops.tanh(x) * 1.5


def make_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x`` [n, 3] float32, regression target ``y`` [n, 1], binary ``label`` [n, 1] (float32)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    y = (x @ TRUE_W + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    label = (y > 0).astype("float32")
    return x, y, label


# --- data ----------------------------------------------------------------------------------------


@trainrig.define
class TinyDataParams(trainrig.DataBaseParams):
    n_train: int = trainrig.field(default=64, help="Training rows.")
    n_val: int = trainrig.field(default=32, help="Validation rows.")
    data_seed: int = trainrig.field(default=123, help="Seed of the generated arrays.")


class TinyData(trainrig.DataBase[TinyDataParams]):
    """64 training / 32 validation rows; inputs ``{"x"}``, targets ``{"y", "label"}``."""

    def __init__(self, params: TinyDataParams | None = None):
        super().__init__(params)
        p = self.params
        self.x_train, self.y_train, self.label_train = make_arrays(p.n_train, p.data_seed)
        self.x_val, self.y_val, self.label_val = make_arrays(p.n_val, p.data_seed + 1)

    def train_sequence(self, batch_size):
        targets = {"y": self.y_train, "label": self.label_train}
        return trainrig.ArraySequence({"x": self.x_train}, targets, batch_size, shuffle=True, seed=self.seed)

    def val_sequence(self, batch_size):
        return trainrig.ArraySequence({"x": self.x_val}, {"y": self.y_val, "label": self.label_val}, batch_size)


class TinyDatasetData(TinyData):
    """The same rows served as ``tf.data.Dataset`` objects (finite cardinality)."""

    def train_sequence(self, batch_size):
        ds = tf.data.Dataset.from_tensor_slices(({"x": self.x_train}, {"y": self.y_train, "label": self.label_train}))
        return ds.shuffle(len(self.x_train), seed=self.seed).batch(batch_size)

    def val_sequence(self, batch_size):
        ds = tf.data.Dataset.from_tensor_slices(({"x": self.x_val}, {"y": self.y_val, "label": self.label_val}))
        return ds.batch(batch_size)


# --- graphs and models ---------------------------------------------------------------------------


@trainrig.define
class TinyModelParams(trainrig.ModelBaseParams):
    hidden: int = trainrig.field(default=8, help="Hidden units.")
    dropout: float = trainrig.field(default=0.0, help="Dropout rate after the hidden layer.")


class TinyGraph(trainrig.GraphBase):
    """x -> hidden (custom activation ``tiny_act``) -> dropout -> y_hat (linear) and prob (sigmoid)."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.hidden = keras.layers.Dense(params.hidden, activation=tiny_act, name="hidden")
        self.dropout = keras.layers.Dropout(params.dropout)
        self.head = keras.layers.Dense(1, name="head")
        self.logit = keras.layers.Dense(1, name="logit")

    def call(self, inputs, training=None):
        h = self.dropout(self.hidden(inputs["x"]), training=training)
        return {"y_hat": self.head(h), "prob": keras.ops.sigmoid(self.logit(h)), "z": h}


class TinyModel(trainrig.ModelBase[TinyModelParams]):
    """Regression MLP as a GraphBase: loss ``mse`` on y/y_hat, metric ``mae``."""

    def create_graph(self, params):
        return TinyGraph(params)

    def _loss(self):
        return {"mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError())}

    def _metric(self):
        return {"mae": MetricDefinition("y", "y_hat", keras.metrics.MeanAbsoluteError())}

    @classmethod
    def _additional_layers(cls):
        return [tiny_act]


class PlainModel(trainrig.ModelBase[TinyModelParams]):
    """Only stock keras layers (a functional keras.Model), loss ``mse`` and an extended loss ``l1``."""

    def create_graph(self, params):
        x = keras.Input(shape=(N_FEATURES,), name="x")
        h = keras.layers.Dense(params.hidden, activation="relu")(x)
        y_hat = keras.layers.Dense(1)(h)
        return keras.Model({"x": x}, {"y_hat": y_hat})

    def _loss(self):
        return {"mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError())}

    def _extended_loss(self, inputs_targets, outputs):
        return {"l1": keras.ops.mean(keras.ops.abs(inputs_targets["y"] - outputs["y_hat"]), axis=-1)}

    def _metric(self):
        return {"mae": MetricDefinition("y", "y_hat", keras.metrics.MeanAbsoluteError())}


class DropoutClassifier(trainrig.ModelBase[TinyModelParams]):
    """Binary classifier with Dropout (stock layers): loss ``bce`` on label/prob, metric ``acc``."""

    def create_graph(self, params):
        x = keras.Input(shape=(N_FEATURES,), name="x")
        h = keras.layers.Dense(params.hidden, activation="relu")(x)
        h = keras.layers.Dropout(params.dropout or 0.3)(h)
        prob = keras.layers.Dense(1, activation="sigmoid")(h)
        return keras.Model({"x": x}, {"prob": prob})

    def _loss(self):
        return {"bce": LossDefinition("label", "prob", keras.losses.BinaryCrossentropy())}

    def _metric(self):
        return {"acc": MetricDefinition("label", "prob", keras.metrics.BinaryAccuracy())}


def weights_sha256(weights) -> str:
    """sha256 of the concatenated bytes of a list of numpy arrays (shapes and dtypes included)."""
    import hashlib

    digest = hashlib.sha256()
    for w in weights:
        w = np.ascontiguousarray(np.asarray(w))
        digest.update(f"{w.dtype.str}{w.shape}".encode())
        digest.update(w.tobytes())
    return digest.hexdigest()
