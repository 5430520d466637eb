"""``GraphBase``: a keras layer built from a params object that survives ``.keras`` save and load."""

from __future__ import annotations

from typing import Generic, TypeVar

import keras

from trainrig.imports import import_object, object_path
from trainrig.params import from_dict, to_dict

P = TypeVar("P")


class GraphBase(keras.layers.Layer, Generic[P]):
    """Base class for a model's graph layer that takes the model's params.

    Subclass it, build sub-layers in ``__init__(self, params, **kwargs)`` and map the inputs dict to
    the outputs dict in ``call``. Its config stores the params as JSON (plus the params class's import
    path), so an exported graph reloads in a fresh process without pickling anything.
    """

    def __init__(self, params: P, **kwargs):
        super().__init__(**kwargs)
        self.params = params

    def build(self, input_shape=None):
        # The sub-layers build themselves on the first call; a GraphBase owns no weights directly.
        self.built = True

    def get_config(self):
        return {
            **super().get_config(),
            "params": to_dict(self.params),
            "params_class": object_path(type(self.params)),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        params_cls = import_object(config.pop("params_class"))
        params = from_dict(params_cls, config.pop("params"))
        return cls(params, **config)
