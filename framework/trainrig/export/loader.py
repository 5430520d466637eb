"""``load_model``: reload an exported graph in any process, importing its custom objects by path."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from trainrig.errors import TrainrigError, one_of
from trainrig.export.exporter import MANIFEST
from trainrig.imports import import_object


def resolve_export(path: str | Path, graph: str = "default") -> Path:
    """The ``.keras`` file for a run dir, an export dir (``export/``, ``best/``) or a ``.keras`` file."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".keras":
            raise TrainrigError(f"{path} is not a .keras file; give a run directory, an export directory or a .keras file")
        return path
    if (path / "export" / MANIFEST).is_file():
        path = path / "export"
    if not (path / MANIFEST).is_file():
        raise TrainrigError(f"{path} is neither a run directory, an export directory (with {MANIFEST}) nor a .keras file")
    graphs = json.loads((path / MANIFEST).read_text())["graphs"]
    if graph not in graphs:
        raise TrainrigError(f"{path} has no graph {graph!r}; graphs: {one_of(graphs)}")
    return path / f"{graph}.keras"


def load_model(path: str | Path, graph: str = "default") -> keras.Model:
    """Reload an exported graph (Keras safe mode stays on).

    ``path`` is a run directory (its ``export/``), an export directory such as ``OUTPUT/best`` or a
    ``<graph>.keras`` file. The custom classes recorded at export are imported by module path, so
    the caller need not import them first; their modules must be importable.
    """
    file = resolve_export(path, graph)
    manifest_file = file.parent / MANIFEST
    custom_objects = {}
    if manifest_file.is_file():
        for name, object_path in json.loads(manifest_file.read_text()).get("custom_objects", {}).items():
            custom_objects[name] = import_object(object_path, what="custom object")
    return keras.saving.load_model(file, custom_objects=custom_objects, compile=False, safe_mode=True)
