"""Freeze training: which layers train in which epoch, applied at epoch starts inside one continuous run.

A :class:`FreezePlan` turns ``TrainerParams.freeze`` into the set of frozen layers of every epoch (a
pure function of the epoch, the params and the run seed); :class:`FreezeController` applies it at the
start of each epoch, before the callbacks' ``on_epoch_begin`` and the first step:

- ``layer.trainable`` is set on every layer (parents before children; a layer trains only if it and
  all its ancestors are unfrozen), so a frozen layer's variables leave ``trainable_variables``: its
  weights stay bit-identical. Keras' convention holds for ``BatchNormalization``: a frozen one runs
  in inference mode, so its moving statistics stay unchanged too.
- the compiled steps are retraced when the trainable set changes (a ``tf.function`` captures it);
  the optimizer was built over every trainable-by-nature variable once, so its slots stay valid;
- a step's ``learning_rate`` is assigned to the optimizer when its epoch starts;
- the change is printed (one line), published as ``context.freeze`` (frozen layers, the change and
  its epoch; the TensorBoard logger writes it as text) and ``logs["frozen_layers"]`` (their count)
  reaches every callback at epoch end.

Layers are named by path inside the user's graph: the attribute that holds a layer (``self.conv1`` is
``conv1``; a sublayer of ``self.encoder`` is ``encoder/dense``) or, in a functional model, the layer's
own name. A pattern is a layer's path, its last path part, its own Keras name, a regular expression
matching whole paths (``encoder/.*``), or ``"all"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import keras
import numpy as np

from trainrig.errors import TrainrigError
from trainrig.log_keys import FROZEN_LAYERS
from trainrig.train.params import FreezeParams

ALL = "all"


def _children(layer) -> list[tuple[str, keras.layers.Layer]]:
    """The direct sublayers of ``layer`` with their names: the attribute that holds one (``self.conv1``;
    ``blocks/0`` for an item of a list attribute), else the sublayer's own name (a functional model's layers)."""
    attributes: dict[int, str] = {}
    for attribute, value in vars(layer).items():
        if attribute.startswith("_"):
            continue
        if isinstance(value, keras.layers.Layer):
            attributes.setdefault(id(value), attribute)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, keras.layers.Layer):
                    attributes.setdefault(id(item), f"{attribute}/{i}")
    return [
        (attributes.get(id(child), child.name), child)
        for child in layer._flatten_layers(include_self=False, recursive=False)
        if not isinstance(child, keras.layers.InputLayer)
    ]


def layer_paths(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Every layer inside ``model`` by path, parents before their children.

    Paths start inside the user's graph when the model holds just that one layer (the usual case), so
    they do not carry the graph's own name: ``conv1``, ``encoder/dense``.
    """
    paths: dict[str, keras.layers.Layer] = {}
    seen: set[int] = set()

    def visit(layer, prefix: str) -> None:
        for name, child in _children(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            path = f"{prefix}/{name}" if prefix else name
            paths[path] = child
            visit(child, path)

    roots = _children(model)
    visit(roots[0][1] if len(roots) == 1 else model, "")
    return paths


def _descendants(path: str, paths) -> set[str]:
    return {p for p in paths if p == path or p.startswith(path + "/")}


def _ancestors(path: str) -> set[str]:
    parts = path.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


@dataclass(frozen=True)
class Phase:
    """From ``epoch`` on (until the next phase): the frozen layer paths and the learning rate set then."""

    epoch: int
    frozen: frozenset[str]
    learning_rate: float | None = None


class FreezePlan:
    """The frozen layers of every epoch, resolved against the real model."""

    def __init__(
        self,
        params: FreezeParams,
        paths: list[str],
        initially_frozen: set[str],
        seed: int,
        epochs: int,
        layer_names: dict[str, str] | None = None,
    ):
        self.params = params
        self.paths = list(paths)
        self.layer_names = dict(layer_names or {})  # path -> the layer's own keras name
        self.initially_frozen = frozenset(initially_frozen)
        self.seed = seed
        self.epochs = epochs
        if params.strategy == "schedule":
            self._phases = self._schedule_phases()
        else:
            if not params.layers:
                raise TrainrigError(f"trainer.freeze.strategy {params.strategy} needs trainer.freeze.layers (layer patterns)")
            self._groups = [self.resolve(pattern, "trainer.freeze.layers") for pattern in params.layers]

    @property
    def active(self) -> bool:
        return self.params.strategy != "schedule" or bool(self.params.schedule)

    def resolve(self, pattern: str, where: str) -> set[str]:
        """The layer paths a pattern names, each with its sublayers; a pattern naming none is an error."""
        if pattern == ALL:
            return set(self.paths)
        matched = [
            p for p in self.paths if pattern in (p, p.rsplit("/", 1)[-1], self.layer_names.get(p))
        ]
        if not matched:
            try:
                matched = [p for p in self.paths if re.fullmatch(pattern, p)]
            except re.error as e:
                raise TrainrigError(f"{where}: {pattern!r} is not a layer name nor a valid regular expression ({e})") from None
        if not matched:
            raise TrainrigError(f"{where}: {pattern!r} matches no layer; layers: {', '.join(self.paths) or '(none)'}")
        return set().union(*(_descendants(p, self.paths) for p in matched))

    def _schedule_phases(self) -> list[Phase]:
        frozen = set(self.initially_frozen)
        phases = [Phase(0, frozenset(frozen))]
        for i, step in enumerate(self.params.schedule):
            where = f"trainer.freeze.schedule[{i}]"
            unknown = set(step) - {"epoch", "freeze", "unfreeze", "learning_rate"}
            if unknown or not isinstance(step.get("epoch"), int) or step["epoch"] < 0:
                raise TrainrigError(
                    f"{where} must be {{'epoch': E >= 0, 'freeze': [...], 'unfreeze': [...], 'learning_rate': lr}} "
                    f"(every key but epoch optional), got {step!r}"
                )
            if phases and step["epoch"] < phases[-1].epoch:
                raise TrainrigError(f"{where}: epochs must not decrease ({step['epoch']} after {phases[-1].epoch})")
            for pattern in step.get("freeze", []):
                frozen |= self.resolve(pattern, where)
            for pattern in step.get("unfreeze", []):
                released = self.resolve(pattern, where)
                frozen -= released | set().union(*(_ancestors(p) for p in released))
            rate = step.get("learning_rate")
            if rate is not None and not (isinstance(rate, (int, float)) and rate > 0):
                raise TrainrigError(f"{where}: learning_rate must be a positive number, got {rate!r}")
            phase = Phase(step["epoch"], frozenset(frozen), None if rate is None else float(rate))
            if phases[-1].epoch == phase.epoch:
                rate = phase.learning_rate if phase.learning_rate is not None else phases[-1].learning_rate
                phases[-1] = Phase(phase.epoch, phase.frozen, rate)
            else:
                phases.append(phase)
        return phases

    def phase_at(self, epoch: int) -> Phase:
        """The phase epoch ``epoch`` (0-based) trains in."""
        if self.params.strategy == "schedule":
            return [p for p in self._phases if p.epoch <= epoch][-1]
        k = epoch // self.params.interval
        n, count = len(self._groups), min(self.params.count, len(self._groups))
        if self.params.strategy == "round_robin":
            chosen = [(k * count + i) % n for i in range(count)]
        else:
            chosen = sorted(np.random.default_rng([self.seed, k]).choice(n, size=count, replace=False).tolist())
        frozen = set(self.initially_frozen).union(*(self._groups[i] for i in chosen))
        return Phase(k * self.params.interval, frozenset(frozen))

    def phases(self) -> list[Phase]:
        """Every phase of the run's epochs, in order (for the dry run)."""
        out: list[Phase] = []
        for epoch in range(self.epochs):
            phase = self.phase_at(epoch)
            if not out or phase != out[-1]:
                out.append(phase)
        return out

    def describe(self) -> str:
        """The phases as lines: epoch range, frozen layers, learning rate."""
        phases = self.phases()
        lines = [f"freeze training ({self.params.strategy}), {self.epochs} epochs, layers: {', '.join(self.paths)}"]
        for i, phase in enumerate(phases):
            last = phases[i + 1].epoch if i + 1 < len(phases) else self.epochs
            epochs = f"epoch {phase.epoch + 1}" if last == phase.epoch + 1 else f"epochs {phase.epoch + 1}-{last}"
            rate = "" if phase.learning_rate is None else f"; learning rate {phase.learning_rate:g}"
            lines.append(f"  {epochs}: frozen {_names(phase.frozen)}{rate}")
        return "\n".join(lines)


def _names(paths) -> str:
    """Frozen paths for people: a frozen layer's frozen sublayers are implied by it."""
    tops = sorted(p for p in paths if not (_ancestors(p) & set(paths)))
    return ", ".join(tops) if tops else "none"


@dataclass
class FreezeState:
    """What callbacks see of freeze training (``context.freeze``)."""

    frozen_layers: list[str] = field(default_factory=list)
    changed_at_epoch: int | None = None
    change: str = ""


class FreezeController:
    """Applies a :class:`FreezePlan` at every epoch start; its state is part of every checkpoint."""

    state_key = "trainrig.freeze"

    def __init__(self, plan: FreezePlan, model: keras.Model, optimizer, retrace, verbose: bool):
        self.plan = plan
        self.layers = layer_paths(model)
        self.optimizer = optimizer
        self.retrace = retrace
        self.state = FreezeState()
        self.verbose = verbose
        self.applied: frozenset[str] | None = None

    def begin_epoch(self, epoch: int, start_step: int) -> None:
        """Before epoch ``epoch`` trains (from ``start_step``; > 0 when resuming inside it)."""
        phase = self.plan.phase_at(epoch)
        before = self.applied or frozenset()
        if phase.frozen != self.applied:
            self._apply(phase.frozen)
        if phase.epoch == epoch and start_step == 0:  # the phase begins now (not: a resume inside it)
            if phase.learning_rate is not None:
                self.optimizer.learning_rate = phase.learning_rate
            self._announce(epoch, phase, released=before - phase.frozen)

    def logs(self) -> dict[str, float]:
        return {FROZEN_LAYERS: float(len(self.state.frozen_layers))}

    def _apply(self, frozen: frozenset[str]) -> None:
        before = self.applied
        for path, layer in self.layers.items():
            layer.trainable = path not in frozen
        self.applied = frozen
        self.state.frozen_layers = sorted(frozen)
        if before is not None:
            self.retrace()

    def _announce(self, epoch: int, phase: Phase, released: frozenset[str]) -> None:
        rate = phase.learning_rate
        change = f"frozen {_names(phase.frozen)}"
        if released:
            change += f"; released {_names(released)}"
        if rate is not None:
            change += f"; learning rate {rate:g}"
        self.state.changed_at_epoch, self.state.change = epoch, change
        if self.verbose:
            print(f"freeze: epoch {epoch + 1}: {change}", flush=True)

    def get_state(self) -> dict:
        return {"frozen": sorted(self.applied or ())}

    def set_state(self, state: dict) -> None:
        unknown = set(state["frozen"]) - set(self.layers)
        if unknown:
            raise TrainrigError(f"the checkpoint freezes layers this model does not have: {sorted(unknown)}")
        self._apply(frozenset(state["frozen"]))


class NoFreezing:
    """Stands in for a :class:`FreezeController` when freeze training is off."""

    def begin_epoch(self, epoch: int, start_step: int) -> None:
        del epoch, start_step

    def logs(self) -> dict[str, float]:
        return {}


def optimizer_variables(model: keras.Model) -> list:
    """Every variable that may ever train: trainable ones now and those of layers frozen by the model itself.

    The optimizer is built over these once, so freezing and releasing layers never changes its slots.
    """
    layers = [model, *layer_paths(model).values()]
    flags = [layer.trainable for layer in layers]
    model.trainable = True
    try:
        return list(model.trainable_variables)
    finally:
        for layer, flag in zip(layers, flags):
            layer.trainable = flag


def freeze_controller(params, model: keras.Model, optimizer, retrace, verbose: bool):
    """The controller of ``params.freeze`` (a :class:`NoFreezing` when it asks for nothing)."""
    paths = layer_paths(model)
    initially_frozen = {p for p, layer in paths.items() if not layer.trainable}
    names = {path: layer.name for path, layer in paths.items()}
    plan = FreezePlan(params.freeze, list(paths), initially_frozen, params.seed, params.epochs, names)
    if not plan.active:
        return NoFreezing()
    return FreezeController(plan, model, optimizer, retrace, verbose)
