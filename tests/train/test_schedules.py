"""Learning-rate schedules and warmup (``trainer.lr_schedule``, ``lr_schedule_options``, ``warmup_steps``,
``warmup_epochs``): today's schedules unchanged, every named schedule equal to its keras class, warmup
values at known steps, every bad input one line before training, the learning rate per step in
TensorBoard, and an exact resume in the middle of a warmup + cosine run."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import trainrig
from fixtures_pkg.helpers import completed, make_params, resume_result, resume_script, start_resume_script, tensorboard_tensors
from fixtures_pkg.tinymodels import PlainModel, TinyData
from trainrig.errors import TrainrigError
from trainrig.params import from_dict
from trainrig.tensorboard.writers import read_events
from trainrig.train.params import ReduceLRParams
from trainrig.train.schedules import (
    LinearWarmup,
    epoch_boundary_rates,
    learning_rate_schedule,
    rate_at,
)
from trainrig.train.setup import check_params

S = keras.optimizers.schedules
SPE = 10  # optimizer steps per epoch in the unit tests
LR = 0.1


class HalfLife(S.LearningRateSchedule):
    """A user's schedule: halves every ``half_life`` steps."""

    def __init__(self, initial_learning_rate, half_life=10):
        self.initial_learning_rate, self.half_life = initial_learning_rate, half_life

    def __call__(self, step):
        return self.initial_learning_rate * keras.ops.power(0.5, keras.ops.cast(step, "float32") / self.half_life)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "half_life": self.half_life}


def params(**overrides) -> trainrig.TrainerParams:
    return trainrig.TrainerParams(**{"epochs": 8, "learning_rate": LR, **overrides})


def rates(schedule, steps) -> list[float]:
    return [rate_at(schedule, s) for s in steps]


STEPS = [0, 1, 9, 10, 11, 19, 20, 21, 35, 49, 50, 79, 80]


# --- today's schedules, exactly -----------------------------------------------------------------


def test_todays_schedules_are_unchanged():
    assert learning_rate_schedule(params(), SPE) == LR  # constant: a float (settable by ReduceLROnPlateau)
    cosine = learning_rate_schedule(params(lr_schedule="cosine"), SPE)
    assert type(cosine) is S.CosineDecay
    assert cosine.get_config() == S.CosineDecay(LR, decay_steps=8 * SPE).get_config()
    exponential = learning_rate_schedule(params(lr_schedule="exponential", lr_decay_rate=0.7), SPE)
    assert type(exponential) is S.ExponentialDecay
    assert exponential.get_config() == S.ExponentialDecay(LR, decay_steps=SPE, decay_rate=0.7).get_config()


# --- every schedule equals its keras class -------------------------------------------------------


@pytest.mark.parametrize(
    "name, options, expected",
    [
        ("cosine", {"alpha": 0.1, "decay_epochs": 4}, S.CosineDecay(LR, 40, alpha=0.1)),
        ("Cosine", {"restart_epochs": 2}, S.CosineDecayRestarts(LR, 20)),
        ("cosine", {"restart_epochs": 1.5, "t_mul": 1.0, "m_mul": 0.5, "alpha": 0.2}, S.CosineDecayRestarts(LR, 15, 1.0, 0.5, 0.2)),
        ("exponential", {"decay_epochs": 2, "staircase": True}, S.ExponentialDecay(LR, 20, 0.9, staircase=True)),
        ("polynomial", {}, S.PolynomialDecay(LR, 80, end_learning_rate=0.0)),
        ("polynomial", {"decay_epochs": 5, "end_learning_rate": 0.01, "power": 2.0, "cycle": True}, S.PolynomialDecay(LR, 50, 0.01, 2.0, True)),
        ("linear", {"end_learning_rate": 0.02}, S.PolynomialDecay(LR, 80, 0.02, 1.0)),
        ("InverseTimeDecay", {"decay_steps": 5, "decay_rate": 0.5}, S.InverseTimeDecay(LR, 5, 0.5)),
        ("inverse_time_decay", {"decay_steps": 5, "decay_rate": 0.5, "staircase": True}, S.InverseTimeDecay(LR, 5, 0.5, True)),
        ("cosine_decay", {"decay_steps": 30, "warmup_target": 0.2, "warmup_steps": 5}, S.CosineDecay(LR, 30, warmup_target=0.2, warmup_steps=5)),
        ("PiecewiseConstantDecay", {"boundaries": [5, 15], "values": [1.0, 0.5, 0.1]}, S.PiecewiseConstantDecay([5, 15], [1.0, 0.5, 0.1])),
        ("test_schedules:HalfLife", {"half_life": 7}, HalfLife(LR, 7)),
    ],
)
def test_schedules_are_keras_schedules(name, options, expected):
    schedule = learning_rate_schedule(params(lr_schedule=name, lr_schedule_options=options), SPE)
    assert type(schedule) is type(expected)
    assert rates(schedule, STEPS) == pytest.approx(rates(expected, STEPS), rel=1e-6)


