"""Helpers of the trainrig-tflite tests (a uniquely named module: ``tests/`` of the repository has its own conftest)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def make_manager(monkeypatch):
    """A fresh PluginManager loading, of the installed entry points, only ``tflite``."""
    from trainrig.hooks.manager import PluginManager

    monkeypatch.setenv("TRAINRIG_LOAD_PLUGINS", "tflite")
    manager = PluginManager()
    if "tflite" not in manager.distributions:
        raise AssertionError("the tflite plugin is not installed: pip install -e plugins/trainrig-tflite")
    return manager


def trainer_params(output_dir, **overrides):
    import trainrig

    values = dict(epochs=1, batch_size=64, learning_rate=1e-3, progress="none", output_dir=str(output_dir), seed=1)
    values.update(overrides)
    return trainrig.TrainerParams(**values)


def interpreter(path: Path):
    """``tf.lite.Interpreter`` for a file (its deprecation warning in favour of ai-edge-litert silenced)."""
    import tensorflow as tf

    assert Path(path).is_file(), f"{path} was not written"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        return tf.lite.Interpreter(model_path=str(path))


def run_tflite(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs dict of the file's only signature, fed by input name."""
    runner = interpreter(path).get_signature_runner()
    return runner(**inputs)


def keras_outputs(model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import keras

    return {name: keras.ops.convert_to_numpy(value) for name, value in model(inputs, training=False).items()}
