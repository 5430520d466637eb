"""A deterministic tiny model using every kind of loss and metric, and a run of it that reports as JSON.

Used by ``tests/train/test_replicas.py``: the same run on one device and on several logical CPU
devices (``trainer.devices``) must give the same history and weights. Logical devices must be
configured before TensorFlow's runtime starts, so every run happens in a fresh process:
``python -c "from fixtures_pkg.replicas import main; main()" '{"devices": 2, ...}'``.
"""

from __future__ import annotations

import json
import sys

import keras
import numpy as np

import trainrig
from trainrig import LossDefinition, MetricDefinition, MultiMetricDefinition, PredictionDefinition

from fixtures_pkg.tinymodels import N_FEATURES, TinyData, TinyDataParams, TinyModelParams

LOSS_WEIGHTS = {"mse": 0.5, "bce": 2.0, "abs": 1.0, "l1": 0.25}


def mean_abs(y_true, y_pred):
    """A plain callable loss (not a keras Loss): the mean over its rows, NaN for none."""
    return keras.ops.mean(keras.ops.abs(y_true - y_pred))


class ReplicaModel(trainrig.ModelBase[TinyModelParams]):
    """Regression and binary heads over one hidden layer with an L2 kernel regularizer (no randomness).

    Losses: keras ``mse`` and ``bce``, a plain callable ``abs``, the extended ``l1``, weighted, plus the
    regularization loss. Metrics: keras ``mae`` and sample-weighted ``acc``, extended ``sq``, the
    multi-metric children ``m_mae``/``m_mse``, and the binary metric suite of ``prob`` ("Test ...").
    """

    def create_graph(self, params):
        x = keras.Input(shape=(N_FEATURES,), name="x")
        h = keras.layers.Dense(
            params.hidden, activation="tanh", kernel_regularizer=keras.regularizers.L2(1e-3), name="hidden"
        )(x)
        y_hat = keras.layers.Dense(1, name="y_head")(h)
        prob = keras.layers.Dense(1, activation="sigmoid", name="prob_head")(h)
        return keras.Model({"x": x}, {"y_hat": y_hat, "prob": prob})

    def _loss(self):
        return {
            "mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError()),
            "bce": LossDefinition("label", "prob", keras.losses.BinaryCrossentropy()),
            "abs": LossDefinition("y", "y_hat", mean_abs),
        }

    def _extended_loss(self, inputs_targets, outputs):
        return {"l1": keras.ops.mean(keras.ops.abs(inputs_targets["y"] - outputs["y_hat"]), axis=-1)}

    def _loss_weights(self):
        return dict(LOSS_WEIGHTS)

    def _metric(self):
        return {
            "mae": MetricDefinition("y", "y_hat", keras.metrics.MeanAbsoluteError()),
            "acc": MetricDefinition("label", "prob", keras.metrics.BinaryAccuracy()),
        }

    def _sample_weights(self, inputs, targets):
        return {"acc": 1.0 + 3.0 * keras.ops.reshape(targets["label"], [-1])}

    def _extended_metric(self, inputs_targets, outputs):
        return {"sq": keras.ops.mean(keras.ops.square(inputs_targets["y"] - outputs["y_hat"]), axis=-1)}

    def _multi_metric(self):
        children = [keras.metrics.MeanAbsoluteError(name="m_mae"), keras.metrics.MeanSquaredError(name="m_mse")]
        return {"multi": MultiMetricDefinition("y", "y_hat", trainrig.MultiMetric(children, name="multi"))}

    def _prediction(self):
        return PredictionDefinition("label", "prob", "binary")


def run(spec: dict) -> dict:
    """Train ``ReplicaModel`` as ``spec`` says; its replicas, history, weights, ... (JSON-able)."""
    from fixtures_pkg.helpers import make_params

    devices = int(spec.get("devices", 0))
    data = TinyData(TinyDataParams(n_train=spec["n_train"], n_val=spec["n_val"]))
    params = make_params(
        spec["output_dir"],
        epochs=spec.get("epochs", 2),
        batch_size=spec["batch_size"],
        learning_rate=0.02,
        seed=7,
        deterministic=True,
        export=False,
        print_samples=0,
        steps_per_execution=spec.get("steps_per_execution", 1),
        strategy=spec.get("strategy", "mirrored" if devices > 1 else "default"),
        devices=devices,
    )
    arrays = ["x_train", "y_train", "label_train", "x_val", "y_val", "label_val"]
    before = {name: getattr(data, name).copy() for name in arrays}
    trainer = trainrig.Trainer(params, ReplicaModel(), data)
    history = trainer.train()
    strategy = trainer.parts.strategy
    return {
        "replicas": strategy.num_replicas_in_sync,
        "strategy": type(strategy).__name__,
        "iterations": int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)),
        "history": history,
        # TensorFlow must never write into the arrays the sequences hand out (views of these)
        "changed_arrays": [name for name in arrays if not np.array_equal(before[name], getattr(data, name))],
        "weights": [w.tolist() for w in trainer.keras_model.get_weights()],
    }


def main() -> None:
    """Run the spec given as JSON in ``argv[1]``; print the result as one JSON line."""
    print(json.dumps(run(json.loads(sys.argv[1]))))
