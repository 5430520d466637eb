"""Base callbacks built from a small RunContext, without a Trainer."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import trainrig
from trainrig.callbacks.best_model import BestModel
from trainrig.callbacks.history import HistoryRecorder
from trainrig.callbacks.metric_suite import MetricSuite
from trainrig.callbacks.metrics_file import MetricsFile
from trainrig.callbacks.plateau import EarlyStopping, ReduceLROnPlateau, plateau_callbacks
from trainrig.context import RunContext, ValidationResult
from trainrig.export.exporter import Exporter
from trainrig.model.definitions import PredictionDefinition
from trainrig.run_dir import RunDir
from trainrig.train.best_metric import BestMetric
from trainrig.train.params import EarlyStoppingParams, ReduceLRParams


def small_context(tmp_path, **fields) -> RunContext:
    params = fields.pop("params", trainrig.TrainerParams(output_dir=str(tmp_path), progress="none"))
    return RunContext(params=params, run_dir=RunDir(tmp_path), **fields)


def loss_best() -> BestMetric:
    return BestMetric(("min", "loss"), val_names=["loss", "acc"], loss_names=["loss"], suite_greater={})


def test_history_recorder_appends_every_key_and_round_trips_its_state(tmp_path):
    context = small_context(tmp_path)
    recorder = HistoryRecorder(context)
    recorder.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.7})
    recorder.on_epoch_end(1, {"loss": 0.25, "val_loss": 0.5})
    assert context.history == {"loss": [0.5, 0.25], "val_loss": [0.7, 0.5]}
    other = small_context(tmp_path)
    HistoryRecorder(other).set_state(recorder.get_state())
    assert other.history == context.history
    assert recorder.trainer is context  # the name plugins' hooks use


def test_metrics_file_writes_one_json_line_per_epoch(tmp_path):
    callback = MetricsFile(small_context(tmp_path))
    callback.on_epoch_end(0, {"loss": 1.0, "val_loss": float("nan")})
    callback.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.25})
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == [{"epoch": 1, "loss": 1.0, "val_loss": "nan"}, {"epoch": 2, "loss": 0.5, "val_loss": 0.25}]


def test_metric_suite_adds_test_keys_from_the_last_validation(tmp_path):
    y_true = np.array([0.0, 0.0, 1.0, 1.0])
    y_pred = np.array([0.1, 0.4, 0.35, 0.8])
    context = small_context(tmp_path, prediction=PredictionDefinition("y", "p", "binary"))
    logs = {"val_loss": 0.3}
    MetricSuite(context).on_epoch_end(0, logs)
    assert logs == {"val_loss": 0.3}, "no validation yet: nothing to add"
    context.validation = ValidationResult(logs={}, predictions=(y_true, y_pred, np.ones(4)))
    MetricSuite(context).on_epoch_end(0, logs)
    assert logs["Test ROC AUC"] == pytest.approx(0.75)
    assert logs["Test Accuracy"] == pytest.approx(0.75)


def test_plateau_callbacks_follow_the_best_metric_and_its_direction(tmp_path):
    params = trainrig.TrainerParams(
        early_stopping=EarlyStoppingParams(patience=2), reduce_lr=ReduceLRParams(patience=1, monitor="val_acc")
    )
    best = BestMetric(("min", "loss"), ["loss", "acc"], ["loss"], {}, best_metric="acc", best_mode="max")
    stopping, reduce = plateau_callbacks(small_context(tmp_path, params=params, best=best))
    assert isinstance(stopping, EarlyStopping) and (stopping.monitor, stopping.patience) == ("val_acc", 2)
    assert stopping.mode == "max" and reduce.mode == "max"  # the direction of best_metric
    assert isinstance(reduce, ReduceLROnPlateau) and reduce.monitor == "val_acc"
    assert plateau_callbacks(small_context(tmp_path, best=loss_best())) == []


def test_best_model_exports_only_on_improvement(tmp_path):
    inputs = {"x": keras.Input(shape=(2,), name="x")}
    graph = keras.Model(inputs, {"y": keras.layers.Dense(1)(inputs["x"])})
    context = small_context(tmp_path, best=loss_best())
    context.exporter = Exporter({"default": graph}, [], "tests:none", context=context)
    callback = BestModel(context)
    callback.on_epoch_end(0, {"val_loss": 1.0})
    context.exporter.wait()  # the SavedModel and the swap are written in the background
    assert json.loads((tmp_path / "best" / "trainrig.json").read_text())["epoch"] == 1
    callback.on_epoch_end(1, {"val_loss": 2.0})
    context.exporter.wait()
    assert json.loads((tmp_path / "best" / "trainrig.json").read_text())["epoch"] == 1
    callback.on_epoch_end(2, {"val_loss": 0.5})
    context.exporter.wait()
    manifest = json.loads((tmp_path / "best" / "trainrig.json").read_text())
    assert (manifest["epoch"], manifest["value"]) == (3, 0.5)
    assert callback.get_state() == {"best": 0.5, "best_epoch": 3}
