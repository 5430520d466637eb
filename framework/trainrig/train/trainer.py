"""``Trainer``: runs one experiment from params to exported model, speaking the keras callback protocol."""

from __future__ import annotations

from typing import Any

import attrs
import keras
import numpy as np
import tensorflow as tf

from trainrig.checkpoint.state import Position
from trainrig.checkpoint.state import capture as capture_state
from trainrig.checkpoint.state import restore as restore_state
from trainrig.checkpoint.store import CheckpointStore
from trainrig.data.base import DataBase
from trainrig.data.pipeline import BatchSource
from trainrig.errors import TrainrigError, one_of
from trainrig.experiment import plugin_sections
from trainrig.export.exporter import Exporter
from trainrig.hooks.manager import PluginManager, plugin_manager
from trainrig.imports import import_object, object_path
from trainrig.metrics import GREATER_IS_BETTER, SUITE_NAMES
from trainrig.model.base import ModelBase
from trainrig.model.objectives import TOTAL_LOSS, MetricSet, Objectives
from trainrig.params import dumps, to_dict
from trainrig.run_dir import RunDir
from trainrig.tensorboard.writers import VALIDATION_PREFIX
from trainrig.train.augment import augmented
from trainrig.train.build import BuiltModel, build_model
from trainrig.train.checks import check_first_batch, check_sample_weights, checked_prediction
from trainrig.train.monitor import choose_monitor
from trainrig.train.environment import current_learning_rate, make_optimizer, make_strategy, seed_everything
from trainrig.train.params import TrainerParams
from trainrig.train.steps import Steps
from trainrig.train.stop import StopRequest, TrainingStopped
from trainrig.variables import set_variable


