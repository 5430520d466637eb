"""Write every loss and metric, the learning rate, the run's settings, params and graph to TensorBoard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorboard.plugins.scalar import metadata as scalar_metadata

from trainrig.callbacks.base import TrainrigCallback
from trainrig.log_keys import epochs_recorded
from trainrig.train.environment import learning_rate_schedule_of
from trainrig.tensorboard import hparams, run_summary
from trainrig.tensorboard.augmentation_preview import write_augmentation_preview
from trainrig.tensorboard.pr_curves import write_pr_curves
from trainrig.tensorboard.tags import EPOCH_AXIS, FREEZE, LEARNING_RATE_TAG, OPTIMIZER, STEP_AXIS, STEPS, TagNames, logged_suite_duplicates
from trainrig.tensorboard.writers import TRAIN_RUN, VALIDATION_RUN, Writers, last_step, read_events, split_logs
from trainrig.sweep.space import sweep_varying
from trainrig.user_code import calling

PER_STEP_SECTIONS = (f"{OPTIMIZER}/", f"{STEPS}/")


def _last_steps(directory) -> tuple[int, int]:
    """``(highest epoch step, highest optimizer step)`` already written in a run directory (0 and -1 when
    there are none); tags of the per-step sections (``optimizer/``, ``steps/``) are not epochs."""
    epochs, steps = 0, -1
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        for event in read_events(path):
            tags = {value.tag for value in event.summary.value}
            if any(tag.startswith(PER_STEP_SECTIONS) for tag in tags):
                steps = max(steps, int(event.step))
            elif tags:
                epochs = max(epochs, int(event.step))
    return epochs, steps


RATE_METADATA = scalar_metadata.create_summary_metadata(display_name=LEARNING_RATE_TAG, description=STEP_AXIS)


class TensorBoardLogger(TrainrigCallback):
    """Logs under ``OUTPUT/tensorboard/{train,validation}`` (runs) and ``OUTPUT/tensorboard`` (HParams).

    Tags are grouped in sections (:mod:`trainrig.tensorboard.tags`): ``losses/``, ``metrics/``,
    ``suite/``, ``best/``, ``optimizer/``, ``steps/``, ``freeze/``. At epoch end (step ``e`` for epoch
    ``e``, 1-based) the training values of ``logs`` go to the ``train`` run and the validation values
    (``val_*`` without the prefix, the suite) to the ``validation`` run under the same tag, so
    TensorBoard overlays them; ``best/<name>`` is the best-model value so far. The HParams session and
    experiment config are described in :mod:`trainrig.tensorboard.hparams`. A new run also writes, at
    step 0 of the ``train`` run: the text summaries ``run/params`` and ``run/model_summary``, the
    model's graph (Graphs tab) and, with augmentation of an image input, ``augmentation/<input>``
    (see :mod:`trainrig.tensorboard.augmentation_preview`).

    The model's :class:`~trainrig.TensorBoardDataHandler` writes its outputs of the first validation
    batch into the ``validation`` run, and with a binary or multiclass ``_prediction()`` every validation
    writes PR curves ``pr_curve/...`` of all validation rows (:mod:`trainrig.tensorboard.pr_curves`). With freeze training, each change of the frozen layers is written
    as text ``freeze/change`` into the ``train`` run at its epoch (and ``freeze/frozen_layers``).

    The learning rate is written per optimizer step, as ``optimizer/learning_rate`` in the ``train`` run:
    at the start and after every execution, the rate of every optimizer step ``s`` the execution
    passed (``s`` = ``optimizer.iterations`` before that step: the value its schedule gives at ``s``; a
    fixed rate as it is then). With ``trainer.log_every_steps N``, the training values (means over the
    epoch so far, as the console shows them) are written as ``steps/<name>`` whenever ``N`` more optimizer
    steps have passed. On resume, steps already in the event files are not written again. The batch hook
    accepts executions of several steps (``batch_hooks_per_execution``), so it does not keep trainrig
    from fusing steps.
    """

    batch_hooks_per_execution = True

    def __init__(self, context):
        super().__init__(context)
        self.writers: Writers | None = None
        self._write_rate = None  # set by on_train_begin
        self.written_rate_step = -1
        self.written_values_step = -1
        self.tag_names = TagNames(())

    def on_train_begin(self, logs=None):
        context, run_dir = self.context, self.context.run_dir
        train_epochs, self.written_rate_step = _last_steps(run_dir.tensorboard_run(TRAIN_RUN))
        self.written_values_step = self.written_rate_step
        self.written = {TRAIN_RUN: train_epochs, VALIDATION_RUN: last_step(run_dir.tensorboard_run(VALIDATION_RUN))}
        self.writers = Writers(run_dir)
        self.tag_names = self._tag_names()
        self.varying = sweep_varying()
        self.settings = self._settings()
        self._write_rate = self._step_rate_writer()
        self._write_step_rate()
        if not context.resumed:
            self._write_run_start()
        else:
            self._backfill_from_history()
        self.writers.flush()

    def _settings(self) -> dict:
        """The run's HParams settings, and every key the enclosing sweep varies (even one a run leaves out)."""
        context = self.context
        objects = {"trainer": context.params}
        for section, owner in (("model", context.model), ("data", context.data)):
            params = getattr(owner, "params", None)
            if params is not None:
                objects[section] = params
        settings = hparams.settings_of(context.params_tree, objects)
        if self.varying:
            every = hparams.settings_of(context.params_tree, {})
            settings.update({key: every[key] for key in self.varying if key in every})
        return settings

    def _tag_names(self) -> TagNames:
        model, prediction = self.context.model, self.context.prediction
        definitions: list = []
        if model is not None:
            with calling(model, "_loss"):
                definitions += list((model._loss() or {}).values())
            with calling(model, "_metric"):
                definitions += list((model._metric() or {}).values())
        best = self.context.best
        loss_names = best.loss_names if best is not None else ()
        target = prediction.target if prediction is not None else None
        return TagNames(loss_names, logged_suite_duplicates(target, definitions))

    def _write_run_start(self) -> None:
        """A new run's HParams session, params and model summary texts, graph and augmentation preview."""
        context, writers = self.context, self.writers
        hparams.write_session(writers.root, self.settings, trial_id=context.run_dir.root.name)
        run_summary.write_params_text(writers.train, context.params_tree)
        if context.keras_model is not None:
            run_summary.write_model_summary(writers.train, context.keras_model)
            run_summary.write_model_graph(writers.train, context.keras_model)
        write_augmentation_preview(writers.train, context.train_sequence)

    def _write_experiment_config(self, validation: dict[str, float]) -> None:
        """Declare the settings and the metrics (the validation values as logged at the first epoch)."""
        metrics = {tag: (VALIDATION_RUN, f"validation {tag.split('/', 1)[1]}; {EPOCH_AXIS}") for tag in self.tag_names.tags(validation)}
        best = self.context.best
        if best is not None:
            metrics[TagNames.best(best.monitor)] = (VALIDATION_RUN, f"best {best.monitor} so far ({best.mode}); {EPOCH_AXIS}")
        first = hparams.key_settings(self.settings, self.varying)
        hparams.write_experiment_config(self.writers.root, self.settings, first, metrics)

    def _step_rate_writer(self):
        """A compiled write of the rate of every optimizer step after ``last_written`` up to
        ``optimizer.iterations``; returns ``iterations`` (``None`` without an optimizer)."""
        optimizer = self.context.optimizer
        if optimizer is None:
            optimizer = getattr(getattr(self, "model", None), "optimizer", None)
        if optimizer is None:
            return None
        writer, schedule = self.writers.train, learning_rate_schedule_of(optimizer)

        def write(last_written):
            step = tf.cast(optimizer.iterations, tf.int64)
            with writer.as_default():
                for s in tf.range(last_written + 1, step + 1):
                    rate = schedule(s) if schedule is not None else optimizer.learning_rate
                    # write() keeps the tag as it is (scalar() would prefix the loop's name scope)
                    tf.summary.write(LEARNING_RATE_TAG, tf.cast(rate, tf.float32), step=s, metadata=RATE_METADATA)
            return step

        return tf.function(write)

    def _write_step_rate(self) -> None:
        if self._write_rate is not None:
            step = int(self._write_rate(tf.constant(self.written_rate_step, tf.int64)))
            self.written_rate_step = max(self.written_rate_step, step)

    def on_train_batch_end(self, batch, logs=None):
        self._write_step_rate()
        self._write_step_values(logs)

    def _write_step_values(self, logs) -> None:
        """With ``trainer.log_every_steps N``: the training values once ``N`` more optimizer steps have passed."""
        every = self.context.params.log_every_steps
        if not every or not logs or self.written_rate_step // every <= max(self.written_values_step, 0) // every:
            return
        values = {TagNames.step(name): value for name, value in logs.items() if self.tag_names.tag(name) is not None}
        self.writers.scalars(self.writers.train, values, self.written_rate_step, description=STEP_AXIS)
        self.written_values_step = self.written_rate_step

    def _backfill_from_history(self) -> None:
        """On resume, write the epochs the checkpoint has but the event files lack (a kill in between)."""
        history = self.context.history
        for index in range(epochs_recorded(history)):
            self._write_epoch_scalars(index + 1, {name: values[index] for name, values in history.items()})

    def _best_so_far(self, step: int) -> dict[str, float]:
        """``{best/<name>: value}``: the best-model value over epochs 1..``step`` (from the history)."""
        best = self.context.best
        values = [v for v in self.context.history.get(best.monitor, [])[:step] if not np.isnan(v)] if best else []
        if not values:
            return {}
        return {TagNames.best(best.monitor): max(values) if best.greater_is_better else min(values)}

    def _write_epoch_scalars(self, step: int, logs: dict) -> None:
        """Write one epoch's values, skipping a run that already has this step (no duplicates on resume).
        The first epoch's validation values also declare the HParams metrics."""
        train, validation = split_logs(logs)
        if step == 1 and self.written[VALIDATION_RUN] == 0:
            self._write_experiment_config(validation)
        validation_tags = {**self.tag_names.tags(validation), **self._best_so_far(step)}
        for run, writer, values in (
            (TRAIN_RUN, self.writers.train, self.tag_names.tags(train)),
            (VALIDATION_RUN, self.writers.validation, validation_tags),
        ):
            if step > self.written[run]:
                self.writers.scalars(writer, values, step, description=EPOCH_AXIS)
                self.written[run] = step

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        fresh = step > self.written[VALIDATION_RUN]
        self._write_epoch_scalars(step, logs or {})
        if fresh:
            self._write_handler_outputs(step)
            self._write_freeze_change(epoch, step)
        self.writers.flush()

    def _write_freeze_change(self, epoch: int, step: int) -> None:
        """With freeze training: the change made at this epoch's start, as text ``freeze`` in the train run."""
        freeze = self.context.freeze
        if freeze is not None and freeze.changed_at_epoch == epoch:
            with self.writers.train.as_default():
                tf.summary.text(f"{FREEZE}/change", f"epoch {epoch + 1}: {freeze.change}", step=step)

    def _write_handler_outputs(self, step: int) -> None:
        """The handler's outputs of the first validation batch (its targets come with its inputs), and the
        PR curves of every validation row, into the ``validation`` run."""
        context = self.context
        with self.writers.validation.as_default():
            if context.prediction is not None and context.validation_predictions is not None:
                write_pr_curves(context.prediction, *context.validation_predictions, step)
            if context.validation_batch is None:
                return
            inputs, targets, outputs = context.validation_batch
            handler = context.tensorboard_handler
            for name, value in (handler._outputs_for_tensorboard({**targets, **inputs}, outputs) or {}).items():
                handler.handle(name, name, np.asarray(value), step)

    def on_train_end(self, logs=None):
        if self.writers is not None:
            self.writers.close()
