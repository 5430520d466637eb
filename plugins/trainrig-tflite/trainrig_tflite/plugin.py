"""The hook implementations of the ``tflite`` plugin (entry point ``tflite`` of group ``trainrig``).

Importing this module imports no TensorFlow (``trainrig --help`` asks it for its params); the
conversion module is imported when the first graph is converted.
"""

from __future__ import annotations

import time
from pathlib import Path

from trainrig.errors import TrainrigError, one_of
from trainrig.hooks.markers import hookimpl
from trainrig_tflite.params import TfliteParams

SECTION = "tflite"


class _RunState:
    """The params of the run in progress (between ``trainrig_run_start`` and its end or error).

    ``trainrig_export_written`` has no trainer argument, so the params are captured at run start.
    One state per process: runs in one process follow each other; an export outside a run (no
    ``trainrig_run_start`` seen) uses the defaults of :class:`TfliteParams`.
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.params: TfliteParams | None = None
        self.verbose = False


_state = _RunState()


def selected_graphs(params: TfliteParams, exported: list[str]) -> list[str]:
    """The graph names to convert, in ``params.graphs`` order (all exported ones if empty).

    A name that is not exported is a :class:`TrainrigError` listing the exported graphs.
    """
    if not params.graphs:
        return list(exported)
    missing = [name for name in params.graphs if name not in exported]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise TrainrigError(
            f"plugins.{SECTION}.graphs names {names}, not an exported graph; exported graphs: {one_of(exported)}"
        )
    return list(dict.fromkeys(params.graphs))


def wants(params: TfliteParams, kind: str) -> bool:
    """Whether an export of this kind (``"final"`` or ``"best"``) is converted."""
    return params.enabled and (kind == "final" or (kind == "best" and params.on_best))


@hookimpl
def trainrig_register_params():
    return {SECTION: TfliteParams}


@hookimpl
def trainrig_run_start(trainer):
    params = trainer.plugin_params.get(SECTION) or TfliteParams()
    if not isinstance(params, TfliteParams):
        raise TrainrigError(f"plugin_params[{SECTION!r}] must be a TfliteParams, got {type(params).__name__}")
    _state.params = params
    _state.verbose = getattr(trainer.params, "progress", "none") != "none"
    # Fail now, before the first step, rather than at the export after training: check the graph
    # names and (check_at_start) that every chosen graph converts.
    exporter = getattr(trainer, "exporter", None)
    if not params.enabled or exporter is None:
        return
    if not params.on_best and not getattr(trainer.params, "export", True):
        return  # nothing will be converted in this run
    names = selected_graphs(params, list(exporter.graphs))
    if params.check_at_start:
        from trainrig_tflite.convert import convert_graph

        start = time.perf_counter()
        for name in names:
            convert_graph(exporter.graphs[name], name, optimize=params.optimize, select_tf_ops=params.select_tf_ops)
        if _state.verbose:
            seconds = time.perf_counter() - start
            print(f"tflite: {', '.join(names)} convertible (checked in {seconds:.1f}s)", flush=True)


@hookimpl
def trainrig_export_written(directory, graphs, kind):
    params = _state.params or TfliteParams()
    if not wants(params, kind):
        return
    from trainrig_tflite.convert import convert_graph

    directory = Path(directory)
    for name in selected_graphs(params, list(graphs)):
        start = time.perf_counter()
        data = convert_graph(
            graphs[name], name, directory, optimize=params.optimize, select_tf_ops=params.select_tf_ops
        )
        (directory / f"{name}.tflite").write_bytes(data)
        if _state.verbose:
            where = "best" if kind == "best" else "export"
            seconds = time.perf_counter() - start
            print(f"tflite: {where}/{name}.tflite ({len(data) / 1024:.1f} KiB) in {seconds:.1f}s", flush=True)


@hookimpl
def trainrig_run_end():
    _state.reset()


@hookimpl
def trainrig_run_error():
    _state.reset()
