"""Hand the first few validation samples to the model's ``_print_evaluate`` after each validation."""

from __future__ import annotations

import numpy as np

from trainrig.callbacks.base import TrainrigCallback
from trainrig.model.definitions import Sample
from trainrig.user_code import calling


def unbatch(tree: dict, index: int) -> dict:
    return {name: np.asarray(value)[index] for name, value in tree.items()}


def _silent(*args, **kwargs) -> None:
    del args, kwargs


class PrintEvaluate(TrainrigCallback):
    """Calls ``model._print_evaluate(sample, data, print_fn)`` on ``TrainerParams.print_samples`` samples.

    With ``progress="none"`` it is still called, with a ``print_fn`` that prints nothing.
    """

    def on_epoch_end(self, epoch, logs=None):
        count = self.context.params.print_samples
        batch = self.context.validation_batch
        if count == 0 or batch is None:
            return
        print_fn = _silent if self.context.params.progress == "none" else print
        inputs, targets, outputs = batch
        size = len(next(iter(targets.values() or inputs.values())))
        for i in range(min(count, size)):
            sample = Sample(inputs=unbatch(inputs, i), outputs=unbatch(outputs, i), targets=unbatch(targets, i))
            with calling(self.context.model, "_print_evaluate"):
                self.context.model._print_evaluate(sample, self.context.data, print_fn=print_fn)
