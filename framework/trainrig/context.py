"""``RunContext``: what plugins' hooks, callbacks and the command line see of one run.

The :class:`~trainrig.Trainer` fills a context as it sets the run up and hands the same object to every
hook (the argument named ``trainer``, as the plugin contract names it) and to every base callback.
Which fields are set depends on the phase:

=====================================================  ==================================================
when                                                   set
=====================================================  ==================================================
always (from construction)                             ``params``, ``run_dir``, ``model``, ``data``,
                                                       ``plugin_params``, ``params_tree``, ``history``,
                                                       ``is_chief``, ``cluster``, ``resumed``,
                                                       ``tensorboard_handler``
``trainrig_train_sequence`` / ``_val_sequence``        ``strategy``
``trainrig_register_export_graphs`` and later          ``train_sequence`` (after the plugins' wrapping)
``trainrig_register_export_graphs`` and later          ``keras_model``, ``optimizer``, ``steps_per_epoch``,
                                                       ``prediction``, ``custom_score``, ``best``
``trainrig_register_callbacks`` and later              ``exporter`` (its ``graphs``), ``freeze``
``trainrig_run_start`` and later                       ``pre_fit_cache``
after each validation (callbacks' ``on_epoch_end``)    ``validation`` (its logs, predictions, sample batch)
=====================================================  ==================================================

A context is a plain object: a callback can be built and tested with a small one, without a trainer::

    context = RunContext(params=TrainerParams(output_dir=str(tmp_path)), run_dir=RunDir(tmp_path))
    HistoryRecorder(context).on_epoch_end(0, {"loss": 0.5})
    assert context.history == {"loss": [0.5]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from trainrig.train.distribution import Cluster

if TYPE_CHECKING:
    import keras
    import numpy as np
    import tensorflow as tf

    from trainrig.data.base import DataBase
    from trainrig.export.exporter import Exporter
    from trainrig.model.base import ModelBase
    from trainrig.model.definitions import PredictionDefinition
    from trainrig.run_dir import RunDir
    from trainrig.tensorboard.handler import TensorBoardDataHandler
    from trainrig.train.best_metric import BestMetric
    from trainrig.train.freeze import FreezeState
    from trainrig.train.params import TrainerParams


@dataclass(frozen=True)
class ValidationResult:
    """One validation pass: its ``val_`` logs, the gathered predictions and the sample batch.

    ``logs`` holds every validation loss and metric and the values of the model's evaluator
    (``ModelBase._evaluator``, :mod:`trainrig.train.evaluator`), each under ``val_<name>``.
    ``predictions`` is ``(y_true, y_pred, weight)`` of the model's ``_prediction()`` over every
    validation row (all replicas), or ``None`` when the model declares no prediction. ``batch`` is
    ``(inputs, targets, outputs)`` of the first validation batch(es), as numpy, for
    ``_print_evaluate`` and the TensorBoard handler.
    """

    logs: dict[str, float]
    predictions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    batch: tuple[dict, dict, dict] | None = None


@dataclass(kw_only=True, eq=False)
class RunContext:
    """The run as plugins, callbacks and commands see it (see the module docstring for when each is set)."""

    params: TrainerParams
    run_dir: RunDir
    model: ModelBase | None = None
    data: DataBase | None = None
    plugin_params: dict[str, Any] = field(default_factory=dict)
    """``{section: params}`` of every section plugins register (defaults where none was given)."""
    params_tree: dict[str, Any] = field(default_factory=dict)
    """What ``OUTPUT/params.json`` holds: model, data, trainer and plugins sections."""
    history: dict[str, list[float]] = field(default_factory=dict)
    """``{logs key: [value per epoch]}``; the history ``Trainer.train()`` returns."""
    is_chief: bool = True
    """Whether this process writes the run's files: true on one process; with ``trainer.strategy
    multi_worker`` true only on the chief (the others write into ``run_dir``, a scratch directory)."""
    cluster: Cluster = field(default_factory=Cluster)
    """This worker's ``index`` among ``workers`` processes (0 of 1 without ``multi_worker``)."""
    resumed: bool = False
    """Whether this process continues a run from its checkpoint (or reopens it for lav/predict/export)."""
    tensorboard_handler: TensorBoardDataHandler | None = None

    strategy: tf.distribute.Strategy | None = None
    train_sequence: Any = None
    """The training sequence the run reads (augmented and wrapped by plugins)."""
    keras_model: keras.Model | None = None
    optimizer: keras.optimizers.Optimizer | None = None
    steps_per_epoch: int = 0
    prediction: PredictionDefinition | None = None
    custom_score: tuple[Callable, bool] | None = None
    """``(score function, greater_is_better)`` of the suite's Custom Score, or ``None``."""
    best: BestMetric | None = None
    """Which ``logs`` key decides the best model (``best.monitor``) and its direction."""

    exporter: Exporter | None = None
    """Writes ``best/`` and ``export/``; ``exporter.graphs`` are the run's export graphs."""

    validation: ValidationResult | None = None

    freeze: FreezeState | None = None
    """With freeze training: the frozen layers and the last change (``frozen_layers``, ``changed_at_epoch``, ``change``)."""
    pre_fit_cache: dict[str, Any] | None = None
    """What the model's ``_pre_fit`` returned (kept in checkpoints)."""

    @property
    def validation_predictions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(y_true, y_pred, weight)`` gathered by the last validation, or ``None``."""
        return None if self.validation is None else self.validation.predictions

    @property
    def validation_batch(self) -> tuple[dict, dict, dict] | None:
        """``(inputs, targets, outputs)`` of the last validation's first batch(es), or ``None``."""
        return None if self.validation is None else self.validation.batch
