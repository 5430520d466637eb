"""Run a ``.tflite`` file written by this plugin: ``predict(path, {"image": x})`` -> outputs dict."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np


def load_interpreter(path: str | Path, num_threads: int | None = None):
    """An interpreter for ``path``: LiteRT's (``ai_edge_litert``) if installed, else ``tf.lite.Interpreter``.

    ``tf.lite.Interpreter`` still works in tensorflow 2.21 but warns that it is deprecated in favour
    of the ``ai-edge-litert`` package; that warning is silenced here. Both have the same API.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        return Interpreter(model_path=str(path), num_threads=num_threads)


def predict(model: Any, inputs: dict[str, Any], signature: str | None = None) -> dict[str, np.ndarray]:
    """Outputs (dict, by the graph's output names) of ``model`` (a path or an interpreter) on ``inputs``.

    ``inputs`` maps the graph's input names to batched arrays; they are cast to the dtype the file
    expects, and any batch size works (the signature runner resizes the inputs).
    """
    interpreter = model if hasattr(model, "get_signature_runner") else load_interpreter(model)
    runner = interpreter.get_signature_runner(signature)
    details = runner.get_input_details()
    unknown = set(inputs) - set(details)
    missing = set(details) - set(inputs)
    if unknown or missing:
        raise ValueError(
            f"the model takes inputs {sorted(details)}; got {sorted(inputs)}"
            + (f" (missing {sorted(missing)})" if missing else "")
        )
    feed = {name: np.asarray(value, dtype=details[name]["dtype"]) for name, value in inputs.items()}
    return {name: np.asarray(value) for name, value in runner(**feed).items()}
