"""Export, then reload in a fresh process that never imports the model's module itself.

The shared run trains ``TinyModel``: its graph is a ``GraphBase`` subclass with params
(``TinyGraph``) using a custom activation function listed by ``_additional_layers``, so reloading
needs both to be imported by path from ``export/trainrig.json``.
"""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

import trainrig
from fixtures_pkg.helpers import last_json_line, make_params, read_manifest, run_python
from fixtures_pkg.tinymodels import TinyData, TinyGraph, TinyModel, TinyModelParams

MODEL_PARAMS = TinyModelParams(hidden=5, dropout=0.1)
EPOCHS = 2

RELOAD = r"""
import json, sys
import numpy as np

run, x_file, out_file = sys.argv[1:4]
def fixtures_loaded():
    return sorted(m for m in sys.modules if m.startswith("fixtures_pkg"))

import tensorflow as tf
import trainrig
from trainrig.params import to_dict

report = {"before": fixtures_loaded()}
x = np.load(x_file)
outputs = {}

def run_model(tag, model):
    for name, value in model.predict({"x": x}, verbose=0).items():
        outputs[f"{tag}/{name}"] = np.asarray(value)

run_model("run", trainrig.load_model(run))
report["after"] = fixtures_loaded()
run_model("best", trainrig.load_model(run + "/best"))
keras_file_model = trainrig.load_model(run + "/export/default.keras")
run_model("keras_file", keras_file_model)

graphs = [layer for layer in keras_file_model.layers if isinstance(layer, trainrig.GraphBase)]
report["graph"] = [f"{type(g).__module__}:{type(g).__qualname__}" for g in graphs]
report["graph_params"] = [to_dict(g.params) for g in graphs]
report["graph_params_class"] = [f"{type(g.params).__module__}:{type(g.params).__qualname__}" for g in graphs]

saved = tf.saved_model.load(run + "/export/default")
for name, value in saved.serve({"x": tf.constant(x)}).items():
    outputs[f"serve/{name}"] = value.numpy()
for name, value in saved.signatures["serving_default"](x=tf.constant(x)).items():
    outputs[f"serving_default/{name}"] = value.numpy()
np.savez(out_file, **outputs)
print(json.dumps(report))
"""


class Exported:
    def __init__(self, root, data, predictions, report, reloaded, per_epoch):
        self.root, self.data, self.predictions, self.report, self.reloaded = root, data, predictions, report, reloaded
        self.per_epoch = per_epoch  # the model's validation predictions at the end of each epoch


