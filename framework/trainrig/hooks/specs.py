"""The hook specifications a trainrig plugin may implement, grouped by the phase of a run.

A plugin is a module (or object) with functions decorated by ``@trainrig.hookimpl`` whose names are
those below; it implements any subset and may accept any subset of each hook's arguments, by name.
trainrig's own features are registered through these same hooks (``trainrig.hooks.builtin``), so a
plugin can extend or replace them. Every hook here is called by trainrig as documented; a hook
returning ``None`` contributes nothing.

The argument ``trainer`` is the run's :class:`~trainrig.context.RunContext` (params, model, data,
run directory, keras model, optimizer, strategy, history, plugin params, ...; its docstring says
which fields each phase has set).

With ``trainer.strategy multi_worker`` every hook is called on every worker process, in the same
order. ``trainer.is_chief`` tells whether this process is the one that writes the run's files
(``trainer.cluster`` has its ``index`` among ``workers``); on the others ``trainer.run_dir`` is a
scratch directory removed when they end, so a plugin that writes under ``trainer.run_dir`` needs no
check. A plugin that writes elsewhere, or reports to a service, should do so on the chief only; a
plugin must not run TensorFlow collectives (reading a metric, a save) on the chief only, or the
other workers wait for it forever.

Hooks are called through pluggy's own call loop, so pluggy's options work as pluggy documents them:
``@trainrig.hookimpl(tryfirst=True)`` / ``trylast=True`` order an implementation, and
``@trainrig.hookimpl(wrapper=True)`` (or the older ``hookwrapper=True``) wraps every other
implementation of a hook: its ``result = yield`` receives what they returned (for the
``trainrig_register_*`` hooks a list, one entry per plugin) and what it returns is the hook's result.
``optionalhook=True`` lets a plugin implement a hook that this version of trainrig does not define.
An exception raised by an implementation becomes a one-line error naming the plugin and the hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from trainrig.hooks.markers import hookspec

if TYPE_CHECKING:
    import keras

    from trainrig.context import RunContext
    from trainrig.model.base import ModelBase


# --- configuration: while the command line and params are read ----------------------------------


@hookspec
def trainrig_register_params() -> dict[str, type]:
    """Contribute params classes, one section per name.

    Called when the command line is parsed and when a run's params are read. Return
    ``{section: ParamsClass}`` (an attrs class, see :func:`trainrig.define`); each field becomes an
    option ``--plugins.<section>.<field>``, is saved in ``params.json`` under ``plugins`` and is
    available to the plugin as ``trainer.plugin_params[section]`` during the run.
    """


# --- set-up: after the model is built, before the first step ---------------------------------------


@hookspec
def trainrig_register_augmentations() -> dict[str, Callable[..., Any]]:
    """Contribute data augmentations by name.

    Called once per run when ``trainer.augmentation`` is set (and by ``trainrig.build_augmentation``
    and ``trainrig plugins --all``), before the training sequence is built. Return ``{name: factory}``
    where ``factory(**options)`` returns an augmentator: an object with ``random_transform(x,
    seed=None)`` that maps ONE sample (no batch axis) to an array of the same shape, and preferably
    ``random_transform_batch(x, seeds)`` for a whole batch (subclass
    :class:`trainrig.BatchAugmentation`; see :mod:`trainrig.data.augmentators`). The factory's
    signature is the list of valid options (an unknown option is an error naming them). Importing the
    plugin module should not import TensorFlow: import what the factories need inside the hook.
    """


@hookspec
def trainrig_train_sequence(trainer: RunContext, sequence: Any) -> Any:
    """Replace or wrap the training sequence.

    Called once per run with the sequence the data returned (or the previous plugin's result), before
    the model is built from its first batch. Return the new sequence (a ``keras.utils.PyDataset`` or
    ``tf.data.Dataset`` of ``(inputs, targets)`` dict batches) or ``None`` to keep it.
    """


@hookspec
def trainrig_val_sequence(trainer: RunContext, sequence: Any) -> Any:
    """Replace or wrap the validation sequence.

    Called once per run, right after :func:`trainrig_train_sequence`, with the data's validation
    sequence (or the previous plugin's result). Return the new sequence or ``None`` to keep it.
    """


@hookspec
def trainrig_register_callbacks(trainer: RunContext) -> list[keras.callbacks.Callback]:
    """Contribute keras callbacks to a run.

    Called once per run after the model is built, before training starts. The callbacks of all
    plugins run after trainrig's base callbacks (so their epoch-end ``logs`` hold every loss, metric
    and validation value) and before the user's own callbacks. A callback that defines
    ``get_state()``/``set_state(state)`` has its state saved with every checkpoint.
    """


@hookspec
def trainrig_run_start(trainer: RunContext) -> None:
    """Called once the run is set up (model, optimizer, callbacks), just before the first step."""


# --- end: exporting and finishing ------------------------------------------------------------------


@hookspec
def trainrig_register_export_graphs(
    model: ModelBase, inputs: dict, outputs: dict, targets: dict, trainer: RunContext
) -> dict[str, keras.Model]:
    """Contribute graphs to export, by name.

    Called once per run after the model is built (before ``trainrig_register_callbacks``; the graphs
    are ``trainer.exporter.graphs`` from then on). ``inputs``, ``outputs`` and ``targets`` are dicts of
    symbolic keras tensors of the run's model (build ``keras.Model(inputs, outputs[...])`` from them;
    a graph may also hold layers of its own, such as averaged weights). Every returned graph is written
    to ``best/`` and ``export/`` as ``<name>.keras`` and a SavedModel ``<name>/``. Graph names must be
    unique across plugins.
    """


@hookspec
def trainrig_export_written(directory: Path, graphs: dict[str, keras.Model], kind: str, trainer: RunContext) -> None:
    """Called after every graph was written into ``directory`` during an export.

    ``kind`` is ``"best"`` (a new best model, written to ``best/``) or ``"final"`` (``export/``);
    ``trainer`` is the run context (that of the reopened run for ``trainrig export``). If the hook raises,
    the export is kept (swapped in as usual) and the error is reported afterwards.
    ``directory`` is the staging directory that is swapped in place of ``best/`` or ``export/`` once
    this hook returns, so files a plugin writes there (say ``<graph>.tflite``) appear atomically with
    the export.
    """


@hookspec
def trainrig_run_end(trainer: RunContext, history: dict[str, list[float]]) -> None:
    """Called once after training finished and the final export was written."""


@hookspec
def trainrig_run_error(trainer: RunContext, error: BaseException) -> None:
    """Called when a run stops with an exception (before it propagates); must not raise."""
