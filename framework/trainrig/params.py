"""attrs helpers shared by every params class: help text, validators, JSON round trip, dotted paths.

Every params class of trainrig (and of a user's model or data) is an attrs class whose fields carry
their help text in ``metadata={"help": ...}``. :func:`field` writes that metadata for you and
:func:`define` is ``attrs.define(frozen=True, kw_only=True)``::

    @trainrig.define
    class MyModelParams(trainrig.ModelBaseParams):
        n_classes: int = trainrig.field(default=10, help="Number of classes.", validator=at_least(2))

The command line is generated from these fields (nested params classes become dotted options such
as ``--trainer.early_stopping.patience``) and ``params.json`` is written with :func:`to_dict` and read
back with :func:`from_dict`. This module imports no TensorFlow.
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from typing import Any, Iterator, Literal, Union

import attrs

from trainrig.errors import TrainrigError, one_of

define = functools.partial(attrs.define, frozen=True, kw_only=True)
define.__doc__ = "``attrs.define(frozen=True, kw_only=True)``: the decorator for every params class."


def field(
    default: Any = attrs.NOTHING, *, help: str, factory=None, validator=None, converter=None, setting: bool = True
):
    """An attrs field whose help text is stored in ``metadata["help"]`` (shown by ``--help``).

    ``setting=False`` marks plumbing: a field that says where or how a run is carried out (an output
    path, a console option, a checkpoint interval) rather than what is trained. Plumbing is kept out
    of TensorBoard's HParams dashboard (the whole params still go to its text summary ``params``).
    """
    if not help:
        raise ValueError("every params field needs a help text")
    return attrs.field(
        default=default,
        factory=factory,
        validator=validator,
        converter=converter,
        metadata={"help": help, "setting": setting},
    )


def help_of(a: attrs.Attribute) -> str:
    return a.metadata.get("help", "")


def is_setting(a: attrs.Attribute) -> bool:
    """Whether a field is a setting of the experiment (``True`` unless declared with ``setting=False``)."""
    return a.metadata.get("setting", True)


# --- validators: each says what is valid --------------------------------------------------------


class ParamsError(TrainrigError, ValueError):
    """A params value a validator rejected (a ``TrainrigError``, and a ``ValueError`` as attrs expects)."""


def choice(*values):
    """Validator: the value is one of ``values``."""

    def check(instance, attribute, value):
        if value not in values:
            raise ParamsError(f"{attribute.name} must be {one_of(values)}, got {value!r}")

    return check


def at_least(minimum):
    """Validator: the value is a number >= ``minimum``."""

    def check(instance, attribute, value):
        if value < minimum:
            raise ParamsError(f"{attribute.name} must be >= {minimum}, got {value!r}")

    return check


def positive(instance, attribute, value):
    """Validator: the value is a finite number > 0."""
    if not (value > 0 and math.isfinite(value)):
        raise ParamsError(f"{attribute.name} must be a finite number > 0, got {value!r}")


# --- types -----------------------------------------------------------------------------------------


def fields_of(cls) -> tuple[attrs.Attribute, ...]:
    """The fields of a params class with their annotations resolved to real types."""
    attrs.resolve_types(cls)
    return attrs.fields(cls)


def _strip_optional(tp) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def is_params_class(tp) -> bool:
    return isinstance(tp, type) and attrs.has(tp)


def type_name(tp) -> str:
    """A short human name for a field type, used in ``--help`` and error messages."""
    inner, optional = _strip_optional(tp)
    origin = typing.get_origin(inner)
    if origin is Literal:
        name = "|".join(str(v) for v in typing.get_args(inner))
    elif origin in (list, tuple, dict) or inner in (list, tuple, dict):
        name = "JSON " + (origin or inner).__name__
    elif isinstance(inner, type):
        name = inner.__name__
    else:
        name = str(inner)
    return name + ("|null" if optional else "")


def _coerce(value, tp, path: str):
    """Check (and minimally convert) one JSON value against a field type."""
    inner, optional = _strip_optional(tp)
    if value is None:
        if optional or inner is Any:
            return None
        raise TrainrigError(f"{path}: null is not allowed, expected {type_name(tp)}")
    origin = typing.get_origin(inner)
    if is_params_class(inner):
        if isinstance(value, inner):
            return value
        if not isinstance(value, dict):
            raise TrainrigError(f"{path}: expected a JSON object for {inner.__name__}, got {value!r}")
        return from_dict(inner, value, path)
    if origin is Literal:
        allowed = typing.get_args(inner)
        if value not in allowed:
            raise TrainrigError(f"{path}: must be {one_of(allowed)}, got {value!r}")
        return value
    if inner is bool:
        if not isinstance(value, bool):
            raise TrainrigError(f"{path}: expected true or false, got {value!r}")
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TrainrigError(f"{path}: expected an integer, got {value!r}")
        return value
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TrainrigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if inner is str:
        if not isinstance(value, str):
            raise TrainrigError(f"{path}: expected a string, got {value!r}")
        return value
    container = origin or inner
    if container in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TrainrigError(f"{path}: expected a JSON list, got {value!r}")
        args = typing.get_args(inner)
        if args and container is list:
            value = [_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
        return container(value)
    if container is dict:
        if not isinstance(value, dict):
            raise TrainrigError(f"{path}: expected a JSON object, got {value!r}")
        return dict(value)
    return value


# --- JSON round trip -------------------------------------------------------------------------------


def to_dict(params) -> dict[str, Any]:
    """All fields of ``params`` (nested params included) as JSON-ready Python values."""
    return _jsonable(attrs.asdict(params, recurse=True))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def from_dict(cls, data: dict[str, Any], path: str = ""):
    """Build ``cls`` from a dict as written by :func:`to_dict`; unknown keys and bad values are errors."""
    known = {a.name: a for a in fields_of(cls)}
    unknown = sorted(set(data) - set(known))
    prefix = f"{path}." if path else ""
    if unknown:
        raise TrainrigError(
            f"unknown option {prefix}{unknown[0]} for {cls.__name__}; valid: {', '.join(prefix + k for k in known)}"
        )
    kwargs = {name: _coerce(value, known[name].type, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise TrainrigError(f"{prefix}{e}" if prefix else f"{cls.__name__}: {e}") from None


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


# --- dotted paths for the command line -------------------------------------------------------------


def leaf_fields(cls, prefix: str = "") -> Iterator[tuple[str, attrs.Attribute]]:
    """Every non-params field of ``cls`` and its nested params classes, with its dotted path."""
    for a in fields_of(cls):
        path = f"{prefix}{a.name}"
        inner, _ = _strip_optional(a.type)
        if is_params_class(inner):
            yield from leaf_fields(inner, path + ".")
        else:
            yield path, a


def plumbing_paths(cls, prefix: str = "") -> set[str]:
    """Dotted paths of the fields of ``cls`` declared ``setting=False`` (a nested params class declared
    so counts with all its fields)."""
    paths = set()
    for a in fields_of(cls):
        path = f"{prefix}{a.name}"
        inner, _ = _strip_optional(a.type)
        if not is_setting(a):
            paths.add(path)
        elif is_params_class(inner):
            paths |= plumbing_paths(inner, path + ".")
    return paths


def default_of(a: attrs.Attribute):
    if isinstance(a.default, attrs.Factory):
        return a.default.factory()
    return a.default


def parse_text(text: str, tp, path: str):
    """Convert a command-line string to a field value: booleans ``true``/``false``, lists/dicts JSON."""
    inner, optional = _strip_optional(tp)
    if optional and text in ("null", "none", "None"):
        return None
    origin = typing.get_origin(inner)
    try:
        if inner is bool:
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise ValueError
            return lowered == "true"
        if inner is int:
            return int(text)
        if inner is float:
            return float(text)
        if inner is str or origin is Literal and all(isinstance(v, str) for v in typing.get_args(inner)):
            return _coerce(text, inner, path)
        return json.loads(text)
    except TrainrigError:
        raise
    except ValueError:
        raise TrainrigError(f"--{path}: expected {type_name(tp)}, got {text!r}") from None


def set_path(data: dict[str, Any], dotted: str, value) -> None:
    """``set_path(d, "a.b.c", v)`` sets ``d["a"]["b"]["c"] = v``, creating the dicts on the way."""
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[leaf] = value


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (dicts merge, everything else replaces)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def params_class_of(cls, base_generic, default):
    """The params class ``P`` of ``class MyModel(ModelBase[P])`` (or ``cls.params_class`` if set)."""
    explicit = getattr(cls, "params_class", None)
    if explicit is not None:
        return explicit
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is base_generic:
                args = typing.get_args(base)
                if args and is_params_class(args[0]):
                    return args[0]
    return default


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``; empty dicts stay values."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
