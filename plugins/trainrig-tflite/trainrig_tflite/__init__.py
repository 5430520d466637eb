"""trainrig-tflite: write a TensorFlow Lite model (``<graph>.tflite``) next to every exported graph.

A first-party trainrig plugin, found through the ``trainrig`` entry-point group under the name
``tflite`` (module :mod:`trainrig_tflite.plugin`). Its params are the ``plugins.tflite`` section
(:class:`TfliteParams`: ``--plugins.tflite.enabled``, ``on_best``, ``graphs``, ``optimize``,
``check_at_start``, ``select_tf_ops``), saved in ``params.json`` like every other section.

Design
------
* **Where the file is written.** trainrig's exporter writes ``<graph>.keras`` and the SavedModel
  ``<graph>/`` of every export graph into a staging directory, calls the
  ``trainrig_export_written(directory, graphs, kind)`` hook and only then swaps the staging directory
  in place of ``export/`` (``kind == "final"``) or ``best/`` (``kind == "best"``). The plugin writes
  ``<graph>.tflite`` into that staging directory, so the file appears atomically with the export it
  belongs to, and a conversion that fails aborts that export (the previous one stays in place).
* **Which exports.** Converting costs time (about a second for a small model), and ``best/`` is
  rewritten each time the validation value improves, so by default only the final export is
  converted; ``on_best`` converts the best-model exports too. ``graphs`` picks graph names (empty =
  all); a name that is not exported is a :class:`trainrig.TrainrigError` listing the exported graphs.
* **Failing early.** A mistake found only at the final export would cost the whole training (and,
  since the failed export is discarded, leave no ``export/``). So at run start, before the first
  step, the plugin checks the graph names and, with ``check_at_start`` (default), converts every
  chosen graph once with the initial weights into a temporary directory: a graph TFLite cannot
  convert stops the run at once. This costs one extra conversion per graph per run.
* **Getting the run's params.** ``trainrig_export_written`` has no trainer argument, so the plugin
  also implements ``trainrig_run_start(trainer)`` (called once the run is set up, before the first
  step and before any export) and keeps ``trainer.plugin_params["tflite"]`` until
  ``trainrig_run_end``/``trainrig_run_error`` (the final export happens before ``trainrig_run_end``).
  An export seen outside a run uses the defaults. The state is per process: runs in one process
  must follow each other, not overlap.
* **How it converts.** See :mod:`trainrig_tflite.convert`: the keras graph is exported again into a
  temporary SavedModel, with one Keras op (``signbit``, used by ``argmax``/``argmin``) traced as an
  equivalent made of TFLite builtins, and converted with ``tf.lite.TFLiteConverter.from_saved_model``
  to builtin ops only (``select_tf_ops`` allows TensorFlow ops, for Flex-enabled runtimes). The file
  has one signature, ``serving_default``, with the graph's input and output names.
* **Errors.** A failed conversion raises :class:`~trainrig_tflite.convert.TfliteConversionError`
  naming the graph and the cause in one line (for missing ops: which ones); trainrig's plugin
  manager adds the plugin's name, distribution and hook.
* **Running the file.** ``tf.lite.Interpreter`` still exists and works in tensorflow 2.21 (it warns
  that it is deprecated in favour of ``ai-edge-litert``, which has the same API and runs these files
  without TensorFlow); :func:`predict` uses LiteRT when installed, else TensorFlow's interpreter,
  so the plugin needs no dependency beyond trainrig.
"""

from __future__ import annotations

from trainrig_tflite.params import TfliteParams
from trainrig_tflite.runtime import load_interpreter, predict

__version__ = "0.1.0"

__all__ = ["TfliteParams", "load_interpreter", "predict", "__version__"]
