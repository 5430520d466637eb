"""``ModelBase``: what a user subclasses to define the network, its losses and metrics, and exports."""

from __future__ import annotations

from typing import Any, Callable, Generic, Protocol, TypeVar

import keras

from trainrig.model.definitions import (
    LossDefinition,
    MetricDefinition,
    MultiMetricDefinition,
    PredictionDefinition,
    Sample,
)
from trainrig.model.params import ModelBaseParams
from trainrig.params import params_class_of
from trainrig.tensorboard.handler import TensorBoardDataHandler

P = TypeVar("P", bound=ModelBaseParams)


class Evaluator(Protocol):
    """What :meth:`ModelBase._evaluator` returns: fed every validation sample, then asked for its values."""

    def update_state(self, sample: Sample) -> None: ...

    def result(self) -> dict[str, float]: ...


class ModelBase(Generic[P]):
    """The model of an experiment: ``MyModel(params)``; the params are ``self.params``.

    Override :meth:`create_graph` and at least one of :meth:`_loss` / :meth:`_extended_loss`;
    everything else is optional (e.g. :meth:`_evaluator`, a pure-Python evaluator of every validation
    sample, logged as ``val_<name>``). A batch is ``(inputs, targets)``, both dicts of tensors; the graph
    maps the inputs dict to an outputs dict. The params class is taken from ``ModelBase[MyParams]``
    (or a ``params_class`` class attribute).
    """

    params_class: type | None = None

    def __init__(self, params: P | None = None):
        self.params: P = params if params is not None else self.params_cls()()

    @classmethod
    def params_cls(cls) -> type:
        return params_class_of(cls, ModelBase, ModelBaseParams)

    # --- the network ---------------------------------------------------------------------------

    def create_graph(self, params: P) -> keras.layers.Layer:
        """Return a layer or model that takes the inputs dict and returns the outputs dict."""
        raise NotImplementedError(f"{type(self).__name__} must implement create_graph(self, params)")

    # --- losses --------------------------------------------------------------------------------

    def _loss(self) -> dict[str, LossDefinition]:
        """Keras losses by name: ``LossDefinition(target, output, keras_loss)``."""
        return {}

    def _extended_loss(self, inputs_targets: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        """Losses over the joined inputs+targets dict and the outputs: ``{name: tensor [batch]}``."""
        return {}

    def _loss_weights(self) -> dict[str, float] | None:
        """Weights of the named losses in the total ``loss`` (default 1 each)."""
        return None

    # --- metrics -------------------------------------------------------------------------------

    def _metric(self) -> dict[str, MetricDefinition]:
        """Keras metrics by name. Return NEW metric objects on every call (train and validation each get a set)."""
        return {}

    def _sample_weights(self, inputs: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any] | None:
        """Per-metric sample weights ``{metric name: tensor [batch]}`` (keras, extended and multi metrics)."""
        return None

    def _extended_metric(self, inputs_targets: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        """Metrics over everything: ``{name: tensor [batch]}``, averaged (weighted by ``_sample_weights``)."""
        return {}

    def _multi_metric(self) -> dict[str, MultiMetricDefinition]:
        """Multi-metrics by name; each child metric logs under its own name. Return new objects per call."""
        return {}

    def _best_logging_settings(self) -> tuple[str, str]:
        """``("min" or "max", name)`` of the loss, metric or :meth:`_evaluator` value (validation value) that
        decides the best model."""
        return "min", "loss"

    # --- validation output ---------------------------------------------------------------------

    def _print_evaluate(self, sample: Sample, data, print_fn: Callable[..., None] = print) -> None:
        """Called on the first few validation samples (un-batched) of every validation."""

    def _create_tensorboard_handler(self) -> TensorBoardDataHandler:
        """The handler of extra TensorBoard data (default: none beyond losses and metrics)."""
        return TensorBoardDataHandler()

    def _prediction(self) -> PredictionDefinition | None:
        """What the validation metric suite evaluates (``None``: no suite)."""
        return None

    def _evaluator(self) -> Evaluator | None:
        """A pure-Python evaluator of every validation sample, or ``None`` (default: none, nothing gathered).

        Return a NEW object on every call, with ``update_state(sample)`` and ``result() -> {name: number}``.
        Every validation (each epoch's, and ``trainrig lav``'s) makes a fresh one and feeds it every
        validation row, of all batches and all replicas, as a :class:`~trainrig.Sample` of numpy
        values without the batch axis (``inputs``, ``targets`` and the model's ``outputs`` in inference
        mode); ``result()`` is then logged as ``val_<name>`` like every validation metric (history,
        ``metrics.jsonl``, TensorBoard, ``trainrig lav``), so ``_best_logging_settings`` may name it.
        Names must differ from the losses' and metrics'. At set-up one evaluator is fed the first
        validation batch and its ``result()`` checked, so a bad one fails before training. E.g.::

            class ExactMatch:
                def __init__(self):
                    self.hits = self.rows = 0

                def update_state(self, sample):
                    self.rows += 1
                    self.hits += int(np.array_equal(np.argmax(sample.outputs["logits"], -1), sample.targets["tokens"]))

                def result(self):
                    return {"exact_match": self.hits / max(self.rows, 1)}

            def _evaluator(self):
                return ExactMatch()  # logged as val_exact_match

            def _best_logging_settings(self):
                return "max", "exact_match"

        Validation then runs one step per call and copies every row to Python: meant for values that
        need Python (edit distances, decoding), not for what a keras metric can compute.
        """
        return None

    def _custom_score(self) -> tuple[Callable, bool] | None:
        """``(score, greater_is_better)`` logged as ``"Test Custom Score"``; ``score(y_true, y_pred, sample_weight=None)``.

        ``--trainer.suite.custom_score module:function`` takes precedence.
        """
        return None

    # --- around the training --------------------------------------------------------------------

    def _pre_fit(self, trainer) -> dict | None:
        """Called once before the first epoch (not again on resume) with the run context; may return a
        cache (JSON data and numpy arrays, e.g. statistics of the training data) that is saved with
        every checkpoint and handed to :meth:`_post_fit`. Default: nothing."""
        return None

    def _post_fit(self, trainer, cache: dict) -> None:
        """Called once after the last epoch, before the final export, with the run context and the
        :meth:`_pre_fit` cache. Default: nothing."""

    # --- advanced training mode ----------------------------------------------------------------

    def _build_sequences(self, build_train_sequence_with_batch_size, build_validation_sequence_with_batch_size, batch_size: int):
        """The ``(train, validation)`` sequences to train on. Default: both at ``batch_size``
        (``--trainer.batch_size``).

        The two builders call the data's ``train_sequence`` / ``val_sequence`` with the batch size
        given; wrap what they return, e.g. augment three copies of batches a third the size::

            def _build_sequences(self, build_train, build_validation, batch_size):
                train = build_train(batch_size // 3)
                augmentator = trainrig.build_augmentation([{"name": "rotation", "rotation_range": 15}])
                return DataAugmentationSequence(train, "image", augmentator, n_augmentation=3, seed=0), build_validation(batch_size)

        ``--trainer.augmentation`` and the plugins' sequence hooks apply on top of what this returns.
        """
        return build_train_sequence_with_batch_size(batch_size), build_validation_sequence_with_batch_size(batch_size)

    def _fit_model(self, trainer, fit) -> None:
        """Change the fit before the first step: ``fit`` is a :class:`~trainrig.FitArguments`.

        Append callbacks to ``fit.callbacks`` (they run after the base callbacks, so they see every
        metric), or set ``fit.epochs`` / ``fit.steps_per_epoch``. ``trainer`` is the run context.
        Called on every start and resume of the run (a resumed run gets the same changes).
        Default: nothing.
        """

    # --- export --------------------------------------------------------------------------------

    @classmethod
    def _additional_layers(cls) -> list:
        """Custom objects needed to reload an exported graph, beyond those found automatically.

        The exporter already records every custom layer class it finds by walking the exported
        graph, so override this only for objects it cannot see (a custom activation function, a class
        used only inside a ``Lambda``...).
        """
        return []

    def _export_graphs(self, inputs: dict, outputs: dict, targets: dict) -> dict[str, keras.Model]:
        """The graphs to export, by name. Default: ``{"default": keras.Model(inputs, outputs)}``."""
        del targets
        return {"default": keras.Model(inputs=inputs, outputs=outputs)}