class PredictionsPerEpoch(keras.callbacks.Callback):
    """Runs after BestModel (user callbacks come last): the weights it exported at this epoch end, if it did."""

    def __init__(self, x):
        super().__init__()
        self.x, self.predictions = x, []

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.model({"x": self.x}, training=False)
        self.predictions.append({k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    root = base / "run"
    data = TinyData()
    per_epoch = PredictionsPerEpoch(data.x_val)
    trainer = trainrig.Trainer(
        make_params(root, epochs=EPOCHS, learning_rate=0.01), TinyModel(MODEL_PARAMS), data, callbacks=[per_epoch]
    )
    history = trainer.train()
    assert read_manifest(root / "best")["epoch"] == int(np.argmin(history["val_loss"])) + 1
    predictions = {
        k: keras.ops.convert_to_numpy(v) for k, v in trainer.keras_model({"x": data.x_val}, training=False).items()
    }
    np.save(base / "x.npy", data.x_val)
    stdout = run_python(RELOAD, str(root), str(base / "x.npy"), str(base / "out.npz"))
    with np.load(base / "out.npz") as npz:
        reloaded = dict(npz)
    return Exported(root, data, predictions, last_json_line(stdout), reloaded, per_epoch.predictions)


def _assert_same(reloaded: dict, tag: str, predictions: dict):
    names = sorted(k.split("/", 1)[1] for k in reloaded if k.startswith(tag + "/"))
    assert names == sorted(predictions), f"{tag}: outputs {names}"
    for name, expected in predictions.items():
        np.testing.assert_allclose(reloaded[f"{tag}/{name}"], expected, rtol=1e-6, atol=1e-6, err_msg=f"{tag}/{name}")


def test_export_layout_and_manifest(exported):
    export = exported.root / "export"
    assert (export / "default.keras").is_file()
    assert (export / "default" / "saved_model.pb").is_file()
    manifest = read_manifest(export)
    assert manifest["graphs"] == ["default"]
    assert manifest["custom_objects"] == {
        "TinyGraph": "fixtures_pkg.tinymodels:TinyGraph",
        "tiny_act": "fixtures_pkg.tinymodels:tiny_act",
    }
    assert manifest["model"] == "fixtures_pkg.tinymodels:TinyModel"
    assert manifest["epochs"] == EPOCHS


def test_fresh_process_does_not_import_model_module_itself(exported):
    assert exported.report["before"] == []
    assert "fixtures_pkg.tinymodels" in exported.report["after"]  # imported by load_model, by path


def test_load_model_on_run_dir_in_fresh_process(exported):
    _assert_same(exported.reloaded, "run", exported.predictions)


def test_load_model_on_best_in_fresh_process(exported):
    """best/ reloaded in a fresh process predicts what the model predicted at the end of the best epoch
    (whichever epoch that was), and not what it predicted at any other epoch."""
    best_epoch = read_manifest(exported.root / "best")["epoch"]
    assert len(exported.per_epoch) == EPOCHS and 1 <= best_epoch <= EPOCHS
    _assert_same(exported.reloaded, "best", exported.per_epoch[best_epoch - 1])
    for epoch, predictions in enumerate(exported.per_epoch, 1):  # the epochs are told apart
        if epoch != best_epoch:
            assert not np.allclose(predictions["z"], exported.per_epoch[best_epoch - 1]["z"], rtol=1e-6, atol=1e-6)


def test_load_model_on_keras_file_in_fresh_process(exported):
    _assert_same(exported.reloaded, "keras_file", exported.predictions)


def test_saved_model_serve_signature_in_fresh_process(exported):
    _assert_same(exported.reloaded, "serve", exported.predictions)
    _assert_same(exported.reloaded, "serving_default", exported.predictions)


def test_graph_base_params_round_trip_in_fresh_process(exported):
    report = exported.report
    assert report["graph"] == ["fixtures_pkg.tinymodels:TinyGraph"]
    assert report["graph_params"] == [{"hidden": 5, "dropout": 0.1}]
    assert report["graph_params_class"] == ["fixtures_pkg.tinymodels:TinyModelParams"]


def test_graph_base_config_round_trip_in_process():
    params = TinyModelParams(hidden=7, dropout=0.25)
    graph = TinyGraph(params, name="g")
    config = graph.get_config()
    assert config["params"] == {"hidden": 7, "dropout": 0.25}
    assert config["params_class"] == "fixtures_pkg.tinymodels:TinyModelParams"
    json.dumps(config)  # JSON-ready, nothing pickled
    again = TinyGraph.from_config(config)
    assert again.params == params and isinstance(again.params, TinyModelParams)
    assert again.name == "g"
    out = again({"x": np.zeros((2, 3), "float32")})
    assert out["z"].shape == (2, 7)


def test_load_model_in_process_matches(exported):
    model = trainrig.load_model(exported.root)
    out = model.predict({"x": exported.data.x_val}, verbose=0)
    _assert_same({f"p/{k}": v for k, v in out.items()}, "p", exported.predictions)


# --- bad paths -----------------------------------------------------------------------------------


def test_load_model_missing_path(tmp_path):
    with pytest.raises(trainrig.TrainrigError, match="neither a run directory"):
        trainrig.load_model(tmp_path / "does-not-exist")


def test_load_model_directory_without_export(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(trainrig.TrainrigError, match="trainrig.json"):
        trainrig.load_model(tmp_path / "empty")


def test_load_model_unknown_graph_lists_graphs(exported):
    with pytest.raises(trainrig.TrainrigError) as info:
        trainrig.load_model(exported.root, graph="encoder")
    assert "'encoder'" in str(info.value) and "'default'" in str(info.value)


def test_load_model_unimportable_custom_object(exported, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(exported.root / "export", copy)
    manifest = read_manifest(copy)
    manifest["custom_objects"]["TinyGraph"] = "no_such_module_xyz:TinyGraph"
    (copy / "trainrig.json").write_text(json.dumps(manifest))
    with pytest.raises(trainrig.TrainrigError, match="no_such_module_xyz"):
        trainrig.load_model(copy)


def test_load_model_on_non_keras_file(exported):
    with pytest.raises(trainrig.TrainrigError):
        trainrig.load_model(exported.root / "params.json")


class _KerasNamedPackageLayer(keras.layers.Layer):
    """A user's custom layer living in a package whose name merely starts with "keras"."""

    def call(self, x):
        return x * 2.0


_KerasNamedPackageLayer.__module__ = "kerasplus_user.layers"


def test_custom_layer_from_keras_named_package_is_recorded():
    from trainrig.export.custom_objects import custom_objects_of

    x = keras.Input(shape=(3,), name="x")
    graph = keras.Model({"x": x}, {"y": _KerasNamedPackageLayer()(x)})
    found = custom_objects_of({"default": graph}, [])
    assert "kerasplus_user.layers:_KerasNamedPackageLayer" in found.values()


def test_load_model_on_keras_file_copied_out_of_its_export(exported, tmp_path):
    copy = tmp_path / "model.keras"
    shutil.copy(exported.root / "export" / "default.keras", copy)
    model = trainrig.load_model(copy)
    out = model.predict({"x": exported.data.x_val}, verbose=0)
    _assert_same({f"p/{k}": v for k, v in out.items()}, "p", exported.predictions)
