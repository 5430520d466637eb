"""Every ``ModelBase`` hook in a real (tiny) training run, checked against the values it must produce.

Two runs are shared by the tests of this module: ``hooked`` (every hook overridden, best model by the
minimum of ``bce``) and ``maxed`` (best model by the maximum of an extended metric).
"""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import trainrig
from fixtures_pkg.helpers import make_params, read_manifest, tensorboard_tensors
from fixtures_pkg.tinymodels import N_FEATURES, TinyData, tiny_act
from trainrig import LossDefinition, MetricDefinition, MultiMetricDefinition

EPOCHS = 3
PRINT_SAMPLES = 3
LOSS_WEIGHTS = {"mse": 0.5, "bce": 2.0, "l1": 0.25}


def sample_weight_of(targets) -> np.ndarray:
    """Rows with a positive label weigh 4, the others 1 (as ``HookedModel._sample_weights``)."""
    return 1.0 + 3.0 * np.asarray(targets["label"], dtype="float32")[:, 0]


class DoublingMultiMetric(trainrig.MultiMetric):
    """Feeds its children ``2 * y_true`` and ``2 * y_pred``: an MAE child then reads twice the MAE."""

    def _precompute_values(self, y_true, y_pred, sample_weight=None):
        return 2.0 * y_true, 2.0 * y_pred, sample_weight


class ImageHandler(trainrig.TensorBoardDataHandler):
    """Sends ``z`` of two validation samples as an image and the mean of ``y_hat`` as a scalar."""

    def _outputs_for_tensorboard(self, inputs, outputs):
        return {"z_image": outputs["z"][:2], "y_hat_mean": outputs["y_hat"]}

    def handle(self, name, name_for_tb, value, step):
        if name == "z_image":
            image = np.asarray(value, dtype="float32").reshape(value.shape[0], 1, value.shape[1], 1)
            image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6)
            tf.summary.image(name_for_tb, image, step=step, max_outputs=2)
        else:
            super().handle(name, name_for_tb, value, step)


class HookedModel(trainrig.ModelBase):
    """A regression + classification head over a shared ``tiny_act`` encoder; overrides every hook."""

    def __init__(self, params=None, best=("min", "bce")):
        super().__init__(params)
        self.best = best
        self.samples: list[trainrig.Sample] = []
        self.print_fns: list = []

    def create_graph(self, params):
        x = keras.Input(shape=(N_FEATURES,), name="x")
        self.encoder_layer = keras.layers.Dense(6, activation=tiny_act, name="encoder_dense")
        z = self.encoder_layer(x)
        y_hat = keras.layers.Dense(1, name="y_head")(z)
        prob = keras.layers.Dense(1, activation="sigmoid", name="prob_head")(z)
        return keras.Model({"x": x}, {"y_hat": y_hat, "prob": prob, "z": z})

    def _loss(self):
        return {
            "mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError()),
            "bce": LossDefinition("label", "prob", keras.losses.BinaryCrossentropy()),
        }

    def _extended_loss(self, inputs_targets, outputs):
        return {"l1": keras.ops.mean(keras.ops.abs(inputs_targets["y"] - outputs["y_hat"]), axis=-1)}

    def _loss_weights(self):
        return dict(LOSS_WEIGHTS)

    def _metric(self):
        return {
            "mae": MetricDefinition("y", "y_hat", keras.metrics.MeanAbsoluteError()),
            "mae_w": MetricDefinition("y", "y_hat", keras.metrics.MeanAbsoluteError()),
            "acc": MetricDefinition("label", "prob", keras.metrics.BinaryAccuracy()),
        }

    def _sample_weights(self, inputs, targets):
        w = 1.0 + 3.0 * keras.ops.cast(targets["label"][:, 0], "float32")
        return {"mae_w": w, "ext_w": w}

    def _extended_metric(self, inputs_targets, outputs):
        err = keras.ops.mean(keras.ops.abs(inputs_targets["y"] - outputs["y_hat"]), axis=-1)
        return {"ext": err, "ext_w": err, "score": -err}

    def _multi_metric(self):
        return {
            "mm": MultiMetricDefinition(
                "y",
                "y_hat",
                trainrig.MultiMetric(
                    [keras.metrics.MeanAbsoluteError(name="mm_mae"), keras.metrics.MeanSquaredError(name="mm_mse")],
                    name="mm",
                ),
            ),
            "mm2": MultiMetricDefinition(
                "y", "y_hat", DoublingMultiMetric([keras.metrics.MeanAbsoluteError(name="mm2_mae")], name="mm2")
            ),
        }

    def _best_logging_settings(self):
        return self.best

    def _print_evaluate(self, sample, data, print_fn=print):
        self.samples.append(sample)
        self.print_fns.append(print_fn)
        print_fn(f"SAMPLE y={float(sample.targets['y'][0]):.4f} y_hat={float(sample.outputs['y_hat'][0]):.4f}")

    def _create_tensorboard_handler(self):
        return ImageHandler()

    @classmethod
    def _additional_layers(cls):
        return [tiny_act]

    def _export_graphs(self, inputs, outputs, targets):
        return {
            "default": keras.Model(inputs=inputs, outputs=outputs),
            "encoder": keras.Model(inputs=inputs, outputs=self.encoder_layer(inputs["x"])),
        }


