"""The epochs of a run: training steps, validation, the callbacks' epoch and batch events, checkpoints.

The callbacks see the keras protocol: ``on_train_begin``; per epoch (after freeze training has
applied the epoch's frozen layers) ``on_epoch_begin``,
``on_train_batch_begin``/``_end`` around every execution of one or more steps (batch-end ``logs``: the
running training averages; how many steps an execution runs: :mod:`trainrig.train.executions`), a
validation pass (``on_test_*``), then ``on_epoch_end``
with every training value, every validation value (``val_`` prefix) and ``learning_rate``;
``on_train_end`` at the end.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

import keras

from trainrig.checkpoint.state import Position
from trainrig.context import ValidationResult
from trainrig.log_keys import LEARNING_RATE
from trainrig.train.checkpointing import Checkpointing
from trainrig.train.distribution import WorkerSync
from trainrig.train.environment import current_learning_rate
from trainrig.train.executions import ExecutionSizes
from trainrig.train.setup import RunParts


class EpochPhases(Protocol):
    """What changes at epoch starts (freeze training, :mod:`trainrig.train.freeze`)."""

    def begin_epoch(self, epoch: int, start_step: int) -> None: ...

    def logs(self) -> dict[str, float]: ...


class FitLoop:
    """Runs epochs from a :class:`Position` until ``epochs`` or until a callback sets ``stop_training``.

    ``validate`` runs one validation pass and returns its result (the trainer publishes it to the run
    context before the epoch-end callbacks read it). ``sync`` shares a stop request and the next call's
    size among the workers of a multi-worker run (:class:`~trainrig.train.distribution.WorkerSync`).
    """

    def __init__(
        self,
        parts: RunParts,
        callbacks: keras.callbacks.CallbackList,
        validate: Callable[[], ValidationResult],
        checkpoints: Checkpointing,
        epochs: int,
        executions: ExecutionSizes,
        freezing: EpochPhases,
        sync: WorkerSync | None = None,
    ):
        self.parts = parts
        self.callbacks = callbacks
        self.validate = validate
        self.checkpoints = checkpoints
        self.freezing = freezing
        self.epochs = epochs
        self.executions = executions
        self.sync = sync or (lambda stop, size: (stop, size))

    def run(self, position: Position) -> dict[str, float]:
        """Train from ``position``; return the last epoch's ``logs``."""
        model = self.parts.keras_model
        model.stop_training = False
        self.callbacks.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(position.epoch, self.epochs):
            logs = self.epoch(epoch, position.step if epoch == position.epoch else 0)
            if model.stop_training:
                break
        self.callbacks.on_train_end(logs)
        return logs

    def epoch(self, epoch: int, start_step: int = 0) -> dict[str, float]:
        """Train one epoch from ``start_step`` (non-zero when resuming mid-epoch), validate, run callbacks."""
        parts, callbacks = self.parts, self.callbacks
        if start_step == 0:
            parts.train_metrics.reset()
        self.freezing.begin_epoch(epoch, start_step)
        callbacks.on_epoch_begin(epoch)
        logs = self._train_steps(epoch, start_step)
        parts.train_source.epoch_end()
        logs = {
            **logs,
            **self.validate().logs,
            LEARNING_RATE: current_learning_rate(parts.optimizer),
            **self.freezing.logs(),
        }
        callbacks.on_epoch_end(epoch, logs)
        stopping, _ = self.sync(self.checkpoints.stop_requested(), self.executions.size)
        self.checkpoints.after_epoch(epoch, stopping)
        return logs

    def _train_steps(self, epoch: int, step: int) -> dict[str, float]:
        parts, callbacks, executions = self.parts, self.callbacks, self.executions
        steps_per_epoch = parts.steps_per_epoch
        iterator = iter(parts.strategy.experimental_distribute_dataset(parts.train_source.dataset(step)))
        logs = parts.train_metrics.results()
        while step < steps_per_epoch:
            count = executions.next(step, steps_per_epoch, self.checkpoints.steps_seen)
            callbacks.on_train_batch_begin(step)
            started = time.perf_counter()
            with parts.train_source.reading():
                parts.steps.train(iterator, count)
            executions.observe(count, time.perf_counter() - started)
            step += count
            logs = parts.train_metrics.results()
            callbacks.on_train_batch_end(step - 1, logs)
            stopping, executions.size = self.sync(self.checkpoints.stop_requested(), executions.size)
            self.checkpoints.after_steps(epoch, step, stopping)
            if parts.keras_model.stop_training:
                break
        return logs
