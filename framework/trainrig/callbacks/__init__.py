"""trainrig's base callbacks, one per module, in the order every run uses them."""

from __future__ import annotations

from trainrig.callbacks.base import TrainrigCallback
from trainrig.callbacks.best_model import BestModel
from trainrig.callbacks.history import HistoryRecorder
from trainrig.callbacks.metric_suite import MetricSuite
from trainrig.callbacks.metrics_file import MetricsFile
from trainrig.callbacks.plateau import plateau_callbacks
from trainrig.callbacks.print_evaluate import PrintEvaluate
from trainrig.callbacks.profiler import StepProfiler
from trainrig.callbacks.progress import ProgressLogger
from trainrig.callbacks.tensorboard_logger import TensorBoardLogger

from trainrig.context import RunContext

__all__ = ["TrainrigCallback", "base_callbacks"]


def base_callbacks(context: RunContext) -> list[TrainrigCallback]:
    """The base callbacks: metric suite, history, metrics file, console, samples, TensorBoard, the
    profiler of ``trainer.profile`` when it is set, best model, then early stopping and LR on plateau
    when the params ask for them."""
    return [
        MetricSuite(context),
        HistoryRecorder(context),
        MetricsFile(context),
        ProgressLogger(context),
        PrintEvaluate(context),
        TensorBoardLogger(context),
        *([StepProfiler(context)] if context.params.profile else []),
        BestModel(context),
        *plateau_callbacks(context),
    ]
