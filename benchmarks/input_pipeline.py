"""5. The input pipeline: how long training waits for data, and whether a PyDataset's workers help.

* Data wait on the digits tutorial: the training part of an epoch (``on_epoch_begin`` to
  ``on_test_begin`` of a timer callback) with the tutorial's own data (an ``ArraySequence`` that
  gathers and scales every batch) against the same model and epoch with the training batches computed
  beforehand and held in memory as a cached ``tf.data.Dataset`` (the first epoch's order replayed: a
  floor). Mean over the epochs after the first of 4 (tiny: both of 2). The data-wait fraction of a
  repetition is ``max(0, (t_data - t_cached) / t_data)``; goal: under 10%.
* PyDataset workers: a ``keras.utils.PyDataset`` whose ``__getitem__`` takes about 4 ms (a sleep and
  a small random batch) declaring ``workers=1`` against ``workers=4`` (threads), trained through
  trainrig on a small MLP; the training part of an epoch (mean after the first of 3; tiny: both of 2)
  and the speed-up (workers=1 time / workers=4 time). It shows whether trainrig's pipeline honours
  the workers a dataset declares.

The sides of each comparison are interleaved.
"""

from __future__ import annotations

from benchmarks.common import Row, compared, interleave, steady_mean

NAME = "input_pipeline"
DESCRIPTION = "data-wait fraction of the digits tutorial's epochs; a slow PyDataset with workers=1 vs workers=4"

DIGITS_EPOCHS = {"full": 4, "tiny": 2}
SLOW = {"full": {"batches": 150, "epochs": 3}, "tiny": {"batches": 20, "epochs": 2}}
SLOW_DELAY, SLOW_BATCH, SLOW_FEATURES = 0.004, 32, 16


def run(size: str, repeats: int) -> list[Row]:
    return data_wait_rows(size, repeats) + worker_rows(size, repeats)


def data_wait_rows(size: str, repeats: int) -> list[Row]:
    """The tutorial's data against its batches materialised in memory, and the data-wait fraction."""
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel

    from benchmarks.keras_side import DIGITS_BATCH
    from benchmarks.trainrig_side import MaterialisedData, timed_train

    epochs = DIGITS_EPOCHS[size]

    def training_part(data) -> float:
        return steady_mean(timed_train(DigitsModel(), data, epochs, DIGITS_BATCH).training_times())

    sides = {
        "tutorial data": lambda: training_part(DigitsData()),
        "batches in memory": lambda: training_part(MaterialisedData(DigitsData())),
    }
    results = interleave(sides, repeats)
    case = f"digits tutorial, batch {DIGITS_BATCH}"
    waits = [100 * max(0.0, (t - floor) / t) for t, floor in zip(results["tutorial data"], results["batches in memory"])]
    rows = compared(NAME, case, "training part of an epoch", "s", results, baseline="batches in memory")
    return rows + [Row(NAME, case, "data-wait fraction", "%", waits)]


def worker_rows(size: str, repeats: int) -> list[Row]:
    """A PyDataset taking ~4 ms a batch, declaring 1 and 4 worker threads; ratio = the speed-up of 4."""
    from benchmarks.trainrig_side import MLPModel, MLPParams, SlowData, timed_train

    batches, epochs = SLOW[size]["batches"], SLOW[size]["epochs"]

    def training_part(workers: int) -> float:
        model = MLPModel(MLPParams(features=SLOW_FEATURES, hidden=32, classes=2))
        data = SlowData(batches, SLOW_FEATURES, SLOW_DELAY, workers)
        return steady_mean(timed_train(model, data, epochs, SLOW_BATCH).training_times())

    sides = {"workers=1": lambda: training_part(1), "workers=4": lambda: training_part(4)}
    case = f"PyDataset, {batches} batches of {SLOW_DELAY * 1e3:g} ms"
    return compared(NAME, case, "training part of an epoch", "s", interleave(sides, repeats), baseline="workers=4")
