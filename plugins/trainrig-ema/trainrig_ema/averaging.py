"""The EMA graph (a clone of the run's model) and the callback that keeps its weights averaged.

Imports TensorFlow and Keras; :mod:`trainrig_ema.plugin` imports this module only inside its hooks.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

import trainrig
from trainrig.errors import TrainrigError

WARMUP_OFFSET = 10.0
"""``decay_t = min(decay, (1 + t) / (WARMUP_OFFSET + t))``, as ``tf.train.ExponentialMovingAverage(num_updates=t)``."""


def warmup_decay(decay: float, t: int) -> float:
    """The decay of update number ``t`` (0 for the first update), in float64; the reference formula."""
    return min(decay, (1.0 + t) / (WARMUP_OFFSET + t))


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"


def pair_weights(weights: list, shadow: list, what: str) -> list[tuple[Any, Any]]:
    """``[(weight, shadow weight)]`` by position; the two lists must match in length, shapes and dtypes."""
    if len(weights) != len(shadow):
        raise TrainrigError(
            f"trainrig-ema: {what} has {len(shadow)} weights but the run's model has {len(weights)}; "
            "the EMA graph must be a clone of the run's model"
        )
    for i, (w, s) in enumerate(zip(weights, shadow)):
        if tuple(w.shape) != tuple(s.shape) or str(w.dtype) != str(s.dtype):
            raise TrainrigError(
                f"trainrig-ema: weight {i} of {what} ({s.path}: {tuple(s.shape)} {s.dtype}) does not match the run's "
                f"model ({w.path}: {tuple(w.shape)} {w.dtype}); the EMA graph must be a clone of the run's model"
            )
    return list(zip(weights, shadow))


def build_ema_graph(inputs: dict, outputs: dict, name: str) -> keras.Model:
    """A new ``keras.Model`` with the architecture of ``keras.Model(inputs, outputs)`` and its own
    variables, initialised to a copy of the run's current weights.

    ``keras.Model(inputs, outputs)`` alone would share its layers (and so its variables) with the
    training model; :func:`keras.models.clone_model` re-creates every layer from its config (a
    :class:`trainrig.GraphBase` implements ``get_config``/``from_config``) and calls it on new inputs.
    """
    source = keras.Model(inputs=inputs, outputs=outputs, name=f"{name}_ema")
    try:
        graph = keras.models.clone_model(source)
    except Exception as e:
        raise TrainrigError(
            f"trainrig-ema: cannot clone the model for the 'ema' graph ({_first_line(e)}); every layer must "
            "implement get_config/from_config (trainrig.GraphBase does). Disable the plugin with "
            "--plugins.ema.enabled false"
        ) from e
    for weight, shadow in pair_weights(source.weights, graph.weights, "the cloned 'ema' graph"):
        shadow.assign(weight)
    return graph


def _is_averaged(weight) -> bool:
    """Trainable floating-point weights are averaged; every other weight is copied as it is."""
    return bool(weight.trainable) and np.dtype(keras.backend.standardize_dtype(weight.dtype)).kind == "f"


class EmaCallback(trainrig.TrainrigCallback):
    """Keeps the weights of the ``ema`` graph equal to an exponential moving average of the run's weights.

    The ema graph's own variables ARE the shadow variables: nothing is copied at export time, so every
    export (``best/`` at an epoch end, ``export/`` at the end) writes the current average.

    After every training batch execution (``on_train_batch_end``) ONE compiled ``tf.function`` runs, for
    update number ``t`` (0, 1, ...; stored in a ``tf.Variable``)::

        decay_t = min(decay, (1 + t) / (10 + t))             # warm-up, as tf.train.ExponentialMovingAverage
        shadow -= (1 - decay_t) * (shadow - weight)          # trainable float weights
        shadow  = weight                                     # everything else (BatchNorm moving statistics)
        t += 1

    Which weights are averaged is decided from ``weight.trainable`` at ``on_train_begin`` and checked again
    at every ``on_epoch_begin`` (a layer frozen or unfrozen between epochs); the function is re-traced
    only when that changes. At ``on_train_begin`` of a run that has made no update yet, the shadow is
    set to the model's weights (so weights loaded after the graph was built, e.g. a warm start, count).

    :meth:`get_state` / :meth:`set_state` hold the update count and every weight of the ema graph, so a
    resumed run continues bit for bit.
    """

    def __init__(self, trainer, graph: keras.Model, decay: float):
        super().__init__(trainer)
        self.graph = graph
        self.decay = float(decay)
        self.pairs = pair_weights(trainer.keras_model.weights, graph.weights, "the 'ema' graph")
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="ema_updates")
        self._averaged: tuple[bool, ...] | None = None
        self._update = None

    # --- the update -------------------------------------------------------------------------------

    def _refresh(self) -> None:
        """(Re)build the compiled update when the set of averaged weights changed."""
        averaged = tuple(_is_averaged(weight) for weight, _ in self.pairs)
        if averaged != self._averaged or self._update is None:
            self._averaged = averaged
            self._update = self._compile(averaged)

    def _compile(self, averaged: tuple[bool, ...]):
        mean_pairs = [pair for pair, flag in zip(self.pairs, averaged) if flag]
        copy_pairs = [pair for pair, flag in zip(self.pairs, averaged) if not flag]
        decay, updates = self.decay, self.updates

        @tf.function(autograph=False)
        def update():
            t = tf.cast(updates, tf.float64)
            decay_t = tf.minimum(tf.constant(decay, tf.float64), (1.0 + t) / (WARMUP_OFFSET + t))
            for weight, shadow in mean_pairs:
                rate = tf.cast(1.0 - decay_t, shadow.dtype)
                shadow.assign(shadow.value - rate * (shadow.value - weight.value))
            for weight, shadow in copy_pairs:
                shadow.assign(weight.value)
            updates.assign_add(1)

        return update

    def update(self) -> None:
        """One EMA update from the model's current weights (what every ``on_train_batch_end`` does)."""
        if self._update is None:
            self._refresh()
        self._update()

    def reset_to_weights(self) -> None:
        """Shadow := the model's weights, update count := 0."""
        for weight, shadow in self.pairs:
            shadow.assign(weight)
        self.updates.assign(0)

    # --- keras callback protocol ----------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if int(self.updates.numpy()) == 0:
            self.reset_to_weights()
        self._refresh()

    def on_epoch_begin(self, epoch, logs=None):
        self._refresh()

    def on_train_batch_end(self, batch, logs=None):
        self.update()

    # --- resumable state ------------------------------------------------------------------------------

    def get_state(self) -> dict:
        """``{"updates": int, "weights": [nested lists, one per weight of the ema graph]}``, JSON-ready.

        The float32 values become Python floats exactly (JSON keeps them exactly), so :meth:`set_state`
        restores the same bits. Lists of floats cost ~20 bytes per weight in JSON; ``set_state`` also
        accepts numpy arrays, should the checkpoint store arrays instead.
        """
        return {
            "updates": int(self.updates.numpy()),
            "weights": [keras.ops.convert_to_numpy(shadow).tolist() for _, shadow in self.pairs],
        }

    def set_state(self, state: dict) -> None:
        try:
            updates, values = int(state["updates"]), list(state["weights"])
        except (KeyError, TypeError, ValueError) as e:
            raise TrainrigError(
                f"trainrig-ema: invalid EMA state ({_first_line(e)}); expected keys 'updates' and 'weights'"
            ) from None
        if updates < 0 or len(values) != len(self.pairs):
            raise TrainrigError(
                f"trainrig-ema: the EMA state holds {len(values)} weights after {updates} updates, "
                f"but the 'ema' graph has {len(self.pairs)} weights"
            )
        arrays = []
        for (_, shadow), value in zip(self.pairs, values):
            array = np.asarray(value, dtype=keras.backend.standardize_dtype(shadow.dtype))
            if array.shape != tuple(shadow.shape):
                raise TrainrigError(
                    f"trainrig-ema: the EMA state of {shadow.path} has shape {array.shape}, "
                    f"expected {tuple(shadow.shape)}"
                )
            arrays.append(array)
        for (_, shadow), array in zip(self.pairs, arrays):
            shadow.assign(array)
        self.updates.assign(updates)
