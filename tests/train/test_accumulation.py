"""Gradient accumulation (``trainer.accumulate``): N batches of B rows make the step of one batch of N*B rows.

The model has no batch-dependent layer (``fixtures_pkg.replicas.ReplicaModel``: two heads, four
weighted losses, an L2 regularizer, every kind of metric and the binary metric suite), the runs are
deterministic on CPU and use a cosine schedule, so the learning rate of every optimizer step is
compared too. Every run is a fresh process (two replicas need the CPU split before TensorFlow starts).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest

import trainrig
from fixtures_pkg.helpers import finish, last_json_line, resume_result, resume_script, start_python
from fixtures_pkg.tinymodels import TinyGraph, TinyModel
from trainrig.checkpoint.store import CheckpointStore
from trainrig.metrics import SUITE_NAMES
from trainrig.train.params import FreezeParams

RUN = """
import json, sys
import keras
import trainrig
from fixtures_pkg.helpers import make_params
from fixtures_pkg.replicas import ReplicaModel
from fixtures_pkg.tinymodels import TinyData, TinyDataParams

spec = json.loads(sys.argv[1])
devices = spec.pop("devices", 0)
data = TinyData(TinyDataParams(n_train=spec.pop("n_train"), n_val=spec.pop("n_val")))
params = make_params(
    spec.pop("output_dir"), epochs=3, learning_rate=0.02, lr_schedule="cosine", seed=7, deterministic=True,
    export=False, print_samples=0, strategy="mirrored" if devices > 1 else "default", devices=devices, **spec,
)
trainer = trainrig.Trainer(params, ReplicaModel(), data)
history = trainer.train()
print(json.dumps({
    "replicas": trainer.parts.strategy.num_replicas_in_sync,
    "iterations": int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)),
    "history": history,
    "weights": [w.tolist() for w in trainer.keras_model.get_weights()],
}))
"""

B = {"even": 8, "uneven": 15}
# even: 64 rows = 8 batches of 8 = 2 groups of 4 (or 2 batches of 32).
# uneven: 91 rows = 6 batches of 15 and one of 1: groups of 60 and 31 rows (15 + 15 + 1: weighting by
# rows matters), or batches of 60 and 31. On two replicas the batch of 1 row leaves one share empty, and
# executions of 3 batches cross the groups' ends. (30 validation rows: a validation execution whose
# batches leave a share empty after a full one fails in the gather of the metric suite, with or without
# accumulation; see the report of issue 11.)
CASES = {
    "even": dict(n_train=64, n_val=32),
    "uneven": dict(n_train=91, n_val=30, steps_per_execution=3),
}
RUNS = {
    "accumulated": lambda case: dict(batch_size=B[case], accumulate=4),
    "large batch": lambda case: dict(batch_size=4 * B[case], accumulate=1),
    "accumulated on 2 replicas": lambda case: dict(batch_size=B[case], accumulate=4, devices=2),
}
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{(case, run): result}``, every run in a process of its own, started together."""
    root = tmp_path_factory.mktemp("accumulation")
    procs = {}
    for case, spec in CASES.items():
        for name, options in RUNS.items():
            options = options(case)
            full = {**spec, **options, "output_dir": str(root / f"{case}-{name.replace(' ', '_')}")}
            if options["batch_size"] > B[case]:  # the large batch: steps_per_execution in batches differs
                full["steps_per_execution"] = 1
            procs[case, name] = start_python(RUN, json.dumps(full))
    return {key: last_json_line(finish(proc, timeout=400)) for key, proc in procs.items()}


def differences(one: dict, two: dict) -> tuple[float, float]:
    """Max |dw| over the weights, max relative |d| over the history."""
    assert set(one["history"]) == set(two["history"])
    weights = max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(one["weights"], two["weights"], strict=True))
    history = max(
        float(np.max(np.abs(np.subtract(values, two["history"][k])))) / max(1.0, float(np.max(np.abs(values))))
        for k, values in one["history"].items()
    )
    return weights, history


