"""Write and read checkpoint directories atomically, with checksums, keeping the newest K.

A checkpoint is a directory ``checkpoints/ckpt-<global step>/`` holding ``arrays.npz`` (numpy arrays,
read back with ``allow_pickle=False``), ``state.json`` and ``checksums.json`` (sha256 of both). It
is written into a hidden staging directory beside it (``.ckpt-…``), every file fsynced, then renamed
to a name no entry has yet and the parent directory fsynced: a kill at any instant leaves either the
old set of checkpoints or the new one. A checkpoint whose files do not match their checksums is
reported and skipped.

Nothing is ever deleted before its replacement is in place. A second checkpoint at a step that
already has one (the finished checkpoint after the last epoch's, an epoch-end checkpoint right after
a step checkpoint) is written as ``ckpt-<step>.<n>`` (``n`` = 1, 2, …), never over the existing
directory; checkpoints are ordered by ``(step, n)``, so the rewrite is the newer one, and pruning
removes the oldest beyond the newest ``keep`` only after the new one is on disk.

Staging directories are made with :func:`make_staging_dir` (``os.mkdir``, which applies the process's
umask): no helper here or in the exporter reads or changes the process-wide umask, which would race
with other threads (the checkpoint thread writes while the main thread exports).

:meth:`CheckpointStore.save_async` writes in a background thread (one write at a time, in order)
so training goes on while a large checkpoint reaches the disk; a failed write is raised at the next
save or at :meth:`CheckpointStore.wait`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from trainrig.errors import TrainrigError

ARRAYS, STATE, CHECKSUMS = "arrays.npz", "state.json", "checksums.json"
_NAME = re.compile(r"^ckpt-(\d+)(?:\.(\d+))?$")


def make_staging_dir(parent: Path, prefix: str) -> Path:
    """Create a new, uniquely named directory ``<parent>/<prefix><pid>-<random>`` and return it.

    Made with ``os.mkdir(path, 0o777)``, so its mode follows the process's umask like any other
    directory the run creates (``tempfile.mkdtemp`` would make it owner-only, and correcting that
    needs the umask, which can only be read by changing it process-wide).
    """
    parent = Path(parent)
    for _ in range(100):
        path = parent / f"{prefix}{os.getpid()}-{secrets.token_hex(6)}"
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free staging directory name {prefix}… in {parent}")  # pragma: no cover


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointStore:
    """The ``checkpoints/`` directory of a run."""

    def __init__(self, directory: Path, keep: int = 3):
        self.directory = Path(directory)
        self.keep = keep
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._swept = False

    def save_async(self, step: int, arrays: dict[str, np.ndarray], state: dict, after=None) -> None:
        """Like :meth:`save`, in the background; ``arrays`` must not change afterwards (pass copies).
        ``after``: a function the writer calls (and waits for) before it writes."""
        self.wait()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainrig-checkpoint")
        self._pending = self._writer.submit(self._save_after, after, step, arrays, state)

    def _save_after(self, after, step: int, arrays: dict[str, np.ndarray], state: dict) -> None:
        if after is not None:
            after()
        self.save(step, arrays, state)

    def wait(self) -> None:
        """Block until the background write is on disk; raise its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self, quiet: bool = False) -> None:
        """Finish the background write; with ``quiet`` its error is not raised."""
        try:
            self.wait()
        except Exception:
            if not quiet:
                raise
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None

    def list(self) -> list[tuple[int, Path]]:
        """``[(global step, path)]`` of the complete-looking checkpoints, oldest first.

        Oldest first means by ``(step, n)``: ``ckpt-12`` < ``ckpt-12.1`` < ``ckpt-12.2`` < ``ckpt-13``.
        """
        return [(step, path) for (step, _), path in self._versions()]

    def _versions(self) -> list[tuple[tuple[int, int], Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_dir():
                found.append(((int(match.group(1)), int(match.group(2) or 0)), path))
        return sorted(found)

    def _new_name(self, step: int) -> Path:
        """``ckpt-<step>``, or ``ckpt-<step>.<n>`` with ``n`` above every existing version of that step."""
        n = max((n for (s, n), _ in self._versions() if s == step), default=-1) + 1
        while (path := self.directory / (f"ckpt-{step}.{n}" if n else f"ckpt-{step}")).exists() or path.is_symlink():
            n += 1  # a stray entry of that name that is not a checkpoint: leave it alone
        return path

    def save(self, step: int, arrays: dict[str, np.ndarray], state: dict) -> Path:
        """Write checkpoint ``ckpt-<step>`` (``ckpt-<step>.<n>`` if that step has one) atomically.

        On any failure the previous checkpoints stay intact; an existing checkpoint is never removed
        or overwritten to make room for this one (only pruned, once this one is on disk).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self._swept:
            self._remove_stale_staging()
        final = self.directory / f"ckpt-{step}"
        staging = None
        try:
            staging = make_staging_dir(self.directory, ".ckpt-")
            np.savez(staging / ARRAYS, **arrays)
            (staging / STATE).write_text(json.dumps(state))
            checksums = {name: _sha256(staging / name) for name in (ARRAYS, STATE)}
            (staging / CHECKSUMS).write_text(json.dumps(checksums))
            for name in (ARRAYS, STATE, CHECKSUMS):
                _fsync_file(staging / name)
            final = self._new_name(step)
            os.rename(staging, final)  # ``final`` does not exist: nothing is replaced
            _fsync_dir(self.directory)
        except OSError as e:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise TrainrigError(
                f"writing checkpoint {final} failed ({e.strerror or e}); the previous checkpoints are intact"
            ) from None
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        self._prune()
        return final

    def _remove_stale_staging(self) -> None:
        """Remove staging directories a killed writer left (a run is written by one process: its lock)."""
        self._swept = True
        for path in self.directory.glob(".ckpt-*"):
            shutil.rmtree(path, ignore_errors=True)

    def _prune(self) -> None:
        """Remove all but the newest ``keep`` checkpoints (by ``(step, n)``), oldest first."""
        for _, path in self.list()[: -self.keep]:
            shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def verify(path: Path) -> str | None:
        """``None`` if the checkpoint's files match their checksums, else what is wrong."""
        try:
            checksums = json.loads((path / CHECKSUMS).read_text())
        except (OSError, json.JSONDecodeError) as e:
            return f"unreadable {CHECKSUMS} ({e})"
        for name in (ARRAYS, STATE):
            if not (path / name).is_file():
                return f"{name} is missing"
            if _sha256(path / name) != checksums.get(name):
                return f"{name} does not match its checksum"
        return None

    def load_latest(self) -> tuple[Path, dict[str, np.ndarray], dict] | None:
        """The newest checkpoint that verifies (corrupt ones are reported and skipped), or ``None``."""
        for _, path in reversed(self.list()):
            problem = self.verify(path)
            if problem is not None:
                warnings.warn(f"checkpoint {path} is corrupt ({problem}); using the previous one", stacklevel=2)
                continue
            with np.load(path / ARRAYS, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            return path, arrays, json.loads((path / STATE).read_text())
        return None