def resolve_plugin_params(plugins: PluginManager, given: dict[str, Any]) -> dict[str, Any]:
    """One params object per section plugins register: the one given, or the section's defaults."""
    sections = plugin_sections(plugins)
    unknown = set(given) - set(sections)
    if unknown:
        raise TrainrigError(f"no plugin registers params section {sorted(unknown)[0]!r}; sections: {one_of(sections)}")
    return {name: given.get(name) or cls() for name, cls in sections.items()}


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class Trainer:
    """Train ``model`` on ``data`` as ``params`` say; ``train()`` returns the history.

    The callback list is trainrig's base callbacks (history, console, TensorBoard, best model), then
    those plugins register, then ``callbacks``. Callbacks see ``self.model`` as a ``keras.Model``
    whose ``optimizer`` is the training optimizer, and epoch-end ``logs`` holding every training value,
    every validation value (``val_`` prefix) and ``learning_rate``.
    """

    def __init__(
        self,
        params: TrainerParams,
        model: ModelBase,
        data: DataBase,
        callbacks: list[keras.callbacks.Callback] | None = None,
        plugins: PluginManager | None = None,
        plugin_params: dict[str, Any] | None = None,
    ):
        self.params = params
        self.model = model
        self.data = data
        self.user_callbacks = list(callbacks or [])
        self.plugins = plugins or plugin_manager()
        self.run_dir = RunDir(params.output_dir)
        self.history: dict[str, list[float]] = {}
        self.validation_batch: tuple[dict, dict, dict] | None = None
        # (y_true, y_pred, weight) of the model's _prediction() over the last validation, for the suite
        self.validation_predictions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.tensorboard_handler = model._create_tensorboard_handler()
        self.plugin_params = resolve_plugin_params(self.plugins, plugin_params or {})
        self.store = CheckpointStore(self.run_dir.checkpoints, keep=params.keep_checkpoints)
        self.resumed = False

    # --- params ---------------------------------------------------------------------------------

    def params_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this run (written to ``OUTPUT/params.json``)."""
        return {
            "model": {"class": object_path(type(self.model)), "params": to_dict(self.model.params)},
            "data": {"class": object_path(type(self.data)), "params": to_dict(self.data.params)},
            "trainer": to_dict(self.params),
            "plugins": {
                "modules": self.plugins.modules,
                "blocked": self.plugins.blocked,
                "entry_points": self.plugins.entry_points,
                "params": {name: to_dict(value) for name, value in self.plugin_params.items()},
            },
        }

    def flat_params(self) -> dict[str, Any]:
        tree = self.params_dict()
        return flatten(
            {
                "model": tree["model"]["params"],
                "data": tree["data"]["params"],
                "trainer": tree["trainer"],
                "plugins": tree["plugins"]["params"],
            }
        )

    # --- set-up: everything that can fail does so here, before the first step --------------------

    def _check_output_dir(self) -> None:
        if self.run_dir.is_run() and not self.params.overwrite:
            raise TrainrigError(
                f"output directory {self.run_dir.root} already holds a run (params.json); "
                "choose another --trainer.output_dir or pass --trainer.overwrite true"
            )

    def _prepare(self) -> None:
        p = self.params
        seed_everything(p.seed, p.deterministic)
        self.strategy = make_strategy(p.strategy)
        self.data.seed = p.seed
        train = augmented(self.data.train_sequence(p.batch_size), p.augmentation, self.plugins, p.seed)
        train = self._plugged_sequence("trainrig_train_sequence", train)
        validation = self._plugged_sequence("trainrig_val_sequence", self.data.val_sequence(p.batch_size))
        self.train_source = BatchSource(train, "training", p.steps_per_epoch)
        self.val_source = BatchSource(validation, "validation")
        self.steps_per_epoch = len(self.train_source)
        with self.strategy.scope():
            self.built: BuiltModel = build_model(self.model, self.train_source.signature)
            self.keras_model = self.built.keras_model
            self.objectives = Objectives(self.model)
            self._first_batch = check_first_batch(self.objectives, self.keras_model, self.train_source.first_batch())
            self.train_metrics = MetricSet(self.model, self.objectives)
            self.val_metrics = MetricSet(self.model, self.objectives)
            self.optimizer = make_optimizer(p, self.steps_per_epoch)
            self.optimizer.build(self.keras_model.trainable_variables)
        self.keras_model.optimizer = self.optimizer
        check_sample_weights(self.model, self.train_metrics, self._first_batch)
        self.prediction = checked_prediction(self.model, self._first_batch, self.keras_model.output)
        self._choose_best_monitor()
        self.steps = Steps(
            self.strategy,
            self.keras_model,
            self.optimizer,
            self.objectives,
            self.train_metrics,
            self.val_metrics,
            self.prediction,
        )
        with self.strategy.scope():  # plugins' export graphs may create variables (an EMA copy, say)
            graphs = self._export_graphs()
        self.exporter = Exporter(graphs, self.model._additional_layers(), object_path(type(self.model)), self.plugins, self)
        self.callbacks = self._callbacks()

    def _plugged_sequence(self, hook_name: str, sequence):
        """The data's sequence as replaced or wrapped by plugins, each in turn."""
        return self.plugins.chain(hook_name, "sequence", sequence, trainer=self)

    def _monitor(self, metric: str, mode: str) -> tuple[str, bool]:
        suite = self.suite_names()
        return choose_monitor(
            metric,
            mode,
            self.model._best_logging_settings(),
            self.val_metrics.names(),
            [*self.objectives.loss_names, TOTAL_LOSS],
            suite,
            {name: GREATER_IS_BETTER.get(name, self._custom_greater()) for name in suite},
        )

    def _choose_best_monitor(self) -> None:
        """Set ``best_monitor`` / ``best_greater_is_better`` and publish them as shared variables."""
        self.best_monitor, self.best_greater_is_better = self._monitor(self.params.best_metric, self.params.best_mode)
        set_variable("MODEL_METRIC", self.best_monitor)
        set_variable("MODEL_METRIC_GREATER_IS_BETTER", self.best_greater_is_better)
        if self.params.reduce_lr.patience > 0 and self.params.lr_schedule != "constant":
            raise TrainrigError("trainer.reduce_lr needs trainer.lr_schedule constant (a schedule owns the learning rate)")

    def direction_of(self, key: str) -> str:
        """``"max"`` or ``"min"`` for a logs key that early stopping or LR-on-plateau monitors."""
        if key == self.best_monitor:
            return "max" if self.best_greater_is_better else "min"
        _, greater = self._monitor(key, "auto")
        return "max" if greater else "min"

    def custom_score(self):
        """``(score function, greater_is_better)`` of the suite's Custom Score, or ``None``."""
        if self.params.suite.custom_score:
            function = import_object(self.params.suite.custom_score, what="trainer.suite.custom_score")
            if not callable(function):
                raise TrainrigError(f"trainer.suite.custom_score {self.params.suite.custom_score!r} is not callable")
            return function, self.params.suite.custom_greater_is_better
        return self.model._custom_score()

    def _custom_greater(self) -> bool:
        custom = self.custom_score()
        return True if custom is None else bool(custom[1])

    def suite_names(self) -> list[str]:
        """Names of the suite's entries (``"Test <name>"`` in logs) for the model's prediction type."""
        if self.prediction is None:
            return []
        names = list(SUITE_NAMES[self.prediction.type])
        return names + ["Custom Score"] if self.custom_score() is not None else names

    def _export_graphs(self) -> dict[str, keras.Model]:
        b = self.built
        graphs: dict[str, keras.Model] = {}
        owners: dict[str, str] = {}
        for plugin, result in self.plugins.call_each(
            "trainrig_register_export_graphs",
            model=self.model,
            inputs=b.inputs,
            outputs=b.outputs,
            targets=b.targets,
            trainer=self,
        ):
            self.plugins.check_type(
                plugin,
                "trainrig_register_export_graphs",
                isinstance(result, dict) and all(isinstance(g, keras.Model) for g in result.values()),
                "a dict of name -> keras.Model",
            )
            for name, graph in result.items():
                if name in graphs:
                    raise TrainrigError(f"export graph {name!r} is registered by both {owners[name]!r} and {plugin!r}")
                graphs[name], owners[name] = graph, plugin
        return graphs

    def _callbacks(self) -> keras.callbacks.CallbackList:
        callbacks = []
        for plugin, result in self.plugins.call_each("trainrig_register_callbacks", trainer=self):
            self.plugins.check_type(
                plugin,
                "trainrig_register_callbacks",
                isinstance(result, (list, tuple)) and all(isinstance(c, keras.callbacks.Callback) for c in result),
                "a list of keras.callbacks.Callback",
            )
            callbacks.extend(result)
        callbacks.extend(self.user_callbacks)
        return keras.callbacks.CallbackList(
            callbacks, model=self.keras_model, epochs=self.params.epochs, steps=self.steps_per_epoch, verbose=0
        )

    # --- the loop -------------------------------------------------------------------------------

    def train(self, resume: bool = False) -> dict[str, list[float]]:
        """Run the whole experiment and return the history ``{log name: [value per epoch]}``.

        With ``resume=True`` the run continues from the newest usable checkpoint in ``output_dir``
        (from the start if there is none); a finished run returns its history at once.
        """
        self.resumed = resume
        if not resume:
            self._check_output_dir()
        self._prepare()
        position = Position(epoch=0, step=0, global_step=0)
        if resume:
            position = self._restore_latest()
            if position.finished:
                print(f"the run in {self.run_dir.root} has already finished; nothing to resume")
                return self.history
        self.run_dir.root.mkdir(parents=True, exist_ok=True)
        self.run_dir.params_json.write_text(dumps(self.params_dict()))
        try:
            self.plugins.call_each("trainrig_run_start", trainer=self)
            try:
                with StopRequest(self.run_dir.root) as self.stop_request:
                    self._fit(position)
            except BaseException:
                self.store.close(quiet=True)  # the run's own error is the one to report
                raise
            self.store.close()
        except BaseException as error:
            self._report_error(error)
            raise
        self.plugins.call_each("trainrig_run_end", trainer=self, history=self.history)
        return self.history

    @classmethod
    def resume(cls, output_dir, callbacks=None, plugins=None) -> dict[str, list[float]]:
        """Continue the run in ``output_dir`` with its saved params (and ``callbacks``, as when it started)."""
        from trainrig.experiment import build_experiment, configure_plugins, read_json

        run = RunDir(output_dir)
        if not run.is_run():
            raise TrainrigError(f"{run.root} is not a trainrig run (no params.json)")
        tree = read_json(run.params_json, "params file")
        plugins = plugins or configure_plugins(tree, exact=True)
        model, data, params, plugin_params = build_experiment(tree, plugins)
        params = attrs.evolve(params, output_dir=str(run.root))
        return cls(params, model, data, callbacks, plugins=plugins, plugin_params=plugin_params).train(resume=True)

    # --- checkpoints ----------------------------------------------------------------------------

    def _restore_latest(self) -> Position:
        loaded = self.store.load_latest()
        if loaded is None:
            return Position(epoch=0, step=0, global_step=0)
        path, arrays, state = loaded
        position = restore_state(self, arrays, state)
        if self.params.progress != "none" and not position.finished:
            print(f"resuming from {path.name}: epoch {position.epoch + 1}, step {position.step}", flush=True)
        return position

    def _save_checkpoint(self, position: Position, wait: bool = False) -> None:
        """Capture the state now and write it in the background (``wait``: and until it is on disk)."""
        arrays, state = capture_state(self, position)
        self.store.save_async(position.global_step, arrays, state)
        if wait:
            self.store.wait()

    def _global_step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.optimizer.iterations))

    def _after_execution(self, epoch: int, step: int, count: int) -> None:
        """Write a step checkpoint when one is due, and honour a stop request (after a checkpoint)."""
        every = self.params.checkpoint_every_steps
        global_step = self._global_step()
        due = every > 0 and global_step // every > (global_step - count) // every
        stopping = self.stop_request.requested()
        if due or stopping:
            self._save_checkpoint(Position(epoch=epoch, step=step, global_step=global_step), wait=stopping)
        if stopping:
            raise TrainingStopped(
                f"stopped by {self.stop_request.reason} at epoch {epoch + 1}, step {step} (global step {global_step}) "
                f"after writing a checkpoint; continue with: trainrig resume {self.run_dir.root}"
            )

    # --- the loop -------------------------------------------------------------------------------

    def _fit(self, position: Position) -> None:
        callbacks = self.callbacks
        self.keras_model.stop_training = False
        callbacks.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(position.epoch, self.params.epochs):
            logs = self._train_epoch(epoch, position.step if epoch == position.epoch else 0)
            if self.keras_model.stop_training:
                break
        callbacks.on_train_end(logs)
        if self.params.export:
            self.exporter.export(self.run_dir.export, "final", extra={"epochs": len(next(iter(self.history.values()), []))})
        epochs_done = len(next(iter(self.history.values()), []))
        self._save_checkpoint(
            Position(epoch=epochs_done, step=0, global_step=self._global_step(), finished=True), wait=True
        )

    def _report_error(self, error: BaseException) -> None:
        """Tell plugins the run failed; a plugin failing here must not hide the original error."""
        try:
            self.plugins.call_each("trainrig_run_error", trainer=self, error=error)
        except TrainrigError as hook_error:
            import warnings

            warnings.warn(str(hook_error), stacklevel=2)

    def _distributed_iterator(self, dataset: tf.data.Dataset):
        return iter(self.strategy.experimental_distribute_dataset(dataset))

    def _train_epoch(self, epoch: int, start_step: int = 0) -> dict[str, float]:
        """Train one epoch from ``start_step`` (non-zero when resuming mid-epoch), validate, run callbacks."""
        callbacks = self.callbacks
        if start_step == 0:
            self.train_metrics.reset()
        callbacks.on_epoch_begin(epoch)
        iterator = self._distributed_iterator(self.train_source.dataset(start_step))
        step, logs = start_step, self.train_metrics.results()
        while step < self.steps_per_epoch:
            count = min(self.params.steps_per_execution, self.steps_per_epoch - step)
            callbacks.on_train_batch_begin(step)
            self.steps.train(iterator, count)
            step += count
            logs = self.train_metrics.results()
            callbacks.on_train_batch_end(step - 1, logs)
            self._after_execution(epoch, step, count)
            if self.keras_model.stop_training:
                break
        self.train_source.epoch_end()
        logs = dict(logs)
        logs.update(self._validate())
        logs["learning_rate"] = current_learning_rate(self.optimizer)
        callbacks.on_epoch_end(epoch, logs)
        # Written after every callback's on_epoch_end, so each callback's state includes this epoch.
        stopping = self.stop_request.requested()
        self._save_checkpoint(Position(epoch=epoch + 1, step=0, global_step=self._global_step()), wait=stopping)
        if stopping:
            raise TrainingStopped(
                f"stopped by {self.stop_request.reason} after epoch {epoch + 1} (checkpoint written); "
                f"continue with: trainrig resume {self.run_dir.root}"
            )
        return logs

    def _validate(self) -> dict[str, float]:
        callbacks = self.callbacks
        self.val_metrics.reset()
        callbacks.on_test_begin()
        iterator = self._distributed_iterator(self.val_source.dataset())
        step, total = 0, len(self.val_source)
        gathered = []
        while step < total:
            count = min(self.params.steps_per_execution, total - step)
            callbacks.on_test_batch_begin(step)
            predictions = self.steps.evaluate(iterator, count)
            if predictions is not None:
                gathered.append(predictions)
            step += count
            callbacks.on_test_batch_end(step - 1)
        if gathered:
            self.validation_predictions = tuple(np.concatenate(parts) for parts in zip(*gathered))
        logs = self.val_metrics.results()
        callbacks.on_test_end(logs)
        self._capture_validation_batch()
        return {VALIDATION_PREFIX + name: value for name, value in logs.items()}

    def _capture_validation_batch(self) -> None:
        """Keep the first validation batch(es) with outputs, for ``_print_evaluate`` and TensorBoard.

        At least one batch, and as many whole batches as ``print_samples`` needs.
        """
        if not hasattr(self, "_first_val_batch"):
            self._first_val_batch = self.val_source.first_rows(self.params.print_samples)
        inputs, targets = self._first_val_batch
        outputs = {k: keras.ops.convert_to_numpy(v) for k, v in self.steps.predict(inputs).items()}
        self.validation_batch = (inputs, targets, outputs)