@pytest.mark.parametrize("case", list(CASES))
def test_four_accumulated_batches_step_like_one_batch_four_times_larger(runs, case):
    accumulated, large = runs[case, "accumulated"], runs[case, "large batch"]
    batches = math.ceil(CASES[case]["n_train"] / B[case])
    # one optimizer step per group of 4 batches (the epoch's last group may be shorter): what the schedule counts
    assert accumulated["iterations"] == large["iterations"] == 3 * math.ceil(batches / 4)
    weights, history = differences(accumulated, large)
    print(f"{case}: accumulated vs large batch: max |dw| {weights:.3g}, history max rel |d| {history:.3g}")
    assert weights <= TOLERANCE and history <= TOLERANCE
    assert large["history"]["learning_rate"][-1] < 1e-6  # the cosine schedule ended at 0 on both
    assert accumulated["history"]["learning_rate"][-1] < 1e-6


@pytest.mark.parametrize("case", list(CASES))
def test_accumulation_on_two_replicas_gives_one_devices_weights(runs, case):
    one, two = runs[case, "accumulated"], runs[case, "accumulated on 2 replicas"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert one["iterations"] == two["iterations"]
    weights, history = differences(one, two)
    print(f"{case}: 1 vs 2 replicas, accumulate 4: max |dw| {weights:.3g}, history max rel |d| {history:.3g}")
    assert weights <= TOLERANCE and history <= TOLERANCE
    assert {f"Test {name}" for name in SUITE_NAMES["binary"]} <= set(two["history"])


# --- in this process -------------------------------------------------------------------------------


def graph_of(keras_model) -> TinyGraph:
    return next(layer for layer in keras_model.layers if isinstance(layer, TinyGraph))


class Positions(keras.callbacks.Callback):
    """The optimizer's iterations after every batch, and the hidden layer's kernel at every epoch end."""

    def __init__(self):
        super().__init__()
        self.iterations: list[int] = []
        self.hidden: list[np.ndarray] = []

    def on_train_batch_end(self, batch, logs=None):
        self.iterations.append(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))

    def on_epoch_end(self, epoch, logs=None):
        self.hidden.append(keras.ops.convert_to_numpy(graph_of(self.model).hidden.kernel))


def test_step_checkpoints_and_iterations_count_optimizer_steps(tiny_params, tiny_data):
    """64 rows, batches of 8, accumulate 3: groups of 3, 3 and 2 batches (the epoch's partial group is
    applied at its end); checkpoint_every_steps 2 writes one checkpoint when the optimizer reaches steps
    2 and 4 of the 6, not one per batch while the step count stays there."""
    params = tiny_params(batch_size=8, accumulate=3, checkpoint_every_steps=2, keep_checkpoints=20, epochs=2)
    positions = Positions()
    trainrig.Trainer(params, TinyModel(), tiny_data, callbacks=[positions]).train()
    assert positions.iterations == [0, 0, 1, 1, 1, 2, 2, 3] + [3, 3, 4, 4, 4, 5, 5, 6]
    store = CheckpointStore(Path(params.output_dir) / "checkpoints")
    saved = [(step, json.loads((path / "state.json").read_text())["position"]) for step, path in store.list()]
    # (global step, epochs done, batch): step 2 ends at batch 6 of epoch 1, step 4 at batch 3 and step 6 at
    # batch 8 of epoch 2; then the epoch-end checkpoints and the finished one
    expected = [(2, 0, 6), (3, 1, 0), (4, 1, 3), (6, 1, 8), (6, 2, 0), (6, 2, 0)]
    assert [(s, p["epoch"], p["step"]) for s, p in saved] == expected


def test_freeze_training_with_accumulation(tiny_params, tiny_data):
    """Layers frozen at an epoch start stay frozen for whole groups (groups never cross epochs); the
    output ``prob`` takes no part in the loss, so its layer gets no gradient and is never stepped."""
    schedule = [{"epoch": 1, "freeze": ["hidden"]}, {"epoch": 2, "unfreeze": ["hidden"]}]
    params = tiny_params(batch_size=8, accumulate=4, epochs=3, freeze=FreezeParams(schedule=schedule))
    positions = Positions()
    trainer = trainrig.Trainer(params, TinyModel(), tiny_data, callbacks=[positions])
    logit_before = keras.ops.convert_to_numpy(graph_of(trainer.prepare().keras_model).logit.kernel)
    trainer.train()
    first, second, third = positions.hidden
    assert np.array_equal(first, second) and not np.array_equal(second, third)
    assert np.array_equal(logit_before, keras.ops.convert_to_numpy(graph_of(trainer.keras_model).logit.kernel))
    assert positions.iterations[-1] == 3 * 2


