"""``TensorBoardDataHandler``: send extra model outputs to TensorBoard (images, histograms, text...)."""

from __future__ import annotations

import numpy as np


class TensorBoardDataHandler:
    """Decides which outputs go to TensorBoard only, and how each is written.

    The trainer calls :meth:`_outputs_for_tensorboard` on the first validation batch of every
    validation and :meth:`handle` for each returned entry, with the ``validation`` run's writer as the
    default writer, so plain ``tf.summary.*`` calls land in that run.
    """

    def _outputs_for_tensorboard(self, inputs, outputs) -> dict:
        """Return ``{name: tensor}`` written only to TensorBoard (never to the console). Default: none."""
        return {}

    def handle(self, name: str, name_for_tb: str, value: np.ndarray, step: int) -> None:
        """Write one value (a numpy array). Default: its mean as a scalar named ``name_for_tb``."""
        import tensorflow as tf

        tf.summary.scalar(name_for_tb, float(np.mean(value)), step=step)
