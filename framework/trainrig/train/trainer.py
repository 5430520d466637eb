"""``Trainer``: runs one experiment from params to exported model.

The trainer orchestrates; each step of the story lives in a module of its own:

1. :mod:`~trainrig.train.setup` — seeds, strategy, sequences, model, objectives, optimizer, steps;
2. :mod:`~trainrig.train.best_metric` — which logs key decides the best model;
3. :mod:`~trainrig.train.contributions` — the plugins' export graphs and callbacks;
4. :mod:`~trainrig.train.checkpointing` — restore, checkpoints, stop requests;
5. :mod:`~trainrig.train.fit_loop` and :mod:`~trainrig.train.evaluation` — epochs and validation
   (with the model's pure-Python evaluator, :mod:`~trainrig.train.evaluator`);
6. the final export and the finished checkpoint.

What plugins and callbacks see of the run is its :class:`~trainrig.context.RunContext`.
"""

from __future__ import annotations

import shutil
from typing import Any

import attrs
import keras

from trainrig.checkpoint.state import Position
from trainrig.checkpoint.store import CheckpointStore
from trainrig.context import RunContext, ValidationResult
from trainrig.data.base import DataBase
from trainrig.errors import TrainrigError
from trainrig.export.exporter import Exporter
from trainrig.hooks.manager import PluginManager, plugin_manager
from trainrig.hooks.plugin_params import resolve_plugin_params
from trainrig.imports import object_path
from trainrig.log_keys import epochs_recorded
from trainrig.model.base import ModelBase
from trainrig.params import dumps
from trainrig.run_dir import RunDir
from trainrig.run_lock import RunLock
from trainrig.train.best_metric import choose_best_metric, resolve_custom_score
from trainrig.train.checkpointing import Checkpointing, resumable_parts
from trainrig.train.contributions import export_graphs, plugin_callbacks
from trainrig.train.distribution import WorkerSync, cluster_of, lost_worker
from trainrig.train.evaluation import ValidationLoop
from trainrig.train.executions import ExecutionSizes, listeners, validation_steps_per_execution
from trainrig.train.fit_arguments import FitArguments, checked_fit
from trainrig.train.fit_loop import FitLoop
from trainrig.train.fit_stages import FitStages
from trainrig.train.freeze import freeze_controller
from trainrig.train.params import TrainerParams
from trainrig.train.run_params import params_tree
from trainrig.train.setup import RunParts, refit, set_up
from trainrig.train.warm_start import warm_start
from trainrig.user_code import calling


