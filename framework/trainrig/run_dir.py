"""The layout of one run's output directory (see README, "Output directory")."""

from __future__ import annotations

from pathlib import Path


class RunDir:
    """Paths inside ``OUTPUT/``: params.json, checkpoints/, best/, export/, tensorboard/{train,validation}/."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def params_json(self) -> Path:
        return self.root / "params.json"

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
