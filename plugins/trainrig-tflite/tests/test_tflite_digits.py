"""The tflite plugin on the tutorial model (trainrig_digits), through its installed entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tflite_helpers import interpreter, keras_outputs, make_manager, run_tflite, trainer_params

import trainrig
from trainrig_tflite import TfliteParams

HOOKS = [
    "trainrig_export_written",
    "trainrig_register_params",
    "trainrig_run_end",
    "trainrig_run_error",
    "trainrig_run_start",
]
OUTPUTS = ["class", "conv", "logits", "probabilities"]


def digits_trainer(output_dir, manager, epochs=1, **tflite):
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel, DigitsModelParams

    return trainrig.Trainer(
        trainer_params(output_dir, epochs=epochs),
        DigitsModel(DigitsModelParams(filters=4)),
        DigitsData(),
        plugins=manager,
        plugin_params={"tflite": TfliteParams(**tflite)},
    )


def validation_images(n=16):
    from trainrig_digits.data import DigitsData

    data = DigitsData()
    return {"image": data.images[data.val_rows[:n]]}  # scaled when loaded


@pytest.fixture(scope="module")
def best_run(tmp_path_factory):
    """Two epochs with ``on_best=True``: every best export and the final one are converted."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        run = tmp_path_factory.mktemp("digits") / "run"
        digits_trainer(run, make_manager(monkeypatch), epochs=2, on_best=True).train()
    return run


def test_discovered_through_entry_point(manager):
    rows = {row["name"]: row for row in manager.listing()}
    assert "tflite" in rows, rows
    row = rows["tflite"]
    assert row["distribution"] == "trainrig-tflite"
    assert row["version"] == "0.1.0"
    assert not row["builtin"]
    assert row["hooks"] == HOOKS
    sections = dict(manager.call("trainrig_register_params"))
    assert sections["tflite"] == {"tflite": TfliteParams}


def test_final_export_has_tflite_with_named_signature(best_run):
    export = best_run / "export"
    assert sorted(p.name for p in export.iterdir()) == ["default", "default.keras", "default.tflite", "trainrig.json"]
    assert not [p for p in best_run.iterdir() if p.name.startswith(".")], "staging or temporary directories left"
    signatures = interpreter(export / "default.tflite").get_signature_list()
    assert signatures == {"serving_default": {"inputs": ["image"], "outputs": OUTPUTS}}
    params = json.loads((best_run / "params.json").read_text())
    assert params["plugins"]["params"]["tflite"]["on_best"] is True


@pytest.mark.parametrize("where", ["export", "best"])
def test_tflite_outputs_match_reloaded_model(best_run, where):
    inputs = validation_images()
    expected = keras_outputs(trainrig.load_model(best_run / where), inputs)
    got = run_tflite(best_run / where / "default.tflite", inputs)
    assert sorted(got) == OUTPUTS
    for name in ["logits", "probabilities", "conv"]:
        assert got[name].dtype == np.float32
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5, rtol=1e-5, err_msg=name)
    np.testing.assert_array_equal(got["class"], expected["class"])


def test_any_batch_size_and_predict_helper(best_run):
    from trainrig_tflite import predict

    inputs = validation_images(5)
    expected = keras_outputs(trainrig.load_model(best_run), inputs)
    got = predict(best_run / "export" / "default.tflite", {"image": inputs["image"].astype("float64")})
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-5)
    with pytest.raises(ValueError, match=r"takes inputs \['image'\]"):
        predict(best_run / "export" / "default.tflite", {"pixels": inputs["image"]})


def test_default_skips_best_and_optimize_shrinks(tmp_path, manager, best_run):
    """Defaults (on_best=False) convert only export/; optimize=True quantizes: smaller, outputs close."""
    run = tmp_path / "run"
    digits_trainer(run, manager, optimize=True).train()
    assert (run / "best" / "default.keras").is_file()
    assert not (run / "best" / "default.tflite").exists()
    quantized, full = run / "export" / "default.tflite", best_run / "export" / "default.tflite"
    assert quantized.stat().st_size < 0.8 * full.stat().st_size, (quantized.stat().st_size, full.stat().st_size)

    inputs = validation_images(32)
    expected = keras_outputs(trainrig.load_model(run), inputs)
    got = run_tflite(quantized, inputs)
    np.testing.assert_allclose(got["logits"], expected["logits"], atol=0.05)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=0.01)
    # The class may only differ where the two best logits are closer than the quantization error.
    top2 = np.sort(expected["logits"], axis=-1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.1
    np.testing.assert_array_equal(got["class"][clear], expected["class"][clear])


def test_unknown_graph_fails_before_training(tmp_path, manager):
    run = tmp_path / "run"
    trainer = digits_trainer(run, manager, graphs=["default", "mobile"])
    expected = r"plugins\.tflite\.graphs names 'mobile', not an exported graph; exported graphs: 'default'"
    with pytest.raises(trainrig.TrainrigError, match=expected):
        trainer.train()
    assert not (run / "export").exists() and not (run / "best").exists()
