"""PR curves of the validation predictions: TensorBoard's own ``pr_curves`` summaries, read back with
TensorBoard's event reader and its PR-curve plugin, and checked against scikit-learn's precision and
recall (or counts by hand) at the thresholds."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import precision_score, recall_score
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from trainrig import PredictionDefinition
from trainrig.errors import TrainrigError
from trainrig.tensorboard.pr_curves import MAX_CLASSES, NUM_THRESHOLDS, pr_curve_data, write_pr_curves

TP, FP, TN, FN, PRECISION, RECALL = range(6)
BINARY = PredictionDefinition("y", "p", "binary")
MULTICLASS = PredictionDefinition("y", "p", "multiclass")


def write(logdir, prediction, y_true, y_pred, weight=None, step=1, **kwargs) -> list[str]:
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        tags = write_pr_curves(prediction, y_true, y_pred, weight, step, **kwargs)
    writer.close()
    return tags


def read(logdir) -> dict[str, tuple[str, str, dict[int, np.ndarray]]]:
    """``{tag: (plugin name, description, {step: tensor})}`` of every tensor summary in ``logdir``."""
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        meta = acc.SummaryMetadata(tag)
        values = {e.step: tensor_util.make_ndarray(e.tensor_proto) for e in acc.Tensors(tag)}
        out[tag] = (meta.plugin_data.plugin_name, meta.summary_description, values)
    return out


def threshold(index: int) -> float:
    return float(np.linspace(0, 1, NUM_THRESHOLDS)[index])


def check_against_sklearn(curve, positive, scores, weight=None, indices=(0, 13, 50, 77, 99, 100)):
    for k in indices:
        decided = scores >= threshold(k)
        kw = {"sample_weight": weight, "zero_division": 0}
        assert curve[PRECISION, k] == pytest.approx(precision_score(positive, decided, **kw), abs=1e-6), k
        assert curve[RECALL, k] == pytest.approx(recall_score(positive, decided, **kw), abs=1e-6), k
        w = np.ones(len(scores)) if weight is None else weight
        assert curve[TP, k] == pytest.approx(w[positive & decided].sum(), rel=1e-5, abs=1e-4)
        assert curve[FP, k] == pytest.approx(w[~positive & decided].sum(), rel=1e-5, abs=1e-4)
        assert curve[TN, k] == pytest.approx(w[~positive & ~decided].sum(), rel=1e-5, abs=1e-4)
        assert curve[FN, k] == pytest.approx(w[positive & ~decided].sum(), rel=1e-5, abs=1e-4)


def test_binary_counts_by_hand_a_threshold_counts_as_reached(tmp_path):
    y_true = np.array([1, 0, 1, 0], dtype=np.float64)
    y_pred = np.array([0.9, 0.8, 0.3, 0.1])
    assert write(tmp_path, BINARY, y_true, y_pred, np.ones(4)) == ["pr_curve/positive"]
    ((tag, (plugin, description, values)),) = read(tmp_path).items()
    assert (tag, plugin) == ("pr_curve/positive", "pr_curves")
    assert "positive class" in description and "2 positives of 4" in description
    curve = values[1]
    assert curve.shape == (6, NUM_THRESHOLDS) and curve.dtype == np.float32
    assert threshold(30) == 0.3 and threshold(50) == 0.5
    np.testing.assert_allclose(curve[:, 50], [1, 1, 1, 1, 0.5, 0.5])  # 0.9 and 0.8 reach 0.5
    np.testing.assert_allclose(curve[:, 30], [2, 1, 1, 0, 2 / 3, 1.0], rtol=1e-6)  # 0.3 >= 0.3 counts
    np.testing.assert_allclose(curve[:, 0], [2, 2, 0, 0, 0.5, 1.0])  # everything at threshold 0
    np.testing.assert_allclose(curve[:, 100], [0, 0, 2, 2, 0, 0])  # nothing reaches 1: precision 0


def test_binary_matches_sklearn_with_column_shapes(tmp_path):
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 500).astype(np.float64)
    y_pred = np.clip(0.35 * y_true + rng.uniform(0, 0.65, 500), 0, 1)
    write(tmp_path, BINARY, y_true[:, None], y_pred[:, None], np.ones(500), step=7)
    _, _, values = read(tmp_path)["pr_curve/positive"]
    assert list(values) == [7]
    check_against_sklearn(values[7], y_true == 1, y_pred)


def test_sample_weights_weight_the_counts(tmp_path):
    rng = np.random.default_rng(2)
    n = 400
    y_true = rng.integers(0, 2, n).astype(np.float64)
    y_pred = rng.uniform(size=n)
    weight = rng.uniform(0, 3, n)
    weight[:50] = 0.0
    write(tmp_path / "weighted", PredictionDefinition("y", "p", "binary", weight="w"), y_true, y_pred, weight)
    ((_, description, values),) = read(tmp_path / "weighted").values()
    assert "weighted" in description
    curve = values[1]
    check_against_sklearn(curve, y_true == 1, y_pred, weight)
    # zero weights count as no row at all
    write(tmp_path / "dropped", BINARY, y_true[50:], y_pred[50:], weight[50:])
    ((_, _, dropped),) = read(tmp_path / "dropped").values()
    np.testing.assert_allclose(curve, dropped[1], rtol=1e-5, atol=1e-4)
    # weighted counts are stored as floats, not rounded
    assert not np.allclose(curve[TP], np.round(curve[TP]))


def test_multiclass_one_vs_rest_curve_per_class(tmp_path):
    rng = np.random.default_rng(3)
    n, k = 600, 4
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]
    y_pred = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    tags = write(tmp_path / "labels", MULTICLASS, labels.astype(np.float64), y_pred, np.ones(n))
    assert tags == [f"pr_curve/{c}" for c in range(k)]
    read_back = read(tmp_path / "labels")
    assert sorted(read_back) == sorted(tags)
    for c in range(k):
        plugin, description, values = read_back[f"pr_curve/{c}"]
        assert plugin == "pr_curves" and f"Class {c} against the rest" in description
        check_against_sklearn(values[1], labels == c, y_pred[:, c])
    # one-hot targets give the same curves
    write(tmp_path / "onehot", MULTICLASS, np.eye(k)[labels], y_pred, np.ones(n))
    onehot = read(tmp_path / "onehot")
    for tag in tags:
        np.testing.assert_array_equal(onehot[tag][2][1], read_back[tag][2][1])


def test_multiclass_keeps_the_classes_with_most_samples(tmp_path):
    k = 15
    counts = np.array([5, 1, 9, 2, 9, 3, 0, 7, 1, 8, 2, 4, 6, 1, 3])  # class 6 never occurs
    labels = np.repeat(np.arange(k), counts)
    rng = np.random.default_rng(4)
    y_pred = rng.dirichlet(np.ones(k), len(labels))
    tags = write(tmp_path, MULTICLASS, labels, y_pred, None, max_classes=4)
    assert tags == ["pr_curve/2", "pr_curve/4", "pr_curve/7", "pr_curve/9"]  # 9, 9, 7, 8 samples; index order
    read_back = read(tmp_path)
    assert sorted(read_back) == tags
    assert "Only the 4 classes with the most true samples of 14" in read_back["pr_curve/7"][1]
    check_against_sklearn(read_back["pr_curve/7"][2][1], labels == 7, y_pred[:, 7])
    # the default cap, and classes without a true sample are left out
    default = write(tmp_path / "default", MULTICLASS, labels, y_pred, None)
    assert len(default) == MAX_CLASSES == 10 and "pr_curve/6" not in default
    few = write(tmp_path / "few", MULTICLASS, labels[labels < 8], y_pred[labels < 8], None)
    assert few == [f"pr_curve/{c}" for c in (0, 1, 2, 3, 4, 5, 7)]


def test_regression_and_unknown_types_write_nothing(tmp_path):
    y = np.linspace(0, 1, 10)
    assert write(tmp_path, PredictionDefinition("y", "p", "regression"), y, y, np.ones(10)) == []
    assert write(tmp_path, None, y, y, np.ones(10)) == []
    assert read(tmp_path) == {}


def test_invalid_arrays_raise_like_the_metric_suite(tmp_path):
    with pytest.raises(TrainrigError, match="0/1"):
        write(tmp_path, BINARY, np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(TrainrigError, match="0..2"):
        write(tmp_path, MULTICLASS, np.array([0, 3]), np.full((2, 3), 1 / 3))


def test_tensorboard_pr_curve_plugin_serves_the_curves(tmp_path):
    """TensorBoard's own PR-curve plugin (what its PR CURVES tab asks) lists and reads the curve."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.pr_curve import pr_curves_plugin

    y_true = np.array([1, 0, 1, 0, 1], dtype=np.float64)
    y_pred = np.array([0.9, 0.8, 0.3, 0.1, 0.6])
    write(tmp_path / "validation", BINARY, y_true, y_pred, np.ones(5), step=3)
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    plugin = pr_curves_plugin.PrCurvesPlugin(base_plugin.TBContext(logdir=str(tmp_path), data_provider=provider))
    ctx = context.RequestContext()
    tags = plugin.tags_impl(ctx, experiment="")
    assert list(tags) == ["validation"] and list(tags["validation"]) == ["pr_curve/positive"]
    assert "positive class" in tags["validation"]["pr_curve/positive"]["description"]
    (entry,) = plugin.pr_curves_impl(ctx, "", ["validation"], "pr_curve/positive")["validation"]
    assert entry["step"] == 3
    # the plugin drops the trailing thresholds nothing reaches (above 0.9)
    assert len(entry["thresholds"]) == 91 and entry["thresholds"][60] == pytest.approx(0.6)
    assert entry["precision"][60] == pytest.approx(2 / 3) and entry["recall"][60] == pytest.approx(2 / 3)
    assert entry["true_positives"][60] == 2 and entry["false_positives"][60] == 1


def test_a_hundred_thousand_rows_are_fast():
    rng = np.random.default_rng(5)
    n, k = 100_000, 10
    labels = rng.integers(0, k, n)
    scores = rng.dirichlet(np.ones(k), n)
    pr_curve_data(labels[:, None] == np.arange(k), scores, None)  # warm up
    start = time.perf_counter()
    data = pr_curve_data(labels[:, None] == np.arange(k), scores, rng.uniform(size=n))
    elapsed = time.perf_counter() - start
    assert data.shape == (k, 6, NUM_THRESHOLDS)
    assert elapsed < 2.0  # about 0.06 s; generous for a busy shared machine
    # every sample is predicted positive at threshold 0, in every curve
    np.testing.assert_allclose(data[:, TP, 0] + data[:, FP, 0], data[0, TP, 0] + data[0, FP, 0], rtol=1e-5)
