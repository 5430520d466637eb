"""Convert one exported keras graph to a TensorFlow Lite flatbuffer (imports TensorFlow).

How: the graph is exported again, exactly as trainrig's exporter does (``keras.Model.export``, a
SavedModel whose ``serving_default`` signature takes the inputs dict and returns the outputs dict),
into a temporary directory while :func:`tflite_builtin_signbit` is active, and that SavedModel is
converted with ``tf.lite.TFLiteConverter.from_saved_model``. The ``.tflite`` file therefore has one
signature, ``serving_default``, whose inputs and outputs carry the graph's dict keys.

Why not convert the SavedModel the exporter just wrote (``<directory>/<graph>/``)? Keras 3's
TensorFlow backend implements ``keras.ops.argmax``/``argmin`` of floats with ``signbit``, built as
``bitcast(x, int32) & INT32_MIN < 0``; ``tf.BitwiseAnd`` has no TFLite builtin, so any graph with an
argmax output (the tutorial's ``class``) would need Select TF ops, which no Python interpreter of
tensorflow>=2.20 (nor ai-edge-litert) can run. Re-tracing with an equivalent builtin-only
``signbit`` (the same test for every value) gives a file every TFLite runtime runs.

Why not ``from_keras_model`` or ``from_concrete_functions``? With Keras 3 dict-input models,
``from_keras_model`` passes the inputs as positional tensors (Keras warns that the input structure
does not match, and a dict of several inputs depends on their order) and needs the same ``signbit``
fix; ``from_concrete_functions`` either keeps the weights as resource variables (given a trackable
object) or drops the signature and output names (without one). Both end in a temporary SavedModel
anyway.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import keras


class TfliteConversionError(RuntimeError):
    """Converting a graph failed; the message names the graph and the cause on one line.

    Deliberately not a ``TrainrigError``: trainrig's plugin manager wraps other exceptions with the
    plugin's name, distribution and hook, so the user sees which plugin failed.
    """


_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def tflite_builtin_signbit() -> Iterator[None]:
    """Within the block, Keras' TensorFlow ``signbit`` of floats avoids ``tf.BitwiseAnd``.

    Keras computes it as ``bitcast(float32(x), int32) & INT32_MIN < 0``; an int32 is negative exactly
    when its top (sign) bit is set, so ``bitcast(float32(x), int32) < 0`` is the same test for every
    value (NaN, infinities and -0.0 included), made only of TFLite builtins (BITCAST, LESS). If this
    Keras has no such function (a future version), nothing is changed.
    """
    try:
        from keras.src.backend.tensorflow import numpy as backend_numpy
    except ImportError:  # pragma: no cover - another keras layout
        yield
        return
    original = getattr(backend_numpy, "signbit", None)
    if original is None or keras.backend.backend() != "tensorflow":  # pragma: no cover
        yield
        return
    import tensorflow as tf

    def signbit(x):
        x = tf.convert_to_tensor(x)
        if not x.dtype.is_floating:
            return original(x)
        return tf.less(tf.bitcast(tf.cast(x, tf.float32), tf.int32), 0)

    with _PATCH_LOCK:
        backend_numpy.signbit = signbit
        try:
            yield
        finally:
            backend_numpy.signbit = original


def convert_graph(
    graph: keras.Model,
    name: str,
    workdir: str | Path | None = None,
    *,
    optimize: bool = False,
    select_tf_ops: bool = False,
) -> bytes:
    """The ``.tflite`` bytes of ``graph``; ``workdir`` holds the temporary SavedModel (removed after;
    ``None`` = the system's temporary directory).

    Raises :class:`TfliteConversionError` naming ``name`` and the cause.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix=f".tflite-{name}-", dir=workdir) as tmp:
        saved_model = Path(tmp) / name
        try:
            with tflite_builtin_signbit():
                graph.export(str(saved_model), format="tf_saved_model", verbose=False)
        except Exception as e:
            raise TfliteConversionError(
                f"graph {name!r}: tracing it for TFLite failed: {type(e).__name__}: {_first_line(str(e))}"
            ) from e
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
            [tf.lite.OpsSet.SELECT_TF_OPS] if select_tf_ops else []
        )
        if optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            return converter.convert()
        except Exception as e:
            cause = describe_failure(e, select_tf_ops)
            raise TfliteConversionError(f"graph {name!r} cannot be converted to TFLite: {cause}") from e


_OP_LISTS = re.compile(r"^\s*(TF Select ops|Flex ops|Custom ops):\s*(.+?)\s*$", re.MULTILINE)


def describe_failure(error: BaseException, select_tf_ops: bool = False) -> str:
    """One line out of the converter's (often very long, MLIR-laden) error message."""
    text = str(error)
    found = {kind: ops for kind, ops in _OP_LISTS.findall(text)}
    select = found.get("TF Select ops") or found.get("Flex ops")
    if select and not select_tf_ops:
        return (
            f"it uses TensorFlow ops that TFLite has no builtin for: {select}. Avoid them in the graph, or set "
            "--plugins.tflite.select_tf_ops true (the file then needs a Flex-enabled TFLite runtime)"
        )
    if found.get("Custom ops"):
        return f"it uses ops that neither TFLite nor Select TF ops provide: {found['Custom ops']}"
    return f"{type(error).__name__}: {_first_line(text)}"


def _first_line(text: str, limit: int = 300) -> str:
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""
