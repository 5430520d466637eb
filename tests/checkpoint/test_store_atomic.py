"""CheckpointStore replaces nothing in place: a rewrite of a step never deletes the existing checkpoint
first, staging directories follow the umask without touching it, and the order is by (step, n).

Real files on a real file system; crashes are injected by wrapping ``os`` functions (no TensorFlow).
"""

from __future__ import annotations

import os
import shutil
import stat
import warnings

import numpy as np
import pytest

from trainrig.checkpoint.store import CheckpointStore, make_staging_dir
from trainrig.errors import TrainrigError


def arrays_of(value: float) -> dict[str, np.ndarray]:
    return {"w": np.full((64, 64), value, np.float32), "b": np.arange(8.0) + value}


def loadable_version(directory) -> str | None:
    """The ``version`` in the state of the checkpoint a fresh store would resume from (``None``: none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "checkpoint ... is corrupt" counts as not loadable
        try:
            loaded = CheckpointStore(directory).load_latest()
        except UserWarning:
            return None
    return None if loaded is None else loaded[2]["version"]


class SyscallWatch:
    """After every call of the wrapped ``os`` functions, record which checkpoint a resume would load."""

    NAMES = ("rename", "replace", "unlink", "remove", "rmdir", "mkdir")

    def __init__(self, monkeypatch, directory):
        self.directory, self.seen, self.calls, self._inside = directory, [], [], False
        for name in self.NAMES:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))

    def _wrap(self, name, function):
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            if not self._inside:
                self._inside = True
                try:
                    self.calls.append(name)
                    self.seen.append(loadable_version(self.directory))
                finally:
                    self._inside = False
            return result

        return wrapper


@pytest.mark.parametrize("rewrites", [1, 2])
def test_rewriting_a_step_keeps_a_loadable_checkpoint_after_every_syscall(tmp_path, monkeypatch, rewrites):
    store = CheckpointStore(tmp_path / "checkpoints", keep=2)
    store.save(5, arrays_of(0.0), {"version": "old"})
    for n in range(1, rewrites + 1):
        watch = SyscallWatch(monkeypatch, store.directory)
        store.save(5, arrays_of(float(n)), {"version": f"new{n}"})
        monkeypatch.undo()
        previous = "old" if n == 1 else f"new{n - 1}"
        assert "rename" in watch.calls or "replace" in watch.calls  # the watch saw the checkpoint go into place
        assert None not in watch.seen, list(zip(watch.calls, watch.seen))
        assert set(watch.seen) == {previous, f"new{n}"}  # the old one until the new one is in place
        assert watch.seen[-1] == f"new{n}"
    path, arrays, state = store.load_latest()
    assert state["version"] == f"new{rewrites}" and arrays["w"][0, 0] == rewrites
    assert path.name == f"ckpt-5.{rewrites}"


def test_a_crash_before_the_rename_of_a_rewrite_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(7, arrays_of(0.0), {"version": "old"})

    def crashing(function):
        def wrapper(source, target, *args, **kwargs):
            if os.path.basename(os.fspath(source)).startswith(".ckpt-"):  # the new checkpoint going into place
                raise OSError(5, "Input/output error (injected crash)")
            return function(source, target, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "rename", crashing(os.rename))
    monkeypatch.setattr(os, "replace", crashing(os.replace))
    with pytest.raises(TrainrigError, match="previous checkpoints are intact"):
        store.save(7, arrays_of(1.0), {"version": "new"})
    monkeypatch.undo()
    assert loadable_version(store.directory) == "old"
    assert sorted(os.listdir(store.directory)) == ["ckpt-7"]  # and the staging directory is gone


def test_versions_of_a_step_are_ordered_and_pruned_newest_k(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints", keep=3)
    for version, step in enumerate([4, 5, 5, 5, 6, 6]):
        store.save(step, arrays_of(float(version)), {"version": version})
    assert [p.name for _, p in store.list()] == ["ckpt-5.2", "ckpt-6", "ckpt-6.1"]
    assert [s for s, _ in store.list()] == [5, 6, 6]
    assert store.load_latest()[2]["version"] == 5
    store.save(6, arrays_of(9.0), {"version": "again"})  # n continues above the newest version kept
    assert [p.name for _, p in store.list()] == ["ckpt-6", "ckpt-6.1", "ckpt-6.2"]
    # ordered by (step, n), not by name: ckpt-10 after ckpt-9.1
    store.save(9, arrays_of(0.0), {"version": "9"})
    store.save(9, arrays_of(0.0), {"version": "9.1"})
    store.save(10, arrays_of(0.0), {"version": "10"})
    assert [p.name for _, p in store.list()] == ["ckpt-9", "ckpt-9.1", "ckpt-10"]


def test_a_corrupt_rewrite_falls_back_to_the_previous_version_of_the_step(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(3, arrays_of(0.0), {"version": "first"})
    newest = store.save(3, arrays_of(1.0), {"version": "second"})
    (newest / "state.json").write_text('{"version": "tampered"}')
    with pytest.warns(UserWarning, match="ckpt-3.1 is corrupt"):
        assert store.load_latest()[2]["version"] == "first"


def test_checkpoints_follow_the_umask_without_reading_it(tmp_path, monkeypatch, umask_027):
    def no_umask(*args):
        raise AssertionError("os.umask changes process-wide state; helpers must not call it")

    monkeypatch.setattr(os, "umask", no_umask)
    path = CheckpointStore(tmp_path / "checkpoints").save(1, arrays_of(0.0), {"version": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    for name in ("arrays.npz", "state.json", "checksums.json"):
        assert stat.S_IMODE((path / name).stat().st_mode) == 0o640, name
    staging = make_staging_dir(tmp_path, ".x.")
    assert staging.name.startswith(f".x.{os.getpid()}-") and stat.S_IMODE(staging.stat().st_mode) == 0o750
    assert make_staging_dir(tmp_path, ".x.") != staging


def test_staging_left_by_a_killed_writer_is_removed_by_the_next_run(tmp_path):
    directory = tmp_path / "checkpoints"
    CheckpointStore(directory).save(1, arrays_of(0.0), {"version": 1})
    leftover = make_staging_dir(directory, ".ckpt-")
    (leftover / "arrays.npz").write_bytes(b"half")
    CheckpointStore(directory).save(2, arrays_of(0.0), {"version": 2})
    assert sorted(os.listdir(directory)) == ["ckpt-1", "ckpt-2"]
    shutil.rmtree(directory)
