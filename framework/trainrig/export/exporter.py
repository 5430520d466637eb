"""Write a set of graphs to a directory atomically: ``<graph>.keras``, ``<graph>/`` SavedModel, ``trainrig.json``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras

from trainrig.export.custom_objects import custom_objects_of

MANIFEST = "trainrig.json"


class Exporter:
    """Exports the same graphs (sharing the run's weights) to ``best/`` or ``export/``."""

    def __init__(
        self, graphs: dict[str, keras.Model], additional_objects: list, model_path: str, plugins=None, context=None
    ):
        self.graphs = graphs
        self.plugins = plugins
        self.context = context
        self.custom_objects = custom_objects_of(graphs, additional_objects)
        self.model_path = model_path

    def export(self, directory: Path, kind: str, extra: dict | None = None) -> None:
        """Write every graph into ``directory``, replacing it only once the new export is complete.

        ``kind`` (``"best"`` or ``"final"``) is passed on to plugins' ``trainrig_export_written``. If a
        plugin fails there, the graphs (complete by then) are still swapped in and the error is raised
        afterwards, so a plugin never costs the export itself.
        """
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it owner-only; exports are read by servers too
        try:
            for name, graph in self.graphs.items():
                graph.save(staging / f"{name}.keras")
                graph.export(str(staging / name), verbose=False)
            manifest = {
                "graphs": list(self.graphs),
                "custom_objects": self.custom_objects,
                "model": self.model_path,
                "kind": kind,
                **(extra or {}),
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        plugin_error = None
        if self.plugins is not None:
            try:
                self.plugins.call(
                    "trainrig_export_written", directory=staging, graphs=self.graphs, kind=kind, trainer=self.context
                )
            except Exception as e:  # keep the graphs, report the plugin after the swap
                plugin_error = e
        _replace_dir(staging, directory)
        if plugin_error is not None:
            raise plugin_error


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` into place of ``target``; at every instant one complete copy exists on disk."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
