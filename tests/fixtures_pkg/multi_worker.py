"""Fixtures of the multi-worker tests: data that reads slowly (a run lasting long enough to kill a
worker in the middle of it) and a plugin whose callback tells which worker it runs on.

As a plugin (``--plugin fixtures_pkg.multi_worker``) its callback prints ``ROLE index=I chief=B``
(and its ``TF_NUM_INTRAOP_THREADS``) once at the start of training and writes nothing.
"""

from __future__ import annotations

import os
import time

import keras

import trainrig
from fixtures_pkg.replay import EpochShuffledSequence
from fixtures_pkg.tinymodels import TinyData, TinyDataParams


@trainrig.define
class SlowDataParams(TinyDataParams):
    delay: float = trainrig.field(default=0.05, help="Seconds every training batch takes to read.")


class SlowSequence(EpochShuffledSequence):
    def __init__(self, *args, delay: float):
        super().__init__(*args)
        self.delay = delay

    def __getitem__(self, index):
        time.sleep(self.delay)
        return super().__getitem__(index)


class SlowData(TinyData):
    """:class:`TinyData` whose training batches come from a Python ``PyDataset`` taking ``delay`` s each."""

    params_class = SlowDataParams

    def train_sequence(self, batch_size):
        return SlowSequence(self.x_train, self.y_train, self.label_train, batch_size, self.seed, delay=self.params.delay)


class ReportRole(keras.callbacks.Callback):
    def __init__(self, context):
        super().__init__()
        self.context = context

    def on_train_begin(self, logs=None):
        cluster = self.context.cluster
        threads = os.environ.get("TF_NUM_INTRAOP_THREADS")
        print(f"ROLE index={cluster.index} workers={cluster.workers} chief={self.context.is_chief} threads={threads}", flush=True)


@trainrig.hookimpl
def trainrig_register_callbacks(trainer):
    return [ReportRole(trainer)]
