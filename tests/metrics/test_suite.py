"""The numpy metric suite against scikit-learn (a test-only dependency) and hand-made references.

scikit-learn's multiclass one-vs-one ROC AUC does not accept ``sample_weight``: weighted multiclass
ROC AUC is checked against a pairwise reference built from sklearn's *binary* weighted ROC AUC
(and against row repetition). sklearn has no cumulative lift: it is checked against a direct
implementation with a stable sort. sklearn clips log-loss probabilities to the float64 epsilon (we
clip to 1e-15 and renormalise multiclass rows), so the comparisons use probabilities inside
``[1e-15, 1 - 1e-15]`` whose rows sum to 1, and the clipping has its own hand-computed tests.
"""

from __future__ import annotations

import functools
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")

from trainrig.errors import TrainrigError  # noqa: E402
from trainrig.metrics import (  # noqa: E402
    GREATER_IS_BETTER,
    SUITE_NAMES,
    MetricWarning,
    compute_suite,
    greater_is_better,
)
from trainrig.metrics import _warnings as metric_warnings  # noqa: E402

RTOL = 1e-9
ATOL = 1e-12
SEEDS = [0, 1, 2, 3]


def quiet_suite(*args, **kwargs):
    """``compute_suite`` failing the test on any MetricWarning (the data is well-defined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetricWarning)
        return compute_suite(*args, **kwargs)


def assert_close(actual: float, expected: float, name: str = "") -> None:
    assert math.isclose(actual, expected, rel_tol=RTOL, abs_tol=ATOL), f"{name}: {actual!r} != {expected!r}"


def reference_lift(y, scores, w, ratio):
    """Cumulative lift by a stable descending sort (ties in row order), straight from the definition."""
    n = len(y)
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    order = np.argsort(-np.asarray(scores), kind="stable")
    top = order[: max(int(ratio * n), 1)]
    return (np.sum(w[top] * y[top]) / np.sum(w[top])) / (np.sum(w * y) / np.sum(w))


def reference_ovo_auc(y, proba, w=None):
    """Hand & Till one-vs-one macro AUC over the classes present in y, from sklearn's binary (weighted) AUC."""
    classes = np.unique(y)
    scores = []
    for i, a in enumerate(classes):
        for b in classes[i + 1 :]:
            mask = (y == a) | (y == b)
            sw = None if w is None else w[mask]
            auc_a = sklearn_metrics.roc_auc_score(y[mask] == a, proba[mask, a], sample_weight=sw)
            auc_b = sklearn_metrics.roc_auc_score(y[mask] == b, proba[mask, b], sample_weight=sw)
            scores.append((auc_a + auc_b) / 2)
    return float(np.mean(scores))


def reference_ovr_ap(y, proba, w=None):
    classes = np.unique(y)
    indicator = (y[:, None] == classes[None, :]).astype(int)
    return sklearn_metrics.average_precision_score(indicator, proba[:, classes], average="macro", sample_weight=w)


def sklearn_binary(y, p, w, threshold, gains, ratio):
    d = (p >= threshold).astype(int)
    tn, fp, fn, tp = sklearn_metrics.confusion_matrix(y, d, labels=[0, 1], sample_weight=w).ravel()
    total = len(y) if w is None else np.sum(w)
    return {
        "Accuracy": sklearn_metrics.accuracy_score(y, d, sample_weight=w),
        "Precision": sklearn_metrics.precision_score(y, d, sample_weight=w),
        "Recall": sklearn_metrics.recall_score(y, d, sample_weight=w),
        "F1 Score": sklearn_metrics.f1_score(y, d, sample_weight=w),
        "Cost Matrix Gain": (tp * gains["tp"] + tn * gains["tn"] + fp * gains["fp"] + fn * gains["fn"]) / total,
        "Log Loss": sklearn_metrics.log_loss(y, p, sample_weight=w, labels=[0, 1]),
        "Cumulative Lift": reference_lift(y, p, w, ratio),
        "ROC AUC": sklearn_metrics.roc_auc_score(y, p, sample_weight=w),
        "Average Precision": sklearn_metrics.average_precision_score(y, p, sample_weight=w),
    }


