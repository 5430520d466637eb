"""``trainer.optimizer`` (any keras optimizer or ``module:Class``), ``optimizer_options``, ``weight_decay``
and gradient clipping: names, options reaching the optimizer, every bad input as one line before
training, and clipping that sums over replicas before it clips (two replicas = one device)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import trainrig
from fixtures_pkg.helpers import finish, last_json_line, make_params, start_python
from fixtures_pkg.tinymodels import PlainModel, TinyData
from trainrig.errors import TrainrigError
from trainrig.params import from_dict
from trainrig.train.optimizer import (
    ClipSummedGradients,
    check_optimization,
    keras_optimizer_classes,
    make_optimizer,
    optimizer_options_of,
    resolve_optimizer,
)
from trainrig.train.setup import check_params


class NoDecay(keras.optimizers.SGD):
    """A user's optimizer that takes no weight decay and no clipping (its ``__init__`` hands nothing on)."""

    def __init__(self, learning_rate=0.01, boost=1.0):
        super().__init__(learning_rate=learning_rate)
        self.boost = boost


class Halving(keras.optimizers.SGD):
    """A user's optimizer with an option of its own: SGD with ``scale`` times the gradient."""

    def __init__(self, scale=0.5, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient * self.scale, variable, learning_rate)


def params(**overrides) -> trainrig.TrainerParams:
    return trainrig.TrainerParams(**{"epochs": 3, **overrides})


def one_line(params_or_call, *args) -> str:
    """The message of the TrainrigError that checking ``params`` (or calling ``params_or_call(*args)``) raises."""
    with pytest.raises(TrainrigError) as info:
        if callable(params_or_call):
            params_or_call(*args)
        else:
            check_params(params_or_call)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        ("adam", keras.optimizers.Adam),
        ("Adam", keras.optimizers.Adam),
        ("ADAM", keras.optimizers.Adam),
        ("adamw", keras.optimizers.AdamW),
        ("AdamW", keras.optimizers.AdamW),
        ("sgd", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
        ("RMSprop", keras.optimizers.RMSprop),
        ("lion", keras.optimizers.Lion),
        ("schedule_free_adamw", keras.optimizers.ScheduleFreeAdamW),
        ("ScheduleFreeAdamW", keras.optimizers.ScheduleFreeAdamW),
        ("test_optimizer:Halving", Halving),
    ],
)
def test_optimizer_names_any_case_snake_or_class_name_or_module_class(name, cls):
    assert resolve_optimizer(name) is cls


def test_every_keras_optimizer_is_available_and_today_default_is_adam():
    names = keras_optimizer_classes()
    assert {"adam", "adamw", "sgd", "rmsprop", "lion", "nadam", "adafactor", "lamb", "ftrl"} <= set(names)
    assert not {"loss_scale_optimizer", "multi_optimizer", "optimizer"} & set(names)
    assert trainrig.TrainerParams().optimizer == "adam"
    assert optimizer_options_of(keras.optimizers.Adam)[:4] == ["beta_1", "beta_2", "epsilon", "amsgrad"]
    assert "learning_rate" not in optimizer_options_of(keras.optimizers.Adam)


@pytest.mark.parametrize("name", sorted(keras_optimizer_classes()))
def test_every_keras_optimizer_takes_a_step_with_warmup_and_clipping(name):
    """Each optimizer is built by make_optimizer (warmup + cosine, global clipping) and applies a gradient.
    Ftrl divides by the learning rate, which a warmup starts at 0: refused with a warmup, fine without."""
    variable = keras.Variable(np.ones((3, 2), "float32"))
    options = dict(optimizer=name, lr_schedule="cosine", warmup_steps=2, global_clipnorm=1.0)
    if name == "ftrl":
        assert one_line(params(**options)) == (
            "optimizer Ftrl divides by the learning rate, which a warmup (trainer.warmup_steps/warmup_epochs) starts "
            "at 0: use no warmup with it"
        )
        options["warmup_steps"] = 0
    optimizer = make_optimizer(params(**options), 4)
    optimizer.build([variable])
    for _ in range(3):
        optimizer.apply([keras.ops.ones((3, 2))], [variable])
    assert int(optimizer.iterations) == 3
    assert np.all(np.isfinite(variable.numpy())) and not np.array_equal(variable.numpy(), np.ones((3, 2)))


