"""Write every loss and metric, the learning rate, the params and the model's extra data to TensorBoard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api
from tensorboard.plugins.scalar import metadata as scalar_metadata

from trainrig.callbacks.base import TrainrigCallback
from trainrig.log_keys import LEARNING_RATE, epochs_recorded
from trainrig.train.environment import learning_rate_schedule_of
from trainrig.tensorboard.augmentation_preview import write_augmentation_preview
from trainrig.tensorboard.writers import (
    TRAIN_RUN,
    VALIDATION_RUN,
    Writers,
    hparams_of,
    last_step,
    read_events,
    split_logs,
)

STEP_LEARNING_RATE = f"{LEARNING_RATE}/step"  # per optimizer step, in the train run; x = optimizer.iterations


def _last_steps(directory, per_step_tag: str) -> tuple[int, int]:
    """``(highest epoch step, highest step of per_step_tag)`` already written in a run directory
    (0 and -1 when there are none); the per-step tag does not count as an epoch."""
    epochs, steps = 0, -1
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        for event in read_events(path):
            tags = {value.tag for value in event.summary.value}
            if per_step_tag in tags:
                steps = max(steps, int(event.step))
            if tags - {per_step_tag}:
                epochs = max(epochs, int(event.step))
    return epochs, steps


SCALAR_METADATA = scalar_metadata.create_summary_metadata(display_name=STEP_LEARNING_RATE, description="")


class TensorBoardLogger(TrainrigCallback):
    """Logs under ``OUTPUT/tensorboard/{train,validation}``; the step of epoch ``e`` (0-based) is ``e + 1``.

    At epoch end the ``logs`` training values (``loss``, named losses, metrics, ``learning_rate``) go
    to the ``train`` run and the validation values (``val_*`` without the prefix, ``Test *``) to the
    ``validation`` run under the same tag, so TensorBoard overlays them. The run's params are logged
    as hparams. The model's :class:`~trainrig.TensorBoardDataHandler` writes its outputs of the
    first validation batch into the ``validation`` run. With freeze training, each change of the frozen
    layers is written as text ``freeze`` into the ``train`` run at its epoch (and ``frozen_layers``,
    their count, as a scalar).
    With augmentation of an image input, a new run's first training batch is written as images
    ``augmentation/<input>`` (each original beside its copies, step 0; see
    :mod:`trainrig.tensorboard.augmentation_preview`).

    The learning rate is also written per optimizer step, as ``learning_rate/step`` in the ``train`` run:
    at the start and after every execution, the rate of every optimizer step ``s`` the execution
    passed (``s`` = ``optimizer.iterations`` before that step: the value its schedule gives at ``s``; a
    fixed rate as it is then). On resume, steps already in the event files are not written again. The
    batch hook accepts executions of several steps (``batch_hooks_per_execution``), so it does not keep
    trainrig from fusing steps.
    """

    batch_hooks_per_execution = True

    def __init__(self, context):
        super().__init__(context)
        self.writers: Writers | None = None
        self._write_rate = None  # set by on_train_begin
        self.written_rate_step = -1

    def on_train_begin(self, logs=None):
        run_dir = self.context.run_dir
        train_epochs, self.written_rate_step = _last_steps(run_dir.tensorboard_run(TRAIN_RUN), STEP_LEARNING_RATE)
        self.written = {TRAIN_RUN: train_epochs, VALIDATION_RUN: last_step(run_dir.tensorboard_run(VALIDATION_RUN))}
        self.writers = Writers(run_dir)
        self._write_rate = self._step_rate_writer()
        self._write_step_rate()
        if not self.context.resumed:
            with self.writers.train.as_default():
                hparams_api.hparams(hparams_of(self.context.params_tree), trial_id=str(run_dir.root))
            write_augmentation_preview(self.writers.train, self.context.train_sequence)
        else:
            self._backfill_from_history()
        self.writers.flush()

    def _step_rate_writer(self):
        """A compiled write of the rate of every optimizer step after ``last_written`` up to
        ``optimizer.iterations``; returns ``iterations`` (``None`` without an optimizer)."""
        optimizer = self.context.optimizer
        if optimizer is None:
            optimizer = getattr(getattr(self, "model", None), "optimizer", None)
        if optimizer is None:
            return None
        writer, schedule = self.writers.train, learning_rate_schedule_of(optimizer)

        def write(last_written):
            step = tf.cast(optimizer.iterations, tf.int64)
            with writer.as_default():
                for s in tf.range(last_written + 1, step + 1):
                    rate = schedule(s) if schedule is not None else optimizer.learning_rate
                    # write() keeps the tag as it is (scalar() would prefix the loop's name scope)
                    tf.summary.write(STEP_LEARNING_RATE, tf.cast(rate, tf.float32), step=s, metadata=SCALAR_METADATA)
            return step

        return tf.function(write)

    def _write_step_rate(self) -> None:
        if self._write_rate is not None:
            step = int(self._write_rate(tf.constant(self.written_rate_step, tf.int64)))
            self.written_rate_step = max(self.written_rate_step, step)

    def on_train_batch_end(self, batch, logs=None):
        self._write_step_rate()

    def _backfill_from_history(self) -> None:
        """On resume, write the epochs the checkpoint has but the event files lack (a kill in between)."""
        history = self.context.history
        for index in range(epochs_recorded(history)):
            self._write_epoch_scalars(index + 1, {name: values[index] for name, values in history.items()})

    def _write_epoch_scalars(self, step: int, logs: dict) -> None:
        """Write one epoch's values, skipping a run that already has this step (no duplicates on resume)."""
        train, validation = split_logs(logs)
        for run, writer, values in ((TRAIN_RUN, self.writers.train, train), (VALIDATION_RUN, self.writers.validation, validation)):
            if step > self.written[run]:
                self.writers.scalars(writer, values, step)
                self.written[run] = step

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        fresh = step > self.written[VALIDATION_RUN]
        self._write_epoch_scalars(step, logs or {})
        if fresh:
            self._write_handler_outputs(step)
            self._write_freeze_change(epoch, step)
        self.writers.flush()

    def _write_freeze_change(self, epoch: int, step: int) -> None:
        """With freeze training: the change made at this epoch's start, as text ``freeze`` in the train run."""
        freeze = self.context.freeze
        if freeze is not None and freeze.changed_at_epoch == epoch:
            with self.writers.train.as_default():
                tf.summary.text("freeze", f"epoch {epoch + 1}: {freeze.change}", step=step)

    def _write_handler_outputs(self, step: int) -> None:
        batch = self.context.validation_batch
        if batch is None:
            return
        inputs, _, outputs = batch
        handler = self.context.tensorboard_handler
        with self.writers.validation.as_default():
            for name, value in (handler._outputs_for_tensorboard(inputs, outputs) or {}).items():
                handler.handle(name, name, np.asarray(value), step)

    def on_train_end(self, logs=None):
        if self.writers is not None:
            self.writers.close()
