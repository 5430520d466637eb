"""``TfliteParams``: the ``plugins.tflite`` section of a run's params (imports no TensorFlow)."""

from __future__ import annotations

import trainrig


@trainrig.define
class TfliteParams:
    """What the ``tflite`` plugin converts, and how (``--plugins.tflite.<field>``)."""

    enabled: bool = trainrig.field(
        default=True,
        help="Write <graph>.tflite next to each converted export; false turns the plugin off for this run.",
    )
    on_best: bool = trainrig.field(
        default=False,
        help="Also convert every best-model export (OUTPUT/best/), not only the final one (OUTPUT/export/); "
        "converting takes time each time the best model improves.",
    )
    graphs: list[str] = trainrig.field(
        factory=list, help='Names of the export graphs to convert, e.g. ["default"]; empty = every exported graph.'
    )
    optimize: bool = trainrig.field(
        default=False,
        help="Apply tf.lite.Optimize.DEFAULT (dynamic-range quantization: large weights stored as int8): "
        "a smaller file with slightly different outputs.",
    )
    check_at_start: bool = trainrig.field(
        default=True,
        help="Convert the chosen graphs once at run start (into a temporary directory, then discarded), so a graph "
        "TFLite cannot convert stops the run before the first step rather than at the export after training.",
    )
    select_tf_ops: bool = trainrig.field(
        default=False,
        help="Let ops TFLite has no builtin for run as TensorFlow ops (SELECT_TF_OPS). The file then needs a "
        "runtime linked with the Flex delegate (e.g. Android's tensorflow-lite-select-tf-ops); the Python "
        "interpreters of tensorflow>=2.20 and ai-edge-litert cannot run it.",
    )
