"""Which ``logs`` key decides the best model, and in which direction (``get_variable("MODEL_METRIC")``).

The model's ``_best_logging_settings()`` names it unless ``TrainerParams.best_metric`` does; early
stopping and LR-on-plateau follow it by default and ask :meth:`BestMetric.direction_of` for any other
key they monitor.
"""

from __future__ import annotations

from typing import Callable

from trainrig.errors import TrainrigError, one_of
from trainrig.imports import import_object
from trainrig.log_keys import SUITE_PREFIX, TOTAL_LOSS, VALIDATION_PREFIX
from trainrig.metrics import GREATER_IS_BETTER, SUITE_NAMES
from trainrig.model.base import ModelBase
from trainrig.model.definitions import PredictionDefinition
from trainrig.train.params import SuiteParams, TrainerParams
from trainrig.variables import set_variable

CustomScore = tuple[Callable, bool]


def resolve_custom_score(suite: SuiteParams, model: ModelBase) -> CustomScore | None:
    """``(score function, greater_is_better)`` of the suite's Custom Score: the params' or the model's, or ``None``."""
    if suite.custom_score:
        function = import_object(suite.custom_score, what="trainer.suite.custom_score")
        if not callable(function):
            raise TrainrigError(f"trainer.suite.custom_score {suite.custom_score!r} is not callable")
        return function, suite.custom_greater_is_better
    return model._custom_score()


def suite_names(prediction: PredictionDefinition | None, custom: CustomScore | None) -> list[str]:
    """Names of the suite's entries (``"Test <name>"`` in logs) for the model's prediction type."""
    if prediction is None:
        return []
    names = list(SUITE_NAMES[prediction.type])
    return names + ["Custom Score"] if custom is not None else names


def _key_of(name: str, candidates: list[str]) -> str | None:
    for key in (name, VALIDATION_PREFIX + name, SUITE_PREFIX + name):
        if key in candidates:
            return key
    return None


class BestMetric:
    """The logs key that decides the best model (:attr:`monitor`) and its direction.

    ``model_setting`` is the model's ``("min" or "max", name)``; ``val_names`` the validation losses
    and metrics (without ``val_``), ``loss_names`` the losses among them, ``suite_greater`` the suite's
    entries with their direction.
    """

    def __init__(
        self,
        model_setting: tuple,
        val_names: list[str],
        loss_names: list[str],
        suite_greater: dict[str, bool],
        best_metric: str = "",
        best_mode: str = "auto",
    ):
        if not (isinstance(model_setting, tuple) and len(model_setting) == 2 and model_setting[0] in ("min", "max")):
            raise TrainrigError(f"_best_logging_settings must return ('min' or 'max', name), got {model_setting!r}")
        self._model_mode, model_name = model_setting
        self.loss_names = list(loss_names)
        self._suite_greater = dict(suite_greater)
        self.candidates = [VALIDATION_PREFIX + n for n in val_names] + [SUITE_PREFIX + n for n in suite_greater]
        self._model_key = _key_of(model_name, self.candidates)
        if not best_metric and self._model_key is None:
            raise TrainrigError(
                f"_best_logging_settings names {model_name!r}, which is not logged; "
                f"valid: {one_of(list(val_names) + list(suite_greater))}"
            )
        self.monitor, self.greater_is_better = self._choose(best_metric, best_mode)

    def _choose(self, best_metric: str, best_mode: str) -> tuple[str, bool]:
        if not best_metric:
            key = self._model_key
        else:
            key = _key_of(best_metric, self.candidates)
            if key is None:
                raise TrainrigError(f"trainer.best_metric {best_metric!r} is not logged; valid: {one_of(self.candidates)}")
        if best_mode != "auto" and best_metric:
            return key, best_mode == "max"
        if key == self._model_key:
            return key, self._model_mode == "max"
        if key.startswith(SUITE_PREFIX):
            return key, self._suite_greater[key[len(SUITE_PREFIX) :]]
        if key[len(VALIDATION_PREFIX) :] in self.loss_names:
            return key, False
        raise TrainrigError(
            f"trainer.best_mode auto cannot tell the direction of {key!r}; pass --trainer.best_mode min or max"
        )

    @property
    def mode(self) -> str:
        return "max" if self.greater_is_better else "min"

    def direction_of(self, key: str) -> str:
        """``"max"`` or ``"min"`` for a logs key that early stopping or LR-on-plateau monitors."""
        if key == self.monitor:
            return self.mode
        _, greater = self._choose(key, "auto")
        return "max" if greater else "min"

    def publish(self) -> None:
        """Set the shared variables ``MODEL_METRIC`` and ``MODEL_METRIC_GREATER_IS_BETTER``."""
        set_variable("MODEL_METRIC", self.monitor)
        set_variable("MODEL_METRIC_GREATER_IS_BETTER", self.greater_is_better)


def choose_best_metric(
    params: TrainerParams,
    model: ModelBase,
    val_names: list[str],
    loss_names: list[str],
    prediction: PredictionDefinition | None,
    custom: CustomScore | None,
) -> BestMetric:
    """The run's :class:`BestMetric` from its params, the model's setting and what validation logs."""
    custom_greater = True if custom is None else bool(custom[1])
    suite = {name: GREATER_IS_BETTER.get(name, custom_greater) for name in suite_names(prediction, custom)}
    return BestMetric(
        model._best_logging_settings(),
        val_names,
        [*loss_names, TOTAL_LOSS],
        suite,
        best_metric=params.best_metric,
        best_mode=params.best_mode,
    )
