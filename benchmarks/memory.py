"""4. Memory: the peak resident set size of a training process, trainrig against plain Keras.

Each side runs in a fresh process (:mod:`benchmarks.memory_child`) that prints its own peak RSS at
exit (``VmHWM``; not ``ru_maxrss``, which a child inherits from the large runner process on Linux):
(a) the digits tutorial trained through ``trainrig.Trainer`` and (b) a plain Keras script fitting
the same CNN on the same split with validation data, TensorBoard and a save-best-only
ModelCheckpoint. 3 epochs (tiny: 1). Ratio trainrig / Keras per repetition, the sides interleaved.
Goal: trainrig within 10% of Keras (ratio <= 1.10).
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.common import Row, compared, interleave, last_json_line, run_child, scratch_dir

NAME = "memory"
DESCRIPTION = "peak RSS of a process training the digits tutorial through trainrig vs a plain Keras script"

EPOCHS = {"full": 3, "tiny": 1}


def run(size: str, repeats: int) -> list[Row]:
    import numpy as np

    from benchmarks.trainrig_side import digits_split

    epochs = EPOCHS[size]
    with scratch_dir() as tmp:
        split = tmp / "split.npz"
        train_rows, val_rows = digits_split()
        np.savez(split, train_rows=train_rows, val_rows=val_rows)
        sides = {
            "trainrig": lambda: peak_rss_mib("trainrig", epochs),
            "keras": lambda: peak_rss_mib("keras", epochs, split),
        }
        results = interleave(sides, repeats)
    case = f"digits CNN, {epochs} epoch{'s' if epochs > 1 else ''}"
    return compared(NAME, case, "peak RSS", "MiB", results, baseline="keras")


def peak_rss_mib(side: str, epochs: int, *extra: Path) -> float:
    """The peak RSS of one :mod:`benchmarks.memory_child` process training ``side``, in MiB."""
    with scratch_dir() as out:
        args = [sys.executable, "-m", "benchmarks.memory_child", side, str(out / "run"), str(epochs), *map(str, extra)]
        _, stdout = run_child(args)
    return last_json_line(stdout)["peak_rss_kb"] / 1024
