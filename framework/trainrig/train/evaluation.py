"""One validation pass: every loss and metric, the gathered predictions, the model's evaluator (if any),
and a sample batch with outputs."""

from __future__ import annotations

import keras
import numpy as np

from trainrig.context import ValidationResult
from trainrig.log_keys import VALIDATION_PREFIX
from trainrig.model.base import ModelBase
from trainrig.train.evaluator import EvaluatorPass
from trainrig.train.setup import RunParts


class ValidationLoop:
    """Runs the validation sequence through the compiled eval step, ``steps_per_execution`` at a time.

    ``callbacks`` get ``on_test_begin``/``on_test_batch_begin``/``on_test_batch_end``/``on_test_end``
    (the latter with the validation values, without prefix). A model with an evaluator gets a fresh
    one per pass, fed every validation row; its values join the ``val_`` logs
    (:mod:`trainrig.train.evaluator`).
    """

    def __init__(
        self,
        parts: RunParts,
        callbacks: keras.callbacks.CallbackList,
        steps_per_execution: int,
        print_samples: int,
        model: ModelBase,
    ):
        self.parts = parts
        self.model = model
        self.callbacks = callbacks
        self.steps_per_execution = steps_per_execution
        self.print_samples = print_samples
        self._sample_rows: tuple[dict, dict] | None = None

    def run(self) -> ValidationResult:
        parts, callbacks = self.parts, self.callbacks
        parts.val_metrics.reset()
        evaluator = EvaluatorPass.start(self.model) if parts.evaluator_names is not None else None
        callbacks.on_test_begin()
        iterator = iter(parts.strategy.experimental_distribute_dataset(parts.val_source.dataset()))
        step, total = 0, len(parts.val_source)
        gathered = []
        while step < total:
            count = min(self.steps_per_execution, total - step)
            callbacks.on_test_batch_begin(step)
            with parts.val_source.reading():
                evaluated = parts.steps.evaluate(iterator, count)
            if evaluated.predictions is not None:
                gathered.append(evaluated.predictions)
            if evaluator is not None:
                for inputs, targets, outputs in evaluated.samples:
                    evaluator.update(inputs, targets, outputs)
            step += count
            callbacks.on_test_batch_end(step - 1)
        logs = parts.val_metrics.results()
        callbacks.on_test_end(logs)
        val_logs = {VALIDATION_PREFIX + name: value for name, value in logs.items()}
        if evaluator is not None:
            val_logs.update(evaluator.logs(taken=logs))
        return ValidationResult(
            logs=val_logs,
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
