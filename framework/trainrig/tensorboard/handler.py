"""``TensorBoardDataHandler``: send extra model outputs to TensorBoard (images, histograms, text...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TensorBoardDataHandler:
    """Decides which outputs go to TensorBoard only, and how each is written.

    The trainer calls :meth:`_outputs_for_tensorboard` on the first validation batch of every
    validation and :meth:`handle` for each returned entry, with the ``validation`` run's writer as the
    default writer, so plain ``tf.summary.*`` calls land in that run.

    The helpers write one kind of summary each, in one line, into the default writer:
    :meth:`image` (IMAGES tab), :meth:`histogram` (HISTOGRAMS), :meth:`text` (TEXT; a list of rows
    becomes a table), :meth:`pr_curve` (PR CURVES) and :meth:`scalar` (SCALARS). For example::

        class Board(trainrig.TensorBoardDataHandler):
            def _outputs_for_tensorboard(self, inputs, outputs):
                return {"inputs": inputs["image"][:4], "confidence": outputs["probabilities"].max(-1)}

            def handle(self, name, name_for_tb, value, step):
                if name == "inputs":
                    self.image(name_for_tb, value, step, max_outputs=4)
                elif name == "confidence":
                    self.histogram(name_for_tb, value, step)
                    self.text("confidence_table", [["sample", "p"]] + [[i, p] for i, p in enumerate(value)], step)
                else:
                    super().handle(name, name_for_tb, value, step)
    """

    def _outputs_for_tensorboard(self, inputs, outputs) -> dict:
        """Return ``{name: tensor}`` written only to TensorBoard (never to the console). Default: none.

        ``inputs`` holds the batch's inputs (with its targets under their names where no input has the
        same name) and ``outputs`` the model's outputs, as numpy arrays.
        """
        return {}

    def handle(self, name: str, name_for_tb: str, value: np.ndarray, step: int) -> None:
        """Write one value (a numpy array). Default: its mean as a scalar named ``name_for_tb``."""
        self.scalar(name_for_tb, float(np.mean(value)), step)

    # --- helpers: one summary each, into the default writer -----------------------------------------

    def scalar(self, tag: str, value, step: int, description: str | None = None) -> None:
        """A number (SCALARS tab)."""
        import tensorflow as tf

        tf.summary.scalar(tag, float(np.asarray(value, dtype=np.float64).reshape(())), step=step, description=description)

    def image(self, tag: str, images, step: int, max_outputs: int = 3, description: str | None = None) -> None:
        """Images (IMAGES tab): the first ``max_outputs`` of ``images``.

        ``images`` is ``(N, H, W)`` (grayscale), ``(N, H, W, C)`` with ``C`` 1 (grayscale), 2
        (grayscale + alpha), 3 (RGB) or 4 (RGBA), or one ``(H, W)`` image. ``uint8`` and ``bool`` values
        are shown as they are (0..255 / black and white); floats in ``[0, 1]`` too; any other floats (or
        integers beyond 0..255) are stretched per image from its minimum (black) to its maximum
        (white). NaN and infinite values are black.
        """
        import tensorflow as tf

        tf.summary.image(tag, image_batch(images), step=step, max_outputs=max_outputs, description=description)

    def histogram(self, tag: str, values, step: int, buckets: int | None = None, description: str | None = None) -> None:
        """The distribution of ``values`` (any shape, flattened; HISTOGRAMS tab). Non-finite values are left out."""
        import tensorflow as tf

        values = np.asarray(values, dtype=np.float64).reshape(-1)
        values = values[np.isfinite(values)]
        tf.summary.histogram(tag, values, step=step, buckets=buckets, description=description)

    def text(self, tag: str, text_or_lines, step: int, description: str | None = None) -> None:
        """Markdown text (TEXT tab).

        ``text_or_lines`` is a string (markdown), a list of strings (one line each), or a list of rows
        (lists or tuples, or a 2-d array) written as a table whose first row is the header; cells are
        shown with ``str()``, floats with 4 significant digits.
        """
        import tensorflow as tf

        tf.summary.text(tag, markdown(text_or_lines), step=step, description=description)

    def pr_curve(
        self,
        tag: str,
        labels,
        probabilities,
        step: int,
        weights=None,
        num_thresholds: int | None = None,
        description: str | None = None,
    ) -> list[str]:
        """Precision-recall curve(s) of ``probabilities`` against ``labels`` (PR CURVES tab); returns the tags.

        Binary: ``probabilities`` of class 1 ``[n]`` (or ``[n, 1]``) and 0/1 ``labels``: one curve
        ``tag``. Multiclass: ``probabilities`` ``[n, k]`` and integer (or one-hot) ``labels``: one
        one-vs-rest curve per class, ``tag/<class>``. ``weights`` (``[n]``) weight the samples. The
        curves are those of :mod:`trainrig.tensorboard.pr_curves` (101 thresholds by default).
        """
        from trainrig.metrics._inputs import prepare
        from trainrig.tensorboard.pr_curves import NUM_THRESHOLDS, pr_curve_data, write_pr_curve_data

        num_thresholds = num_thresholds or NUM_THRESHOLDS
        probabilities = np.asarray(probabilities)
        multiclass = probabilities.ndim == 2 and probabilities.shape[1] > 1
        p = prepare("multiclass" if multiclass else "binary", labels, probabilities, weights)
        if not multiclass:
            text = description or f"Precision and recall of class 1 at {num_thresholds} thresholds from 0 to 1."
            write_pr_curve_data(tag, pr_curve_data(p.y_true == 1, p.y_pred, p.weight, num_thresholds), step, text)
            return [tag]
        classes = np.arange(p.n_classes)
        data = pr_curve_data(p.y_true[:, None] == classes, p.y_pred, p.weight, num_thresholds)
        tags = []
        for c in classes:
            text = description or f"Class {c} against the rest, at {num_thresholds} thresholds from 0 to 1."
            write_pr_curve_data(f"{tag}/{c}", data[c], step, text)
            tags.append(f"{tag}/{c}")
        return tags


def image_batch(images) -> np.ndarray:
    """``images`` as an ``(N, H, W, C)`` batch ``tf.summary.image`` shows as meant (see
    :meth:`TensorBoardDataHandler.image`): ``uint8``, or ``float32`` in ``[0, 1]``."""
    array = np.asarray(images)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"images must be (N, H, W), (N, H, W, C) with C in 1..4 or one (H, W) image, got shape {list(array.shape)}"
        )
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype.kind in "iu" and (array.size == 0 or (array.min() >= 0 and array.max() <= 255)):
        return array.astype(np.uint8)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"images must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    values = array[finite]
    if values.size == 0 or (values.min() >= 0 and values.max() <= 1):
        return np.where(finite, array, 0.0).astype(np.float32)
    # stretch each image from its lowest finite value (black) to its highest (white)
    low = np.where(finite, array, np.inf).min(axis=(1, 2, 3), keepdims=True)
    high = np.where(finite, array, -np.inf).max(axis=(1, 2, 3), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        span = high - low  # not finite for an image without a finite value; 0 for a constant one
        scaled = (array - low) / np.where(np.isfinite(span) & (span > 0), span, np.inf)
    return np.where(finite, np.clip(scaled, 0.0, 1.0), 0.0).astype(np.float32)


def markdown(text_or_lines) -> str:
    """A string as it is, a list of strings as lines, a list of rows as a table (first row: header)."""
    if isinstance(text_or_lines, (str, bytes)):
        return text_or_lines.decode() if isinstance(text_or_lines, bytes) else text_or_lines
    if isinstance(text_or_lines, np.ndarray):
        if text_or_lines.ndim == 0:
            return markdown(text_or_lines.item())
        text_or_lines = text_or_lines.tolist()
    items = list(text_or_lines)
    if all(isinstance(item, (str, bytes)) for item in items):
        return "  \n".join(markdown(item) for item in items)  # markdown's hard line break
    rows = [[_cell(value) for value in (row if _is_row(row) else [row])] for row in items]
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _is_row(value) -> bool:
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes))


def _cell(value) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):.4g}"
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
