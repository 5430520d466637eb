"""``DataBaseParams``: the base of every data params class (imports no TensorFlow)."""

from __future__ import annotations

from trainrig.params import define


@define
class DataBaseParams:
    """Base params of a data class. Subclass it with :func:`trainrig.define` and add your own fields."""
