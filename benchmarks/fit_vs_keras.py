"""1. A full run as a new user measures it: trainrig's ``Trainer`` at its defaults against Keras' ``fit``.

trainrig side: ``Trainer(TrainerParams(epochs, batch_size, output_dir, progress="epoch"), model, data,
callbacks=[timer]).train()``, so with validation, the metric suite, TensorBoard, best-model export and
a checkpoint every epoch. Keras side: the same graph compiled with adam, the same loss and accuracy,
``fit(x, y, validation_data=..., verbose=2)`` with a TensorBoard and a save-best-only ModelCheckpoint
callback. Both print (into a swallowed ``sys.stdout``).

Measure: the mean epoch time after the first epoch, from consecutive ``on_epoch_end`` calls of a timer
callback placed last; ratio trainrig / Keras per repetition. Cases: a 3-layer MLP on 40,000 x 64
synthetic rows (8,000 validation, batch 128), also trained by trainrig with ``steps_per_execution=8``
for reference; the digits tutorial's CNN and data (batch 32) against the same CNN in plain Keras on
the same split. 6 epochs (tiny: 2, with 512 + 128 MLP rows).
"""

from __future__ import annotations

import functools

from benchmarks.common import Row, compared, interleave, steady_mean

NAME = "fit_vs_keras"
DESCRIPTION = "mean epoch time of a default trainrig run vs Keras fit with TensorBoard + ModelCheckpoint (MLP, digits CNN)"

EPOCHS = {"full": 6, "tiny": 2}


def run(size: str, repeats: int) -> list[Row]:
    return mlp_rows(size, repeats) + digits_rows(size, repeats)


def mlp_rows(size: str, repeats: int) -> list[Row]:
    """The MLP: trainrig, trainrig with steps_per_execution=8 and Keras (the baseline), rotated per repetition."""
    from benchmarks import keras_side as k
    from benchmarks import trainrig_side as t

    train, validation = k.mlp_data(size)
    epochs = EPOCHS[size]

    def trainrig(**params) -> float:
        timer = t.timed_train(t.MLPModel(), t.ArrayData(train, validation), epochs, k.MLP_BATCH, **params)
        return steady_mean(timer.epoch_times())

    def keras() -> float:
        return steady_mean(k.timed_fit(k.mlp(), train, validation, k.MLP_BATCH, epochs).epoch_times())

    sides = {
        "trainrig": trainrig,
        "trainrig steps_per_execution=8": functools.partial(trainrig, steps_per_execution=8),
        "keras": keras,
    }
    case = f"MLP {len(train[0]):,} x {k.MLP_FEATURES}, batch {k.MLP_BATCH}"
    return compared(NAME, case, "epoch", "s", interleave(sides, repeats), baseline="keras")


def digits_rows(size: str, repeats: int) -> list[Row]:
    """The digits tutorial through trainrig against its CNN in plain Keras on the same split."""
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel

    from benchmarks import keras_side as k
    from benchmarks import trainrig_side as t

    train, validation = k.digits_arrays(*t.digits_split())
    epochs = EPOCHS[size]

    def trainrig() -> float:
        return steady_mean(t.timed_train(DigitsModel(), DigitsData(), epochs, k.DIGITS_BATCH).epoch_times())

    def keras() -> float:
        return steady_mean(k.timed_fit(k.digits_cnn(), train, validation, k.DIGITS_BATCH, epochs).epoch_times())

    case = f"digits CNN {len(train[0]):,} x 8x8, batch {k.DIGITS_BATCH}"
    results = interleave({"trainrig": trainrig, "keras": keras}, repeats)
    return compared(NAME, case, "epoch", "s", results, baseline="keras")