class Trainer:
    """Train ``model`` on ``data`` as ``params`` say; ``train()`` returns the history.

    The callback list is trainrig's base callbacks (history, console, TensorBoard, best model), then
    those plugins register, then ``callbacks``. Callbacks see ``self.model`` as a ``keras.Model``
    whose ``optimizer`` is the training optimizer, and epoch-end ``logs`` holding every training value,
    every validation value (``val_`` prefix) and ``learning_rate``.

    With ``trainer.strategy multi_worker`` every worker process builds the same Trainer; only the chief
    writes into ``output_dir``, the others write into a scratch directory removed at their end, print
    no progress, and restore from the chief's checkpoints (:mod:`trainrig.train.distribution`).
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
        resolved = resolve_plugin_params(self.plugins, plugin_params or {})
        self.cluster = cluster_of(params.strategy)
        self.output = RunDir(params.output_dir)  # the run's directory: what every worker reads, the chief writes
        if not self.cluster.is_chief:
            self.params = params = attrs.evolve(params, progress="none")
        self.context = RunContext(
            params=params,
            run_dir=self.output if self.cluster.is_chief else RunDir(self.cluster.scratch_dir()),
            is_chief=self.cluster.is_chief,
            cluster=self.cluster,
            model=model,
            data=data,
            plugin_params=resolved,
            params_tree=params_tree(params, model, data, self.plugins, resolved),
        )
        with calling(model, "_create_tensorboard_handler"):
            self.context.tensorboard_handler = model._create_tensorboard_handler()
        self.parts: RunParts | None = None

    # --- what callers read ----------------------------------------------------------------------

    @property
    def run_dir(self) -> RunDir:
        return self.context.run_dir

    @property
    def history(self) -> dict[str, list[float]]:
        return self.context.history

    @property
    def plugin_params(self) -> dict[str, Any]:
        return self.context.plugin_params

    @property
    def keras_model(self) -> keras.Model | None:
        """The run's keras model (``None`` before :meth:`prepare`)."""
        return self.context.keras_model

    @property
    def optimizer(self) -> keras.optimizers.Optimizer | None:
        return self.context.optimizer

    @property
    def exporter(self) -> Exporter | None:
        return self.context.exporter

    def params_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this run (written to ``OUTPUT/params.json``)."""
        return self.context.params_tree

    # --- set-up: everything that can fail does so here, before the first step --------------------

    def prepare(self) -> RunContext:
        """Set the run up (once): model, optimizer, best metric, export graphs, callbacks, checkpoints.

        Nothing is written to the output directory. Returns the run context.
        """
        if self.parts is not None:
            return self.context
        parts = set_up(self.params, self.model, self.data, self.plugins, self.context)
        if self.params.warm_start.path and not self.context.resumed:
            self._warm_start(parts)
        self._publish(parts)
        with parts.strategy.scope():  # plugins' export graphs may create variables (an EMA copy, say)
            graphs = export_graphs(self.plugins, self.model, parts.built, self.context)
        self.context.exporter = Exporter(
            graphs,
            self.model._additional_layers(),
            object_path(type(self.model)),
            self.plugins,
            self.context,
            precision=self.params.precision,
        )
        base = plugin_callbacks(self.plugins, self.context)
        added = self._fit_model(parts, base)
        self.callbacks = keras.callbacks.CallbackList(
            [*base, *self.user_callbacks, *added],
            model=parts.keras_model,
            epochs=self.params.epochs,
            steps=parts.steps_per_epoch,
            verbose=0,
        )
        self._assemble_loop(parts, graphs)
        self.parts = parts
        return self.context

    def _fit_model(self, parts: RunParts, base: list) -> list:
        """The model's ``_fit_model`` (advanced mode): returns the callbacks it adds; new epochs or steps
        per epoch become the run's params."""
        fit = FitArguments(
            train_sequence=parts.train_source.sequence,
            validation_sequence=parts.val_source.sequence,
            base_callbacks=tuple(base),
            epochs=self.params.epochs,
            steps_per_epoch=self.params.steps_per_epoch,
        )
        params = checked_fit(self.model, self.context, fit, self.params)
        if params is not self.params:
            refit(parts, params)
            self.params = self.context.params = params
            self.context.steps_per_epoch = parts.steps_per_epoch
        return fit.callbacks

    def _warm_start(self, parts: RunParts) -> None:
        report = warm_start(self.params.warm_start, parts.keras_model)
        if self.params.progress != "none":
            print(report.summary(), flush=True)

    def _publish(self, parts: RunParts) -> None:
        """What plugins and callbacks read of the built run, and the best-model metric (shared variables too)."""
        context, params = self.context, self.params
        context.keras_model, context.optimizer = parts.keras_model, parts.optimizer
        context.steps_per_epoch, context.prediction = parts.steps_per_epoch, parts.prediction
        context.custom_score = resolve_custom_score(params.suite, self.model)
        val_names = [*parts.val_metrics.names(), *(parts.evaluator_names or [])]  # the evaluator's: val_<name> too
        context.best = choose_best_metric(
            params, self.model, val_names, parts.objectives.loss_names, parts.prediction, context.custom_score
        )
        context.best.publish()

    def _assemble_loop(self, parts: RunParts, graphs: dict[str, keras.Model]) -> None:
        """Freeze training, pre/post fit, checkpoints, validation and the fit loop around ``parts``."""
        params, verbose = self.params, self.params.progress != "none"
        self.freezing = freeze_controller(params, parts.keras_model, parts.optimizer, parts.steps.retrace, verbose)
        self.context.freeze = getattr(self.freezing, "state", None)
        self.stages = FitStages(self.context)
        self.checkpoints = Checkpointing(
            CheckpointStore(self.run_dir.checkpoints, keep=params.keep_checkpoints),
            resumable_parts(parts, graphs, [*self.callbacks.callbacks, self.stages, self.freezing]),
            parts.optimizer,
            params.checkpoint_every_steps,
            self.output.root,
            verbose=verbose,
            chief_store=None if self.cluster.is_chief else CheckpointStore(self.output.checkpoints),
            stop_after_epoch=params.stop_after_epoch if params.stop_after_epoch < params.epochs else 0,
        )
        self.checkpoints.write_after = self.context.exporter.barrier
        callbacks, replicas = self.callbacks.callbacks, parts.strategy.num_replicas_in_sync
        validation_steps = validation_steps_per_execution(
            params.steps_per_execution, callbacks, replicas, len(parts.val_source), gathers_samples=parts.evaluator_names is not None
        )
        self.validation = ValidationLoop(parts, self.callbacks, validation_steps, params.print_samples, self.model)
        executions = ExecutionSizes(
            params.steps_per_execution, bool(listeners(callbacks)), params.checkpoint_every_steps, params.accumulate
        )
        self.loop = FitLoop(
            parts, self.callbacks, self.validate, self.checkpoints, params.epochs, executions, self.freezing,
            WorkerSync(parts.strategy, self.cluster),
        )

    def freeze_plan(self) -> str:
        """The phases of freeze training resolved against the real model (what ``freeze.dry_run`` prints)."""
        self.prepare()
        plan = getattr(self.freezing, "plan", None)
        return plan.describe() if plan is not None else "freeze training is off (trainer.freeze asks for no phase)"

    def validate(self) -> ValidationResult:
        """One validation pass; its result becomes ``context.validation`` (what epoch-end callbacks read)."""
        self.prepare()
        self.context.validation = self.validation.run()
        return self.context.validation

    # --- the run --------------------------------------------------------------------------------

    def train(self, resume: bool = False) -> dict[str, list[float]]:
        """Run the whole experiment and return the history ``{log name: [value per epoch]}``.

        With ``resume=True`` the run continues from the newest usable checkpoint in ``output_dir``
        (from the start if there is none); a finished run returns its history at once. The output
        directory is locked for the whole call (one process per run, see :mod:`trainrig.run_lock`).
        """
        self.context.resumed = resume
        if self.params.freeze.dry_run:
            print(self.freeze_plan())
            return {}
        if not resume:
            self._check_output_dir()  # answer at once, before any set-up
        created = self.run_dir.create()
        try:
            with RunLock(self.run_dir.root):
                return self._train_locked(resume)
        finally:
            self.run_dir.remove_if_empty(created)  # a run that failed before writing anything leaves nothing
            if not self.cluster.is_chief:
                shutil.rmtree(self.run_dir.root, ignore_errors=True)  # a worker's scratch copy of the chief's files

    def _train_locked(self, resume: bool) -> dict[str, list[float]]:
        if not resume and self.cluster.is_chief:
            self._check_output_dir()  # again: no other process can start a run here now
        self.prepare()
        position = self.checkpoints.restore_latest() if resume else Position.start()
        if position.finished:
            print(f"the run in {self.run_dir.root} has already finished; nothing to resume")
            return self.history
        if not resume and self.params.overwrite:
            self._clear_previous_run()
        self._write_params()
        try:
            self.stages.pre_fit()
            self.plugins.call("trainrig_run_start", trainer=self.context)
            with self.checkpoints.watching_for_stop():
                with self.context.exporter.background():  # the best model's export (see BestModel)
                    self.loop.run(position)
                self.stages.post_fit()
                self._export_final()
                self.checkpoints.finish(epochs_recorded(self.history))
        except BaseException as error:
            self._report_error(error)
            lost = lost_worker(error, self.cluster, self.output.root)
            if lost is not None:
                raise lost from error
            raise
        self.plugins.call("trainrig_run_end", trainer=self.context, history=self.history)
        return self.history

    @classmethod
    def resume(cls, output_dir, callbacks=None, plugins=None) -> dict[str, list[float]]:
        """Continue the run in ``output_dir`` with its saved params (and ``callbacks``, as when it started)."""
        return cls.reopen(output_dir, callbacks=callbacks, plugins=plugins).train(resume=True)

    @classmethod
    def reopen(cls, output_dir, callbacks=None, plugins=None, **overrides) -> "Trainer":
        """A trainer of the run in ``output_dir``, rebuilt from its ``params.json`` with the plugins it
        used (``overrides``: trainer params to change, e.g. ``progress="none"``)."""
        from trainrig.experiment import build_experiment, configure_plugins, read_json

        run = RunDir(output_dir)
        if not run.is_run():
            raise TrainrigError(f"{run.root} is not a trainrig run (no params.json)")
        tree = read_json(run.params_json, "params file")
        plugins = plugins or configure_plugins(tree, exact=True)
        model, data, params, plugin_params = build_experiment(tree, plugins)
        params = attrs.evolve(params, output_dir=str(run.root), **overrides)
        trainer = cls(params, model, data, callbacks, plugins=plugins, plugin_params=plugin_params)
        trainer.context.resumed = True
        return trainer

    def _check_output_dir(self) -> None:
        if self.output.is_run() and not self.params.overwrite:
            raise TrainrigError(
                f"output directory {self.output.root} already holds a run (params.json); "
                "choose another --trainer.output_dir or pass --trainer.overwrite true"
            )

    def _clear_previous_run(self) -> None:
        removed = self.run_dir.clear_previous_run()
        if removed and self.params.progress != "none":
            print(f"overwrite: removed the previous run's {', '.join(removed)} from {self.run_dir.root}", flush=True)

    def _write_params(self) -> None:
        self.run_dir.params_json.write_text(dumps(self.params_dict()))

    def _export_final(self) -> None:
        if self.params.export:
            self.context.exporter.export(self.run_dir.export, "final", extra={"epochs": epochs_recorded(self.history)})

    def _report_error(self, error: BaseException) -> None:
        """Tell plugins the run failed; a plugin failing here must not hide the original error."""
        try:
            self.plugins.call("trainrig_run_error", trainer=self.context, error=error)
        except TrainrigError as hook_error:
            import warnings

            warnings.warn(str(hook_error), stacklevel=2)
