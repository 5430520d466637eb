"""The validation metric suite: :func:`compute_suite`, the metric names and their directions.

One call computes every metric of a prediction type from numpy arrays (pure numpy, no TensorFlow):

========== ================================================================================
type       metrics (in this order)
========== ================================================================================
regression EVS, MAPE, MAE, MSE, RMSE, RMSLE, R2 Score
binary     Accuracy, Precision, Recall, F1 Score, Cost Matrix Gain, Log Loss,
           Cumulative Lift, ROC AUC, Average Precision
multiclass Accuracy, Precision, Recall, F1 Score, Log Loss, ROC AUC, Average Precision
========== ================================================================================

plus ``"Custom Score"`` when a ``custom_score`` callable is given. The definitions are in the modules
that compute them: :mod:`~trainrig.metrics.regression`, :mod:`~trainrig.metrics.classification`
(decisions, confusion counts, precision/recall/F1 averaging, cost matrix gain),
:mod:`~trainrig.metrics.log_loss`, :mod:`~trainrig.metrics.ranking` (ROC AUC, Average Precision,
Cumulative Lift), :mod:`~trainrig.metrics.custom`; accepted input shapes in
:mod:`~trainrig.metrics._inputs`. Sample weights weight every metric.

Errors and warnings: invalid inputs or options (no samples, wrong shapes, NaN values, labels out of
range, an unknown option, a custom score that fails or returns None/NaN/inf) raise
:class:`~trainrig.errors.TrainrigError`. A metric that is merely undefined for the data (a
single-class validation set, no predicted positives, RMSLE of values <= -1, MAPE with only zero
targets) never raises: it is ``NaN`` (or ``0.0`` for precision/recall/F1, like scikit-learn's
``zero_division="warn"``) with a :class:`~trainrig.metrics.MetricWarning`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

from trainrig.errors import TrainrigError, one_of
from trainrig.metrics._inputs import finite_number, prepare
from trainrig.metrics.classification import (
    AVERAGES,
    binary_confusion,
    binary_decision_metrics,
    binary_decisions,
    check_cost_gains,
    cost_matrix_gain,
    multiclass_decision_metrics,
)
from trainrig.metrics.custom import custom_score_value
from trainrig.metrics.log_loss import binary_log_loss, multiclass_log_loss
from trainrig.metrics.ranking import binary_ranking_metrics, multiclass_ranking_metrics
from trainrig.metrics.regression import REGRESSION_NAMES, regression_metrics

__all__ = ["CUSTOM_SCORE", "GREATER_IS_BETTER", "SUITE_NAMES", "compute_suite", "greater_is_better"]

CUSTOM_SCORE = "Custom Score"

#: The metric names of each prediction type, in the order :func:`compute_suite` returns them
#: (``"Custom Score"`` follows when a custom score is given).
SUITE_NAMES: dict[str, tuple[str, ...]] = {
    "regression": REGRESSION_NAMES,
    "binary": (
        "Accuracy",
        "Precision",
        "Recall",
        "F1 Score",
        "Cost Matrix Gain",
        "Log Loss",
        "Cumulative Lift",
        "ROC AUC",
        "Average Precision",
    ),
    "multiclass": ("Accuracy", "Precision", "Recall", "F1 Score", "Log Loss", "ROC AUC", "Average Precision"),
}

_LOWER_IS_BETTER = frozenset({"MAPE", "MAE", "MSE", "RMSE", "RMSLE", "Log Loss"})

#: Whether a greater value is better, for every name of :data:`SUITE_NAMES`. ``"Custom Score"`` is
#: deliberately absent: its direction is the run's ``custom_greater_is_better`` flag, so look it up as
#: ``GREATER_IS_BETTER.get(name, custom_greater_is_better)`` or with :func:`greater_is_better`.
GREATER_IS_BETTER: dict[str, bool] = {
    name: name not in _LOWER_IS_BETTER for names in SUITE_NAMES.values() for name in names
}


def greater_is_better(name: str, *, custom_greater_is_better: bool = True) -> bool:
    """Whether a greater value of metric ``name`` is better (``"Custom Score"``: the flag)."""
    if name == CUSTOM_SCORE:
        return bool(custom_greater_is_better)
    try:
        return GREATER_IS_BETTER[name]
    except KeyError:
        valid = one_of([*GREATER_IS_BETTER, CUSTOM_SCORE])
        raise TrainrigError(f"unknown metric {name!r}; valid metrics are {valid}") from None


def _check_options(prediction_type, threshold, average, lift_ratio, custom_score) -> float:
    if prediction_type not in SUITE_NAMES:
        raise TrainrigError(f"prediction_type must be {one_of(SUITE_NAMES)}, got {prediction_type!r}")
    threshold = finite_number(threshold, "threshold must be a finite number")
    if average not in AVERAGES:
        raise TrainrigError(f"average must be {one_of(AVERAGES)}, got {average!r}")
    if isinstance(lift_ratio, bool) or not isinstance(lift_ratio, numbers.Real) or not 0 < lift_ratio <= 1:
        raise TrainrigError(f"lift_ratio must be a number in (0, 1], got {lift_ratio!r}")
    if custom_score is not None and not callable(custom_score):
        raise TrainrigError(
            f"custom_score must be a callable score(y_true, y_pred, sample_weight=None), got {custom_score!r}"
        )
    return threshold


def compute_suite(
    prediction_type: str,
    y_true,
    y_pred,
    sample_weight=None,
    *,
    threshold: float = 0.5,
    average: str = "macro",
    cost_gains: dict[str, float] | None = None,
    lift_ratio: float = 0.4,
    custom_score: Callable | None = None,
    custom_greater_is_better: bool = True,
) -> dict[str, float]:
    """Every validation metric of ``prediction_type`` as ``{name: float}`` (names: :data:`SUITE_NAMES`).

    Args:
        prediction_type: ``"regression"``, ``"binary"`` or ``"multiclass"``.
        y_true: targets — regression values ``[n]``; binary 0/1 labels ``[n]``; multiclass integer
            labels ``[n]`` or one-hot ``[n, k]`` (``[n, 1]`` works for every ``[n]``).
        y_pred: predictions — regression values ``[n]``; binary probability of class 1 ``[n]``;
            multiclass class probabilities ``[n, k]``.
        sample_weight: optional non-negative weights ``[n]``; they weight every metric.
        threshold: binary decisions are ``y_pred >= threshold``.
        average: multiclass Precision/Recall/F1 averaging, ``"macro"``, ``"micro"`` or ``"weighted"``.
        cost_gains: binary Cost Matrix Gain gains ``{"tp", "tn", "fp", "fn"}`` (missing keys keep the
            defaults ``1, 0, -0.3, 0``).
        lift_ratio: the top fraction of rows of the binary Cumulative Lift, in ``(0, 1]``.
        custom_score: optional ``score(y_true, y_pred, sample_weight=None) -> float``, reported as
            ``"Custom Score"``.
        custom_greater_is_better: the direction of the custom score (see :func:`greater_is_better`;
            it does not change the value).

    Raises:
        TrainrigError: invalid inputs or options, or a failing custom score (see the module docstring).
    """
    threshold = _check_options(prediction_type, threshold, average, lift_ratio, custom_score)
    gains = check_cost_gains(cost_gains)
    data = prepare(prediction_type, y_true, y_pred, sample_weight)
    y, p, w, total = data.y_true, data.y_pred, data.weight, data.total_weight

    if prediction_type == "regression":
        values = regression_metrics(y, p, w, total)
    elif prediction_type == "binary":
        counts = binary_confusion(y, binary_decisions(p, threshold), w)
        values = binary_decision_metrics(counts, total)
        values["Cost Matrix Gain"] = cost_matrix_gain(counts, total, gains)
        values["Log Loss"] = binary_log_loss(y, p, w, total)
        values.update(binary_ranking_metrics(y, p, w, total, float(lift_ratio)))
    else:
        values = multiclass_decision_metrics(y, p, w, total, average)
        values["Log Loss"] = multiclass_log_loss(y, p, w, total)
        values.update(multiclass_ranking_metrics(y, p, w))

    result = {name: float(values[name]) for name in SUITE_NAMES[prediction_type]}
    if custom_score is not None:
        result[CUSTOM_SCORE] = custom_score_value(custom_score, y, p, data.sample_weight)
    return result
