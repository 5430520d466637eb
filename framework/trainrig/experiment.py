"""Build a run's model, data and trainer params from a params tree (the format of ``params.json``).

``{"model": {"class": "pkg.mod:Model", "params": {...}}, "data": {...}, "trainer": {...}}``
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainrig.errors import TrainrigError
from trainrig.hooks.plugin_params import resolve_plugin_params
from trainrig.imports import import_object
from trainrig.params import from_dict
from trainrig.user_code import calling


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TrainrigError(f"{what} {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise TrainrigError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise TrainrigError(f"{what} {path} must hold a JSON object with model, data and trainer sections")
    return data


def import_user_class(path: str, kind: str, base_name: str) -> type:
    """Import ``--model``/``--data`` and check it subclasses ``trainrig.<base_name>``."""
    cls = import_object(path, what=f"--{kind}")
    import trainrig

    base = getattr(trainrig, base_name)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TrainrigError(f"--{kind} {path!r} must name a subclass of trainrig.{base_name}, got {cls!r}")
    return cls


def section_params(tree: dict[str, Any], section: str, cls: type):
    params = (tree.get(section) or {}).get("params", {})
    return from_dict(cls.params_cls(), params, section)


def configure_plugins(tree: dict[str, Any], modules: list[str] = (), blocked: list[str] = (), exact: bool = False):
    """Set up the process's plugins from the tree's ``plugins`` section plus command-line choices.

    With ``exact`` (resume) exactly the installed plugins the run recorded are loaded.
    """
    from trainrig.hooks.manager import configure, plugin_manager

    section = tree.setdefault("plugins", {})
    section["modules"] = list(dict.fromkeys([*section.get("modules", []), *modules]))
    section["blocked"] = list(dict.fromkeys([*section.get("blocked", []), *blocked]))
    configure(section["modules"], section["blocked"], section.get("entry_points") if exact else None)
    return plugin_manager()


def build_experiment(tree: dict[str, Any], plugins):
    """``(model, data, trainer_params, plugin_params)`` from a params tree; problems are one-line errors."""
    (model_cls, model_params), (data_cls, data_params), trainer_params, plugin_params = experiment_params(tree, plugins)
    with calling(model_cls, "__init__"):
        model = model_cls(model_params)
    with calling(data_cls, "__init__"):
        data = data_cls(data_params)
    return model, data, trainer_params, plugin_params


def experiment_params(tree: dict[str, Any], plugins):
    """``((model class, its params), (data class, its params), trainer_params, plugin_params)`` from a
    params tree, every value checked by its params class; nothing is built (no TensorFlow runs)."""
    from trainrig.train.params import TrainerParams

    unknown = set(tree) - {"model", "data", "trainer", "plugins"}
    if unknown:
        raise TrainrigError(
            f"unknown config section {sorted(unknown)[0]!r}; sections: 'model', 'data', 'trainer', 'plugins'"
        )
    for section, flag in (("model", "--model"), ("data", "--data")):
        if not (tree.get(section) or {}).get("class"):
            raise TrainrigError(f"no {section} class given: pass {flag} PKG.MOD:Class or set {section}.class in --config")
    model_cls = import_user_class(tree["model"]["class"], "model", "ModelBase")
    data_cls = import_user_class(tree["data"]["class"], "data", "DataBase")
    model_params, data_params = section_params(tree, "model", model_cls), section_params(tree, "data", data_cls)
    trainer_params = from_dict(TrainerParams, tree.get("trainer") or {}, "trainer")
    plugin_params = resolve_plugin_params(plugins, (tree.get("plugins") or {}).get("params") or {})
    return (model_cls, model_params), (data_cls, data_params), trainer_params, plugin_params
