"""Open a finished or interrupted run for ``lav``, ``predict`` and ``export``: rebuilt from its params,
with the weights of its final export, its best export or its newest checkpoint."""

from __future__ import annotations

from pathlib import Path

from trainrig.errors import TrainrigError, one_of
from trainrig.run_dir import RunDir

WEIGHT_SOURCES = ("export", "best", "latest")


def add_run_arguments(parser) -> None:
    """The ``OUTPUT|EXPORT`` argument and ``--weights`` that ``lav`` and ``predict`` share."""
    parser.add_argument("path", metavar="OUTPUT|EXPORT", help="a run directory, or its export/ or best/")
    parser.add_argument(
        "--weights",
        choices=WEIGHT_SOURCES,
        help="which weights: the final export (default; best/ when the path is OUTPUT/best) or the newest checkpoint",
    )


def find_run(path: str | Path) -> tuple[RunDir, str | None]:
    """The run a path belongs to (OUTPUT, OUTPUT/export, OUTPUT/best or a .keras file in them) and,
    when the path names an export, which one (``"export"`` or ``"best"``)."""
    path = Path(path).resolve()
    for candidate in (path, path.parent, path.parent.parent):
        run = RunDir(candidate)
        if run.is_run():
            inside = path.relative_to(candidate).parts[:1]
            return run, inside[0] if inside and inside[0] in ("export", "best") else None
    raise TrainrigError(f"{path} is not a trainrig run, nor an export inside one (no params.json found)")


def open_run(path: str | Path, weights: str | None = None):
    """A prepared :class:`~trainrig.Trainer` of the run at ``path`` holding the chosen weights."""
    from trainrig.train.trainer import Trainer

    run, named = find_run(path)
    weights = weights or named or "export"
    if weights not in WEIGHT_SOURCES:
        raise TrainrigError(f"--weights must be {one_of(WEIGHT_SOURCES)}, got {weights!r}")
    trainer = Trainer.reopen(run.root, progress="none", **one_process(run))
    trainer.prepare()
    if weights == "latest":
        trainer.checkpoints.require_latest()
    else:
        _load_exported_weights(trainer, run.root / weights)
    return trainer


def one_process(run: RunDir) -> dict:
    """Overrides that reopen a run trained on several workers (``multi_worker``) in this one process."""
    from trainrig.experiment import read_json

    trainer = read_json(run.params_json, "params file").get("trainer", {})
    return {"strategy": "default", "devices": 0} if trainer.get("strategy") == "multi_worker" else {}


def _load_exported_weights(trainer, directory: Path) -> None:
    from trainrig.export.loader import load_model

    if not (directory / "default.keras").is_file():
        raise TrainrigError(f"{directory} holds no default.keras; was the run exported? (try --weights latest)")
    exported = load_model(directory).get_weights()
    model_weights = trainer.keras_model.get_weights()
    if len(exported) != len(model_weights) or any(a.shape != b.shape for a, b in zip(exported, model_weights)):
        raise TrainrigError(
            f"{directory}/default.keras is not the whole model (its _export_graphs changed 'default'); use --weights latest"
        )
    trainer.keras_model.set_weights(exported)
