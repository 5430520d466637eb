"""``DataBase``: what a user subclasses to provide batched training and validation sequences."""

from __future__ import annotations

from typing import Generic, TypeVar

from trainrig.data.params import DataBaseParams
from trainrig.params import params_class_of

P = TypeVar("P", bound=DataBaseParams)


class DataBase(Generic[P]):
    """The data of an experiment: ``MyData(params)``; the params are ``self.params``.

    Implement :meth:`train_sequence` and :meth:`val_sequence`; each returns a
    ``keras.utils.PyDataset`` whose items are ``(inputs, targets)`` dicts of numpy arrays, or a
    ``tf.data.Dataset`` of such batches. Preprocess per batch (in ``__getitem__`` or a ``map``), never
    the whole data set at once. :class:`~trainrig.ArraySequence` does this for numpy arrays.

    ``self.seed`` is the run's seed (``TrainerParams.seed``), set by the trainer before it asks for a
    sequence: use it for shuffling so that a seeded run sees the same batches every time.

    Reproducible data is what makes exact resume possible: a training sequence must give the same
    batches given how many epochs have passed (the trainer calls ``on_epoch_end()`` once per epoch),
    or define ``get_state()``/``set_state()``.
    """

    params_class: type | None = None

    def __init__(self, params: P | None = None):
        self.params: P = params if params is not None else self.params_cls()()
        self.seed: int = 0

    @classmethod
    def params_cls(cls) -> type:
        return params_class_of(cls, DataBase, DataBaseParams)

    def train_sequence(self, batch_size: int):
        """The training batches (shuffled, seeded by ``self.seed``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement train_sequence(self, batch_size)")

    def val_sequence(self, batch_size: int):
        """The validation batches (in a fixed order)."""
        raise NotImplementedError(f"{type(self).__name__} must implement val_sequence(self, batch_size)")

    def predict_sequence(self, batch_size: int):
        """Batches to predict on (default: the validation batches)."""
        return self.val_sequence(batch_size)
