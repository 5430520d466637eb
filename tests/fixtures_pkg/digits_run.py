"""A fast digits run shared by the plugin tests."""

from __future__ import annotations

import trainrig
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel, DigitsModelParams


def digits_trainer(out, plugins, epochs: int = 1, **trainer_overrides) -> "trainrig.Trainer":
    params = trainrig.TrainerParams(
        epochs=epochs, output_dir=str(out), progress="none", batch_size=64, **trainer_overrides
    )
    return trainrig.Trainer(params, DigitsModel(DigitsModelParams(filters=4)), DigitsData(), plugins=plugins)
