"""trainrig's base callbacks, one per module, in the order every run uses them."""

from __future__ import annotations

from trainrig.callbacks.base import TrainrigCallback
from trainrig.callbacks.best_model import BestModel
from trainrig.callbacks.history import HistoryRecorder
from trainrig.callbacks.print_evaluate import PrintEvaluate
from trainrig.callbacks.progress import ProgressLogger
from trainrig.callbacks.tensorboard_logger import TensorBoardLogger

__all__ = ["TrainrigCallback", "base_callbacks"]


def base_callbacks(trainer) -> list[TrainrigCallback]:
    """The base callbacks: history, console, samples, TensorBoard, best model."""
    return [
        HistoryRecorder(trainer),
        ProgressLogger(trainer),
        PrintEvaluate(trainer),
        TensorBoardLogger(trainer),
        BestModel(trainer),
    ]
