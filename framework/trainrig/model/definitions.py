"""The small records a model returns from its hooks to declare losses, metrics and predictions."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple


class LossDefinition(NamedTuple):
    """A keras loss computed as ``loss(targets[target], outputs[output])``."""

    target: str
    output: str
    loss: Any  # keras.losses.Loss or any callable (y_true, y_pred) -> scalar


class MetricDefinition(NamedTuple):
    """A keras metric updated with ``metric.update_state(targets[target], outputs[output], weight)``."""

    target: str
    output: str
    metric: Any  # keras.metrics.Metric


class MultiMetricDefinition(NamedTuple):
    """A :class:`~trainrig.MultiMetric` fed with ``targets[target]`` and ``outputs[output]``."""

    target: str
    output: str
    metric: Any  # trainrig.MultiMetric


PredictionType = Literal["regression", "binary", "multiclass"]
PREDICTION_TYPES = ("regression", "binary", "multiclass")


class PredictionDefinition(NamedTuple):
    """What the validation metric suite evaluates.

    ``type`` is ``"regression"``, ``"binary"`` (``output`` is the probability of the positive class)
    or ``"multiclass"`` (``output`` holds class probabilities ``[batch, classes]``); ``threshold``
    turns binary probabilities into decisions. ``weight`` optionally names a target (or input) of
    per-sample weights that weight every metric of the suite.
    """

    target: str
    output: str
    type: PredictionType
    threshold: float = 0.5
    weight: str | None = None


class Sample(NamedTuple):
    """One un-batched example: dicts of numpy values (no batch axis)."""

    inputs: dict[str, Any]
    outputs: dict[str, Any]
    targets: dict[str, Any]
