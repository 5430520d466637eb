"""What plugins contribute to a run: their sequences, export graphs and callbacks, each checked.

Each function calls one hook through the plugin manager (pluggy's call loop, so hook wrappers and
``tryfirst``/``trylast`` apply) and checks what came back; a wrong return type or a name registered
twice is a one-line error naming the plugin.
"""

from __future__ import annotations

from typing import Any

import keras

from trainrig.context import RunContext
from trainrig.hooks.manager import PluginManager
from trainrig.model.base import ModelBase
from trainrig.train.build import BuiltModel


def plugged_sequence(plugins: PluginManager, hook_name: str, sequence: Any, context: RunContext) -> Any:
    """The data's sequence as replaced or wrapped by plugins, each in turn
    (``trainrig_train_sequence`` or ``trainrig_val_sequence``)."""
    return plugins.chain(hook_name, "sequence", sequence, trainer=context)


def export_graphs(plugins: PluginManager, model: ModelBase, built: BuiltModel, context: RunContext) -> dict[str, keras.Model]:
    """``{name: keras.Model}`` of every plugin's ``trainrig_register_export_graphs`` (the model's own included)."""
    return plugins.named_contributions(
        "trainrig_register_export_graphs",
        what="export graph",
        expected="a dict of name -> keras.Model",
        valid=lambda result: isinstance(result, dict) and all(isinstance(g, keras.Model) for g in result.values()),
        model=model,
        inputs=built.inputs,
        outputs=built.outputs,
        targets=built.targets,
        trainer=context,
    )


def plugin_callbacks(plugins: PluginManager, context: RunContext) -> list[keras.callbacks.Callback]:
    """The callbacks of every plugin's ``trainrig_register_callbacks`` in call order (base callbacks first)."""
    callbacks = []
    for _, result in plugins.contributions(
        "trainrig_register_callbacks",
        expected="a list of keras.callbacks.Callback",
        valid=lambda result: isinstance(result, (list, tuple))
        and all(isinstance(c, keras.callbacks.Callback) for c in result),
        trainer=context,
    ):
        callbacks.extend(result)
    return callbacks
