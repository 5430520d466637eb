"""TensorBoard writers of a run and what every run logs: epoch scalars, hyper-parameters."""

from __future__ import annotations

import json

import tensorflow as tf

from trainrig.run_dir import RunDir

TRAIN_RUN = "train"
VALIDATION_RUN = "validation"
VALIDATION_PREFIX = "val_"


def split_logs(logs: dict) -> tuple[dict[str, float], dict[str, float]]:
    """Split epoch ``logs`` into the training values and the validation values (``val_`` stripped).

    Keys that are neither (like ``"Test ROC AUC"`` from the metric suite) count as validation values.
    """
    train, validation = {}, {}
    for name, value in logs.items():
        if name.startswith(VALIDATION_PREFIX):
            validation[name[len(VALIDATION_PREFIX) :]] = value
        elif name.startswith("Test "):
            validation[name] = value
        else:
            train[name] = value
    return train, validation


def hparams_of(flat: dict) -> dict:
    """Values TensorBoard's hparams plugin accepts (bool, int, float, str); others as JSON text."""
    out = {}
    for name, value in flat.items():
        out[name] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    return out


def last_step(directory) -> int:
    """The highest step of any summary already written in a run directory (0 if none)."""
    from pathlib import Path

    highest = 0
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        try:
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                if event.summary.value:
                    highest = max(highest, int(event.step))
        except tf.errors.DataLossError:  # a file cut short by a kill: its complete records count
            continue
    return highest


class Writers:
    """The ``train`` and ``validation`` summary writers of one run."""

    def __init__(self, run_dir: RunDir):
        self.train = tf.summary.create_file_writer(str(run_dir.tensorboard_run(TRAIN_RUN)))
        self.validation = tf.summary.create_file_writer(str(run_dir.tensorboard_run(VALIDATION_RUN)))

    def scalars(self, writer, values: dict[str, float], step: int) -> None:
        with writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)

    def flush(self) -> None:
        self.train.flush()
        self.validation.flush()

    def close(self) -> None:
        self.train.close()
        self.validation.close()
