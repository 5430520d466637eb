"""The digits tutorial's images with another question: which digit, or is the digit odd (parity).

``train_per_digit`` keeps only the first few training images of every digit, the situation where
starting from a model that already knows the digits pays off.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

import trainrig
from trainrig.params import choice
from trainrig_digits.data import DigitsData, DigitsDataParams


@trainrig.define
class DigitTaskParams(DigitsDataParams):
    task: Literal["digit", "parity"] = trainrig.field(
        default="parity", help="The label: the digit (10 classes) or whether it is odd (2 classes).", validator=choice("digit", "parity")
    )
    train_per_digit: int = trainrig.field(
        default=0, help="Training images kept per digit (the first ones of the fixed split); 0 = all."
    )


class DigitTask(DigitsData):
    """The digits tutorial's data with labels of ``task``; validation keeps every held-out image."""

    params_class = DigitTaskParams
    params: DigitTaskParams

    def __init__(self, params: DigitTaskParams | None = None):
        super().__init__(params)
        digits = self.labels
        if self.params.train_per_digit:
            keep = [self.train_rows[digits[self.train_rows] == d][: self.params.train_per_digit] for d in range(10)]
            self.train_rows = np.sort(np.concatenate(keep))
        if self.params.task == "parity":
            self.labels = (digits % 2).astype("int32")
