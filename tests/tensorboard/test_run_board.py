"""What one run writes to TensorBoard beside its epoch scalars: per-step values, texts, graph, HParams."""

from __future__ import annotations

import json

import pytest
from fixtures_pkg.helpers import make_params, tensorboard_tensors
from fixtures_pkg.tinymodels import PlainModel, TinyData

import trainrig
from trainrig.tensorboard.hparams import settings_of
from trainrig.tensorboard.tags import TagNames, logged_suite_duplicates
from trainrig.model.definitions import LossDefinition, MetricDefinition


@pytest.fixture(scope="module")
def stepped_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("board") / "run"
    # 4 steps per epoch, 3 fused per call: the per-step values come when a call crosses a multiple of 2
    params = make_params(out, epochs=2, export=False, log_every_steps=2, steps_per_execution=3)
    trainer = trainrig.Trainer(params, PlainModel(), TinyData())
    history = trainer.train()
    return out, history


def test_training_values_every_n_optimizer_steps(stepped_run):
    out, history = stepped_run
    train = tensorboard_tensors(out / "tensorboard" / "train")
    # calls end at steps 3, 4 (epoch end), 7, 8: writes at 3 (crossed 2), 4, 7 (crossed 6), 8
    assert sorted(train["steps/loss"]) == [3, 4, 7, 8]
    assert set(train) >= {"steps/mse", "steps/mae", "steps/l1"} and "steps/learning_rate" not in train
    # at an epoch's last step the value is the epoch's mean, as in the history
    assert float(train["steps/loss"][8]) == pytest.approx(history["loss"][1], rel=1e-6)


def test_a_new_run_writes_its_params_model_summary_and_graph(stepped_run):
    out, _ = stepped_run
    train = tensorboard_tensors(out / "tensorboard" / "train")
    params = train["run/params"][0].item().decode()
    assert json.loads(params.strip("`\n")) == json.loads((out / "params.json").read_text())
    assert "Total params" in train["run/model_summary"][0].item().decode()
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(out / "tensorboard" / "train"))
    acc.Reload()
    assert acc.Tags()["graph"] and any(node.op == "MatMul" for node in acc.Graph().node)


def test_hparams_leave_plumbing_empty_values_and_sections_that_are_off_out():
    from trainrig.train.params import EarlyStoppingParams, TrainerParams

    params = TrainerParams(output_dir="/somewhere", early_stopping=EarlyStoppingParams(patience=2))
    tree = {
        "model": {"params": {"units": 4, "note": ""}},
        "data": {"params": {"rows": 10}},
        "trainer": trainrig.params.to_dict(params),
        "plugins": {"params": {}},
    }
    settings = settings_of(tree, {"trainer": params})
    assert settings["model.units"] == 4 and "model.note" not in settings and settings["data.rows"] == 10
    assert settings["trainer.early_stopping.patience"] == 2  # on: its fields are settings
    assert not [name for name in settings if name.startswith(("trainer.reduce_lr", "trainer.freeze", "trainer.warm_start"))]
    for plumbing in ("output_dir", "progress", "overwrite", "keep_checkpoints", "suite.average", "log_every_steps"):
        assert f"trainer.{plumbing}" not in settings


def test_suite_entries_the_model_already_logs_are_left_out():
    import keras

    definitions = [
        LossDefinition("label", "logits", keras.losses.SparseCategoricalCrossentropy()),
        MetricDefinition("label", "logits", keras.metrics.SparseCategoricalAccuracy()),
        MetricDefinition("other", "x", keras.metrics.MeanSquaredError()),
    ]
    duplicates = logged_suite_duplicates("label", definitions)
    assert duplicates == {"Accuracy", "Log Loss"}  # MSE is on another target
    names = TagNames(["xent"], duplicates)
    assert names.tags({"loss": 1, "xent": 1, "acc": 1, "Test Accuracy": 1, "Test ROC AUC": 1, "learning_rate": 1}) == {
        "losses/loss": 1,
        "losses/xent": 1,
        "metrics/acc": 1,
        "suite/ROC AUC": 1,
    }
    assert TagNames.best("val_acc") == "best/acc" and TagNames.best("Test ROC AUC") == "best/ROC AUC"
