"""A ``DataAugmentationSequence`` over an ``ArraySequence``, augmented inside ``tf.data``: no Python per batch.

Used when the wrapped sequence reads natively (:func:`~trainrig.data.native.reads_natively`) and the
augmentator can run in the input graph (:func:`~trainrig.data.augmentators.in_graph`): when an
epoch's dataset is asked for, the parameters of every sample of every copy of its batches are drawn
at once in numpy (``augmentator.parameters`` with the sequence's own seeds, exactly the draws
``sequence[i]`` makes), put into a variable, and the dataset gathers each batch natively, stacks its
copies and calls ``augmentator.apply`` with that batch's parameters. ``sequence[i]`` computes the
same thing eagerly (``random_transform_batch`` must equal ``apply`` of ``parameters``): the batches
are equal, bit for bit, as the tests check for trainrig's and the image plugin's ops.

A ``DataAugmentationSequence`` subclass that overrides what decides a batch (``__getitem__``,
``augment``, ``seeds``, ``original``) is read through Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from trainrig.data.augmentation import DataAugmentationSequence
from trainrig.data.augmentators import in_graph
from trainrig.data.native import PREFETCH_BATCHES, NativeArrays, keeps_methods, plain_options, reads_natively

_OWN_METHODS = ("__getitem__", "__len__", "augment", "seeds", "original")


def augments_natively(sequence: Any) -> bool:
    """Whether ``sequence`` is a ``DataAugmentationSequence`` trainrig can read and augment in ``tf.data``."""
    if not keeps_methods(sequence, DataAugmentationSequence, _OWN_METHODS):
        return False
    inner = sequence.sequence
    return reads_natively(inner) and sequence.input_name in inner.inputs and in_graph(sequence.augmentator)


class NativeAugmented:
    """An epoch of a ``DataAugmentationSequence`` as ``tf.data``: the wrapped arrays gathered natively,
    each batch's copies stacked and augmented with parameters drawn for the epoch."""

    def __init__(self, sequence: DataAugmentationSequence, signature: tuple[dict, dict]):
        self.sequence = sequence
        self.signature = signature
        # the wrapped batches have the keys, dtypes and per-row shapes of the augmented ones
        self.arrays = NativeArrays(sequence.sequence, signature)
        self._whole_epoch: tuple | None = None  # (key, dataset, parameters variable)

    def usable(self) -> bool:
        """The rule of :func:`augments_natively` now, and no strategy scope entered before the
        parameters variable exists (as :meth:`NativeArrays.usable`)."""
        fresh = self._whole_epoch is None and tf.distribute.has_strategy()
        return augments_natively(self.sequence) and self.arrays.usable() and not fresh

    def element_spec(self) -> tuple[dict, dict]:
        return self.arrays.element_spec()

    def _parameters(self, start: int, stop: int) -> np.ndarray:
        """``(stop - start, n * batch_size, P)`` float32: the parameters of batches ``start .. stop-1``
        (rows of a smaller last batch padded with zeros), drawn as ``sequence.augment`` draws them."""
        sequence = self.sequence
        inner = sequence.sequence
        batch_size, size, n = int(inner.batch_size), int(inner.size), sequence.n_augmentation
        sample_shape = tuple(inner.inputs[sequence.input_name].shape[1:])
        counts = [min(batch_size, size - i * batch_size) for i in range(start, stop)]
        seeds = np.concatenate([sequence.seeds(i, count).reshape(-1) for i, count in zip(range(start, stop), counts)])
        drawn = np.asarray(sequence.augmentator.parameters(seeds, sample_shape), dtype=np.float32)
        out = np.zeros((len(counts), n * batch_size, drawn.shape[1]), np.float32)
        offset = 0
        for row, count in enumerate(counts):
            out[row, : n * count] = drawn[offset : offset + n * count]
            offset += n * count
        return out

    def dataset(self, start: int, stop: int) -> tf.data.Dataset:
        """Batches ``start .. stop-1`` of the current epoch, equal to ``sequence[i]``; a whole epoch reuses
        one dataset whose parameters variable is assigned here, before the epoch's iterator exists."""
        parameters = self._parameters(start, stop)
        batch, key = self.arrays.batches(start, stop)  # the wrapped batches' gather (its order assigned)
        if key is None:
            return self._build(batch, stop - start, tf.constant(parameters))
        key = (key, parameters.shape)
        if self._whole_epoch is None or self._whole_epoch[0] != key:
            with tf.init_scope(), tf.device("CPU:0"):
                variable = tf.Variable(parameters, trainable=False, name="trainrig_augmentation_parameters")
            self._whole_epoch = (key, self._build(batch, stop, variable), variable)
        _, dataset, variable = self._whole_epoch
        variable.assign(parameters)
        return dataset

    def _build(self, batch, count: int, parameters) -> tf.data.Dataset:
        sequence = self.sequence
        name, n, augmentator = sequence.input_name, sequence.n_augmentation, sequence.augmentator

        def augmented(index):
            inputs, targets = batch(index)
            copies = tf.concat([inputs[name]] * n, axis=0)
            drawn = parameters[tf.cast(index, tf.int32), : tf.shape(copies)[0]]
            out_inputs = {k: tf.concat([v] * n, axis=0) for k, v in inputs.items() if k != name}
            out_inputs[name] = tf.ensure_shape(augmentator.apply(copies, drawn), copies.shape)
            return out_inputs, {k: tf.concat([v] * n, axis=0) for k, v in targets.items()}

        dataset = tf.data.Dataset.range(max(count, 0)).map(augmented)
        dataset = dataset.prefetch(PREFETCH_BATCHES).with_options(plain_options())
        dataset._trainrig_arrays = self.arrays  # keeps the variables alive with the dataset
        dataset._trainrig_parameters = parameters
        return dataset
