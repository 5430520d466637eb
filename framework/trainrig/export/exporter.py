"""Write a set of graphs to a directory atomically: ``<graph>.keras``, ``<graph>/`` SavedModel, ``trainrig.json``.

An export is written into a hidden staging directory beside its target (``.export.…`` or
``.best.…``, made with ``os.mkdir`` so its mode follows the umask; the process-wide umask is never
read or changed), then swapped into place with :func:`_replace_dir`: on Linux one
``renameat2(RENAME_EXCHANGE)`` call exchanges the two directories, so the target path names a
complete export at every instant; the old export, now under the staging name, is removed afterwards.

:meth:`Exporter.export_in_background` (the best model) copies the graphs' weights on the calling thread
(numpy arrays: milliseconds) and does the rest on a background thread while training goes on: the
weights go into a *shadow* of each graph — a second instance, reloaded once from the graph's own
``.keras`` file when the run's background block starts (:meth:`Exporter.background`), so it is what
:func:`trainrig.load_model` gives — whose ``.keras`` file and SavedModel are written (the SavedModel
from a template: :mod:`trainrig.export.saved_model_template`), then the manifest, the plugins' ``trainrig_export_written`` (given the shadows) and the swap. A newer request
replaces one that has not started yet (only the newest best model matters). Errors surface on the
training thread at the next request or when the block ends. A checkpoint is only written once the
exports requested before it are (:meth:`Exporter.barrier`), so a kill never leaves a checkpoint that
counts a best model ``best/`` does not hold. Reloading draws layer seeds from
Python's global ``random``; its state is put back afterwards, so a run's random streams (and exact
resume) do not depend on the exports.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import errno
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import keras

from trainrig.checkpoint.store import make_staging_dir
from trainrig.export.custom_objects import custom_objects_of, load_keras_file
from trainrig.export.saved_model_template import SavedModelTemplate

MANIFEST = "trainrig.json"


class Exporter:
    """Exports the same graphs (sharing the run's weights) to ``best/`` or ``export/``.

    ``precision`` is the run's dtype policy: the shadows of a background export are rebuilt under it
    (Keras keeps the policy per thread; it is set back at once).
    """

    def __init__(
        self,
        graphs: dict[str, keras.Model],
        additional_objects: list,
        model_path: str,
        plugins=None,
        context=None,
        precision: str = "float32",
    ):
        self.graphs = graphs
        self.plugins = plugins
        self.context = context
        self.custom_objects = custom_objects_of(graphs, additional_objects)
        self.model_path = model_path
        self.precision = precision
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: list[concurrent.futures.Future] = []
        self._shadows: dict[str, keras.Model] | None = None
        self._templates: dict[str, SavedModelTemplate] = {}
        self._requested = 0  # background exports asked for so far
        self._done = 0  # the newest of them written (or failed)
        self._done_changed = threading.Condition()

    def export(self, directory: Path, kind: str, extra: dict | None = None) -> None:
        """Write every graph into ``directory``, replacing it only once the new export is complete.

        ``kind`` (``"best"`` or ``"final"``) is passed on to plugins' ``trainrig_export_written``. If a
        plugin fails there, the graphs (complete by then) are still swapped in and the error is raised
        afterwards, so a plugin never costs the export itself.
        """
        directory = Path(directory)
        self._finish(self._write_graphs(self.graphs, directory), directory, kind, extra, self.graphs)

    def export_in_background(self, directory: Path, kind: str, extra: dict | None = None) -> None:
        """Like :meth:`export`, with the weights taken now and everything else written on a background
        thread (inside :meth:`background`; elsewhere, or if the graphs have no shadows, at once)."""
        if self._shadows is None:
            self.export(directory, kind, extra)
            return
        self._raise_finished_errors()
        values = {name: [keras.ops.convert_to_numpy(v).copy() for v in graph.variables] for name, graph in self.graphs.items()}
        for future in self._pending:
            future.cancel()  # one that has not started yet is replaced by this newer request
        self._requested += 1
        self._pending.append(
            self._worker.submit(self._export_shadows, self._requested, values, Path(directory), kind, extra)
        )

    def barrier(self):
        """A function that blocks until every export requested so far is written (or has failed); for the
        checkpoint writer, so that no checkpoint records a best model whose export a kill could still lose."""
        generation = self._requested

        def wait_for_exports() -> None:
            with self._done_changed:
                self._done_changed.wait_for(lambda: self._done >= generation or self._worker is None)

        return wait_for_exports

    def wait(self) -> None:
        """Wait for the background exports (if any); raise the first error."""
        pending, self._pending = self._pending, []
        for future in pending:
            if not future.cancelled():
                future.exception()  # waits
        for future in pending:
            if not future.cancelled() and future.exception() is not None:
                raise future.exception()

    @contextlib.contextmanager
    def background(self) -> Iterator[None]:
        """Best-model exports requested inside the block run in the background; leaving it waits for them
        and raises their error (unless the block itself fails: then its error is the one to report).

        Entering it makes the shadows (call it before any other thread of the run starts)."""
        self._shadows = self._make_shadows()
        workdir = tempfile.TemporaryDirectory(prefix="trainrig-export-")
        if self._shadows is not None:
            self._templates = {name: SavedModelTemplate(shadow, Path(workdir.name) / name) for name, shadow in self._shadows.items()}
            self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainrig-export")
            for template in self._templates.values():  # the first epoch trains meanwhile
                self._pending.append(self._worker.submit(template.prepare))
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.wait()
            raise
        else:
            self.wait()
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
            with self._done_changed:
                self._worker, self._shadows, self._templates = None, None, {}
                self._done_changed.notify_all()
            workdir.cleanup()

    def _raise_finished_errors(self) -> None:
        """Raise the error of a finished background export; forget the finished ones."""
        finished = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for future in finished:
            if not future.cancelled() and future.exception() is not None:
                raise future.exception()

    def _make_shadows(self) -> dict[str, keras.Model] | None:
        """Every graph reloaded from its ``.keras`` file, under the run's dtype policy, Python's global
        random state kept; ``None`` (exports then stay on the calling thread) if a graph's reloaded
        weights do not match its own one to one."""
        state = random.getstate()
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.precision)
        try:
            with tempfile.TemporaryDirectory(prefix="trainrig-shadow-") as tmp:
                shadows = {}
                for name, graph in self.graphs.items():
                    graph.save(Path(tmp) / f"{name}.keras")
                    shadows[name] = load_keras_file(Path(tmp) / f"{name}.keras", self.custom_objects)
        finally:
            keras.config.set_dtype_policy(previous)
            random.setstate(state)
        for name, graph in self.graphs.items():
            if _variable_layout(graph) != _variable_layout(shadows[name]):
                return None
        return shadows

    def _export_shadows(self, generation: int, values: dict[str, list], directory: Path, kind: str, extra: dict | None) -> None:
        """(Background thread) the values into the shadows, their files into a staging directory, finish."""
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            staging = make_staging_dir(directory.parent, f".{directory.name}.")
            try:
                for name, shadow in self._shadows.items():
                    for variable, value in zip(shadow.variables, values[name]):
                        variable.assign(value)
                    shadow.save(staging / f"{name}.keras")
                    self._templates[name].write(staging / name, values[name])
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self._finish(staging, directory, kind, extra, self._shadows)
        finally:
            with self._done_changed:
                self._done = max(self._done, generation)
                self._done_changed.notify_all()

    def _write_graphs(self, graphs: dict[str, keras.Model], directory: Path) -> Path:
        """A staging directory beside ``directory`` with every graph's ``.keras`` file and SavedModel."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = make_staging_dir(directory.parent, f".{directory.name}.")  # mode from the umask, like the files
        try:
            for name, graph in graphs.items():
                graph.save(staging / f"{name}.keras")
                graph.export(str(staging / name), verbose=False)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return staging

    def _finish(self, staging: Path, directory: Path, kind: str, extra: dict | None, graphs: dict) -> None:
        """Write the manifest, call the plugins, swap ``staging`` into ``directory``."""
        manifest = {
            "graphs": list(self.graphs),
            "custom_objects": self.custom_objects,
            "model": self.model_path,
            "kind": kind,
            **(extra or {}),
        }
        try:
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        plugin_error = None
        if self.plugins is not None:
            try:
                self.plugins.call("trainrig_export_written", directory=staging, graphs=graphs, kind=kind, trainer=self.context)
            except Exception as e:  # keep the graphs, report the plugin after the swap
                plugin_error = e
        try:
            _replace_dir(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # the previous export (if any) is still in place
            raise
        if plugin_error is not None:
            raise plugin_error


def _variable_layout(graph: keras.Model) -> list[tuple[str, tuple, str]]:
    """Each variable's path (Keras' automatic ``_<n>`` name suffixes removed: a reloaded layer gets the next
    free name), shape and dtype, in order."""
    return [(re.sub(r"_\d+(?=/|$)", "", v.path), tuple(v.shape), str(v.dtype)) for v in graph.variables]


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}
_renameat2_function = []  # [function or None] once looked up


def _renameat2():
    """libc's ``renameat2`` (Linux, glibc 2.28+ or musl 1.2.4+) through ctypes, or ``None``."""
    if not _renameat2_function:
        function = None
        if sys.platform.startswith("linux"):
            try:
                function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
            except OSError:  # pragma: no cover - no dynamic libc
                function = None
            if function is not None:
                function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                function.restype = ctypes.c_int
        _renameat2_function.append(function)
    return _renameat2_function[0]


def exchange_paths(a: Path, b: Path) -> bool:
    """Atomically exchange two existing paths (``renameat2(RENAME_EXCHANGE)``); ``False`` where the
    call or the file system does not support it (nothing was changed then); other errors raise."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _replace_dir(new: Path, target: Path) -> None:
    """Put the complete directory ``new`` in place of ``target`` (``new`` is consumed).

    Where ``target`` exists it is exchanged with ``new`` in one ``renameat2(RENAME_EXCHANGE)`` call
    (Linux 3.15+ on local file systems: ext4, xfs, btrfs, tmpfs, overlayfs…), so ``target`` names a
    complete export at every instant; the old export, now at ``new``'s path, is removed afterwards. A
    kill before the removal leaves it there under its hidden staging name, which ``--trainer.overwrite``
    clears.

    Fallback where renameat2 or RENAME_EXCHANGE is unavailable (other systems, some network file
    systems): two renames, ``target`` aside to ``.<name>.old`` then ``new`` into place. That is not
    atomic: between the two renames ``target`` is missing (a kill there leaves the previous export at
    ``.<name>.old``, never a half-written one at ``target``), and a failure of the second rename moves
    the old export back.
    """
    parent = target.parent
    if not (target.exists() or target.is_symlink()):
        os.rename(new, target)
    elif exchange_paths(new, target):
        shutil.rmtree(new, ignore_errors=True)
    else:
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        try:
            os.replace(new, target)
        except BaseException:
            os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - a directory that cannot be opened (some systems)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)
