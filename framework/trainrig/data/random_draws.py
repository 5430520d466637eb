"""Random numbers drawn from per-sample seeds, for a whole batch at once.

An augmentation must give each sample the transform its own seed decides, whether the sample comes
alone (``random_transform(x, seed)``) or in a batch (``random_transform_batch(x, seeds)``), and a
batch must not loop over its samples in Python. A generator per sample (``np.random.default_rng``)
would loop, so the draws here are counter-based: the value for (seed, stream, counter) is the
SplitMix64 finaliser of those three numbers, computed for every sample in one numpy expression.
``stream`` keeps the draws of different purposes (an angle, a flip, the ops of a chain) apart.
"""

from __future__ import annotations

import numpy as np

SEED_SPACE = 2**31 - 1  # seeds are drawn from [0, SEED_SPACE): they fit every int32 API

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _splitmix(z: np.ndarray) -> np.ndarray:
    # uint64 array arithmetic wraps around silently (only numpy scalars warn): z is always an array
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def _bits(seeds, stream: int, count: int) -> np.ndarray:
    """``(len(seeds), count)`` 64-bit words, one per (seed, stream, counter)."""
    seeds = np.asarray(seeds, dtype=np.int64).astype(np.uint64).reshape(-1, 1)
    keyed = _splitmix(seeds * _GOLDEN + np.uint64(stream + 1))
    return _splitmix(keyed + _COUNTERS[count] if count in _COUNTERS else keyed + _counters(count))


def _counters(count: int) -> np.ndarray:
    return ((np.arange(count, dtype=np.uint64) + np.uint64(1)) * _GOLDEN).reshape(1, -1)


_COUNTERS = {}  # filled below: the counter words of the small counts every op asks for


def uniform(seeds, stream: int, count: int = 1, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """``(len(seeds), count)`` floats in ``[low, high)``, row ``i`` decided by ``seeds[i]`` alone."""
    unit = (_bits(seeds, stream, count) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
    return low + (high - low) * unit


def integers(seeds, stream: int, low: int, high: int, count: int = 1) -> np.ndarray:
    """``(len(seeds), count)`` integers in ``[low, high]`` (both ends included)."""
    return np.minimum(low + np.floor(uniform(seeds, stream, count) * (high - low + 1)).astype(np.int64), high)


def normal(seeds, stream: int, count: int) -> np.ndarray:
    """``(len(seeds), count)`` standard normal values (Box–Muller on two uniform draws)."""
    pairs = (count + 1) // 2
    u = uniform(seeds, stream, 2 * pairs)
    radius = np.sqrt(-2.0 * np.log1p(-u[:, :pairs]))  # 1 - u is in (0, 1]: no log(0)
    angle = 2.0 * np.pi * u[:, pairs:]
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)[:, :count]


def derived_seeds(seeds, stream: int) -> np.ndarray:
    """One new seed per seed (for the ``stream``-th part of a chain), in ``[0, SEED_SPACE)``."""
    return (_bits(seeds, stream, 1)[:, 0] % np.uint64(SEED_SPACE)).astype(np.int64)


_COUNTERS.update({count: _counters(count) for count in range(1, 9)})
