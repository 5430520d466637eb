"""Reading back a run's event files (``last_step``, ``read_events``) without TensorFlow's deprecated
record iterators, counting the complete records of a file cut short by a kill."""

from __future__ import annotations

import pytest
import tensorflow as tf

from trainrig.tensorboard.writers import last_step, read_events


def write_scalars(directory, steps, tag="loss") -> None:
    writer = tf.summary.create_file_writer(str(directory))
    with writer.as_default():
        for step in steps:
            tf.summary.scalar(tag, 0.5 * step, step=step)
    writer.close()


def event_file(directory):
    (path,) = directory.glob("events.out.tfevents.*")
    return path


@pytest.fixture
def no_deprecated_readers(monkeypatch):
    """Make the deprecated TF1 readers fail if anything calls them."""

    def deprecated(*args, **kwargs):
        raise AssertionError("deprecated TF1 record reader called")

    monkeypatch.setattr(tf.compat.v1.train, "summary_iterator", deprecated)
    monkeypatch.setattr(tf.compat.v1.io, "tf_record_iterator", deprecated)
    from tensorflow.python.lib.io import tf_record

    monkeypatch.setattr(tf_record, "tf_record_iterator", deprecated)


def test_last_step_reads_every_file_of_a_run(tmp_path, no_deprecated_readers):
    assert last_step(tmp_path) == 0  # nothing written yet
    write_scalars(tmp_path, [1, 2, 3])
    assert last_step(tmp_path) == 3
    assert [e.step for e in read_events(event_file(tmp_path)) if e.summary.value] == [1, 2, 3]
    write_scalars(tmp_path, [4, 5])  # a resumed run's second file
    assert last_step(tmp_path) == 5


def test_a_file_cut_short_by_a_kill_counts_its_complete_records(tmp_path, no_deprecated_readers):
    write_scalars(tmp_path, [1, 2, 3])
    path = event_file(tmp_path)
    data = path.read_bytes()
    ends = []  # the byte offset where each complete record ends
    offset = 0
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 8], "little")
        offset += 8 + 4 + length + 4  # length, its crc, the data, its crc
        ends.append(offset)
    assert ends[-1] == len(data) and len(ends) == 4  # file version record + 3 scalars
    for cut in (ends[2] + 1, ends[2] + 8, ends[2] + 13, (ends[2] + len(data)) // 2, len(data) - 1):  # inside step 3's
        path.write_bytes(data[:cut])
        assert last_step(tmp_path) == 2, cut
    path.write_bytes(data[: ends[1] + 5])  # inside the record of step 2 (ends[1]: end of step 1)
    assert last_step(tmp_path) == 1
    path.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])  # a damaged last record
    assert last_step(tmp_path) == 2
