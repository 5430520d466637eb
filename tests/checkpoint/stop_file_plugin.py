"""A plugin module for the CLI stop test (``--plugin stop_file_plugin``, with ``tests/checkpoint`` on PYTHONPATH).

Its callback creates ``OUTPUT/STOP`` at the end of global step :data:`STOP_AT_STEP`: the trainer checks
for a stop request right after the callbacks' ``on_train_batch_end``, so the run stops at exactly that
step, however fast or slow the machine. A resumed run continues after that step and never creates it
again.
"""

from __future__ import annotations

from pathlib import Path

import keras

import trainrig

STOP_AT_STEP = 5


class CreateStopFileAtStep(keras.callbacks.Callback):
    def __init__(self, run_root: Path, step: int):
        super().__init__()
        self.stop_file, self.step = Path(run_root) / "STOP", step

    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == self.step:
            self.stop_file.touch()


@trainrig.hookimpl
def trainrig_register_callbacks(trainer):
    return [CreateStopFileAtStep(trainer.run_dir.root, STOP_AT_STEP)]
