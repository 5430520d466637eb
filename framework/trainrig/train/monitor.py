"""Which ``logs`` key decides the best model, and in which direction (``get_variable("MODEL_METRIC")``)."""

from __future__ import annotations

from trainrig.errors import TrainrigError, one_of
from trainrig.tensorboard.writers import VALIDATION_PREFIX

SUITE_PREFIX = "Test "


def candidate_keys(val_names: list[str], suite_names: list[str]) -> list[str]:
    """Every logs key the best model can follow: validation losses/metrics and suite entries."""
    return [VALIDATION_PREFIX + n for n in val_names] + [SUITE_PREFIX + n for n in suite_names]


def _key_of(name: str, candidates: list[str]) -> str | None:
    for key in (name, VALIDATION_PREFIX + name, SUITE_PREFIX + name):
        if key in candidates:
            return key
    return None


def choose_monitor(
    best_metric: str,
    best_mode: str,
    model_setting: tuple,
    val_names: list[str],
    loss_names: list[str],
    suite_names: list[str],
    suite_greater: dict[str, bool],
) -> tuple[str, bool]:
    """``(logs key, greater_is_better)`` from the params' ``best_metric``/``best_mode`` or the model's setting."""
    candidates = candidate_keys(val_names, suite_names)
    if not (isinstance(model_setting, tuple) and len(model_setting) == 2 and model_setting[0] in ("min", "max")):
        raise TrainrigError(f"_best_logging_settings must return ('min' or 'max', name), got {model_setting!r}")
    model_mode, model_name = model_setting
    model_key = _key_of(model_name, candidates)
    if not best_metric:
        if model_key is None:
            raise TrainrigError(
                f"_best_logging_settings names {model_name!r}, which is not logged; valid: {one_of(val_names + suite_names)}"
            )
        key = model_key
    else:
        key = _key_of(best_metric, candidates)
        if key is None:
            raise TrainrigError(f"trainer.best_metric {best_metric!r} is not logged; valid: {one_of(candidates)}")
    if best_mode != "auto" and best_metric:
        return key, best_mode == "max"
    if key == model_key:
        return key, model_mode == "max"
    if key.startswith(SUITE_PREFIX):
        return key, suite_greater[key[len(SUITE_PREFIX) :]]
    if key[len(VALIDATION_PREFIX) :] in loss_names:
        return key, False
    raise TrainrigError(
        f"trainer.best_mode auto cannot tell the direction of {key!r}; pass --trainer.best_mode min or max"
    )
