"""``ModelBase._evaluator``: a pure-Python evaluator fed every validation sample, logged as ``val_<name>``.

The model (``fixtures_pkg.evaluators.EvaluatedModel``) counts in Python the rows it is fed, their
distinct string names, how many are close to their target, the mean absolute error and a sum of one
input; the tests compute the same from the data and the trained model in numpy. 31 validation rows
in batches of 15 make a last batch of one row (on two replicas: shares of 1 and 0 rows).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import trainrig
from fixtures_pkg.evaluators import EvaluatedModel, NamedRowsData, bad_model, expected_values
from fixtures_pkg.helpers import finish, last_json_line, make_params, start_python
from fixtures_pkg.replay import CrashAt
from fixtures_pkg.tinymodels import TinyData, TinyDataParams, TinyModel
from trainrig.cli.main import main as trainrig_main

NAMES = ["rows", "close", "abs_err", "x_sum", "names"]
DATA = TinyDataParams(n_train=61, n_val=31)


def params(out, **overrides):
    values = dict(epochs=2, batch_size=15, learning_rate=0.05, seed=3, deterministic=True, export=False)
    return make_params(out, **{**values, **overrides})


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """The run on two logical CPU devices: a fresh process, started first and read by the last test."""
    spec = {"devices": 2, "epochs": 1, "output_dir": str(tmp_path_factory.mktemp("mirrored") / "run")}
    process = start_python("from fixtures_pkg.evaluators import main; main()", json.dumps(spec))
    yield process
    if process.poll() is None:  # its test was not selected, or failed before reading it
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def run(tmp_path_factory, mirrored):
    out = tmp_path_factory.mktemp("evaluator") / "run"
    data = NamedRowsData(DATA)
    trainer = trainrig.Trainer(params(out), EvaluatedModel(), data)
    history = trainer.train()
    return trainer, history, out, data


def test_every_validation_sample_reaches_a_fresh_evaluator_logged_as_val_names(run):
    trainer, history, out, data = run
    for name in NAMES:
        assert len(history["val_" + name]) == 2, name
    assert history["val_rows"] == [31, 31]  # every row once per validation: a fresh evaluator each time
    assert history["val_names"] == [31, 31]  # ... each row exactly once, string targets included
    # the same rows as the keras metric, and what numpy computes from the final model (the last validation's)
    np.testing.assert_allclose(history["val_abs_err"], history["val_mae"], rtol=1e-5)
    expected = expected_values(trainer.keras_model, data)
    for name in NAMES:
        assert history["val_" + name][-1] == pytest.approx(expected[name], rel=1e-5), name
    assert len(set(history["val_close"])) > 1  # it moves with training (so the best-model test below decides)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_close"] for r in records] == history["val_close"]


def test_an_evaluator_value_decides_the_best_model(run):
    trainer, history, out, _ = run
    assert (trainer.context.best.monitor, trainer.context.best.greater_is_better) == ("val_close", True)
    best = json.loads((out / "best" / "trainrig.json").read_text())
    assert best["monitor"] == "val_close"
    assert best["value"] == max(history["val_close"])
    assert best["epoch"] == history["val_close"].index(max(history["val_close"])) + 1


def test_lav_reports_the_evaluator_values(run, capsys):
    _, history, out, _ = run
    epoch = json.loads((out / "best" / "trainrig.json").read_text())["epoch"]
    capsys.readouterr()
    assert trainrig_main(["lav", str(out / "best"), "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    for name in NAMES:
        assert values["val_" + name] == pytest.approx(history["val_" + name][epoch - 1], rel=1e-5), name


def test_a_resumed_run_logs_the_history_of_an_uninterrupted_one(run, tmp_path):
    _, reference, _, _ = run
    crashed = tmp_path / "crashed"
    trainer = trainrig.Trainer(params(crashed), EvaluatedModel(), NamedRowsData(DATA))
    trainer.user_callbacks.append(CrashAt(7))  # epoch 2, batch 2 (5 batches an epoch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer.train()
    assert trainrig.Trainer.resume(crashed) == reference


@pytest.mark.parametrize(
    "kind, message",
    [
        ("list", "BadEvaluator.result() must return a dict {name: number}, got list [0.5]"),
        ("string value", "must return a dict {name: number} (int, float or a numpy scalar), got str '0.5' for 'score'"),
        ("clash", "returned 'mae', which clashes with the validation loss or metric 'val_mae'"),
        ("reserved", "returned 'learning_rate', which collides with trainrig's own log keys"),
        ("no result", "BadEvaluatorModel._evaluator must return None or an object with update_state(sample) and result() methods; got object"),
    ],
)
def test_a_bad_evaluator_is_a_one_line_error_before_training(tmp_path, kind, message):
    trainer = trainrig.Trainer(params(tmp_path / "run"), bad_model(kind), TinyData(DATA))
    with pytest.raises(trainrig.TrainrigError) as error:
        trainer.prepare()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_name_clashing_at_a_validation_is_a_one_line_error(tmp_path):
    # the set-up's check feeds the first batch only (15 rows); this evaluator clashes once it has all 31
    trainer = trainrig.Trainer(params(tmp_path / "run"), bad_model("late clash"), TinyData(DATA))
    with pytest.raises(trainrig.TrainrigError, match=r"returned 'loss', which clashes with .*'val_loss'") as error:
        trainer.validate()
    assert "\n" not in str(error.value)


def test_the_command_line_prints_a_bad_evaluator_as_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--model", "fixtures_pkg.evaluators:BadEvaluatorModel", "--data", "fixtures_pkg.tinymodels:TinyData"]
    code = trainrig_main(["train", *args, "--model.bad", "clash", "--trainer.output_dir", str(out), "--trainer.epochs", "1"])
    assert code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trainrig")]
    assert len(lines) == 1 and lines[0].startswith("trainrig train: error: BadEvaluator.result() returned 'mae'"), lines
    assert not out.exists()


def test_two_replicas_feed_every_row_once(mirrored):
    result = last_json_line(finish(mirrored, timeout=300))
    history, expected = result["history"], result["expected"]
    assert result["replicas"] == 2 and result["prediction_rows"] == 31  # the metric suite's rows are gathered too
    assert np.isfinite(history["Test ROC AUC"]).all()
    assert history["val_rows"] == history["val_names"] == [31]  # the last batch's empty share adds nothing
    np.testing.assert_allclose(history["val_abs_err"], history["val_mae"], rtol=1e-5)
    for name in NAMES:
        assert history["val_" + name][-1] == pytest.approx(expected[name], rel=1e-5), name



def test_a_model_without_an_evaluator_gathers_nothing(tmp_path):
    trainer = trainrig.Trainer(params(tmp_path / "run"), TinyModel(), TinyData(DATA))
    trainer.prepare()
    assert trainer.parts.evaluator_names is None and not trainer.parts.steps.gather_samples
    assert trainer.validation.steps_per_execution > 1  # the whole pass in one call, as before
    assert trainer.validate().logs.keys() == {"val_loss", "val_mse", "val_mae"}
