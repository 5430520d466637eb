"""Write every loss and metric, the learning rate, the params and the model's extra data to TensorBoard."""

from __future__ import annotations

import numpy as np
from tensorboard.plugins.hparams import api as hparams_api

from trainrig.callbacks.base import TrainrigCallback
from trainrig.tensorboard.writers import Writers, hparams_of, split_logs


class TensorBoardLogger(TrainrigCallback):
    """Logs under ``OUTPUT/tensorboard/{train,validation}``; the step of epoch ``e`` (0-based) is ``e + 1``.

    At epoch end the ``logs`` training values (``loss``, named losses, metrics, ``learning_rate``) go
    to the ``train`` run and the validation values (``val_*`` without the prefix, ``Test *``) to the
    ``validation`` run under the same tag, so TensorBoard overlays them. The run's params are logged
    as hparams. The model's :class:`~trainrig.TensorBoardDataHandler` writes its outputs of the
    first validation batch into the ``validation`` run.
    """

    def __init__(self, trainer):
        super().__init__(trainer)
        self.writers: Writers | None = None

    def on_train_begin(self, logs=None):
        self.writers = Writers(self.trainer.run_dir)
        with self.writers.train.as_default():
            hparams_api.hparams(hparams_of(self.trainer.flat_params()), trial_id=str(self.trainer.run_dir.root))
        self.writers.flush()

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        train, validation = split_logs(logs or {})
        self.writers.scalars(self.writers.train, train, step)
        self.writers.scalars(self.writers.validation, validation, step)
        self._write_handler_outputs(step)
        self.writers.flush()

    def _write_handler_outputs(self, step: int) -> None:
        batch = self.trainer.validation_batch
        if batch is None:
            return
        inputs, _, outputs = batch
        handler = self.trainer.tensorboard_handler
        with self.writers.validation.as_default():
            for name, value in (handler._outputs_for_tensorboard(inputs, outputs) or {}).items():
                handler.handle(name, name, np.asarray(value), step)

    def on_train_end(self, logs=None):
        if self.writers is not None:
            self.writers.close()
