"""Decision metrics: thresholded / arg-max decisions, weighted confusion counts and the scores on them.

Decisions
    binary: ``ŷ = 1`` where ``y_pred >= threshold`` (positive class 1); multiclass: ``ŷ = argmax`` of the
    row (the first column on ties); the threshold does not apply.

Confusion counts
    sums of sample weights (plain counts without weights): binary ``TP, TN, FP, FN``; multiclass a
    ``k x k`` matrix ``C[true, predicted]`` built with one ``np.bincount``.

Accuracy
    ``Σ w·[y == ŷ] / W``.

Precision, Recall, F1
    per class ``P = TP / (TP + FP)``, ``R = TP / (TP + FN)``, ``F1 = 2·TP / (2·TP + FP + FN)``. Binary: class 1
    only. Multiclass, over the classes that occur in ``y_true`` or in the decisions (unweighted
    occurrence, as scikit-learn does without ``labels``), averaged with ``average``:

    * ``"macro"``: unweighted mean of the per-class scores;
    * ``"weighted"``: mean weighted by each class' (weighted) true count;
    * ``"micro"``: the formulas on the summed ``TP``, ``FP``, ``FN`` (equals accuracy for single-label data).

    A zero denominator (no predicted sample for precision, no true sample for recall, neither for F1)
    makes that score ``0.0`` and issues a :class:`~trainrig.metrics.MetricWarning` (scikit-learn's
    ``zero_division="warn"``).

Cost Matrix Gain (binary)
    ``(TP·g_tp + TN·g_tn + FP·g_fp + FN·g_fn) / W`` with the gains of ``cost_gains`` (missing keys keep
    the defaults ``{"tp": 1, "tn": 0, "fp": -0.3, "fn": 0}``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from trainrig.errors import TrainrigError, one_of
from trainrig.metrics._inputs import finite_number
from trainrig.metrics._warnings import warn

__all__ = [
    "AVERAGES",
    "DEFAULT_COST_GAINS",
    "BinaryCounts",
    "binary_confusion",
    "binary_decision_metrics",
    "binary_decisions",
    "check_cost_gains",
    "cost_matrix_gain",
    "multiclass_confusion",
    "multiclass_decision_metrics",
]

AVERAGES = ("macro", "micro", "weighted")
DEFAULT_COST_GAINS = {"tp": 1.0, "tn": 0.0, "fp": -0.3, "fn": 0.0}


class BinaryCounts(NamedTuple):
    """Weighted confusion counts of a binary decision (positive class 1)."""

    tn: float
    fp: float
    fn: float
    tp: float


def binary_decisions(y_score: np.ndarray, threshold: float) -> np.ndarray:
    """``y_score >= threshold`` as a bool array."""
    return y_score >= threshold


def binary_confusion(y_true: np.ndarray, decisions: np.ndarray, w: np.ndarray) -> BinaryCounts:
    """Weighted ``TN, FP, FN, TP`` of 0/1 ``y_true`` against bool ``decisions``, in one ``np.bincount``."""
    cell = (y_true.astype(np.intp) << 1) | decisions
    tn, fp, fn, tp = np.bincount(cell, weights=w, minlength=4)
    return BinaryCounts(float(tn), float(fp), float(fn), float(tp))


def multiclass_confusion(labels: np.ndarray, predicted: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """The weighted ``k x k`` confusion matrix ``C[true, predicted]``."""
    return np.bincount(labels * k + predicted, weights=w, minlength=k * k).reshape(k, k)


def _ratio(numerator, denominator, what: str, classes=None):
    """``numerator / denominator`` with 0 (and a warning naming ``what``) where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    zero = denominator == 0
    if zero.any():
        where = "" if classes is None else f" in class(es) {np.asarray(classes)[zero].tolist()}"
        warn(f"{what}{where}; it is set to 0.0.")
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=~zero)


