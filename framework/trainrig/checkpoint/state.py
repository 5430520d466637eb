"""What a checkpoint holds, gathered from a running run and put back into a freshly set-up one.

Arrays (``arrays.npz``): every variable of the keras model (weights, non-trainable state and the
``SeedGenerator`` states of dropout and other random layers), every optimizer variable (iterations,
learning rate, slots), the training metric trackers (so a mid-epoch resume continues the running
averages; on several replicas also each replica's part of them, ``<group>/<i>@replicas``), variables of export graphs that are not the model's (a plugin's averaged copy, say),
Keras' global seed generator and numpy's global RNG.

JSON (``state.json``): the position (completed epochs, step inside the epoch, global step), Python's
RNG, the training sequence's state (its ``get_state()`` or the number of epochs to replay with
``on_epoch_end()``), and the ``get_state()`` of every callback under its :func:`state_key`. A
callback state may hold numpy arrays anywhere (in dicts and lists): they are stored in
``arrays.npz`` and handed back to ``set_state`` as arrays.

What to capture is handed in as a :class:`Resumable`; this module knows nothing of the trainer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import keras
import tensorflow as tf
import numpy as np

from trainrig.errors import TrainrigError, warn

FORMAT = 1
REPLICA_PARTS = "@replicas"  # suffix of the per-replica parts of a sync-on-read variable (see Resumable)


@dataclass
class Position:
    epoch: int  # completed epochs
    step: int  # steps done inside epoch ``epoch`` (0 at an epoch boundary)
    global_step: int
    finished: bool = False

    @classmethod
    def start(cls) -> "Position":
        """Before the first step of a run."""
        return cls(epoch=0, step=0, global_step=0)


class Source(Protocol):
    """The training sequence as the loop reads it (``trainrig.data.pipeline.BatchSource``)."""

    sequence: Any

    def epoch_end(self) -> None: ...


@dataclass
class Resumable:
    """The parts of a run a checkpoint captures and restores.

    ``variables``: groups of variables in a stable order (model, optimizer, training metrics, extra
    variables of export graphs); ``source``: the training sequence; ``callbacks``: every callback of
    the run (those with ``get_state``/``set_state`` are saved).
    """

    variables: dict[str, list]
    source: Source
    callbacks: Sequence[Any]
    replica_parts: dict[str, Any] = field(default_factory=dict)
    """``{group: parts}`` for groups of sync-on-read variables on several replicas: ``parts.read()`` gives
    each variable's per-replica parts (leading axis: ``parts.replicas``), ``parts.assign(arrays)`` puts
    them back (:class:`trainrig.train.distribution.ReplicaParts`)."""
    _read: Any = field(default=None, init=False, repr=False)

    def read_variables(self) -> dict[str, list[np.ndarray]]:
        """Every variable's value, read in one compiled call (one eager read per variable costs the
        loop ~0.1-1 ms each: hundreds per checkpoint with optimizer slots and metrics)."""
        if self._read is None:
            groups = {group: list(variables) for group, variables in self.variables.items()}
            self._read = tf.function(lambda: {g: [tf.identity(keras.ops.convert_to_tensor(v)) for v in vs] for g, vs in groups.items()})
        values = self._read()
        return {group: [t.numpy() for t in values[group]] for group in self.variables}


def state_key(callback) -> str:
    """The key a callback's state is saved under: its ``state_key`` attribute, else its class path."""
    key = getattr(callback, "state_key", None)
    if isinstance(key, str) and key:
        return key
    return f"{type(callback).__module__}.{type(callback).__qualname__}"


def stateful_callbacks(callbacks: Sequence[Any]) -> dict[str, Any]:
    """``{state key: callback}`` of the callbacks that define ``get_state`` and ``set_state``.

    A key that two callbacks share gets ``#2``, ``#3``... on the later ones, in callback order; give
    such callbacks distinct ``state_key`` values to make their states independent of that order.
    """
    keyed: dict[str, Any] = {}
    for callback in callbacks:
        if not (callable(getattr(callback, "get_state", None)) and callable(getattr(callback, "set_state", None))):
            continue
        base = key = state_key(callback)
        count = 1
        while key in keyed:
            count += 1
            key = f"{base}#{count}"
        keyed[key] = callback
    return keyed


