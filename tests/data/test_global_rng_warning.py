"""A training sequence that draws from the global random generator is warned about, once."""

from __future__ import annotations

import numpy as np

import trainrig

from fixtures_pkg.helpers import make_params
from fixtures_pkg.tinymodels import TinyData, TinyModel

WARNING = "trainrig: warning: the training sequence NoisySequence draws from the global random generator"


class NoisySequence(trainrig.ArraySequence):
    """Adds noise drawn from numpy's global generator: the resume rule it breaks."""

    def __getitem__(self, index):
        inputs, targets = super().__getitem__(index)
        return {"x": inputs["x"] + np.random.normal(0, 0.01, inputs["x"].shape).astype("float32")}, targets


class NoisyData(TinyData):
    def train_sequence(self, batch_size):
        plain = super().train_sequence(batch_size)
        return NoisySequence(plain.inputs, plain.targets, batch_size, shuffle=True, seed=self.seed)


def test_a_sequence_drawing_from_the_global_rng_is_warned_about_once(tmp_path, capfd):
    trainrig.Trainer(make_params(tmp_path / "run", epochs=2), TinyModel(), NoisyData()).train()
    err = capfd.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("trainrig: warning:")] == [
        line for line in err.splitlines() if line.startswith(WARNING)
    ]
    assert err.count(WARNING) == 1


def test_a_seeded_sequence_is_not_warned_about(tmp_path, capfd):
    trainrig.Trainer(make_params(tmp_path / "run", epochs=2), TinyModel(), TinyData()).train()
    assert "global random generator" not in capfd.readouterr().err