class EpochRecorder(keras.callbacks.Callback):
    """After the base callbacks: how many samples ``_print_evaluate`` has seen at each epoch end."""

    def __init__(self, model_base):
        super().__init__()
        self.model_base = model_base
        self.sample_counts: list[int] = []
        self.variables_at_train_begin = None

    def on_train_begin(self, logs=None):
        self.variables_at_train_begin = (
            trainrig.get_variable("MODEL_METRIC"),
            trainrig.get_variable("MODEL_METRIC_GREATER_IS_BETTER"),
        )

    def on_epoch_end(self, epoch, logs=None):
        self.sample_counts.append(len(self.model_base.samples))


class Run:
    def __init__(self, root, model, data, trainer, history, recorder):
        self.root, self.model, self.data, self.trainer, self.history, self.recorder = (
            root, model, data, trainer, history, recorder
        )

    def predict(self, x):
        out = self.trainer.keras_model({"x": x}, training=False)
        return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}


def _train(root, best, **overrides) -> Run:
    model = HookedModel(best=best)
    data = TinyData()
    recorder = EpochRecorder(model)
    values = dict(epochs=EPOCHS, batch_size=16, learning_rate=0.05, print_samples=PRINT_SAMPLES)
    values.update(overrides)
    params = make_params(root, **values)
    trainer = trainrig.Trainer(params, model, data, callbacks=[recorder])
    history = trainer.train()
    return Run(root, model, data, trainer, history, recorder)


@pytest.fixture(scope="module")
def hooked(tmp_path_factory):
    # progress="epoch": the samples are also printed on the console.
    return _train(tmp_path_factory.mktemp("hooked") / "run", ("min", "bce"), progress="epoch")


@pytest.fixture(scope="module")
def maxed(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("maxed") / "run", ("max", "score"), learning_rate=0.3)


# --- create_graph, losses ------------------------------------------------------------------------


def test_create_graph_builds_the_trained_network(hooked):
    names = [layer.name for layer in hooked.trainer.keras_model._flatten_layers(include_self=False)]
    assert {"encoder_dense", "y_head", "prob_head"} <= set(names)
    out = hooked.predict(hooked.data.x_val[:4])
    assert out["y_hat"].shape == (4, 1) and out["prob"].shape == (4, 1) and out["z"].shape == (4, 6)


def test_history_has_every_named_loss_and_total(hooked):
    h = hooked.history
    for name in ["loss", "mse", "bce", "l1"]:
        assert len(h[name]) == EPOCHS and len(h["val_" + name]) == EPOCHS
        assert all(np.isfinite(h[name])) and all(np.isfinite(h["val_" + name]))


@pytest.mark.parametrize("prefix", ["", "val_"])
def test_loss_weights_total_is_weighted_sum(hooked, prefix):
    h = hooked.history
    for epoch in range(EPOCHS):
        expected = sum(w * h[prefix + name][epoch] for name, w in LOSS_WEIGHTS.items())
        assert h[prefix + "loss"][epoch] == pytest.approx(expected, rel=1e-5)
        # not the unweighted sum: the weights matter
        assert abs(h[prefix + "loss"][epoch] - sum(h[prefix + n][epoch] for n in LOSS_WEIGHTS)) > 1e-3


