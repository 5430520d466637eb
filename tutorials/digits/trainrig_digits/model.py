"""The model: losses, metrics, best-model choice, printed samples and TensorBoard images."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import trainrig
from trainrig import LossDefinition, MetricDefinition, PredictionDefinition
from trainrig_digits.graph import DigitsGraph


@trainrig.define
class DigitsModelParams(trainrig.ModelBaseParams):
    n_classes: int = trainrig.field(default=10, help="Number of digit classes.")
    filters: int = trainrig.field(default=16, help="Filters of the first convolution (the second has twice as many).")
    dropout: float = trainrig.field(default=0.25, help="Dropout rate before the dense head.")


class ConvImages(trainrig.TensorBoardDataHandler):
    """Shows the second convolution's feature maps of a few validation images as one image each."""

    def _outputs_for_tensorboard(self, inputs, outputs):
        return {"conv": outputs["conv"][:4]}

    def handle(self, name, name_for_tb, value, step):
        if name != "conv":
            return super().handle(name, name_for_tb, value, step)
        batch, height, width, channels = value.shape
        side = int(np.ceil(np.sqrt(channels)))
        grid = np.zeros((batch, height * side, width * side, 1), dtype="float32")
        for c in range(channels):
            y, x = divmod(c, side)
            grid[:, y * height : (y + 1) * height, x * width : (x + 1) * width, 0] = value[..., c]
        grid /= max(float(grid.max()), 1e-6)
        tf.summary.image(name_for_tb, grid, step=step, max_outputs=batch)


class DigitsModel(trainrig.ModelBase[DigitsModelParams]):
    def create_graph(self, params):
        return DigitsGraph(params)

    def _loss(self):
        return {"xent": LossDefinition("label", "logits", keras.losses.SparseCategoricalCrossentropy(from_logits=True))}

    def _metric(self):
        return {"acc": MetricDefinition("label", "logits", keras.metrics.SparseCategoricalAccuracy())}

    def _best_logging_settings(self):
        return "max", "acc"

    def _print_evaluate(self, sample, data, print_fn=print):
        predicted, truth = int(sample.outputs["class"]), int(sample.targets["label"])
        probability = float(sample.outputs["probabilities"][predicted])
        print_fn(f"  PRED/GT: {predicted}{'==' if predicted == truth else '!='}{truth} (p = {probability:.3f})")

    def _create_tensorboard_handler(self):
        return ConvImages()

    def _prediction(self):
        return PredictionDefinition("label", "probabilities", "multiclass")
