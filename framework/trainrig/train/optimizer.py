"""The optimizer of a run: ``trainer.optimizer``, ``optimizer_options``, ``weight_decay`` and clipping.

``trainer.optimizer`` names any ``keras.optimizers`` class (``adam``, ``AdamW``, ``lion``,
``schedule_free_adamw``: case and underscores do not matter) or a ``module:Class`` of the user's own
``keras.optimizers.Optimizer`` subclass; ``optimizer_options`` are its other keyword arguments. The
learning rate (``trainer.learning_rate`` and its schedule, :mod:`trainrig.train.schedules`), weight
decay and clipping are trainer fields of their own. Everything is checked by :func:`check_optimization`
before anything runs (no TensorFlow runtime needed), each mistake one line.

Clipping under several replicas: Keras clips the gradients a replica hands to ``optimizer.apply``
before they are summed over replicas, i.e. each replica's share. With more than one replica the
optimizer is built from a subclass (:class:`ClipSummedGradients`) that clips the sum instead, as one
device clips the whole batch's gradient.
"""

from __future__ import annotations

import inspect
import re

import keras
import tensorflow as tf

from trainrig.errors import TrainrigError
from trainrig.imports import import_object
from trainrig.train.params import TrainerParams
from trainrig.train.schedules import check_schedule, has_warmup, learning_rate_schedule

CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")
# optimizer keyword arguments that are trainer fields (or another part's business), not optimizer_options
RESERVED = {
    "learning_rate": "set trainer.learning_rate (and trainer.lr_schedule) instead",
    "weight_decay": "set trainer.weight_decay instead",
    "clipnorm": "set trainer.clipnorm instead",
    "clipvalue": "set trainer.clipvalue instead",
    "global_clipnorm": "set trainer.global_clipnorm instead",
    "gradient_accumulation_steps": "gradient accumulation belongs to the trainer's step (trainer.accumulate)",
}
NOT_CHOOSABLE = ("Optimizer", "LossScaleOptimizer", "MultiOptimizer")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", name).lower()


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "")


def keras_optimizer_classes() -> dict[str, type]:
    """``{snake_case name: class}`` of every optimizer in ``keras.optimizers`` a run can use."""
    out = {}
    for name in sorted(dir(keras.optimizers)):
        cls = getattr(keras.optimizers, name)
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer) and name not in NOT_CHOOSABLE:
            out[_snake(name)] = cls
    return dict(sorted(out.items()))


def resolve_optimizer(name: str) -> type:
    """The optimizer class ``trainer.optimizer`` names; an unknown name is one line listing the valid ones."""
    if ":" in name:
        cls = import_object(name, what="trainer.optimizer")
        if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)):
            raise TrainrigError(f"trainer.optimizer {name!r} must name a keras.optimizers.Optimizer subclass, got {cls!r}")
        return cls
    classes = keras_optimizer_classes()
    for snake, cls in classes.items():
        if _key(name) == _key(snake):
            return cls
    raise TrainrigError(
        f"unknown trainer.optimizer {name!r}; valid: {', '.join(classes)} (any case, or the class name) or module:Class"
    )


