"""What a new run writes once, at step 0: its params and model summary as text, and the model's graph."""

from __future__ import annotations

import json
import warnings

import keras
import tensorflow as tf

PARAMS_TAG = "run/params"
MODEL_SUMMARY_TAG = "run/model_summary"


def _code_block(text: str) -> str:
    """``text`` as a markdown code block (TensorBoard's text plugin renders markdown)."""
    return "```\n" + text.rstrip("\n") + "\n```"


def write_params_text(writer, params_tree: dict) -> None:
    """Every param of the run (``params.json``) as the text summary ``run/params``."""
    with writer.as_default():
        tf.summary.text(
            PARAMS_TAG,
            _code_block(json.dumps(params_tree, indent=2, default=str)),
            step=0,
            description="All params of the run, as in OUTPUT/params.json.",
        )


def model_summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=110)
    return "\n".join(lines)


def write_model_summary(writer, model: keras.Model) -> None:
    """The keras model's summary (layers, shapes, parameter counts) as the text summary ``run/model_summary``."""
    with writer.as_default():
        tf.summary.text(
            MODEL_SUMMARY_TAG,
            _code_block(model_summary_text(model)),
            step=0,
            description="keras Model.summary() of the training graph when the run started.",
        )


def _input_specs(model: keras.Model):
    """``tf.TensorSpec`` structure of the model's inputs (its symbolic inputs), or ``None`` when unknown."""
    inputs = getattr(model, "_inputs_struct", None)
    if inputs is None:
        try:
            inputs = model.input
        except (AttributeError, ValueError):
            return None
    return tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype, name=getattr(t, "name", None)), inputs)


def write_model_graph(writer, model: keras.Model) -> bool:
    """The inference graph of ``model`` for TensorBoard's Graphs tab; ``False`` (and a warning) when it
    cannot be traced (a model without symbolic inputs, or one whose call fails on symbolic shapes)."""
    specs = _input_specs(model)
    if specs is None:
        warnings.warn(f"no model graph in TensorBoard: {model.name!r} has no symbolic inputs", stacklevel=2)
        return False
    try:
        graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs).graph
    except Exception as error:  # a graph for viewing only: never fail the run for it
        warnings.warn(f"no model graph in TensorBoard: tracing {model.name!r} failed: {error}", stacklevel=2)
        return False
    with writer.as_default():
        tf.summary.graph(graph)
    return True
