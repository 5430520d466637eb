"""trainrig-ema: an exponential moving average (EMA) of the model weights, exported as the graph ``ema``.

Installed, the plugin ``ema`` (entry point ``trainrig_ema.plugin`` in the group ``trainrig``) adds to
every run, unless ``--plugins.ema.enabled false``:

- an export graph ``ema`` (``OUTPUT/export/ema.keras`` + SavedModel ``OUTPUT/export/ema/``, and the
  same in ``OUTPUT/best/``): the run's model with the averaged weights, reloaded with
  ``trainrig.load_model(run_dir, graph="ema")``;
- a callback that updates the average after every training batch execution.

How the graph and the callback are connected
--------------------------------------------
The EMA graph's own variables ARE the shadow variables; there is no separate copy to keep in sync.

1. ``trainrig_register_export_graphs(model, inputs, outputs, trainer)`` clones
   ``keras.Model(inputs, outputs)`` with ``keras.models.clone_model`` (new layers from their configs,
   hence new variables; the plain ``keras.Model(inputs, outputs)`` would share the training
   variables) and copies the current weights into it. trainrig stores the returned graphs in
   ``trainer.exporter.graphs``.
2. ``trainrig_register_callbacks(trainer)``, which trainrig calls after it created the exporter (see
   ``Trainer._prepare``), takes the graph from ``trainer.exporter.graphs["ema"]`` and pairs its
   ``weights`` with ``trainer.keras_model.weights`` by position (both models are built from the same
   symbolic graph, so the order is the same; lengths, shapes and dtypes are checked, a mismatch is a
   ``TrainrigError`` before the first step).

The plugin module keeps no state of its own (no registry keyed by model or trainer): the run's trainer
is the only link, so concurrent or repeated runs in one process cannot see each other's averages.

The average
-----------
After every training batch execution one compiled ``tf.function`` updates every trainable
floating-point weight, with ``t`` the number of updates so far::

    decay_t = min(decay, (1 + t) / (10 + t))
    shadow -= (1 - decay_t) * (shadow - weight)       # = decay_t * shadow + (1 - decay_t) * weight

and copies every other weight (BatchNorm moving statistics) as it is. The warm-up of ``decay_t`` is
``tf.train.ExponentialMovingAverage``'s ``num_updates`` rule: early averages are not dominated by the
random initial weights, and unlike Adam-style bias correction it needs no second copy of the weights
(the exported variables are the average itself). With ``--trainer.steps_per_execution k`` the
callbacks run once per ``k`` optimizer steps, so the average is over every k-th step's weights; use
``decay ** k`` for the same horizon in steps. Because the average is current after every batch, any
export (``best/`` from trainrig's BestModel callback at an epoch end, which runs before plugin
callbacks, and ``export/`` at the end) writes the current average.

The callback's ``get_state()``/``set_state()`` hold the update count and every weight of the ema graph
(as exact nested lists of floats), so a resumed run continues bit for bit.
"""

from __future__ import annotations

from trainrig_ema.params import GRAPH_NAME, SECTION, EmaParams, EmaParamsError

__version__ = "0.1.0"

__all__ = ["EmaCallback", "EmaParams", "EmaParamsError", "GRAPH_NAME", "SECTION", "build_ema_graph"]


def __getattr__(name: str):
    """``EmaCallback`` and ``build_ema_graph`` need TensorFlow: imported on first access."""
    if name in ("EmaCallback", "build_ema_graph"):
        from trainrig_ema import averaging

        return getattr(averaging, name)
    raise AttributeError(f"module 'trainrig_ema' has no attribute {name!r}")
