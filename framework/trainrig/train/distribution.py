"""Where a run's replicas live: one device, several local devices, or several worker processes.

``trainer.strategy`` picks TensorFlow's own engine:

- ``default``: one device;
- ``mirrored``: a ``MirroredStrategy`` over the local GPUs, or ``trainer.devices`` logical CPU devices;
- ``multi_worker``: a ``MultiWorkerMirroredStrategy``; the cluster comes from ``TF_CONFIG`` or, when it
  is absent, from Slurm (``SlurmClusterResolver``). Every worker runs the same command.

A run on several workers is one synchronous run with the global batch of ``trainer.batch_size``:
every worker reads every batch of the training sequence and keeps the rows of its replicas (tf.data's
``DATA`` auto-sharding of the global batch), so no row is skipped or seen twice and the steps equal one
process's. The chief (``chief`` task, else worker 0) writes the run's files; the others do the same
work but write into a scratch directory that is removed when they end (TensorFlow's rule: reading
variables for a save is a collective every worker must take part in). Everything that decides the
course of a run is the same on every worker (seeds, data order, reduced metrics), except a stop
request and the timed size of the next call, which :class:`WorkerSync` shares. A dead worker ends
the others' collectives; :func:`lost_worker` turns that into one line naming it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from trainrig.errors import TrainrigError

_LAUNCH_HINT = "start local workers with: trainrig launch --workers N -- train ..."


@dataclass(frozen=True)
class Cluster:
    """This process's place in a run: worker ``index`` of ``workers`` (0 of 1 without ``multi_worker``)."""

    index: int = 0
    workers: int = 1
    source: str = "local"  # "TF_CONFIG", "Slurm" or "local"

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files (worker 0: the ``chief`` task, else ``worker`` 0)."""
        return self.index == 0

    def scratch_dir(self) -> Path:
        """Where a non-chief worker writes what the chief writes into the output directory (removed at its end)."""
        return Path(tempfile.gettempdir()) / f"trainrig-worker{self.index}-{os.getpid()}-{secrets.token_hex(4)}"


def cluster_of(strategy: str, environ: Mapping[str, str] = os.environ) -> Cluster:
    """This process's :class:`Cluster` for ``trainer.strategy`` (read from the environment, no TensorFlow)."""
    if strategy != "multi_worker":
        return Cluster()
    if environ.get("TF_CONFIG"):
        return _from_tf_config(environ["TF_CONFIG"])
    if "SLURM_PROCID" in environ and "SLURM_NTASKS" in environ:
        return Cluster(index=int(environ["SLURM_PROCID"]), workers=int(environ["SLURM_NTASKS"]), source="Slurm")
    raise TrainrigError(
        "trainer.strategy multi_worker needs a cluster: set TF_CONFIG on every worker (README: several machines), "
        f"run under Slurm (srun), or {_LAUNCH_HINT}"
    )


def _from_tf_config(text: str) -> Cluster:
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, task_index = task["type"], int(task["index"])
        chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise TrainrigError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
            f'"index": 0}}; reading it failed at {e!r}'
        ) from None
    other = sorted(set(cluster) - {"chief", "worker"})
    if other or task_type not in ("chief", "worker"):
        raise TrainrigError(
            f"TF_CONFIG names task type(s) {other or [task_type]}; trainer.strategy multi_worker runs only 'chief' "
            "and 'worker' tasks (every task trains)"
        )
    tasks = chiefs if task_type == "chief" else workers
    if not 0 <= task_index < len(tasks) or len(chiefs) > 1:
        raise TrainrigError(
            f"TF_CONFIG's task {task_type} {task_index} is not in its cluster ({len(chiefs)} chief, {len(workers)} "
            "worker addresses; at most one chief)"
        )
    index = task_index if task_type == "chief" else len(chiefs) + task_index
    return Cluster(index=index, workers=len(chiefs) + len(workers), source="TF_CONFIG")


