"""Find, register and call plugins: built-in ones first, then those installed under the ``trainrig`` entry point."""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

import pluggy

from trainrig.errors import TrainrigError
from trainrig.hooks import specs
from trainrig.hooks.markers import PROJECT

ENTRY_POINT_GROUP = "trainrig"
BUILTIN_PLUGINS = (
    "trainrig.hooks.builtin.base_callbacks",
    "trainrig.hooks.builtin.default_export",
)


class PluginManager:
    """The plugins of this process and one way to call a hook: each plugin in turn, errors named."""

    def __init__(self, load_entry_points: bool = True):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(specs)
        for module_name in BUILTIN_PLUGINS:
            self.pm.register(importlib.import_module(module_name), name=module_name)
        if load_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.pm.has_plugin(entry_point.name):
                continue
            dist = entry_point.dist.name if entry_point.dist else "?"
            try:
                plugin = entry_point.load()
            except Exception as e:
                raise TrainrigError(
                    f"plugin {entry_point.name!r} (distribution {dist}, entry point {entry_point.value}) "
                    f"failed to load: {type(e).__name__}: {e}"
                ) from e
            self.pm.register(plugin, name=entry_point.name)

    def register(self, plugin: Any, name: str | None = None) -> str:
        return self.pm.register(plugin, name=name)

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)

    def call_each(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call one hook on every plugin in pluggy's order; return ``[(plugin name, result)]``.

        ``None`` results are dropped. An exception in a plugin becomes a one-line error naming it.
        """
        caller = getattr(self.pm.hook, hook_name)
        results = []
        for impl in reversed(caller.get_hookimpls()):
            try:
                result = impl.function(**{name: kwargs[name] for name in impl.argnames})
            except TrainrigError:
                raise
            except Exception as e:
                raise TrainrigError(f"plugin {impl.plugin_name!r} failed in {hook_name}: {type(e).__name__}: {e}") from e
            if result is not None:
                results.append((impl.plugin_name, result))
        return results


_default: PluginManager | None = None


def plugin_manager() -> PluginManager:
    """The process-wide plugin manager (built on first use)."""
    global _default
    if _default is None:
        _default = PluginManager()
    return _default
