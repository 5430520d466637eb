"""``ModelBaseParams``: the base of every model's params class (imports no TensorFlow)."""

from __future__ import annotations

from trainrig.params import define


@define
class ModelBaseParams:
    """Base params of a model. Subclass it with :func:`trainrig.define` and add your own fields."""
