"""Training runs end to end: history, TensorBoard, callbacks, determinism, steps per execution,
strategies, tf.data sources, output-dir protection, and ``ArraySequence``."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

import trainrig
from fixtures_pkg.helpers import (
    finish,
    last_json_line,
    make_params,
    run_python,
    start_python,
    tensorboard_tensors,
    tree_snapshot,
)
from fixtures_pkg.tinymodels import PlainModel, TinyData, TinyDataParams, TinyDatasetData

EPOCHS = 3
STEPS = 4  # 64 training rows, batch 16
NAMES = ["loss", "mse", "l1", "mae"]


class Recorder(keras.callbacks.Callback):
    """A user callback: what it sees at epoch and batch ends."""

    def __init__(self):
        super().__init__()
        self.epoch_logs: list[dict] = []
        self.optimizers: list = []
        self.models: list = []
        self.iterations: list[int] = []
        self.batches: list[int] = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(batch)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs.append(dict(logs or {}))
        self.optimizers.append(self.model.optimizer)
        self.models.append(self.model)
        self.iterations.append(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))


def val_losses_of(keras_model, data) -> dict[str, float]:
    out = keras.ops.convert_to_numpy(keras_model({"x": data.x_val}, training=False)["y_hat"])
    err = data.y_val - out
    mse, l1 = float(np.mean(err**2)), float(np.mean(np.abs(err)))
    return {"mse": mse, "l1": l1, "loss": mse + l1}


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain") / "run"
    recorder = Recorder()
    data = TinyData()
    params = make_params(root, epochs=EPOCHS, learning_rate=0.02)
    trainer = trainrig.Trainer(params, PlainModel(), data, callbacks=[recorder])
    history = trainer.train()
    return root, trainer, history, recorder, data


# --- history -------------------------------------------------------------------------------------


def test_history_has_every_value_once_per_epoch(plain_run):
    _, _, history, _, _ = plain_run
    expected = {*NAMES, *("val_" + n for n in NAMES), "learning_rate"}
    assert set(history) == expected
    for name, values in history.items():
        assert len(values) == EPOCHS, name
        assert all(np.isfinite(values)), name
    assert history["learning_rate"] == pytest.approx([0.02] * EPOCHS)
    # the total is the sum of the (unweighted) named losses
    for prefix in ["", "val_"]:
        for e in range(EPOCHS):
            total = history[prefix + "mse"][e] + history[prefix + "l1"][e]
            assert history[prefix + "loss"][e] == pytest.approx(total, rel=1e-5)
    # training made progress
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_validation_values_are_those_of_the_final_weights(plain_run):
    _, trainer, history, _, data = plain_run
    expected = val_losses_of(trainer.keras_model, data)
    for name, value in expected.items():
        assert history["val_" + name][-1] == pytest.approx(value, rel=1e-5)


def test_validation_values_with_uneven_last_batch(tiny_params, tiny_data):
    # 32 validation rows in batches of 12, 12 and 8: every mean must be over rows, not batches
    trainer = trainrig.Trainer(tiny_params("run", epochs=1, batch_size=12, export=False), PlainModel(), tiny_data)
    history = trainer.train()
    expected = val_losses_of(trainer.keras_model, tiny_data)
    for name, value in expected.items():
        assert history["val_" + name][-1] == pytest.approx(value, rel=1e-5)
    out = keras.ops.convert_to_numpy(trainer.keras_model({"x": tiny_data.x_val})["y_hat"])
    assert history["val_mae"][-1] == pytest.approx(float(np.mean(np.abs(tiny_data.y_val - out))), rel=1e-5)


def test_train_sequence_told_of_every_epoch(plain_run):
    _, trainer, _, _, _ = plain_run
    assert trainer.parts.train_source.sequence.epoch == EPOCHS


# --- TensorBoard ---------------------------------------------------------------------------------


def test_tensorboard_scalars_for_train_and_validation(plain_run):
    root, _, history, _, _ = plain_run
    train = tensorboard_tensors(root / "tensorboard" / "train")
    validation = tensorboard_tensors(root / "tensorboard" / "validation")
    tags = {"loss": "losses/loss", "mse": "losses/mse", "l1": "losses/l1", "mae": "metrics/mae"}
    assert set(tags) == set(NAMES)
    for name, tag in tags.items():
        assert sorted(train[tag]) == list(range(1, EPOCHS + 1)), name
        assert sorted(validation[tag]) == list(range(1, EPOCHS + 1)), name
        for step in range(1, EPOCHS + 1):
            assert float(train[tag][step]) == pytest.approx(history[name][step - 1], rel=1e-6)
            assert float(validation[tag][step]) == pytest.approx(history["val_" + name][step - 1], rel=1e-6)
    assert not any(tag.startswith("val_") for tag in validation)
    # one section per kind of value, nothing outside them but the step-0 texts
    sections = {tag.split("/")[0] for tag in [*train, *validation]}
    assert sections <= {"losses", "metrics", "optimizer", "best", "run"}, sections
    assert float(train["optimizer/learning_rate"][1]) == pytest.approx(0.02)
    # best/<monitor>: the best value so far, by epoch
    best = [min(history["val_loss"][: e + 1]) for e in range(EPOCHS)]
    assert [float(validation["best/loss"][e]) for e in range(1, EPOCHS + 1)] == pytest.approx(best, rel=1e-6)


# --- callbacks -----------------------------------------------------------------------------------


def test_user_callback_sees_every_value_and_the_optimizer(plain_run):
    _, trainer, history, recorder, _ = plain_run
    assert len(recorder.epoch_logs) == EPOCHS
    for e, logs in enumerate(recorder.epoch_logs):
        for name in NAMES:
            assert logs["val_" + name] == pytest.approx(history["val_" + name][e])
            assert logs[name] == pytest.approx(history[name][e])
        assert logs["learning_rate"] == pytest.approx(0.02)
    assert all(o is trainer.optimizer for o in recorder.optimizers)
    assert all(isinstance(o, keras.optimizers.Optimizer) for o in recorder.optimizers)
    assert all(m is trainer.keras_model for m in recorder.models)
    assert recorder.iterations == [STEPS * (e + 1) for e in range(EPOCHS)]
    assert recorder.batches == list(range(STEPS)) * EPOCHS


def test_keras_early_stopping_unchanged(tiny_params, tiny_data):
    # min_delta huge: the first epoch sets the best, the second does not improve -> stop after 2 epochs
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=1e6, restore_best_weights=True)
    params = tiny_params("run", epochs=6, learning_rate=0.05)
    trainer = trainrig.Trainer(params, PlainModel(), tiny_data, callbacks=[stopper])
    history = trainer.train()
    assert len(history["val_loss"]) == 2
    assert stopper.stopped_epoch == 1
    # restore_best_weights put the first epoch's weights back into the model the framework exports
    restored = val_losses_of(trainer.keras_model, tiny_data)
    assert restored["loss"] == pytest.approx(history["val_loss"][0], rel=1e-5)
    assert restored["loss"] != pytest.approx(history["val_loss"][1], rel=1e-5)
    exported = trainrig.load_model(params.output_dir)
    assert val_losses_of(exported, tiny_data)["loss"] == pytest.approx(history["val_loss"][0], rel=1e-5)


def test_keras_reduce_lr_on_plateau_unchanged(tiny_params, tiny_data):
    reducer = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=1e6, min_lr=1e-6)
    params = tiny_params("run", epochs=4, learning_rate=0.04, export=False)
    trainer = trainrig.Trainer(params, PlainModel(), tiny_data, callbacks=[reducer])
    history = trainer.train()
    # the learning rate of each epoch as logged: halved after every epoch without improvement
    assert history["learning_rate"] == pytest.approx([0.04, 0.04, 0.02, 0.01])
    assert float(keras.ops.convert_to_numpy(trainer.optimizer.learning_rate)) == pytest.approx(0.005)


# --- determinism ---------------------------------------------------------------------------------

DETERMINISTIC_RUN = r"""
import json, sys
import trainrig
from fixtures_pkg.tinymodels import DropoutClassifier, TinyData, TinyModelParams, weights_sha256

base, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
report = {}
for i, seed in enumerate(seeds):
    out = f"{base}/seed{seed}"
    export = i == 0  # the first run exports (compared bit for bit); later ones only show the seed matters
    params = trainrig.TrainerParams(
        epochs=2, batch_size=8, learning_rate=0.05, seed=seed, deterministic=True, progress="none",
        output_dir=out, export=export,
    )
    trainer = trainrig.Trainer(params, DropoutClassifier(TinyModelParams(hidden=16, dropout=0.5)), TinyData())
    history = trainer.train()
    report[str(seed)] = {
        "trained": weights_sha256(trainer.keras_model.get_weights()),
        "exported": weights_sha256(trainrig.load_model(out).get_weights()) if export else None,
        "history": history,
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def deterministic_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("determinism")
    first = start_python(DETERMINISTIC_RUN, str(base / "a"), "7")
    second = start_python(DETERMINISTIC_RUN, str(base / "b"), "7", "8")
    return last_json_line(finish(first)), last_json_line(finish(second))


def test_deterministic_runs_are_bit_identical(deterministic_runs):
    a, b = deterministic_runs
    assert a["7"]["exported"] == b["7"]["exported"]
    assert a["7"]["trained"] == b["7"]["trained"] == a["7"]["exported"]
    assert a["7"]["history"] == b["7"]["history"]  # every logged float, exactly


def test_deterministic_runs_depend_on_the_seed(deterministic_runs):
    _, b = deterministic_runs
    assert b["8"]["trained"] != b["7"]["trained"]
    assert b["8"]["history"]["loss"] != b["7"]["history"]["loss"]


# --- steps per execution -------------------------------------------------------------------------


def test_steps_per_execution_same_iterations_and_result(tiny_params):
    data = TinyData(TinyDataParams(n_train=80))  # batch 8 -> 10 steps per epoch, not a multiple of 4
    results = {}
    for spe in [1, 4]:
        recorder = Recorder()
        params = tiny_params(f"spe{spe}", epochs=2, batch_size=8, steps_per_execution=spe, export=False)
        trainer = trainrig.Trainer(params, PlainModel(), data, callbacks=[recorder])
        results[spe] = (trainer.train(), trainer, recorder)
    for spe, (history, trainer, recorder) in results.items():
        assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 20, spe
        assert recorder.iterations == [10, 20]
        assert len(history["loss"]) == 2
    assert results[4][2].batches == [3, 7, 9, 3, 7, 9]  # one batch callback per execution
    assert results[1][2].batches == list(range(10)) * 2
    # the same steps on the same batches: the same numbers
    for name in ["loss", "val_loss", "mae", "val_mae"]:
        np.testing.assert_allclose(results[4][0][name], results[1][0][name], rtol=1e-5, err_msg=name)


# --- strategies and data sources -----------------------------------------------------------------


MIRRORED_RUN = """
import json, sys
import keras, trainrig
from fixtures_pkg.helpers import make_params
from fixtures_pkg.tinymodels import PlainModel, TinyData

params = make_params(sys.argv[1], epochs=3, strategy="mirrored", devices=2, learning_rate=0.05)
trainer = trainrig.Trainer(params, PlainModel(), TinyData())
history = trainer.train()
strategy = trainer.parts.strategy
print(json.dumps({
    "strategy": type(strategy).__name__,
    "replicas": strategy.num_replicas_in_sync,
    "devices": list(strategy.extended.worker_devices),
    "iterations": int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)),
    "history": history,
}))
"""


def test_mirrored_strategy_trains_on_two_cpu_replicas(tmp_path, tiny_data):
    # trainer.devices 2 splits the CPU into 2 logical devices, which needs a fresh process
    output_dir = tmp_path / "run"
    result = last_json_line(run_python(MIRRORED_RUN, str(output_dir)))
    assert result["strategy"] == "MirroredStrategy"
    assert result["replicas"] == 2
    assert [d.rsplit("/", 1)[-1] for d in result["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert result["iterations"] == 3 * STEPS
    history = result["history"]
    assert all(np.isfinite(v).all() for v in history.values())
    assert history["val_loss"][-1] < history["val_loss"][0]
    exported = trainrig.load_model(output_dir)  # the final weights
    assert val_losses_of(exported, tiny_data)["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)


def test_tf_data_dataset_source(tiny_params):
    data = TinyDatasetData()
    trainer = trainrig.Trainer(tiny_params("run", epochs=2), PlainModel(), data)
    history = trainer.train()
    assert len(history["loss"]) == 2
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 2 * STEPS
    expected = val_losses_of(trainer.keras_model, data)
    assert history["val_mse"][-1] == pytest.approx(expected["mse"], rel=1e-5)
    assert history["val_loss"][-1] == pytest.approx(expected["loss"], rel=1e-5)


def test_tf_data_unknown_length_needs_steps_per_epoch(tiny_params):
    class Filtered(TinyDatasetData):
        def train_sequence(self, batch_size):
            return super().train_sequence(batch_size).filter(lambda inputs, targets: True)

    params = tiny_params("run", epochs=1)
    with pytest.raises(trainrig.TrainrigError, match="steps_per_epoch"):
        trainrig.Trainer(params, PlainModel(), Filtered()).train()
    trainer = trainrig.Trainer(tiny_params("run2", epochs=1, steps_per_epoch=3, export=False), PlainModel(), Filtered())
    trainer.train()
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 3


# --- output directory ----------------------------------------------------------------------------


def test_existing_run_without_overwrite_is_refused_and_untouched(plain_run, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(plain_run[0], root)
    before = tree_snapshot(root)
    assert "params.json" in before and any(p.startswith("export/") for p in before)
    params = make_params(root, epochs=1, overwrite=False)
    with pytest.raises(trainrig.TrainrigError) as info:
        trainrig.Trainer(params, PlainModel(), TinyData()).train()
    assert str(root) in str(info.value) and "overwrite" in str(info.value)
    assert tree_snapshot(root) == before


def test_overwrite_replaces_the_run(plain_run, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(plain_run[0], root)
    old_params = json.loads((root / "params.json").read_text())
    trainrig.Trainer(make_params(root, epochs=1, learning_rate=0.003), PlainModel(), TinyData()).train()
    new_params = json.loads((root / "params.json").read_text())
    assert old_params["trainer"]["epochs"] == EPOCHS and new_params["trainer"]["epochs"] == 1
    assert new_params["trainer"]["learning_rate"] == pytest.approx(0.003)
    assert json.loads((root / "export" / "trainrig.json").read_text())["epochs"] == 1


class _Underscored(PlainModel):
    """A model class whose name starts with an underscore, as private helper classes often do."""


def test_model_class_name_with_leading_underscore(tiny_params, tiny_data):
    history = trainrig.Trainer(tiny_params("run", epochs=1, export=False), _Underscored(), tiny_data).train()
    assert len(history["loss"]) == 1


# --- ArraySequence -------------------------------------------------------------------------------


def _arrays(n=10):
    x = np.arange(n * 2, dtype="float32").reshape(n, 2)
    return {"x": x}, {"y": np.arange(n, dtype="float32")}


def _order(sequence) -> list[float]:
    return [float(v) for i in range(len(sequence)) for v in sequence[i][1]["y"]]


def _advance(sequence, epochs):
    for _ in range(epochs):
        sequence.on_epoch_end()
    return sequence


def test_array_sequence_same_seed_same_epoch_same_order():
    a = _advance(trainrig.ArraySequence(*_arrays(), 3, shuffle=True, seed=5), 2)
    b = _advance(trainrig.ArraySequence(*_arrays(), 3, shuffle=True, seed=5), 2)
    assert _order(a) == _order(b)
    assert sorted(_order(a)) == list(range(10))  # a permutation: every row once
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i][0]["x"][:, 0], 2 * a[i][1]["y"])  # inputs and targets stay aligned


def test_array_sequence_epochs_and_seeds_differ():
    s = trainrig.ArraySequence(*_arrays(20), 4, shuffle=True, seed=5)
    orders = [_order(s)]
    for _ in range(3):
        s.on_epoch_end()
        orders.append(_order(s))
    assert len({tuple(o) for o in orders}) == 4
    other = trainrig.ArraySequence(*_arrays(20), 4, shuffle=True, seed=6)
    assert _order(other) != orders[0]


def test_array_sequence_unshuffled_and_lengths():
    s = trainrig.ArraySequence(*_arrays(10), 4)
    assert len(s) == 3
    assert [len(s[i][1]["y"]) for i in range(3)] == [4, 4, 2]
    s.on_epoch_end()
    assert _order(s) == list(range(10))
    with pytest.raises(IndexError):
        s[3]


def test_array_sequence_preprocess_per_batch():
    calls = []

    def preprocess(inputs, targets):
        calls.append(len(inputs["x"]))
        return {"x": inputs["x"] * 10.0}, {"y": targets["y"] + 100.0}

    s = trainrig.ArraySequence(*_arrays(10), 4, shuffle=True, seed=1, preprocess=preprocess)
    assert calls == []  # nothing on the whole arrays at construction
    batches = [s[i] for i in range(len(s))]
    assert calls == [4, 4, 2]
    ys = sorted(float(v) for _, t in batches for v in t["y"])
    assert ys == [100.0 + i for i in range(10)]
    for inputs, targets in batches:
        np.testing.assert_array_equal(inputs["x"][:, 0], 20.0 * (targets["y"] - 100.0))


def test_array_sequence_state_round_trip():
    a = _advance(trainrig.ArraySequence(*_arrays(12), 5, shuffle=True, seed=9), 3)
    state = a.get_state()
    json.dumps(state)
    b = trainrig.ArraySequence(*_arrays(12), 5, shuffle=True, seed=9)
    assert _order(b) != _order(a)
    b.set_state(state)
    assert _order(b) == _order(a)
    a.on_epoch_end()
    b.on_epoch_end()
    assert _order(b) == _order(a)


def test_array_sequence_rejects_mismatched_lengths():
    with pytest.raises(trainrig.TrainrigError, match="same length"):
        trainrig.ArraySequence({"x": np.zeros((5, 2))}, {"y": np.zeros(4)}, 2)
