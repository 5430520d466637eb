"""Compute the validation metric suite of the model's prediction type into the epoch-end logs."""

from __future__ import annotations

from trainrig.callbacks.base import TrainrigCallback
from trainrig.metrics import compute_suite
from trainrig.context import RunContext
from trainrig.log_keys import SUITE_PREFIX


def suite_values(context: RunContext) -> dict[str, float]:
    """``{"Test <name>": value}`` of the last validation's gathered predictions (empty without a prediction)."""
    if context.prediction is None or context.validation_predictions is None:
        return {}
    y_true, y_pred, weight = context.validation_predictions
    suite = context.params.suite
    custom = context.custom_score
    values = compute_suite(
        context.prediction.type,
        y_true,
        y_pred,
        sample_weight=weight,
        threshold=context.prediction.threshold,
        average=suite.average,
        cost_gains=suite.cost_gains,
        lift_ratio=suite.lift_ratio,
        custom_score=custom[0] if custom else None,
        custom_greater_is_better=custom[1] if custom else True,
    )
    return {SUITE_PREFIX + name: float(value) for name, value in values.items()}


class MetricSuite(TrainrigCallback):
    """Adds ``"Test <name>"`` for every suite metric (see README, "Validation metric suite") to ``logs``.

    It is the first base callback, so every callback after it (best model, early stopping, plugins',
    the user's) sees the values. They are computed in numpy from the targets and outputs gathered
    while validating: no second pass over the data.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(suite_values(self.context))
