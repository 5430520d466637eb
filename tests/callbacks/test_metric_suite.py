"""The validation metric suite in a run: logs, history, TensorBoard, metrics.jsonl, best model, early stopping."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import trainrig
from trainrig import PredictionDefinition
from trainrig.metrics import SUITE_NAMES

from fixtures_pkg.helpers import make_params
from fixtures_pkg.tinymodels import DropoutClassifier, PlainModel, TinyData


class BinaryClassifier(DropoutClassifier):
    def _prediction(self):
        return PredictionDefinition("label", "prob", "binary", threshold=0.5)


class Regressor(PlainModel):
    def _prediction(self):
        return PredictionDefinition("y", "y_hat", "regression")


def negative_mae(y_true, y_pred, sample_weight=None):
    return -float(np.average(np.abs(y_true.ravel() - y_pred.ravel()), weights=sample_weight))


class RegressorWithCustomScore(Regressor):
    def _custom_score(self):
        return negative_mae, True


class SeesTheSuite(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []
        self.variables = None

    def on_train_begin(self, logs=None):
        self.variables = (trainrig.get_variable("MODEL_METRIC"), trainrig.get_variable("MODEL_METRIC_GREATER_IS_BETTER"))

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite") / "run"
    seer = SeesTheSuite()
    params = make_params(out, epochs=3, best_metric="ROC AUC", print_samples=0)
    trainer = trainrig.Trainer(params, BinaryClassifier(), TinyData(), callbacks=[seer])
    history = trainer.train()
    return trainer, history, seer, out


def test_suite_values_are_in_logs_for_later_callbacks_and_in_history(binary_run):
    trainer, history, seer, _ = binary_run
    for name in SUITE_NAMES["binary"]:
        assert f"Test {name}" in seer.logs[-1]
        assert len(history[f"Test {name}"]) == 3
    # ROC AUC of the final validation predictions equals scikit-learn's on the same data
    data = trainer.data
    probabilities = keras.ops.convert_to_numpy(trainer.keras_model({"x": data.x_val})["prob"]).ravel()
    assert history["Test ROC AUC"][-1] == pytest.approx(roc_auc_score(data.label_val.ravel(), probabilities), abs=1e-9)
    assert history["Test Accuracy"][-1] == pytest.approx(history["val_acc"][-1], abs=1e-6)


def test_best_metric_option_chooses_a_suite_entry_and_publishes_it(binary_run):
    _, history, seer, out = binary_run
    assert seer.variables == ("Test ROC AUC", True)
    best = json.loads((out / "best" / "trainrig.json").read_text())
    assert best["monitor"] == "Test ROC AUC"
    assert best["value"] == pytest.approx(max(history["Test ROC AUC"]))


def test_suite_lands_in_metrics_jsonl_and_the_validation_run(binary_run):
    _, history, _, out = binary_run
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert [r["Test ROC AUC"] for r in records] == history["Test ROC AUC"]
    from fixtures_pkg.helpers import tensorboard_tensors

    validation = tensorboard_tensors(out / "tensorboard" / "validation")
    assert sorted(validation["suite/ROC AUC"]) == [1, 2, 3]
    assert "suite/ROC AUC" not in tensorboard_tensors(out / "tensorboard" / "train")


# Early stopping: a deterministic run (seed 0, lr 0.03, patience 1, min_delta 0) whose monitors disagree on
# when to stop (Test ROC AUC first fails to improve at epoch 4, Test Accuracy at epoch 3, val_loss keeps
# improving). The stop epoch must be the one the monitored key's own values imply, and no other candidate
# may imply it too, so the test fails if another key (or none) decides the stop.
STOPPING_RUN = dict(epochs=6, learning_rate=0.03, deterministic=True, seed=0, print_samples=0)


def stop_epoch(values: list[float], greater: bool, patience: int) -> int | None:
    """The epoch (1-based) after which keras' EarlyStopping (min_delta 0) stops on ``values``, or ``None``."""
    best, wait = None, 0
    for epoch, value in enumerate(values, 1):
        wait += 1
        if best is None or (value > best if greater else value < best):
            best, wait = value, 0
        elif wait >= patience:
            return epoch
    return None


def assert_stopped_by(history: dict, monitor: str, greater: bool, patience: int, epochs: int) -> None:
    ran = len(history["loss"])
    assert ran < epochs, f"no early stop: {monitor} = {history[monitor]}"
    assert stop_epoch(history[monitor], greater, patience) == ran, history[monitor]
    others = {"Test Accuracy": True, "val_loss": False, "loss": False}
    for other, other_greater in others.items():  # the run tells the monitors apart
        assert stop_epoch(history[other], other_greater, patience) != ran, (other, history[other])