def lost_worker(error: BaseException, cluster: Cluster, output_dir) -> TrainrigError | None:
    """The one-line error for a collective that failed because another worker died or cannot be reached
    (TensorFlow's heartbeats notice a dead worker within seconds and abort the collectives of the others);
    ``None`` for any other error."""
    if cluster.workers <= 1:
        return None
    import tensorflow as tf

    lost = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError, tf.errors.CancelledError)
    if not isinstance(error, lost):
        return None
    text = getattr(error, "message", str(error))
    tasks = sorted(set(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text)))
    who = ", ".join(f"{job} {task}" for job, task in tasks) or "another worker"
    reason = _cause(text)
    return TrainrigError(
        f"{who} of this multi-worker run stopped or cannot be reached ({reason}); every worker stops. Continue from "
        f"the newest checkpoint with all workers running: trainrig resume {output_dir} (locally: trainrig launch "
        f"--workers {cluster.workers} -- resume {output_dir})"
    )


def _cause(text: str) -> str:
    """TensorFlow's own words from a graph error's message (its last paragraph, without the trace of
    where the op was defined and the ``[[{{node ...}}]]`` / ``[Op:...]`` tags), on one line."""
    last = text.strip().split("\n\n")[-1]
    last = re.sub(r"\[\[\{\{node [^]]*\]\]|\[Op:[^]]*\]", "", last)
    words = " ".join(last.split())
    return words if len(words) <= 240 else words[:237] + "..."


# --- strategies --------------------------------------------------------------------------------------

_MULTI_WORKER = None  # one MultiWorkerMirroredStrategy per process: its collectives are set up at start


def make_strategy(name: str, devices: int = 0):
    """The tf.distribute strategy of a run (``trainer.strategy``, ``trainer.devices``).

    ``default`` is TensorFlow's default strategy (one device). ``mirrored`` is a MirroredStrategy over
    the first ``devices`` GPUs when there are GPUs, else over ``devices`` logical CPU devices (the
    physical CPU split with ``tf.config.set_logical_device_configuration``, which must happen before
    TensorFlow's runtime is initialised); ``devices`` 0 means all local GPUs, or the one CPU.
    ``multi_worker`` is a MultiWorkerMirroredStrategy over the cluster of ``TF_CONFIG`` (or Slurm's),
    each worker's local GPUs (or its CPU) being its replicas.
    """
    import tensorflow as tf

    if name == "multi_worker":
        return _multi_worker_strategy()
    if name != "mirrored":
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=mirrored_devices(devices))


def _multi_worker_strategy():
    global _MULTI_WORKER
    if _MULTI_WORKER is not None:
        return _MULTI_WORKER
    import tensorflow as tf

    cluster = cluster_of("multi_worker")  # the one-line errors for a missing or broken TF_CONFIG
    resolvers = tf.distribute.cluster_resolver
    try:
        resolver = resolvers.TFConfigClusterResolver() if cluster.source == "TF_CONFIG" else resolvers.SlurmClusterResolver()
    except (OSError, RuntimeError, ValueError, KeyError) as e:  # Slurm's resolver runs scontrol, reads SLURM_*
        raise TrainrigError(f"trainer.strategy multi_worker could not read the {cluster.source} cluster: {e}") from None
    try:
        _MULTI_WORKER = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as e:
        raise TrainrigError(
            "trainer.strategy multi_worker must set TensorFlow's collectives up before TensorFlow runs anything in "
            f"this process ({e}); start a fresh process and build nothing in TensorFlow before the Trainer"
        ) from None
    return _MULTI_WORKER


