"""Successive halving (``trainrig sweep --halving ETA``): stop bad configurations early, exactly.

Every run is started with the sweep's full ``trainer.epochs`` E (so its learning-rate schedule is the
one of a full run) and paused at the rungs ``R, R*ETA, R*ETA^2, ... < E`` (``--min-epochs R``,
default 1), then E: at each rung every run still in the race trains up to that epoch
(``--trainer.stop_after_epoch`` / ``trainrig resume --stop-after-epoch``: a checkpoint, then exit),
they are ranked by their best-model value so far, and the best ``max(1, n // ETA)`` go on —
``trainrig resume`` continues each exactly where it paused, so a run that reaches E is bit-identical
to one trained without pauses. The others are ``halted``: normal runs with a checkpoint, which
``trainrig resume`` can still finish by hand. A run that fails drops out of the race.

What each run reached at each rung is kept in its status file (``logs/<id>.json``: ``rungs``), so a
sweep that is run again replays the same decisions and only trains what is missing.
"""

from __future__ import annotations

import math
from typing import Iterable

from trainrig.errors import TrainrigError


def rungs(epochs: int, eta: int, min_epochs: int = 1) -> list[int]:
    """The epochs a run pauses at, ending with ``epochs``: ``rungs(8, 2) == [1, 2, 4, 8]``."""
    if eta < 2:
        raise TrainrigError(f"--halving must be an integer >= 2 (the share of runs kept is 1/ETA), got {eta}")
    if not 1 <= min_epochs <= epochs:
        raise TrainrigError(f"--min-epochs must be between 1 and trainer.epochs ({epochs}), got {min_epochs}")
    points, epoch = [], min_epochs
    while epoch < epochs:
        points.append(epoch)
        epoch *= eta
    return points + [epochs]


def survivors(values: dict[str, float], eta: int, greater_is_better: bool) -> list[str]:
    """The ids that go on: the best ``max(1, n // eta)`` of ``values`` (``NaN`` ranks last; ties by id)."""
    ranked = sorted(
        values,
        key=lambda run_id: (
            math.isnan(values[run_id]),
            -values[run_id] if greater_is_better else values[run_id],
            run_id,
        ),
    )
    return ranked[: max(1, len(values) // eta)]


def same_epochs(epochs: Iterable[int]) -> int:
    """The one ``trainer.epochs`` of every configuration (halving compares runs at the same epochs)."""
    distinct = sorted(set(epochs))
    if len(distinct) != 1:
        raise TrainrigError(f"--halving needs the same trainer.epochs in every configuration, got {distinct}")
    return distinct[0]
