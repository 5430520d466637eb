"""Helpers for testing plugins and models: register a plugin for the duration of a block."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from trainrig.hooks.manager import PluginManager, plugin_manager


@contextlib.contextmanager
def registered_plugin(plugin: Any, name: str | None = None, manager: PluginManager | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module, class instance or namespace with ``@trainrig.hookimpl`` functions)
    with the process-wide plugin manager inside the ``with`` block, and unregister it afterwards::

        with trainrig.testing.registered_plugin(MyPlugin()):
            trainrig.Trainer(params, model, data).train()
    """
    manager = manager or plugin_manager()
    registered = manager.register(plugin, name=name)
    try:
        yield registered
    finally:
        manager.unregister(registered)
