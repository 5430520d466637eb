"""``trainrig`` on the command line, as a user runs it: real subprocesses, the installed tutorial."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

MODEL = "trainrig_digits.model:DigitsModel"
DATA = "trainrig_digits.data:DigitsData"


def trainrig(*args: str, cwd=None, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "trainrig", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def test_top_level_help_is_fast_and_imports_no_tensorflow():
    code = "import sys; from trainrig.cli.main import main; main(['--help']); print('TF' if 'tensorflow' in sys.modules else 'noTF')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "train" in out and out.strip().endswith("noTF")


def test_train_help_lists_every_field_with_help_and_default():
    result = trainrig("train", "--model", MODEL, "--data", DATA, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "--trainer.epochs INT Number of passes over the training sequence. (default: 10)" in text
    assert "--model.filters INT Filters of the first convolution (the second has twice as many). (default: 16)" in text
    assert "--data.val_fraction FLOAT" in text
    assert "--trainer.optimizer STR The optimizer: any keras.optimizers class by name" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trainer.epoch", "3"], "unknown option --trainer.epoch; did you mean --trainer.epochs?"),
        (["--trainer.epochs", "x"], "--trainer.epochs: expected int, got 'x'"),
        (["--trainer.epochs", "0"], "trainer.epochs must be >= 1, got 0"),
        (["--trainer.deterministic", "yes"], "--trainer.deterministic: expected bool, got 'yes'"),
        (
                ["--trainer.optimizer", "foo"],
                "unknown trainer.optimizer 'foo'; valid: adadelta, adafactor, adagrad, adam, adamax, adamw, ftrl, lamb, "
                "lion, muon, nadam, rmsprop, schedule_free_adamw, sgd (any case, or the class name) or module:Class",
            ),
        (["--model.nope", "1"], "unknown option --model.nope; see --help for the valid options"),
    ],
)
def test_bad_options_are_one_line_errors(args, message, tmp_path):
    result = trainrig("train", "--model", MODEL, "--data", DATA, "--trainer.output_dir", str(tmp_path / "run"), *args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("trainrig")]
    assert lines == [f"trainrig train: error: {message}"], result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "model, message",
    [
        ("no_such_pkg.model:M", "cannot import module 'no_such_pkg.model' for --model 'no_such_pkg.model:M'"),
        ("trainrig_digits.model:Nope", "module 'trainrig_digits.model' has no attribute 'Nope' (--model); it has: "),
        ("trainrig_digits.data:DigitsData", "must name a subclass of trainrig.ModelBase"),
    ],
)
def test_model_that_cannot_be_imported_names_module_or_attribute(model, message):
    result = trainrig("train", "--model", model, "--data", DATA)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_data_class_is_an_error():
    result = trainrig("train", "--model", MODEL)
    assert result.returncode == 2
    assert "no data class given: pass --data" in result.stderr


def test_print_config_round_trips_through_config(tmp_path):
    first = trainrig("train", "--model", MODEL, "--data", DATA, "--model.filters", "4", "--trainer.epochs", "2", "--print-config")
    assert first.returncode == 0, first.stderr
    config = json.loads(first.stdout)
    assert config["model"]["params"]["filters"] == 4 and config["trainer"]["epochs"] == 2
    (tmp_path / "c.json").write_text(first.stdout)
    second = trainrig("train", "--config", str(tmp_path / "c.json"), "--trainer.seed", "7", "--print-config")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["model"] == config["model"] and again["trainer"]["seed"] == 7 and again["trainer"]["epochs"] == 2


def test_train_writes_the_run_and_refuses_to_overwrite_it(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--model", MODEL, "--data", DATA, "--trainer.output_dir", str(out), "--trainer.epochs", "2",
            "--model.filters", "4", "--trainer.progress", "epoch"]
    result = trainrig(*args)
    assert result.returncode == 0, result.stderr
    assert "Epoch 2/2" in result.stdout and "val_acc" in result.stdout and "PRED/GT" in result.stdout
    params = json.loads((out / "params.json").read_text())
    assert params["model"] == {"class": MODEL, "params": {"n_classes": 10, "filters": 4, "dropout": 0.25}}
    assert params["trainer"]["epochs"] == 2
    for part in ("export/default.keras", "export/default/saved_model.pb", "best/default.keras", "tensorboard/train"):
        assert (out / part).exists(), part
    before = (out / "export" / "default.keras").read_bytes()
    again = trainrig(*args)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert (out / "export" / "default.keras").read_bytes() == before


IMAGE_OPS = '[{"name": "rotation", "rotation_range": 20}, {"name": "zoom", "zoom_range": 0.2}, {"name": "horizontal_flip"}]'


def test_the_digits_tutorial_trains_with_image_augmentation_from_the_command_line(tmp_path):
    """The README's line, with the installed trainrig-imageaug plugin (found by its entry point)."""
    from trainrig.tensorboard.writers import read_events

    out = tmp_path / "run"
    augmentation = ["--trainer.augmentation.input", "image", "--trainer.augmentation.n", "3", "--trainer.augmentation.ops"]
    common = ["train", "--model", MODEL, "--data", DATA, "--trainer.epochs", "1", "--trainer.steps_per_epoch", "4"]
    plugin = {"TRAINRIG_LOAD_PLUGINS": "imageaug"}  # the repository's conftest loads no installed plugin
    result = trainrig(*common, "--trainer.output_dir", str(out), "--trainer.progress", "none", *augmentation, IMAGE_OPS, **plugin)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "params.json").read_text())["trainer"]["augmentation"]["ops"] == json.loads(IMAGE_OPS)
    tags = {
        value.tag
        for path in (out / "tensorboard" / "train").glob("events.out.tfevents.*")
        for event in read_events(path)
        for value in event.summary.value
    }
    assert "augmentation/image" in tags
    typo = IMAGE_OPS.replace("rotation_range", "rotation_rnage")
    bad = trainrig(*common, "--trainer.output_dir", str(tmp_path / "bad"), *augmentation, typo, **plugin)
    lines = [line for line in bad.stderr.splitlines() if line.startswith("trainrig")]
    assert lines == [
        "trainrig train: error: augmentation 'rotation' has no option 'rotation_rnage'; "
        "its options: rotation_range, fill_mode, cval, interpolation"
    ], bad.stderr
    assert bad.returncode != 0 and not (tmp_path / "bad").exists()
