"""Resume in the same process after a crash (an exception), with a sequence resumed by replaying epochs."""

from __future__ import annotations


import numpy as np
import pytest

import trainrig
from trainrig.checkpoint.store import CheckpointStore

from fixtures_pkg.helpers import make_params
from fixtures_pkg.replay import CrashAt, ReplayData, weights_hash
from fixtures_pkg.tinymodels import DropoutClassifier


def params(out, **overrides):
    values = dict(epochs=3, batch_size=16, deterministic=True, seed=2, print_samples=0)
    return make_params(out, **{**values, **overrides})


@pytest.mark.parametrize("every", [0, 3])
def test_sequence_without_state_is_replayed_on_resume(tmp_path, every):
    reference = tmp_path / "reference"
    history = trainrig.Trainer(params(reference, checkpoint_every_steps=every), DropoutClassifier(), ReplayData()).train()
    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer = trainrig.Trainer(params(crashed, checkpoint_every_steps=every), DropoutClassifier(), ReplayData())
        trainer.user_callbacks.append(CrashAt(10))  # epoch 3, batch 2 (4 batches an epoch)
        trainer.train()
    resumed = trainrig.Trainer.resume(crashed)
    assert resumed == history
    assert weights_hash(crashed) == weights_hash(reference)


def test_resuming_a_finished_run_returns_its_history(tmp_path, capsys):
    out = tmp_path / "run"
    history = trainrig.Trainer(params(out), DropoutClassifier(), ReplayData()).train()
    exported = (out / "export" / "default.keras").read_bytes()
    again = trainrig.Trainer.resume(out)
    assert again == history
    assert "has already finished" in capsys.readouterr().out
    assert (out / "export" / "default.keras").read_bytes() == exported


def test_checkpoints_keep_the_newest_k(tmp_path):
    # step 12 (the last) gets three checkpoints: the step one, the epoch-end one and the finished one;
    # the rewrites of a step are ckpt-12.1, ckpt-12.2 (nothing is deleted before its successor is in place)
    out = tmp_path / "run"
    trainrig.Trainer(params(out, checkpoint_every_steps=1, keep_checkpoints=4), DropoutClassifier(), ReplayData()).train()
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["ckpt-11", "ckpt-12", "ckpt-12.1", "ckpt-12.2"]
    path, _, state = CheckpointStore(out / "checkpoints").load_latest()
    assert path.name == "ckpt-12.2" and state["position"]["finished"] is True


def test_checkpoints_hold_data_only(tmp_path):
    out = tmp_path / "run"
    trainrig.Trainer(params(out, epochs=1), DropoutClassifier(), ReplayData()).train()
    checkpoint = sorted((out / "checkpoints").iterdir())[-1]
    assert sorted(p.name for p in checkpoint.iterdir()) == ["arrays.npz", "checksums.json", "state.json"]
    with np.load(checkpoint / "arrays.npz", allow_pickle=False) as arrays:  # would raise on pickled objects
        assert all(arrays[name].dtype != object for name in arrays.files)
