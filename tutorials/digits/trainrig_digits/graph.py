"""The network: two small convolutions and a dense head, as a GraphBase so exports reload anywhere."""

from __future__ import annotations

import keras

import trainrig


class DigitsGraph(trainrig.GraphBase):
    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.conv1 = keras.layers.Conv2D(params.filters, 3, padding="same", activation="relu")
        self.conv2 = keras.layers.Conv2D(2 * params.filters, 3, padding="same", activation="relu")
        self.pool = keras.layers.MaxPooling2D(2)
        self.flatten = keras.layers.Flatten()
        self.dropout = keras.layers.Dropout(params.dropout)
        self.logits = keras.layers.Dense(params.n_classes)

    def call(self, inputs, training=None):
        conv = self.conv2(self.conv1(inputs["image"]))
        hidden = self.dropout(self.flatten(self.pool(conv)), training=training)
        logits = self.logits(hidden)
        probabilities = keras.ops.softmax(logits)
        return {
            "logits": logits,
            "probabilities": probabilities,
            "class": keras.ops.argmax(logits, axis=-1),
            "conv": conv,
        }