def test_early_stopping_on_test_roc_auc_with_mode_from_get_variable(tmp_path):
    class Stopper(keras.callbacks.EarlyStopping):
        def __init__(self):
            super().__init__(monitor="val_loss", mode="min", patience=1, min_delta=0.0)  # replaced below

        def on_train_begin(self, logs=None):
            self.monitor = trainrig.get_variable("MODEL_METRIC")
            self.mode = "max" if trainrig.get_variable("MODEL_METRIC_GREATER_IS_BETTER") else "min"
            self.monitor_op = None  # let keras pick the comparison for the new mode
            super().on_train_begin(logs)

    stopper = Stopper()
    params = make_params(tmp_path / "run", best_metric="Test ROC AUC", **STOPPING_RUN)
    history = trainrig.Trainer(params, BinaryClassifier(), TinyData(), callbacks=[stopper]).train()
    assert stopper.monitor == "Test ROC AUC" and stopper.mode == "max"
    assert_stopped_by(history, "Test ROC AUC", greater=True, patience=1, epochs=STOPPING_RUN["epochs"])


def test_built_in_early_stopping_follows_the_best_metric(tmp_path):
    params = make_params(
        tmp_path / "run", best_metric="ROC AUC", **STOPPING_RUN,
        early_stopping=trainrig.TrainerParams().early_stopping.__class__(patience=1),
    )
    history = trainrig.Trainer(params, BinaryClassifier(), TinyData()).train()
    assert_stopped_by(history, "Test ROC AUC", greater=True, patience=1, epochs=STOPPING_RUN["epochs"])


def test_regression_suite_and_custom_score_from_the_model(tmp_path):
    params = make_params(tmp_path / "run", epochs=1, print_samples=0)
    trainer = trainrig.Trainer(params, RegressorWithCustomScore(), TinyData())
    history = trainer.train()
    for name in (*SUITE_NAMES["regression"], "Custom Score"):
        assert f"Test {name}" in history
    assert history["Test Custom Score"][-1] == pytest.approx(-history["Test MAE"][-1], rel=1e-9)
    assert history["Test MAE"][-1] == pytest.approx(history["val_mae"][-1], rel=1e-5)


def nan_score(y_true, y_pred, sample_weight=None):
    return float("nan")


def test_custom_score_from_params_that_returns_nan_is_a_clear_error(tmp_path, monkeypatch):
    import fixtures_pkg.tinymodels as tinymodels

    monkeypatch.setattr(tinymodels, "nan_score", nan_score, raising=False)
    params = make_params(
        tmp_path / "run", epochs=1, print_samples=0,
        suite=trainrig.TrainerParams().suite.__class__(custom_score="fixtures_pkg.tinymodels:nan_score"),
    )
    with pytest.raises(trainrig.TrainrigError, match="nan_score"):
        trainrig.Trainer(params, Regressor(), TinyData()).train()


@pytest.mark.parametrize("best_metric", ["Test Nope", "nope", "val_nope"])
def test_unknown_best_metric_lists_the_valid_ones_before_training(best_metric, tmp_path):
    params = make_params(tmp_path / "run", epochs=1, best_metric=best_metric)
    with pytest.raises(trainrig.TrainrigError) as error:
        trainrig.Trainer(params, BinaryClassifier(), TinyData()).train()
    message = str(error.value)
    assert f"trainer.best_metric {best_metric!r} is not logged; valid:" in message
    assert "'Test ROC AUC'" in message and "'val_acc'" in message
    assert not (tmp_path / "run" / "params.json").exists()


def test_best_mode_is_required_for_a_metric_of_unknown_direction(tmp_path):
    params = make_params(tmp_path / "run", epochs=1, best_metric="val_acc")
    with pytest.raises(trainrig.TrainrigError, match="pass --trainer.best_mode min or max"):
        trainrig.Trainer(params, BinaryClassifier(), TinyData()).train()
    params = make_params(tmp_path / "run2", epochs=1, best_metric="val_acc", best_mode="max", print_samples=0)
    trainrig.Trainer(params, BinaryClassifier(), TinyData()).train()
    assert trainrig.get_variable("MODEL_METRIC_GREATER_IS_BETTER") is True


def test_missing_shared_variable_is_a_clear_key_error():
    with pytest.raises(KeyError, match="shared variable 'NOPE' is not set"):
        trainrig.get_variable("NOPE")
