"""The layout of one run's output directory (see README, "Output directory").

trainrig writes only these entries of ``OUTPUT/``: ``params.json``, ``metrics.jsonl``,
``checkpoints/``, ``best/``, ``export/``, ``tensorboard/``, the lock file ``.trainrig.lock`` (while a
command runs) and,
while it works, hidden staging entries beginning with ``.export.``, ``.best.`` or ``.metrics.jsonl.`` and a
``STOP`` request. ``--trainer.overwrite true`` removes exactly those of a previous run (the lock
file excepted) and nothing else: files a plugin or the user put there stay.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from trainrig.errors import TrainrigError

_OWNED = ("params.json", "metrics.jsonl", "checkpoints", "best", "export", "tensorboard", "STOP")
_OWNED_HIDDEN_PREFIXES = (".export.", ".best.", ".metrics.jsonl.", ".trainrig-overwritten-")
_ASIDE = ".trainrig-overwritten-"


class RunDir:
    """Paths inside ``OUTPUT/``: params.json, checkpoints/, best/, export/, tensorboard/{train,validation}/."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def params_json(self) -> Path:
        return self.root / "params.json"

    @property
    def metrics_jsonl(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best(self) -> Path:
        return self.root / "best"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def tensorboard_run(self, name: str) -> Path:
        return self.tensorboard / name

    def is_run(self) -> bool:
        return self.params_json.is_file()

    # --- creating and clearing ----------------------------------------------------------------------

    def create(self) -> list[Path]:
        """Make sure ``OUTPUT/`` exists and takes files; return the directories this call created.

        A path that cannot be used (a file in the way, no permission, a read-only or virtual file
        system) is a one-line :class:`TrainrigError` naming the path and the reason.
        """
        if self.root.exists() and not self.root.is_dir():
            raise TrainrigError(f"output directory {self.root} cannot be used: it is a file, not a directory")
        missing = [p for p in (self.root, *self.root.parents) if not p.exists()]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root, prefix=".trainrig-probe-"):
                pass
        except OSError as e:
            where = f" ({e.filename})" if e.filename and Path(e.filename) != self.root else ""
            self.remove_if_empty(missing)
            raise TrainrigError(
                f"output directory {self.root} cannot be used: {e.strerror or e}{where}; choose another --trainer.output_dir"
            ) from None
        return missing

    @staticmethod
    def remove_if_empty(created: list[Path]) -> None:
        """Remove directories (innermost first) that :meth:`create` made, if they are still empty."""
        for path in created:
            try:
                path.rmdir()
            except OSError:
                return


    def owned_entries(self) -> list[Path]:
        """The entries of ``OUTPUT/`` that trainrig writes (the lock file excepted)."""
        if not self.root.is_dir():
            return []
        return sorted(
            entry
            for entry in self.root.iterdir()
            if entry.name in _OWNED or entry.name.startswith(_OWNED_HIDDEN_PREFIXES)
        )

    def clear_previous_run(self) -> list[str]:
        """Remove every entry a previous run wrote (see the module docstring); return their names.

        Each entry is first renamed into one hidden directory (a rename is atomic, so a kill leaves
        every entry either in place or aside), then that directory is removed; an aside directory
        left by a kill is removed by the next overwrite.
        """
        entries = self.owned_entries()
        if not entries:
            return []
        aside = self.root / f"{_ASIDE}{os.getpid()}"
        aside.mkdir(exist_ok=True)
        for entry in entries:
            if entry != aside:
                os.replace(entry, aside / entry.name)
        shutil.rmtree(aside, ignore_errors=True)
        return [entry.name for entry in entries]
