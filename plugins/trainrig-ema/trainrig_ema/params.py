"""``EmaParams``: the ``ema`` params section (``--plugins.ema.*``). Imports no TensorFlow."""

from __future__ import annotations

import math

import trainrig
from trainrig.errors import TrainrigError


class EmaParamsError(TrainrigError, ValueError):
    """An invalid EMA param.

    A :class:`trainrig.TrainrigError`, so ``EmaParams(decay=1.5)`` in Python fails with trainrig's
    user-facing error type; also a ``ValueError``, so trainrig's params reader (the command line,
    ``params.json``) catches it like any validator's error and prefixes the option's path
    (``plugins.ema.decay must be ...``).
    """


def open_unit_interval(instance, attribute, value) -> None:
    """Validator: a number strictly between 0 and 1."""
    del instance
    name = attribute.name
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0.0 < value < 1.0
    if not ok:
        raise EmaParamsError(
            f"{name} must be a number with 0 < {name} < 1 (e.g. 0.999 averages over roughly the last 1000 updates), "
            f"got {value!r}"
        )


@trainrig.define
class EmaParams:
    """Exponential moving average of the model weights, exported as the graph ``ema``."""

    enabled: bool = trainrig.field(
        default=True,
        help="Keep an exponential moving average of the weights and export it as the graph 'ema' "
        "(false: the plugin does nothing).",
    )
    decay: float = trainrig.field(
        default=0.999,
        help="EMA decay per update (one update per training batch execution), 0 < decay < 1: "
        "shadow = decay * shadow + (1 - decay) * weights. Warm-up: the decay used for update t "
        "(t = 0, 1, ...) is min(decay, (1 + t) / (10 + t)).",
        validator=open_unit_interval,
    )


SECTION = "ema"
"""The params section: ``trainer.plugin_params["ema"]``, ``--plugins.ema.FIELD``, ``plugins.params.ema``."""

GRAPH_NAME = "ema"
"""The export graph: ``OUTPUT/export/ema.keras``, ``OUTPUT/export/ema/`` (SavedModel), same in ``OUTPUT/best/``."""