# --- options reach the optimizer ------------------------------------------------------------------


def test_options_weight_decay_and_clipping_reach_the_keras_optimizer():
    optimizer = make_optimizer(
        params(optimizer="SGD", optimizer_options={"momentum": 0.9, "nesterov": True}, weight_decay=0.01, clipvalue=0.5), 4
    )
    assert type(optimizer) is keras.optimizers.SGD  # one device: keras' own class
    assert (optimizer.momentum, optimizer.nesterov, optimizer.weight_decay, optimizer.clipvalue) == (0.9, True, 0.01, 0.5)
    adamw = make_optimizer(params(optimizer="adamw"), 4)
    assert adamw.weight_decay == pytest.approx(0.004)  # unset: the optimizer's own default, as before
    assert make_optimizer(params(optimizer="adamw", weight_decay=0.0), 4).weight_decay == 0.0
    assert make_optimizer(params(optimizer="adam", global_clipnorm=2.0), 4).global_clipnorm == 2.0
    assert make_optimizer(params(optimizer="adam", clipnorm=3.0), 4).clipnorm == 3.0
    user = make_optimizer(params(optimizer="test_optimizer:Halving", optimizer_options={"scale": 0.25, "momentum": 0.5}), 4)
    assert isinstance(user, Halving) and (user.scale, user.momentum) == (0.25, 0.5)


def test_clipping_and_weight_decay_follow_keras_semantics():
    """One SGD step (lr 0.5) on w = [1, 1] with gradient [3, 4] (norm 5)."""

    def step(**options):
        w = keras.Variable(np.ones(2, "float32"))
        optimizer = make_optimizer(params(optimizer="sgd", learning_rate=0.5, **options), 4)
        optimizer.build([w])
        optimizer.apply([keras.ops.convert_to_tensor(np.array([3.0, 4.0], "float32"))], [w])
        return w.numpy()

    np.testing.assert_allclose(step(), [1 - 1.5, 1 - 2.0])
    np.testing.assert_allclose(step(global_clipnorm=1.0), [1 - 0.5 * 0.6, 1 - 0.5 * 0.8], rtol=1e-6)
    np.testing.assert_allclose(step(clipnorm=2.5), [1 - 0.5 * 1.5, 1 - 0.5 * 2.0], rtol=1e-6)
    np.testing.assert_allclose(step(clipvalue=3.5), [1 - 0.5 * 3.0, 1 - 0.5 * 3.5], rtol=1e-6)
    # decoupled weight decay: w -= lr * wd * w before the gradient step
    np.testing.assert_allclose(step(weight_decay=0.1), [1 - 0.05 - 1.5, 1 - 0.05 - 2.0], rtol=1e-6)


def test_optimizer_options_end_to_end_on_a_tiny_model(tmp_path):
    """A run with lion + options + weight decay + clipping trains, logs and writes them to params.json."""
    options = dict(
        optimizer="lion", optimizer_options={"beta_1": 0.95}, weight_decay=0.05, global_clipnorm=1.0, export=False
    )
    trainer = trainrig.Trainer(make_params(tmp_path / "run", learning_rate=0.003, **options), PlainModel(), TinyData())
    history = trainer.train()
    assert isinstance(trainer.optimizer, keras.optimizers.Lion)
    assert (trainer.optimizer.beta_1, trainer.optimizer.weight_decay, trainer.optimizer.global_clipnorm) == (0.95, 0.05, 1.0)
    assert history["learning_rate"] == pytest.approx([0.003, 0.003])
    assert all(np.isfinite(history["loss"]))
    saved = json.loads((tmp_path / "run" / "params.json").read_text())["trainer"]
    assert {k: saved[k] for k in options} == options
    assert from_dict(trainrig.TrainerParams, saved).optimizer_options == {"beta_1": 0.95}  # round trip


