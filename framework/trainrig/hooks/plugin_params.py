"""Plugins' params sections (``trainrig_register_params``): which exist, and one params object per section."""

from __future__ import annotations

from typing import Any

from trainrig.errors import TrainrigError, one_of
from trainrig.params import from_dict, is_params_class


def plugin_sections(plugins) -> dict[str, type]:
    """``{section: params class}`` registered by plugins; a section registered twice names both plugins."""
    return plugins.named_contributions(
        "trainrig_register_params",
        what="params section",
        expected="a dict of section -> params class",
        valid=lambda result: isinstance(result, dict) and all(is_params_class(cls) for cls in result.values()),
    )


def resolve_plugin_params(plugins, given: dict[str, Any]) -> dict[str, Any]:
    """One params object per registered section: ``given[section]`` (a params object or a dict as in
    ``params.json``), else the section's defaults. A section no plugin registers is an error."""
    sections = plugin_sections(plugins)
    unknown = set(given) - set(sections)
    if unknown:
        raise TrainrigError(f"no plugin registers params section {sorted(unknown)[0]!r}; sections: {one_of(sections)}")
    resolved = {}
    for name, cls in sections.items():
        value = given.get(name)
        if value is None or isinstance(value, dict):
            resolved[name] = from_dict(cls, value or {}, f"plugins.{name}")
        elif isinstance(value, cls):
            resolved[name] = value
        else:
            raise TrainrigError(f"plugin params {name!r} must be a {cls.__name__} or a dict, got {type(value).__name__}")
    return resolved
