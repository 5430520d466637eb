"""Where each ``logs`` value goes in TensorBoard: a few sections, no duplicates, and the x axis said.

The console, the history and ``logs`` keep their names; only the TensorBoard tags are grouped:

==================  ==========================================================  ===================
section             what                                                        x axis
==================  ==========================================================  ===================
``losses/``         ``loss`` and every named loss (train and validation runs)   epoch
``metrics/``        keras, extended and multi metrics, evaluator values          epoch
``suite/``          the validation metric suite (``"Test <name>"`` in logs)      epoch
``best/``           the best-model value so far (validation run)                epoch
``optimizer/``      ``learning_rate`` (train run)                               optimizer step
``steps/``          with ``trainer.log_every_steps``: training values so far    optimizer step
``freeze/``         with freeze training: frozen layer count, changes (text)    epoch
==================  ==========================================================  ===================

Epoch ``e`` (1-based) is step ``e``; every tag's description says which axis it has. A suite entry
that the model already logs as a loss or metric on the same target is left out (for example
``Test Accuracy`` beside a ``SparseCategoricalAccuracy`` metric, ``Test Log Loss`` beside a
cross-entropy loss): see :data:`SAME_AS`.
"""

from __future__ import annotations

from typing import Any, Iterable

from trainrig.log_keys import FROZEN_LAYERS, LEARNING_RATE, SUITE_PREFIX, TOTAL_LOSS, VALIDATION_PREFIX

LOSSES, METRICS, SUITE, BEST, OPTIMIZER, STEPS, FREEZE = "losses", "metrics", "suite", "best", "optimizer", "steps", "freeze"

EPOCH_AXIS = "x axis: epoch (epoch e is step e)."
STEP_AXIS = "x axis: optimizer step (optimizer.iterations)."

LEARNING_RATE_TAG = f"{OPTIMIZER}/{LEARNING_RATE}"

#: Suite entries and the keras classes (or loss functions), lower-case without underscores, whose
#: values on the prediction's target are the same quantity.
SAME_AS: dict[str, frozenset[str]] = {
    "Accuracy": frozenset({"accuracy", "binaryaccuracy", "categoricalaccuracy", "sparsecategoricalaccuracy"}),
    "Log Loss": frozenset({"binarycrossentropy", "categoricalcrossentropy", "sparsecategoricalcrossentropy"}),
    "MSE": frozenset({"meansquarederror", "mse"}),
    "MAE": frozenset({"meanabsoluteerror", "mae"}),
    "RMSE": frozenset({"rootmeansquarederror"}),
    "MAPE": frozenset({"meanabsolutepercentageerror", "mape"}),
    "R2 Score": frozenset({"r2score"}),
}


def _kind(objective: Any) -> str:
    """``SparseCategoricalAccuracy`` → ``"sparsecategoricalaccuracy"``; a plain function by its name."""
    name = getattr(objective, "__name__", None) or type(objective).__name__
    return name.lower().replace("_", "")


def logged_suite_duplicates(target: str | None, definitions: Iterable) -> set[str]:
    """The suite entries a loss or metric definition (``.target``, ``.loss``/``.metric``) on ``target`` already logs."""
    if target is None:
        return set()
    kinds = {
        _kind(getattr(d, "loss", None) or getattr(d, "metric", None))
        for d in definitions
        if getattr(d, "target", None) == target
    }
    return {entry for entry, same in SAME_AS.items() if kinds & same}


class TagNames:
    """The TensorBoard tag of each ``logs`` name (``val_`` already stripped), or ``None`` when it is not written."""

    def __init__(self, loss_names: Iterable[str], suite_duplicates: Iterable[str] = ()):
        self.loss_names = {TOTAL_LOSS, *loss_names}
        self.suite_duplicates = set(suite_duplicates)

    def tag(self, name: str) -> str | None:
        if name == LEARNING_RATE:
            return None  # written per optimizer step as optimizer/learning_rate
        if name == FROZEN_LAYERS:
            return f"{FREEZE}/{FROZEN_LAYERS}"
        if name.startswith(SUITE_PREFIX):
            entry = name[len(SUITE_PREFIX) :]
            return None if entry in self.suite_duplicates else f"{SUITE}/{entry}"
        if name in self.loss_names:
            return f"{LOSSES}/{name}"
        return f"{METRICS}/{name}"

    def tags(self, values: dict[str, float]) -> dict[str, float]:
        """``values`` by tag, without the ones not written."""
        tagged = {}
        for name, value in values.items():
            tag = self.tag(name)
            if tag is not None:
                tagged[tag] = value
        return tagged

    @staticmethod
    def best(monitor: str) -> str:
        """The tag of the best-model value: ``best/acc`` for ``val_acc``, ``best/ROC AUC`` for ``Test ROC AUC``."""
        for prefix in (VALIDATION_PREFIX, SUITE_PREFIX):
            if monitor.startswith(prefix):
                return f"{BEST}/{monitor[len(prefix):]}"
        return f"{BEST}/{monitor}"

    @staticmethod
    def step(name: str) -> str:
        """The tag of a training value written per optimizer step (``steps/loss``)."""
        return f"{STEPS}/{name}"
