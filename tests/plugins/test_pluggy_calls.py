"""Hooks run through pluggy's own call loop: wrappers, tryfirst/trylast, firstresult, optionalhook and
tracing work, and a failure still names the plugin at fault."""

from __future__ import annotations

import keras
import pluggy
import pytest

import trainrig
from trainrig.callbacks.metric_suite import MetricSuite
from trainrig.callbacks.progress import ProgressLogger
from trainrig.errors import TrainrigError
from trainrig.hooks.manager import WRAPPER, PluginManager
from trainrig.hooks.markers import PROJECT
from trainrig.hooks.plugin_params import plugin_sections
from trainrig.train.augment import augmentation_registry

from fixtures_pkg.digits_run import digits_trainer


class Marker(keras.callbacks.Callback):
    def __init__(self, name):
        super().__init__()
        self.name = name


class Contributes:
    def __init__(self, name, **order):
        self.name = name
        self.order = order

    def plugin(self):
        name = self.name

        class Plugin:
            @trainrig.hookimpl(**self.order)
            def trainrig_register_callbacks(self, trainer):
                return [Marker(name)]

        return Plugin()


class SwapsProgress:
    """A new-style wrapper: sees every plugin's callbacks, drops the console logger, adds its own."""

    def __init__(self):
        self.seen: list[list] = []

    @trainrig.hookimpl(wrapper=True)
    def trainrig_register_callbacks(self, trainer):
        results = yield
        self.seen = [list(r) for r in results]
        kept = [[c for c in r if not isinstance(c, ProgressLogger)] for r in results]
        return [*kept, [Marker("from the wrapper")]]


def test_a_wrapper_sees_and_changes_what_the_other_plugins_returned(tmp_path):
    wrapper = SwapsProgress()
    manager = PluginManager()
    manager.register(Contributes("plain").plugin(), name="plain")
    manager.register(wrapper, name="wrapper")
    trainer = digits_trainer(tmp_path / "run", manager)
    trainer.train()
    seen = [c for r in wrapper.seen for c in r]
    assert any(isinstance(c, ProgressLogger) for c in seen), "the wrapper saw the base callbacks"
    assert [c.name for c in seen if isinstance(c, Marker)] == ["plain"]
    callbacks = trainer.callbacks.callbacks
    assert not any(isinstance(c, ProgressLogger) for c in callbacks)
    assert [c.name for c in callbacks if isinstance(c, Marker)] == ["plain", "from the wrapper"]
    assert (tmp_path / "run" / "export" / "default.keras").is_file()


def test_an_old_style_hookwrapper_sees_the_outcome():
    outcomes = []

    class OldStyle:
        @trainrig.hookimpl(hookwrapper=True)
        def trainrig_register_augmentations(self):
            outcome = yield
            outcomes.append(outcome.get_result())

    manager = PluginManager()
    manager.register(OldStyle(), name="old")
    pairs = manager.call("trainrig_register_augmentations")
    assert outcomes and {"gaussian_noise", "flip", "shift"} <= set().union(*outcomes[0])
    assert [plugin for plugin, _ in pairs] == ["trainrig.hooks.builtin.augmentations"]


def test_tryfirst_and_trylast_order_the_contributions(tmp_path):
    manager = PluginManager()
    manager.register(Contributes("last", trylast=True).plugin(), name="last")
    manager.register(Contributes("middle").plugin(), name="middle")
    manager.register(Contributes("early", tryfirst=True).plugin(), name="early")
    trainer = digits_trainer(tmp_path / "run", manager)
    trainer.prepare()
    callbacks = trainer.callbacks.callbacks
    assert [c.name for c in callbacks if isinstance(c, Marker)] == ["early", "middle", "last"]
    # trainrig's base callbacks are tryfirst too, registered before any plugin: a tryfirst plugin runs
    # before them, every other plugin after them
    assert callbacks[0].name == "early" and isinstance(callbacks[1], MetricSuite)
    assert callbacks[-1].name == "last" and callbacks[-2].name == "middle"


