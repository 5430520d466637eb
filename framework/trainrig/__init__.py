"""trainrig: a plugin-based experiment framework for TensorFlow 2 / Keras 3.

The public names of the contract (see README). Names that need TensorFlow are imported lazily, on
first access, so ``import trainrig`` (and ``trainrig --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from trainrig.data.params import DataBaseParams
from trainrig.errors import TrainrigError
from trainrig.hooks.markers import hookimpl
from trainrig.model.definitions import (
    LossDefinition,
    MetricDefinition,
    MultiMetricDefinition,
    PredictionDefinition,
    Sample,
)
from trainrig.model.params import ModelBaseParams
from trainrig.params import define, field
from trainrig.train.params import TrainerParams
from trainrig.variables import get_variable

__version__ = "0.1.0"

_LAZY = {
    "ModelBase": "trainrig.model.base",
    "GraphBase": "trainrig.model.graph_base",
    "MultiMetric": "trainrig.model.multi_metric",
    "DataBase": "trainrig.data.base",
    "ArraySequence": "trainrig.data.arrays",
    "DataAugmentationSequence": "trainrig.data.augmentation",
    "BatchAugmentation": "trainrig.data.augmentators",
    "build_augmentation": "trainrig.train.augment",
    "FitArguments": "trainrig.train.fit_arguments",
    "Trainer": "trainrig.train.trainer",
    "TensorBoardDataHandler": "trainrig.tensorboard.handler",
    "TrainrigCallback": "trainrig.callbacks.base",
    "load_model": "trainrig.export.loader",
    "model_path": "trainrig.export.loader",
}

__all__ = [
    "ArraySequence",
    "BatchAugmentation",
    "DataBase",
    "DataAugmentationSequence",
    "DataBaseParams",
    "FitArguments",
    "GraphBase",
    "LossDefinition",
    "MetricDefinition",
    "ModelBase",
    "ModelBaseParams",
    "MultiMetric",
    "MultiMetricDefinition",
    "PredictionDefinition",
    "Sample",
    "TensorBoardDataHandler",
    "Trainer",
    "TrainerParams",
    "TrainrigCallback",
    "TrainrigError",
    "build_augmentation",
    "define",
    "field",
    "get_variable",
    "hookimpl",
    "load_model",
    "model_path",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trainrig' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from trainrig.callbacks.base import TrainrigCallback
    from trainrig.data.arrays import ArraySequence
    from trainrig.data.augmentation import DataAugmentationSequence
    from trainrig.data.augmentators import BatchAugmentation
    from trainrig.data.base import DataBase
    from trainrig.export.loader import load_model, model_path
    from trainrig.model.base import ModelBase
    from trainrig.model.graph_base import GraphBase
    from trainrig.model.multi_metric import MultiMetric
    from trainrig.tensorboard.handler import TensorBoardDataHandler
    from trainrig.train.augment import build_augmentation
    from trainrig.train.fit_arguments import FitArguments
    from trainrig.train.trainer import Trainer
