"""The hooks of the ``ema`` plugin (the entry point ``ema = "trainrig_ema.plugin"`` of group ``trainrig``).

Importing this module imports no TensorFlow (``trainrig --help`` and ``trainrig plugins`` stay fast);
the hooks import :mod:`trainrig_ema.averaging` when a run calls them.
"""

from __future__ import annotations

import trainrig
from trainrig.errors import TrainrigError
from trainrig_ema.params import GRAPH_NAME, SECTION, EmaParams


def _params(trainer) -> EmaParams:
    return trainer.plugin_params.get(SECTION) or EmaParams()


@trainrig.hookimpl
def trainrig_register_params():
    return {SECTION: EmaParams}


@trainrig.hookimpl
def trainrig_register_export_graphs(model, inputs, outputs, trainer):
    """The graph ``ema``: a clone of the run's model whose weights will be the moving average."""
    if not _params(trainer).enabled:
        return None
    from trainrig_ema.averaging import build_ema_graph

    return {GRAPH_NAME: build_ema_graph(inputs, outputs, name=type(model).__name__)}


@trainrig.hookimpl
def trainrig_register_callbacks(trainer):
    """The :class:`~trainrig_ema.averaging.EmaCallback` that averages into the ``ema`` graph's weights.

    The graph is found where trainrig keeps the run's export graphs, ``trainer.exporter.graphs``: the
    exporter is built from ``trainrig_register_export_graphs`` before this hook is called.
    """
    params = _params(trainer)
    if not params.enabled:
        return None
    graph = trainer.exporter.graphs.get(GRAPH_NAME)
    if graph is None:
        raise TrainrigError(
            f"trainrig-ema: the run has no export graph {GRAPH_NAME!r} although plugins.ema.enabled is true "
            f"(graphs: {', '.join(sorted(trainer.exporter.graphs)) or 'none'})"
        )
    from trainrig_ema.averaging import EmaCallback

    return [EmaCallback(trainer, graph, params.decay)]