def accepted_arguments(cls: type) -> list[str]:
    """The keyword arguments ``cls(...)`` accepts: its ``__init__``'s, and those of the classes its
    ``**kwargs`` are handed on to (keras' base optimizer takes learning_rate, weight_decay, clipping, ...)."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            parameters = list(inspect.signature(init).parameters.values())[1:]
        except (TypeError, ValueError):
            break
        names += [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names]
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return names


def optimizer_options_of(cls: type) -> list[str]:
    """What ``trainer.optimizer_options`` may hold for ``cls``."""
    return [name for name in accepted_arguments(cls) if name not in RESERVED]


def check_optimizer(params: TrainerParams) -> type:
    """Check ``optimizer``, ``optimizer_options``, ``weight_decay`` and clipping; return the optimizer class."""
    cls = resolve_optimizer(params.optimizer)
    accepted = accepted_arguments(cls)
    label = cls.__name__
    for option in params.optimizer_options:
        if option in RESERVED:
            raise TrainrigError(f"trainer.optimizer_options {option!r} is not an optimizer option here: {RESERVED[option]}")
        if option not in accepted:
            raise TrainrigError(
                f"unknown option {option!r} in trainer.optimizer_options for optimizer {label}; "
                f"its options: {', '.join(optimizer_options_of(cls)) or 'none'}"
            )
    if params.weight_decay is not None and "weight_decay" not in accepted:
        raise TrainrigError(f"trainer.weight_decay: optimizer {label} has no weight decay (leave trainer.weight_decay null)")
    clipping = [name for name in CLIPPING if getattr(params, name) is not None]
    if len(clipping) > 1:
        raise TrainrigError(
            f"trainer.{clipping[0]} and trainer.{clipping[1]} cannot be combined: set at most one of "
            "clipnorm, clipvalue and global_clipnorm (as in keras)"
        )
    for name in clipping:
        if name not in accepted:
            raise TrainrigError(f"trainer.{name}: optimizer {label} takes no {name}")
    if has_warmup(params) and issubclass(cls, keras.optimizers.Ftrl):
        raise TrainrigError(
            f"optimizer {label} divides by the learning rate, which a warmup (trainer.warmup_steps/warmup_epochs) "
            "starts at 0: use no warmup with it"
        )
    return cls


def check_optimization(params: TrainerParams) -> None:
    """The optimizer and learning-rate checks of :func:`trainrig.train.setup.check_params` (one line each)."""
    check_optimizer(params)
    check_schedule(params)


class ClipSummedGradients:
    """Mixin for a keras optimizer: clip the gradients summed over replicas, not each replica's share.

    Keras' ``apply`` clips before its all-reduce. Here the shares are summed first (an all-reduce), the
    sum is clipped, and every replica hands on ``clipped / replicas``, so the optimizer's own all-reduce
    sums to the clipped total (exactly for 2, 4, 8 ... replicas; up to rounding otherwise).
    """

    def _clip_gradients(self, grads):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1 or not any(getattr(self, name) for name in CLIPPING):
            return super()._clip_gradients(grads)
        present = [i for i, g in enumerate(grads) if g is not None]
        dense = [tf.convert_to_tensor(grads[i]) for i in present]
        summed = context.all_reduce(tf.distribute.ReduceOp.SUM, dense)
        clipped = super()._clip_gradients(list(summed))
        out = list(grads)
        for i, value in zip(present, clipped):
            out[i] = value / tf.cast(replicas, value.dtype)
        return out


def _replica_safe(cls: type) -> type:
    return type(cls.__name__, (ClipSummedGradients, cls), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})


def optimizer_arguments(params: TrainerParams) -> dict:
    """The keyword arguments of the optimizer besides its learning rate."""
    kwargs = dict(params.optimizer_options)
    if params.weight_decay is not None:
        kwargs["weight_decay"] = params.weight_decay
    for name in CLIPPING:
        if getattr(params, name) is not None:
            kwargs[name] = getattr(params, name)
    return kwargs


def make_optimizer(params: TrainerParams, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The run's optimizer (call inside the strategy's scope); ``steps_per_epoch`` counts optimizer steps."""
    cls = check_optimizer(params)
    schedule = learning_rate_schedule(params, steps_per_epoch)
    kwargs = optimizer_arguments(params)
    if any(name in kwargs for name in CLIPPING) and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        cls = _replica_safe(cls)
    try:
        return cls(learning_rate=schedule, **kwargs)
    except Exception as e:  # keras' (or the user's) own check of the arguments
        message = " ".join(str(e).split()) or type(e).__name__
        raise TrainrigError(
            f"trainer.optimizer {params.optimizer} with options {kwargs}: {message}"
        ) from None
