"""trainrig's numpy metric suite against the same metrics computed with scikit-learn.

The wall time of one ``trainrig.metrics.compute_suite`` call against the scikit-learn equivalents,
one call per metric as a user would write them, per repetition (interleaved); the ratio is sklearn
time / trainrig time (the speed-up: above 1 means trainrig is faster). Both sides' values are checked
to agree before timing.

scikit-learn side:

* binary: ``accuracy_score``, ``precision_recall_fscore_support(average="binary")`` (precision,
  recall, F1 in one call), ``confusion_matrix`` (cost matrix gain), ``log_loss``, ``roc_auc_score``,
  ``average_precision_score``; sklearn has no cumulative lift, so a plain numpy stable sort computes it;
* multiclass: ``accuracy_score``, ``precision_recall_fscore_support(average="macro")``, ``log_loss``,
  ``roc_auc_score(multi_class="ovo")``, ``average_precision_score`` on the one-hot targets (macro).

Inputs are float32-valued probabilities, as a Keras model outputs them (multiclass rows renormalised
in float64 so scikit-learn's sum-to-one check passes). Sizes: 10^6 binary rows (with and without
sample weights) and 10^5 x 10 multiclass rows; tiny: 10^4 rows each.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from benchmarks.common import Row, compared, interleave

NAME = "metric_suite"
DESCRIPTION = "trainrig.metrics.compute_suite vs the same metrics with scikit-learn (binary 10^6, multiclass 10^5 x 10)"

ROWS = {"full": {"binary": 10**6, "multiclass": 10**5}, "tiny": {"binary": 10**4, "multiclass": 10**4}}
CLASSES = 10
GAINS = {"tp": 1.0, "tn": 0.0, "fp": -0.3, "fn": 0.0}


def binary_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    p = np.clip(0.2 * y + rng.beta(2, 3, n), 1e-4, 1 - 1e-4).astype(np.float32)
    return y, p


def multiclass_data(n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    proba = proba.astype(np.float32).astype(np.float64)  # float32 model output (with its ties) ...
    return y, proba / proba.sum(axis=1, keepdims=True)  # ... rows renormalised in float64 (sklearn checks sums)


def sklearn_binary(y, p, w=None, threshold=0.5, lift_ratio=0.4):
    from sklearn import metrics as skm

    d = (p >= threshold).astype(np.int64)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, d, average="binary", sample_weight=w)
    tn, fp, fn, tp = skm.confusion_matrix(y, d, labels=[0, 1], sample_weight=w).ravel()
    total = len(y) if w is None else float(np.sum(w))
    weights = np.ones(len(y)) if w is None else w
    top = np.argsort(-p, kind="stable")[: max(int(lift_ratio * len(y)), 1)]
    lift = (np.sum(weights[top] * y[top]) / np.sum(weights[top])) / (np.sum(weights * y) / total)
    return {
        "Accuracy": skm.accuracy_score(y, d, sample_weight=w),
        "Precision": precision,
        "Recall": recall,
        "F1 Score": f1,
        "Cost Matrix Gain": (tp * GAINS["tp"] + tn * GAINS["tn"] + fp * GAINS["fp"] + fn * GAINS["fn"]) / total,
        "Log Loss": skm.log_loss(y, p, sample_weight=w),
        "Cumulative Lift": lift,
        "ROC AUC": skm.roc_auc_score(y, p, sample_weight=w),
        "Average Precision": skm.average_precision_score(y, p, sample_weight=w),
    }


def sklearn_multiclass(y, proba):
    from sklearn import metrics as skm

    k = proba.shape[1]
    d = np.argmax(proba, axis=1)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, d, average="macro")
    return {
        "Accuracy": skm.accuracy_score(y, d),
        "Precision": precision,
        "Recall": recall,
        "F1 Score": f1,
        "Log Loss": skm.log_loss(y, proba, labels=np.arange(k)),
        "ROC AUC": skm.roc_auc_score(y, proba, multi_class="ovo", labels=np.arange(k)),
        "Average Precision": skm.average_precision_score(np.eye(k, dtype=np.int64)[y], proba, average="macro"),
    }


def check_agree(ours: dict, theirs: dict, case: str) -> None:
    for name, value in theirs.items():
        # float32 inputs: sklearn computes some metrics in float32, so agree to ~1e-6
        if not math.isclose(ours[name], float(value), rel_tol=1e-5, abs_tol=1e-7):
            raise AssertionError(f"{case}: {name} differs: trainrig {ours[name]!r}, sklearn {value!r}")


def seconds(function: Callable[[], object]) -> Callable[[], float]:
    """A side of the comparison: ``function``'s wall time."""

    def timed() -> float:
        started = time.perf_counter()
        function()
        return time.perf_counter() - started

    return timed


def cases(size: str) -> list[tuple[str, Callable[[], dict], Callable[[], dict]]]:
    """``(case, trainrig's suite, scikit-learn's metrics)`` on the inputs of ``size``."""
    from trainrig.metrics import compute_suite

    n_binary, n_multi = ROWS[size]["binary"], ROWS[size]["multiclass"]
    y_b, p_b = binary_data(n_binary)
    w_b = np.random.default_rng(1).uniform(0.0, 2.0, n_binary)
    y_m, p_m = multiclass_data(n_multi, CLASSES)
    return [
        (f"binary, n = {n_binary:,}", lambda: compute_suite("binary", y_b, p_b), lambda: sklearn_binary(y_b, p_b)),
        (
            f"binary, n = {n_binary:,}, sample weights",
            lambda: compute_suite("binary", y_b, p_b, w_b),
            lambda: sklearn_binary(y_b, p_b, w_b),
        ),
        (
            f"multiclass, n = {n_multi:,}, k = {CLASSES}",
            lambda: compute_suite("multiclass", y_m, p_m),
            lambda: sklearn_multiclass(y_m, p_m),
        ),
    ]


def run(size: str, repeats: int) -> list[Row]:
    rows = []
    for case, ours, theirs in cases(size):
        check_agree(ours(), theirs(), case)
        results = interleave({"scikit-learn": seconds(theirs), "trainrig": seconds(ours)}, repeats)
        ms = {side: [1e3 * t for t in times] for side, times in results.items()}
        rows += compared(NAME, case, "one call", "ms", ms, baseline="trainrig")
    return rows
