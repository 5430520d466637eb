"""``trainrig.params``: attrs params classes, their JSON round trip, errors and command-line text parsing."""

from __future__ import annotations

import json
import math
from typing import Literal, Optional

import attrs
import pytest

import trainrig
from trainrig.params import (
    at_least,
    choice,
    define,
    field,
    fields_of,
    from_dict,
    help_of,
    leaf_fields,
    merge,
    parse_text,
    positive,
    set_path,
    to_dict,
    type_name,
)


@define
class Inner:
    units: int = field(default=4, help="Units.", validator=at_least(1))
    rate: float = field(default=0.5, help="A rate.", validator=positive)
    mode: Literal["fast", "slow"] = field(default="fast", help="Mode.")


@define
class Leaf:
    flag: bool = field(default=False, help="A flag.")


@define
class Middle:
    leaf: Leaf = field(factory=Leaf, help="Nested twice.")
    tags: list[str] = field(factory=list, help="Tags.")


@define
class Outer:
    name: str = field(default="x", help="Name.")
    inner: Inner = field(factory=Inner, help="The inner params.")
    middle: Middle = field(factory=Middle, help="The middle params.")
    sizes: list[int] = field(factory=lambda: [1, 2], help="Sizes.")
    table: dict = field(factory=dict, help="A table.")
    limit: Optional[int] = field(default=None, help="An optional limit.")
    kind: str = field(default="a", help="Kind.", validator=choice("a", "b", "c"))


# --- round trip ----------------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip_nested():
    params = Outer(
        name="run",
        inner=Inner(units=7, rate=0.25, mode="slow"),
        middle=Middle(leaf=Leaf(flag=True), tags=["a", "b"]),
        sizes=[3],
        table={"k": [1, {"z": None}]},
        limit=5,
        kind="c",
    )
    data = to_dict(params)
    assert data == {
        "name": "run",
        "inner": {"units": 7, "rate": 0.25, "mode": "slow"},
        "middle": {"leaf": {"flag": True}, "tags": ["a", "b"]},
        "sizes": [3],
        "table": {"k": [1, {"z": None}]},
        "limit": 5,
        "kind": "c",
    }
    again = from_dict(Outer, json.loads(json.dumps(data)))
    assert again == params
    assert isinstance(again.inner, Inner) and isinstance(again.middle.leaf, Leaf)


def test_from_dict_fills_defaults_and_converts_numbers():
    params = from_dict(Outer, {"inner": {"rate": 2, "units": 3.0}})
    assert params.inner == Inner(units=3, rate=2.0)
    assert isinstance(params.inner.rate, float) and isinstance(params.inner.units, int)
    assert params.middle == Middle() and params.sizes == [1, 2]


def test_trainer_params_round_trip():
    params = trainrig.TrainerParams(epochs=3, learning_rate=0.1, optimizer="sgd", deterministic=True, output_dir="o")
    data = json.loads(json.dumps(to_dict(params)))
    assert from_dict(trainrig.TrainerParams, data) == params
    for name in ["epochs", "batch_size", "learning_rate", "output_dir", "seed", "deterministic", "strategy"]:
        assert name in data


@pytest.mark.parametrize("cls", [trainrig.TrainerParams, trainrig.ModelBaseParams, trainrig.DataBaseParams, Outer])
def test_every_field_has_help(cls):
    for path, a in leaf_fields(cls):
        assert help_of(a), path


def test_field_requires_help():
    with pytest.raises(ValueError):
        field(default=1, help="")


def test_params_are_frozen():
    params = Outer()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        params.name = "y"


def test_leaf_fields_dotted_paths():
    paths = [path for path, _ in leaf_fields(Outer)]
    assert paths == [
        "name",
        "inner.units",
        "inner.rate",
        "inner.mode",
        "middle.leaf.flag",
        "middle.tags",
        "sizes",
        "table",
        "limit",
        "kind",
    ]


# --- errors --------------------------------------------------------------------------------------


def test_unknown_key_lists_valid_ones():
    with pytest.raises(trainrig.TrainrigError) as info:
        from_dict(Outer, {"nmae": "x"})
    message = str(info.value)
    assert "nmae" in message and "Outer" in message
    for name in ["name", "inner", "middle", "sizes", "table", "limit", "kind"]:
        assert name in message


def test_unknown_nested_key_lists_valid_nested_ones():
    with pytest.raises(trainrig.TrainrigError) as info:
        from_dict(Outer, {"inner": {"unit": 3}})
    message = str(info.value)
    assert "inner.unit" in message and "Inner" in message
    assert "inner.units" in message and "inner.rate" in message and "inner.mode" in message


@pytest.mark.parametrize(
    "data, words",
    [
        ({"inner": {"units": "3"}}, ["inner.units", "integer", "'3'"]),
        ({"inner": {"units": 2.5}}, ["inner.units", "integer", "2.5"]),
        ({"inner": {"units": True}}, ["inner.units", "integer", "True"]),
        ({"inner": {"rate": "fast"}}, ["inner.rate", "number", "'fast'"]),
        ({"middle": {"leaf": {"flag": "true"}}}, ["middle.leaf.flag", "true or false", "'true'"]),
        ({"name": 3}, ["name", "string", "3"]),
        ({"sizes": 3}, ["sizes", "list", "3"]),
        ({"sizes": [1, "b"]}, ["sizes[1]", "integer", "'b'"]),
        ({"table": [1]}, ["table", "object", "[1]"]),
        ({"inner": 5}, ["inner", "Inner", "5"]),
        ({"inner": {"mode": "medium"}}, ["inner.mode", "'fast' or 'slow'", "'medium'"]),
        ({"name": None}, ["name", "null"]),
    ],
)
def test_wrong_type_error(data, words):
    with pytest.raises(trainrig.TrainrigError) as info:
        from_dict(Outer, data)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_null_allowed_for_optional():
    assert from_dict(Outer, {"limit": None}).limit is None
    assert from_dict(Outer, {"limit": 3}).limit == 3


