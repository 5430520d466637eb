"""How many training or validation steps each call of the compiled step runs (``trainer.steps_per_execution``).

Every call of a compiled step costs the loop a fixed amount of Python and runtime work (the call,
the callbacks' batch hooks, reading the running metrics, the checkpoint and stop checks): for a
small model that is as long as the step itself. Running several steps inside one call removes it.

``steps_per_execution`` N >= 1 runs N steps per call, whatever the callbacks are. The default, 0
("auto"), fuses steps only when that is invisible to every callback:

- if any callback needs every batch — it overrides a batch hook (``on_train_batch_begin``/``_end``,
  ``on_batch_begin``/``_end``) and does not declare ``batch_hooks_per_execution = True`` — each call
  runs one step, exactly as Keras' ``fit`` does;
- otherwise the calls grow until each takes about :data:`TARGET_SECONDS` (measured while training,
  at most :data:`MAX_STEPS` steps): the batch hooks of the callbacks that accept it run once per call,
  with the index of its last batch, and a stop request (signal or ``STOP`` file) is answered within
  about that time. A call never crosses a step checkpoint (``checkpoint_every_steps``), so the
  checkpoints fall on the same optimizer steps as with one step per call.

Validation in "auto" runs the whole pass in one call unless a callback overrides a test-batch hook
(``on_test_batch_begin``/``_end``). With several replicas validation always runs one step per call,
whatever ``steps_per_execution`` says: gathering the predictions of shares whose sizes change from
one step to the next inside one call fails in TensorFlow's all-gather (a collective shape mismatch,
seen with a full batch of 64 followed by a last batch of 39 on two replicas). A model with an
evaluator (``ModelBase._evaluator``) also validates one step per call: each batch's rows go to the
evaluator in Python, and its batches may differ in shape beyond the rows (sequences padded per batch).
How many steps a call runs never changes the results: the same batches, in the same order, with the
same random streams.
"""

from __future__ import annotations

from typing import Iterable

import keras

TARGET_SECONDS = 0.2
MAX_STEPS = 1024
_GROWTH = 4  # at most this factor from one call to the next, so one fast call cannot overshoot far

TRAIN_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")


def needs_every_batch(callback: keras.callbacks.Callback, hooks: Iterable[str] = TRAIN_BATCH_HOOKS) -> bool:
    """Whether ``callback`` overrides one of ``hooks`` and has not declared ``batch_hooks_per_execution``."""
    if getattr(callback, "batch_hooks_per_execution", False):
        return False
    base = keras.callbacks.Callback
    return any(getattr(type(callback), hook, None) is not getattr(base, hook) for hook in hooks)


def listeners(callbacks: Iterable[keras.callbacks.Callback], hooks: Iterable[str] = TRAIN_BATCH_HOOKS) -> list[str]:
    """The class names of the callbacks that need every batch (for messages and tests)."""
    hooks = tuple(hooks)
    return [type(c).__name__ for c in callbacks if needs_every_batch(c, hooks)]


def validation_steps_per_execution(fixed: int, callbacks, replicas: int, total: int, gathers_samples: bool = False) -> int:
    """Steps per validation call: one with several replicas or a model evaluator (``gathers_samples``),
    else ``fixed`` if set, else the whole pass (see the module docstring)."""
    if replicas > 1 or gathers_samples:
        return 1
    if fixed > 0:
        return fixed
    if listeners(callbacks, TEST_BATCH_HOOKS):
        return 1
    return max(1, total)


class ExecutionSizes:
    """The number of training steps of each call.

    ``fixed`` is ``trainer.steps_per_execution``; ``per_batch`` whether a callback needs every batch;
    ``checkpoint_every`` and ``accumulate`` locate the step checkpoints (in optimizer steps).
    """

    def __init__(self, fixed: int, per_batch: bool, checkpoint_every: int = 0, accumulate: int = 1):
        self.fixed = fixed
        self.adaptive = fixed == 0 and not per_batch
        self.checkpoint_every = checkpoint_every
        self.accumulate = accumulate
        self.size = 1

    def next(self, step: int, steps_per_epoch: int, global_step: int) -> int:
        """The steps of the call that starts at batch ``step`` of an epoch, at optimizer step ``global_step``."""
        remaining = steps_per_epoch - step
        if not self.adaptive:
            return min(self.fixed or 1, remaining)
        count = min(self.size, remaining)
        if self.checkpoint_every > 0:
            count = self._until_checkpoint(step, steps_per_epoch, global_step, count)
        return count

    def observe(self, steps: int, seconds: float) -> None:
        """Adapt to a call of ``steps`` steps that took ``seconds`` (tracing included: it only shrinks the next)."""
        if not self.adaptive or steps <= 0:
            return
        per_step = max(seconds, 1e-6) / steps
        wanted = int(TARGET_SECONDS / per_step)
        self.size = max(1, min(wanted, MAX_STEPS, self.size * _GROWTH))

    def _until_checkpoint(self, step: int, steps_per_epoch: int, global_step: int, limit: int) -> int:
        """At most ``limit`` batches, ending at the batch whose optimizer step is a multiple of ``checkpoint_every``.

        With ``accumulate`` N an optimizer step ends every N-th batch of an epoch and at its last batch
        (:mod:`trainrig.train.accumulation`); a step skipped by loss scaling only delays the checkpoint.
        """
        optimizer_step = global_step
        for count in range(1, limit + 1):
            batch = step + count
            if batch % self.accumulate == 0 or batch == steps_per_epoch:
                optimizer_step += 1
                if optimizer_step % self.checkpoint_every == 0:
                    return count
        return limit
