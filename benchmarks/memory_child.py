"""One side of the memory benchmark, in a fresh process: train the digits CNN, print the peak RSS.

    python -m benchmarks.memory_child trainrig OUT_DIR EPOCHS
    python -m benchmarks.memory_child keras OUT_DIR EPOCHS SPLIT.npz

``trainrig``: the digits tutorial through ``trainrig.Trainer`` (trainer params at their defaults but
epochs, the output directory and one console line per epoch). ``keras``: a plain Keras script doing
the same: the tutorial's split (``train_rows``/``val_rows`` in SPLIT.npz), the same CNN, ``fit`` with
validation data, TensorBoard and a save-best-only ModelCheckpoint (:func:`benchmarks.keras_side.fit`).
Each side imports only what it uses. The last line printed is ``{"peak_rss_kb": ...}``: the peak
resident set size of this process (see :func:`peak_rss_kb`).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def train_trainrig(out: Path, epochs: int) -> None:
    import trainrig
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel

    from benchmarks.keras_side import DIGITS_BATCH

    params = trainrig.TrainerParams(epochs=epochs, batch_size=DIGITS_BATCH, output_dir=str(out), progress="epoch")
    trainrig.Trainer(params, DigitsModel(), DigitsData()).train()


def fit_keras(out: Path, epochs: int, split: Path) -> None:
    import numpy as np

    from benchmarks import keras_side

    rows = np.load(split)
    train, validation = keras_side.digits_arrays(rows["train_rows"], rows["val_rows"])
    keras_side.fit(keras_side.digits_cnn(), train, validation, keras_side.DIGITS_BATCH, epochs, out)


def peak_rss_kb() -> int:
    """The peak RSS of this process in KiB: ``VmHWM`` of ``/proc/self/status`` on Linux.

    Not ``ru_maxrss``: Linux carries the high-water mark of the image a process replaced with ``exec``
    into its ``ru_maxrss``, and a child spawned from a large parent (the benchmark runner, which has
    trained in-process) starts as a copy of, or shares, that parent's memory: its ``ru_maxrss`` then
    reports the parent's peak whenever its own is lower.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: the best there is


def main(argv: list[str]) -> None:
    side, out, epochs, *rest = argv
    if side == "trainrig":
        train_trainrig(Path(out), int(epochs))
    else:
        fit_keras(Path(out), int(epochs), Path(rest[0]))
    print(json.dumps({"peak_rss_kb": peak_rss_kb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
