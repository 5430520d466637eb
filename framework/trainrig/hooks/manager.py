"""Find, register, list and call plugins.

Plugins come from, in this order: trainrig's built-in plugins, the ``trainrig`` entry-point group of
installed distributions (all of them, or only those named in ``TRAINRIG_LOAD_PLUGINS``, a comma list
where an empty value loads none), and local modules given with ``--plugin pkg.module``. A name given
with ``--no-plugin NAME`` is blocked (built-in ones included, so a plugin can replace them).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

from trainrig.errors import TrainrigError
from trainrig.hooks import specs
from trainrig.hooks.markers import PROJECT

ENTRY_POINT_GROUP = "trainrig"
LOAD_ENV = "TRAINRIG_LOAD_PLUGINS"
WRAPPER = "(a hook wrapper)"
"""The owner :meth:`PluginManager.call` gives a result that a hook wrapper put in place."""
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


@dataclass
class _Chain:
    """A value passed from implementation to implementation during one :meth:`PluginManager.chain`."""

    hook: str
    argument: str
    value: Any


@dataclass
class _CallState:
    """What the attributed implementations record during one hook call."""

    owners: dict[int, str] = field(default_factory=dict)  # id(result) -> plugin name
    chain: _Chain | None = None


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
        self._call_state = _CallState()
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
        """A ``@hookimpl`` whose name matches no hook (a typo) is an error naming the plugin,
        unless it is marked ``optionalhook=True``."""
        for name, hook in vars(self.pm.hook).items():
            if name.startswith("_") or hook.has_spec():
                continue
            for impl in hook.get_hookimpls():
                if not impl.optionalhook:
                    valid = sorted(n for n in vars(specs) if n.startswith("trainrig_"))
                    raise TrainrigError(
                        f"{self.describe(impl.plugin_name)} implements unknown hook {name!r}; hooks: {', '.join(valid)}"
                    )

    def _register(self, plugin: Any, name: str, origin: tuple[str, str]) -> None:
        if self.pm.is_blocked(name) or self.pm.has_plugin(name):
            return
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as e:
            raise TrainrigError(f"plugin {name!r} ({origin[0]} {origin[1]}) is invalid: {e}") from None
        self.distributions[name] = origin
        for caller in self.pm.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function = self._attributed(impl, caller.name)

    def _attributed(self, impl, hook_name: str):
        """``impl.function`` wrapped so that pluggy's own call loop runs it (wrappers, ``tryfirst``,
        ``firstresult`` and tracing all work) while a failure names the plugin, and a result is
        recorded as this plugin's contribution."""
        function, plugin = impl.function, impl.plugin_name

        def failed(error: Exception) -> TrainrigError:
            return TrainrigError(f"{self.describe(plugin)} failed in {hook_name}: {type(error).__name__}: {error}")

        if impl.wrapper or impl.hookwrapper:

            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                try:
                    # Inner implementations raise TrainrigError only, so any other error is this wrapper's.
                    return (yield from function(*args, **kwargs))
                except TrainrigError:
                    raise
                except Exception as e:
                    raise failed(e) from e

            return wrapper

        @functools.wraps(function)
        def implementation(*args, **kwargs):
            call = self._call_state
            if call.chain is not None and call.chain.hook == hook_name and call.chain.argument in impl.argnames:
                args = list(args)
                args[impl.argnames.index(call.chain.argument)] = call.chain.value
            try:
                result = function(*args, **kwargs)
            except TrainrigError:
                raise
            except Exception as e:
                raise failed(e) from e
            if result is not None:
                call.owners[id(result)] = plugin
                if call.chain is not None and call.chain.hook == hook_name:
                    call.chain.value = result
            return result

        return implementation

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

    def call(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call a hook through pluggy's call loop; return ``[(plugin name, result)]`` in call order.

        ``None`` results are dropped (pluggy's rule); a ``firstresult`` hook gives at most one pair.
        A result that a hook wrapper put in place is attributed to :data:`WRAPPER`. An exception
        raised by a plugin becomes a one-line :class:`TrainrigError` naming the plugin, its
        distribution and the hook.
        """
        results, owners = self._run(hook_name, kwargs, chain=None)
        return [(owners.get(id(result), WRAPPER), result) for result in results]

    def contributions(self, hook_name: str, expected: str, valid: Callable[[Any], bool], **kwargs) -> list[tuple[str, Any]]:
        """:meth:`call`, checking every result with ``valid`` (else an error: the plugin must return ``expected``)."""
        pairs = self.call(hook_name, **kwargs)
        for plugin, result in pairs:
            if not valid(result):
                who = self.describe(plugin) if plugin in self.distributions else f"a hook wrapper of {hook_name}"
                raise TrainrigError(f"{who}: {hook_name} must return {expected}")
        return pairs

    def named_contributions(
        self, hook_name: str, what: str, expected: str, valid: Callable[[Any], bool], **kwargs
    ) -> dict[str, Any]:
        """The union of the ``{name: value}`` dicts plugins return; a name registered twice is an error
        naming both plugins (``what`` says what the names are, e.g. ``"export graph"``)."""
        merged: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for plugin, result in self.contributions(hook_name, expected, valid, **kwargs):
            for name, value in result.items():
                if name in merged:
                    raise TrainrigError(f"{what} {name!r} is registered by both {owners[name]!r} and {plugin!r}")
                merged[name], owners[name] = value, plugin
        return merged

    def chain(self, hook_name: str, argument: str, value: Any, **kwargs) -> Any:
        """Pass ``value`` (as ``argument``) through every plugin in pluggy's order: each implementation
        receives the previous one's result; ``None`` keeps the value. Wrappers see every result."""
        results, _ = self._run(hook_name, {**kwargs, argument: value}, chain=_Chain(hook_name, argument, value))
        return results[-1] if results else value

    def _run(self, hook_name: str, kwargs: dict[str, Any], chain: _Chain | None) -> tuple[list, dict[int, str]]:
        previous = self._call_state
        self._call_state = state = _CallState(owners={}, chain=chain)
        try:
            hook = getattr(self.pm.hook, hook_name)
            result = hook(**kwargs)
        finally:
            self._call_state = previous
        if hook.spec is not None and hook.spec.opts.get("firstresult"):
            result = [] if result is None else [result]
        return list(result), state.owners

    def describe(self, name: str) -> str:
        dist, version = self.distributions.get(name, ("?", ""))
        return f"plugin {name!r} ({dist} {version})".replace(" )", ")")

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
