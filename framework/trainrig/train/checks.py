"""Checks of a model's definitions against one real batch, run before the first training step.

Each failure is a one-line :class:`~trainrig.TrainrigError` that names what is wrong and what exists,
raised before anything is written to the output directory.
"""

from __future__ import annotations

from trainrig.errors import TrainrigError, one_of
from trainrig.model.base import ModelBase
from trainrig.model.definitions import PREDICTION_TYPES, PredictionDefinition
from trainrig.model.objectives import MetricSet, Objectives

Batch = tuple[dict, dict]


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def check_first_batch(objectives: Objectives, keras_model, batch: Batch) -> Batch:
    """Run the model and every loss/metric definition on ``batch``; return the batch."""
    inputs, targets = batch
    outputs = keras_model(inputs, training=False)
    try:
        objectives.check(inputs, targets, outputs)
    except TrainrigError:
        raise
    except Exception as e:
        raise TrainrigError(f"computing the losses or metrics of the first batch failed: {_first_line(e)}") from e
    return batch


def check_sample_weights(model: ModelBase, metrics: MetricSet, batch: Batch) -> None:
    """``_sample_weights`` may only name keras, extended and multi metrics (a multi-metric by its own name)."""
    inputs, targets = batch
    weights = model._sample_weights(inputs, targets) or {}
    metric_names = {*metrics.keras_metrics, *metrics.extended_metrics, *metrics.multi_metrics}
    unknown = set(weights) - metric_names
    if unknown:
        raise TrainrigError(
            f"_sample_weights names unknown metric {sorted(unknown)[0]!r} (a multi-metric is weighted by its own "
            f"name, not its children's); metrics: {one_of(metric_names)}"
        )


def checked_prediction(model: ModelBase, batch: Batch, outputs: dict) -> PredictionDefinition | None:
    """The model's ``_prediction()`` after checking its type and names."""
    prediction = model._prediction()
    if prediction is None:
        return None
    inputs, targets = batch
    if not isinstance(prediction, PredictionDefinition):
        raise TrainrigError(f"_prediction must return a PredictionDefinition or None, got {type(prediction).__name__}")
    if prediction.type not in PREDICTION_TYPES:
        raise TrainrigError(f"_prediction type must be {one_of(PREDICTION_TYPES)}, got {prediction.type!r}")
    if prediction.target not in targets:
        raise TrainrigError(f"_prediction names target {prediction.target!r}; targets: {one_of(targets)}")
    if prediction.output not in outputs:
        raise TrainrigError(f"_prediction names output {prediction.output!r}; outputs: {one_of(outputs)}")
    if prediction.weight is not None and prediction.weight not in {**inputs, **targets}:
        raise TrainrigError(
            f"_prediction names weight {prediction.weight!r}; targets and inputs: {one_of({**inputs, **targets})}"
        )
    return prediction
