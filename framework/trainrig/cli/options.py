"""Command-line options generated from params classes: ``--SECTION.FIELD[.FIELD...] VALUE``."""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any

import attrs

from trainrig.errors import TrainrigError
from trainrig.params import default_of, help_of, leaf_fields, parse_text, set_path, type_name


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one-line :class:`TrainrigError`\\ s."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        raise TrainrigError(message)


def option_text(value: Any) -> str:
    """A value as the command line writes it: ``true``/``false``, JSON for lists, dicts and null."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)) or value is None:
        return json.dumps(value)
    return str(value)


def _metavar(tp) -> str:
    name = type_name(tp)
    if name.startswith("JSON"):
        return "JSON"
    return name if "|" in name else name.upper()


class ParamsOptions:
    """The dotted options of one params class under a section name (``model``, ``data``, ``trainer``)."""

    def __init__(self, section: str, cls: type):
        self.section, self.cls = section, cls
        self.fields: dict[str, attrs.Attribute] = {f"{section}.{path}": a for path, a in leaf_fields(cls)}

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(f"{self.section} params ({self.cls.__module__}.{self.cls.__qualname__})")
        for option, a in self.fields.items():
            group.add_argument(
                f"--{option}",
                dest=option,
                metavar=_metavar(a.type),
                default=argparse.SUPPRESS,
                help=f"{help_of(a)} (default: {option_text(default_of(a))})".replace("%", "%%"),
            )

    def overrides(self, namespace: argparse.Namespace) -> dict[str, Any]:
        """``{dotted path: value}`` of the options given on the command line, converted to field types."""
        given = vars(namespace)
        return {
            option: parse_text(given[option], a.type, option) for option, a in self.fields.items() if option in given
        }


def reject_unknown(unknown: list[str], known: list[str]) -> None:
    """One-line error for the first unknown option, with the closest valid one."""
    for token in unknown:
        if token.startswith("--"):
            option = token.split("=", 1)[0]
            close = difflib.get_close_matches(option, known, n=1, cutoff=0.8)
            hint = f"; did you mean {close[0]}?" if close else "; see --help for the valid options"
            section = option[2:].split(".", 1)[0]
            if section in ("model", "data") and not close and not any(k.startswith(f"--{section}.") for k in known):
                hint = f"; pass --{section} so its options are known, or see --help"
            raise TrainrigError(f"unknown option {option}{hint}")
        raise TrainrigError(f"unexpected argument {token!r}")


def apply(tree: dict[str, Any], overrides: dict[str, Any], section_root: dict[str, str]) -> None:
    """Write ``{"model.x": v}`` into ``tree`` under each section's root (``model`` -> ``model.params``)."""
    for option, value in overrides.items():
        section, _, path = option.partition(".")
        set_path(tree, f"{section_root[section]}.{path}", value)