_PRECISION = "Precision is ill-defined without predicted samples"
_RECALL = "Recall is ill-defined without true samples"
_F1 = "F1 Score is ill-defined without true or predicted samples"


def binary_decision_metrics(counts: BinaryCounts, total: float) -> dict[str, float]:
    """Accuracy, Precision, Recall and F1 Score of class 1."""
    tn, fp, fn, tp = counts
    return {
        "Accuracy": (tp + tn) / total,
        "Precision": float(_ratio(tp, tp + fp, _PRECISION + " (no sample predicted positive)")),
        "Recall": float(_ratio(tp, tp + fn, _RECALL + " (no positive sample)")),
        "F1 Score": float(_ratio(2 * tp, 2 * tp + fp + fn, _F1)),
    }


def multiclass_decision_metrics(
    labels: np.ndarray, y_score: np.ndarray, w: np.ndarray, total: float, average: str
) -> dict[str, float]:
    """Accuracy and ``average``-d Precision, Recall and F1 Score of arg-max decisions."""
    k = y_score.shape[1]
    predicted = np.argmax(y_score, axis=1)
    confusion = multiclass_confusion(labels, predicted, w, k)
    occurs = (np.bincount(labels, minlength=k) > 0) | (np.bincount(predicted, minlength=k) > 0)
    classes = np.flatnonzero(occurs)
    tp = np.diagonal(confusion)[classes]
    predicted_count = confusion.sum(axis=0)[classes]
    true_count = confusion.sum(axis=1)[classes]
    fp = predicted_count - tp
    fn = true_count - tp
    result = {"Accuracy": float(np.trace(confusion)) / total}
    if average == "micro":
        tp_sum, fp_sum, fn_sum = tp.sum(), fp.sum(), fn.sum()
        result["Precision"] = float(_ratio(tp_sum, tp_sum + fp_sum, _PRECISION))
        result["Recall"] = float(_ratio(tp_sum, tp_sum + fn_sum, _RECALL))
        result["F1 Score"] = float(_ratio(2 * tp_sum, 2 * tp_sum + fp_sum + fn_sum, _F1))
        return result
    per_class = {
        "Precision": _ratio(tp, predicted_count, _PRECISION, classes),
        "Recall": _ratio(tp, true_count, _RECALL, classes),
        "F1 Score": _ratio(2 * tp, 2 * tp + fp + fn, _F1, classes),
    }
    for name, scores in per_class.items():
        if average == "macro":
            result[name] = float(scores.mean())
        else:  # weighted by the true (weighted) count of each class; it sums to total > 0
            result[name] = float(scores @ true_count) / float(true_count.sum())
    return result


def check_cost_gains(cost_gains) -> dict[str, float]:
    """``cost_gains`` merged over :data:`DEFAULT_COST_GAINS`, checked (known keys, finite numbers)."""
    gains = dict(DEFAULT_COST_GAINS)
    if cost_gains is None:
        return gains
    try:
        items = dict(cost_gains).items()
    except (TypeError, ValueError):
        raise TrainrigError(
            f"cost_gains must be a dict with keys {one_of(DEFAULT_COST_GAINS)}, got {cost_gains!r}"
        ) from None
    for key, value in items:
        if key not in DEFAULT_COST_GAINS:
            raise TrainrigError(f"cost_gains has an unknown key {key!r}; valid keys are {one_of(DEFAULT_COST_GAINS)}")
        gains[key] = finite_number(value, f"cost_gains[{key!r}] must be a finite number, got {value!r}")
    return gains


def cost_matrix_gain(counts: BinaryCounts, total: float, gains: dict[str, float]) -> float:
    """``(TP·g_tp + TN·g_tn + FP·g_fp + FN·g_fn) / W``."""
    return (
        counts.tp * gains["tp"] + counts.tn * gains["tn"] + counts.fp * gains["fp"] + counts.fn * gains["fn"]
    ) / total