def test_adam_default_run_is_unchanged(tmp_path):
    """The default optimizer is keras' Adam with only the learning rate set (today's optimizer)."""
    trainer = trainrig.Trainer(make_params(tmp_path / "run", epochs=1, export=False), PlainModel(), TinyData())
    trainer.train()
    optimizer = trainer.optimizer
    assert type(optimizer) is keras.optimizers.Adam
    reference = keras.optimizers.Adam(learning_rate=0.01)
    for key in ("beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        assert getattr(optimizer, key) == getattr(reference, key), key


# --- bad input: one line, before anything runs --------------------------------------------------


def test_unknown_optimizer_lists_the_valid_ones():
    message = one_line(params(optimizer="adamm"))
    assert message.startswith("unknown trainer.optimizer 'adamm'; valid: adadelta, adafactor, adagrad, adam, adamax, adamw,")
    assert "lion" in message and "sgd" in message and message.endswith("or module:Class")


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            dict(optimizer="adam", optimizer_options={"beta1": 0.9}),
            "unknown option 'beta1' in trainer.optimizer_options for optimizer Adam; its options: beta_1, beta_2, "
            "epsilon, amsgrad, use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor, name",
        ),
        (
            dict(optimizer="sgd", optimizer_options={"beta_1": 0.9}),
            "unknown option 'beta_1' in trainer.optimizer_options for optimizer SGD; its options: momentum, nesterov,",
        ),
        (
            dict(optimizer_options={"learning_rate": 0.1}),
            "trainer.optimizer_options 'learning_rate' is not an optimizer option here: set trainer.learning_rate",
        ),
        (
            dict(optimizer_options={"clipnorm": 1.0}),
            "trainer.optimizer_options 'clipnorm' is not an optimizer option here: set trainer.clipnorm instead",
        ),
        (
            dict(optimizer_options={"gradient_accumulation_steps": 2}),
            "trainer.optimizer_options 'gradient_accumulation_steps' is not an optimizer option here",
        ),
        (
            dict(optimizer="test_optimizer:NoDecay", weight_decay=0.1),
            "trainer.weight_decay: optimizer NoDecay has no weight decay (leave trainer.weight_decay null)",
        ),
        (dict(optimizer="test_optimizer:NoDecay", clipnorm=1.0), "trainer.clipnorm: optimizer NoDecay takes no clipnorm"),
        (
            dict(clipnorm=1.0, global_clipnorm=1.0),
            "trainer.clipnorm and trainer.global_clipnorm cannot be combined: set at most one of clipnorm, "
            "clipvalue and global_clipnorm (as in keras)",
        ),
        (dict(clipvalue=1.0, global_clipnorm=1.0), "trainer.clipvalue and trainer.global_clipnorm cannot be combined"),
        (dict(optimizer="test_optimizer:params"), "trainer.optimizer 'test_optimizer:params' must name a keras.optimizers.Optimizer subclass"),
        (dict(optimizer="no_such_module:Opt"), "cannot import module 'no_such_module' for trainer.optimizer"),
    ],
)
def test_bad_optimizer_settings_are_one_line_errors(overrides, expected):
    assert one_line(params(**overrides)).startswith(expected)


@pytest.mark.parametrize("name", ["clipnorm", "clipvalue", "global_clipnorm"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("inf")])
def test_clipping_must_be_positive(name, value):
    with pytest.raises(TrainrigError, match=f"trainer.{name} must be a finite number > 0, got"):
        from_dict(trainrig.TrainerParams, {name: value}, "trainer")


def test_weight_decay_must_be_a_number_at_least_zero():
    with pytest.raises(TrainrigError, match="trainer.weight_decay must be >= 0, got -0.1"):
        from_dict(trainrig.TrainerParams, {"weight_decay": -0.1}, "trainer")
    assert from_dict(trainrig.TrainerParams, {"weight_decay": None}, "trainer").weight_decay is None


def test_bad_optimizer_fails_before_anything_is_written(tmp_path):
    with pytest.raises(TrainrigError, match="unknown option 'momentum' in trainer.optimizer_options for optimizer Adam"):
        trainrig.Trainer(make_params(tmp_path / "run", optimizer_options={"momentum": 0.9}), PlainModel(), TinyData()).train()
    assert not (tmp_path / "run").exists()


def test_keras_rejecting_an_option_value_is_one_line():
    message = one_line(make_optimizer, params(optimizer_options={"use_ema": True, "ema_momentum": 2.0}), 4)
    assert message.startswith("trainer.optimizer adam with options {'use_ema': True, 'ema_momentum': 2.0}: ")
    assert "ema_momentum" in message


