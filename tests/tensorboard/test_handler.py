"""``TensorBoardDataHandler``'s helpers write what TensorBoard reads back: the plugin of each kind,
the shapes, and the pixels, buckets, text and curves themselves."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorboard import plugin_util
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

import trainrig
from trainrig.tensorboard.handler import image_batch, markdown
from trainrig.tensorboard.pr_curves import NUM_THRESHOLDS, pr_curve_data


def read(logdir) -> dict[str, tuple[str, dict[int, np.ndarray]]]:
    """``{tag: (plugin name, {step: tensor})}`` of every tensor summary in ``logdir``."""
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return {
        tag: (
            acc.SummaryMetadata(tag).plugin_data.plugin_name,
            {e.step: tensor_util.make_ndarray(e.tensor_proto) for e in acc.Tensors(tag)},
        )
        for tag in acc.Tags()["tensors"]
    }


@pytest.fixture
def board(tmp_path):
    """``(write, read_back)``: ``write(fn)`` calls ``fn(handler)`` with a file writer as the default writer."""
    handler = trainrig.TensorBoardDataHandler()

    def write(fn):
        writer = tf.summary.create_file_writer(str(tmp_path))
        with writer.as_default():
            fn(handler)
        writer.close()
        return read(tmp_path)

    return write


def pngs(tensor: np.ndarray) -> list[np.ndarray]:
    """The decoded images of an image summary (``[width, height, png, png...]``)."""
    return [tf.io.decode_png(encoded).numpy() for encoded in tensor[2:]]


def test_scalar_and_the_default_handle(board):
    out = board(lambda h: (h.scalar("lr", np.float32(0.25), 3), h.handle("mean", "mean_tb", np.array([1.0, 2.0, 6.0]), 3)))
    assert out["lr"][0] == "scalars" and float(out["lr"][1][3]) == 0.25
    assert out["mean_tb"][0] == "scalars" and float(out["mean_tb"][1][3]) == pytest.approx(3.0)


def test_image_of_grayscale_floats_in_unit_range(board):
    images = np.zeros((5, 6, 4), np.float32)
    images[:, 0, 0] = 1.0
    images[:, 1, 1] = 0.5
    out = board(lambda h: h.image("digits", images, 2, max_outputs=3))
    plugin, values = out["digits"]
    assert plugin == "images"
    tensor = values[2]
    assert tensor[0] == b"4" and tensor[1] == b"6"  # width, height
    decoded = pngs(tensor)
    assert len(decoded) == 3 and decoded[0].shape == (6, 4, 1)
    assert decoded[0][0, 0, 0] == 255 and decoded[0][1, 1, 0] in (127, 128) and decoded[0][2, 2, 0] == 0


def test_image_stretches_floats_outside_unit_range_per_image(board):
    images = np.stack([np.arange(12.0).reshape(3, 4) * 10 - 20, np.full((3, 4), 7.0)])[..., None]
    images[0, 0, 1, 0] = np.nan
    out = board(lambda h: h.image("maps", images, 1, max_outputs=2))
    first, constant = pngs(out["maps"][1][1])
    assert first[0, 0, 0] == 0 and first[2, 3, 0] == 255 and first[0, 1, 0] == 0  # min, max, NaN
    assert first[1, 2, 0] == round(255 * 60 / 110)
    assert (constant == 0).all()


def test_image_keeps_uint8_and_rgb(board):
    rgb = np.zeros((2, 5, 7, 3), np.uint8)
    rgb[..., 1] = 200
    out = board(lambda h: h.image("rgb", rgb, 1, max_outputs=5))
    decoded = pngs(out["rgb"][1][1])
    assert len(decoded) == 2 and decoded[0].shape == (5, 7, 3)
    np.testing.assert_array_equal(decoded[1], rgb[1])


def test_image_batch_shapes_and_errors():
    assert image_batch(np.zeros((8, 9))).shape == (1, 8, 9, 1)
    assert image_batch(np.zeros((2, 8, 9))).shape == (2, 8, 9, 1)
    assert image_batch(np.ones((2, 8, 9), bool)).max() == 255
    assert image_batch(np.full((1, 2, 2), 200, np.int64)).dtype == np.uint8
    with pytest.raises(ValueError, match="images must be"):
        image_batch(np.zeros((2, 8, 9, 5)))


def test_histogram_counts_every_finite_value(board):
    values = np.concatenate([np.arange(100.0), [np.nan, np.inf]]).reshape(2, 51)
    out = board(lambda h: h.histogram("activations", values, 4, buckets=10))
    plugin, series = out["activations"]
    assert plugin == "histograms"
    buckets = series[4]
    assert buckets.shape == (10, 3)
    assert buckets[:, 2].sum() == 100 and buckets[0, 0] == 0 and buckets[-1, 1] == 99


def test_text_string_lines_and_table(board):
    rows = [["sample", "label", "p"], [0, 3, 0.912345], [1, "a|b", np.float32(0.5)]]
    out = board(
        lambda h: (
            h.text("note", "**bold**", 1),
            h.text("lines", ["first", "second"], 1),
            h.text("table", rows, 1),
        )
    )
    assert {tag: plugin for tag, (plugin, _) in out.items()} == {"note": "text", "lines": "text", "table": "text"}
    assert out["note"][1][1].item() == b"**bold**"
    assert out["lines"][1][1].item() == b"first  \nsecond"
    table = out["table"][1][1].item().decode()
    assert table.splitlines() == ["| sample | label | p |", "|---|---|---|", "| 0 | 3 | 0.9123 |", "| 1 | a\\|b | 0.5 |"]
    html = plugin_util.markdown_to_safe_html(table)  # what TensorBoard's TEXT tab shows
    assert "<table>" in html and "<th>label</th>" in html and "<td>a|b</td>" in html


def test_markdown_of_arrays_and_ragged_rows():
    assert markdown(np.array([["a", "b"], ["c", "d"]])) == "| a | b |\n|---|---|\n| c | d |"
    assert markdown([("x",), ("y", 2)]) == "| x |  |\n|---|---|\n| y | 2 |"
    assert markdown(np.array("plain")) == "plain"


def test_pr_curve_binary_and_multiclass(board):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    probabilities = rng.uniform(size=50)
    classes = rng.integers(0, 3, 50)
    class_probabilities = rng.dirichlet(np.ones(3), 50)
    weights = rng.uniform(size=50)
    tags = {}

    def write(h):
        tags["binary"] = h.pr_curve("pr/odd", labels, probabilities, 5)
        tags["multi"] = h.pr_curve("pr/digit", classes, class_probabilities, 5, weights=weights, num_thresholds=11)

    out = board(write)
    assert tags == {"binary": ["pr/odd"], "multi": ["pr/digit/0", "pr/digit/1", "pr/digit/2"]}
    assert {plugin for plugin, _ in out.values()} == {"pr_curves"}
    assert out["pr/odd"][1][5].shape == (6, NUM_THRESHOLDS)
    np.testing.assert_allclose(out["pr/odd"][1][5], pr_curve_data(labels == 1, probabilities))
    for c in range(3):
        curve = out[f"pr/digit/{c}"][1][5]
        assert curve.shape == (6, 11)
        np.testing.assert_allclose(curve, pr_curve_data(classes == c, class_probabilities[:, c], weights, 11))


def test_the_class_docstring_example_works(board):
    namespace = {"trainrig": trainrig}
    source = trainrig.TensorBoardDataHandler.__doc__.split("For example::")[1]
    exec(compile("\n".join(line[8:] for line in source.splitlines()), "example", "exec"), namespace)
    handler = namespace["Board"]()
    inputs = {"image": np.random.default_rng(0).uniform(size=(6, 8, 8, 1))}
    outputs = {"probabilities": np.full((6, 3), 1 / 3)}

    def run(_):
        for name, value in handler._outputs_for_tensorboard(inputs, outputs).items():
            handler.handle(name, name, np.asarray(value), 1)

    out = board(run)
    assert {tag: plugin for tag, (plugin, _) in out.items()} == {
        "inputs": "images",
        "confidence": "histograms",
        "confidence_table": "text",
    }
    assert len(out["inputs"][1][1]) == 2 + 4
