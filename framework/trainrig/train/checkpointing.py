"""When a run writes checkpoints, how it stops on request, and how it continues from the newest one.

Checkpoints are written at every epoch end (after every callback's ``on_epoch_end``, so each
callback's state includes that epoch), every ``checkpoint_every_steps`` optimizer steps, when a stop
is requested (SIGINT/SIGTERM or a ``STOP`` file), and once more, marked finished, after the final
export. The write itself runs in a background thread (:class:`~trainrig.checkpoint.store.CheckpointStore`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras

from trainrig.checkpoint.state import Position, Resumable, capture, restore
from trainrig.checkpoint.store import CheckpointStore
from trainrig.errors import TrainrigError
from trainrig.train.distribution import ReplicaParts
from trainrig.train.setup import RunParts
from trainrig.train.stop import StopRequest, TrainingStopped


def resumable_parts(parts: RunParts, graphs: dict[str, keras.Model], callbacks: list) -> Resumable:
    """What a checkpoint holds of a run: its variables by group, its training sequence, its callbacks."""
    model_variables = list(parts.keras_model.variables)
    known = {id(v) for v in model_variables}
    extra = []  # variables of export graphs that are not the model's (a plugin's averaged copy, say)
    for graph in graphs.values():
        for v in graph.variables:
            if id(v) not in known:
                known.add(id(v))
                extra.append(v)
    variables = {
        "model": model_variables,
        "optimizer": list(parts.optimizer.variables),  # with mixed_float16 also the loss scale and its counter
        "metrics": [v for m in parts.train_metrics.all_metrics() for v in m.variables],
        "extra": extra,
    }
    if parts.steps.accumulation is not None:  # trainer.accumulate > 1: the partial sums of the current group
        variables["accumulation"] = parts.steps.accumulation.variables
    replica_parts = {}
    if parts.strategy.num_replicas_in_sync > 1:  # each replica's running sums, for an exact mid-epoch resume
        replica_parts["metrics"] = ReplicaParts(parts.strategy, variables["metrics"])
    return Resumable(variables=variables, source=parts.train_source, callbacks=callbacks, replica_parts=replica_parts)


class Checkpointing:
    """Saves and restores one run's :class:`Resumable` state and turns stop requests into checkpoints."""

    def __init__(
        self,
        store: CheckpointStore,
        run: Resumable,
        optimizer,
        every_steps: int,
        run_root,
        verbose: bool,
        chief_store: CheckpointStore | None = None,
        stop_after_epoch: int = 0,
    ):
        """``store`` is where checkpoints are written; ``run_root`` is the run's directory (its ``STOP``
        file, the resume hint). ``chief_store`` is ``None`` on one process and on the chief of several
        workers; on the other workers (which write into a scratch directory) it is the chief's store:
        they restore from it and leave the ``STOP`` file to the chief. ``stop_after_epoch`` (> 0) stops the
        run after that epoch's checkpoint, as a stop request would (``trainer.stop_after_epoch``)."""
        self.stop_after_epoch = stop_after_epoch
        self.store = store
        self.chief_store = chief_store
        self.run = run
        self.optimizer = optimizer
        self.every_steps = every_steps
        self.run_root = run_root
        self.verbose = verbose
        self.stop_request: StopRequest | None = None
        self.write_after = None  # () -> a function the writer waits for before each write (the best model's export)
        self.steps_seen = self.global_step()  # the optimizer steps at the previous check (see after_steps)

    def global_step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.optimizer.iterations))

    # --- continuing -------------------------------------------------------------------------------

    def restore_latest(self) -> Position:
        """Restore the newest usable checkpoint; the start of the run if there is none."""
        loaded = (self.chief_store or self.store).load_latest()
        if loaded is None:
            return Position.start()
        path, arrays, state = loaded
        position = restore(self.run, arrays, state)
        self.steps_seen = self.global_step()
        if self.verbose and not position.finished:
            print(f"resuming from {path.name}: epoch {position.epoch + 1}, step {position.step}", flush=True)
        return position

    def require_latest(self) -> None:
        """Restore the newest usable checkpoint, or fail if there is none (``--weights latest``)."""
        loaded = self.store.load_latest()
        if loaded is None:
            raise TrainrigError(f"{self.run_root} has no usable checkpoint")
        restore(self.run, loaded[1], loaded[2])

    # --- saving -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def watching_for_stop(self) -> Iterator[None]:
        """Install the stop request (signals, STOP file) for the time of training; on leaving, wait
        for the last write (quietly when the run already fails: its own error is the one to report)."""
        try:
            with StopRequest(self.run_root, watch_file=self.chief_store is None) as self.stop_request:
                yield
        except BaseException:
            self.store.close(quiet=True)
            raise
        self.store.close()

    def save(self, position: Position, wait: bool = False) -> None:
        """Capture the state now and write it in the background (``wait``: and until it is on disk)."""
        arrays, state = capture(self.run, position)
        after = self.write_after() if self.write_after is not None else None
        self.store.save_async(position.global_step, arrays, state, after=after)
        if wait:
            self.store.wait()

    def after_steps(self, epoch: int, step: int, stopping: bool) -> None:
        """After the training call ending at batch ``step`` of ``epoch``: a step checkpoint when one is
        due, and a stop (after a checkpoint) when ``stopping`` (:meth:`stop_requested`, shared by the workers).

        Due means: the optimizer's step count passed a multiple of ``every_steps`` since the previous
        call (with ``trainer.accumulate`` or a step skipped by loss scaling, fewer optimizer steps than
        batches)."""
        global_step = self.global_step()
        every = self.every_steps
        due = every > 0 and global_step // every > self.steps_seen // every
        self.steps_seen = global_step
        if due or stopping:
            self.save(Position(epoch=epoch, step=step, global_step=global_step), wait=stopping)
        if stopping:
            raise TrainingStopped(
                f"stopped by {self._reason()} at epoch {epoch + 1}, step {step} (global step {global_step}) "
                f"after writing a checkpoint; continue with: trainrig resume {self.run_root}"
            )

    def after_epoch(self, epoch: int, stopping: bool) -> None:
        """After every callback's ``on_epoch_end`` of ``epoch``: the epoch checkpoint; a stop when ``stopping``."""
        paused = epoch + 1 == self.stop_after_epoch  # the same on every worker: no agreement needed
        self.save(Position(epoch=epoch + 1, step=0, global_step=self.global_step()), wait=stopping or paused)
        if stopping or paused:
            reason = self._reason() if stopping else "trainer.stop_after_epoch"
            raise TrainingStopped(
                f"stopped by {reason} after epoch {epoch + 1} (checkpoint written); "
                f"continue with: trainrig resume {self.run_root}"
            )

    def finish(self, epochs_done: int) -> None:
        """The last checkpoint, marked finished (``trainrig resume`` then has nothing to do)."""
        self.save(Position(epoch=epochs_done, step=0, global_step=self.global_step(), finished=True), wait=True)

    def _reason(self) -> str:
        reason = self.stop_request.reason if self.stop_request is not None else None
        return reason or "a stop request to another worker"

    def stop_requested(self) -> bool:
        """Whether this process was asked to stop (a signal, the ``STOP`` file)."""
        return self.stop_request is not None and self.stop_request.requested()
