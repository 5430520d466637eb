"""The configurations of a sweep: every combination of ``--grid``, or N seeded draws from ``--space``.

A configuration is ``{dotted key: value}`` with the command line's keys (``trainer.learning_rate``,
``model.units``). ``--grid`` maps each key to a non-empty list; its configurations are the product
in the order the keys are given (the last key varies fastest). ``--space`` maps each key to one
distribution:

- ``{"choice": [a, b, ...]}`` (or just the list): one of the values, uniformly;
- ``{"uniform": [low, high]}``: a float in [low, high);
- ``{"log_uniform": [low, high]}``: a float whose logarithm is uniform (0 < low < high);
- ``{"int": [low, high]}``: an integer in [low, high], both included.

Draws come from ``numpy.random.default_rng(seed)`` key by key, configuration by configuration, so
the same ``--seed`` gives the same configurations.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import Any

from trainrig.errors import TrainrigError

DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int")


def grid(spec: Any) -> list[dict[str, Any]]:
    """Every combination of ``spec`` (``{key: [values]}``)."""
    if not isinstance(spec, dict) or not spec:
        raise TrainrigError('--grid must be a JSON object of lists, e.g. {"trainer.learning_rate": [0.001, 0.003]}')
    for key, values in spec.items():
        if not isinstance(values, list) or not values:
            raise TrainrigError(f"--grid {key}: give a non-empty JSON list of values, got {values!r}")
    keys = list(spec)
    return [dict(zip(keys, combination)) for combination in itertools.product(*(spec[k] for k in keys))]


def _check_range(key: str, kind: str, bounds: Any) -> tuple[float, float]:
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        raise TrainrigError(f"--space {key}: {kind} takes [low, high] (two numbers), got {bounds!r}")
    low, high = bounds
    ordered = low <= high if kind == "int" else low < high
    if not ordered:
        raise TrainrigError(f"--space {key}: {kind} needs low {'<=' if kind == 'int' else '<'} high, got [{low}, {high}]")
    if kind == "log_uniform" and low <= 0:
        raise TrainrigError(f"--space {key}: log_uniform needs 0 < low, got {low}")
    if kind == "int" and not all(float(b).is_integer() for b in bounds):
        raise TrainrigError(f"--space {key}: int takes two integers, got {bounds!r}")
    return low, high


def _distribution(key: str, value: Any) -> tuple[str, Any]:
    if isinstance(value, list):
        value = {"choice": value}
    if not (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS):
        raise TrainrigError(
            f"--space {key}: give one of {', '.join(DISTRIBUTIONS)} as {{\"log_uniform\": [0.0001, 0.01]}}, got {value!r}"
        )
    kind, arguments = next(iter(value.items()))
    if kind == "choice":
        if not isinstance(arguments, list) or not arguments:
            raise TrainrigError(f"--space {key}: choice takes a non-empty list, got {arguments!r}")
        return kind, arguments
    return kind, _check_range(key, kind, arguments)


def random_configs(space: Any, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` configurations drawn from ``space`` with ``seed``."""
    import numpy as np

    if not isinstance(space, dict) or not space:
        raise TrainrigError('--space must be a JSON object, e.g. {"trainer.learning_rate": {"log_uniform": [0.0001, 0.01]}}')
    if count < 1:
        raise TrainrigError(f"--random must be at least 1, got {count}")
    distributions = {key: _distribution(key, value) for key, value in space.items()}
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(count):
        config = {}
        for key, (kind, arguments) in distributions.items():
            if kind == "choice":
                config[key] = arguments[int(rng.integers(len(arguments)))]
            elif kind == "uniform":
                config[key] = float(rng.uniform(*arguments))
            elif kind == "log_uniform":
                low, high = arguments
                config[key] = float(math.exp(rng.uniform(math.log(low), math.log(high))))
            else:
                config[key] = int(rng.integers(int(arguments[0]), int(arguments[1]) + 1))
        configs.append(config)
    return configs


SWEEP_VARYING = "TRAINRIG_SWEEP_VARYING"
"""Environment variable of a sweep's runs: the JSON list of the dotted keys the sweep varies (its
TensorBoard HParams list them first)."""


def sweep_varying(environ=None) -> list[str]:
    """The dotted keys the enclosing sweep varies (empty outside a sweep)."""
    text = (os.environ if environ is None else environ).get(SWEEP_VARYING, "")
    return list(json.loads(text)) if text else []


def varying_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The keys whose value is not the same in every configuration, in their order."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