def test_validation_losses_match_hand_computation(hooked):
    d, h = hooked.data, hooked.history
    out = hooked.predict(d.x_val)
    err = d.y_val - out["y_hat"]
    mse = float(np.mean(err**2))
    p = np.clip(out["prob"].astype("float64"), 1e-7, 1 - 1e-7)
    bce = float(np.mean(-(d.label_val * np.log(p) + (1 - d.label_val) * np.log(1 - p))))
    l1 = float(np.mean(np.abs(err)))
    assert h["val_mse"][-1] == pytest.approx(mse, rel=1e-5)
    assert h["val_bce"][-1] == pytest.approx(bce, rel=1e-4)
    assert h["val_l1"][-1] == pytest.approx(l1, rel=1e-5)
    assert h["val_loss"][-1] == pytest.approx(0.5 * mse + 2.0 * bce + 0.25 * l1, rel=1e-4)


# --- metrics -------------------------------------------------------------------------------------


def test_metric_logged_under_its_name_and_val_name(hooked):
    h = hooked.history
    for name in ["mae", "mae_w", "acc"]:
        assert len(h[name]) == EPOCHS and len(h["val_" + name]) == EPOCHS
    d = hooked.data
    out = hooked.predict(d.x_val)
    assert h["val_mae"][-1] == pytest.approx(float(np.mean(np.abs(d.y_val - out["y_hat"]))), rel=1e-5)
    acc = float(np.mean((out["prob"] > 0.5).astype("float32") == d.label_val))
    assert h["val_acc"][-1] == pytest.approx(acc, abs=1e-6)


def test_sample_weights_weight_the_keras_metric(hooked):
    d, h = hooked.data, hooked.history
    out = hooked.predict(d.x_val)
    err = np.abs(d.y_val - out["y_hat"])[:, 0]
    w = sample_weight_of({"label": d.label_val})
    weighted = float(np.sum(w * err) / np.sum(w))
    assert abs(weighted - float(np.mean(err))) > 1e-3, "test data must make weighting matter"
    assert h["val_mae_w"][-1] == pytest.approx(weighted, rel=1e-5)
    assert abs(h["val_mae_w"][-1] - h["val_mae"][-1]) > 1e-3
    for epoch in range(EPOCHS):
        assert h["mae_w"][epoch] != pytest.approx(h["mae"][epoch], rel=1e-4)


def test_extended_metric_averaged_and_weighted(hooked):
    d, h = hooked.data, hooked.history
    out = hooked.predict(d.x_val)
    err = np.abs(d.y_val - out["y_hat"])[:, 0]
    w = sample_weight_of({"label": d.label_val})
    assert h["val_ext"][-1] == pytest.approx(float(np.mean(err)), rel=1e-5)
    assert h["val_ext_w"][-1] == pytest.approx(float(np.sum(w * err) / np.sum(w)), rel=1e-5)
    assert h["val_score"][-1] == pytest.approx(-float(np.mean(err)), rel=1e-5)
    # training values are logged too, and the unweighted one agrees with the keras MAE
    for epoch in range(EPOCHS):
        assert h["ext"][epoch] == pytest.approx(h["mae"][epoch], rel=1e-5)
        assert h["ext_w"][epoch] == pytest.approx(h["mae_w"][epoch], rel=1e-5)


def test_multi_metric_children_logged_under_their_names(hooked):
    d, h = hooked.data, hooked.history
    assert "mm" not in h and "val_mm" not in h and "mm2" not in h
    out = hooked.predict(d.x_val)
    err = d.y_val - out["y_hat"]
    assert h["val_mm_mae"][-1] == pytest.approx(float(np.mean(np.abs(err))), rel=1e-5)
    assert h["val_mm_mse"][-1] == pytest.approx(float(np.mean(err**2)), rel=1e-5)
    for epoch in range(EPOCHS):
        assert h["mm_mae"][epoch] == pytest.approx(h["mae"][epoch], rel=1e-5)
        assert h["val_mm_mse"][epoch] == pytest.approx(h["val_mse"][epoch], rel=1e-5)


def test_multi_metric_precompute_values_is_honored(hooked):
    h = hooked.history
    for prefix in ["", "val_"]:
        for epoch in range(EPOCHS):
            assert h[prefix + "mm2_mae"][epoch] == pytest.approx(2.0 * h[prefix + "mae"][epoch], rel=1e-5)


