"""Callback states are saved under stable keys: independent of callback order, and none silently dropped."""

from __future__ import annotations

import keras
import numpy as np

import trainrig
from trainrig.checkpoint.state import Position, Resumable, capture, restore, state_key, stateful_callbacks
from trainrig.data.pipeline import BatchSource


class Counter(keras.callbacks.Callback):
    def __init__(self, value=0, key=None):
        super().__init__()
        self.value = value
        if key:
            self.state_key = key

    def get_state(self):
        return {"value": self.value}

    def set_state(self, state):
        self.value = state["value"]


class OtherCounter(Counter):
    pass


class Stateless(keras.callbacks.Callback):
    pass


def run_of(callbacks) -> Resumable:
    sequence = trainrig.ArraySequence({"x": np.zeros((4, 1), "float32")}, {"y": np.zeros((4, 1), "float32")}, 2)
    return Resumable(variables={}, source=BatchSource(sequence, "training"), callbacks=callbacks)


def round_trip(saved_callbacks, fresh_callbacks):
    arrays, state = capture(run_of(saved_callbacks), Position.start())
    restore(run_of(fresh_callbacks), arrays, state)
    return state


def test_default_key_is_the_class_path_and_a_callback_may_choose_its_own():
    assert state_key(Counter()) == f"{__name__}.Counter"
    assert state_key(Counter(key="my-counter")) == "my-counter"
    keyed = stateful_callbacks([Counter(), Stateless(), Counter(), Counter(key="mine")])
    assert list(keyed) == [f"{__name__}.Counter", f"{__name__}.Counter#2", "mine"]


def test_states_find_their_callbacks_whatever_the_order():
    a, b = Counter(1, key="a"), OtherCounter(2)
    state = round_trip([a, b], fresh := [OtherCounter(), Counter(key="a")])
    assert set(state["callbacks"]) == {"a", f"{__name__}.OtherCounter"}
    assert [c.value for c in fresh] == [2, 1]


def test_a_state_without_its_callback_is_reported_in_one_line(capsys):
    round_trip([Counter(5), OtherCounter(6)], fresh := [OtherCounter()])
    assert fresh[0].value == 6
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"trainrig: warning: the checkpoint holds the state of callback '{__name__}.Counter', which this run does "
        "not have; that state is not restored"
    ]


def test_keys_of_older_checkpoints_are_still_found():
    arrays, state = capture(run_of([Counter(7)]), Position.start())
    state["callbacks"] = {f"{key}#1": value for key, value in state["callbacks"].items()}  # trainrig 0.1.0 keys
    fresh = Counter()
    restore(run_of([fresh]), arrays, state)
    assert fresh.value == 7
