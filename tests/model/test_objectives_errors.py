"""Bad loss / metric / weight / best-model definitions: a one-line ``TrainrigError`` naming the bad
name and listing the valid ones, raised in set-up, before ``params.json`` (or anything) is written."""

from __future__ import annotations

import keras
import pytest

import trainrig
from fixtures_pkg.tinymodels import PlainModel
from trainrig import LossDefinition, MetricDefinition, MultiMetricDefinition

# PlainModel: targets y and label, output y_hat; losses mse (_loss) and l1 (_extended_loss); metric mae.


def _mse(target="y", output="y_hat"):
    return LossDefinition(target, output, keras.losses.MeanSquaredError())


def _mae(target="y", output="y_hat"):
    return MetricDefinition(target, output, keras.metrics.MeanAbsoluteError())


class LossTargetMissing(PlainModel):
    def _loss(self):
        return {"mse": _mse(target="nope")}


class LossOutputMissing(PlainModel):
    def _loss(self):
        return {"mse": _mse(output="nope")}


class MetricOutputMissing(PlainModel):
    def _metric(self):
        return {"mae": _mae(output="nope")}


class MetricTargetMissing(PlainModel):
    def _metric(self):
        return {"mae": _mae(target="nope")}


class MultiMetricOutputMissing(PlainModel):
    def _multi_metric(self):
        children = [keras.metrics.MeanAbsoluteError(name="mm_mae")]
        return {"mm": MultiMetricDefinition("y", "nope", trainrig.MultiMetric(children))}


class UnknownLossWeight(PlainModel):
    def _loss_weights(self):
        return {"mse": 1.0, "nope": 2.0}


class NonFiniteLossWeight(PlainModel):
    def _loss_weights(self):
        return {"mse": float("nan")}


class UnknownSampleWeight(PlainModel):
    def _sample_weights(self, inputs, targets):
        return {"nope": keras.ops.ones_like(targets["y"][:, 0])}


class UnknownBestMetric(PlainModel):
    def _best_logging_settings(self):
        return "max", "nope"


class BadBestMode(PlainModel):
    def _best_logging_settings(self):
        return "up", "loss"


class MetricNamedLikeLoss(PlainModel):
    def _metric(self):
        return {"mse": _mae()}


class LossInBothKinds(PlainModel):
    def _extended_loss(self, inputs_targets, outputs):
        return {"mse": keras.ops.mean(keras.ops.abs(inputs_targets["y"] - outputs["y_hat"]), axis=-1)}


class LossNamedLoss(PlainModel):
    def _loss(self):
        return {"loss": _mse()}


class MultiChildNamedLikeMetric(PlainModel):
    def _multi_metric(self):
        children = [keras.metrics.MeanAbsoluteError(name="mae")]
        return {"mm": MultiMetricDefinition("y", "y_hat", trainrig.MultiMetric(children))}


class ExtendedMetricNamedLikeMetric(PlainModel):
    def _extended_metric(self, inputs_targets, outputs):
        return {"mae": keras.ops.mean(keras.ops.abs(inputs_targets["y"] - outputs["y_hat"]), axis=-1)}


class NoLoss(PlainModel):
    def _loss(self):
        return {}

    def _extended_loss(self, inputs_targets, outputs):
        return {}


class ExtendedLossWrongShape(PlainModel):
    def _extended_loss(self, inputs_targets, outputs):
        return {"l1": keras.ops.abs(inputs_targets["y"] - outputs["y_hat"])}  # [batch, 1], not [batch]


class ExtendedLossScalar(PlainModel):
    def _extended_loss(self, inputs_targets, outputs):
        return {"l1": keras.ops.mean(keras.ops.abs(inputs_targets["y"] - outputs["y_hat"]))}


class ExtendedMetricWrongShape(PlainModel):
    def _extended_metric(self, inputs_targets, outputs):
        return {"err": keras.ops.abs(inputs_targets["y"] - outputs["y_hat"])}


CASES = [
    # (model class, words the message must contain)
    (LossTargetMissing, ["'mse'", "'nope'", "'label' or 'y'"]),
    (LossOutputMissing, ["'mse'", "'nope'", "'y_hat'"]),
    (MetricOutputMissing, ["'mae'", "'nope'", "'y_hat'"]),
    (MetricTargetMissing, ["'mae'", "'nope'", "'label' or 'y'"]),
    (MultiMetricOutputMissing, ["'mm'", "'nope'", "'y_hat'"]),
    (UnknownLossWeight, ["'nope'", "'l1' or 'mse'"]),
    (NonFiniteLossWeight, ["'mse'", "nan"]),
    (UnknownSampleWeight, ["'nope'", "'mae'"]),
    (UnknownBestMetric, ["'nope'", "'l1'", "'loss'", "'mae'", "'mse'"]),
    (BadBestMode, ["'min' or 'max'", "'up'"]),
    (MetricNamedLikeLoss, ["mse"]),
    (LossInBothKinds, ["mse"]),
    (LossNamedLoss, ["'loss'"]),
    (MultiChildNamedLikeMetric, ["mae"]),
    (ExtendedMetricNamedLikeMetric, ["mae"]),
    (NoLoss, ["no loss", "_loss", "_extended_loss"]),
    (ExtendedLossWrongShape, ["'l1'", "[batch]", "[16, 1]"]),
    (ExtendedLossScalar, ["'l1'", "[batch]", "[]"]),
    (ExtendedMetricWrongShape, ["'err'", "[batch]", "[16, 1]"]),
]


@pytest.mark.parametrize("model_cls,words", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_definition_fails_before_training(model_cls, words, tiny_params, tiny_data):
    params = tiny_params("run", epochs=1)
    with pytest.raises(trainrig.TrainrigError) as info:
        trainrig.Trainer(params, model_cls(), tiny_data).train()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    root = params.output_dir
    import os

    assert not os.path.exists(os.path.join(root, "params.json"))
    assert not os.path.exists(os.path.join(root, "tensorboard"))
    assert not os.path.exists(os.path.join(root, "export"))


def test_good_definition_passes_the_same_checks(tiny_params, tiny_data):
    """The control: the base model of every case above trains (so each failure is due to its one change)."""
    params = tiny_params("run", epochs=1, export=False)
    history = trainrig.Trainer(params, PlainModel(), tiny_data).train()
    assert set(history) >= {"loss", "mse", "l1", "mae", "val_loss", "val_mse", "val_l1", "val_mae"}


class MetricNamedLearningRate(PlainModel):
    def _metric(self):
        return {"learning_rate": _mae()}


class MetricNamedLikeValidationValue(PlainModel):
    def _metric(self):
        return {"val_mse": _mae()}  # its training value would be logged under the key of the validation mse


@pytest.mark.parametrize("model_cls", [MetricNamedLearningRate, MetricNamedLikeValidationValue])
def test_names_colliding_with_log_keys_are_rejected(model_cls, tiny_params, tiny_data):
    params = tiny_params("run", epochs=1, export=False)
    with pytest.raises(trainrig.TrainrigError):
        trainrig.Trainer(params, model_cls(), tiny_data).train()