def sklearn_multiclass(y, proba, w, average):
    k = proba.shape[1]
    d = np.argmax(proba, axis=1)
    if w is None:
        roc_auc = sklearn_metrics.roc_auc_score(y, proba, multi_class="ovo", average="macro", labels=np.arange(k))
    else:  # sklearn's ovo ROC AUC rejects sample_weight
        roc_auc = reference_ovo_auc(y, proba, w)
    return {
        "Accuracy": sklearn_metrics.accuracy_score(y, d, sample_weight=w),
        "Precision": sklearn_metrics.precision_score(y, d, average=average, sample_weight=w),
        "Recall": sklearn_metrics.recall_score(y, d, average=average, sample_weight=w),
        "F1 Score": sklearn_metrics.f1_score(y, d, average=average, sample_weight=w),
        "Log Loss": sklearn_metrics.log_loss(y, proba, sample_weight=w, labels=np.arange(k)),
        "ROC AUC": roc_auc,
        "Average Precision": reference_ovr_ap(y, proba, w),
    }


def sklearn_regression(y, y_hat, w):
    nonzero = y != 0
    return {
        "EVS": sklearn_metrics.explained_variance_score(y, y_hat, sample_weight=w),
        "MAPE": sklearn_metrics.mean_absolute_percentage_error(
            y[nonzero], y_hat[nonzero], sample_weight=None if w is None else w[nonzero]
        ),
        "MAE": sklearn_metrics.mean_absolute_error(y, y_hat, sample_weight=w),
        "MSE": sklearn_metrics.mean_squared_error(y, y_hat, sample_weight=w),
        "RMSE": math.sqrt(sklearn_metrics.mean_squared_error(y, y_hat, sample_weight=w)),
        "RMSLE": sklearn_metrics.root_mean_squared_log_error(y, y_hat, sample_weight=w),
        "R2 Score": sklearn_metrics.r2_score(y, y_hat, sample_weight=w),
    }


def assert_matches(result: dict, expected: dict) -> None:
    assert set(expected) <= set(result)
    for name, value in expected.items():
        assert_close(result[name], float(value), name)


def random_weights(rng, n):
    w = rng.uniform(0.0, 3.0, n)
    w[rng.random(n) < 0.05] = 0.0  # some rows do not count at all
    return w


