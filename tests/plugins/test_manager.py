"""Plugin discovery and control, and errors that name the plugin at fault."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import trainrig
import trainrig.testing
from trainrig.hooks.manager import PluginManager, plugin_manager
from trainrig.errors import TrainrigError

from fixtures_pkg.digits_run import digits_trainer


class Raises:
    @trainrig.hookimpl
    def trainrig_register_callbacks(self, trainer):
        raise ValueError("no callbacks today")


class WrongType:
    @trainrig.hookimpl
    def trainrig_register_callbacks(self):
        return "not a list"


class Typo:
    @trainrig.hookimpl
    def trainrig_register_callback(self):
        return []


def test_a_hook_that_raises_is_named(tmp_path):
    manager = PluginManager()
    manager.register(Raises(), name="raiser")
    with pytest.raises(TrainrigError) as error:
        digits_trainer(tmp_path / "run", manager).train()
    assert str(error.value) == (
        "plugin 'raiser' ((registered)) failed in trainrig_register_callbacks: ValueError: no callbacks today"
    )
    assert not (tmp_path / "run").exists()


def test_a_hook_returning_the_wrong_type_is_rejected_with_the_plugin_name(tmp_path):
    manager = PluginManager()
    manager.register(WrongType(), name="wrong")
    with pytest.raises(TrainrigError, match=r"plugin 'wrong' .*trainrig_register_callbacks must return a list"):
        digits_trainer(tmp_path / "run", manager).train()


def test_a_misspelled_hook_is_an_error_listing_the_hooks():
    with pytest.raises(TrainrigError, match=r"implements unknown hook 'trainrig_register_callback'; hooks: .*trainrig_register_callbacks"):
        PluginManager().register(Typo(), name="typo")


def test_registered_plugin_is_gone_after_the_block():
    before = {row["name"] for row in plugin_manager().listing()}
    with trainrig.testing.registered_plugin(WrongType(), name="temporary") as name:
        assert name in {row["name"] for row in plugin_manager().listing()}
    assert {row["name"] for row in plugin_manager().listing()} == before


def test_blocking_a_builtin_plugin_lets_a_plugin_replace_it(tmp_path):
    class OnlyLogits:
        @trainrig.hookimpl
        def trainrig_register_export_graphs(self, inputs, outputs):
            return {"default": keras.Model(inputs, {"logits": outputs["logits"]})}

    manager = PluginManager(blocked=["trainrig.hooks.builtin.default_export"])
    manager.register(OnlyLogits(), name="only_logits")
    digits_trainer(tmp_path / "run", manager).train()
    outputs = trainrig.load_model(tmp_path / "run")({"image": np.zeros((2, 8, 8, 1), "float32")})
    assert list(outputs) == ["logits"]


def _write_module(directory, name, body):
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def _trainrig(*args, env_extra=None, pythonpath=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "trainrig", *args], capture_output=True, text=True, env=env, timeout=300)


def test_local_module_plugin_with_dash_dash_plugin(tmp_path):
    _write_module(
        tmp_path,
        "my_local_plugin",
        """
        import trainrig

        @trainrig.hookimpl
        def trainrig_register_augmentations():
            return {"identity": lambda: None}
        """,
    )
    result = _trainrig("plugins", "--json", "--plugin", "my_local_plugin", pythonpath=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["my_local_plugin"]["hooks"] == ["trainrig_register_augmentations"]
    listed = _trainrig("plugins", "--all", "--plugin", "my_local_plugin", pythonpath=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "augmentations of trainrig.hooks.builtin.augmentations (3): gaussian_noise, flip, shift" in listed.stdout
    assert "augmentations of my_local_plugin (1): identity" in listed.stdout
    missing = _trainrig("plugins", "--plugin", "no_such_plugin_module")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "trainrig plugins: error: plugin module 'no_such_plugin_module' (--plugin) failed to import: "
        "ModuleNotFoundError: No module named 'no_such_plugin_module'"
    )


@pytest.fixture
def broken_distribution(tmp_path):
    """A real installed-distribution layout (dist-info with entry_points.txt) whose plugin fails to import."""
    site = tmp_path / "site"
    info = site / "trainrig_broken-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trainrig-broken\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[trainrig]\nbroken = trainrig_broken_plugin\n")
    _write_module(site, "trainrig_broken_plugin", "raise ImportError('needs libfoo')\n")
    return site


def test_an_entry_point_that_fails_to_import_is_one_named_line(broken_distribution):
    result = _trainrig("plugins", pythonpath=broken_distribution, env_extra={"TRAINRIG_LOAD_PLUGINS": "broken"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "trainrig plugins: error: plugin 'broken' (distribution trainrig-broken 1.2.3, entry point "
        "trainrig_broken_plugin) failed to load: ImportError: needs libfoo"
    )


def test_load_plugins_env_and_no_plugin_skip_a_broken_entry_point(broken_distribution):
    none = _trainrig("plugins", "--json", pythonpath=broken_distribution, env_extra={"TRAINRIG_LOAD_PLUGINS": ""})
    assert none.returncode == 0 and "broken" not in none.stdout
    blocked = _trainrig(
        "plugins", "--no-plugin", "broken", pythonpath=broken_distribution, env_extra={"TRAINRIG_LOAD_PLUGINS": "broken"}
    )
    assert blocked.returncode == 0, blocked.stderr
