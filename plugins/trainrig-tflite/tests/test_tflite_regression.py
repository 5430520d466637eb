"""The tflite plugin on a model of our own: a Dense layer on 3 features, plus graphs added by a plugin."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tflite_helpers import interpreter, keras_outputs, run_tflite, trainer_params

import trainrig
from trainrig import LossDefinition
from trainrig_tflite import TfliteParams

W, B = np.array([[1.5], [-2.0], [0.5]], dtype="float32"), 0.25


class RegressionData(trainrig.DataBase[trainrig.DataBaseParams]):
    """y = x @ W + B on 64 training and 32 validation rows of 3 features."""

    def __init__(self, params=None):
        super().__init__(params)
        self.x = np.random.default_rng(7).normal(size=(96, 3)).astype("float32")
        self.y = self.x @ W + B

    def train_sequence(self, batch_size):
        return trainrig.ArraySequence({"x": self.x[:64]}, {"y": self.y[:64]}, batch_size, shuffle=True, seed=self.seed)

    def val_sequence(self, batch_size):
        return trainrig.ArraySequence({"x": self.x[64:]}, {"y": self.y[64:]}, batch_size)


class RegressionModel(trainrig.ModelBase[trainrig.ModelBaseParams]):
    def create_graph(self, params):
        x = keras.Input(shape=(3,), name="x")
        return keras.Model({"x": x}, {"y_hat": keras.layers.Dense(1, name="dense")(x)})

    def _loss(self):
        return {"mse": LossDefinition("y", "y_hat", keras.losses.MeanSquaredError())}


class LowBits(keras.layers.Layer):
    """Uses tf.bitwise.bitwise_and, which TFLite has no builtin for."""

    def call(self, x):
        return tf.cast(tf.bitwise.bitwise_and(tf.cast(x * 100.0, tf.int32), 255), tf.float32)


class ExtraGraphs:
    """A test plugin: export graph ``doubled`` (and ``bitwise``, which TFLite cannot convert)."""

    def __init__(self, bitwise: bool = False):
        self.bitwise = bitwise

    @trainrig.hookimpl
    def trainrig_register_export_graphs(self, inputs, outputs):
        graphs = {"doubled": keras.Model(inputs, {"twice": outputs["y_hat"] * 2.0})}
        if self.bitwise:
            graphs["bitwise"] = keras.Model(inputs, {"bits": LowBits()(inputs["x"])})
        return graphs


def train(run, manager, extra=None, **tflite):
    if extra is not None:
        manager.register(extra, name="extra_graphs")
    trainer = trainrig.Trainer(
        trainer_params(run, batch_size=16, learning_rate=0.05),
        RegressionModel(),
        RegressionData(),
        plugins=manager,
        plugin_params={"tflite": TfliteParams(**tflite)},
    )
    trainer.train()
    return trainer


def tflite_files(directory):
    return sorted(p.name for p in directory.glob("*.tflite"))


X = {"x": np.random.default_rng(3).normal(size=(10, 3)).astype("float32")}


def test_every_graph_converted_and_matches(tmp_path, manager):
    run = tmp_path / "run"
    train(run, manager, ExtraGraphs(), check_at_start=False)
    assert tflite_files(run / "export") == ["default.tflite", "doubled.tflite"]
    assert tflite_files(run / "best") == []
    for graph, output in [("default", "y_hat"), ("doubled", "twice")]:
        path = run / "export" / f"{graph}.tflite"
        assert interpreter(path).get_signature_list() == {"serving_default": {"inputs": ["x"], "outputs": [output]}}
        expected = keras_outputs(trainrig.load_model(run, graph=graph), X)
        got = run_tflite(path, X)
        assert got[output].shape == (10, 1)
        np.testing.assert_allclose(got[output], expected[output], atol=1e-5, rtol=1e-5)
    # The file holds the trained weights: y_hat = x @ kernel + bias.
    weights = {tuple(w.shape): keras.ops.convert_to_numpy(w) for w in trainrig.load_model(run).weights}
    kernel, bias = weights[(3, 1)], weights[(1,)]
    got = run_tflite(run / "export" / "default.tflite", X)["y_hat"]
    np.testing.assert_allclose(got, X["x"] @ kernel + bias, atol=1e-5)


def test_graphs_param_selects_graphs(tmp_path, manager):
    run = tmp_path / "run"
    train(run, manager, ExtraGraphs(), graphs=["doubled"], on_best=True, check_at_start=False)
    assert tflite_files(run / "export") == ["doubled.tflite"]
    assert tflite_files(run / "best") == ["doubled.tflite"]


def test_disabled_writes_nothing(tmp_path, manager):
    run = tmp_path / "run"
    train(run, manager, enabled=False, on_best=True)
    assert (run / "export" / "default.keras").is_file()
    assert tflite_files(run / "export") == tflite_files(run / "best") == []


BITWISE_ERROR = (
    r"plugin 'tflite' \(trainrig-tflite 0\.1\.0\) failed in {hook}: TfliteConversionError: "
    r"graph 'bitwise' cannot be converted to TFLite: it uses TensorFlow ops that TFLite has no builtin for: "
    r"BitwiseAnd\. .*--plugins\.tflite\.select_tf_ops true"
)


def test_unconvertible_graph_fails_before_the_first_step(tmp_path, manager):
    run = tmp_path / "run"
    steps = []
    callback = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: steps.append(batch))
    manager.register(ExtraGraphs(bitwise=True), name="extra_graphs")
    trainer = trainrig.Trainer(
        trainer_params(run), RegressionModel(), RegressionData(), callbacks=[callback], plugins=manager
    )
    with pytest.raises(trainrig.TrainrigError, match=BITWISE_ERROR.format(hook="trainrig_run_start")) as error:
        trainer.train()
    assert "\n" not in str(error.value)
    assert steps == []
    assert not (run / "export").exists() and not (run / "best").exists()
    assert not list(run.glob(".*")), "temporary directories left behind"


def test_unconvertible_graph_at_export_fails_the_run_but_keeps_the_export(tmp_path, manager):
    run = tmp_path / "run"
    with pytest.raises(trainrig.TrainrigError, match=BITWISE_ERROR.format(hook="trainrig_export_written")):
        train(run, manager, ExtraGraphs(bitwise=True), check_at_start=False, on_best=True)
    # the graphs were complete before the plugin ran: the export is kept, without the failed .tflite
    assert (run / "best" / "bitwise.keras").is_file() and (run / "best" / "trainrig.json").is_file()
    assert "bitwise.tflite" not in tflite_files(run / "best")
    assert not list(run.glob(".*")), "no staging directory is left behind"


def test_select_tf_ops_converts_with_tensorflow_ops(tmp_path, manager):
    run = tmp_path / "run"
    train(run, manager, ExtraGraphs(bitwise=True), select_tf_ops=True, graphs=["bitwise"], check_at_start=False)
    assert tflite_files(run / "export") == ["bitwise.tflite"]
    assert b"FlexBitwiseAnd" in (run / "export" / "bitwise.tflite").read_bytes()


def test_export_outside_a_run_uses_defaults(tmp_path, manager):
    """No trainrig_run_start seen: the final export is converted, a best export is not."""
    graph = RegressionModel().create_graph(None)
    for kind in ("best", "final"):
        (tmp_path / kind).mkdir()
        manager.call(
            "trainrig_export_written", directory=tmp_path / kind, graphs={"default": graph}, kind=kind, trainer=None
        )
    assert tflite_files(tmp_path / "best") == []
    assert tflite_files(tmp_path / "final") == ["default.tflite"]
    np.testing.assert_allclose(
        run_tflite(tmp_path / "final" / "default.tflite", X)["y_hat"], keras_outputs(graph, X)["y_hat"], atol=1e-5
    )
