"""TensorBoard writers of a run, splitting epoch logs into its runs, and reading event files back."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import tensorflow as tf
from tensorboard.compat.proto.event_pb2 import Event

from trainrig.log_keys import SUITE_PREFIX, VALIDATION_PREFIX
from trainrig.run_dir import RunDir

TRAIN_RUN = "train"
VALIDATION_RUN = "validation"


def split_logs(logs: dict) -> tuple[dict[str, float], dict[str, float]]:
    """Split epoch ``logs`` into the training values and the validation values (``val_`` stripped).

    Keys that are neither (like ``"Test ROC AUC"`` from the metric suite) count as validation values.
    """
    train, validation = {}, {}
    for name, value in logs.items():
        if name.startswith(VALIDATION_PREFIX):
            validation[name[len(VALIDATION_PREFIX) :]] = value
        elif name.startswith(SUITE_PREFIX):
            validation[name] = value
        else:
            train[name] = value
    return train, validation


def read_events(path) -> Iterator[Event]:
    """The ``Event`` records of one event file, in order, up to the first incomplete or damaged one.

    Read with ``tf.data.TFRecordDataset`` (what TensorFlow recommends in place of the deprecated
    ``tf.compat.v1.train.summary_iterator`` / ``tf_record_iterator``) and parsed with TensorBoard's
    ``Event`` proto. A file cut short by a kill ends in a partial record: the complete records before
    it are yielded, the rest is skipped.
    """
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            yield Event.FromString(record.numpy())
    except tf.errors.DataLossError:  # truncated or corrupt record: the complete ones before it count
        return


def last_step(directory) -> int:
    """The highest step of any summary already written in a run directory (0 if none)."""
    highest = 0
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        for event in read_events(path):
            if event.summary.value:
                highest = max(highest, int(event.step))
    return highest


class Writers:
    """The summary writers of one run: ``train``, ``validation`` and ``root`` (``OUTPUT/tensorboard`` itself,
    for the HParams session and config, which must sit above the runs holding their metrics)."""

    def __init__(self, run_dir: RunDir):
        self.root = tf.summary.create_file_writer(str(run_dir.tensorboard))
        self.train = tf.summary.create_file_writer(str(run_dir.tensorboard_run(TRAIN_RUN)))
        self.validation = tf.summary.create_file_writer(str(run_dir.tensorboard_run(VALIDATION_RUN)))

    def scalars(self, writer, values: dict[str, float], step: int, description: str = "") -> None:
        with writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step, description=description or None)

    def flush(self) -> None:
        for writer in (self.root, self.train, self.validation):
            writer.flush()

    def close(self) -> None:
        for writer in (self.root, self.train, self.validation):
            writer.close()
