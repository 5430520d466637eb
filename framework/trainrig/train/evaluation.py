"""One validation pass: every loss and metric, the gathered predictions, and a sample batch with outputs."""

from __future__ import annotations

import keras
import numpy as np

from trainrig.context import ValidationResult
from trainrig.log_keys import VALIDATION_PREFIX
from trainrig.train.setup import RunParts


class ValidationLoop:
    """Runs the validation sequence through the compiled eval step, ``steps_per_execution`` at a time.

    ``callbacks`` get ``on_test_begin``/``on_test_batch_begin``/``on_test_batch_end``/``on_test_end``
    (the latter with the validation values, without prefix).
    """

    def __init__(self, parts: RunParts, callbacks: keras.callbacks.CallbackList, steps_per_execution: int, print_samples: int):
        self.parts = parts
        self.callbacks = callbacks
        self.steps_per_execution = steps_per_execution
        self.print_samples = print_samples
        self._sample_rows: tuple[dict, dict] | None = None

    def run(self) -> ValidationResult:
        parts, callbacks = self.parts, self.callbacks
        parts.val_metrics.reset()
        callbacks.on_test_begin()
        iterator = iter(parts.strategy.experimental_distribute_dataset(parts.val_source.dataset()))
        step, total = 0, len(parts.val_source)
        gathered = []
        while step < total:
            count = min(self.steps_per_execution, total - step)
            callbacks.on_test_batch_begin(step)
            with parts.val_source.reading():
                predictions = parts.steps.evaluate(iterator, count)
            if predictions is not None:
                gathered.append(predictions)
            step += count
            callbacks.on_test_batch_end(step - 1)
        logs = parts.val_metrics.results()
        callbacks.on_test_end(logs)
        return ValidationResult(
            logs={VALIDATION_PREFIX + name: value for name, value in logs.items()},
            predictions=tuple(np.concatenate(p) for p in zip(*gathered)) if gathered else None,
            batch=self._sample_batch(),
        )

    def _sample_batch(self) -> tuple[dict, dict, dict]:
        """The first validation batch(es) with outputs, for ``_print_evaluate`` and TensorBoard.

        At least one batch, and as many whole batches as ``print_samples`` needs; the rows are read
        once, the outputs computed anew after every validation.
        """
        if self._sample_rows is None:
            self._sample_rows = self.parts.val_source.first_rows(self.print_samples)
        inputs, targets = self._sample_rows
        outputs = {k: keras.ops.convert_to_numpy(v) for k, v in self.parts.steps.predict(inputs).items()}
        return inputs, targets, outputs
