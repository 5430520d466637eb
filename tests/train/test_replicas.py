"""Several replicas (``trainer.devices``) against one device, on even and uneven batches.

A MirroredStrategy splits every global batch into one share per replica; a last batch of one row
leaves the second of two replicas an empty share. Losses, metrics, the metric suite and the
gradients must not care: two replicas give one device's history and weights. Logical CPU devices
must be configured before TensorFlow's runtime starts, so every multi-device run is a fresh process.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import trainrig
from fixtures_pkg.helpers import finish, last_json_line, start_python
from fixtures_pkg.tinymodels import PlainModel
from trainrig.metrics import SUITE_NAMES

RUN = """
import json, sys
from fixtures_pkg.replicas import run
print(json.dumps(run(json.loads(sys.argv[1]))))
"""

# even: every batch of 16 splits 8/8. uneven: batches of 15 split 8/7, and the last batch of the
# training (61 = 4*15 + 1) and of the validation (31 = 2*15 + 1) has ONE row: shares 1/0.
CASES = {
    "even": dict(n_train=64, n_val=32, batch_size=16),
    "uneven": dict(n_train=61, n_val=31, batch_size=15, steps_per_execution=2),
}
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{(case, devices): result of fixtures_pkg.replicas.run}``; the four runs in parallel processes."""
    root = tmp_path_factory.mktemp("replicas")
    procs = {}
    for case, spec in CASES.items():
        for devices in (0, 2):
            full = {**spec, "devices": devices, "epochs": 2, "output_dir": str(root / f"{case}-{devices}")}
            procs[case, devices] = start_python(RUN, json.dumps(full))
    return {key: last_json_line(finish(proc, timeout=300)) for key, proc in procs.items()}


def history_differences(one: dict, two: dict) -> dict[str, float]:
    assert set(one) == set(two)
    return {name: float(np.max(np.abs(np.subtract(one[name], two[name])))) for name in one}


