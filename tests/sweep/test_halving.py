"""The rungs and the ranking of successive halving (``trainrig sweep --halving``)."""

from __future__ import annotations

import math

import pytest

from trainrig.errors import TrainrigError
from trainrig.sweep.halving import rungs, same_epochs, survivors


def test_rungs_grow_by_eta_and_end_with_the_epochs():
    assert rungs(8, 2) == [1, 2, 4, 8]
    assert rungs(10, 3) == [1, 3, 9, 10]
    assert rungs(10, 3, min_epochs=2) == [2, 6, 10]
    assert rungs(1, 2) == [1]


def test_survivors_are_the_best_share_in_the_metric_s_direction():
    values = {"000": 0.5, "001": 0.2, "002": math.nan, "003": 0.9}
    assert survivors(values, 2, greater_is_better=False) == ["001", "000"]
    assert survivors(values, 2, greater_is_better=True) == ["003", "000"]
    assert survivors(values, 4, greater_is_better=True) == ["003"]  # at least one goes on
    assert survivors({"001": 0.3, "000": 0.3}, 2, greater_is_better=False) == ["000"]  # ties by id


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: rungs(4, 1), "--halving must be an integer >= 2"),
        (lambda: rungs(4, 2, min_epochs=0), "--min-epochs must be between 1 and trainer.epochs (4)"),
        (lambda: same_epochs([4, 4, 8]), "the same trainer.epochs in every configuration, got [4, 8]"),
    ],
)
def test_bad_settings_say_what_is_valid(call, words):
    with pytest.raises(TrainrigError, match=None) as caught:
        call()
    assert words in str(caught.value)
