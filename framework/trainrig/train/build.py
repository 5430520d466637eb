"""Build the functional ``keras.Model`` of a run from the user's graph and the data's batch signature."""

from __future__ import annotations

import re
from dataclasses import dataclass

import keras
import tensorflow as tf

from trainrig.errors import TrainrigError
from trainrig.model.base import ModelBase
from trainrig.user_code import calling


@dataclass
class BuiltModel:
    """The run's keras model and the symbolic tensors export graphs are built from."""

    keras_model: keras.Model
    inputs: dict
    outputs: dict
    targets: dict


def _symbolic(specs: dict[str, tf.TensorSpec]) -> dict:
    return {name: keras.Input(shape=spec.shape[1:], dtype=spec.dtype.name, name=name) for name, spec in specs.items()}


def _scope_name(name: str) -> str:
    """A valid TensorFlow root name scope: starts with a letter or digit, then [A-Za-z0-9_.-]."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip("_.-")
    return cleaned or "model"


def build_model(model: ModelBase, signature: tuple[dict, dict]) -> BuiltModel:
    """Call ``model.create_graph`` on symbolic inputs shaped like the data's batches."""
    input_specs, target_specs = signature
    inputs = _symbolic(input_specs)
    targets = _symbolic(target_specs)
    with calling(model, "create_graph"):
        graph = model.create_graph(model.params)
    if not callable(graph):
        raise TrainrigError(
            f"{type(model).__name__}.create_graph must return a keras layer or model, got {type(graph).__name__}"
        )
    try:
        outputs = graph(inputs)
    except TrainrigError:
        raise
    except Exception as e:
        raise TrainrigError(
            f"{type(model).__name__}'s graph failed on inputs {sorted(inputs)}: {type(e).__name__}: {str(e).splitlines()[0]}"
        ) from e
    if not isinstance(outputs, dict) or not outputs:
        raise TrainrigError(
            f"{type(model).__name__}'s graph must return a non-empty dict of outputs, got {type(outputs).__name__}"
        )
    keras_model = keras.Model(inputs=inputs, outputs=outputs, name=_scope_name(type(model).__name__))
    return BuiltModel(keras_model=keras_model, inputs=inputs, outputs=outputs, targets=targets)
