"""Write every loss and metric, the learning rate, the params and the model's extra data to TensorBoard."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from trainrig.callbacks.base import TrainrigCallback
from trainrig.log_keys import epochs_recorded
from trainrig.tensorboard.writers import TRAIN_RUN, VALIDATION_RUN, Writers, hparams_of, last_step, split_logs


class TensorBoardLogger(TrainrigCallback):
    """Logs under ``OUTPUT/tensorboard/{train,validation}``; the step of epoch ``e`` (0-based) is ``e + 1``.

    At epoch end the ``logs`` training values (``loss``, named losses, metrics, ``learning_rate``) go
    to the ``train`` run and the validation values (``val_*`` without the prefix, ``Test *``) to the
    ``validation`` run under the same tag, so TensorBoard overlays them. The run's params are logged
    as hparams. The model's :class:`~trainrig.TensorBoardDataHandler` writes its outputs of the
    first validation batch into the ``validation`` run. With freeze training, each change of the frozen
    layers is written as text ``freeze`` into the ``train`` run at its epoch (and ``frozen_layers``,
    their count, as a scalar).
    """

    def __init__(self, context):
        super().__init__(context)
        self.writers: Writers | None = None

    def on_train_begin(self, logs=None):
        run_dir = self.context.run_dir
        self.written = {name: last_step(run_dir.tensorboard_run(name)) for name in (TRAIN_RUN, VALIDATION_RUN)}
        self.writers = Writers(run_dir)
        if not self.context.resumed:
            with self.writers.train.as_default():
                hparams_api.hparams(hparams_of(self.context.params_tree), trial_id=str(run_dir.root))
        else:
            self._backfill_from_history()
        self.writers.flush()

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
