"""trainrig's benchmarks: ``python -m benchmarks`` (from the repository root) runs them all; see README.md.

Every benchmark module exposes ``NAME``, a one-line ``DESCRIPTION`` and ``run(size, repeats) ->
list[Row]``; the modules import TensorFlow only when they run, so listing them is instant.

The environment is set here, before anything imports TensorFlow: no C++ log chatter, and no third-party
trainrig plugins (only trainrig itself is measured). Child processes inherit it.
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["TRAINRIG_LOAD_PLUGINS"] = ""

BENCHMARKS = (
    "fit_vs_keras",
    "step_overhead",
    "startup",
    "memory",
    "input_pipeline",
    "metric_suite",
    "checkpoint",
    "augmentation",
    "distribution",
)
"""The benchmark modules, in the order the runner runs them."""
