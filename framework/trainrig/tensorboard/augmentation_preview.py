"""What augmentation feeds the model, as TensorBoard images: each original beside its augmented copies.

Written once, when a run starts, from the first training batch exactly as the model receives it (the
same seeds), under the tag ``augmentation/<input>`` of the ``train`` run: one image per sample (at
most :data:`MAX_SAMPLES`), the original on the left, then copy 1, copy 2, ... separated by a white
line. Inputs that are not image batches (rank 4 with 1, 3 or 4 channels, or rank 3 grayscale) are
not previewed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from trainrig.data.augmentation import augmentation_sequence_in

MAX_SAMPLES = 4


def _as_images(x: np.ndarray) -> np.ndarray | None:
    """``x`` as ``(N, H, W, C)`` with C in 1, 3, 4, or ``None`` when it is not an image batch."""
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or x.dtype.kind not in "biuf":
        return None
    return x


def preview(sequence: Any, max_samples: int = MAX_SAMPLES) -> tuple[str, np.ndarray, int] | None:
    """``(input name, images in [0, 1], copies)`` of the first batch of the augmented ``sequence``
    (``None`` without augmentation or for an input that is not an image)."""
    augmentation = augmentation_sequence_in(sequence)
    if augmentation is None:
        return None
    inputs, _ = augmentation.original(0)
    original = np.asarray(inputs[augmentation.input_name])
    if _as_images(original) is None:
        return None
    n, count = augmentation.n_augmentation, min(len(original), max_samples)
    copies = augmentation.augment(original, 0).reshape((n, len(original)) + original.shape[1:])[:, :count]
    panels = [_as_images(original[:count])] + [_as_images(copy) for copy in copies]
    top = 1.0 if original.dtype.kind == "f" and float(np.max(original)) <= 1.0 else 255.0  # one scale for all
    panels = [np.clip(p.astype(np.float32) / top, 0.0, 1.0) for p in panels]
    separator = np.ones((count, panels[0].shape[1], 1, panels[0].shape[3]), np.float32)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [separator, panel]
    return augmentation.input_name, np.concatenate(row, axis=2), n


def write_augmentation_preview(writer, sequence: Any, step: int = 0) -> bool:
    """Write the preview of ``sequence`` with ``writer``; ``False`` when there is nothing to preview."""
    found = preview(sequence)
    if found is None:
        return False
    name, images, copies = found
    with writer.as_default():
        tf.summary.image(
            f"augmentation/{name}",
            images,
            step=step,
            max_outputs=len(images),
            description=f"The first training batch: each original (left) and its {copies} augmented copies.",
        )
    return True
