"""The advanced training mode: the model chooses the sequences and changes the fit before training.

Two overridable steps of :class:`~trainrig.ModelBase` (plugins reach the same points through the
``trainrig_train_sequence`` / ``trainrig_val_sequence`` and ``trainrig_register_callbacks`` hooks):

- ``_build_sequences(build_train_sequence_with_batch_size, build_validation_sequence_with_batch_size,
  batch_size)`` returns ``(train, validation)``; :func:`built_sequences` calls it;
- ``_fit_model(trainer, fit)`` receives the run context and a :class:`FitArguments` to change
  (callbacks to add, epochs, steps per epoch) before the first step; :func:`checked_fit` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import attrs
import keras

from trainrig.errors import TrainrigError
from trainrig.user_code import calling


@dataclass(eq=False)
class FitArguments:
    """What ``ModelBase._fit_model`` may change before training starts.

    - ``train_sequence``, ``validation_sequence``: the sequences the run reads (read them, e.g. to
      size a callback; replace them in ``_build_sequences``, not here);
    - ``base_callbacks``: the base callbacks and the plugins' callbacks, in order (a tuple: they
      always run first);
    - ``callbacks``: callbacks to add; they run after the base callbacks, the plugins' and the
      ``Trainer``'s ``callbacks`` argument, so their ``logs`` hold every metric (``val_*``,
      ``Test <name>``, ``learning_rate``);
    - ``epochs`` and ``steps_per_epoch`` (0 = the whole training sequence): as
      ``--trainer.epochs`` / ``--trainer.steps_per_epoch`` would set them (schedules follow).
    """

    train_sequence: Any
    validation_sequence: Any
    base_callbacks: tuple[keras.callbacks.Callback, ...]
    epochs: int
    steps_per_epoch: int
    callbacks: list[keras.callbacks.Callback] = field(default_factory=list)


def built_sequences(model, build_train: Callable[[int], Any], build_validation: Callable[[int], Any], batch_size: int):
    """``(train, validation)`` as the model's ``_build_sequences`` returns them (checked)."""
    with calling(model, "_build_sequences"):
        result = model._build_sequences(build_train, build_validation, batch_size)
    if not (isinstance(result, (tuple, list)) and len(result) == 2 and all(s is not None for s in result)):
        raise TrainrigError(
            f"{type(model).__name__}._build_sequences must return (train_sequence, validation_sequence), "
            f"got {type(result).__name__}"
        )
    return tuple(result)


def checked_fit(model, trainer, fit: FitArguments, params):
    """Call ``model._fit_model(trainer, fit)``; return the trainer params with its epochs and steps."""
    with calling(model, "_fit_model"):
        returned = model._fit_model(trainer, fit)
    if returned is not None and returned is not fit:
        raise TrainrigError(f"{type(model).__name__}._fit_model must change the FitArguments it gets and return None")
    bad = [c for c in fit.callbacks if not isinstance(c, keras.callbacks.Callback)]
    if not isinstance(fit.callbacks, list) or bad:
        raise TrainrigError(
            f"{type(model).__name__}._fit_model: fit.callbacks must be a list of keras.callbacks.Callback, "
            f"got {type(bad[0] if bad else fit.callbacks).__name__}"
        )
    for name in ("epochs", "steps_per_epoch"):
        value = getattr(fit, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name == "epochs" else 0):
            lowest = 1 if name == "epochs" else 0
            raise TrainrigError(f"{type(model).__name__}._fit_model set fit.{name} to {value!r}; it must be an integer >= {lowest}")
    if (fit.epochs, fit.steps_per_epoch) == (params.epochs, params.steps_per_epoch):
        return params
    return attrs.evolve(params, epochs=fit.epochs, steps_per_epoch=fit.steps_per_epoch)