@pytest.mark.parametrize("name", ["piecewise", "step"])
def test_piecewise_boundaries_are_epochs_and_switch_at_the_epoch_start(name):
    """values[i + 1] from the first step of epoch boundaries[i] on (boundaries count completed epochs)."""
    options = {"boundaries": [2, 5], "values": [1.0, 0.5, 0.1]}
    schedule = learning_rate_schedule(params(lr_schedule=name, lr_schedule_options=options), SPE)
    assert isinstance(schedule, S.PiecewiseConstantDecay) and schedule.boundaries == [19, 49]
    assert rates(schedule, [0, 19, 20, 49, 50, 79]) == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.1, 0.1])
    factor = learning_rate_schedule(params(lr_schedule=name, lr_schedule_options={"boundaries": [2, 5], "factor": 0.1}), SPE)
    assert rates(factor, [0, 19, 20, 50]) == pytest.approx([LR, LR, LR * 0.1, LR * 0.01])
    half = learning_rate_schedule(params(lr_schedule=name, lr_schedule_options={"boundaries": [0.5], "values": [1.0, 2.0]}), SPE)
    assert rates(half, [4, 5]) == [1.0, 2.0]  # half an epoch = 5 steps


# --- warmup --------------------------------------------------------------------------------------


def test_warmup_values_at_known_steps():
    """Linear from 0 at step 0 to the schedule's value at step warmup, then the schedule itself."""
    constant = learning_rate_schedule(params(warmup_steps=10), SPE)
    assert isinstance(constant, LinearWarmup)
    assert rates(constant, [0, 1, 5, 9, 10, 11, 80]) == pytest.approx([0.0, 0.01, 0.05, 0.09, LR, LR, LR], rel=1e-6)

    cosine = learning_rate_schedule(params(lr_schedule="cosine", warmup_steps=20), SPE)
    plain = S.CosineDecay(LR, 80)
    at_20 = rate_at(plain, 20)
    assert at_20 == pytest.approx(LR * (1 + np.cos(np.pi * 20 / 80)) / 2, rel=1e-6)
    assert rates(cosine, [0, 5, 10, 19]) == pytest.approx([0.0, at_20 / 4, at_20 / 2, at_20 * 19 / 20], rel=1e-6)
    assert rates(cosine, [20, 21, 50, 79, 80]) == rates(plain, [20, 21, 50, 79, 80])  # not shifted

    piecewise = learning_rate_schedule(
        params(lr_schedule="piecewise", lr_schedule_options={"boundaries": [1, 3], "values": [1.0, 0.5, 0.1]}, warmup_epochs=2),
        SPE,
    )
    assert piecewise.warmup_steps == 20
    assert rates(piecewise, [0, 10, 15, 20, 29, 30]) == pytest.approx([0.0, 0.25, 0.375, 0.5, 0.5, 0.1])


def test_warmup_epochs_may_be_fractional():
    schedule = learning_rate_schedule(params(warmup_epochs=0.25), SPE)
    assert schedule.warmup_steps == 2  # round(2.5) to the nearest step, ties to even
    assert rates(schedule, [0, 1, 2]) == pytest.approx([0.0, LR / 2, LR])


