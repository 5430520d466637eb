"""What the digits model shows in TensorBoard: the first validation digits with their label and prediction.

Written after every validation into the ``validation`` run, from the first validation batch:

* ``samples`` (IMAGES): each of the first :data:`SAMPLES` digits, upscaled, framed in green when the
  prediction is right and red when it is wrong, with ``label > prediction`` drawn under it;
* ``samples_table`` (TEXT): a table of the same samples with the prediction's probability;
* ``conv`` (IMAGES): the second convolution's feature maps of the first two digits, each map
  scaled to its own maximum and tiled with grey gaps (a map that stays black is dead for that digit).

Everything is drawn with numpy: the digits of the captions come from a 3x5 pixel font.
"""

from __future__ import annotations

import numpy as np

import trainrig

SAMPLES = 8
"""How many validation digits are shown."""
FEATURE_MAP_SAMPLES = 2
ZOOM = 6  # every digit pixel becomes ZOOM x ZOOM
BORDER = 3
FONT_ZOOM = 3
RIGHT, WRONG, UNKNOWN = (40, 160, 60), (210, 40, 40), (110, 110, 110)

_FONT = {  # 3x5 glyphs, "#" is ink
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", "..#", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    "?": ("###", "..#", ".##", "...", ".#."),
    ">": ("#..", ".#.", "..#", ".#.", "#.."),
}
GLYPHS = {char: np.array([[c == "#" for c in row] for row in rows]) for char, rows in _FONT.items()}


def text_mask(text: str, zoom: int = FONT_ZOOM) -> np.ndarray:
    """``text`` (digits, ``?``, ``>``) as a boolean ink mask ``(5 * zoom, width)``, one pixel column between glyphs."""
    gap = np.zeros((5, 1), bool)
    columns = []
    for index, char in enumerate(text):
        if index:
            columns.append(gap)
        columns.append(GLYPHS.get(char, GLYPHS["?"]))
    mask = np.concatenate(columns, axis=1) if columns else np.zeros((5, 0), bool)
    return np.kron(mask, np.ones((zoom, zoom), bool))


def sample_images(images: np.ndarray, labels: np.ndarray | None, predicted: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` images ``(N, H, W, 3)``: each digit upscaled :data:`ZOOM` times in a frame
    (green: right, red: wrong, grey: no label) whose bottom bar reads ``label > prediction``."""
    digits = np.clip(np.asarray(images, dtype=np.float32).reshape(len(predicted), *np.shape(images)[1:3]), 0, 1)
    digits = np.kron(digits, np.ones((ZOOM, ZOOM), np.float32))  # (N, 8 ZOOM, 8 ZOOM)
    n, height, width = digits.shape
    captions = [f"{'?' if labels is None else int(labels[i])}>{int(predicted[i])}" for i in range(n)]
    masks = [text_mask(caption) for caption in captions]
    bar = 5 * FONT_ZOOM + 2 * BORDER
    full_width = max(width + 2 * BORDER, max(m.shape[1] for m in masks) + 2 * BORDER)
    out = np.zeros((n, BORDER + height + bar, full_width, 3), np.uint8)
    left = (full_width - width) // 2
    for i in range(n):
        if labels is None:
            colour = UNKNOWN
        else:
            colour = RIGHT if int(labels[i]) == int(predicted[i]) else WRONG
        out[i] = colour
        out[i, BORDER : BORDER + height, left : left + width] = np.round(255 * digits[i])[..., None]
        mask = masks[i]
        top, start = BORDER + height + BORDER, (full_width - mask.shape[1]) // 2
        region = out[i, top : top + mask.shape[0], start : start + mask.shape[1]]
        region[mask] = 255  # white ink on the coloured bar
    return out


def feature_map_grid(conv: np.ndarray, columns: int = 8, zoom: int = 3, gap: int = 2) -> np.ndarray:
    """``(N, H, W, C)`` activations as one grayscale image per sample: the ``C`` maps tiled
    ``columns`` wide, each scaled to ``[0, 1]`` by its own maximum, upscaled ``zoom`` times, with
    ``gap`` pixels of mid grey between them."""
    conv = np.maximum(np.asarray(conv, dtype=np.float32), 0)
    n, height, width, channels = conv.shape
    top = conv.max(axis=(1, 2), keepdims=True)
    maps = np.where(top > 0, conv / np.where(top > 0, top, 1), 0)  # dead maps stay black
    rows = -(-channels // columns)
    h, w = height * zoom, width * zoom
    grid = np.full((n, gap + rows * (h + gap), gap + columns * (w + gap)), 0.5, np.float32)
    for c in range(channels):
        y, x = divmod(c, columns)
        tile = np.kron(maps[..., c], np.ones((zoom, zoom), np.float32))
        grid[:, gap + y * (h + gap) : gap + y * (h + gap) + h, gap + x * (w + gap) : gap + x * (w + gap) + w] = tile
    return grid[..., None]


def sample_table(labels: np.ndarray | None, probabilities: np.ndarray) -> list[list[str]]:
    """Rows ``sample | label | prediction | probability | right`` (first row: the header)."""
    rows = [["sample", "label", "prediction", "probability", "right"]]
    for i, p in enumerate(probabilities):
        predicted = int(np.argmax(p))
        label = "?" if labels is None else str(int(labels[i]))
        right = "?" if labels is None else ("yes" if int(labels[i]) == predicted else "**no**")
        rows.append([str(i), label, str(predicted), f"{float(p[predicted]):.3f}", right])
    return rows


SAMPLES_DESCRIPTION = (
    f"The first {SAMPLES} validation digits, upscaled {ZOOM}x. The bar under each reads "
    "`label > prediction`: green when the prediction is right, red when it is wrong (grey and `?`: "
    "the label was not given to the handler). The text `samples_table` lists the probabilities."
)
CONV_DESCRIPTION = (
    f"The second convolution's feature maps of the first {FEATURE_MAP_SAMPLES} validation digits: "
    "each map scaled to its own maximum (white), upscaled 3x, on a grey grid; a black map is not active."
)


class DigitsBoard(trainrig.TensorBoardDataHandler):
    """Writes ``samples``, ``samples_table`` and ``conv`` (see the module docstring).

    ``_outputs_for_tensorboard`` prepares plain arrays to show (the rendered images, the table's
    rows); ``handle`` writes each with one of the handler's helpers.
    """

    def _outputs_for_tensorboard(self, inputs, outputs):
        probabilities = np.asarray(outputs["probabilities"])[:SAMPLES]
        labels = inputs.get("label")  # the batch's targets come with its inputs
        labels = None if labels is None else np.asarray(labels).reshape(-1)[:SAMPLES]
        predicted = probabilities.argmax(axis=-1)
        return {
            "samples": sample_images(np.asarray(inputs["image"])[:SAMPLES], labels, predicted),
            "samples_table": sample_table(labels, probabilities),
            "conv": feature_map_grid(np.asarray(outputs["conv"])[:FEATURE_MAP_SAMPLES]),
        }

    def handle(self, name, name_for_tb, value, step):
        if name == "samples":
            self.image(name_for_tb, value, step, max_outputs=len(value), description=SAMPLES_DESCRIPTION)
        elif name == "samples_table":
            self.text(name_for_tb, value.tolist(), step)
        elif name == "conv":
            self.image(name_for_tb, value, step, max_outputs=len(value), description=CONV_DESCRIPTION)
        else:
            super().handle(name, name_for_tb, value, step)
