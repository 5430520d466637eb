"""The parity model: the digits tutorial's network with a new head that answers "is the digit odd?".

The digit network stays as it is (so a trained digits model warm-starts it) and a small dense layer
reads its ten digit probabilities; the two classes of the new head are even (0) and odd (1).
"""

from __future__ import annotations

import keras

import trainrig
from trainrig_digits.graph import DigitsGraph
from trainrig_digits.model import DigitsModel, DigitsModelParams


@trainrig.define
class ParityModelParams(DigitsModelParams):
    """The digit network's params (``n_classes`` stays 10: the digits) for the network inside."""


class ParityGraph(trainrig.GraphBase):
    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.digits = DigitsGraph(params)
        self.parity = keras.layers.Dense(2)

    def call(self, inputs, training=None):
        digits = self.digits(inputs, training=training)
        logits = self.parity(digits["probabilities"])
        return {
            "logits": logits,
            "probabilities": keras.ops.softmax(logits),
            "class": keras.ops.argmax(logits, axis=-1),
            "conv": digits["conv"],
        }


class ParityModel(DigitsModel):
    params_class = ParityModelParams

    def create_graph(self, params):
        return ParityGraph(params)
