"""A run as TensorBoard's HParams dashboard sees it: its settings, its metrics, its name.

Every run writes, into ``OUTPUT/tensorboard/`` itself (the parent of the ``train`` and ``validation``
runs, so the dashboard finds the validation scalars as the session's metrics, group ``validation``):

* a session (``hparams``) named after the run directory (a sweep's run id), with the run's settings;
* an experiment config (``hparams_config``) that declares those settings and the run's metrics: every
  validation value, the suite and the best-model value (``best/<name>``). It is written with the first
  epoch's values, so the metrics it declares are exactly the ones logged.

Settings are the params of the model, the data, the trainer and the plugins by their dotted
command-line names, without plumbing (fields declared ``setting=False``, such as
``trainer.output_dir`` or ``trainer.progress``), without sections that are off (``trainer.early_stopping``
with patience 0) and without empty values (``""``, ``[]``, ``{}``,
``None``). TensorBoard lists settings marked as *differing* first, then by name; trainrig marks the
ones that matter: those a sweep varies (the environment variable
:data:`~trainrig.sweep.space.SWEEP_VARYING`, set by
``trainrig sweep``), the optimizer, learning rate and batch size, and the model's params.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

import attrs
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from trainrig.params import flatten, plumbing_paths

KEY_SETTINGS = ("trainer.optimizer", "trainer.learning_rate", "trainer.batch_size")


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict, tuple)) and len(value) == 0)


def _as_hparam_value(value: Any) -> bool | int | float | str:
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value, sort_keys=True)


def left_out(params, prefix: str = "") -> set[str]:
    """Dotted paths of ``params`` that are not settings: plumbing fields (``setting=False``) and the
    nested sections that are off (a params class with an ``active`` property that is false, such as
    ``trainer.early_stopping`` with patience 0)."""
    paths = {prefix + path for path in plumbing_paths(type(params))}
    for a in attrs.fields(type(params)):
        value = getattr(params, a.name)
        if attrs.has(type(value)):
            if getattr(value, "active", True):
                paths |= left_out(value, f"{prefix}{a.name}.")
            else:
                paths.add(prefix + a.name)
    return paths


def settings_of(tree: dict, params: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The settings of a run's params tree (``params.json``) by dotted name: plumbing, sections that are
    off and empty values left out.

    ``params`` maps a section (``model``, ``data``, ``trainer``) to its params object, which says what
    is left out (:func:`left_out`); a section without one keeps every field.
    """
    sections = {
        "model": tree["model"]["params"],
        "data": tree["data"]["params"],
        "trainer": tree["trainer"],
        "plugins": tree.get("plugins", {}).get("params", {}),
    }
    settings = {}
    for section, values in sections.items():
        owner = params.get(section)
        skipped = left_out(owner) if owner is not None and attrs.has(type(owner)) else set()
        for name, value in flatten(values).items():
            if _is_empty(value) or any(name == p or name.startswith(p + ".") for p in skipped):
                continue
            settings[f"{section}.{name}"] = _as_hparam_value(value)
    return settings


def key_settings(settings: Iterable[str], varying: Iterable[str]) -> set[str]:
    """The settings TensorBoard lists first: what a sweep varies, optimizer, learning rate, batch size, model params."""
    names = set(settings)
    return (set(varying) | set(KEY_SETTINGS) | {n for n in names if n.startswith("model.")}) & names


def write_session(writer, settings: dict, trial_id: str) -> None:
    """The run's hparams session (its settings, named ``trial_id``), at step 0 of ``writer``."""
    with writer.as_default():
        hparams_api.hparams(settings, trial_id=trial_id, start_time_secs=int(time.time()))


def _hparam_info(name: str, value, differs: bool) -> api_pb2.HParamInfo:
    info = api_pb2.HParamInfo(name=name, differs=differs)
    if isinstance(value, bool):
        info.type = api_pb2.DATA_TYPE_BOOL
    elif isinstance(value, (int, float)):
        info.type = api_pb2.DATA_TYPE_FLOAT64
    else:
        info.type = api_pb2.DATA_TYPE_STRING
    return info


def write_experiment_config(
    writer, settings: dict, first: set[str], metrics: dict[str, tuple[str, str]]
) -> None:
    """Declare the settings (``first`` marked as differing, so they come first) and the metrics
    (``{tag: (group, description)}``) at step 0 of ``writer``."""
    experiment = api_pb2.Experiment(
        time_created_secs=time.time(),
        hparam_infos=[_hparam_info(name, value, name in first) for name, value in sorted(settings.items())],
        metric_infos=[
            api_pb2.MetricInfo(
                name=api_pb2.MetricName(group=group, tag=tag), display_name=tag, description=description
            )
            for tag, (group, description) in metrics.items()
        ],
    )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.EXPERIMENT_TAG,
        metadata=metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(experiment=experiment)),
        tensor=metadata.NULL_TENSOR,
    )
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=0)