@pytest.mark.parametrize(
    "data, words",
    [
        ({"inner": {"units": 0}}, ["units must be >= 1", "got 0"]),
        ({"inner": {"rate": 0}}, ["rate must be a finite number > 0", "got 0.0"]),
        ({"inner": {"rate": -1.5}}, ["rate must be a finite number > 0", "-1.5"]),
        ({"inner": {"rate": math.inf}}, ["rate must be a finite number > 0", "inf"]),
        ({"kind": "d"}, ["kind must be 'a', 'b' or 'c'", "got 'd'"]),
    ],
)
def test_validator_messages(data, words):
    with pytest.raises(trainrig.TrainrigError) as info:
        from_dict(Outer, data)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


def test_validators_run_on_direct_construction():
    with pytest.raises(ValueError, match="units must be >= 1, got 0"):
        Inner(units=0)
    with pytest.raises(ValueError, match="rate must be a finite number > 0, got nan"):
        Inner(rate=float("nan"))
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        trainrig.TrainerParams(epochs=0)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        trainrig.TrainerParams(learning_rate=0.0)


def test_trainer_params_from_dict_errors():
    with pytest.raises(trainrig.TrainrigError, match="must be 'float32', 'mixed_bfloat16' or 'mixed_float16', got 'float8'"):
        from_dict(trainrig.TrainerParams, {"precision": "float8"})
    with pytest.raises(trainrig.TrainrigError, match="epochs must be >= 1"):
        from_dict(trainrig.TrainerParams, {"epochs": 0})
    with pytest.raises(trainrig.TrainrigError) as info:
        from_dict(trainrig.TrainerParams, {"epoch": 3})
    assert "epoch" in str(info.value) and "epochs" in str(info.value) and "batch_size" in str(info.value)


def test_literal_field_checked_when_constructed_in_python(tiny_data, tmp_path):
    from fixtures_pkg.tinymodels import PlainModel

    with pytest.raises((ValueError, trainrig.TrainrigError)):
        params = trainrig.TrainerParams(
            strategy="mirrord", epochs=1, progress="none", output_dir=str(tmp_path / "run"), export=False
        )
        trainrig.Trainer(params, PlainModel(), tiny_data).train()


# --- command-line text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tp, expected",
    [
        ("true", bool, True),
        ("false", bool, False),
        ("True", bool, True),
        ("FALSE", bool, False),
        ("42", int, 42),
        ("-3", int, -3),
        ("0.5", float, 0.5),
        ("1e-3", float, 1e-3),
        ("7", float, 7.0),
        ("[1, 2, 3]", list[int], [1, 2, 3]),
        ('["a", "b"]', list[str], ["a", "b"]),
        ('[{"epoch": 0, "freeze": ["encoder"]}]', list[dict], [{"epoch": 0, "freeze": ["encoder"]}]),
        ('{"a": 1}', dict, {"a": 1}),
        ("hello world", str, "hello world"),
        ("slow", Literal["fast", "slow"], "slow"),
        ("null", Optional[int], None),
        ("5", Optional[int], 5),
    ],
)
def test_parse_text(text, tp, expected):
    value = parse_text(text, tp, "model.x")
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "text, tp, words",
    [
        ("yes", bool, ["--model.x", "bool", "'yes'"]),
        ("1", bool, ["--model.x", "bool", "'1'"]),
        ("3.5", int, ["--model.x", "int", "'3.5'"]),
        ("abc", float, ["--model.x", "float", "'abc'"]),
        ("[1, 2", list[int], ["--model.x", "JSON list", "'[1, 2'"]),
        ("medium", Literal["fast", "slow"], ["model.x", "'fast' or 'slow'", "'medium'"]),
    ],
)
def test_parse_text_errors(text, tp, words):
    with pytest.raises(trainrig.TrainrigError) as info:
        parse_text(text, tp, "model.x")
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


def test_parse_text_for_every_trainer_field_default():
    """Each TrainerParams field's default, rendered as command-line text, parses back to itself."""
    for path, a in leaf_fields(trainrig.TrainerParams):
        default = a.default.factory() if isinstance(a.default, attrs.Factory) else a.default
        if isinstance(default, bool):
            text = str(default).lower()
        elif isinstance(default, (list, dict)) or default is None:
            text = json.dumps(default)
        else:
            text = str(default)
        assert parse_text(text, a.type, f"trainer.{path}") == default, path


def test_type_names():
    types = {a.name: a.type for a in fields_of(Outer)}
    assert type_name(types["limit"]) == "int|null"
    assert type_name(types["sizes"]) == "JSON list"
    assert type_name(types["table"]) == "JSON dict"
    assert type_name(fields_of(Inner)[2].type) == "fast|slow"


def test_set_path_and_merge():
    tree: dict = {}
    set_path(tree, "trainer.freeze.schedule", [1])
    set_path(tree, "trainer.epochs", 3)
    assert tree == {"trainer": {"freeze": {"schedule": [1]}, "epochs": 3}}
    merged = merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "d": [2]}
