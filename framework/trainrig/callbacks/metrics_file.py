"""Append every epoch's logs to ``OUTPUT/metrics.jsonl``."""

from __future__ import annotations

import json
import math

from trainrig.callbacks.base import TrainrigCallback


def _json_number(value: float):
    return value if math.isfinite(value) else str(value)  # JSON has no NaN/Infinity


class MetricsFile(TrainrigCallback):
    """One JSON line per epoch: ``{"epoch": n, <every logs key>: value}`` (NaN and inf written as strings)."""

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, **{k: _json_number(float(v)) for k, v in (logs or {}).items()}}
        with (self.context.run_dir.root / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
