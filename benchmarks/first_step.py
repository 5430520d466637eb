"""A trainrig plugin for the start-up benchmark: when did a run's first training step begin?

Loaded with ``trainrig train ... --plugin benchmarks.first_step``, it adds a callback that writes
``time.time()`` to the file named by the environment variable ``TRAINRIG_BENCH_FIRST_STEP`` when the
first training batch begins. Without that variable it adds nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import keras

import trainrig
from benchmarks.startup import FIRST_STEP_ENV


class FirstStep(keras.callbacks.Callback):
    """Writes the wall-clock time of the first ``on_train_batch_begin`` to ``path``.

    It needs the first batch only, so it lets trainrig run several steps per call as it would without
    it (``batch_hooks_per_execution``): the run it times is the run a user gets.
    """

    batch_hooks_per_execution = True

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.written = False

    def on_train_batch_begin(self, batch, logs=None):
        if not self.written:
            now = time.time()
            self.path.write_text(repr(now))
            self.written = True


@trainrig.hookimpl
def trainrig_register_callbacks(trainer):
    path = os.environ.get(FIRST_STEP_ENV)
    return [FirstStep(Path(path))] if path else []