def test_linear_warmup_serialises_with_get_config():
    schedule = learning_rate_schedule(params(lr_schedule="cosine", lr_schedule_options={"alpha": 0.1}, warmup_steps=7), SPE)
    config = schedule.get_config()
    assert config["warmup_steps"] == 7 and config["schedule"]["class_name"] == "CosineDecay"
    json.dumps(config)  # JSON-ready
    for copy in (LinearWarmup.from_config(config), S.deserialize(json.loads(json.dumps(S.serialize(schedule))))):
        assert isinstance(copy, LinearWarmup)
        assert rates(copy, STEPS) == rates(schedule, STEPS)
    constant = LinearWarmup.from_config(LinearWarmup(0.3, 4).get_config())
    assert rates(constant, [0, 2, 4, 9]) == pytest.approx([0.0, 0.15, 0.3, 0.3])


def test_epoch_boundary_rates():
    rows = epoch_boundary_rates(params(epochs=4, lr_schedule="cosine", warmup_steps=15), SPE)
    assert [(r["epoch"], r["step"]) for r in rows] == [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]
    at_15 = LR * (1 + np.cos(np.pi * 15 / 40)) / 2
    expected = [0.0, at_15 * 10 / 15, *(LR * (1 + np.cos(np.pi * s / 40)) / 2 for s in (20, 30, 40))]
    assert [r["learning_rate"] for r in rows] == pytest.approx(expected, rel=1e-6, abs=1e-9)


# --- bad input: one line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (dict(lr_schedule="cosinus"), "unknown trainer.lr_schedule 'cosinus'; valid: constant, cosine, exponential, step, "
         "piecewise, polynomial, linear, CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay, "
         "PiecewiseConstantDecay, PolynomialDecay or module:Class"),
        (dict(lr_schedule="cosine", lr_schedule_options={"decay_steps": 5}),
         "unknown option 'decay_steps' in trainer.lr_schedule_options of cosine; its options: alpha, decay_epochs, "
         "m_mul, restart_epochs, t_mul"),
        (dict(lr_schedule_options={"alpha": 0.1}), "unknown option 'alpha' in trainer.lr_schedule_options of constant; its options: none"),
        (dict(lr_schedule="InverseTimeDecay", lr_schedule_options={"decay_steps": 5, "rate": 0.5}),
         "unknown option 'rate' in trainer.lr_schedule_options of InverseTimeDecay; its options: decay_steps, decay_rate, staircase, name"),
        (dict(lr_schedule="inverse_time_decay", lr_schedule_options={"decay_steps": 5}),
         "trainer.lr_schedule_options of InverseTimeDecay: decay_rate required (keras' own arguments, in optimizer steps)"),
        (dict(lr_schedule="CosineDecay", lr_schedule_options={"initial_learning_rate": 1.0, "decay_steps": 5}),
         "trainer.lr_schedule_options of CosineDecay: initial_learning_rate is trainer.learning_rate; set that instead"),
        (dict(lr_schedule="piecewise", lr_schedule_options={"boundaries": [2, 4], "values": [0.1, 0.01]}),
         "trainer.lr_schedule_options of piecewise: values must be one longer than boundaries: 2 boundaries need 3 values, got 2"),
        (dict(lr_schedule="step", lr_schedule_options={"boundaries": [2], "values": [0.1, 0.01, 0.001]}),
         "trainer.lr_schedule_options of step: values must be one longer than boundaries: 1 boundaries need 2 values, got 3"),
        (dict(lr_schedule="piecewise", lr_schedule_options={"values": [0.1]}),
         "trainer.lr_schedule_options of piecewise: boundaries is required"),
        (dict(lr_schedule="piecewise", lr_schedule_options={"boundaries": [4, 2], "values": [1, 2, 3]}),
         "trainer.lr_schedule_options of piecewise: boundaries must increase, got [4, 2]"),
        (dict(lr_schedule="piecewise", lr_schedule_options={"boundaries": [0], "values": [1, 2]}),
         "trainer.lr_schedule_options of piecewise: boundaries must be epochs > 0, got 0"),
        (dict(lr_schedule="piecewise", lr_schedule_options={"boundaries": [8], "values": [1, 2]}),
         "trainer.lr_schedule_options of piecewise: boundary 8 is not inside the run of 8 epochs (never reached)"),
        (dict(lr_schedule="piecewise", lr_schedule_options={"boundaries": [2], "values": [1, 2], "factor": 0.1}),
         "trainer.lr_schedule_options of piecewise: give values (one more than boundaries) or factor, exactly one of them"),
        (dict(lr_schedule="cosine", lr_schedule_options={"t_mul": 2.0}),
         "trainer.lr_schedule_options of cosine: t_mul needs restart_epochs (cosine with restarts)"),
        (dict(lr_schedule="exponential", lr_schedule_options={"decay_epochs": 0}),
         "trainer.lr_schedule_options of exponential: decay_epochs must be > 0, got 0"),
        (dict(lr_schedule="polynomial", lr_schedule_options={"cycle": "yes"}),
         "trainer.lr_schedule_options of polynomial: cycle must be true or false, got 'yes'"),
        (dict(lr_schedule="test_schedules:params"), "trainer.lr_schedule 'test_schedules:params' must name a keras.optimizers.schedules.LearningRateSchedule subclass"),
        (dict(warmup_steps=5, warmup_epochs=1.0), "set one of trainer.warmup_steps and trainer.warmup_epochs, not both"),
        (dict(warmup_epochs=9.0), "trainer.warmup_epochs 9 is longer than the run (8 epochs)"),
        (dict(lr_schedule="cosine", reduce_lr={"patience": 2}),
         "trainer.reduce_lr needs trainer.lr_schedule constant (a schedule owns the learning rate)"),
        (dict(warmup_steps=5, reduce_lr={"patience": 2}),
         "trainer.reduce_lr cannot be combined with trainer.warmup_steps/warmup_epochs (a warmup makes the learning "
         "rate a schedule, which owns it)"),
        (dict(warmup_epochs=1.0, freeze={"schedule": [{"epoch": 1, "learning_rate": 0.01}]}),
         "trainer.freeze.schedule learning_rate cannot be combined with trainer.warmup_steps/warmup_epochs"),
    ],
)
def test_bad_schedule_settings_are_one_line_errors(overrides, expected):
    tree = {"epochs": 8, "learning_rate": LR, **overrides}
    with pytest.raises(TrainrigError) as info:
        check_params(from_dict(trainrig.TrainerParams, tree, "trainer"))
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (dict(warmup_steps=81), "trainer.warmup_steps 81 is longer than the run: 8 epochs x 10 steps = 80 optimizer steps"),
        (dict(lr_schedule="piecewise", lr_schedule_options={"boundaries": [1.0, 1.04], "values": [1, 2, 3]}),
         "trainer.lr_schedule_options of piecewise: boundaries [1.0, 1.04] are closer than one of the 10 steps of an epoch"),
        (dict(lr_schedule="CosineDecay", lr_schedule_options={"decay_steps": 0}),
         "trainer.lr_schedule CosineDecay with options {'decay_steps': 0}: Argument `decay_steps` must be > 0."),
        (dict(lr_schedule="CosineDecay", lr_schedule_options={"decay_steps": "ten"}),
         "trainer.lr_schedule CosineDecay with options {'decay_steps': 'ten'}: "),
    ],
)
def test_bad_settings_that_need_the_steps_per_epoch_are_one_line_errors(overrides, expected):
    with pytest.raises(TrainrigError) as info:
        learning_rate_schedule(params(**overrides), SPE)
    assert "\n" not in str(info.value) and str(info.value).startswith(expected)


