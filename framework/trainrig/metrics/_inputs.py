"""Validation and normalisation of the arrays given to :func:`~trainrig.metrics.compute_suite`.

Accepted shapes (``n`` samples, ``k`` classes):

* regression: ``y_true`` and ``y_pred`` of shape ``[n]`` or ``[n, 1]``, real numbers;
* binary: ``y_true`` holds 0/1 labels (bool, int or float) of shape ``[n]`` or ``[n, 1]``; ``y_pred``
  the probability (any real score works for the ranking metrics) of class 1, ``[n]`` or ``[n, 1]``;
* multiclass: ``y_pred`` holds class probabilities ``[n, k]`` with ``k >= 2``; ``y_true`` integer labels
  in ``0..k-1`` of shape ``[n]`` (or ``[n, 1]``), or one-hot rows ``[n, k]`` (values 0/1, one 1 a row);
* ``sample_weight``: ``None`` or non-negative finite weights ``[n]`` (or ``[n, 1]``) with a positive sum.

Everything else (no samples, mismatched lengths, NaN or infinite values, labels out of range, a
soft-label ``y_true``) raises :class:`~trainrig.errors.TrainrigError`: those are mistakes in what
was passed, not undefined metric values.
"""

from __future__ import annotations

from typing import NamedTuple

import math

import numpy as np

from trainrig.errors import TrainrigError


class Prepared(NamedTuple):
    """Normalised inputs: 1-d float arrays (multiclass: ``y_true`` int labels, ``y_pred`` ``[n, k]``)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    weight: np.ndarray  # float64 [n], ones when no sample_weight was given
    sample_weight: np.ndarray | None  # the given weights as float64 [n], or None
    total_weight: float
    n_classes: int  # 0 for regression, 2 for binary, k for multiclass


def _as_float(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TrainrigError(f"{name} must hold numbers: {exc}") from None
    return array


def _column(name: str, array: np.ndarray) -> np.ndarray:
    """``[n]`` or ``[n, 1]`` as ``[n]``."""
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim != 1:
        raise TrainrigError(f"{name} must have shape [n] or [n, 1], got {list(array.shape)}")
    return array


def finite_number(value, message: str) -> float:
    """``float(value)`` if it is a finite number, else a ``TrainrigError`` with ``message``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise TrainrigError(message)
    return number


def _check_finite(name: str, array: np.ndarray) -> None:
    if not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise TrainrigError(f"{name} holds {bad} NaN or infinite value(s); the metric suite needs finite numbers")


def _weights(sample_weight, n: int) -> tuple[np.ndarray, np.ndarray | None, float]:
    if sample_weight is None:
        return np.ones(n), None, float(n)
    weight = _column("sample_weight", _as_float("sample_weight", sample_weight))
    if weight.shape[0] != n:
        raise TrainrigError(f"sample_weight has {weight.shape[0]} values but there are {n} samples")
    _check_finite("sample_weight", weight)
    if (weight < 0).any():
        raise TrainrigError("sample_weight must not be negative")
    total = float(weight.sum())
    if not total > 0:
        raise TrainrigError("sample_weight sums to zero: no sample counts")
    return weight, weight, total


def _labels_from_onehot(y_true: np.ndarray) -> np.ndarray:
    if not ((y_true == 0) | (y_true == 1)).all() or not (y_true.sum(axis=1) == 1).all():
        raise TrainrigError(
            "a multiclass y_true of shape [n, k] must be one-hot (values 0/1, exactly one 1 a row); "
            "pass integer labels [n] otherwise"
        )
    return np.argmax(y_true, axis=1)


def prepare(prediction_type: str, y_true, y_pred, sample_weight) -> Prepared:
    """Check and normalise the inputs of one suite computation (see the module docstring)."""
    y_true_arr = _as_float("y_true", y_true)
    y_pred_arr = _as_float("y_pred", y_pred)
    if y_pred_arr.ndim == 0 or y_true_arr.ndim == 0:
        raise TrainrigError("y_true and y_pred must be arrays with one row a sample, not scalars")
    n = y_pred_arr.shape[0]
    if n == 0:
        raise TrainrigError("the metric suite got no samples (empty y_true / y_pred)")
    if y_true_arr.shape[0] != n:
        raise TrainrigError(f"y_true has {y_true_arr.shape[0]} rows but y_pred has {n}")

    if prediction_type == "multiclass":
        if y_pred_arr.ndim != 2 or y_pred_arr.shape[1] < 2:
            raise TrainrigError(
                "multiclass y_pred must hold class probabilities [n, k] with k >= 2, "
                f"got shape {list(y_pred_arr.shape)}"
            )
        k = y_pred_arr.shape[1]
        _check_finite("y_pred", y_pred_arr)
        _check_finite("y_true", y_true_arr)
        if y_true_arr.ndim == 2 and y_true_arr.shape[1] == k:
            labels = _labels_from_onehot(y_true_arr)
        elif y_true_arr.ndim == 1 or (y_true_arr.ndim == 2 and y_true_arr.shape[1] == 1):
            y_col = y_true_arr.reshape(n)
            if (y_col != np.floor(y_col)).any() or (y_col < 0).any() or (y_col >= k).any():
                raise TrainrigError(f"multiclass y_true labels must be integers in 0..{k - 1} (y_pred has {k} columns)")
            labels = y_col.astype(np.intp)
        else:
            raise TrainrigError(
                f"multiclass y_true must be labels [n] or one-hot [n, {k}], got shape {list(y_true_arr.shape)}"
            )
        weight, given, total = _weights(sample_weight, n)
        return Prepared(labels, y_pred_arr, weight, given, total, k)

    y_true_col = _column("y_true", y_true_arr)
    y_pred_col = _column("y_pred", y_pred_arr)
    _check_finite("y_true", y_true_col)
    _check_finite("y_pred", y_pred_col)
    if prediction_type == "binary" and not ((y_true_col == 0) | (y_true_col == 1)).all():
        raise TrainrigError("binary y_true must hold 0/1 labels")
    weight, given, total = _weights(sample_weight, n)
    return Prepared(y_true_col, y_pred_col, weight, given, total, 2 if prediction_type == "binary" else 0)