def mirrored_devices(devices: int) -> list[str]:
    """The device names a MirroredStrategy with ``trainer.devices`` = ``devices`` replicates over."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if devices > len(gpus):
            raise TrainrigError(
                f"trainer.devices is {devices} but this machine has {len(gpus)} GPU(s); use at most {len(gpus)} "
                "(0 = all GPUs)"
            )
        names = [d.name for d in tf.config.list_logical_devices("GPU")]
        return names[:devices] if devices > 0 else names
    if devices > 1:
        _split_cpu(devices)
        return [d.name for d in tf.config.list_logical_devices("CPU")]
    return ["/device:CPU:0"]


def _split_cpu(devices: int) -> None:
    """Configure ``devices`` logical CPU devices, or fail if TensorFlow already runs with another count."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])
    except RuntimeError:  # the runtime is initialised; fine if it already has exactly this many CPU devices
        count = len(tf.config.list_logical_devices("CPU"))
        if count != devices:
            raise TrainrigError(
                f"trainer.devices is {devices}, but TensorFlow was already initialised in this process with {count} "
                f"logical CPU device(s) and cannot be split any more; start a fresh process (set up nothing in "
                f"TensorFlow before the Trainer), or use trainer.devices {count}"
            ) from None


# --- decisions every worker must share ---------------------------------------------------------------


class WorkerSync:
    """What one process decides alone but every worker must do alike: stop, and how many steps the next
    call of the training step runs.

    A stop request (a signal, the ``STOP`` file the chief watches) reaches one worker; the size of the
    next call is timed (:mod:`trainrig.train.executions`). Workers doing different things would wait
    for each other in the next collective, so after every call they exchange both in ONE all-reduce:
    whether any worker was asked to stop, and the chief's size. On one process nothing is exchanged.
    """

    def __init__(self, strategy, cluster: Cluster):
        self.strategy = strategy
        self.chief = cluster.is_chief
        self._reduce = None
        if cluster.workers > 1:
            import tensorflow as tf

            def sum_over_replicas(values):
                context = tf.distribute.get_replica_context()
                return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.identity(values))  # (a replica-local copy)

            self._reduce = tf.function(lambda values: strategy.run(sum_over_replicas, args=(values,)))

    def __call__(self, stop: bool, size: int) -> tuple[bool, int]:
        """``(any worker asked to stop, the chief's size)``."""
        if self._reduce is None:
            return stop, size
        import tensorflow as tf

        local = len(self.strategy.extended.worker_devices)  # each of this worker's replicas adds its share
        mine = [1.0 if stop else 0.0, size / local if self.chief else 0.0]
        total = self.strategy.experimental_local_results(self._reduce(tf.constant(mine, tf.float64)))[0].numpy()
        return bool(total[0] > 0), int(round(total[1]))


class ReplicaParts:
    """Each replica's own part of sync-on-read variables (the training metrics' running sums).

    On several replicas a metric's total is the sum of one part per replica; reading it gives the sum.
    A checkpoint holding only the sum cannot put the parts back, and a resumed epoch would then add
    its batches to different parts than the run never stopped (a last-bit difference in its averages).
    ``read`` gives every replica's part as arrays with a leading replica axis (on several workers a
    gather: every worker calls it); ``assign`` gives each replica its own part back.
    """

    def __init__(self, strategy, variables: list):
        import tensorflow as tf

        self.strategy = strategy
        self.variables = list(variables)
        self.local = len(strategy.extended.worker_devices) == strategy.num_replicas_in_sync  # all parts in this process
        self.replicas = strategy.num_replicas_in_sync
        self._read = tf.function(self._gather)
        self._assign = tf.function(lambda parts: strategy.run(self._assign_own, args=(parts,)))

    def _gather(self):
        import tensorflow as tf

        parts = self.strategy.run(lambda: [tf.expand_dims(tf.identity(v.value), 0) for v in self.variables])
        return [self.strategy.gather(part, axis=0) for part in parts]

    def _assign_own(self, parts):
        import tensorflow as tf

        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        for variable, part in zip(self.variables, parts):
            variable.value.assign(tf.gather(part, replica))

    def read(self) -> list:
        if self.local:
            import numpy as np

            # One process holds every part (in replica order): no collective. MirroredStrategy's gather
            # uses collective keys of its own, which then clash with those of the training step.
            return [np.stack([part.numpy() for part in v.value.values]) for v in self.variables]
        return [part.numpy() for part in self._read()]

    def assign(self, parts: list) -> None:
        if self.local:
            for variable, saved in zip(self.variables, parts):
                for part, value in zip(variable.value.values, saved):
                    part.assign(value)
            return
        self._assign(list(parts))
