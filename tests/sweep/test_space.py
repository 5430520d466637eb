"""The configurations of ``--grid`` and ``--random N --space``, and the sweep plan (no TensorFlow runs)."""

from __future__ import annotations

import json
import math

import pytest

import trainrig
from trainrig.sweep.plan import Plan, option_args
from trainrig.sweep.space import grid, random_configs, varying_keys


def test_a_grid_is_every_combination_the_last_key_fastest():
    configs = grid({"trainer.learning_rate": [0.001, 0.003], "model.units": [32, 64, 128]})
    assert len(configs) == 6
    assert configs[:3] == [
        {"trainer.learning_rate": 0.001, "model.units": 32},
        {"trainer.learning_rate": 0.001, "model.units": 64},
        {"trainer.learning_rate": 0.001, "model.units": 128},
    ]
    assert varying_keys(configs) == ["trainer.learning_rate", "model.units"]
    assert varying_keys(grid({"a.b": [1], "c.d": [2, 3]})) == ["c.d"]


SPACE = {
    "trainer.learning_rate": {"log_uniform": [1e-4, 1e-2]},
    "trainer.batch_size": {"int": [8, 16]},
    "model.dropout": {"uniform": [0.0, 0.5]},
    "trainer.optimizer": {"choice": ["adam", "sgd"]},
    "model.hidden": [4, 8],
}


def test_random_draws_are_seeded_and_inside_their_distributions():
    configs = random_configs(SPACE, 200, seed=5)
    assert configs == random_configs(SPACE, 200, seed=5) and configs != random_configs(SPACE, 200, seed=6)
    rates = [c["trainer.learning_rate"] for c in configs]
    assert all(1e-4 <= r < 1e-2 for r in rates)
    below = sum(r < 1e-3 for r in rates) / len(rates)  # log-uniform: half the draws below the geometric middle
    assert 0.35 < below < 0.65
    assert {c["trainer.batch_size"] for c in configs} == set(range(8, 17))
    assert all(isinstance(c["trainer.batch_size"], int) for c in configs)
    assert all(0.0 <= c["model.dropout"] < 0.5 for c in configs)
    assert {c["trainer.optimizer"] for c in configs} == {"adam", "sgd"}
    assert {c["model.hidden"] for c in configs} == {4, 8}


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: grid([]), ["--grid must be a JSON object of lists"]),
        (lambda: grid({"a.b": []}), ["--grid a.b: give a non-empty JSON list"]),
        (lambda: grid({"a.b": 3}), ["--grid a.b"]),
        (lambda: random_configs({"a.b": {"normal": [0, 1]}}, 2, 0), ["--space a.b: give one of choice, uniform, log_uniform, int"]),
        (lambda: random_configs({"a.b": {"log_uniform": [0, 1]}}, 2, 0), ["log_uniform needs 0 < low"]),
        (lambda: random_configs({"a.b": {"uniform": [1, 1]}}, 2, 0), ["uniform needs low < high"]),
        (lambda: random_configs({"a.b": {"int": [1, 2.5]}}, 2, 0), ["int takes two integers"]),
        (lambda: random_configs({"a.b": {"uniform": [1]}}, 2, 0), ["uniform takes [low, high]"]),
        (lambda: random_configs({"a.b": {"choice": []}}, 2, 0), ["choice takes a non-empty list"]),
        (lambda: random_configs({"a.b": [1, 2]}, 0, 0), ["--random must be at least 1, got 0"]),
    ],
)
def test_a_bad_grid_or_space_is_one_line_saying_what_is_valid(make, words):
    with pytest.raises(trainrig.TrainrigError) as error:
        make()
    assert "\n" not in str(error.value)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_configurations_become_command_line_options():
    assert option_args({"trainer.learning_rate": 0.01, "trainer.overwrite": True, "trainer.freeze.layers": ["a"]}) == [
        "--trainer.learning_rate", "0.01", "--trainer.overwrite", "true", "--trainer.freeze.layers", '["a"]',
    ]  # fmt: skip


def test_the_same_sweep_again_continues_and_another_one_is_refused(tmp_path):
    configs = random_configs({"trainer.learning_rate": {"log_uniform": [1e-4, 1e-2]}}, 3, 1)
    plan = Plan(tmp_path / "sweep", ["--model", "m:M"], configs, {"random": 3, "seed": 1})
    assert plan.continue_or_save() is plan and plan.ids == ["000", "001", "002"]
    again = Plan(tmp_path / "sweep", ["--model", "m:M"], random_configs({"trainer.learning_rate": {"log_uniform": [1e-4, 1e-2]}}, 3, 1), {"random": 3, "seed": 1})
    continued = again.continue_or_save()
    assert continued is not again and continued.configs == configs
    assert math.isclose(json.loads((tmp_path / "sweep" / "sweep.json").read_text())["configs"][0]["trainer.learning_rate"], configs[0]["trainer.learning_rate"])
    other = Plan(tmp_path / "sweep", ["--model", "m:Other"], configs, {"random": 3, "seed": 1})
    with pytest.raises(trainrig.TrainrigError, match="holds another sweep.*trainrig sweep --resume"):
        other.continue_or_save()
    with pytest.raises(trainrig.TrainrigError, match="is not a sweep directory"):
        Plan.load(tmp_path)