class WeightedMultiModel(trainrig.ModelBase):
    """One MAE multi-metric weighted through ``_sample_weights`` under the name ``key``."""

    def __init__(self, key):
        super().__init__()
        self.key = key

    def create_graph(self, params):
        x = keras.Input(shape=(N_FEATURES,), name="x")
        return keras.Model({"x": x}, {"y_hat": keras.layers.Dense(1)(x)})

    def _loss(self):
        return {"mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError())}

    def _metric(self):
        return {"mae": MetricDefinition("y", "y_hat", keras.metrics.MeanAbsoluteError())}

    def _multi_metric(self):
        children = [keras.metrics.MeanAbsoluteError(name="mm_mae")]
        return {"mm": MultiMetricDefinition("y", "y_hat", trainrig.MultiMetric(children, name="mm"))}

    def _sample_weights(self, inputs, targets):
        return {self.key: 1.0 + 3.0 * keras.ops.cast(targets["label"][:, 0], "float32")}


def test_sample_weights_apply_to_multi_metric(tiny_params, tiny_data):
    trainer = trainrig.Trainer(tiny_params(epochs=1, export=False), WeightedMultiModel("mm"), tiny_data)
    h = trainer.train()
    out = keras.ops.convert_to_numpy(trainer.keras_model({"x": tiny_data.x_val})["y_hat"])
    err = np.abs(tiny_data.y_val - out)[:, 0]
    w = sample_weight_of({"label": tiny_data.label_val})
    assert abs(float(np.sum(w * err) / np.sum(w)) - float(np.mean(err))) > 1e-3
    assert h["val_mm_mae"][-1] == pytest.approx(float(np.sum(w * err) / np.sum(w)), rel=1e-5)


def test_sample_weights_of_a_multi_metric_child_name_are_rejected(tiny_params, tiny_data):
    trainer = trainrig.Trainer(tiny_params(epochs=1, export=False), WeightedMultiModel("mm_mae"), tiny_data)
    with pytest.raises(trainrig.TrainrigError, match=r"unknown metric 'mm_mae' \(a multi-metric is weighted by its own name"):
        trainer.train()


# --- best model ----------------------------------------------------------------------------------


def test_best_logging_min_records_epoch_of_minimum(hooked):
    values = hooked.history["val_bce"]
    manifest = read_manifest(hooked.root / "best")
    assert manifest["monitor"] == "val_bce"
    assert manifest["epoch"] == int(np.argmin(values)) + 1
    assert manifest["value"] == pytest.approx(min(values), rel=1e-6)
    # published before any callback's on_train_begin
    assert hooked.recorder.variables_at_train_begin == ("val_bce", False)


def test_best_logging_max_records_epoch_of_maximum(maxed):
    values = maxed.history["val_score"]
    manifest = read_manifest(maxed.root / "best")
    assert manifest["monitor"] == "val_score"
    assert manifest["epoch"] == int(np.argmax(values)) + 1
    assert manifest["value"] == pytest.approx(max(values), rel=1e-6)
    assert maxed.recorder.variables_at_train_begin == ("val_score", True)
    # the best export holds the weights of that epoch: its score on validation is the recorded one
    best = trainrig.load_model(maxed.root / "best")
    out = best.predict({"x": maxed.data.x_val}, verbose=0)
    score = -float(np.mean(np.abs(maxed.data.y_val - out["y_hat"])))
    assert score == pytest.approx(manifest["value"], rel=1e-5)


# --- _print_evaluate -----------------------------------------------------------------------------


def test_print_evaluate_gets_unbatched_samples_each_epoch(hooked):
    assert hooked.recorder.sample_counts == [PRINT_SAMPLES * (e + 1) for e in range(EPOCHS)]
    for sample in hooked.model.samples:
        assert isinstance(sample, trainrig.Sample)
        assert sample.inputs["x"].shape == (N_FEATURES,)
        assert sample.targets["y"].shape == (1,) and sample.targets["label"].shape == (1,)
        assert sample.outputs["y_hat"].shape == (1,) and sample.outputs["z"].shape == (6,)
    # the first validation samples, in order; the last epoch's outputs are the final model's
    last = hooked.model.samples[-PRINT_SAMPLES:]
    out = hooked.predict(hooked.data.x_val[:PRINT_SAMPLES])
    for i, sample in enumerate(last):
        np.testing.assert_array_equal(sample.inputs["x"], hooked.data.x_val[i])
        np.testing.assert_array_equal(sample.targets["y"], hooked.data.y_val[i])
        np.testing.assert_allclose(sample.outputs["y_hat"], out["y_hat"][i], rtol=1e-5, atol=1e-6)
    assert all(callable(fn) for fn in hooked.model.print_fns)


def test_print_evaluate_output_reaches_console(tiny_params, tiny_data, capsys):
    model = HookedModel(best=("min", "loss"))
    params = tiny_params(epochs=2, progress="epoch", print_samples=2, export=False)
    trainrig.Trainer(params, model, tiny_data).train()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("SAMPLE ")]
    assert len(lines) == 2 * 2
    assert len(model.samples) == 4


