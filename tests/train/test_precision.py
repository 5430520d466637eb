"""Mixed precision (``trainer.precision``): Keras dtype policies, float32 outputs, dynamic loss scaling.

On CPU float16 and bfloat16 are slow but correct, so everything here runs anywhere: training under both
mixed policies, the policy restored after every set-up, exports that reload and predict float32 in a
fresh process, the loss scale resumed exactly, and two replicas (whose overflow must skip the step on
every replica).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import trainrig
from fixtures_pkg.helpers import completed, finish, last_json_line, resume_result, resume_script, run_python, start_python, start_resume_script
from fixtures_pkg.replicas import ReplicaModel
from fixtures_pkg.tinymodels import PlainModel, TinyData, TinyModel
from trainrig.checkpoint.store import CheckpointStore
from trainrig.metrics import SUITE_NAMES

LOW = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


@pytest.fixture(scope="module")
def precision_runs(tmp_path_factory):
    """``{precision: (trainer, history)}`` of ReplicaModel (every kind of loss and metric, the binary suite)."""
    root = tmp_path_factory.mktemp("precision")
    runs = {}
    for precision in ("float32", "mixed_float16", "mixed_bfloat16"):
        params = trainrig.TrainerParams(
            epochs=3, batch_size=16, learning_rate=0.02, seed=5, deterministic=True, progress="none",
            print_samples=0, export=False, output_dir=str(root / precision), precision=precision,
        )
        trainer = trainrig.Trainer(params, ReplicaModel(), TinyData())
        runs[precision] = trainer, trainer.train()
    return runs


@pytest.mark.parametrize("precision", list(LOW))
def test_mixed_precision_trains_with_float32_outputs_losses_and_metrics(precision, precision_runs):
    trainer, history = precision_runs[precision]
    reference = precision_runs["float32"][1]
    assert keras.config.dtype_policy().name == "float32"  # restored after the set-up
    dense = [layer for layer in trainer.keras_model._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    assert dense and {layer.dtype_policy.name for layer in dense} == {precision}
    assert {v.dtype for layer in dense for v in layer.weights} == {"float32"}  # variables stay float32
    outputs = trainer.keras_model({"x": TinyData().x_val[:4]}, training=False)
    assert {name: keras.backend.standardize_dtype(t.dtype) for name, t in outputs.items()} == {
        "y_hat": "float32", "prob": "float32"
    }
    loss_scaled = isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert loss_scaled == (precision == "mixed_float16")
    assert {f"Test {name}" for name in SUITE_NAMES["binary"]} <= set(history)
    assert set(history) == set(reference)
    for name, values in history.items():
        assert len(values) == 3 and all(np.isfinite(values)), (name, values)
    # the same training in lower precision: close to float32, not equal
    for name in ("loss", "val_loss", "val_mae"):
        np.testing.assert_allclose(history[name], reference[name], rtol=0.05, err_msg=name)
    assert history["val_loss"] != reference["val_loss"]


class BrokenGraph(PlainModel):
    def create_graph(self, params):
        raise RuntimeError("broken on purpose")


def test_the_dtype_policy_is_set_only_while_the_graph_is_built(tiny_params, tiny_data):
    """A global policy set by the caller is put back after a run's set-up (also one that fails), and a
    float32 run builds float32 layers whatever the global policy."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        with pytest.raises(RuntimeError, match="broken on purpose"):
            trainrig.Trainer(tiny_params("broken", precision="mixed_float16"), BrokenGraph(), tiny_data).train()
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        trainer = trainrig.Trainer(tiny_params("plain", epochs=1), PlainModel(), tiny_data)
        trainer.train()
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        dense = [layer for layer in trainer.keras_model._flatten_layers() if isinstance(layer, keras.layers.Dense)]
        assert dense and {layer.dtype_policy.name for layer in dense} == {"float32"}
    finally:
        keras.config.set_dtype_policy("float32")


def test_bad_precision_and_combinations_are_one_line_before_training(tiny_params, tiny_data):
    with pytest.raises(ValueError) as info:
        trainrig.TrainerParams(precision="float16")
    assert str(info.value) == "precision must be 'float32', 'mixed_bfloat16' or 'mixed_float16', got 'float16'"
    params = tiny_params(precision="mixed_float16", optimizer_options={"loss_scale_factor": 128.0})
    with pytest.raises(trainrig.TrainrigError) as info:
        trainrig.Trainer(params, PlainModel(), tiny_data).train()
    assert str(info.value) == (
        "trainer.optimizer_options loss_scale_factor does not go with trainer.precision mixed_float16, which "
        "scales the loss dynamically; drop it"
    )


