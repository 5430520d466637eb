"""Log Loss (cross-entropy) of predicted probabilities, weighted.

Probabilities are clipped to ``[1e-15, 1 - 1e-15]`` so a confident mistake costs a large but finite
amount (``-log(1e-15) ≈ 34.5``):

* binary: ``p`` is the probability of class 1; ``LogLoss = -Σ w·[y·log p + (1 - y)·log(1 - p)] / W``
  (the clip applies to the probability of the true class, ``p`` or ``1 - p``, which is the same);
* multiclass: each row of ``P`` is clipped, then renormalised to sum to 1 (``P / Σ_j P_j``), and
  ``LogLoss = -Σ w·log P[i, y_i] / W``.

(scikit-learn >= 1.5 clips to the float64 machine epsilon instead and does not renormalise; the two
agree whenever the probabilities are within ``[1e-15, 1 - 1e-15]`` and rows sum to 1.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPSILON", "binary_log_loss", "multiclass_log_loss"]

EPSILON = 1e-15


def binary_log_loss(y_true: np.ndarray, p: np.ndarray, w: np.ndarray, total: float) -> float:
    """Weighted binary cross-entropy of 0/1 ``y_true`` and probabilities ``p`` of class 1."""
    # the probability given to the true class (p for positives, 1 - p for negatives), clipped: the same as
    # clipping p, without the rounding of 1 - (1 - 1e-15) for a negative predicted with p = 1
    p_true = np.clip(np.where(y_true == 1, p, 1 - p), EPSILON, 1 - EPSILON)
    return -float(w @ np.log(p_true)) / total


def multiclass_log_loss(labels: np.ndarray, probabilities: np.ndarray, w: np.ndarray, total: float) -> float:
    """Weighted cross-entropy of integer ``labels`` and clipped, renormalised rows of ``probabilities``."""
    clipped = np.clip(probabilities, EPSILON, 1 - EPSILON)
    p_true = clipped[np.arange(labels.shape[0]), labels] / clipped.sum(axis=1)
    return -float(w @ np.log(p_true)) / total