def max_weight_difference(one: list, two: list) -> float:
    return max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(one, two, strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_two_replicas_give_the_history_and_weights_of_one_device(runs, case):
    one, two = runs[case, 0], runs[case, 2]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert two["strategy"] == "MirroredStrategy"
    assert one["changed_arrays"] == two["changed_arrays"] == []
    assert one["iterations"] == two["iterations"] == 2 * math.ceil(CASES[case]["n_train"] / CASES[case]["batch_size"])
    history = two["history"]
    # every kind of value is there: losses, keras/extended/multi metrics, validation, the metric suite
    for name in ["loss", "mse", "bce", "abs", "l1", "mae", "acc", "sq", "m_mae", "m_mse"]:
        assert name in history and "val_" + name in history, name
    assert {f"Test {name}" for name in SUITE_NAMES["binary"]} <= set(history)
    for name, values in history.items():
        assert len(values) == 2 and all(np.isfinite(values)), (name, values)
    differences = history_differences(one["history"], history)
    weights = max_weight_difference(one["weights"], two["weights"])
    print(f"{case}: max |dw| {weights:.3g}; history max |d| {max(differences.values()):.3g}", differences)
    for name, difference in differences.items():
        scale = max(1.0, float(np.max(np.abs(one["history"][name]))))
        assert difference <= TOLERANCE * scale, (name, one["history"][name], history[name])
    assert weights <= TOLERANCE


def test_an_empty_share_counts_nothing(runs):
    # the uneven case really has a last batch smaller than the replica count, in training and validation
    spec = CASES["uneven"]
    assert spec["n_train"] % spec["batch_size"] == 1 and spec["n_val"] % spec["batch_size"] == 1
    history = runs["uneven", 2]["history"]
    # losses are row means (not batch means): the total is the weighted sum of the named ones + L2
    for prefix in ["", "val_"]:
        weighted = sum(w * np.array(history[prefix + n]) for n, w in {"mse": 0.5, "bce": 2.0, "abs": 1.0, "l1": 0.25}.items())
        assert np.all(np.array(history[prefix + "loss"]) >= weighted - 1e-6)
        np.testing.assert_allclose(history[prefix + "loss"], weighted, rtol=0, atol=0.05)  # + a small L2 term
    np.testing.assert_allclose(history["val_abs"], history["val_mae"], rtol=1e-5)
    np.testing.assert_allclose(history["val_mae"], history["val_m_mae"], rtol=1e-5)
    np.testing.assert_allclose(history["val_sq"], history["val_m_mse"], rtol=1e-5)


# --- trainer.devices -----------------------------------------------------------------------------

DEVICES_AFTER_START = """
import json
import tensorflow as tf
import trainrig
from fixtures_pkg.helpers import make_params
from fixtures_pkg.tinymodels import PlainModel, TinyData
from trainrig.train.distribution import make_strategy

out = {}
tf.constant(1.0) + 1.0  # TensorFlow's runtime starts with the one CPU device
try:
    params = make_params("%s", strategy="mirrored", devices=2)
    trainrig.Trainer(params, PlainModel(), TinyData()).train()
except trainrig.TrainrigError as e:
    out["error"] = str(e)
out["devices1"] = make_strategy("mirrored", 1).num_replicas_in_sync
out["devices0"] = make_strategy("mirrored", 0).num_replicas_in_sync
print(json.dumps(out))
"""

DEVICES_BEFORE_START = """
import json
import trainrig
from trainrig.train.distribution import make_strategy

out = {"first": make_strategy("mirrored", 3).extended.worker_devices}
out["again"] = make_strategy("mirrored", 3).num_replicas_in_sync  # the same count again is fine
out["devices0"] = make_strategy("mirrored", 0).extended.worker_devices
try:
    make_strategy("mirrored", 2)
except trainrig.TrainrigError as e:
    out["error"] = str(e)
print(json.dumps(out))
"""


def test_devices_split_the_cpu_only_before_tensorflow_starts(tmp_path):
    after = start_python(DEVICES_AFTER_START % (tmp_path / "run"))
    before = start_python(DEVICES_BEFORE_START)
    after, before = last_json_line(finish(after)), last_json_line(finish(before))
    assert "\n" not in after["error"]
    assert "trainer.devices is 2" in after["error"] and "already initialised" in after["error"]
    assert "fresh process" in after["error"]
    assert after["devices1"] == after["devices0"] == 1
    assert [d.rsplit("/", 1)[-1] for d in before["first"]] == ["device:CPU:0", "device:CPU:1", "device:CPU:2"]
    assert before["again"] == 3
    assert [d.rsplit("/", 1)[-1] for d in before["devices0"]] == ["device:CPU:0"]  # 0 = the one CPU
    assert "trainer.devices is 2" in before["error"] and "with 3 logical CPU device(s)" in before["error"]


def test_devices_above_one_need_the_mirrored_strategy(tiny_params, tiny_data):
    with pytest.raises(trainrig.TrainrigError) as info:
        trainrig.Trainer(tiny_params("run", devices=2), PlainModel(), tiny_data).train()
    message = str(info.value)
    assert "trainer.devices 2 needs trainer.strategy mirrored" in message
    assert "trainer.strategy default" in message and "must be 0 or 1" in message
    with pytest.raises(ValueError, match="devices must be >= 0, got -1"):
        trainrig.TrainerParams(devices=-1)
    assert trainrig.TrainerParams().devices == 0


REPLICA_PARTS = """
import json
import keras
import tensorflow as tf
from trainrig.train.distribution import ReplicaParts, make_strategy

strategy = make_strategy("mirrored", 2)
with strategy.scope():
    seen, restored, summed = keras.metrics.Mean(), keras.metrics.Mean(), keras.metrics.Mean()

@tf.function
def update():
    def one_replica():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        seen.update_state(tf.cast(replica, tf.float32) * 10.0 + 1.0)  # replica 0 adds 1, replica 1 adds 11
    strategy.run(one_replica)

update()
parts = ReplicaParts(strategy, seen.variables).read()
ReplicaParts(strategy, restored.variables).assign(parts)
for variable, value in zip(summed.variables, seen.variables):
    variable.assign(value)  # what restoring the total alone does
components = lambda metric: [[float(c.numpy()) for c in v.value.values] for v in metric.variables]
print(json.dumps({"parts": [p.tolist() for p in parts], "restored": components(restored), "summed": components(summed),
                  "results": [float(m.result()) for m in (seen, restored, summed)]}))
"""


def test_replica_parts_put_each_replicas_share_of_a_metric_back():
    out = last_json_line(finish(start_python(REPLICA_PARTS)))
    assert out["parts"] == [[1.0, 11.0], [1.0, 1.0]]  # total, count of each replica
    assert out["restored"] == out["parts"]
    assert out["summed"] != out["parts"]  # the total alone does not give the parts back
    assert out["results"] == [6.0, 6.0, 6.0]
