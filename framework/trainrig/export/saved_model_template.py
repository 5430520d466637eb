"""A graph's SavedModel written once, then rewritten by changing only its variables.

A SavedModel is a program (``saved_model.pb``: the traced serving functions and the object graph)
and the values of its variables (``variables/``, a TensorFlow checkpoint). For a graph whose
structure never changes — the best model of a run, exported again at every improvement — the
program is the same every time; only the values change. Writing it from scratch costs a trace and
the serialisation of every function (~0.2 s for a small model); a copy of the program plus a
checkpoint of the new values costs ~20 ms.

:class:`SavedModelTemplate` writes the graph once with Keras' own ``export`` into a private
directory and loads it back (``tf.saved_model.load``). Each :meth:`~SavedModelTemplate.write`
copies that directory without its variables, assigns the new values to the loaded object's
variables (the list Keras' export archive tracks: the graph's ``variables``, in order) and writes
them with ``tf.train.Checkpoint(root=loaded)`` — the object graph TensorFlow's loader restores from
— then a new ``fingerprint.pb``. A graph whose loaded variables do not match its own one to one is
exported in full every time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

_FINGERPRINT = "fingerprint.pb"


class SavedModelTemplate:
    """Writes SavedModels of ``graph`` with given variable values; ``workdir`` holds the template."""

    def __init__(self, graph: keras.Model, workdir: Path):
        self.graph = graph
        self.template = Path(workdir) / "saved_model"
        self.loaded = None
        self.usable = True

    def write(self, target: Path, values: list[np.ndarray]) -> None:
        """Write the SavedModel of ``graph`` with its variables set to ``values`` into ``target`` (new)."""
        target = Path(target)
        self.prepare()
        if not self.usable:
            self.graph.export(str(target), verbose=False)
            return
        shutil.copytree(self.template, target, ignore=shutil.ignore_patterns("variables", _FINGERPRINT))
        for variable, value in zip(self.loaded.variables, values):
            variable.assign(value)
        tf.train.Checkpoint(root=self.loaded).write(str(target / "variables" / "variables"))
        _write_fingerprint(target)

    def prepare(self) -> None:
        """Write and load the template (once; the exporter does it early, on its background thread)."""
        if self.loaded is not None or not self.usable:
            return
        self.graph.export(str(self.template), verbose=False)
        loaded = tf.saved_model.load(str(self.template))
        layout = [(tuple(v.shape), v.dtype.name) for v in getattr(loaded, "variables", [])]
        self.usable = layout == [(tuple(v.shape), tf.as_dtype(v.dtype).name) for v in self.graph.variables]
        self.loaded = loaded if self.usable else None


def _write_fingerprint(directory: Path) -> None:
    """``fingerprint.pb`` of the SavedModel in ``directory`` as ``tf.saved_model.save`` writes it (its
    checkpoint hash covers the new variables); none if this TensorFlow cannot (it is optional)."""
    try:
        from tensorflow.python.saved_model import fingerprinting_utils

        fingerprinting_utils.write_fingerprint(str(directory))
    except Exception:  # noqa: BLE001 - an internal module: loading works without the file
        (directory / _FINGERPRINT).unlink(missing_ok=True)