def test_warmup_as_long_as_the_run_is_allowed():
    assert learning_rate_schedule(params(warmup_steps=80), SPE).warmup_steps == 80
    assert learning_rate_schedule(params(warmup_epochs=8), SPE).warmup_steps == 80


@pytest.mark.parametrize("field, value", [("warmup_steps", -1), ("warmup_epochs", -0.5), ("warmup_epochs", float("nan"))])
def test_warmup_must_not_be_negative(field, value):
    with pytest.raises(TrainrigError, match=f"trainer.{field} must be"):
        from_dict(trainrig.TrainerParams, {field: value}, "trainer")


def test_warmup_longer_than_the_run_fails_before_anything_is_written(tmp_path):
    steps = len(TinyData().train_sequence(16))  # 4
    with pytest.raises(TrainrigError, match=f"trainer.warmup_steps {2 * steps + 1} is longer than the run"):
        trainrig.Trainer(make_params(tmp_path / "run", warmup_steps=2 * steps + 1), PlainModel(), TinyData()).train()
    assert not (tmp_path / "run").exists()


# --- end to end: history, TensorBoard per step ----------------------------------------------------


def step_rates(run_dir: Path) -> list[tuple[int, float]]:
    """Every (step, value) of ``optimizer/learning_rate`` in the train run, in file order, duplicates included."""
    out = []
    for path in sorted((run_dir / "tensorboard" / "train").glob("events.out.tfevents.*")):
        for event in read_events(path):
            for value in event.summary.value:
                if value.tag == "optimizer/learning_rate":
                    from tensorboard.util import tensor_util

                    out.append((event.step, float(tensor_util.make_ndarray(value.tensor))))
    return out


