"""Write a set of graphs to a directory atomically: ``<graph>.keras``, ``<graph>/`` SavedModel, ``trainrig.json``.

An export is written into a hidden staging directory beside its target (``.export.…`` or
``.best.…``, made with ``os.mkdir`` so its mode follows the umask; the process-wide umask is never
read or changed), then swapped into place with :func:`_replace_dir`: on Linux one
``renameat2(RENAME_EXCHANGE)`` call exchanges the two directories, so the target path names a
complete export at every instant; the old export, now under the staging name, is removed afterwards.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
from pathlib import Path

import keras

from trainrig.checkpoint.store import make_staging_dir
from trainrig.export.custom_objects import custom_objects_of

MANIFEST = "trainrig.json"


class Exporter:
    """Exports the same graphs (sharing the run's weights) to ``best/`` or ``export/``."""

    def __init__(
        self, graphs: dict[str, keras.Model], additional_objects: list, model_path: str, plugins=None, context=None
    ):
        self.graphs = graphs
        self.plugins = plugins
        self.context = context
        self.custom_objects = custom_objects_of(graphs, additional_objects)
        self.model_path = model_path

    def export(self, directory: Path, kind: str, extra: dict | None = None) -> None:
        """Write every graph into ``directory``, replacing it only once the new export is complete.

        ``kind`` (``"best"`` or ``"final"``) is passed on to plugins' ``trainrig_export_written``. If a
        plugin fails there, the graphs (complete by then) are still swapped in and the error is raised
        afterwards, so a plugin never costs the export itself.
        """
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = make_staging_dir(directory.parent, f".{directory.name}.")  # mode from the umask, like the files
        try:
            for name, graph in self.graphs.items():
                graph.save(staging / f"{name}.keras")
                graph.export(str(staging / name), verbose=False)
            manifest = {
                "graphs": list(self.graphs),
                "custom_objects": self.custom_objects,
                "model": self.model_path,
                "kind": kind,
                **(extra or {}),
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        plugin_error = None
        if self.plugins is not None:
            try:
                self.plugins.call(
                    "trainrig_export_written", directory=staging, graphs=self.graphs, kind=kind, trainer=self.context
                )
            except Exception as e:  # keep the graphs, report the plugin after the swap
                plugin_error = e
        try:
            _replace_dir(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # the previous export (if any) is still in place
            raise
        if plugin_error is not None:
            raise plugin_error


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
