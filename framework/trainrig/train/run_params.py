"""A run's params as one tree: what ``OUTPUT/params.json`` holds, enough to rebuild the run."""

from __future__ import annotations

from typing import Any

from trainrig.data.base import DataBase
from trainrig.imports import object_path
from trainrig.model.base import ModelBase
from trainrig.params import to_dict
from trainrig.train.params import TrainerParams


def params_tree(
    params: TrainerParams, model: ModelBase, data: DataBase, plugins, plugin_params: dict[str, Any]
) -> dict[str, Any]:
    """``{"model": {"class", "params"}, "data": {...}, "trainer": {...}, "plugins": {...}}``."""
    return {
        "model": {"class": object_path(type(model)), "params": to_dict(model.params)},
        "data": {"class": object_path(type(data)), "params": to_dict(data.params)},
        "trainer": to_dict(params),
        "plugins": {
            "modules": plugins.modules,
            "blocked": plugins.blocked,
            "entry_points": plugins.entry_points,
            "params": {name: to_dict(value) for name, value in plugin_params.items()},
        },
    }