def test_print_evaluate_count_not_capped_by_batch_size(tiny_params, tiny_data):
    model = HookedModel(best=("min", "loss"))
    params = tiny_params(epochs=1, batch_size=4, progress="epoch", print_samples=6, export=False)
    trainrig.Trainer(params, model, tiny_data).train()
    assert len(model.samples) == 6
    np.testing.assert_array_equal(model.samples[5].inputs["x"], tiny_data.x_val[5])


# --- TensorBoard handler -------------------------------------------------------------------------


def test_tensorboard_handler_writes_image_to_validation_run(hooked):
    validation = tensorboard_tensors(hooked.root / "tensorboard" / "validation")
    train = tensorboard_tensors(hooked.root / "tensorboard" / "train")
    assert "z_image" in validation and "y_hat_mean" in validation
    assert "z_image" not in train and "y_hat_mean" not in train
    assert sorted(validation["z_image"]) == list(range(1, EPOCHS + 1))
    image = validation["z_image"][EPOCHS]
    # an image summary: [width, height, encoded png...]
    assert image.dtype == object and image[0] == b"6" and image[1] == b"1"
    assert image[2].startswith(b"\x89PNG")
    # the scalar went through the default handle(): mean of y_hat on the first validation batch
    out = hooked.predict(hooked.data.x_val[:16])
    assert float(validation["y_hat_mean"][EPOCHS]) == pytest.approx(float(np.mean(out["y_hat"])), rel=1e-5)
    # TensorBoard-only outputs are not logged to the console / history
    assert not any("z_image" in k or "y_hat_mean" in k for k in hooked.history)


# --- export --------------------------------------------------------------------------------------


def test_export_graphs_writes_every_graph(hooked):
    for where in ["export", "best"]:
        directory = hooked.root / where
        manifest = read_manifest(directory)
        assert manifest["graphs"] == ["default", "encoder"]
        for graph in ["default", "encoder"]:
            assert (directory / f"{graph}.keras").is_file()
            assert (directory / graph / "saved_model.pb").is_file()
    encoder = trainrig.load_model(hooked.root, graph="encoder")
    x = hooked.data.x_val[:5]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(encoder({"x": x})), hooked.predict(x)["z"], rtol=1e-6, atol=1e-6
    )
    saved = tf.saved_model.load(str(hooked.root / "export" / "encoder"))
    served = saved.serve({"x": tf.constant(x)})
    served = next(iter(served.values())) if isinstance(served, dict) else served
    np.testing.assert_allclose(served.numpy(), hooked.predict(x)["z"], rtol=1e-6, atol=1e-6)


def test_additional_layers_listed_in_custom_objects(hooked):
    for where in ["export", "best"]:
        manifest = read_manifest(hooked.root / where)
        # only stock keras layers besides the activation function, which only _additional_layers names
        assert manifest["custom_objects"] == {"tiny_act": "fixtures_pkg.tinymodels:tiny_act"}
    # the exported file really refers to it by that name
    with zipfile.ZipFile(hooked.root / "export" / "default.keras") as archive:
        config = archive.read("config.json").decode()
    assert '"tiny_act"' in config


def test_print_evaluate_runs_silently_with_progress_none(tiny_params, tiny_data, capsys):
    model = HookedModel(best=("min", "loss"))
    trainrig.Trainer(tiny_params(epochs=1, progress="none", print_samples=2, export=False), model, tiny_data).train()
    assert len(model.samples) == 2
    assert "SAMPLE" not in capsys.readouterr().out
