"""The hook specifications a trainrig plugin may implement, grouped by the phase of a run.

A plugin is a module or object with functions decorated by ``@trainrig.hookimpl`` whose names are
those below; it implements any subset and may accept any subset of each hook's arguments. Built-in
features are registered through these same hooks (see ``trainrig.hooks.builtin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from trainrig.hooks.markers import hookspec

if TYPE_CHECKING:
    import keras

    from trainrig.model.base import ModelBase
    from trainrig.train.trainer import Trainer


# --- set-up: before the first step --------------------------------------------------------------


@hookspec
def trainrig_register_augmentations() -> dict[str, Callable[..., Any]]:
    """Contribute data augmentations by name.

    Called once per run, before the training sequence is built. Return ``{name: factory}`` where
    ``factory(**options)`` returns an augmentator: an object with ``random_transform(x, seed=None)``
    that maps ONE sample (no batch axis) to an array of the same shape.
    """


@hookspec
def trainrig_register_callbacks(trainer: Trainer) -> list[keras.callbacks.Callback]:
    """Contribute keras callbacks to a run.

    Called once per run after the model is built, before training starts. The callbacks of all
    plugins run after trainrig's base callbacks (so their ``logs`` hold every loss, metric and
    validation value) and before the user's own callbacks. A callback that defines
    ``get_state()``/``set_state(state)`` has its state saved with every checkpoint.
    """


# --- end: exporting ------------------------------------------------------------------------------


@hookspec
def trainrig_register_export_graphs(
    model: ModelBase, inputs: dict, outputs: dict, targets: dict
) -> dict[str, keras.Model]:
    """Contribute graphs to export, by name.

    Called once per run after the model is built. ``inputs``, ``outputs`` and ``targets`` are dicts of
    symbolic keras tensors of the run's model (build ``keras.Model(inputs, outputs[...])`` from them).
    Every returned graph is written to ``best/`` and ``export/`` as ``<name>.keras`` and as a
    SavedModel ``<name>/``. Graph names must be unique across plugins.
    """