def _global_seed_state():
    try:
        from keras.src.random.seed_generator import global_seed_generator
    except ImportError:  # pragma: no cover - keras internals moved
        return None
    return global_seed_generator().state


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


def _sequence_state(source: Source, position: Position) -> dict:
    sequence = source.sequence
    if callable(getattr(sequence, "get_state", None)):
        return {"state": sequence.get_state()}
    return {"replay_epochs": position.epoch}


def capture(run: Resumable, position: Position) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and JSON state of ``run`` at ``position``."""
    arrays: dict[str, np.ndarray] = {}
    layout: dict[str, list[str]] = {}
    values = run.read_variables()
    for group, variables in run.variables.items():
        layout[group] = [v.path for v in variables]
        for i, value in enumerate(values[group]):
            arrays[f"{group}/{i}"] = value
    for group, parts in run.replica_parts.items():
        for i, value in enumerate(parts.read()):
            arrays[f"{group}/{i}{REPLICA_PARTS}"] = value
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
        "sequence": _sequence_state(run.source, position),
        "callbacks": {
            key: _split_arrays(callback.get_state(), f"callbacks/{key}", arrays)
            for key, callback in stateful_callbacks(run.callbacks).items()
        },
    }
    return arrays, state


def restore(run: Resumable, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> Position:
    """Put a captured state back into a freshly set-up ``run``; return where to continue."""
    if state.get("format") != FORMAT:
        raise TrainrigError(f"checkpoint format {state.get('format')!r} is not supported (expected {FORMAT})")
    for group, variables in run.variables.items():
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
        _restore_replica_parts(run, group, arrays)
    seed_state = _global_seed_state()
    if seed_state is not None and "rng/keras_global" in arrays:
        seed_state.assign(arrays["rng/keras_global"])
    rng = state["rng"]
    n = rng["numpy"]
    np.random.set_state((n["kind"], arrays["rng/numpy_keys"], n["pos"], n["has_gauss"], n["cached"]))
    p = rng["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    _restore_sequence(run.source, state["sequence"])
    _restore_callbacks(run.callbacks, dict(state["callbacks"]), arrays)
    return Position(**state["position"])


def _restore_replica_parts(run: Resumable, group: str, arrays: dict[str, np.ndarray]) -> None:
    """Each replica's own part of ``group`` when the checkpoint has them for as many replicas (else the
    totals just assigned stand: a checkpoint of another replica count, or of one replica)."""
    parts = run.replica_parts.get(group)
    if parts is None:
        return
    saved = [arrays.get(f"{group}/{i}{REPLICA_PARTS}") for i in range(len(run.variables[group]))]
    if saved and all(a is not None and a.shape[:1] == (parts.replicas,) for a in saved):
        parts.assign(saved)


def _restore_callbacks(callbacks: Sequence[Any], saved: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Hand every callback its saved state; a saved state no callback takes is reported in one line."""
    for key, callback in stateful_callbacks(callbacks).items():
        # "#1" ended every key in checkpoints written before state keys existed (trainrig 0.1.0)
        for saved_key in (key, f"{key}#1"):
            if saved_key in saved:
                callback.set_state(_join_arrays(saved.pop(saved_key), arrays))
                break
    for key in saved:
        warn(f"the checkpoint holds the state of callback {key!r}, which this run does not have; that state is not restored")


def _restore_sequence(source: Source, saved: dict) -> None:
    sequence = source.sequence
    if "state" in saved:
        if not callable(getattr(sequence, "set_state", None)):
            raise TrainrigError("the checkpoint holds a training-sequence state but the sequence has no set_state()")
        sequence.set_state(saved["state"])
        return
    for _ in range(saved.get("replay_epochs", 0)):
        source.epoch_end()
