"""The validation metric suite: vectorised, weighted metrics in pure numpy (no TensorFlow import).

:func:`compute_suite` returns every metric of a prediction type (``"regression"``, ``"binary"``,
``"multiclass"``) as ``{name: float}``; :data:`SUITE_NAMES` lists the names of each type in order,
:data:`GREATER_IS_BETTER` the direction of each (``"Custom Score"`` is not in it: its direction is the
``custom_greater_is_better`` flag; :func:`greater_is_better` handles both). Modules, one concept
each (their docstrings hold the exact definitions):

* :mod:`trainrig.metrics.suite` — :func:`compute_suite`, names, directions, errors and warnings policy;
* :mod:`trainrig.metrics.regression` — EVS, MAPE, MAE, MSE, RMSE, RMSLE, R2;
* :mod:`trainrig.metrics.classification` — decisions, confusion counts, accuracy,
  precision/recall/F1 (macro, micro, weighted), cost matrix gain;
* :mod:`trainrig.metrics.log_loss` — clipped (and renormalised) cross-entropy;
* :mod:`trainrig.metrics.ranking` — ROC AUC (binary; multiclass one-vs-one, Hand & Till), average
  precision, cumulative lift, all from one sort per score vector;
* :mod:`trainrig.metrics.custom` — the user's ``custom_score``.

Undefined metric values come with a :class:`MetricWarning`; invalid inputs raise
:class:`~trainrig.errors.TrainrigError`.
"""

from trainrig.metrics._warnings import MetricWarning
from trainrig.metrics.suite import CUSTOM_SCORE, GREATER_IS_BETTER, SUITE_NAMES, compute_suite, greater_is_better

__all__ = ["CUSTOM_SCORE", "GREATER_IS_BETTER", "SUITE_NAMES", "MetricWarning", "compute_suite", "greater_is_better"]