def test_steps_per_execution_does_not_change_an_accumulated_run(tiny_params, tiny_data):
    results = []
    for spe in (1, 3):
        params = tiny_params(f"spe{spe}", batch_size=8, accumulate=3, steps_per_execution=spe, deterministic=True)
        trainer = trainrig.Trainer(params, TinyModel(), tiny_data)
        history = trainer.train()
        results.append((history, [w.tobytes() for w in trainer.keras_model.get_weights()]))
    assert results[0] == results[1]


def test_bad_accumulate_is_one_line_before_training(tiny_params, tiny_data):
    with pytest.raises(ValueError, match=r"^accumulate must be >= 1, got 0$"):
        trainrig.TrainerParams(accumulate=0)
    assert trainrig.TrainerParams().accumulate == 1
    with pytest.raises(trainrig.TrainrigError) as info:  # more than steps_per_epoch: at check_params
        trainrig.Trainer(tiny_params(accumulate=5, steps_per_epoch=4), TinyModel(), tiny_data).train()
    assert str(info.value) == (
        "trainer.accumulate 5 is more than trainer.steps_per_epoch 4 (groups of batches start afresh every "
        "epoch); use at most the batches of an epoch"
    )
    with pytest.raises(trainrig.TrainrigError) as info:  # more than the data's batches: at set-up
        trainrig.Trainer(tiny_params(accumulate=5, batch_size=16), TinyModel(), tiny_data).train()
    assert "trainer.accumulate is 5 but an epoch has only 4 training batches" in str(info.value)
    assert "\n" not in str(info.value)
    assert not (Path(tiny_params().output_dir) / "params.json").exists()


# --- resume ----------------------------------------------------------------------------------------

# digits: 23 batches an epoch, 3 batches per optimizer step (8 steps an epoch), 2 batches per execution,
# a step checkpoint every 3 optimizer steps. Step 3 ends at batch 9, inside the execution of batches 9
# and 10: the checkpoint after batch 10 holds batch 10's gradients, not yet applied. The next one is
# after batch 18 (step 6), at a group's end.
RESUME_OPTIONS = {"accumulate": 3, "steps_per_execution": 2, "checkpoint_every_steps": 3}


def pending_rows(out: Path) -> tuple[dict, float]:
    """The newest checkpoint's position and the rows accumulated in it (not yet applied)."""
    _, arrays, state = CheckpointStore(out / "checkpoints").load_latest()
    layout = state["layout"]["accumulation"]
    assert layout[-2].endswith("accumulated_rows") and layout[-1].endswith("accumulated_position")
    assert int(arrays[f"accumulation/{len(layout) - 1}"]) == state["position"]["step"]  # batches into the epoch
    return state["position"], float(arrays[f"accumulation/{len(layout) - 2}"])


@pytest.fixture(scope="module")
def accumulated_reference(tmp_path_factory):
    return resume_result(resume_script(tmp_path_factory.mktemp("reference") / "run", "full", RESUME_OPTIONS))


@pytest.mark.parametrize(
    "mode, position, pending",
    [
        # SIGKILL while writing the 2nd checkpoint (after batch 18; the background writer had finished the 1st)
        ("kill-save:2", {"epoch": 0, "step": 10}, 64.0),
        ("term-batch:4", {"epoch": 0, "step": 8}, 128.0),  # a graceful stop after batch 8: 2 batches pending
    ],
)
def test_a_checkpoint_in_the_middle_of_a_group_resumes_exactly(
    mode, position, pending, tmp_path, accumulated_reference
):
    out = tmp_path / "run"
    first = resume_script(out, mode, RESUME_OPTIONS)
    assert first.returncode != 0, first.stderr[-3000:]
    saved, rows = pending_rows(out)
    assert {k: saved[k] for k in position} == position and rows == pending
    resumed = resume_result(resume_script(out, "resume", RESUME_OPTIONS))
    assert resumed["hash"] == accumulated_reference["hash"]
    assert resumed["history"] == accumulated_reference["history"]
