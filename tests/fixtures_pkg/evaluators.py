"""Tiny models with a pure-Python evaluator (``ModelBase._evaluator``), for ``tests/train/test_evaluator.py``.

Importable in a fresh process (resume, ``trainrig lav`` and the two-replica run rebuild the model by
import path). ``run_json`` trains one as a JSON spec says and reports what the test checks.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import trainrig
from fixtures_pkg.tinymodels import TinyData, TinyDataParams, TinyModel, TinyModelParams

CLOSE = 0.5  # a row is "close" when |y_hat - y| < CLOSE


class NamedRowsData(TinyData):
    """``TinyData`` with a string target ``name`` (``b"val-7"``...): no loss or metric reads it."""

    def train_sequence(self, batch_size):
        names = np.array([f"train-{i}".encode() for i in range(len(self.x_train))])
        targets = {"y": self.y_train, "label": self.label_train, "name": names}
        return trainrig.ArraySequence({"x": self.x_train}, targets, batch_size, shuffle=True, seed=self.seed)

    def val_sequence(self, batch_size):
        names = np.array([f"val-{i}".encode() for i in range(len(self.x_val))])
        return trainrig.ArraySequence({"x": self.x_val}, {"y": self.y_val, "label": self.label_val, "name": names}, batch_size)


class RowStats:
    """Counts the rows it is fed and how far the regression output is from the target, in Python."""

    def __init__(self):
        self.rows = 0
        self.close = 0
        self.abs_err = 0.0
        self.x_sum = 0.0
        self.names = set()

    def update_state(self, sample):
        assert sample.inputs["x"].shape == (3,) and sample.targets["y"].shape == (1,), sample
        err = abs(float(sample.outputs["y_hat"][0]) - float(sample.targets["y"][0]))
        self.rows += 1
        self.close += int(err < CLOSE)
        self.abs_err += err
        self.x_sum += float(sample.inputs["x"][0])
        if "name" in sample.targets:
            self.names.add(bytes(sample.targets["name"]))

    def result(self):
        rows = max(self.rows, 1)
        values = {"rows": self.rows, "close": self.close / rows, "abs_err": np.float32(self.abs_err / rows), "x_sum": self.x_sum}
        return {**values, "names": len(self.names)}


class EvaluatedModel(TinyModel):
    """``TinyModel`` (loss ``mse``, metric ``mae``, the binary suite of ``prob``) with :class:`RowStats`;
    the best model has the most close rows."""

    def _evaluator(self):
        return RowStats()

    def _prediction(self):
        return trainrig.PredictionDefinition("label", "prob", "binary")

    def _best_logging_settings(self):
        return "max", "close"


def expected_values(keras_model, data: TinyData) -> dict[str, float]:
    """What :class:`RowStats` must report for ``keras_model`` on the validation rows, computed in numpy."""
    y_hat = np.asarray(keras_model({"x": data.x_val}, training=False)["y_hat"])
    err = np.abs(y_hat[:, 0].astype("float64") - data.y_val[:, 0].astype("float64"))
    return {
        "rows": len(err),
        "close": float(np.mean(err < CLOSE)),
        "abs_err": float(np.mean(err)),
        "x_sum": float(np.sum(data.x_val[:, 0], dtype="float64")),
        "names": len(err) if isinstance(data, NamedRowsData) else 0,
    }


# --- evaluators that are wrong, each in its own way -----------------------------------------------


class BadEvaluator:
    def __init__(self, value):
        self.value = value
        self.rows = 0

    def update_state(self, sample):
        self.rows += 1

    def result(self):
        return self.value(self.rows) if callable(self.value) else self.value


@trainrig.define
class BadEvaluatorParams(TinyModelParams):
    bad: str = trainrig.field(default="list", help="Which wrong evaluator (a key of BAD).")


class BadEvaluatorModel(TinyModel):
    """``TinyModel`` whose evaluator is wrong as ``params.bad`` says (a key of :data:`BAD`)."""

    params_class = BadEvaluatorParams

    def _evaluator(self):
        return BAD[self.params.bad]()


BAD = {
    "list": lambda: BadEvaluator([0.5]),
    "string value": lambda: BadEvaluator({"score": "0.5"}),
    "clash": lambda: BadEvaluator({"mae": 0.1}),
    "reserved": lambda: BadEvaluator({"learning_rate": 0.1}),
    "prefixed": lambda: BadEvaluator({"val_score": 0.1}),
    # fine on the first batch (15 rows) at set-up, clashing once a validation has fed every row
    "late clash": lambda: BadEvaluator(lambda rows: {"score": 1.0} if rows <= 15 else {"loss": 1.0}),
    "no result": lambda: object(),
}


def bad_model(kind: str) -> BadEvaluatorModel:
    return BadEvaluatorModel(BadEvaluatorParams(bad=kind))


# --- a run in a fresh process (several logical devices must be set before TensorFlow starts) ------


def run(spec: dict) -> dict:
    from fixtures_pkg.helpers import make_params

    data = NamedRowsData(TinyDataParams(n_train=spec.get("n_train", 61), n_val=spec.get("n_val", 31)))
    devices = int(spec.get("devices", 0))
    params = make_params(
        spec["output_dir"],
        epochs=spec.get("epochs", 2),
        batch_size=spec.get("batch_size", 15),
        seed=3,
        deterministic=True,
        export=False,
        print_samples=0,
        strategy="mirrored" if devices > 1 else "default",
        devices=devices,
    )
    trainer = trainrig.Trainer(params, EvaluatedModel(), data)
    history = trainer.train()
    return {
        "replicas": trainer.parts.strategy.num_replicas_in_sync,
        "history": history,
        "expected": expected_values(trainer.keras_model, data),
        "prediction_rows": len(trainer.context.validation_predictions[0]),
    }


def main() -> None:
    print(json.dumps(run(json.loads(sys.argv[1]))))
