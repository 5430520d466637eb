"""The model's pure-Python evaluator (``ModelBase._evaluator``): when it runs and what it logs.

``model._evaluator()`` returns ``None`` (no evaluator: validation gathers nothing for it) or an object
with ``update_state(sample)`` and ``result() -> {name: number}``. It is called

- once at set-up (:func:`model_evaluator`, then :func:`probe_names`): that evaluator is fed the first
  validation batch and its ``result()`` is checked, so a bad evaluator fails before the first step,
  and its names can be the best-model metric (``_best_logging_settings``, ``trainer.best_metric``);
- once per validation (every epoch's, and ``trainrig lav``'s): a fresh evaluator
  (:class:`EvaluatorPass`) gets every validation row as a :class:`~trainrig.model.definitions.Sample`
  of numpy values without the batch axis (inputs, targets and the model's outputs, in inference
  mode), all batches and all replicas' shares (gathered by :class:`~trainrig.train.steps.Steps`).

Each ``result()`` name ``<name>`` is logged as ``val_<name>`` in the validation's logs
(:attr:`~trainrig.context.ValidationResult.logs`), beside the losses and metrics: the epoch-end
``logs``, the history, ``metrics.jsonl``, TensorBoard's validation run and ``trainrig lav`` have it.
A name may not be a validation loss or metric's, nor one of trainrig's own (:mod:`trainrig.log_keys`).

Without an evaluator none of this runs and validation gathers nothing more than before. With one,
validation runs one step per call (:mod:`trainrig.train.executions`); this process's replicas'
shares are joined in numpy (any dtype, strings too), while a multi-worker run gathers them with a
collective, which takes numbers and booleans only (:func:`trainrig.train.steps.check_gatherable`).
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import numpy as np

from trainrig.errors import TrainrigError, one_of
from trainrig.log_keys import RESERVED_NAMES, RESERVED_PREFIXES, VALIDATION_PREFIX
from trainrig.model.definitions import Sample
from trainrig.user_code import calling

HOOK = "_evaluator"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def model_evaluator(model) -> Any:
    """A fresh evaluator from ``model._evaluator()``, or ``None``; a one-line error if it is neither."""
    with calling(model, HOOK):
        evaluator = model._evaluator()
    if evaluator is None:
        return None
    missing = [m for m in ("update_state", "result") if not callable(getattr(evaluator, m, None))]
    if missing:
        raise TrainrigError(
            f"{type(model).__name__}._evaluator must return None or an object with update_state(sample) and "
            f"result() methods; got {type(evaluator).__name__} without {' and '.join(missing)}()"
        )
    return evaluator


def _rows(inputs: dict, targets: dict) -> int:
    first = next(iter({**targets, **inputs}.values()), None)
    return 0 if first is None else len(first)


def feed(evaluator: Any, inputs: dict, targets: dict, outputs: dict) -> None:
    """Hand every row of one batch (dicts of numpy arrays ``[rows, ...]``) to ``evaluator.update_state``."""
    for i in range(_rows(inputs, targets)):
        sample = Sample(
            inputs={k: v[i] for k, v in inputs.items()},
            outputs={k: v[i] for k, v in outputs.items()},
            targets={k: v[i] for k, v in targets.items()},
        )
        with calling(evaluator, "update_state"):
            evaluator.update_state(sample)


def checked_result(evaluator: Any, taken: Iterable[str]) -> dict[str, float]:
    """``evaluator.result()`` as ``{name: float}``, checked: a dict of numbers whose names are free.

    ``taken`` are the validation losses and metrics (their names without ``val_``).
    """
    with calling(evaluator, "result"):
        result = evaluator.result()
    what = f"{type(evaluator).__name__}.result()"
    if not isinstance(result, dict):
        raise TrainrigError(
            f"{what} must return a dict {{name: number}}, got {type(result).__name__} {_short(result)}"
        )
    taken = list(taken)
    values = {}
    for name, value in result.items():
        if not isinstance(name, str) or not name:
            raise TrainrigError(f"{what} must return a dict {{name: number}} with non-empty str names, got the name {_short(name)}")
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TrainrigError(
                f"{what} must return a dict {{name: number}} (int, float or a numpy scalar), got "
                f"{type(value).__name__} {_short(value)} for {name!r}"
            )
        if name in taken:
            raise TrainrigError(
                f"{what} returned {name!r}, which clashes with the validation loss or metric {VALIDATION_PREFIX + name!r}; "
                f"an evaluator's names must differ from {one_of(taken)}"
            )
        if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
            raise TrainrigError(
                f"{what} returned {name!r}, which collides with trainrig's own log keys; names must not be "
                f"{one_of(RESERVED_NAMES)} nor start with {one_of(RESERVED_PREFIXES)}"
            )
        values[name] = float(value)
    return values


def probe_names(model, evaluator: Any, batch: tuple[dict, dict], predict, taken: Iterable[str]) -> list[str]:
    """Feed ``evaluator`` (the set-up's) one validation ``batch`` with its outputs from ``predict`` and
    return the names of its checked result."""
    inputs, targets = batch
    outputs = {k: np.asarray(v) for k, v in predict(inputs).items()}
    feed(evaluator, inputs, targets, outputs)
    return list(checked_result(evaluator, taken))


class EvaluatorPass:
    """One validation's evaluator: :meth:`update` with each gathered batch, then :meth:`logs`."""

    def __init__(self, evaluator: Any):
        self.evaluator = evaluator

    @classmethod
    def start(cls, model) -> "EvaluatorPass | None":
        """A pass with a fresh evaluator from the model, or ``None`` when it has none."""
        evaluator = model_evaluator(model)
        return None if evaluator is None else cls(evaluator)

    def update(self, inputs: dict, targets: dict, outputs: dict) -> None:
        feed(self.evaluator, inputs, targets, outputs)

    def logs(self, taken: Iterable[str]) -> dict[str, float]:
        """``{"val_<name>": value}`` of the evaluator's result (``taken``: the validation loss and metric names)."""
        return {VALIDATION_PREFIX + name: value for name, value in checked_result(self.evaluator, taken).items()}