def test_tracing_records_every_hook_call(tmp_path):
    manager = PluginManager()
    lines: list[str] = []
    manager.pm.trace.root.setwriter(lines.append)
    undo = manager.pm.enable_tracing()
    try:
        digits_trainer(tmp_path / "run", manager).prepare()
    finally:
        undo()
    traced = "".join(lines)
    for hook in ("trainrig_register_params", "trainrig_train_sequence", "trainrig_register_export_graphs", "trainrig_register_callbacks"):
        assert hook in traced


class FirstResultSpecs:
    @pluggy.HookspecMarker(PROJECT)(firstresult=True)
    def trainrig_pick(self) -> str:
        """Called by this test only."""


def test_a_firstresult_spec_gives_the_first_result_only():
    class A:
        @trainrig.hookimpl
        def trainrig_pick(self):
            return "a"

    class B:
        @trainrig.hookimpl
        def trainrig_pick(self):
            return "b"

    manager = PluginManager()
    manager.pm.add_hookspecs(FirstResultSpecs)
    manager.register(A(), name="a")
    manager.register(B(), name="b")
    assert manager.call("trainrig_pick") == [("b", "b")]  # last registered runs first


def test_optionalhook_allows_a_hook_this_version_does_not_define():
    class Future:
        @trainrig.hookimpl(optionalhook=True)
        def trainrig_from_a_later_version(self):
            return 1

    PluginManager().register(Future(), name="future")  # no error


def test_failures_name_the_plugin_inside_and_outside_a_wrapper():
    class Inner:
        @trainrig.hookimpl
        def trainrig_register_augmentations(self):
            raise ValueError("inner broke")

    class Passes:
        @trainrig.hookimpl(wrapper=True)
        def trainrig_register_augmentations(self):
            return (yield)

    class Breaks:
        @trainrig.hookimpl(wrapper=True)
        def trainrig_register_augmentations(self):
            yield
            raise KeyError("wrapper broke")

    manager = PluginManager()
    manager.register(Inner(), name="inner")
    manager.register(Passes(), name="passes")
    with pytest.raises(TrainrigError, match=r"^plugin 'inner' \(\(registered\)\) failed in trainrig_register_augmentations: ValueError: inner broke$"):
        manager.call("trainrig_register_augmentations")
    manager = PluginManager()
    manager.register(Breaks(), name="breaks")
    with pytest.raises(TrainrigError, match=r"^plugin 'breaks' .*failed in trainrig_register_augmentations: KeyError"):
        manager.call("trainrig_register_augmentations")


def test_a_wrapper_returning_a_wrong_type_is_named_as_a_wrapper():
    class Spoils:
        @trainrig.hookimpl(wrapper=True)
        def trainrig_register_augmentations(self):
            results = yield
            return [*results, ["not", "a", "dict"]]

    manager = PluginManager()
    manager.register(Spoils(), name="spoils")
    assert manager.call("trainrig_register_augmentations")[-1][0] == WRAPPER
    with pytest.raises(TrainrigError, match="^a hook wrapper of trainrig_register_augmentations: .* must return a dict"):
        augmentation_registry(manager)


def test_sequence_hooks_chain_each_plugin_on_the_previous_result():
    seen = []

    def wrapping(tag):
        class Wraps:
            @trainrig.hookimpl
            def trainrig_train_sequence(self, sequence):
                seen.append((tag, sequence))
                return f"{tag}({sequence})"

        return Wraps()

    manager = PluginManager()
    manager.register(wrapping("a"), name="a")
    manager.register(wrapping("b"), name="b")
    assert manager.chain("trainrig_train_sequence", "sequence", "data", trainer=None) == "a(b(data))"
    assert seen == [("b", "data"), ("a", "b(data)")]


def test_a_params_section_registered_twice_names_both_plugins():
    @trainrig.define
    class P:
        x: int = trainrig.field(default=1, help="x")

    def registering():
        class Registers:
            @trainrig.hookimpl
            def trainrig_register_params(self):
                return {"shared": P}

        return Registers()

    manager = PluginManager()
    manager.register(registering(), name="first")
    manager.register(registering(), name="second")
    with pytest.raises(TrainrigError, match=r"^params section 'shared' is registered by both 'second' and 'first'$"):
        plugin_sections(manager)
