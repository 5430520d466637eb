"""Turn a model's loss and metric definitions into the computations of one train or eval step.

:class:`Objectives` checks every definition against the real inputs, targets and outputs once,
before training, and then computes the named losses and their weighted total inside the step.
:class:`MetricSet` holds one set of trackers (one for training, one for validation): a mean per loss,
the keras metrics, the extended metrics and the multi-metrics, and reads them out as ``logs``.

Under a strategy with several replicas each replica sees its own share (shard) of the global batch,
and a share can be empty (a last batch smaller than the replica count). Every named loss is the
mean over the replica's own rows, 0 for an empty share (never NaN), and the loss trackers weight it
by the replica's row count, so an empty share counts nothing and the logged value is the mean over
all rows, as on one device. :meth:`Objectives.replica_objective` weights the loss a replica
differentiates so that the gradients the optimizer sums over replicas equal one device's.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from trainrig.errors import TrainrigError, one_of
from trainrig.log_keys import RESERVED_NAMES, RESERVED_PREFIXES, TOTAL_LOSS
from trainrig.model.base import ModelBase
from trainrig.model.multi_metric import MultiMetric



def _check_names(kind: str, definitions: dict, targets: set[str], outputs: set[str]) -> None:
    for name, d in definitions.items():
        if d.target not in targets:
            raise TrainrigError(
                f"{kind} {name!r} names target {d.target!r}, which does not exist; targets: {one_of(targets)}"
            )
        if d.output not in outputs:
            raise TrainrigError(
                f"{kind} {name!r} names output {d.output!r}, which does not exist; outputs: {one_of(outputs)}"
            )


def _batch_size(tree: dict[str, Any]):
    first = next(iter(tree.values()))
    return ops.cast(ops.shape(first)[0], "float32")


def batch_rows(inputs: dict, targets: dict):
    """The number of rows of this (replica's share of the) batch, as a float32 scalar; 0 for an empty share."""
    return _batch_size(targets or inputs)


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


# Reductions after which a keras Loss multiplies its mean by 1 / num_replicas_in_sync inside a replica
# (keras.src.losses.loss.scale_loss_for_distribution); trainrig undoes it and weights by rows itself.
_KERAS_SCALED_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def _unscaled(loss_fn, value):
    """``value`` of ``loss_fn`` without keras' own 1 / replicas scaling (a no-op on one replica)."""
    replicas = _replicas()
    if replicas > 1 and isinstance(loss_fn, keras.losses.Loss) and loss_fn.reduction in _KERAS_SCALED_REDUCTIONS:
        return value * float(replicas)
    return value


def _mean(per_sample, rows):
    """The mean of a ``[batch]`` tensor: 0, not NaN, for an empty batch (``divide_no_nan`` of the sum)."""
    return ops.divide_no_nan(ops.sum(per_sample), rows)


def _per_sample(kind: str, name: str, value, batch: int):
    shape = tuple(value.shape)
    if len(shape) != 1 or (shape[0] is not None and batch is not None and shape[0] != batch):
        raise TrainrigError(f"{kind} {name!r} must return a tensor of shape [batch] = [{batch}], got shape {list(shape)}")


class Objectives:
    """The losses of a model, checked once against a real batch and computed in every step."""

    def __init__(self, model: ModelBase):
        self.model = model
        self.loss_definitions = dict(model._loss())
        self.loss_names: list[str] = []
        self.weights: dict[str, float] = {}
        self.extended_metric_names: list[str] = []

    def check(self, inputs: dict, targets: dict, outputs: dict) -> None:
        """Validate every definition on one concrete batch; raise a one-line error naming what is wrong."""
        model = self.model
        if not isinstance(outputs, dict) or not outputs:
            raise TrainrigError(
                f"{type(model).__name__}.create_graph must return a layer whose call returns a non-empty dict of outputs, "
                f"got {type(outputs).__name__}"
            )
        target_names, output_names = set(targets), set(outputs)
        batch = int(next(iter(targets.values())).shape[0]) if targets else None
        clash = set(inputs) & set(targets)
        if clash:
            raise TrainrigError(f"inputs and targets share the names {sorted(clash)}; their keys must be distinct")
        _check_names("loss", self.loss_definitions, target_names, output_names)
        joined = {**inputs, **targets}
        extended = model._extended_loss(joined, outputs) or {}
        for name, value in extended.items():
            _per_sample("_extended_loss", name, value, batch)
        self.loss_names = list(self.loss_definitions) + list(extended)
        if not self.loss_names:
            raise TrainrigError(f"{type(model).__name__} defines no loss: override _loss or _extended_loss")
        if len(set(self.loss_names)) != len(self.loss_names) or TOTAL_LOSS in self.loss_names:
            raise TrainrigError(
                f"loss names must be unique across _loss and _extended_loss and must not be {TOTAL_LOSS!r}, got {self.loss_names}"
            )
        weights = model._loss_weights() or {}
        unknown = set(weights) - set(self.loss_names)
        if unknown:
            raise TrainrigError(
                f"_loss_weights names unknown loss {sorted(unknown)[0]!r}; losses: {one_of(self.loss_names)}"
            )
        for name, w in weights.items():
            if not isinstance(w, (int, float)) or not math.isfinite(w):
                raise TrainrigError(f"_loss_weights[{name!r}] must be a finite number, got {w!r}")
        self.weights = {name: float(weights.get(name, 1.0)) for name in self.loss_names}
        extended_metrics = model._extended_metric(joined, outputs) or {}
        for name, value in extended_metrics.items():
            _per_sample("_extended_metric", name, value, batch)
        self.extended_metric_names = list(extended_metrics)
        _check_names("metric", model._metric(), target_names, output_names)
        _check_names("multi-metric", model._multi_metric(), target_names, output_names)

    def losses(self, inputs: dict, targets: dict, outputs: dict, regularization: list) -> dict[str, Any]:
        """Every named loss (a scalar each) and their weighted total under ``"loss"``.

        Each named loss is the mean over this replica's rows and 0 when it has none: a keras Loss is
        taken without keras' own ``1 / num_replicas_in_sync`` scaling, any other callable must return
        the mean over the rows it is given, an extended loss is averaged here. The total adds the
        regularization losses (``model.losses``) once.
        """
        rows = batch_rows(inputs, targets)
        has_rows = rows > 0
        values = {}
        for name, d in self.loss_definitions.items():
            value = _unscaled(d.loss, ops.cast(d.loss(targets[d.target], outputs[d.output]), "float32"))
            values[name] = ops.where(has_rows, value, ops.zeros_like(value))  # a user's mean of no rows is NaN
        extended = self.model._extended_loss({**inputs, **targets}, outputs) or {}
        for name, per_sample in extended.items():
            values[name] = _mean(ops.cast(per_sample, "float32"), rows)
        total = self._weighted_sum(values)
        if regularization:
            total = total + self._regularization(regularization)
        values[TOTAL_LOSS] = total
        return values

    def _weighted_sum(self, values: dict):
        return sum(self.weights[name] * values[name] for name in self.loss_names)

    @staticmethod
    def _regularization(regularization: list):
        return ops.cast(sum(regularization), "float32")

    def replica_objective(self, values: dict, regularization: list, rows, global_rows, replicas: int):
        """What one replica differentiates, given the ``values`` of :meth:`losses`.

        The optimizer sums the replicas' gradients, so each replica's share of the data loss is
        (sum of its per-sample losses) / (rows of the whole step) = ``mean * rows / global_rows``,
        which gives one device's gradient for shares of any size, an empty one included (weight 0);
        the regularization losses are divided by the replica count so they count once overall. On
        one replica this is the total itself (the same bits as without a strategy).
        """
        if replicas == 1:
            return values[TOTAL_LOSS]
        objective = self._weighted_sum(values) * ops.divide_no_nan(rows, global_rows)
        if regularization:
            objective = objective + self._regularization(regularization) / float(replicas)
        return objective


class MetricSet:
    """One set of trackers (training or validation) for losses and every kind of metric."""

    def __init__(self, model: ModelBase, objectives: Objectives):
        self.model = model
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in [*objectives.loss_names, TOTAL_LOSS]}
        self.keras_metrics = dict(model._metric())
        self.extended_metrics = {name: keras.metrics.Mean(name=name) for name in objectives.extended_metric_names}
        self.multi_metrics = dict(model._multi_metric())
        for name, d in self.multi_metrics.items():
            if not isinstance(d.metric, MultiMetric):
                raise TrainrigError(f"multi-metric {name!r} must be a trainrig.MultiMetric, got {type(d.metric).__name__}")
        multi_worker = isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy)
        self._compiled = tf.function(self._results) if multi_worker else None
        names = self.names()
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise TrainrigError(f"metric and loss names must be unique; {duplicates} appear more than once")
        for name in names:
            if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
                raise TrainrigError(
                    f"loss or metric name {name!r} collides with trainrig's own log keys; names must not be "
                    f"{one_of(RESERVED_NAMES)} nor start with {one_of(RESERVED_PREFIXES)}"
                )

    def names(self) -> list[str]:
        """Every name this set logs, in order: losses, keras metrics, extended metrics, multi children."""
        children = [c.name for d in self.multi_metrics.values() for c in d.metric.children]
        return [*self.loss_trackers, *self.keras_metrics, *self.extended_metrics, *children]

    def all_metrics(self) -> list:
        return [
            *self.loss_trackers.values(),
            *(d.metric for d in self.keras_metrics.values()),
            *self.extended_metrics.values(),
            *(d.metric for d in self.multi_metrics.values()),
        ]

    def update(self, inputs: dict, targets: dict, outputs: dict, losses: dict) -> None:
        """Add one batch (one replica's share of it): each loss weighted by its rows, 0 for an empty share."""
        batch = batch_rows(inputs, targets)
        for name, tracker in self.loss_trackers.items():
            tracker.update_state(losses[name], sample_weight=batch)
        weights = self.model._sample_weights(inputs, targets) or {}
        for name, d in self.keras_metrics.items():
            d.metric.update_state(targets[d.target], outputs[d.output], sample_weight=weights.get(name))
        if self.extended_metrics:
            values = self.model._extended_metric({**inputs, **targets}, outputs)
            for name, tracker in self.extended_metrics.items():
                tracker.update_state(ops.cast(values[name], "float32"), sample_weight=weights.get(name))
        for name, d in self.multi_metrics.items():
            d.metric.update_state(targets[d.target], outputs[d.output], sample_weight=weights.get(name))

    def reset(self) -> None:
        for metric in self.all_metrics():
            metric.reset_state()

    def results(self) -> dict[str, float]:
        """The current value of every tracker as plain floats, keyed by log name.

        Under a ``MultiWorkerMirroredStrategy`` (the set made in its scope) reading a tracker is an
        all-reduce across the workers; the reads then run in one compiled call, so they overlap
        instead of costing a round trip each (with a dozen trackers, ~90 ms against a few).
        """
        results = self._results if self._compiled is None else self._compiled
        return {name: float(ops.convert_to_numpy(value)) for name, value in results().items()}

    def _results(self) -> dict:
        out = {name: tracker.result() for name, tracker in self.loss_trackers.items()}
        for name, d in self.keras_metrics.items():
            out[name] = d.metric.result()
        for name, tracker in self.extended_metrics.items():
            out[name] = tracker.result()
        for d in self.multi_metrics.values():
            out.update(d.metric.result())
        return out
