"""Warm start: load a previous run's or model's weights into a new run's model before it trains.

Variables are named as in Keras' own weights files (``model.weights.h5`` inside a ``.keras`` file, or a
``.weights.h5`` file): ``layers/<layer>/<attribute>/.../vars/<index>``, e.g.
``layers/digits_graph/logits/vars/0`` for the kernel of the layer the graph keeps as ``self.logits``.
These names come from the model's structure, not from Keras' process-wide layer counters, so they are
the same in every process. The weights are read from the source as such a file; the new model's own
weights file is written, the matching entries replaced, and read back with ``load_weights`` — Keras
itself decides which variable an entry belongs to.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np

from trainrig.errors import TrainrigError
from trainrig.train.params import WarmStartParams

WEIGHTS_IN_KERAS_FILE = "model.weights.h5"
MODEL_PREFIX = "layers/"


@dataclass
class WarmStartReport:
    """What a warm start loaded (``loaded``) and what it left at the initial value, and why."""

    source: str
    loaded: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # not in the source
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (name, expected, found)
    unused: list[str] = field(default_factory=list)  # source variables that went nowhere

    def summary(self) -> str:
        total = len(self.loaded) + len(self.excluded) + len(self.missing) + len(self.mismatched)
        line = f"warm start from {self.source}: loaded {len(self.loaded)} of {total} variables"
        kept = [*self.excluded, *self.missing, *(name for name, _, _ in self.mismatched)]
        if kept:
            line += f"; left at their initial values: {', '.join(kept)}"
        return line


def _datasets(h5: h5py.File) -> dict[str, h5py.Dataset]:
    """The model's variables in a Keras weights file (``layers/...``; an optimizer's are left out)."""
    found: dict[str, h5py.Dataset] = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and name.startswith(MODEL_PREFIX):
            found[name] = item

    h5.visititems(visit)
    return found


def _h5_arrays(file) -> dict[str, np.ndarray]:
    with h5py.File(file, "r") as h5:
        return {name: dataset[()] for name, dataset in _datasets(h5).items()}


def _keras_file_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(WEIGHTS_IN_KERAS_FILE)
    except (zipfile.BadZipFile, KeyError) as e:
        raise TrainrigError(f"trainer.warm_start.path {path} is not a valid .keras file ({e})") from None
    return _h5_arrays(io.BytesIO(data))


def _checkpoint_arrays(run: Path) -> dict[str, np.ndarray]:
    """The newest checkpoint's model weights, named through the run's exported model (its structure)."""
    from trainrig.checkpoint.store import CheckpointStore
    from trainrig.export.loader import load_model
    from trainrig.run_dir import RunDir

    run_dir = RunDir(run)
    loaded = CheckpointStore(run_dir.checkpoints).load_latest()
    if loaded is None:
        raise TrainrigError(f"trainer.warm_start.path {run} has no usable checkpoint (weights latest)")
    _, arrays, state = loaded
    skeleton_dir = next((d for d in (run_dir.best, run_dir.export) if (d / "default.keras").is_file()), None)
    if skeleton_dir is None:
        raise TrainrigError(
            f"trainer.warm_start.weights latest needs {run}/best or {run}/export to read the model's structure"
        )
    skeleton = load_model(skeleton_dir)
    values = [arrays[f"model/{i}"] for i in range(len(state["layout"]["model"]))]
    if len(values) != len(skeleton.variables) or any(tuple(a.shape) != tuple(v.shape) for a, v in zip(values, skeleton.variables)):
        raise TrainrigError(f"the newest checkpoint of {run} does not fit its exported model; use weights best or final")
    for variable, value in zip(skeleton.variables, values):
        variable.assign(value)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "latest.weights.h5"
        skeleton.save_weights(file)
        return _h5_arrays(file)


def source_arrays(params: WarmStartParams) -> tuple[str, dict[str, np.ndarray]]:
    """``(what was read, {variable name: array})`` of the warm-start source; one-line errors."""
    from trainrig.export.loader import resolve_export

    path = Path(params.path)
    if not path.exists():
        raise TrainrigError(f"trainer.warm_start.path {path} does not exist")
    if path.is_dir() and (path / "params.json").is_file() and params.weights == "latest":
        return f"{path} (newest checkpoint)", _checkpoint_arrays(path)
    if path.is_dir():
        try:
            file = resolve_export(path, weights="best" if params.weights == "best" else "final")
        except TrainrigError:
            where = "best/" if params.weights == "best" else "export/"
            raise TrainrigError(
                f"trainer.warm_start.path {path} is neither a run with a {where} export (weights {params.weights}) "
                "nor an export directory"
            ) from None
        return str(file), _keras_file_arrays(file)
    if path.name.endswith(".weights.h5"):
        return str(path), _h5_arrays(path)
    if path.suffix == ".keras":
        return str(path), _keras_file_arrays(path)
    raise TrainrigError(
        f"trainer.warm_start.path {path} is neither a run directory, an export directory, a .keras file nor a .weights.h5 file"
    )


def _rename_rules(rules: list[str]) -> list[tuple[str, str]]:
    parsed = []
    for rule in rules:
        old, sep, new = rule.partition("=")
        if not sep or not old:
            raise TrainrigError(f"trainer.warm_start.rename: {rule!r} must be 'old_prefix=new_prefix'")
        parsed.append((old, new))
    return parsed


def _renamed(name: str, rules: list[tuple[str, str]]) -> str:
    for old, new in rules:
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def _patterns(expressions: list[str], option: str) -> list[re.Pattern]:
    try:
        return [re.compile(e) for e in expressions]
    except re.error as e:
        raise TrainrigError(f"trainer.warm_start.{option}: not a regular expression ({e})") from None


def warm_start(params: WarmStartParams, model: keras.Model) -> WarmStartReport:
    """Load the matching variables of ``params.path`` into ``model``; return what was done.

    Raises a one-line :class:`TrainrigError` when nothing matches, and — unless ``allow_partial`` —
    when a variable's shape differs or a variable that is not excluded has no source.
    """
    rules = _rename_rules(params.rename)
    include, exclude = _patterns(params.include, "include"), _patterns(params.exclude, "exclude")
    described, source = source_arrays(params)
    by_target_name = {_renamed(name, rules): name for name in source}
    report = WarmStartReport(source=described)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "target.weights.h5"
        model.save_weights(file)
        with h5py.File(file, "r+") as h5:
            for name, dataset in _datasets(h5).items():
                if (include and not any(p.search(name) for p in include)) or any(p.search(name) for p in exclude):
                    report.excluded.append(name)
                elif name not in by_target_name:
                    report.missing.append(name)
                elif tuple(source[by_target_name[name]].shape) != tuple(dataset.shape):
                    report.mismatched.append((name, tuple(dataset.shape), tuple(source[by_target_name[name]].shape)))
                else:
                    dataset[...] = source[by_target_name[name]]
                    report.loaded.append(name)
        used = {by_target_name[name] for name in report.loaded}
        report.unused = sorted(set(source) - used)
        _check(report, params)
        model.load_weights(file)
    return report


def _check(report: WarmStartReport, params: WarmStartParams) -> None:
    if not report.loaded:
        raise TrainrigError(
            f"warm start from {report.source}: no variable matches the model's (model: "
            f"{', '.join([*report.missing, *(n for n, _, _ in report.mismatched)][:6]) or 'none left after include/exclude'}; "
            f"source: {', '.join(report.unused[:6])}); use trainer.warm_start.rename 'old_prefix=new_prefix'"
        )
    if params.allow_partial:
        return
    problems = [f"{name} expects {list(want)}, found {list(found)}" for name, want, found in report.mismatched]
    problems += [f"{name} is not in the source" for name in report.missing]
    if problems:
        raise TrainrigError(
            f"warm start from {report.source}: {len(problems)} variables do not match: {'; '.join(problems)}; "
            "exclude them (trainer.warm_start.exclude), rename them, or pass --trainer.warm_start.allow_partial true"
        )
