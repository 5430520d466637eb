"""Gradient accumulation (``trainer.accumulate`` N): the gradients of N batches make one optimizer step.

Groups: the batches of every epoch are grouped from the epoch's start, 1..N, N+1..2N, ...; the last
group of an epoch may be shorter and is applied at the epoch's last batch. An epoch therefore ends
with nothing pending, and freeze training (which changes layers at epoch starts) never meets a
half-accumulated step. (A callback that stops training in the middle of an epoch leaves the pending
batches of that epoch unapplied.)

Weighting: each batch adds its gradient times its rows (all replicas' rows) to one accumulator per
variable and its rows to a row count; the step applies sum / rows, the mean gradient over the group's
rows. A group of N batches of B rows gets the gradient of one batch of N*B rows (up to float rounding),
and a short batch counts by its rows, not as a whole batch.

Counting: one optimizer step per group, so the optimizer's ``iterations``, the learning-rate schedules
over it and ``checkpoint_every_steps`` count optimizer steps, not batches; training metrics and the
batch callbacks still see every batch.

Replicas: every replica keeps its own accumulators (``synchronization="on_read"``), so a batch costs
no communication; the optimizer sums the replicas' sum / rows as it sums their gradients without
accumulation, once per optimizer step.

Resume: the accumulators, the row count and the position in the epoch are variables saved with every
checkpoint (group ``accumulation``), so a checkpoint in the middle of a group resumes exactly. (On
several replicas a checkpoint stores each accumulator's total over the replicas, which a resume
spreads evenly over them again: exact up to float rounding.)
"""

from __future__ import annotations

import keras
import tensorflow as tf

from trainrig.errors import TrainrigError


class Accumulation:
    """The accumulators of one run and the three calls a compiled train step makes.

    Per batch, in a replica (:meth:`add`), then across replicas (:meth:`batch_done`: is the group
    complete?); when it is, in a replica again (:meth:`apply`). ``variables`` are those the optimizer
    was built for (every variable that may ever train).
    """

    def __init__(self, strategy: tf.distribute.Strategy, variables: list, every: int, batches_per_epoch: int):
        self.every = every
        self.batches_per_epoch = batches_per_epoch
        self._index = {id(v): i for i, v in enumerate(variables)}
        with strategy.scope():
            self.sums = [
                keras.Variable(
                    keras.initializers.Zeros(),
                    shape=v.shape,
                    dtype=v.dtype,
                    trainable=False,
                    autocast=False,
                    synchronization="on_read",
                    aggregation="sum",
                    name=f"accumulated_{i}",
                )
                for i, v in enumerate(variables)
            ]
            # every replica adds the same (all-reduced) rows: "mean" reads back that one value
            self.rows = keras.Variable(
                0.0,
                dtype="float32",
                trainable=False,
                autocast=False,
                synchronization="on_read",
                aggregation="mean",
                name="accumulated_rows",
            )
            self.position = keras.Variable(0, dtype="int64", trainable=False, name="accumulated_position")

    @property
    def variables(self) -> list:
        """What a checkpoint saves: the accumulators, the row count, the batches done in the epoch."""
        return [*self.sums, self.rows, self.position]

    def add(self, gradients: list, variables: list, rows) -> None:
        """(In a replica.) Add one batch: ``gradients`` of ``variables`` (the replica's share, weighted as
        without accumulation) times ``rows``, the batch's rows over all replicas."""
        for g, v in zip(gradients, variables):
            self.sums[self._index[id(v)]].assign_add(tf.convert_to_tensor(g) * tf.cast(rows, g.dtype))
        self.rows.assign_add(rows)

    def batch_done(self):
        """(Across replicas.) Count one batch; a boolean tensor: does it complete a group?"""
        position = self.position.value + 1
        epoch_end = position >= self.batches_per_epoch
        self.position.assign(tf.where(epoch_end, tf.zeros_like(position), position))
        return tf.logical_or(epoch_end, position % self.every == 0)

    def apply(self, apply_gradients, variables: list) -> None:
        """(In a replica.) ``apply_gradients(gradients, variables)`` with the group's mean gradient, then clear."""
        rows = self.rows.value
        sums = [self.sums[self._index[id(v)]].value for v in variables]
        gradients = [tf.math.divide_no_nan(s, tf.cast(rows, s.dtype)) for s in sums]
        apply_gradients(gradients, variables)
        for s in self.sums:
            s.assign(tf.zeros_like(s.value))
        self.rows.assign(tf.zeros_like(rows))


def trained_variables(optimizer: keras.optimizers.Optimizer) -> list:
    """The variables ``optimizer`` was built for (after ``optimizer.build``; a wrapper's inner optimizer's)."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return list(optimizer._trainable_variables)


def accumulation_of(
    accumulate: int, strategy: tf.distribute.Strategy, optimizer: keras.optimizers.Optimizer, batches_per_epoch: int
) -> Accumulation | None:
    """The accumulation of a run with ``trainer.accumulate`` = ``accumulate``; ``None`` for 1 (no accumulators)."""
    if accumulate == 1:
        return None
    if accumulate > batches_per_epoch:
        raise TrainrigError(
            f"trainer.accumulate is {accumulate} but an epoch has only {batches_per_epoch} training batches (groups "
            f"start afresh every epoch); use at most {batches_per_epoch}"
        )
    return Accumulation(strategy, trained_variables(optimizer), accumulate, batches_per_epoch)


def optimizer_steps_per_epoch(batches_per_epoch: int, accumulate: int) -> int:
    """Optimizer steps of one epoch of ``batches_per_epoch`` batches (a partial group at its end is a step)."""
    return -(-batches_per_epoch // accumulate)


def check_params(params) -> None:
    """Trainer params that cannot go with ``accumulate`` or ``precision`` (a one-line error before set-up)."""
    if params.accumulate > 1 and 0 < params.steps_per_epoch < params.accumulate:
        raise TrainrigError(
            f"trainer.accumulate {params.accumulate} is more than trainer.steps_per_epoch {params.steps_per_epoch} "
            "(groups of batches start afresh every epoch); use at most the batches of an epoch"
        )
    # (optimizer_options gradient_accumulation_steps is refused by trainrig.train.optimizer)
    if params.precision == "mixed_float16" and params.optimizer_options.get("loss_scale_factor") is not None:
        raise TrainrigError(
            "trainer.optimizer_options loss_scale_factor does not go with trainer.precision mixed_float16, which "
            "scales the loss dynamically; drop it"
        )
