"""Warm start: a new run begins with a previous run's (or model's) weights, fully, partly or renamed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import trainrig
from trainrig.errors import TrainrigError
from trainrig.train.params import WarmStartParams

from fixtures_pkg.helpers import make_params
from fixtures_pkg.tinymodels import N_FEATURES, TinyData, TinyGraph, TinyModel, TinyModelParams


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("warm") / "source"
    trainrig.Trainer(make_params(out, epochs=2, seed=11), TinyModel(), TinyData()).train()
    return out


def started(tmp_path, warm: WarmStartParams, model=None, **overrides) -> trainrig.Trainer:
    params = make_params(tmp_path / "run", epochs=1, warm_start=warm, seed=99, **overrides)
    trainer = trainrig.Trainer(params, model or TinyModel(), TinyData())
    trainer.prepare()
    return trainer


def weights_by_name(model: keras.Model) -> dict[str, np.ndarray]:
    return {v.path.split("/", 1)[1]: keras.ops.convert_to_numpy(v) for v in model.weights}


def assert_same(actual: dict, expected: dict, names) -> None:
    assert names
    for name in names:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.mark.parametrize("weights, export", [("best", "best"), ("final", "export"), ("latest", "export")])
def test_full_warm_start_from_a_run(tmp_path, source, capsys, weights, export):
    trainer = started(tmp_path, WarmStartParams(path=str(source), weights=weights), progress="epoch")
    expected = weights_by_name(trainrig.load_model(source / export))
    actual = weights_by_name(trainer.keras_model)
    assert_same(actual, expected, list(expected))
    assert "loaded 6 of 6 variables" in capsys.readouterr().out


def test_warm_start_from_a_keras_file_and_a_weights_file(tmp_path, source):
    exported = trainrig.load_model(source)
    weights_file = tmp_path / "tiny.weights.h5"
    exported.save_weights(weights_file)
    expected = weights_by_name(exported)
    for path in (trainrig.model_path(source), weights_file):
        trainer = started(tmp_path / path.name, WarmStartParams(path=str(path)))
        assert_same(weights_by_name(trainer.keras_model), expected, list(expected))


def test_excluded_variables_keep_their_initial_values(tmp_path, source):
    fresh = weights_by_name(started(tmp_path / "fresh", WarmStartParams()).keras_model)
    trainer = started(tmp_path, WarmStartParams(path=str(source), exclude=["/head/"]))
    report_source = weights_by_name(trainrig.load_model(source, weights="best"))
    actual = weights_by_name(trainer.keras_model)
    assert_same(actual, fresh, ["head/kernel", "head/bias"])
    assert_same(actual, report_source, ["hidden/kernel", "hidden/bias", "logit/kernel", "logit/bias"])


def test_shape_mismatches_are_one_report_and_allow_partial_loads_the_rest(tmp_path, source, capsys):
    wider = TinyModel(TinyModelParams(hidden=16))
    with pytest.raises(TrainrigError) as error:
        started(tmp_path / "strict", WarmStartParams(path=str(source)), model=wider)
    message = str(error.value)
    assert "\n" not in message and "4 variables do not match" in message
    assert f"layers/tiny_graph/hidden/vars/0 expects [{N_FEATURES}, 16], found [{N_FEATURES}, 8]" in message
    assert "allow_partial true" in message
    trainer = started(tmp_path / "partial", WarmStartParams(path=str(source), allow_partial=True), model=wider, progress="epoch")
    expected = weights_by_name(trainrig.load_model(source, weights="best"))
    assert_same(weights_by_name(trainer.keras_model), expected, ["head/bias", "logit/bias"])
    summary = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warm start")]
    assert summary and "loaded 2 of 6 variables; left at their initial values: layers/tiny_graph/head/vars/0" in summary[0]


class RenamedGraph(TinyGraph):
    pass


class RenamedModel(TinyModel):
    def create_graph(self, params):
        return RenamedGraph(params)


def test_rename_rules_map_source_names_to_the_new_model(tmp_path, source):
    with pytest.raises(TrainrigError, match="no variable matches the model's"):
        started(tmp_path / "plain", WarmStartParams(path=str(source)), model=RenamedModel())
    rule = "layers/tiny_graph/=layers/renamed_graph/"
    trainer = started(tmp_path / "renamed", WarmStartParams(path=str(source), rename=[rule]), model=RenamedModel())
    expected = weights_by_name(trainrig.load_model(source, weights="best"))
    assert_same(weights_by_name(trainer.keras_model), expected, list(expected))


@pytest.mark.parametrize(
    "path, message",
    [
        ("{tmp}/nowhere", "trainer.warm_start.path {tmp}/nowhere does not exist"),
        ("{tmp}/empty", "trainer.warm_start.path {tmp}/empty is neither a run with a best/ export (weights best) nor an export directory"),
        ("{tmp}/notes.txt", "trainer.warm_start.path {tmp}/notes.txt is neither a run directory, an export directory, a .keras file nor a .weights.h5 file"),
    ],
)
def test_bad_paths_are_one_line_before_anything_is_written(tmp_path, path, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("")
    out = tmp_path / "run"
    params = make_params(out, warm_start=WarmStartParams(path=path.format(tmp=tmp_path)))
    with pytest.raises(TrainrigError) as error:
        trainrig.Trainer(params, TinyModel(), TinyData()).train()
    assert str(error.value) == message.format(tmp=tmp_path)
    assert not out.exists()


def test_a_resumed_run_is_not_warm_started_again(tmp_path, source):
    out = tmp_path / "run"
    params = make_params(out, epochs=2, warm_start=WarmStartParams(path=str(source)))
    trainer = trainrig.Trainer(params, TinyModel(), TinyData())
    trainer.train()
    trained = weights_by_name(trainer.keras_model)
    reopened = trainrig.Trainer.reopen(out)
    reopened.prepare()
    reopened.checkpoints.restore_latest()
    assert_same(weights_by_name(reopened.keras_model), trained, list(trained))