def binary_data(seed, n=2000, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    p = np.clip(0.25 * y + rng.beta(2, 3, n), 0.001, 0.999)  # informative but overlapping
    if ties:
        p = np.round(p, 2)
    return rng, y, p


def multiclass_data(seed, n=1500, k=5, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    if ties:
        # small integer scores, normalised: many exactly equal values in each column, rows still sum to 1
        raw = rng.integers(1, 4, (n, k)).astype(float)
        raw[np.arange(n), y] += rng.integers(0, 2, n)
    else:
        raw = rng.gamma(1.0, 1.0, (n, k)) + 0.001
        raw[np.arange(n), y] += rng.gamma(0.5, 1.0, n)
    return rng, y, raw / raw.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------------- names


def test_names_and_directions():
    assert SUITE_NAMES["regression"] == ("EVS", "MAPE", "MAE", "MSE", "RMSE", "RMSLE", "R2 Score")
    assert SUITE_NAMES["binary"] == (
        "Accuracy",
        "Precision",
        "Recall",
        "F1 Score",
        "Cost Matrix Gain",
        "Log Loss",
        "Cumulative Lift",
        "ROC AUC",
        "Average Precision",
    )
    assert SUITE_NAMES["multiclass"] == (
        "Accuracy",
        "Precision",
        "Recall",
        "F1 Score",
        "Log Loss",
        "ROC AUC",
        "Average Precision",
    )
    every = {name for names in SUITE_NAMES.values() for name in names}
    # "Custom Score" is absent on purpose: callers look it up as .get(name, custom_greater_is_better)
    assert set(GREATER_IS_BETTER) == every
    assert GREATER_IS_BETTER.get("Custom Score", False) is False
    lower = {name for name, greater in GREATER_IS_BETTER.items() if not greater}
    assert lower == {"MAPE", "MAE", "MSE", "RMSE", "RMSLE", "Log Loss"}
    assert greater_is_better("Custom Score", custom_greater_is_better=False) is False
    assert greater_is_better("Custom Score") is True
    assert greater_is_better("Log Loss") is False
    with pytest.raises(TrainrigError, match="unknown metric"):
        greater_is_better("Nope")


@pytest.mark.parametrize("prediction_type", ["regression", "binary", "multiclass"])
def test_keys_exactly_in_order(prediction_type):
    rng = np.random.default_rng(0)
    if prediction_type == "multiclass":
        _, y, p = multiclass_data(0, n=200, k=3)
    elif prediction_type == "binary":
        _, y, p = binary_data(0, n=200)
    else:
        y, p = rng.random(200), rng.random(200)
    result = quiet_suite(prediction_type, y, p)
    assert tuple(result) == SUITE_NAMES[prediction_type]
    assert all(type(value) is float for value in result.values())
    with_custom = quiet_suite(prediction_type, y, p, custom_score=lambda t, q, sample_weight=None: 1.0)
    assert tuple(with_custom) == SUITE_NAMES[prediction_type] + ("Custom Score",)


def test_inputs_are_not_modified_and_numpy_options_accepted():
    rng, y, p = binary_data(0, n=300, ties=True)
    w = random_weights(rng, len(y))
    copies = (y.copy(), p.copy(), w.copy())
    first = quiet_suite("binary", y, p, w, threshold=np.float32(0.375), lift_ratio=np.float32(0.25))
    for before, after in zip(copies, (y, p, w)):
        np.testing.assert_array_equal(before, after)
    assert quiet_suite("binary", y.tolist(), p.tolist(), w.tolist(), threshold=0.375, lift_ratio=0.25) == pytest.approx(
        first, rel=1e-6
    )


def test_module_does_not_import_tensorflow():
    code = "import sys, trainrig.metrics; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------------------------- regression


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_matches_sklearn(seed, weighted):
    rng = np.random.default_rng(seed)
    n = 3000
    y = rng.lognormal(0.0, 1.0, n)
    y_hat = np.maximum(y + rng.normal(0.0, 0.5, n), 0.0)
    w = random_weights(rng, n) if weighted else None
    result = quiet_suite("regression", y, y_hat, w)
    assert_matches(result, sklearn_regression(y, y_hat, w))


def test_regression_column_shapes_and_weights_as_repetition():
    rng = np.random.default_rng(7)
    y, y_hat = rng.random(300), rng.random(300)
    flat = quiet_suite("regression", y, y_hat)
    column = quiet_suite("regression", y[:, None], y_hat[:, None])
    assert_matches(column, flat)
    counts = rng.integers(0, 4, 300)
    weighted = quiet_suite("regression", y, y_hat, counts)
    repeated = quiet_suite("regression", np.repeat(y, counts), np.repeat(y_hat, counts))
    for name in SUITE_NAMES["regression"]:
        assert math.isclose(weighted[name], repeated[name], rel_tol=1e-9, abs_tol=1e-12), name


@pytest.mark.parametrize("weighted", [False, True])
def test_mape_drops_zero_targets(weighted):
    rng = np.random.default_rng(3)
    n = 1000
    y = rng.lognormal(0.0, 1.0, n)
    y[rng.random(n) < 0.2] = 0.0
    y_hat = np.abs(y + rng.normal(0.0, 0.3, n))
    w = random_weights(rng, n) if weighted else None
    result = quiet_suite("regression", y, y_hat, w)
    nonzero = y != 0
    expected = sklearn_metrics.mean_absolute_percentage_error(
        y[nonzero], y_hat[nonzero], sample_weight=None if w is None else w[nonzero]
    )
    assert_close(result["MAPE"], expected, "MAPE")
    # the other metrics still use every row
    assert_close(result["MAE"], sklearn_metrics.mean_absolute_error(y, y_hat, sample_weight=w), "MAE")


def test_mape_all_zero_targets_is_nan_with_warning():
    with pytest.warns(MetricWarning, match="MAPE"):
        result = compute_suite("regression", np.zeros(10), np.arange(10.0))
    assert math.isnan(result["MAPE"])
    assert_close(result["MAE"], 4.5)


def test_rmsle_undefined_values_nan_and_one_warning():
    metric_warnings._reset_once()  # the warning is once per process; forget earlier tests
    y = np.array([0.5, -1.5, 2.0, 3.0])
    y_hat = np.array([0.4, 0.0, 2.5, 3.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = compute_suite("regression", y, y_hat)
        second = compute_suite("regression", y_hat, np.array([0.0, -1.0, 1.0, 2.0]))  # exactly -1 too
    rmsle_warnings = [w for w in caught if issubclass(w.category, MetricWarning) and "RMSLE" in str(w.message)]
    assert len(rmsle_warnings) == 1
    assert rmsle_warnings[0].filename == __file__  # points at the caller, not the internals
    assert math.isnan(first["RMSLE"]) and math.isnan(second["RMSLE"])
    for name in ("EVS", "MAPE", "MAE", "MSE", "RMSE", "R2 Score"):
        assert math.isfinite(first[name]) and math.isfinite(second[name]), name
    # values above -1 (negative included) are fine
    ok = quiet_suite("regression", np.array([-0.5, 0.0, 1.0]), np.array([-0.2, 0.1, 1.5]))
    expected = math.sqrt(np.mean((np.log1p([-0.2, 0.1, 1.5]) - np.log1p([-0.5, 0.0, 1.0])) ** 2))
    assert_close(ok["RMSLE"], expected)


def test_constant_targets_r2_and_evs():
    perfect = quiet_suite("regression", np.full(5, 2.0), np.full(5, 2.0))
    assert perfect["R2 Score"] == 1.0 and perfect["EVS"] == 1.0
    off = quiet_suite("regression", np.full(5, 2.0), np.array([1.0, 2.0, 3.0, 2.0, 2.5]))
    assert off["R2 Score"] == 0.0 and off["EVS"] == 0.0
    y_true, y_pred = np.full(5, 2.0), np.array([1.0, 2.0, 3.0, 2.0, 2.5])
    assert off["R2 Score"] == sklearn_metrics.r2_score(y_true, y_pred)
    assert off["EVS"] == sklearn_metrics.explained_variance_score(y_true, y_pred)


# --------------------------------------------------------------------------------------------------- binary


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_binary_matches_sklearn(seed, weighted, ties):
    rng, y, p = binary_data(seed, ties=ties)
    w = random_weights(rng, len(y)) if weighted else None
    gains = {"tp": 1.0, "tn": 0.0, "fp": -0.3, "fn": 0.0}
    result = quiet_suite("binary", y, p, w)
    assert_matches(result, sklearn_binary(y, p, w, 0.5, gains, 0.4))


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_binary_options_match_sklearn(seed):
    rng, y, p = binary_data(seed, n=1500, ties=True)
    w = random_weights(rng, len(y))
    gains = {"tp": 2.0, "tn": 0.5, "fp": -1.0, "fn": -0.25}
    result = quiet_suite("binary", y, p, w, threshold=0.3, cost_gains=gains, lift_ratio=0.1)
    assert_matches(result, sklearn_binary(y, p, w, 0.3, gains, 0.1))
    partial = quiet_suite("binary", y, p, cost_gains={"fp": -1.0})
    expected = sklearn_binary(y, p, None, 0.5, {"tp": 1.0, "tn": 0.0, "fp": -1.0, "fn": 0.0}, 0.4)
    assert_close(partial["Cost Matrix Gain"], expected["Cost Matrix Gain"])


def test_binary_heavy_ties_and_column_shapes():
    rng = np.random.default_rng(11)
    n = 5000
    y = rng.integers(0, 2, n)
    p = rng.integers(0, 5, n) / 4.0  # five distinct scores, including exactly 0 and 1
    p = np.where(p == 0.0, 1e-3, np.where(p == 1.0, 1 - 1e-3, p))
    w = random_weights(rng, n)
    flat = quiet_suite("binary", y, p, w, lift_ratio=0.33)
    column = quiet_suite("binary", y[:, None], p[:, None], w[:, None], lift_ratio=0.33)
    assert flat == column
    assert_matches(flat, sklearn_binary(y, p, w, 0.5, {"tp": 1.0, "tn": 0.0, "fp": -0.3, "fn": 0.0}, 0.33))
    # bool and float labels are the same labels
    assert quiet_suite("binary", y.astype(bool), p, w, lift_ratio=0.33) == flat


def test_binary_constant_scores():
    y = np.array([0, 1, 0, 1, 1, 0, 0, 0])
    p = np.full(8, 0.7)
    result = quiet_suite("binary", y, p)
    assert result["ROC AUC"] == 0.5
    assert_close(result["Average Precision"], 3 / 8)
    # all rows tie: the first int(0.4 * 8) = 3 rows in row order hold 1 positive of 3
    assert_close(result["Cumulative Lift"], (1 / 3) / (3 / 8))


def test_lift_tie_order_is_row_order():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    assert quiet_suite("binary", [0, 0, 1, 1, 1], scores, lift_ratio=0.4)["Cumulative Lift"] == 0.0
    lift = quiet_suite("binary", [0, 1, 0, 0, 1], scores, lift_ratio=0.4)["Cumulative Lift"]
    assert_close(lift, (1 / 2) / (2 / 5))
    # k = max(int(ratio * n), 1): one row at least
    assert_close(quiet_suite("binary", [1, 0, 0, 0, 0], scores, lift_ratio=0.01)["Cumulative Lift"], 5.0)


def test_weights_are_repetitions_binary():
    rng, y, p = binary_data(5, n=600, ties=True)
    counts = rng.integers(0, 4, len(y))
    weighted = quiet_suite("binary", y, p, counts)
    repeated = quiet_suite("binary", np.repeat(y, counts), np.repeat(p, counts))
    for name in SUITE_NAMES["binary"]:
        if name != "Cumulative Lift":  # its k counts rows, so repetition changes it
            assert math.isclose(weighted[name], repeated[name], rel_tol=1e-9, abs_tol=1e-12), name


def test_binary_log_loss_clipping():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.0, 1.0, 1.0, 0.0])
    result = compute_suite("binary", y, p)
    # two confident mistakes cost -log(1e-15) each; the two hits cost -log(1 - 1e-15)
    expected = -(2 * math.log(1e-15) + 2 * math.log(1 - 1e-15)) / 4
    assert math.isclose(result["Log Loss"], expected, rel_tol=1e-6)


def test_no_predicted_positive_precision_zero_with_warning():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 100)
    p = rng.uniform(0.0, 0.4, 100)
    with pytest.warns(MetricWarning, match="Precision is ill-defined"):
        result = compute_suite("binary", y, p)
    assert result["Precision"] == 0.0
    assert result["F1 Score"] == 0.0 and result["Recall"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert result["Precision"] == sklearn_metrics.precision_score(y, (p >= 0.5).astype(int))
    assert_close(result["ROC AUC"], sklearn_metrics.roc_auc_score(y, p))


def test_binary_single_class_all_negative():
    rng = np.random.default_rng(4)
    p = rng.random(50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute_suite("binary", np.zeros(50), p)
    messages = " | ".join(str(w.message) for w in caught if issubclass(w.category, MetricWarning))
    for name in ("ROC AUC", "Average Precision", "Cumulative Lift"):
        assert math.isnan(result[name]), name
        assert name in messages
    assert "Recall is ill-defined" in messages
    for name in ("Accuracy", "Precision", "Recall", "F1 Score", "Cost Matrix Gain", "Log Loss"):
        assert math.isfinite(result[name]), name
    assert_close(result["Accuracy"], float(np.mean(p < 0.5)))


def test_binary_single_class_all_positive():
    p = np.random.default_rng(5).random(50)
    with pytest.warns(MetricWarning, match="ROC AUC is undefined"):
        result = compute_suite("binary", np.ones(50), p)
    assert math.isnan(result["ROC AUC"])
    assert result["Average Precision"] == 1.0  # the positive class is there: precision is 1 at every recall
    assert result["Cumulative Lift"] == 1.0
    assert_close(result["Recall"], float(np.mean(p >= 0.5)))


def test_binary_class_with_zero_weight_is_missing():
    y = np.array([0, 1, 0, 1])
    with pytest.warns(MetricWarning, match="ROC AUC is undefined"):
        result = compute_suite("binary", y, [0.2, 0.8, 0.3, 0.6], sample_weight=[0.0, 1.0, 0.0, 2.0])
    assert math.isnan(result["ROC AUC"])


# ----------------------------------------------------------------------------------------------- multiclass


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_matches_sklearn(seed, average, weighted):
    rng, y, proba = multiclass_data(seed)
    w = random_weights(rng, len(y)) if weighted else None
    result = quiet_suite("multiclass", y, proba, w, average=average)
    assert_matches(result, sklearn_multiclass(y, proba, w, average))


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_ties_match_sklearn(seed, weighted):
    rng, y, proba = multiclass_data(seed, n=1200, k=3, ties=True)
    w = random_weights(rng, len(y)) if weighted else None
    result = quiet_suite("multiclass", y, proba, w)
    assert_matches(result, sklearn_multiclass(y, proba, w, "macro"))


def test_multiclass_ovo_auc_unweighted_equals_pairwise_reference():
    _, y, proba = multiclass_data(9, n=800, k=4)
    result = quiet_suite("multiclass", y, proba)
    assert_close(result["ROC AUC"], reference_ovo_auc(y, proba))
    assert_close(result["ROC AUC"], sklearn_metrics.roc_auc_score(y, proba, multi_class="ovo"))


def test_multiclass_one_hot_targets():
    rng, y, proba = multiclass_data(1, n=500, k=4)
    w = random_weights(rng, len(y))
    one_hot = np.eye(4)[y]
    for average in ("macro", "micro", "weighted"):
        assert quiet_suite("multiclass", one_hot, proba, w, average=average) == quiet_suite(
            "multiclass", y, proba, w, average=average
        )
    assert quiet_suite("multiclass", y[:, None], proba) == quiet_suite("multiclass", y.astype(float), proba)
    with pytest.raises(TrainrigError, match="one-hot"):
        compute_suite("multiclass", np.full((500, 4), 0.25), proba)


def test_multiclass_weights_are_repetitions():
    rng, y, proba = multiclass_data(6, n=400, k=4, ties=True)
    counts = rng.integers(0, 4, len(y))
    weighted = quiet_suite("multiclass", y, proba, counts)
    repeated = quiet_suite("multiclass", np.repeat(y, counts), np.repeat(proba, counts, axis=0))
    for name in SUITE_NAMES["multiclass"]:
        assert math.isclose(weighted[name], repeated[name], rel_tol=1e-9, abs_tol=1e-12), name


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_absent_classes(weighted):
    rng, y, proba = multiclass_data(8, n=900, k=5)
    y = np.where(y == 2, 0, y)  # class 2 never occurs in y_true
    w = random_weights(rng, len(y)) if weighted else None
    with pytest.warns(MetricWarning, match=r"Recall is ill-defined.*\[2\]"):  # class 2 is still predicted
        result = compute_suite("multiclass", y, proba, w)
    assert_close(result["ROC AUC"], reference_ovo_auc(y, proba, w))
    assert_close(result["Average Precision"], reference_ovr_ap(y, proba, w))
    d = np.argmax(proba, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's UndefinedMetricWarning for class 2 as well
        expected = {
            "Precision": sklearn_metrics.precision_score(y, d, average="macro", sample_weight=w),
            "Recall": sklearn_metrics.recall_score(y, d, average="macro", sample_weight=w),
            "F1 Score": sklearn_metrics.f1_score(y, d, average="macro", sample_weight=w),
        }
    assert_matches(result, expected)
    assert_close(result["Log Loss"], sklearn_metrics.log_loss(y, proba, sample_weight=w, labels=np.arange(5)))


def test_multiclass_class_never_predicted_nor_true_is_left_out_of_macro():
    # class 3 appears nowhere: macro averages over classes 0..2 only, like sklearn without labels
    y = np.array([0, 1, 2, 0, 1, 2])
    proba = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.1, 0.1, 0.7, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.1, 0.1, 0.7, 0.1],
        ]
    )
    result = quiet_suite("multiclass", y, proba)
    d = np.argmax(proba, axis=1)
    assert_close(result["Precision"], sklearn_metrics.precision_score(y, d, average="macro"))
    assert_close(result["F1 Score"], sklearn_metrics.f1_score(y, d, average="macro"))


def test_multiclass_never_predicted_class_warns_precision():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.1, 0.7, 0.2]])
    with pytest.warns(MetricWarning, match=r"Precision is ill-defined.*\[2\]"):
        result = compute_suite("multiclass", y, proba)
    d = np.argmax(proba, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(result["Precision"], sklearn_metrics.precision_score(y, d, average="macro"))


def test_multiclass_single_class():
    proba = np.random.default_rng(3).dirichlet(np.ones(3), 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute_suite("multiclass", np.full(40, 1), proba)
    messages = [str(w.message) for w in caught if issubclass(w.category, MetricWarning)]
    assert any("ROC AUC is undefined" in m for m in messages)
    assert any("Recall is ill-defined" in m for m in messages)  # classes 0 and 2 are predicted but never true
    assert math.isnan(result["ROC AUC"])
    assert result["Average Precision"] == 1.0  # one-vs-rest of the only class present: every sample positive
    assert_close(result["Accuracy"], float(np.mean(np.argmax(proba, axis=1) == 1)))
    assert math.isfinite(result["Log Loss"])


def test_multiclass_log_loss_clips_and_renormalises():
    y = np.array([0, 1, 2])
    proba = np.array([[0.0, 0.5, 0.5], [0.2, 0.2, 0.2], [0.1, 0.1, 1.0]])
    result = compute_suite("multiclass", y, proba)
    clipped = np.clip(proba, 1e-15, 1 - 1e-15)
    normalised = clipped / clipped.sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(normalised[np.arange(3), y]))
    assert_close(result["Log Loss"], float(expected))


# ------------------------------------------------------------------------------------------------- custom


def weighted_hits(y_true, y_pred, sample_weight=None):
    return float(np.average(np.asarray(y_pred >= 0.5) == y_true, weights=sample_weight))


def returns_nan(y_true, y_pred, sample_weight=None):
    return float("nan")


class Scorer:
    def __call__(self, y_true, y_pred, sample_weight=None):
        return None


def test_custom_score_good_and_weighted():
    rng, y, p = binary_data(0, n=300)
    w = random_weights(rng, len(y))
    result = quiet_suite("binary", y, p, w, custom_score=weighted_hits, custom_greater_is_better=True)
    assert_close(result["Custom Score"], result["Accuracy"])
    seen = {}

    def spy(y_true, y_pred, sample_weight=None):
        seen.update(y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
        return np.float32(2.5)

    _, y_mc, proba = multiclass_data(0, n=50, k=3)
    assert quiet_suite("multiclass", np.eye(3)[y_mc], proba, custom_score=spy)["Custom Score"] == 2.5
    np.testing.assert_array_equal(seen["y_true"], y_mc)  # one-hot targets arrive as labels
    assert seen["y_pred"].shape == (50, 3) and seen["sample_weight"] is None


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (returns_nan, f"{__name__}:returns_nan"),
        (Scorer(), f"{__name__}:Scorer"),
        (functools.partial(returns_nan), f"functools.partial({__name__}:returns_nan)"),
        (lambda y_true, y_pred, sample_weight=None: math.inf, f"{__name__}:<lambda>"),
    ],
)
def test_custom_score_bad_result_names_the_function(function, name):
    y = np.array([0.0, 1.0, 2.0])
    with pytest.raises(TrainrigError) as info:
        compute_suite("regression", y, y, custom_score=function)
    assert name in str(info.value)


