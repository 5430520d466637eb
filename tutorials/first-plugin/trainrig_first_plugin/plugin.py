"""A first trainrig plugin: params of its own, a callback that sees every metric, an export graph.

- ``--plugins.first_plugin.log_file NAME`` (default ``epochs.jsonl``): the callback writes one JSON
  line per epoch into the run directory with the epoch's duration and all its ``logs``, validation
  values included (plugin callbacks run after trainrig's base callbacks).
- ``--plugins.first_plugin.serving_outputs '["probabilities"]'``: adds an export graph ``serving``
  holding only those outputs (none by default).
"""

from __future__ import annotations

import json
import time

import keras

import trainrig
from trainrig.errors import one_of


@trainrig.define
class FirstPluginParams:
    log_file: str = trainrig.field(default="epochs.jsonl", help="File in the run directory for per-epoch logs.")
    serving_outputs: list[str] = trainrig.field(factory=list, help="Outputs of an extra 'serving' export graph.")


class EpochLog(trainrig.TrainrigCallback):
    """Writes ``{"epoch", "seconds", **logs}`` per epoch; ``logs`` hold every loss and metric, val_ ones too."""

    def __init__(self, trainer, params: FirstPluginParams):
        super().__init__(trainer)
        self.path = trainer.run_dir.root / params.log_file
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, "seconds": time.perf_counter() - self.started, **(logs or {})}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


@trainrig.hookimpl
def trainrig_register_params():
    return {"first_plugin": FirstPluginParams}


@trainrig.hookimpl
def trainrig_register_callbacks(trainer):
    return [EpochLog(trainer, trainer.plugin_params["first_plugin"])]


@trainrig.hookimpl
def trainrig_register_export_graphs(inputs, outputs, trainer):
    wanted = trainer.plugin_params["first_plugin"].serving_outputs
    if not wanted:
        return None
    missing = [name for name in wanted if name not in outputs]
    if missing:
        raise ValueError(f"serving_outputs names {missing[0]!r}, not an output; outputs: {one_of(outputs)}")
    return {"serving": keras.Model(inputs, {name: outputs[name] for name in wanted})}


@trainrig.hookimpl
def trainrig_run_start(trainer):
    print(f"first_plugin: logging epochs to {trainer.run_dir.root / trainer.plugin_params['first_plugin'].log_file}")
