"""The export swap: ``export/`` names a complete export at every instant, its mode follows the umask, and
no helper touches the process-wide umask.

Real exports of a small keras graph on a real file system; steps are observed (and failures injected) by
wrapping ``os`` functions and the exporter's ``exchange_paths``.
"""

from __future__ import annotations

import json
import os
import stat
import sys

import keras
import pytest

import trainrig.export.exporter as exporter_module
from trainrig.export.exporter import Exporter, exchange_paths

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is a Linux system call")


@pytest.fixture(scope="module")
def exporter():
    inputs = {"x": keras.Input(shape=(3,), name="x")}
    graph = keras.Model(inputs, {"y": keras.layers.Dense(2)(inputs["x"])})
    return Exporter({"default": graph}, [], "tests:none")


def generation(target) -> int | None:
    """The ``n`` of the complete export at ``target`` (manifest and graph files present), else ``None``."""
    try:
        manifest = json.loads((target / "trainrig.json").read_text())
    except (OSError, ValueError):
        return None
    complete = (target / "default.keras").is_file() and (target / "default" / "saved_model.pb").is_file()
    return manifest["n"] if complete else None


def leftovers(parent) -> list[str]:
    return sorted(name for name in os.listdir(parent) if name.startswith("."))


@linux_only
def test_renameat2_exchange_is_available_and_swaps_two_directories(tmp_path):
    assert exporter_module._renameat2() is not None, "libc has no renameat2 on this Linux machine"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from-a").touch()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "from-b").touch()
    assert exchange_paths(tmp_path / "a", tmp_path / "b") is True
    assert os.listdir(tmp_path / "a") == ["from-b"] and os.listdir(tmp_path / "b") == ["from-a"]
    with pytest.raises(FileNotFoundError):
        exchange_paths(tmp_path / "a", tmp_path / "missing")


class Watch:
    """Records the export generation at ``target`` after every call of the wrapped functions."""

    def __init__(self, monkeypatch, target):
        self.target, self.seen = target, []
        for name in ("rename", "replace", "unlink", "remove", "rmdir"):
            monkeypatch.setattr(os, name, self.wrap(name, getattr(os, name)))
        monkeypatch.setattr(exporter_module, "exchange_paths", self.wrap("exchange_paths", exchange_paths))

    def wrap(self, name, function):
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            self.seen.append((name, generation(self.target)))
            return result

        return wrapper


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "fallback"])
def test_export_exists_after_every_step_of_a_swap(exporter, tmp_path, monkeypatch, renameat2):
    target = tmp_path / "export"
    exporter.export(target, "final", extra={"n": 1})
    if not renameat2:
        monkeypatch.setattr(exporter_module, "_renameat2", lambda: None)
    elif not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is a Linux system call")
    watch = Watch(monkeypatch, target)
    exporter.export(target, "final", extra={"n": 2})
    monkeypatch.undo()
    assert generation(target) == 2 and leftovers(tmp_path) == []
    swap = [(name, seen) for name, seen in watch.seen if seen != 1][:1]  # the first step after which it is not 1
    if renameat2:
        assert swap == [("exchange_paths", 2)]
        assert all(seen in (1, 2) for _, seen in watch.seen), watch.seen  # never missing or partial
    else:  # two renames: documented to leave export/ missing in between
        assert swap == [("replace", None)]


def test_a_failed_swap_keeps_the_previous_export_and_no_staging(exporter, tmp_path, monkeypatch):
    target = tmp_path / "export"
    exporter.export(target, "final", extra={"n": 1})

    def fail(a, b):
        raise OSError(5, "Input/output error (injected)")

    monkeypatch.setattr(exporter_module, "exchange_paths", fail)
    with pytest.raises(OSError, match="injected"):
        exporter.export(target, "final", extra={"n": 2})
    assert generation(target) == 1 and leftovers(tmp_path) == []


def test_the_fallback_puts_the_previous_export_back_when_the_second_rename_fails(exporter, tmp_path, monkeypatch):
    target = tmp_path / "export"
    exporter.export(target, "final", extra={"n": 1})
    monkeypatch.setattr(exporter_module, "_renameat2", lambda: None)
    replace = os.replace

    def fail_for_staging(source, destination, *args, **kwargs):
        if os.path.basename(os.fspath(source)).startswith(".export.") and not os.fspath(source).endswith(".old"):
            raise OSError(5, "Input/output error (injected)")
        return replace(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "replace", fail_for_staging)
    with pytest.raises(OSError, match="injected"):
        exporter.export(target, "final", extra={"n": 2})
    monkeypatch.undo()
    assert generation(target) == 1 and leftovers(tmp_path) == []


def test_export_modes_follow_the_umask_and_nothing_calls_os_umask(exporter, tmp_path, monkeypatch, umask_027):
    def no_umask(*args):
        raise AssertionError("os.umask changes process-wide state (the checkpoint thread writes meanwhile)")

    monkeypatch.setattr(os, "umask", no_umask)
    target = tmp_path / "export"
    for n in (1, 2):  # a new export and a replacement
        exporter.export(target, "final", extra={"n": n})
        assert generation(target) == n
        assert stat.S_IMODE(target.stat().st_mode) == 0o750  # group may read (servers), others nothing
        for name in ("trainrig.json", "default.keras"):
            assert stat.S_IMODE((target / name).stat().st_mode) == 0o640, name
        for path in target.rglob("*"):
            assert stat.S_IMODE(path.stat().st_mode) & 0o027 == 0, path  # nothing wider than the umask allows
