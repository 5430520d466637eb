"""Regression metrics of the validation suite (weighted, vectorised numpy).

With targets ``y``, predictions ``ŷ``, residuals ``r = y - ŷ``, sample weights ``w`` (all ones when
none are given), ``W = Σ w`` and the weighted mean ``E[x] = Σ w·x / W``:

* ``MAE  = E[|r|]``
* ``MSE  = E[r²]``; ``RMSE = sqrt(MSE)``
* ``MAPE = Σ_{y≠0} w·|r|/|y| / Σ_{y≠0} w``: a fraction, not a percentage. Rows with ``y == 0`` are
  **dropped** (their relative error is undefined); if no row (or no weight) is left, MAPE is ``NaN``
  with a :class:`~trainrig.metrics.MetricWarning`.
* ``RMSLE = sqrt(E[(log(1 + ŷ) - log(1 + y))²])``; it is undefined when any ``y`` or ``ŷ`` is
  ``<= -1``: then it is ``NaN`` and a :class:`~trainrig.metrics.MetricWarning` is issued once per process.
* ``EVS = 1 - Var[r] / Var[y]`` and ``R2 = 1 - E[r²] / Var[y]`` with the weighted (biased) variance
  ``Var[x] = E[(x - E[x])²]``. When ``Var[y] == 0`` (constant targets) the ratio is undefined: the
  score is ``1.0`` if the numerator is 0 too (perfect predictions), else ``0.0`` (no warning).
"""

from __future__ import annotations

import math

import numpy as np

from trainrig.metrics._warnings import warn, warn_once

__all__ = ["REGRESSION_NAMES", "regression_metrics"]

REGRESSION_NAMES = ("EVS", "MAPE", "MAE", "MSE", "RMSE", "RMSLE", "R2 Score")


def _one_minus_ratio(numerator: float, denominator: float) -> float:
    if denominator == 0.0:
        return 1.0 if numerator == 0.0 else 0.0
    return 1.0 - numerator / denominator


def mean_absolute_percentage_error(y: np.ndarray, abs_residual: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean of ``|r| / |y|`` over the rows with ``y != 0`` (``NaN`` and a warning if none)."""
    nonzero = y != 0
    if nonzero.all():
        total = float(w.sum())
        terms_w, terms = w, abs_residual / np.abs(y)
    else:
        terms_w = w[nonzero]
        total = float(terms_w.sum())
        terms = abs_residual[nonzero] / np.abs(y[nonzero])
    if total == 0.0:
        warn("MAPE is undefined: every target (with a positive weight) is 0; returning NaN.")
        return math.nan
    return float(terms_w @ terms) / total


def root_mean_squared_log_error(y: np.ndarray, y_hat: np.ndarray, w: np.ndarray, total: float) -> float:
    """``sqrt(E[(log1p(ŷ) - log1p(y))²])``; ``NaN`` (warned once per process) if a value is ``<= -1``."""
    if (y <= -1).any() or (y_hat <= -1).any():
        warn_once(
            "rmsle-domain",
            "RMSLE is undefined when a target or prediction is <= -1 (log(1 + x) does not exist); "
            "returning NaN. This warning is shown once per process.",
        )
        return math.nan
    diff = np.log1p(y_hat) - np.log1p(y)
    return math.sqrt(float(w @ (diff * diff)) / total)


def regression_metrics(y: np.ndarray, y_hat: np.ndarray, w: np.ndarray, total: float) -> dict[str, float]:
    """All regression metrics of the suite, keyed by :data:`REGRESSION_NAMES`."""
    residual = y - y_hat
    abs_residual = np.abs(residual)
    mae = float(w @ abs_residual) / total
    mse = float(w @ (residual * residual)) / total

    residual_centered = residual - float(w @ residual) / total
    var_residual = float(w @ (residual_centered * residual_centered)) / total
    y_centered = y - float(w @ y) / total
    var_y = float(w @ (y_centered * y_centered)) / total

    return {
        "EVS": _one_minus_ratio(var_residual, var_y),
        "MAPE": mean_absolute_percentage_error(y, abs_residual, w),
        "MAE": mae,
        "MSE": mse,
        "RMSE": math.sqrt(mse),
        "RMSLE": root_mean_squared_log_error(y, y_hat, w, total),
        "R2 Score": _one_minus_ratio(mse, var_y),
    }
