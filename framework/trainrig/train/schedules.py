"""Learning-rate schedules of a run (``trainer.lr_schedule``, ``lr_schedule_options``, warmup).

A schedule is a function of the optimizer's ``iterations`` (the number of optimizer steps taken, saved
with every checkpoint), so a resumed run continues it exactly. Keras' schedule classes do the math:

========================  =====================================================================
``constant``              ``learning_rate`` (a float: settable by ReduceLROnPlateau, freeze steps)
``cosine``                ``CosineDecay`` over ``decay_epochs`` (default: the whole run) to
                          ``alpha * learning_rate``; with ``restart_epochs``: ``CosineDecayRestarts``
                          (first period ``restart_epochs``, then ``t_mul`` times longer, ``m_mul``)
``exponential``           ``ExponentialDecay``: times ``lr_decay_rate`` every ``decay_epochs`` (1)
``step`` / ``piecewise``  ``PiecewiseConstantDecay``: ``values[i]`` from epoch ``boundaries[i-1]``
                          (epochs completed) on; or ``factor``: ``learning_rate * factor ** i``
``polynomial``            ``PolynomialDecay`` to ``end_learning_rate`` (0) over ``decay_epochs``
``linear``                ``PolynomialDecay`` with power 1: linear decay to ``end_learning_rate``
a keras class name        any ``keras.optimizers.schedules`` class (``InverseTimeDecay``,
                          ``inverse_time_decay``, ...) with its own arguments, in optimizer steps;
                          ``initial_learning_rate`` is ``trainer.learning_rate``
``module:Class``          your own ``LearningRateSchedule`` subclass, the same way
========================  =====================================================================

Durations in ``lr_schedule_options`` of the named schedules are in epochs (fractions allowed) and are
converted to optimizer steps with the run's steps per epoch. ``warmup_steps``/``warmup_epochs`` wrap any
of them in :class:`LinearWarmup`: from 0 at step 0 linearly up to the schedule's value at the warmup's
end, then the schedule itself (not shifted: a cosine still reaches its end at the end of the run).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import keras

from trainrig.errors import TrainrigError
from trainrig.imports import import_object
from trainrig.train.params import TrainerParams

Schedules = keras.optimizers.schedules

# name -> (allowed options, required options) of trainrig's named schedules
NAMED = {
    "constant": (set(), set()),
    "cosine": ({"alpha", "decay_epochs", "restart_epochs", "t_mul", "m_mul"}, set()),
    "exponential": ({"decay_epochs", "staircase"}, set()),
    "step": ({"boundaries", "values", "factor"}, {"boundaries"}),
    "piecewise": ({"boundaries", "values", "factor"}, {"boundaries"}),
    "polynomial": ({"decay_epochs", "end_learning_rate", "power", "cycle"}, set()),
    "linear": ({"decay_epochs", "end_learning_rate", "cycle"}, set()),
}


@keras.saving.register_keras_serializable(package="trainrig")
class LinearWarmup(Schedules.LearningRateSchedule):
    """Linear warmup in front of a schedule (or a constant rate).

    For ``step < warmup_steps`` the rate is ``schedule(warmup_steps) * step / warmup_steps`` (0 at step 0),
    from then on ``schedule(step)``: continuous at the warmup's end, and the wrapped schedule keeps its
    own timing. ``schedule`` is a ``LearningRateSchedule`` or a float; :meth:`get_config` serialises it.
    """

    def __init__(self, schedule, warmup_steps: int, name: str = "LinearWarmup"):
        super().__init__()
        if isinstance(schedule, dict):  # a serialised schedule (from_config)
            schedule = Schedules.deserialize(schedule)
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}")
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)
        self.name = name

    def _value(self, step):
        if isinstance(self.schedule, Schedules.LearningRateSchedule):
            return keras.ops.cast(self.schedule(step), "float32")
        return keras.ops.cast(self.schedule, "float32")

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        target = self._value(keras.ops.convert_to_tensor(warmup, "float32"))
        return keras.ops.where(step < warmup, target * (step / warmup), self._value(step))

    def get_config(self):
        schedule = self.schedule
        if isinstance(schedule, Schedules.LearningRateSchedule):
            schedule = Schedules.serialize(schedule)
        return {"schedule": schedule, "warmup_steps": self.warmup_steps, "name": self.name}


# --- names ---------------------------------------------------------------------------------------


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "")


def keras_schedule_classes() -> dict[str, type]:
    """``{class name: class}`` of every ``keras.optimizers.schedules`` schedule."""
    out = {}
    for name in dir(Schedules):
        cls = getattr(Schedules, name)
        if isinstance(cls, type) and issubclass(cls, Schedules.LearningRateSchedule) and cls is not Schedules.LearningRateSchedule:
            out[name] = cls
    return out


def valid_schedule_names() -> str:
    return ", ".join([*NAMED, *keras_schedule_classes()]) + " or module:Class"


def resolve_schedule(name: str) -> tuple[str, type | None]:
    """``(trainrig name, None)`` for a named schedule, ``(class name, class)`` for a keras or user class."""
    if ":" in name:
        cls = import_object(name, what="trainer.lr_schedule")
        if not (isinstance(cls, type) and issubclass(cls, Schedules.LearningRateSchedule)):
            raise TrainrigError(
                f"trainer.lr_schedule {name!r} must name a keras.optimizers.schedules.LearningRateSchedule subclass, got {cls!r}"
            )
        return name, cls
    key = _key(name)
    for named in NAMED:
        if key == named:
            return named, None
    for class_name, cls in keras_schedule_classes().items():
        if key == class_name.lower():
            return class_name, cls
    raise TrainrigError(f"unknown trainer.lr_schedule {name!r}; valid: {valid_schedule_names()}")


def _init_parameters(cls) -> tuple[list[str], list[str]]:
    """The keyword arguments of ``cls.__init__``: ``(all, required)`` (``self``, ``*args``, ``**kwargs`` left out)."""
    names, required = [], []
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        names.append(p.name)
        if p.default is p.empty:
            required.append(p.name)
    return names, required


# --- checks before anything runs (no TensorFlow runtime needed) ----------------------------------


def _number(options: dict, key: str, where: str, minimum: float | None = None, above: bool = False) -> float:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TrainrigError(f"{where} {key} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise TrainrigError(f"{where} {key} must be {'>' if above else '>='} {minimum}, got {value!r}")
    return float(value)


def _boolean(options: dict, key: str, where: str) -> bool:
    if not isinstance(options[key], bool):
        raise TrainrigError(f"{where} {key} must be true or false, got {options[key]!r}")
    return options[key]


def check_schedule(params: TrainerParams) -> None:
    """Everything about the schedule and warmup that can be checked without the steps per epoch."""
    name, cls = resolve_schedule(params.lr_schedule)
    options = dict(params.lr_schedule_options)
    where = f"trainer.lr_schedule_options of {name}:"
    if cls is None:
        allowed, required = NAMED[name]
        unknown = sorted(set(options) - allowed)
        if unknown:
            valid = ", ".join(sorted(allowed)) if allowed else "none"
            raise TrainrigError(f"unknown option {unknown[0]!r} in trainer.lr_schedule_options of {name}; its options: {valid}")
        missing = sorted(required - set(options))
        if missing:
            raise TrainrigError(f"{where} {missing[0]} is required ({_usage(name)})")
        _check_named(name, options, params, where)
    else:
        names, required = _init_parameters(cls)
        if "initial_learning_rate" in options:
            raise TrainrigError(f"{where} initial_learning_rate is trainer.learning_rate; set that instead")
        unknown = sorted(set(options) - set(names))
        if unknown:
            valid = ", ".join(n for n in names if n != "initial_learning_rate")
            raise TrainrigError(f"unknown option {unknown[0]!r} in trainer.lr_schedule_options of {name}; its options: {valid}")
        given = set(options) | ({"initial_learning_rate"} if "initial_learning_rate" in names else set())
        missing = [n for n in required if n not in given]
        if missing:
            raise TrainrigError(f"{where} {', '.join(missing)} required (keras' own arguments, in optimizer steps)")
    if params.warmup_steps and params.warmup_epochs:
        raise TrainrigError("set one of trainer.warmup_steps and trainer.warmup_epochs, not both")
    if params.warmup_epochs > params.epochs:
        raise TrainrigError(
            f"trainer.warmup_epochs {params.warmup_epochs:g} is longer than the run ({params.epochs} epochs)"
        )
    owned = "a warmup makes the learning rate a schedule, which owns it"
    if has_warmup(params) and params.reduce_lr.patience > 0:
        raise TrainrigError(f"trainer.reduce_lr cannot be combined with trainer.warmup_steps/warmup_epochs ({owned})")
    if has_warmup(params) and any("learning_rate" in step for step in params.freeze.schedule):
        raise TrainrigError(
            f"trainer.freeze.schedule learning_rate cannot be combined with trainer.warmup_steps/warmup_epochs ({owned})"
        )


def _usage(name: str) -> str:
    if name in ("step", "piecewise"):
        return '{"boundaries": [epochs], "values": [one more than boundaries]} or {"boundaries": [...], "factor": f}'
    return "see trainrig train --help"


def _check_named(name: str, options: dict, params: TrainerParams, where: str) -> None:
    for key in ("decay_epochs", "restart_epochs"):
        if key in options:
            _number(options, key, where, 0, above=True)
    for key in ("alpha", "end_learning_rate"):
        if key in options:
            _number(options, key, where, 0)
    for key in ("t_mul", "m_mul", "power"):
        if key in options:
            _number(options, key, where, 0, above=True)
    for key in ("staircase", "cycle"):
        if key in options:
            _boolean(options, key, where)
    if name == "cosine" and "restart_epochs" not in options:
        for key in ("t_mul", "m_mul"):
            if key in options:
                raise TrainrigError(f"{where} {key} needs restart_epochs (cosine with restarts)")
    if name == "cosine" and "restart_epochs" in options and "decay_epochs" in options:
        raise TrainrigError(f"{where} decay_epochs and restart_epochs exclude each other")
    if name in ("step", "piecewise"):
        _check_piecewise(options, params, where)


def _check_piecewise(options: dict, params: TrainerParams, where: str) -> None:
    boundaries = options["boundaries"]
    if not isinstance(boundaries, list) or not boundaries:
        raise TrainrigError(f"{where} boundaries must be a non-empty list of epochs, got {boundaries!r}")
    for i, b in enumerate(boundaries):
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b <= 0:
            raise TrainrigError(f"{where} boundaries must be epochs > 0, got {b!r}")
        if i and b <= boundaries[i - 1]:
            raise TrainrigError(f"{where} boundaries must increase, got {boundaries}")
        if b >= params.epochs:
            raise TrainrigError(
                f"{where} boundary {b:g} is not inside the run of {params.epochs} epochs (never reached)"
            )
    if ("values" in options) == ("factor" in options):
        raise TrainrigError(f"{where} give values (one more than boundaries) or factor, exactly one of them")
    if "factor" in options:
        _number(options, "factor", where, 0, above=True)
        return
    values = options["values"]
    if not isinstance(values, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise TrainrigError(f"{where} values must be a list of learning rates, got {values!r}")
    if len(values) != len(boundaries) + 1:
        raise TrainrigError(
            f"{where} values must be one longer than boundaries: {len(boundaries)} boundaries need "
            f"{len(boundaries) + 1} values, got {len(values)}"
        )
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise TrainrigError(f"{where} values must be finite learning rates >= 0, got {values}")


def has_warmup(params: TrainerParams) -> bool:
    return params.warmup_steps > 0 or params.warmup_epochs > 0


# --- the schedule of a run -------------------------------------------------------------------------


def epochs_to_steps(epochs: float, steps_per_epoch: int) -> int:
    """Optimizer steps in ``epochs`` epochs (fractions rounded to the nearest step)."""
    return int(round(epochs * steps_per_epoch))


def warmup_steps_of(params: TrainerParams, steps_per_epoch: int) -> int:
    """The warmup in optimizer steps (0 = none); a warmup longer than the run is an error."""
    if params.warmup_epochs > 0:
        steps = max(1, epochs_to_steps(params.warmup_epochs, steps_per_epoch))
        what = f"trainer.warmup_epochs {params.warmup_epochs:g} ({steps} steps)"
    else:
        steps, what = params.warmup_steps, f"trainer.warmup_steps {params.warmup_steps}"
    total = params.epochs * steps_per_epoch
    if steps > total:
        raise TrainrigError(
            f"{what} is longer than the run: {params.epochs} epochs x {steps_per_epoch} steps = {total} optimizer steps"
        )
    return steps


def _decay_steps(options: dict, key: str, default_epochs: float, steps_per_epoch: int) -> int:
    return max(1, epochs_to_steps(options.get(key, default_epochs), steps_per_epoch))


def _named_schedule(name: str, options: dict, params: TrainerParams, steps_per_epoch: int):
    lr = params.learning_rate
    if name == "constant":
        return lr
    if name == "cosine":
        if "restart_epochs" in options:
            return Schedules.CosineDecayRestarts(
                lr,
                first_decay_steps=_decay_steps(options, "restart_epochs", 1, steps_per_epoch),
                t_mul=float(options.get("t_mul", 2.0)),
                m_mul=float(options.get("m_mul", 1.0)),
                alpha=float(options.get("alpha", 0.0)),
            )
        return Schedules.CosineDecay(
            lr,
            decay_steps=_decay_steps(options, "decay_epochs", params.epochs, steps_per_epoch),
            alpha=float(options.get("alpha", 0.0)),
        )
    if name == "exponential":
        return Schedules.ExponentialDecay(
            lr,
            decay_steps=_decay_steps(options, "decay_epochs", 1, steps_per_epoch),
            decay_rate=params.lr_decay_rate,
            staircase=bool(options.get("staircase", False)),
        )
    if name in ("step", "piecewise"):
        boundaries = options["boundaries"]
        values = options.get("values") or [lr * options["factor"] ** i for i in range(len(boundaries) + 1)]
        # PiecewiseConstantDecay gives values[i + 1] for steps > boundary i: the new value starts with the
        # first step of epoch b (iterations == b * steps_per_epoch).
        steps = [epochs_to_steps(b, steps_per_epoch) - 1 for b in boundaries]
        if steps[0] < 0 or any(b <= a for a, b in zip(steps, steps[1:])):
            raise TrainrigError(
                f"trainer.lr_schedule_options of {name}: boundaries {boundaries} are closer than one of the "
                f"{steps_per_epoch} steps of an epoch"
            )
        return Schedules.PiecewiseConstantDecay(steps, [float(v) for v in values])
    # polynomial, linear
    return Schedules.PolynomialDecay(
        lr,
        decay_steps=_decay_steps(options, "decay_epochs", params.epochs, steps_per_epoch),
        end_learning_rate=float(options.get("end_learning_rate", 0.0)),
        power=1.0 if name == "linear" else float(options.get("power", 1.0)),
        cycle=bool(options.get("cycle", False)),
    )


def _class_schedule(name: str, cls: type, options: dict, params: TrainerParams):
    names, _ = _init_parameters(cls)
    kwargs = dict(options)
    if "initial_learning_rate" in names:
        kwargs["initial_learning_rate"] = params.learning_rate
    try:
        return cls(**kwargs)
    except Exception as e:  # keras' (or the user's) own check of its arguments
        raise TrainrigError(f"trainer.lr_schedule {name} with options {options}: {_one_line(e)}") from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def learning_rate_schedule(params: TrainerParams, steps_per_epoch: int):
    """A float, or a keras schedule over optimizer steps (its position is the optimizer's ``iterations``).

    ``steps_per_epoch`` counts optimizer steps. Bad options are one-line :class:`TrainrigError`\\ s.
    """
    check_schedule(params)
    name, cls = resolve_schedule(params.lr_schedule)
    options = dict(params.lr_schedule_options)
    if cls is None:
        schedule = _named_schedule(name, options, params, steps_per_epoch)
    else:
        schedule = _class_schedule(name, cls, options, params)
    warmup = warmup_steps_of(params, steps_per_epoch) if has_warmup(params) else 0
    if warmup:
        schedule = LinearWarmup(schedule, warmup)
    if not isinstance(schedule, (int, float)):
        _try(schedule, name, [0, params.epochs * steps_per_epoch])
    return schedule


def _try(schedule, name: str, steps: list[int]) -> None:
    """Evaluate the schedule once at a few steps, so bad argument values fail now, as one line."""
    for step in steps:
        try:
            value = float(keras.ops.convert_to_numpy(schedule(step)))
        except Exception as e:
            raise TrainrigError(f"trainer.lr_schedule {name} fails at optimizer step {step}: {_one_line(e)}") from None
        if not math.isfinite(value):
            raise TrainrigError(f"trainer.lr_schedule {name} gives {value} at optimizer step {step}")


def rate_at(schedule, step: int) -> float:
    """The learning rate of ``schedule`` (a float or a keras schedule) at optimizer step ``step``."""
    if isinstance(schedule, (int, float)):
        return float(schedule)
    return float(keras.ops.convert_to_numpy(schedule(step)))


def epoch_boundary_rates(params: TrainerParams, steps_per_epoch: int) -> list[dict[str, Any]]:
    """``[{"epoch": e, "step": e * steps_per_epoch, "learning_rate": lr}]`` for e = 0 .. epochs: the rate at
    the start of the run and after every epoch (what ``logs["learning_rate"]`` holds at that epoch's end)."""
    schedule = learning_rate_schedule(params, steps_per_epoch)
    rows = []
    for epoch in range(params.epochs + 1):
        step = epoch * steps_per_epoch
        rows.append({"epoch": epoch, "step": step, "learning_rate": rate_at(schedule, step)})
    return rows

