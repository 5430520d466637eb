"""Append every epoch's logs to ``OUTPUT/metrics.jsonl``; on resume, cut it back to the checkpoint.

The epoch checkpoint is written after every callback's ``on_epoch_end``, so a run killed in between
has appended epoch ``n``'s record while its newest checkpoint is still at an earlier position. A
resumed run (``context.resumed``, its history restored from the checkpoint before
``on_train_begin``) therefore first rewrites the file to hold exactly the epochs of its history —
records with ``epoch`` greater than that are dropped, a record missing for one of those epochs is
rebuilt from the history — so every epoch appears once, as in an uninterrupted run. The rewrite
goes to a temporary file that is fsynced and renamed over ``metrics.jsonl`` (atomic: a kill leaves
the old file or the new one).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from trainrig.callbacks.base import TrainrigCallback
from trainrig.log_keys import epochs_recorded

REWRITE_SUFFIX = ".rewrite"  # ``.metrics.jsonl.rewrite``: the temporary file of a resume's rewrite


def _json_number(value: float):
    return value if math.isfinite(value) else str(value)  # JSON has no NaN/Infinity


def _record(epoch: int, logs: dict) -> dict:
    return {"epoch": epoch, **{k: _json_number(float(v)) for k, v in (logs or {}).items()}}


class MetricsFile(TrainrigCallback):
    """One JSON line per epoch: ``{"epoch": n, <every logs key>: value}`` (NaN and inf written as strings)."""

    @property
    def path(self) -> Path:
        return self.context.run_dir.root / "metrics.jsonl"

    def on_train_begin(self, logs=None):
        if self.context.resumed:
            self._cut_back_to_history()

    def on_epoch_end(self, epoch, logs=None):
        with self.path.open("a") as f:
            f.write(json.dumps(_record(epoch + 1, logs)) + "\n")

    def _cut_back_to_history(self) -> None:
        """Keep one record per epoch of the restored history (the last one written), in epoch order."""
        history = self.context.history
        epochs = epochs_recorded(history)
        text = self.path.read_text() if self.path.is_file() else ""
        lines = text.splitlines()
        kept: dict[int, str] = {}
        for line in lines:
            try:
                epoch = json.loads(line)["epoch"]
            except (ValueError, TypeError, KeyError):  # a line cut short by a kill, or not a record
                continue
            if isinstance(epoch, int) and 1 <= epoch <= epochs:
                kept[epoch] = line
        for epoch in range(1, epochs + 1):
            if epoch not in kept:  # lost (say, appended but not on disk before a power cut): from the history
                values = {name: series[epoch - 1] for name, series in history.items() if len(series) >= epoch}
                kept[epoch] = json.dumps(_record(epoch, values))
        wanted = "".join(kept[epoch] + "\n" for epoch in range(1, epochs + 1))
        if wanted != text:
            self._write_atomically(wanted)

    def _write_atomically(self, text: str) -> None:
        temporary = self.path.with_name(f".{self.path.name}{REWRITE_SUFFIX}")
        with temporary.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