@pytest.mark.parametrize(
    "option, message",
    [
        (
            ["--trainer.precision", "fp16"],
            "trainer.precision: must be 'float32', 'mixed_bfloat16' or 'mixed_float16', got 'fp16'",
        ),
        (["--trainer.accumulate", "0"], "trainer.accumulate must be >= 1, got 0"),
    ],
)
def test_bad_options_on_the_command_line(option, message, tmp_path):
    args = ["train", "--model", "fixtures_pkg.tinymodels:PlainModel", "--data", "fixtures_pkg.tinymodels:TinyData"]
    args += ["--trainer.output_dir", str(tmp_path / "run"), *option]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(
        [sys.executable, "-m", "trainrig", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("trainrig")]
    assert lines == [f"trainrig train: error: {message}"]
    assert not (tmp_path / "run").exists()


# --- exports ------------------------------------------------------------------------------------------

RELOAD = """
import json, sys
import numpy as np
import tensorflow as tf
import keras
import trainrig
from fixtures_pkg.tinymodels import TinyData

x = TinyData().x_val
model = trainrig.load_model(sys.argv[1])
outputs = model({"x": x}, training=False)
saved_model = tf.saved_model.load(sys.argv[1] + "/export/default")
served = saved_model.serve({"x": tf.constant(x)})
print(json.dumps({
    "policy": keras.config.dtype_policy().name,
    "dtypes": {k: keras.backend.standardize_dtype(v.dtype) for k, v in outputs.items()},
    "served_dtypes": {k: v.dtype.name for k, v in served.items()},
    "y_hat": keras.ops.convert_to_numpy(outputs["y_hat"]).tolist(),
    "served_y_hat": served["y_hat"].numpy().tolist(),
}))
"""


def test_a_mixed_float16_export_reloads_and_predicts_float32_in_a_fresh_process(tiny_params, tiny_data):
    """TinyModel is a GraphBase with a custom activation: the .keras file and the SavedModel of a
    mixed_float16 run reload without the user's imports and give float32 outputs."""
    params = tiny_params(precision="mixed_float16", epochs=2, seed=1)
    trainer = trainrig.Trainer(params, TinyModel(), tiny_data)
    trainer.train()
    expected = keras.ops.convert_to_numpy(trainer.keras_model({"x": tiny_data.x_val}, training=False)["y_hat"])
    reloaded = last_json_line(run_python(RELOAD, params.output_dir, timeout=300))
    assert reloaded["policy"] == "float32"
    assert reloaded["dtypes"] == reloaded["served_dtypes"] == {"y_hat": "float32", "prob": "float32", "z": "float32"}
    np.testing.assert_allclose(reloaded["served_y_hat"], expected, rtol=0, atol=2e-3)  # float16 rounding
    # the .keras file rebuilds the GraphBase's inner layers under the process' policy (float32): close to it
    np.testing.assert_allclose(reloaded["y_hat"], expected, rtol=0.01, atol=0.01)


# --- resume -------------------------------------------------------------------------------------------

# digits in mixed_float16; the loss scale doubles after every 3 finite steps, so within the run it
# overflows again and again: steps are skipped (fewer optimizer steps than the 69 batches) and the
# scale, its step counter and the skipped steps decide the weights.
FLOAT16 = {"precision": "mixed_float16", "loss_scale_growth_steps": 3}


def loss_scale_state(out: Path) -> dict:
    """The newest checkpoint's optimizer step count, loss scale and the scale's step counter."""
    _, arrays, state = CheckpointStore(out / "checkpoints").load_latest()
    layout = state["layout"]["optimizer"]
    values = {path.rsplit("/", 1)[-1]: arrays[f"optimizer/{i}"] for i, path in enumerate(layout)}
    return {
        "global_step": state["position"]["global_step"],
        "dynamic_scale": float(values["dynamic_scale"]),
        "step_counter": int(values["step_counter"]),
    }


def test_the_float16_loss_scale_resumes_exactly(tmp_path):
    reference = start_resume_script(tmp_path / "reference", "full", FLOAT16)  # meanwhile: killed, then resumed
    out = tmp_path / "run"
    first = resume_script(out, "kill-batch:40", FLOAT16)  # epoch 2; the newest checkpoint is some steps back
    assert first.returncode == -9, first.stderr[-3000:]
    at_kill = loss_scale_state(out)
    resumed = resume_result(resume_script(out, "resume", FLOAT16))
    expected = resume_result(completed(reference))
    end = loss_scale_state(tmp_path / "reference")
    print("loss scale at the checkpoint resumed from:", at_kill, "at the end:", end)
    assert end["global_step"] < 69  # steps were skipped (69 batches)
    assert at_kill["dynamic_scale"] != 2.0**15  # the checkpoint holds a scale that has moved
    assert resumed["hash"] == expected["hash"]
    assert resumed["history"] == expected["history"]
    assert loss_scale_state(out) == end


# --- two replicas -------------------------------------------------------------------------------------

REPLICAS = """
import json, sys
import keras
import numpy as np
import trainrig
from fixtures_pkg.helpers import make_params
from fixtures_pkg.replicas import ReplicaModel
from fixtures_pkg.tinymodels import PlainModel, TinyData, TinyDataParams

spec = json.loads(sys.argv[1])
devices = spec.pop("devices")
strategy = "mirrored" if devices > 1 else "default"
common = dict(deterministic=True, seed=3, export=False, print_samples=0, strategy=strategy, devices=devices)
out = {}

if spec.pop("overflow"):
    class Unshuffled(TinyData):
        def train_sequence(self, batch_size):
            targets = {"y": self.y_train, "label": self.label_train}
            return trainrig.ArraySequence({"x": self.x_train}, targets, batch_size)

    # one batch of 16 rows: replica 0 gets rows 0-7, replica 1 rows 8-15, whose huge targets overflow
    # float16 in the backward pass (only there)
    data = Unshuffled(TinyDataParams(n_train=16, n_val=16))
    data.y_train[8:] = 3e4
    trainer = trainrig.Trainer(
        make_params(spec["output_dir"] + "-overflow", epochs=1, precision="mixed_float16", **common), PlainModel(), data
    )
    before = [w.copy() for w in trainer.prepare().keras_model.get_weights()]
    trainer.train()
    after = trainer.keras_model.get_weights()
    out["overflow"] = {
        "iterations": int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)),
        "scale": float(keras.ops.convert_to_numpy(trainer.optimizer.dynamic_scale)),
        "finite": all(bool(np.all(np.isfinite(w))) for w in after),
        "unchanged": all(np.array_equal(a, b) for a, b in zip(before, after)),
    }

data = TinyData(TinyDataParams(n_train=61, n_val=30))
params = make_params(
    spec["output_dir"], epochs=2, batch_size=15, learning_rate=0.02, accumulate=2, precision="mixed_float16", **common
)
trainer = trainrig.Trainer(params, ReplicaModel(), data)
history = trainer.train()
out.update({
    "replicas": trainer.parts.strategy.num_replicas_in_sync,
    "iterations": int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)),
    "history": history,
    "weights": [w.tolist() for w in trainer.keras_model.get_weights()],
})
print(json.dumps(out))
"""


def test_mixed_float16_with_accumulation_on_two_replicas(tmp_path):
    procs = {}
    for devices in (0, 2):
        spec = {"devices": devices, "overflow": devices == 2, "output_dir": str(tmp_path / f"d{devices}")}
        procs[devices] = start_python(REPLICAS, json.dumps(spec))
    one, two = (last_json_line(finish(procs[d], timeout=400)) for d in (0, 2))
    assert (one["replicas"], two["replicas"]) == (1, 2)
    # an overflow on the second replica only skips the step on both and halves the scale
    assert two["overflow"] == {"iterations": 0, "scale": 2.0**14, "finite": True, "unchanged": True}
    assert one["iterations"] == two["iterations"] > 0
    assert set(one["history"]) == set(two["history"])
    assert {f"Test {n}" for n in SUITE_NAMES["binary"]} <= set(two["history"])
    for name, values in two["history"].items():
        assert all(np.isfinite(values)), (name, values)
    weights = max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(one["weights"], two["weights"], strict=True))
    print(f"mixed_float16, accumulate 2: 1 vs 2 replicas max |dw| {weights:.3g}")
    assert weights < 1e-2  # float16 arithmetic on other shares: close, not equal
