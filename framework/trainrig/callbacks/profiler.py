"""Profile a range of optimizer steps with the TensorFlow profiler (``--trainer.profile START,END``)."""

from __future__ import annotations

import atexit
from pathlib import Path

import keras
import tensorflow as tf

from trainrig.callbacks.base import TrainrigCallback
from trainrig.errors import warn
from trainrig.tensorboard.writers import TRAIN_RUN
from trainrig.train.params import profile_steps

PLUGIN_HINT = "TensorBoard's Profile tab needs: pip install tensorboard-plugin-profile"

_running: StepProfiler | None = None
"""The callback whose profiler session is running (TensorFlow runs one session per process)."""
_exit_hook_registered = False


class StepProfiler(TrainrigCallback):
    """Runs the TensorFlow profiler over the optimizer steps ``START,END`` of ``trainer.profile``.

    Starts (``tf.profiler.experimental.start``) at the first training batch hook ``on_train_batch_begin``
    that sees ``optimizer.iterations >= START`` and stops (``tf.profiler.experimental.stop``) at the first
    ``on_train_batch_end`` that sees ``iterations >= END``; or at train end, if the run ends first. Each
    call of the compiled step in between is a trace event ``train`` with ``step_num`` = ``iterations``
    at its start (the step marker of the Profile tab's step-time graph). The batch hooks accept
    executions of several steps (``batch_hooks_per_execution``), so the profiler does not make trainrig
    run one step per call: with fused steps the range widens to whole calls (a call that jumps past
    START and END at once is followed by one profiled call); ``--trainer.steps_per_execution 1`` makes
    it exact.

    Writes ``OUTPUT/tensorboard/train/plugins/profile/<session>/<host>.xplane.pb``, which TensorBoard's
    Profile tab shows under the run ``train`` (``pip install tensorboard-plugin-profile``), and prints
    one line saying where (at the next epoch end, after the progress bar; not with ``progress none``).
    Only the chief profiles; a run resumed at or past END profiles nothing. If the run fails or is
    stopped while profiling, the profile is written when the process exits (or when the next profiled
    run of the process starts).
    """

    batch_hooks_per_execution = True

    def __init__(self, context):
        super().__init__(context)
        self.steps = profile_steps(context.params.profile)
        self.verbose = context.params.progress != "none"
        self.logdir = Path(context.run_dir.tensorboard_run(TRAIN_RUN))
        self.phase = "waiting" if self.steps is not None and context.is_chief else "done"  # -> running -> done
        self.started_at: int | None = None
        self.written: Path | None = None
        self._trace: tf.profiler.experimental.Trace | None = None
        self._sessions_before: set[Path] = set()
        self._message: str | None = None

    # --- the hooks ------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self.phase == "waiting" and self._iterations() >= self.steps[1]:
            self.phase = "done"  # resumed at or past END

    def on_train_batch_begin(self, batch, logs=None):
        if self.phase == "done":
            return
        step = self._iterations()
        if self.phase == "waiting" and step >= self.steps[0]:
            self._start(step)
        if self.phase == "running":
            self._trace = tf.profiler.experimental.Trace("train", step_num=step, _r=1)

    def on_train_batch_end(self, batch, logs=None):
        if self.phase != "running":
            return
        self._end_trace()
        step = self._iterations()
        if step >= self.steps[1]:
            self._stop(step)

    def on_epoch_end(self, epoch, logs=None):
        self._print_message()

    def on_train_end(self, logs=None):
        if self.phase == "running":
            self._stop(self._iterations())
        self._print_message()

    # --- the profiler -----------------------------------------------------------------------------

    def _iterations(self) -> int:
        optimizer = self.context.optimizer or self.model.optimizer
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def _sessions(self) -> set[Path]:
        directory = self.logdir / "plugins" / "profile"
        return {p for p in directory.iterdir() if p.is_dir()} if directory.is_dir() else set()

    def _start(self, step: int) -> None:
        global _running, _exit_hook_registered
        if _running is not None:  # left running by a run of this process that failed or was stopped
            stop_left_running()
        self._sessions_before = self._sessions()
        try:
            tf.profiler.experimental.start(str(self.logdir))
        except tf.errors.OpError as e:  # AlreadyExistsError: another profiler session (the user's, a server)
            self.phase = "done"
            warn(f"trainer.profile: the TensorFlow profiler did not start ({e.message}); the run goes on unprofiled")
            return
        self.phase, self.started_at, _running = "running", step, self
        if not _exit_hook_registered:
            atexit.register(stop_left_running)
            _exit_hook_registered = True

    def _stop(self, step: int | None) -> None:
        """Stop the session and write its profile; ``step`` is ``iterations`` now (``None`` when unknown)."""
        global _running
        self._end_trace()
        self.phase = "done"
        if _running is self:
            _running = None
        try:
            tf.profiler.experimental.stop()
        except tf.errors.OpError as e:  # UnavailableError: someone else stopped it; or the write failed
            warn(f"trainer.profile: the profile was not written ({e.message})")
            return
        new = sorted(self._sessions() - self._sessions_before)
        self.written = new[-1] if new else self.logdir / "plugins" / "profile"
        steps = f"{self.started_at} to {step}" if step is not None else f"from {self.started_at} (the run ended early)"
        self._message = f"profile of optimizer steps {steps} written to {self.written} ({PLUGIN_HINT})"

    def _end_trace(self) -> None:
        if self._trace is not None:
            self._trace.__exit__(None, None, None)
            self._trace = None

    def _print_message(self) -> None:
        if self._message is not None and self.verbose:
            print(self._message, flush=True)
        self._message = None


def stop_left_running() -> None:
    """Stop a profiler session a failed or stopped run left running and write its profile (at exit)."""
    if _running is not None:
        session = _running
        session._stop(None)
        session._print_message()
