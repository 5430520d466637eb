"""Every hook in the hookspec is documented, and a run calls each one with the documented arguments."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

import trainrig
from trainrig.hooks import specs
from trainrig.hooks.manager import PluginManager

from fixtures_pkg.digits_run import digits_trainer

HOOKS = sorted(name for name, f in vars(specs).items() if name.startswith("trainrig_") and callable(f))


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_typed_and_documents_when_it_is_called(name):
    hook = getattr(specs, name)
    doc = inspect.getdoc(hook) or ""
    assert "Called" in doc or "called" in doc, f"{name} does not say when it is called"
    signature = inspect.signature(hook)
    assert signature.return_annotation is not inspect.Signature.empty, f"{name} has no return type"
    assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values())


@trainrig.define
class RecorderParams:
    scale: float = trainrig.field(default=2.0, help="Factor of the recorder's augmentation.")


class Scale:
    def __init__(self, factor):
        self.factor = factor

    def random_transform(self, x, seed=None):
        return x * self.factor


class Recorder:
    """Implements every hook and records how it was called."""

    def __init__(self):
        self.calls: dict[str, dict] = {}
        self.epoch_logs: list[dict] = []

    def _record(self, name, **kwargs):
        self.calls[name] = kwargs

    @trainrig.hookimpl
    def trainrig_register_params(self):
        self._record("trainrig_register_params")
        return {"recorder": RecorderParams}

    @trainrig.hookimpl
    def trainrig_register_augmentations(self):
        self._record("trainrig_register_augmentations")
        return {"scale": Scale}

    @trainrig.hookimpl
    def trainrig_train_sequence(self, trainer, sequence):
        self._record("trainrig_train_sequence", trainer=trainer, sequence=sequence)

    @trainrig.hookimpl
    def trainrig_val_sequence(self, trainer, sequence):
        self._record("trainrig_val_sequence", sequence=sequence)
        return trainrig.ArraySequence(*sequence[0], batch_size=32)  # the first batch of 64, re-batched by 32

    @trainrig.hookimpl
    def trainrig_register_callbacks(self, trainer):
        self._record("trainrig_register_callbacks", trainer=trainer)
        recorder = self

        class SeeLogs(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                recorder.epoch_logs.append(dict(logs))

        return [SeeLogs()]

    @trainrig.hookimpl
    def trainrig_run_start(self, trainer):
        self._record("trainrig_run_start", trainer=trainer, built=trainer.keras_model.built)

    @trainrig.hookimpl
    def trainrig_register_export_graphs(self, inputs, outputs):
        self._record("trainrig_register_export_graphs")
        return {"logits_only": keras.Model(inputs, {"logits": outputs["logits"]})}

    @trainrig.hookimpl
    def trainrig_export_written(self, directory, graphs, kind):
        self.calls.setdefault("kinds", []).append(kind)
        (directory / f"{kind}.marker").write_text(",".join(sorted(graphs)))
        self._record("trainrig_export_written", directory=directory)

    @trainrig.hookimpl
    def trainrig_run_end(self, trainer, history):
        self._record("trainrig_run_end", history=history)

    @trainrig.hookimpl
    def trainrig_run_error(self, trainer, error):
        self._record("trainrig_run_error", error=error)


def test_a_run_calls_every_hook(tmp_path):
    recorder = Recorder()
    manager = PluginManager()
    manager.register(recorder, name="recorder")
    trainer = digits_trainer(
        tmp_path / "run",
        manager,
        epochs=2,
        augmentation=trainrig.TrainerParams().augmentation.__class__(input="image", n=2, ops=[{"name": "scale", "factor": 1.0}]),
    )
    history = trainer.train()
    expected = set(HOOKS) - {"trainrig_run_error"}
    assert expected <= set(recorder.calls), expected - set(recorder.calls)
    # the augmentation from the plugin doubled every training batch (the last one is smaller)
    assert isinstance(recorder.calls["trainrig_train_sequence"]["sequence"], trainrig.DataAugmentationSequence)
    assert trainer.parts.train_source.first_batch()[0]["image"].shape[0] == 128
    # the replaced validation sequence: 64 samples in batches of 32
    assert len(trainer.parts.val_source) == 2
    # plugin params are available to the run with their defaults
    assert trainer.plugin_params["recorder"] == RecorderParams(scale=2.0)
    assert recorder.calls["trainrig_run_start"]["built"] is True
    # plugin callbacks come after the base callbacks: they see validation values
    assert {"val_loss", "val_acc", "val_xent", "learning_rate"} <= set(recorder.epoch_logs[0])
    assert recorder.calls["trainrig_run_end"]["history"] is history
    # export graphs from the plugin, and the export hook before the swap: marker files in best/ and export/
    out = tmp_path / "run"
    assert (out / "export" / "logits_only.keras").is_file()
    assert (out / "export" / "final.marker").read_text() == "default,logits_only"
    assert (out / "best" / "best.marker").read_text() == "default,logits_only"
    assert recorder.calls["kinds"][-1] == "final" and "best" in recorder.calls["kinds"]


def test_run_error_hook_sees_the_failure_and_the_error_propagates(tmp_path):
    recorder = Recorder()
    manager = PluginManager()
    manager.register(recorder, name="recorder")

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom at epoch end")

    trainer = digits_trainer(tmp_path / "run", manager)
    trainer.user_callbacks.append(Boom())
    with pytest.raises(RuntimeError, match="boom at epoch end"):
        trainer.train()
    assert isinstance(recorder.calls["trainrig_run_error"]["error"], RuntimeError)
    assert "trainrig_run_end" not in recorder.calls


def test_export_graph_values_match_the_model(tmp_path):
    recorder = Recorder()
    manager = PluginManager()
    manager.register(recorder, name="recorder")
    digits_trainer(tmp_path / "run", manager).train()
    full = trainrig.load_model(tmp_path / "run")
    logits_only = trainrig.load_model(tmp_path / "run", graph="logits_only")
    images = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(logits_only({"image": images})["logits"], full({"image": images})["logits"], rtol=1e-6)
