"""``load_model``: reload an exported graph in any process, importing its custom objects by path."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras

from trainrig.errors import TrainrigError, one_of
from trainrig.export.custom_objects import FRAMEWORK_PACKAGES, load_keras_file
from trainrig.export.exporter import MANIFEST


EXPORTS = {"final": "export", "best": "best"}


def resolve_export(path: str | Path, graph: str = "default", weights: str = "final") -> Path:
    """The ``.keras`` file of ``graph`` for a run directory (its final export, or with ``weights="best"``
    its best model), an export directory (``OUTPUT/export``, ``OUTPUT/best``) or a ``.keras`` file.

    ``trainrig.model_path(run_dir, weights="best")`` is where a run's best model is.
    """
    path = Path(path)
    if weights not in EXPORTS:
        raise TrainrigError(f"weights must be {one_of(EXPORTS)}, got {weights!r}")
    if path.is_file():
        if path.suffix != ".keras":
            raise TrainrigError(f"{path} is not a .keras file; give a run directory, an export directory or a .keras file")
        return path
    if (path / EXPORTS[weights] / MANIFEST).is_file():
        path = path / EXPORTS[weights]
    if not (path / MANIFEST).is_file():
        raise TrainrigError(f"{path} is neither a run directory, an export directory (with {MANIFEST}) nor a .keras file")
    graphs = json.loads((path / MANIFEST).read_text())["graphs"]
    if graph not in graphs:
        raise TrainrigError(f"{path} has no graph {graph!r}; graphs: {one_of(graphs)}")
    return path / f"{graph}.keras"


model_path = resolve_export


def load_model(path: str | Path, graph: str = "default", weights: str = "final") -> keras.Model:
    """Reload an exported graph (Keras safe mode stays on).

    ``path`` is a run directory (its ``export/``; ``weights="best"``: its ``best/``), an export
    directory such as ``OUTPUT/best`` or a ``<graph>.keras`` file. The custom classes recorded at
    export are imported by module path, so the caller need not import them first; their modules
    must be importable.
    """
    file = resolve_export(path, graph, weights)
    manifest_file = file.parent / MANIFEST
    if manifest_file.is_file():
        paths = json.loads(manifest_file.read_text()).get("custom_objects", {})
    else:
        paths = _custom_objects_in_config(file)
    try:
        return load_keras_file(file, paths)
    except (TypeError, ValueError) as e:
        raise TrainrigError(f"cannot load {file}: {str(e).strip().splitlines()[0]}") from e


def _custom_objects_in_config(file: Path) -> dict[str, str]:
    """Custom classes named in a ``.keras`` file's own config (for a file copied out of its export)."""
    try:
        with zipfile.ZipFile(file) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise TrainrigError(f"{file} is not a valid .keras archive: {e}") from None
    found: dict[str, str] = {}

    def walk(node):
        if isinstance(node, dict):
            module, name = node.get("module"), node.get("class_name")
            if isinstance(module, str) and isinstance(name, str) and module.split(".", 1)[0] not in FRAMEWORK_PACKAGES:
                found[node.get("registered_name") or name] = f"{module}:{name}"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found
