"""Write and read checkpoint directories atomically, with checksums, keeping the newest K.

A checkpoint is a directory ``checkpoints/ckpt-<global step>/`` holding ``arrays.npz`` (numpy arrays,
read back with ``allow_pickle=False``), ``state.json`` and ``checksums.json`` (sha256 of both). It
is written into a temporary directory beside it, every file fsynced, then renamed into place and
the parent directory fsynced: a kill at any instant leaves either the old set of checkpoints or the
new one. A checkpoint whose files do not match their checksums is reported and skipped.

:meth:`CheckpointStore.save_async` writes in a background thread (one write at a time, in order)
so training goes on while a large checkpoint reaches the disk; a failed write is raised at the next
save or at :meth:`CheckpointStore.wait`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from trainrig.errors import TrainrigError

ARRAYS, STATE, CHECKSUMS = "arrays.npz", "state.json", "checksums.json"
_NAME = re.compile(r"^ckpt-(\d+)$")


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

    def save_async(self, step: int, arrays: dict[str, np.ndarray], state: dict) -> None:
        """Like :meth:`save`, in the background; ``arrays`` must not change afterwards (pass copies)."""
        self.wait()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainrig-checkpoint")
        self._pending = self._writer.submit(self.save, step, arrays, state)

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
        """``[(global step, path)]`` of the complete-looking checkpoints, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_dir():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def save(self, step: int, arrays: dict[str, np.ndarray], state: dict) -> Path:
        """Write checkpoint ``ckpt-<step>`` atomically; on any failure the previous ones stay intact."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"ckpt-{step}"
        staging = Path(tempfile.mkdtemp(prefix=".ckpt-", dir=self.directory))
        try:
            np.savez(staging / ARRAYS, **arrays)
            (staging / STATE).write_text(json.dumps(state))
            checksums = {name: _sha256(staging / name) for name in (ARRAYS, STATE)}
            (staging / CHECKSUMS).write_text(json.dumps(checksums))
            for name in (ARRAYS, STATE, CHECKSUMS):
                _fsync_file(staging / name)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            _fsync_dir(self.directory)
        except OSError as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise TrainrigError(
                f"writing checkpoint {final} failed ({e.strerror or e}); the previous checkpoints are intact"
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._prune()
        return final

    def _prune(self) -> None:
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
