"""What a checkpoint holds, gathered from a running trainer and put back into a fresh one.

Arrays (``arrays.npz``): every variable of the keras model (weights, non-trainable state and the
``SeedGenerator`` states of dropout and other random layers), every optimizer variable (iterations,
learning rate, slots), the training metric trackers (so a mid-epoch resume continues the running
averages), variables of export graphs that are not the model's (a plugin's averaged copy, say),
Keras' global seed generator and numpy's global RNG.

JSON (``state.json``): the position (completed epochs, step inside the epoch, global step), Python's
RNG, the training sequence's state (its ``get_state()`` or the number of epochs to replay with
``on_epoch_end()``), and the ``get_state()`` of every callback, keyed by class and occurrence. A
callback state may hold numpy arrays anywhere (in dicts and lists): they are stored in
``arrays.npz`` and handed back to ``set_state`` as arrays.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from trainrig.errors import TrainrigError

FORMAT = 1


@dataclass
class Position:
    epoch: int  # completed epochs
    step: int  # steps done inside epoch ``epoch`` (0 at an epoch boundary)
    global_step: int
    finished: bool = False


def callback_key(callback, seen: dict[str, int]) -> str:
    """A stable key for a callback: its class path and its occurrence among callbacks of that class."""
    name = f"{type(callback).__module__}.{type(callback).__qualname__}"
    seen[name] = seen.get(name, 0) + 1
    return f"{name}#{seen[name]}"


def _variable_groups(trainer) -> dict[str, list]:
    model_variables = list(trainer.keras_model.variables)
    known = {id(v) for v in model_variables}
    extra = []
    for graph in trainer.exporter.graphs.values():
        for v in graph.variables:
            if id(v) not in known:
                known.add(id(v))
                extra.append(v)
    metric_variables = [v for m in trainer.train_metrics.all_metrics() for v in m.variables]
    return {
        "model": model_variables,
        "optimizer": list(trainer.optimizer.variables),
        "metrics": metric_variables,
        "extra": extra,
    }


def _global_seed_state():
    try:
        from keras.src.random.seed_generator import global_seed_generator
    except ImportError:  # pragma: no cover - keras internals moved
        return None
    return global_seed_generator().state


def _callbacks_with_state(trainer):
    seen: dict[str, int] = {}
    for callback in trainer.callbacks.callbacks:
        key = callback_key(callback, seen)
        if callable(getattr(callback, "get_state", None)) and callable(getattr(callback, "set_state", None)):
            yield key, callback


_ARRAY_REF = "__trainrig_array__"


def _split_arrays(value, prefix: str, arrays: dict[str, np.ndarray]):
    """A JSON-ready copy of a callback state whose numpy arrays are moved into ``arrays``."""
    if isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype") and not np.isscalar(value)):
        name = f"{prefix}#{len(arrays)}"
        arrays[name] = np.asarray(value)
        return {_ARRAY_REF: name}
    if isinstance(value, dict):
        return {k: _split_arrays(v, prefix, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split_arrays(v, prefix, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join_arrays(value, arrays: dict[str, np.ndarray]):
    if isinstance(value, dict):
        if set(value) == {_ARRAY_REF}:
            return arrays[value[_ARRAY_REF]]
        return {k: _join_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_arrays(v, arrays) for v in value]
    return value


def _sequence_state(trainer, position: Position) -> dict:
    sequence = trainer.train_source.sequence
    if callable(getattr(sequence, "get_state", None)):
        return {"state": sequence.get_state()}
    return {"replay_epochs": position.epoch}


def capture(trainer, position: Position) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and JSON state of ``trainer`` at ``position``."""
    arrays: dict[str, np.ndarray] = {}
    layout: dict[str, list[str]] = {}
    for group, variables in _variable_groups(trainer).items():
        layout[group] = [v.path for v in variables]
        for i, v in enumerate(variables):
            arrays[f"{group}/{i}"] = keras.ops.convert_to_numpy(v)
    seed_state = _global_seed_state()
    if seed_state is not None:
        arrays["rng/keras_global"] = keras.ops.convert_to_numpy(seed_state)
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    arrays["rng/numpy_keys"] = keys
    version, internal, gauss = random.getstate()
    state = {
        "format": FORMAT,
        "position": position.__dict__,
        "layout": layout,
        "rng": {
            "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": {"version": version, "internal": list(internal), "gauss": gauss},
        },
        "sequence": _sequence_state(trainer, position),
        "callbacks": {
            key: _split_arrays(callback.get_state(), f"callbacks/{key}", arrays)
            for key, callback in _callbacks_with_state(trainer)
        },
    }
    return arrays, state


def restore(trainer, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> Position:
    """Put a captured state back into a freshly prepared ``trainer``; return where to continue."""
    if state.get("format") != FORMAT:
        raise TrainrigError(f"checkpoint format {state.get('format')!r} is not supported (expected {FORMAT})")
    for group, variables in _variable_groups(trainer).items():
        saved = state["layout"].get(group, [])
        if len(saved) != len(variables):
            raise TrainrigError(
                f"the checkpoint's {group} has {len(saved)} variables but the rebuilt run has {len(variables)}; "
                "was the model, a plugin or a params value changed since?"
            )
        for i, v in enumerate(variables):
            value = arrays[f"{group}/{i}"]
            if tuple(value.shape) != tuple(v.shape):
                raise TrainrigError(f"checkpoint variable {saved[i]} has shape {value.shape}, the run's {v.path} has {v.shape}")
            v.assign(value)
    seed_state = _global_seed_state()
    if seed_state is not None and "rng/keras_global" in arrays:
        seed_state.assign(arrays["rng/keras_global"])
    rng = state["rng"]
    n = rng["numpy"]
    np.random.set_state((n["kind"], arrays["rng/numpy_keys"], n["pos"], n["has_gauss"], n["cached"]))
    p = rng["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    _restore_sequence(trainer, state["sequence"])
    saved_callbacks = dict(state["callbacks"])
    for key, callback in _callbacks_with_state(trainer):
        if key in saved_callbacks:
            callback.set_state(_join_arrays(saved_callbacks.pop(key), arrays))
    for key in saved_callbacks:
        warnings.warn(f"checkpoint holds state of callback {key}, which this run does not have; ignored", stacklevel=2)
    return Position(**state["position"])


def _restore_sequence(trainer, saved: dict) -> None:
    sequence = trainer.train_source.sequence
    if "state" in saved:
        if not callable(getattr(sequence, "set_state", None)):
            raise TrainrigError("the checkpoint holds a training-sequence state but the sequence has no set_state()")
        sequence.set_state(saved["state"])
        return
    for _ in range(saved.get("replay_epochs", 0)):
        trainer.train_source.epoch_end()