def test_check_optimization_needs_no_tensorflow_runtime():
    """check_params runs before the strategy splits the CPU: the checks construct nothing in TensorFlow."""
    code = """
    import trainrig
    from tensorflow.python.eager import context
    from trainrig.train.setup import check_params
    check_params(trainrig.TrainerParams(epochs=4, optimizer="lion", optimizer_options={"beta_1": 0.9}, weight_decay=0.1,
                                       clipnorm=1.0, lr_schedule="piecewise", warmup_epochs=1,
                                       lr_schedule_options={"boundaries": [2], "values": [0.1, 0.01]}))
    print("[%s]" % str(context.context()._context_handle is None).lower())
    """
    assert last_json_line(finish(start_python(code))) == [True]


# --- several replicas: clip the summed gradient ---------------------------------------------------

REPLICA_RUN = """
import json, sys
import keras
import trainrig
from fixtures_pkg.helpers import make_params
from fixtures_pkg.replicas import ReplicaModel
from fixtures_pkg.tinymodels import TinyData
import trainrig.train.optimizer as optimizer_module

spec = json.loads(sys.argv[1])
if spec.get("unfixed"):  # keras' own clipping of each replica's share: what the fix is for
    optimizer_module._replica_safe = lambda cls: cls
out = {}
for name, options in spec["configs"].items():
    params = make_params(f"{spec['root']}/{name}", epochs=2, batch_size=16, seed=7, deterministic=True, export=False,
                         print_samples=0, devices=spec["devices"],
                         strategy="mirrored" if spec["devices"] > 1 else "default", **options)
    trainer = trainrig.Trainer(params, ReplicaModel(), TinyData())
    history = trainer.train()
    out[name] = {"replicas": trainer.parts.strategy.num_replicas_in_sync, "class": type(trainer.optimizer).__mro__[1].__name__,
                 "loss": history["loss"], "learning_rate": history["learning_rate"],
                 "weights": [w.tolist() for w in trainer.keras_model.get_weights()]}
print(json.dumps(out))
"""

REPLICA_CONFIGS = {
    "global_clipnorm": dict(optimizer="sgd", learning_rate=0.1, global_clipnorm=0.05, lr_schedule="cosine", warmup_steps=3),
    "clipnorm": dict(optimizer="adamw", learning_rate=0.02, clipnorm=0.02, weight_decay=0.1),
    "clipvalue": dict(optimizer="sgd", learning_rate=0.1, clipvalue=0.005, optimizer_options={"momentum": 0.9}),
}


@pytest.fixture(scope="module")
def replica_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip-replicas")
    specs = {
        "one": dict(devices=0, configs=REPLICA_CONFIGS),
        "two": dict(devices=2, configs=REPLICA_CONFIGS),
        "two-unfixed": dict(devices=2, configs={"global_clipnorm": REPLICA_CONFIGS["global_clipnorm"]}, unfixed=True),
    }
    procs = {key: start_python(REPLICA_RUN, json.dumps({**spec, "root": str(root / key)})) for key, spec in specs.items()}
    return {key: last_json_line(finish(proc, timeout=400)) for key, proc in procs.items()}


def max_difference(one: list, two: list) -> float:
    return max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(one, two, strict=True))


@pytest.mark.parametrize("config", list(REPLICA_CONFIGS))
def test_two_replicas_clip_like_one_device(replica_runs, config):
    one, two = replica_runs["one"][config], replica_runs["two"][config]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert two["class"] == ClipSummedGradients.__name__  # the clipping mixin is in front of keras' class
    assert max_difference(one["weights"], two["weights"]) <= 1e-5
    assert np.allclose(one["loss"], two["loss"], rtol=1e-5) and np.allclose(one["learning_rate"], two["learning_rate"])


def test_keras_clipping_of_replica_shares_would_differ(replica_runs):
    """The test above can fail: keras' own per-share clipping moves the weights visibly differently."""
    one, unfixed = replica_runs["one"]["global_clipnorm"], replica_runs["two-unfixed"]["global_clipnorm"]
    assert max_difference(one["weights"], unfixed["weights"]) > 1e-3


def test_check_optimization_is_part_of_check_params():
    check_optimization(params())
    with pytest.raises(TrainrigError):
        check_params(params(optimizer="nope"))
