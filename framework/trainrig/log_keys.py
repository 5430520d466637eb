"""The names trainrig gives to values in a callback's ``logs`` (and so in the history and TensorBoard).

At epoch end ``logs`` hold the training values under their own names (``loss``, each named loss and
metric, ``learning_rate``), the validation values under ``val_<name>`` and the validation metric
suite under ``"Test <name>"``. User-defined losses and metrics may not take these names.
"""

from __future__ import annotations

TOTAL_LOSS = "loss"
LEARNING_RATE = "learning_rate"
FROZEN_LAYERS = "frozen_layers"  # with freeze training: how many layers are frozen this epoch
VALIDATION_PREFIX = "val_"
SUITE_PREFIX = "Test "

RESERVED_NAMES = (LEARNING_RATE, FROZEN_LAYERS)
RESERVED_PREFIXES = (VALIDATION_PREFIX, SUITE_PREFIX)


def epochs_recorded(history: dict[str, list[float]]) -> int:
    """How many epochs a history ``{name: [value per epoch]}`` holds."""
    return len(next(iter(history.values()), []))
