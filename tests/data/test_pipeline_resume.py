"""Through trainrig.Trainer: a PyDataset read by workers, and an ArraySequence read natively, train like
one-batch-at-a-time reading and resume exactly after a crash mid-epoch."""

from __future__ import annotations

import multiprocessing

import pytest

import trainrig
from trainrig.data import workers as reading

from fixtures_pkg.helpers import make_params
from fixtures_pkg.replay import CrashAt, EpochShuffledSequence, ReplayData, weights_hash
from fixtures_pkg.tinymodels import DropoutClassifier, TinyData


class ThreadData(ReplayData):
    """ReplayData's sequence (no get_state: resume replays on_epoch_end) read by 2 threads."""

    def train_sequence(self, batch_size):
        sequence = EpochShuffledSequence(self.x_train, self.y_train, self.label_train, batch_size, self.seed)
        sequence.workers = 2
        return sequence


class ProcessData(ReplayData):
    """The same, read by 2 processes."""

    def train_sequence(self, batch_size):
        sequence = EpochShuffledSequence(self.x_train, self.y_train, self.label_train, batch_size, self.seed)
        sequence.workers, sequence.use_multiprocessing = 2, True
        return sequence


def params(out):
    # 64 rows at batch 16: 4 steps an epoch; a checkpoint every 3 steps, so the crash at step 10
    # (epoch 3, batch 2) resumes from step 9: epoch 3, batch 1, in the middle of an epoch.
    values = dict(epochs=3, batch_size=16, deterministic=True, seed=2, print_samples=0, checkpoint_every_steps=3)
    return make_params(out, **values)


@pytest.fixture(scope="module")
def one_batch_at_a_time(tmp_path_factory):
    """The history and weights of ReplayData read one batch at a time, never interrupted."""
    out = tmp_path_factory.mktemp("reference") / "run"
    history = trainrig.Trainer(params(out), DropoutClassifier(), ReplayData()).train()
    return history, weights_hash(out)


@pytest.mark.parametrize("data_class", [ThreadData, ProcessData], ids=["threads", "processes"])
def test_a_pydataset_with_workers_trains_and_resumes_exactly(tmp_path, data_class, one_batch_at_a_time):
    history, weights = one_batch_at_a_time
    crashed = tmp_path / "crashed"
    trainer = trainrig.Trainer(params(crashed), DropoutClassifier(), data_class())
    trainer.user_callbacks.append(CrashAt(10))
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer.train()
    del trainer
    assert trainrig.Trainer.resume(crashed) == history
    assert weights_hash(crashed) == weights
    assert not reading.POOLS and multiprocessing.active_children() == []


def test_an_array_sequence_read_natively_resumes_exactly(tmp_path):
    reference = tmp_path / "reference"
    history = trainrig.Trainer(params(reference), DropoutClassifier(), TinyData()).train()
    crashed = tmp_path / "crashed"
    trainer = trainrig.Trainer(params(crashed), DropoutClassifier(), TinyData())
    trainer.user_callbacks.append(CrashAt(10))
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer.train()
    assert trainrig.Trainer.resume(crashed) == history
    assert weights_hash(crashed) == weights_hash(reference)