def test_custom_score_exception_and_not_callable():
    def broken(y_true, y_pred, sample_weight=None):
        raise ValueError("boom")

    name = r"test_suite:test_custom_score_exception_and_not_callable\.<locals>\.broken"
    with pytest.raises(TrainrigError, match=name + ".*boom"):
        compute_suite("regression", [1.0, 2.0], [1.0, 2.5], custom_score=broken)
    with pytest.raises(TrainrigError, match="custom_score must be a callable"):
        compute_suite("regression", [1.0, 2.0], [1.0, 2.5], custom_score=3)


# ------------------------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize("prediction_type", ["regression", "binary", "multiclass"])
def test_empty_input_raises(prediction_type):
    shape = (0, 3) if prediction_type == "multiclass" else (0,)
    with pytest.raises(TrainrigError, match="no samples"):
        compute_suite(prediction_type, np.zeros(0), np.zeros(shape))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prediction_type": "ranking"}, "prediction_type must be"),
        ({"average": "samples"}, "average must be"),
        ({"lift_ratio": 0.0}, "lift_ratio"),
        ({"lift_ratio": 1.5}, "lift_ratio"),
        ({"threshold": float("nan")}, "threshold"),
        ({"cost_gains": {"tp": 1, "bonus": 2}}, "unknown key 'bonus'"),
        ({"cost_gains": {"fp": "x"}}, "finite number"),
        ({"y_pred": [0.1, float("nan"), 0.3, 0.4]}, "NaN or infinite"),
        ({"y_true": [0, 1, 2, 1]}, "0/1 labels"),
        ({"y_true": [0, 1, 1]}, "rows"),
        ({"sample_weight": [1, -1, 1, 1]}, "negative"),
        ({"sample_weight": [0, 0, 0, 0]}, "sums to zero"),
        ({"sample_weight": [1, 1]}, "sample_weight has 2 values"),
        ({"y_pred": np.zeros((4, 2))}, r"shape \[n\] or \[n, 1\]"),
        ({"y_true": ["a", "b", "c", "d"]}, "must hold numbers"),
    ],
)
def test_invalid_binary_inputs_raise(kwargs, match):
    arguments = {"prediction_type": "binary", "y_true": [0, 1, 1, 0], "y_pred": [0.1, 0.9, 0.6, 0.3]}
    arguments.update(kwargs)
    with pytest.raises(TrainrigError, match=match):
        compute_suite(**arguments)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([0, 1, 3], np.full((3, 3), 1 / 3), r"integers in 0\.\.2"),
        ([0, 1.5, 2], np.full((3, 3), 1 / 3), "integers"),
        ([0, 1, 2], np.full((3, 1), 1.0), "k >= 2"),
        (np.zeros((3, 2)), np.full((3, 3), 1 / 3), "labels"),
    ],
)
def test_invalid_multiclass_inputs_raise(y_true, y_pred, match):
    with pytest.raises(TrainrigError, match=match):
        compute_suite("multiclass", y_true, y_pred)