@pytest.mark.parametrize("steps_per_execution", [0, 1, 3])
def test_warmup_cosine_run_logs_the_rate_per_epoch_and_per_step(tmp_path, steps_per_execution):
    out = tmp_path / "run"
    trainer_params = make_params(
        out, epochs=3, lr_schedule="cosine", warmup_steps=6, export=False, steps_per_execution=steps_per_execution
    )
    trainer = trainrig.Trainer(trainer_params, PlainModel(), TinyData())
    history = trainer.train()
    steps = trainer.context.steps_per_epoch
    assert steps == 4
    schedule = learning_rate_schedule(trainer_params, steps)
    # epoch values: the schedule after e epochs, the same numbers `trainrig schedule` prints
    boundaries = epoch_boundary_rates(trainer_params, steps)
    assert history["learning_rate"] == pytest.approx([r["learning_rate"] for r in boundaries[1:]], rel=1e-6)
    assert history["learning_rate"][0] == pytest.approx(0.01 * (1 + np.cos(np.pi * 6 / 12)) / 2 * 4 / 6, rel=1e-6)
    # per step: every optimizer step once, at step optimizer.iterations, however many steps an execution ran
    written = step_rates(out)
    every_step = list(range(3 * steps + 1))
    assert [s for s, _ in written] == every_step
    assert [v for _, v in written] == pytest.approx(rates(schedule, every_step), rel=1e-6, abs=1e-12)
    assert written[0] == (0, 0.0)
    # one learning-rate tag, per optimizer step (the epoch values are in the history only)
    train = tensorboard_tensors(out / "tensorboard" / "train")
    assert sorted(train["optimizer/learning_rate"]) == every_step
    assert not [tag for tag in train if tag.endswith("learning_rate") and tag != "optimizer/learning_rate"]


def test_tensorboard_step_rate_follows_reduce_lr_and_constant_rates(tmp_path):
    """A constant rate is a variable Keras' ReduceLROnPlateau may change: the per-step value follows it."""
    out = tmp_path / "run"
    trainer = trainrig.Trainer(
        make_params(out, epochs=4, learning_rate=0.04, export=False, reduce_lr=ReduceLRParams(patience=1, min_delta=10.0)),
        PlainModel(),
        TinyData(),
    )
    history = trainer.train()
    written = dict(step_rates(out))
    assert sorted(written) == list(range(17))
    for epoch, rate in enumerate(history["learning_rate"]):  # the epoch value is the rate at that epoch's last step
        assert written[4 * (epoch + 1)] == pytest.approx(rate)


# --- resume ------------------------------------------------------------------------------------------

RESUME_OPTIONS = {"lr_schedule": "cosine", "warmup_steps": 30, "learning_rate": 0.02}  # 23 steps per epoch, 3 epochs


def test_kill_in_the_warmup_then_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    """SIGKILL at step 25 (inside the 30-step warmup, newest checkpoint at step 20), resume, compare bit for bit;
    TensorBoard's per-step rate has every step once, with the reference's values."""
    reference = tmp_path / "reference"
    resumed = tmp_path / "resumed"
    procs = [start_resume_script(out, mode, RESUME_OPTIONS) for out, mode in ((reference, "full"), (resumed, "kill-batch:25"))]
    outputs = [completed(p) for p in procs]
    expected = resume_result(outputs[0])
    assert outputs[1].returncode == -9, outputs[1].stderr[-3000:]
    result = resume_result(resume_script(resumed, "resume", RESUME_OPTIONS))
    assert result["hash"] == expected["hash"]
    assert result["history"] == expected["history"]
    assert 0 < result["history"]["learning_rate"][0] < RESUME_OPTIONS["learning_rate"]  # epoch 1 ends inside the warmup
    written, reference_rates = step_rates(resumed), step_rates(reference)
    assert [s for s, _ in written] == sorted({s for s, _ in written})  # no step twice
    assert written == reference_rates
