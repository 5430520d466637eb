"""The model: losses, metrics, best-model choice, printed samples and TensorBoard images (board.py)."""

from __future__ import annotations

import keras

import trainrig
from trainrig import LossDefinition, MetricDefinition, PredictionDefinition
from trainrig_digits.board import DigitsBoard
from trainrig_digits.graph import DigitsGraph


@trainrig.define
class DigitsModelParams(trainrig.ModelBaseParams):
    n_classes: int = trainrig.field(default=10, help="Number of digit classes.")
    filters: int = trainrig.field(default=16, help="Filters of the first convolution (the second has twice as many).")
    dropout: float = trainrig.field(default=0.25, help="Dropout rate before the dense head.")


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
        return DigitsBoard()

    def _prediction(self):
        return PredictionDefinition("label", "probabilities", "multiclass")
