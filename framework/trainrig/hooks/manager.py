"""Find, register, list and call plugins.

Plugins come from, in this order: trainrig's built-in plugins, the ``trainrig`` entry-point group of
installed distributions (all of them, or only those named in ``TRAINRIG_LOAD_PLUGINS``, a comma list
where an empty value loads none), and local modules given with ``--plugin pkg.module``. A name given
with ``--no-plugin NAME`` is blocked (built-in ones included, so a plugin can replace them).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from typing import Any

import pluggy

from trainrig.errors import TrainrigError
from trainrig.hooks import specs
from trainrig.hooks.markers import PROJECT

ENTRY_POINT_GROUP = "trainrig"
LOAD_ENV = "TRAINRIG_LOAD_PLUGINS"
BUILTIN_PLUGINS = (
    "trainrig.hooks.builtin.augmentations",
    "trainrig.hooks.builtin.base_callbacks",
    "trainrig.hooks.builtin.default_export",
)


def _selected_entry_points(only: list[str] | None = None) -> list[importlib.metadata.EntryPoint]:
    """Installed entry points: exactly ``only`` (a resumed run's), else ``TRAINRIG_LOAD_PLUGINS``'s, else all."""
    entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if only is not None:
        missing = sorted(set(only) - {ep.name for ep in entry_points})
        if missing:
            raise TrainrigError(f"plugin {missing[0]!r} that this run used is not installed; install it to resume the run")
        return [ep for ep in entry_points if ep.name in only]
    wanted = os.environ.get(LOAD_ENV)
    if wanted is None:
        return entry_points
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    return [ep for ep in entry_points if ep.name in names or (ep.dist and ep.dist.name in names)]


class PluginManager:
    """The plugins of this process, and a way to call a hook that names the plugin that failed."""

    def __init__(
        self,
        modules: list[str] = (),
        blocked: list[str] = (),
        load_entry_points: bool = True,
        entry_points: list[str] | None = None,
    ):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(specs)
        self.modules, self.blocked = list(modules), list(blocked)
        self.distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
        for name in self.blocked:
            self.pm.set_blocked(name)
        for module_name in BUILTIN_PLUGINS:
            self._register(importlib.import_module(module_name), module_name, ("trainrig", _version("trainrig")))
        self.entry_points: list[str] = []  # names of the installed plugins loaded
        if load_entry_points:
            for entry_point in _selected_entry_points(entry_points):
                self._load_entry_point(entry_point)
        for module_name in self.modules:
            self._load_module(module_name)
        self._check_hook_names()

    def _check_hook_names(self) -> None:
        """A ``@hookimpl`` whose name matches no hook (a typo) is an error naming the plugin."""
        for name, hook in vars(self.pm.hook).items():
            if not name.startswith("_") and not hook.has_spec():
                plugin = hook.get_hookimpls()[0].plugin_name
                valid = sorted(n for n in vars(specs) if n.startswith("trainrig_"))
                raise TrainrigError(f"{self.describe(plugin)} implements unknown hook {name!r}; hooks: {', '.join(valid)}")

    def _register(self, plugin: Any, name: str, origin: tuple[str, str]) -> None:
        if self.pm.is_blocked(name) or self.pm.has_plugin(name):
            return
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as e:
            raise TrainrigError(f"plugin {name!r} ({origin[0]} {origin[1]}) is invalid: {e}") from None
        self.distributions[name] = origin

    def _load_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> None:
        dist = entry_point.dist.name if entry_point.dist else "?"
        version = entry_point.dist.version if entry_point.dist else "?"
        if self.pm.is_blocked(entry_point.name):
            return
        try:
            plugin = entry_point.load()
        except Exception as e:
            raise TrainrigError(
                f"plugin {entry_point.name!r} (distribution {dist} {version}, entry point {entry_point.value}) "
                f"failed to load: {type(e).__name__}: {e}"
            ) from e
        self._register(plugin, entry_point.name, (dist, version))
        self.entry_points.append(entry_point.name)

    def _load_module(self, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception as e:
            raise TrainrigError(f"plugin module {module_name!r} (--plugin) failed to import: {type(e).__name__}: {e}") from e
        self._register(module, module_name, ("(local module)", ""))

    # --- registration for tests and embedding ------------------------------------------------------

    def register(self, plugin: Any, name: str | None = None) -> str:
        name = name or getattr(plugin, "__name__", None) or str(id(plugin))
        self._register(plugin, name, ("(registered)", ""))
        self._check_hook_names()
        return name

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.distributions.pop(name, None)

    # --- calling -----------------------------------------------------------------------------------

    def call_each(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call one hook on every plugin in pluggy's order; return ``[(plugin name, result)]``.

        ``None`` results are dropped. An exception raised by a plugin becomes a one-line
        :class:`TrainrigError` naming the plugin, its distribution and the hook.
        """
        results = []
        for impl in self._impls(hook_name):
            result = self._call(impl, hook_name, kwargs)
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    def chain(self, hook_name: str, name: str, value: Any, **kwargs) -> Any:
        """Pass ``value`` (as argument ``name``) through every plugin in turn; ``None`` keeps it."""
        for impl in self._impls(hook_name):
            result = self._call(impl, hook_name, {**kwargs, name: value})
            if result is not None:
                value = result
        return value

    def _impls(self, hook_name: str) -> list:
        return list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))

    def _call(self, impl, hook_name: str, kwargs: dict[str, Any]) -> Any:
        try:
            return impl.function(**{name: kwargs[name] for name in impl.argnames})
        except TrainrigError:
            raise
        except Exception as e:
            raise TrainrigError(f"{self.describe(impl.plugin_name)} failed in {hook_name}: {type(e).__name__}: {e}") from e

    def describe(self, name: str) -> str:
        dist, version = self.distributions.get(name, ("?", ""))
        return f"plugin {name!r} ({dist} {version})".replace(" )", ")")

    def check_type(self, name: str, hook_name: str, ok: bool, expected: str) -> None:
        if not ok:
            raise TrainrigError(f"{self.describe(name)}: {hook_name} must return {expected}")

    # --- listing -----------------------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        """Every registered plugin: name, distribution, version, built-in or not, hooks implemented."""
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
            dist, version = self.distributions.get(name, ("?", ""))
            rows.append(
                {"name": name, "distribution": dist, "version": version, "builtin": name in BUILTIN_PLUGINS, "hooks": hooks}
            )
        return rows


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


_default: PluginManager | None = None
_settings: dict = {"modules": [], "blocked": [], "entry_points": None}


def configure(modules: list[str] = (), blocked: list[str] = (), entry_points: list[str] | None = None) -> None:
    """Choose local plugin modules, blocked names and (for a resumed run) the exact installed plugins
    of the process-wide manager; it is rebuilt on next use."""
    global _default
    _settings.update(modules=list(modules), blocked=list(blocked), entry_points=entry_points)
    _default = None


def plugin_manager() -> PluginManager:
    """The process-wide plugin manager (built on first use)."""
    global _default
    if _default is None:
        _default = PluginManager(**_settings)
    return _default
