"""The digits tutorial reaches its accuracy and its run is readable by a real TensorBoard server.

The run is deterministic (``seed=0``, ``deterministic=True``: TensorFlow's op determinism), so its
accuracies are the same on every run on a given TensorFlow build and CPU; it ends near 0.98, and the
test asserts the tutorial's promise of 95 %. The TensorBoard server is waited for by what it says, not
by a fixed time: it is started on a free port of its choosing and the test reads the address it prints,
then polls until it serves both runs, with a generous deadline for a busy machine.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from fixtures_pkg.helpers import tensorboard_tensors
from fixtures_pkg.tensorboard_server import get, serve

import trainrig
from trainrig_digits.board import RIGHT, SAMPLES, UNKNOWN, WRONG, DigitsBoard, text_mask
from trainrig_digits.data import DigitsData
from trainrig_digits.model import DigitsModel


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    params = trainrig.TrainerParams(epochs=10, output_dir=str(out), progress="none", seed=0, deterministic=True)
    history = trainrig.Trainer(params, DigitsModel(), DigitsData()).train()
    return out, history


def test_reaches_95_percent_validation_accuracy(digits_run):
    _, history = digits_run
    assert max(history["val_acc"]) >= 0.95
    assert len(history["val_acc"]) == 10


def test_best_export_holds_the_best_epoch(digits_run):
    out, history = digits_run
    best = json.loads((out / "best" / "trainrig.json").read_text())
    assert best["monitor"] == "val_acc"
    assert best["value"] == pytest.approx(max(history["val_acc"]))
    assert best["epoch"] == history["val_acc"].index(max(history["val_acc"])) + 1


@pytest.fixture(scope="module")
def tensorboard_server(digits_run):
    out, _ = digits_run
    with serve(out / "tensorboard", runs=("train", "validation")) as base:
        yield base


def test_tensorboard_shows_sections_hparams_texts_graph_and_pr_curves(tensorboard_server):
    base = tensorboard_server
    scalars = get(f"{base}/data/plugin/scalars/tags")
    for run in ("train", "validation"):
        assert {"losses/loss", "losses/xent", "metrics/acc"} <= set(scalars[run]), scalars[run]
    assert "optimizer/learning_rate" in scalars["train"] and "learning_rate" not in scalars["train"]
    # the suite without what the model already logs (accuracy, cross-entropy), and the best value so far
    suite = {tag for tag in scalars["validation"] if tag.startswith("suite/")}
    assert suite == {"suite/Precision", "suite/Recall", "suite/F1 Score", "suite/ROC AUC", "suite/Average Precision"}
    assert {tag.split("/")[0] for tag in scalars["validation"]} == {"losses", "metrics", "suite", "best"}
    series = get(f"{base}/data/plugin/scalars/scalars?run=validation&tag=metrics/acc")
    assert [point[1] for point in series] == list(range(1, 11))
    assert "x axis: epoch" in scalars["validation"]["metrics/acc"]["description"]
    best = [point[2] for point in get(f"{base}/data/plugin/scalars/scalars?run=validation&tag=best/acc")]
    assert best == sorted(best) and best[-1] == pytest.approx(max(point[2] for point in series))
    # hparams: settings that matter first, no plumbing, metrics declared from the validation run
    experiment = get(f"{base}/data/plugin/hparams/experiment", data=json.dumps({"experimentName": ""}).encode())
    names = [h["name"] for h in experiment["hparamInfos"]]
    first = [h["name"] for h in experiment["hparamInfos"] if h.get("differs")]
    assert names[: len(first)] == first
    assert {"model.filters", "trainer.learning_rate", "trainer.batch_size", "trainer.optimizer"} <= set(first)
    assert {"trainer.epochs", "data.val_fraction"} <= set(names)
    assert not [n for n in names if n.split(".")[1] in ("output_dir", "progress", "suite", "early_stopping")], names
    metrics = {(m["name"]["group"], m["name"]["tag"]) for m in experiment["metricInfos"]}
    assert {("validation", "metrics/acc"), ("validation", "suite/ROC AUC"), ("validation", "best/acc")} <= metrics
    # texts (params, model summary), the graph, the PR curves of the ten classes
    texts = get(f"{base}/data/plugin/text/tags")["train"]
    assert {"run/params", "run/model_summary"} <= set(texts)
    assert get(f"{base}/data/plugin/graphs/info")["train"]["run_graph"]
    curves = get(f"{base}/data/plugin/pr_curves/tags")["validation"]
    assert {f"pr_curve/{digit}" for digit in range(10)} <= set(curves)


def test_tensorboard_shows_the_samples_and_their_table(tensorboard_server):
    base = tensorboard_server
    images = get(f"{base}/data/plugin/images/tags")["validation"]
    assert {"samples", "conv"} <= set(images)
    assert images["samples"]["samples"] == SAMPLES and images["conv"]["samples"] == 2
    assert "label &gt; prediction" in images["samples"]["description"]  # served as HTML
    assert "samples_table" in get(f"{base}/data/plugin/text/tags")["validation"]


# --- what the TensorBoard handler draws ----------------------------------------------------------

COLOURS = {RIGHT: "yes", WRONG: "**no**", UNKNOWN: "?"}


def _pngs(tensor) -> list[np.ndarray]:
    return [tf.io.decode_png(encoded).numpy() for encoded in tensor[2:]]


def _table(tensor) -> list[list[str]]:
    lines = tensor.item().decode().splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[:1] + lines[2:]]


def test_samples_show_bright_digits_framed_by_the_table_s_verdict(digits_run):
    out, _ = digits_run
    validation = tensorboard_tensors(out / "tensorboard" / "validation")
    assert sorted(validation["samples"]) == list(range(1, 11)) == sorted(validation["samples_table"])
    samples = _pngs(validation["samples"][10])
    assert len(samples) == SAMPLES and {image.shape for image in samples} == {(72, 54, 3)}
    table = _table(validation["samples_table"][10])
    assert table[0] == ["sample", "label", "prediction", "probability", "right"] and len(table) == SAMPLES + 1
    data = DigitsData()
    for image, (index, label, predicted, probability, right) in zip(samples, table[1:]):
        assert image[3:51, 3:51].max() >= 200  # the digit, upscaled 6x, is bright
        assert COLOURS[tuple(int(v) for v in image[0, 0])] == right != "?"  # the frame's colour is the verdict
        assert label == str(data.labels[data.val_rows[int(index)]])  # the handler sees the targets
        assert (right == "yes") == (label == predicted)
        assert 0 <= int(predicted) <= 9 and 0.0 < float(probability) <= 1.0
    conv = _pngs(validation["conv"][10])
    assert len(conv) == 2 and conv[0].shape == (106, 210, 1)
    assert conv[0].max() == 255 and conv[0][0, 0, 0] in (127, 128)  # maps scaled to their own maximum, grey gaps


def test_the_handler_writes_label_and_prediction_into_each_sample(tmp_path):
    data = DigitsData()
    rows = data.val_rows[:SAMPLES]
    labels = data.labels[rows]
    probabilities = np.eye(10)[labels] * 0.9 + 0.01
    probabilities[1] = np.roll(probabilities[1], 1)  # sample 1 is predicted wrong
    handler = DigitsBoard()
    inputs = {"image": data.images[rows], "label": labels}  # the batch's targets come with its inputs
    outputs = {"probabilities": probabilities, "conv": np.random.default_rng(0).uniform(size=(SAMPLES, 8, 8, 32))}
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for name, value in handler._outputs_for_tensorboard(inputs, outputs).items():
            handler.handle(name, name, np.asarray(value), 1)
    writer.close()
    written = tensorboard_tensors(tmp_path)
    samples = _pngs(written["samples"][1])
    table = _table(written["samples_table"][1])
    for i, image in enumerate(samples):
        predicted = (labels[i] + 1) % 10 if i == 1 else labels[i]
        assert tuple(image[0, 0]) == (WRONG if i == 1 else RIGHT)
        caption = text_mask(f"{labels[i]}>{predicted}")
        top, left = 48 + 6, (54 - caption.shape[1]) // 2
        bar = image[top : top + caption.shape[0], left : left + caption.shape[1]]
        np.testing.assert_array_equal((bar == 255).all(axis=-1), caption)  # the caption is drawn in white
        assert table[i + 1] == [str(i), str(labels[i]), str(predicted), "0.910", "**no**" if i == 1 else "yes"]
    np.testing.assert_array_equal(samples[0][3:51, 3:51, 0], np.kron(np.round(255 * data.images[rows[0], ..., 0]), np.ones((6, 6))))
