"""trainrig-imageaug with real TensorFlow on tiny images: conventions checked by hand, per-sample seeding,
fusion, errors, the Keras layers, the plugin's registration.

Needs this distribution installed (``pip install -e plugins/trainrig-imageaug``) and scipy (the
``test`` extra) for the warp's reference comparison.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys
import threading

import numpy as np
import pytest

import trainrig
from trainrig.data import random_draws
from trainrig.data.augmentation import Compose, DataAugmentationSequence
from trainrig.errors import TrainrigError
from trainrig.train.augment import build_augmentator
from trainrig_imageaug.geometric import (
    AffineWarp,
    Rotation,
    Zoom,
    centered,
    rotation_matrix,
    shear_matrix,
    shift_matrix,
    warp,
    zoom_matrix,
)
from trainrig_imageaug.keras_layers import EXCLUDED_LAYERS, KerasLayerAugmentation, augmentation_layer_classes
from trainrig_imageaug.registry import IMAGE_OPS, augmentations

REGISTRY = augmentations()

# One valid option set per ImageDataGenerator-style op (ranges wide enough that seeds differ visibly).
OPS = {
    "rotation": {"rotation_range": 40},
    "width_shift": {"width_shift_range": 0.25},
    "height_shift": {"height_shift_range": 2},
    "shear": {"shear_range": 30},
    "zoom": {"zoom_range": [0.6, 1.4]},
    "horizontal_flip": {},
    "vertical_flip": {},
    "brightness": {"brightness_range": [0.3, 1.7]},
    "channel_shift": {"channel_shift_range": 60.0},
}

# Values for the required constructor arguments of Keras layers (the rest use their defaults).
KERAS_REQUIRED = {
    "factor": 0.3,
    "height_factor": 0.2,
    "width_factor": 0.2,
}
KERAS_REQUIRED_BY_LAYER = {"RandomPosterization": {"factor": 4}}


def build(name: str, **options):
    return build_augmentator([{"name": name, **options}], REGISTRY)


def textured(n=6, h=12, w=10, c=3, dtype=np.float32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, h, w, c)).astype(dtype)


def marked(h, w, row, col, c=1) -> np.ndarray:
    """A batch of one zero image with a single pixel of value 1 at (row, col)."""
    x = np.zeros((1, h, w, c), np.float32)
    x[0, row, col] = 1.0
    return x


def peak(image) -> tuple[int, int]:
    return tuple(int(v) for v in np.unravel_index(np.argmax(image[..., 0]), image.shape[:2]))


SEEDS = np.array([3, 17, 123456, 99, 2024, 7], dtype=np.int64)


# --- matrices and warp: hand-checked conventions ----------------------------------------------------


def test_rotation_positive_angle_turns_counter_clockwise_as_displayed():
    x = marked(5, 5, 0, 2)  # top centre
    ccw = warp(x, centered(rotation_matrix([90.0]), 5, 5))
    assert peak(ccw[0]) == (2, 0)  # left centre: counter-clockwise with row 0 at the top
    np.testing.assert_allclose(ccw[0, 2, 0, 0], 1.0, atol=1e-5)
    assert peak(warp(x, centered(rotation_matrix([-90.0]), 5, 5))[0]) == (2, 4)
    assert peak(warp(x, centered(rotation_matrix([180.0]), 5, 5))[0]) == (4, 2)


def test_shift_moves_content_down_and_right_by_the_shift():
    x = marked(7, 7, 2, 3)
    out = warp(x, centered(shift_matrix([1.0], [2.0]), 7, 7), fill_mode="constant")
    assert peak(out[0]) == (3, 5)
    np.testing.assert_allclose(out[0, 3, 5, 0], 1.0, atol=1e-6)
    assert peak(warp(x, centered(shift_matrix([-2.0], [-3.0]), 7, 7), fill_mode="constant")[0]) == (0, 0)


def test_zoom_below_one_moves_pixels_away_from_the_centre():
    x = marked(9, 9, 4, 5)  # one column right of the centre (4, 4)
    out = Zoom(zoom_range=[0.5, 0.5], fill_mode="constant").random_transform_batch(x, np.array([1]))
    # factor 0.5: output column c samples input column 4 + 0.5 (c - 4): the pixel now spans columns 5..7
    np.testing.assert_allclose(out[0, 4, :, 0], [0, 0, 0, 0, 0, 0.5, 1, 0.5, 0], atol=1e-6)
    out = Zoom(zoom_range=[2.0, 2.0], fill_mode="constant", interpolation="nearest").random_transform_batch(
        marked(9, 9, 4, 6), np.array([1])
    )
    assert peak(out[0]) == (4, 5)  # factor 2: half as far from the centre


def test_shear_matrix_is_image_data_generators():
    m = shear_matrix([30.0])[0]
    r, c = 2.0, 4.0
    np.testing.assert_allclose(m @ [r, c, 1.0], [r - c * np.sin(np.pi / 6), c * np.cos(np.pi / 6), 1.0])
    np.testing.assert_allclose(zoom_matrix([2.0], [3.0])[0] @ [1.0, 1.0, 1.0], [2.0, 3.0, 1.0])


def test_warp_matches_scipy_per_channel_reference():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = textured(n=2, h=11, w=13, c=2)
    m = rotation_matrix([23.0, -41.0]) @ shift_matrix([1.5, -0.7], [-2.2, 0.4]) @ shear_matrix([12.0, -8.0])
    m = centered(m @ zoom_matrix([0.8, 1.3], [1.1, 0.9]), 11, 13)
    out = warp(x, m, fill_mode="nearest")
    for i in range(2):
        for c in range(2):
            ref = ndimage.affine_transform(x[i, ..., c], m[i, :2, :2], m[i, :2, 2], order=1, mode="nearest")
            np.testing.assert_allclose(out[i, ..., c], ref, atol=2e-3)


def test_rotation_op_uses_its_own_matrices_in_range():
    op = Rotation(rotation_range=30)
    m = op.matrices(SEEDS, 12, 10)
    angles = np.rad2deg(np.arctan2(m[:, 0, 1], m[:, 0, 0]))
    assert np.all(np.abs(angles) <= 30) and len(set(np.round(angles, 6))) == len(SEEDS)
    x = textured()
    np.testing.assert_array_equal(op.random_transform_batch(x, SEEDS), warp(x, m, "nearest", 0.0, "bilinear"))


def test_shift_draws():
    pixels = build("width_shift", width_shift_range=3).raw_matrices(np.arange(400), 10, 20)[:, 1, 2]
    assert set(np.unique(-pixels)) == set(range(-3, 4))  # integers in [-3, 3], both ends included
    fraction = build("height_shift", height_shift_range=0.1).raw_matrices(np.arange(400), 30, 20)[:, 0, 2]
    assert np.all(np.abs(fraction) <= 3.0) and np.abs(fraction).max() > 2.5  # 0.1 of 30 rows
    assert not np.allclose(fraction, np.round(fraction))  # fractions are not rounded


# --- the other ops: hand-checked ---------------------------------------------------------------------


def test_flips():
    x = textured()
    np.testing.assert_array_equal(build("horizontal_flip", p=1).random_transform_batch(x, SEEDS), x[:, :, ::-1])
    np.testing.assert_array_equal(build("vertical_flip", p=1.0).random_transform_batch(x, SEEDS), x[:, ::-1])
    np.testing.assert_array_equal(build("horizontal_flip", p=0).random_transform_batch(x, SEEDS), x)
    many = np.repeat(x[:1], 64, axis=0)
    out = build("horizontal_flip").random_transform_batch(many, np.arange(64))
    flipped = np.array([np.array_equal(o, x[0, :, ::-1]) for o in out])
    assert all(f or np.array_equal(o, x[0]) for f, o in zip(flipped, out)) and 10 < flipped.sum() < 54


def test_brightness_multiplies_and_clips():
    x = textured()
    halved = build("brightness", brightness_range=[0.5, 0.5]).random_transform_batch(x, SEEDS)
    np.testing.assert_allclose(halved, x * 0.5)
    bright = build("brightness", brightness_range=[2, 2]).random_transform_batch(x, SEEDS)
    np.testing.assert_allclose(bright, np.minimum(x * 2, 255))
    unit = build("brightness", brightness_range=[0.5, 1.5], value_range=[0, 1]).random_transform_batch(x / 510, SEEDS)
    factors = unit[:, 0, 0, 0] / (x[:, 0, 0, 0] / 510)
    np.testing.assert_allclose(unit, np.minimum(x / 510 * factors[:, None, None, None], 1.0), rtol=1e-5)
    assert np.all((factors >= 0.5) & (factors <= 1.5)) and np.ptp(factors) > 0.1


def test_channel_shift_adds_one_intensity_and_clips_to_the_image_range():
    x = np.zeros((4, 3, 3, 2), np.float32)
    x[:, 0, 0, 0], x[:, 1, 1, 1], x[:, 2, 2, 0] = 10.0, 100.0, 50.0
    out = build("channel_shift", channel_shift_range=30).random_transform_batch(x, SEEDS[:4])
    shift = out[:, 2, 2, 0] - 50.0  # never clipped: 50 +- 30 stays in [0, 100]
    assert np.all(np.abs(shift) <= 30) and np.ptp(shift) > 1
    np.testing.assert_allclose(out, np.clip(x + shift[:, None, None, None], 0.0, 100.0), atol=1e-5)


# --- seeds ------------------------------------------------------------------------------------------


FUSED = [
    {"name": "rotation", "rotation_range": 30},
    {"name": "zoom", "zoom_range": 0.3},
    {"name": "width_shift", "width_shift_range": 0.2},
    {"name": "shear", "shear_range": 15},
]
BRIGHTER = {"name": "brightness", "brightness_range": [0.8, 1.2]}


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize(
    "ops",
    [[{"name": n, **o}] for n, o in OPS.items()] + [FUSED, FUSED + [BRIGHTER]],
    ids=list(OPS) + ["fused_warp", "fused_warp+brightness"],
)
def test_per_sample_equality_and_distinct_draws(ops, dtype):
    augmentator = build_augmentator(ops, REGISTRY)
    x = textured(dtype=dtype)
    batch = augmentator.random_transform_batch(x, SEEDS)
    assert batch.shape == x.shape and batch.dtype == x.dtype
    for i, seed in enumerate(SEEDS):
        tolerance = 1e-5 if dtype == np.float32 else 1  # uint8: a 1e-5 difference may round differently
        np.testing.assert_allclose(augmentator.random_transform(x[i], seed), batch[i], atol=tolerance)
    same = np.repeat(x[:1], 16, axis=0)
    copies = augmentator.random_transform_batch(same, np.arange(16))
    assert len({c.tobytes() for c in copies}) > 1  # different seeds, different results
    np.testing.assert_array_equal(augmentator.random_transform_batch(x, SEEDS), batch)


def test_uint8_and_grayscale_keep_dtype_shape_and_range():
    x = textured(dtype=np.uint8)
    chain = build_augmentator(FUSED + [{"name": "brightness", "brightness_range": [1.5, 3.0]}], REGISTRY)
    out = chain.random_transform_batch(x, SEEDS)
    assert out.dtype == np.uint8 and out.max() == 255
    gray = x[..., 0]
    out = chain.random_transform_batch(gray, SEEDS)
    assert out.shape == gray.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, chain.random_transform_batch(gray[..., None], SEEDS)[..., 0])


# --- fusion -----------------------------------------------------------------------------------------


def test_neighbouring_geometric_ops_fuse_into_one_warp():
    ops = FUSED[:3] + [{"name": "horizontal_flip"}, {"name": "rotation", "rotation_range": 5}]
    augmentator = build_augmentator(ops, REGISTRY)
    assert isinstance(augmentator, Compose)
    first, flip, last = augmentator.augmentators
    assert isinstance(first, AffineWarp) and [p.name for p in first.parts] == ["rotation", "zoom", "width_shift"]
    assert flip.name == "horizontal_flip" and isinstance(last, Rotation)
    assert isinstance(build_augmentator(FUSED, REGISTRY), AffineWarp)
    different = [{"name": "rotation", "rotation_range": 30, "fill_mode": "constant"}, FUSED[1]]
    assert [a.name for a in build_augmentator(different, REGISTRY).augmentators] == ["rotation", "zoom"]


def test_fused_warp_interpolates_once():
    x = textured(n=3, h=16, w=16)
    warp_op = build_augmentator(FUSED[:2], REGISTRY)
    once = warp_op.random_transform_batch(x, SEEDS[:3])
    parts = [p.matrices(random_draws.derived_seeds(SEEDS[:3], k), 16, 16) for k, p in enumerate(warp_op.parts)]
    np.testing.assert_allclose(once, warp(x, parts[0] @ parts[1]), atol=1e-5)
    twice = warp(warp(x, parts[0]), parts[1])
    assert np.abs(once - twice).mean() > 1.0
    sharpness = lambda y: np.abs(np.diff(y[:, 4:-4, 4:-4], axis=2)).mean()  # noqa: E731
    assert sharpness(once) > sharpness(twice)
    # +45 then -45 degrees: one warp gives the image back, two warps blur it
    there, back = centered(rotation_matrix([45.0]), 16, 16), centered(rotation_matrix([-45.0]), 16, 16)
    np.testing.assert_allclose(warp(x[:1], there @ back), x[:1], atol=1e-2)
    assert np.abs(warp(warp(x[:1], there), back) - x[:1])[:, 5:-5, 5:-5].mean() > 5


# --- errors -----------------------------------------------------------------------------------------


def test_unknown_option_names_the_op_and_its_options():
    valid = "rotation_range, fill_mode, cval, interpolation"
    with pytest.raises(TrainrigError, match=rf"'rotation' has no option 'angle'; its options: {valid}"):
        build("rotation", angle=3)
    keras_valid = "'keras.RandomRotation' has no option 'seed'; its options: factor, fill_mode, interpolation, fill_va"
    with pytest.raises(TrainrigError, match=keras_valid):
        build("keras.RandomRotation", factor=0.1, seed=3)


def test_non_image_input():
    with pytest.raises(TrainrigError) as error:
        build("rotation", rotation_range=10).random_transform_batch(np.zeros((4, 10)), SEEDS[:4])
    assert str(error.value) == (
        "augmentation rotation needs image batches (N, H, W, C) or (N, H, W); got samples of shape (10,)"
    )
    with pytest.raises(TrainrigError, match="augmentation brightness needs image batches"):
        build("brightness", brightness_range=[1, 1]).random_transform(np.zeros(5), seed=1)
    with pytest.raises(TrainrigError, match="augmentation keras.RandomFlip needs image batches"):
        build("keras.RandomFlip").random_transform_batch(np.zeros((2, 3, 4, 5, 6)), SEEDS[:2])


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("rotation", {"rotation_range": -1}, "rotation_range must be a number >= 0"),
        ("rotation", {"rotation_range": "20"}, "rotation_range must be a number >= 0"),
        ("rotation", {}, "missing 1 required positional argument: 'rotation_range'"),
        ("width_shift", {"width_shift_range": -0.1}, "width_shift_range must be a number >= 0: a float < 1"),
        ("shear", {"shear_range": 90}, "shear_range must be < 90"),
        ("zoom", {"zoom_range": 1.5}, r"zoom_range must be a number z with 0 <= z < 1 .* or a pair \[lower, up"),
        ("zoom", {"zoom_range": [1.2, 0.8]}, "0 < lower <= upper"),
        ("zoom", {"zoom_range": 0.2, "fill_mode": "edge"}, "fill_mode must be 'constant', 'nearest', 'reflect' or"),
        ("rotation", {"rotation_range": 1, "interpolation": "cubic"}, "interpolation must be 'bilinear' or 'nearest'"),
        ("rotation", {"rotation_range": 1, "cval": None}, "cval must be a number"),
        ("horizontal_flip", {"p": 2}, r"p must be a number in \[0, 1\]"),
        ("brightness", {"brightness_range": 0.2}, r"brightness_range must be a pair \[low, high\] with 0 <= low"),
        ("brightness", {"brightness_range": [1.2, 0.8]}, "0 <= low <= high"),
        ("brightness", {"brightness_range": [1, 1], "value_range": [1, 0]}, "value_range must be a pair"),
        ("channel_shift", {"channel_shift_range": -5}, "channel_shift_range must be a number >= 0"),
        ("keras.RandomRotation", {}, "missing a required argument: 'factor'"),
        ("keras.RandomRotation", {"factor": 3.0}, "factor"),
    ],
)
def test_bad_options_are_one_line_errors_naming_the_op(name, options, message):
    with pytest.raises(TrainrigError, match=rf"augmentation '{name}' rejected its options .*{message}") as error:
        build(name, **options)
    assert "\n" not in str(error.value)


def test_mirror_fill_mode_is_refused_where_keras_cannot_do_it():
    from trainrig_imageaug.geometric import supported_fill_modes

    if "mirror" in supported_fill_modes():
        build("rotation", rotation_range=5, fill_mode="mirror")
    else:
        with pytest.raises(TrainrigError, match=r"'mirror' not supported by keras.ops.image.affine_transform"):
            build("rotation", rotation_range=5, fill_mode="mirror")


# --- Keras layers -----------------------------------------------------------------------------------


def keras_options(name: str, cls) -> dict:
    params = inspect.signature(REGISTRY[f"keras.{name}"]).parameters.values()
    required = [p.name for p in params if p.default is inspect.Parameter.empty]
    values = {**KERAS_REQUIRED, **KERAS_REQUIRED_BY_LAYER.get(name, {})}
    missing = [r for r in required if r not in values]
    assert not missing, f"keras.{name} needs {missing}: add test values to KERAS_REQUIRED"
    return {r: values[r] for r in required}


def test_keras_layers_discovered_with_their_options():
    names = augmentation_layer_classes()
    assert {"RandomRotation", "RandAugment", "AugMix", "RandomFlip", "RandomZoom"} <= set(names)
    assert not set(EXCLUDED_LAYERS) & set(names) and "Resizing" not in names
    assert set(REGISTRY) == set(IMAGE_OPS) | {f"keras.{n}" for n in names}
    options = list(inspect.signature(REGISTRY["keras.RandomRotation"]).parameters)
    assert options[0] == "factor" and not {"seed", "name", "dtype", "kwargs"} & set(options)


def test_every_keras_layer_applies_deterministically_per_batch():
    x = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    for name, cls in augmentation_layer_classes().items():
        augmentator = build(f"keras.{name}", **keras_options(name, cls))
        assert isinstance(augmentator, KerasLayerAugmentation)
        first = augmentator.random_transform_batch(x, SEEDS[:2])
        assert first.shape == x.shape and first.dtype == x.dtype, name
        np.testing.assert_array_equal(augmentator.random_transform_batch(x, SEEDS[:2]), first, err_msg=name)


@pytest.mark.parametrize("name, options", [("RandomRotation", {"factor": 0.3}), ("RandAugment", {}), ("AugMix", {})])
def test_keras_layer_seeds_decide_the_batch(name, options):
    x = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    augmentator = build(f"keras.{name}", **options)
    results = [augmentator.random_transform_batch(x, np.array([s, s + 1])) for s in (5, 6, 7, 5)]
    np.testing.assert_array_equal(results[0], results[3])
    assert not np.array_equal(results[0], results[1]) or not np.array_equal(results[0], results[2])
    # a fresh instance gives the same batch: the result depends on the seeds only
    fresh = build(f"keras.{name}", **options)
    np.testing.assert_array_equal(fresh.random_transform_batch(x, np.array([5, 6])), results[0])


def test_keras_layer_threads_do_not_mix_their_seeds():
    x = np.random.default_rng(3).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    augmentator = build("keras.RandomRotation", factor=0.4)
    expected = {s: augmentator.random_transform_batch(x, np.arange(s, s + 4)) for s in range(6)}
    got = {}

    def work(s):
        got[s] = augmentator.random_transform_batch(x, np.arange(s, s + 4))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in range(6):
        np.testing.assert_array_equal(got[s], expected[s])


def test_keras_layer_keeps_uint8():
    x = textured(n=2, h=16, w=16, dtype=np.uint8)
    out = build("keras.RandomContrast", factor=0.9).random_transform_batch(x, SEEDS[:2])
    assert out.dtype == np.uint8 and out.shape == x.shape


def test_in_a_data_augmentation_sequence():
    class Batches:
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return {"image": textured(n=4, seed=index, dtype=np.uint8)}, {"label": np.arange(4)}

    ops = FUSED + [{"name": "horizontal_flip"}, {"name": "keras.RandomContrast", "factor": 0.5}]
    batches = [
        DataAugmentationSequence(Batches(), "image", build_augmentator(ops, REGISTRY), n_augmentation=3, seed=0)[1]
        for _ in range(2)
    ]
    inputs, targets = batches[0]
    assert inputs["image"].shape == (12, 12, 10, 3) and inputs["image"].dtype == np.uint8
    np.testing.assert_array_equal(targets["label"], np.tile(np.arange(4), 3))
    np.testing.assert_array_equal(inputs["image"], batches[1][0]["image"])  # same seed, same batch
    assert not np.array_equal(inputs["image"][:4], inputs["image"][4:8])  # the copies differ


# --- the plugin -------------------------------------------------------------------------------------


def test_plugin_is_registered_and_imports_no_tensorflow(monkeypatch):
    points = importlib.metadata.entry_points(group="trainrig")
    assert any(p.name == "imageaug" and p.value == "trainrig_imageaug.plugin" for p in points)
    code = "import sys, trainrig_imageaug.plugin; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "False"
    from trainrig.hooks.manager import PluginManager

    monkeypatch.setenv("TRAINRIG_LOAD_PLUGINS", "imageaug")
    ops = [{"name": "rotation", "rotation_range": 20}, {"name": "zoom", "zoom_range": 0.2}, {"name": "horizontal_flip"}]
    augmentator = trainrig.build_augmentation(ops, PluginManager())
    assert [type(a).__name__ for a in augmentator.augmentators] == ["AffineWarp", "HorizontalFlip"]
    assert augmentator.random_transform_batch(textured(), SEEDS).shape == textured().shape


# --- a run: repeatable, resumable ----------------------------------------------------------------


def _digits_run(out, crash_at: int = 0):
    import keras

    from trainrig.hooks.manager import PluginManager
    from trainrig.train.params import AugmentationParams
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel, DigitsModelParams

    class Crash(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == crash_at:
                raise RuntimeError("simulated crash")

    ops = [
        {"name": "rotation", "rotation_range": 15},
        {"name": "zoom", "zoom_range": 0.1},
        {"name": "keras.RandomContrast", "factor": 0.2, "value_range": [0, 1]},
    ]
    params = trainrig.TrainerParams(
        epochs=2, batch_size=16, steps_per_epoch=6, output_dir=str(out), progress="none", print_samples=0,
        deterministic=True, seed=5, augmentation=AugmentationParams(input="image", n=2, ops=ops),
    )
    callbacks = [Crash()] if crash_at else []
    return trainrig.Trainer(params, DigitsModel(DigitsModelParams(filters=4)), DigitsData(), callbacks, plugins=PluginManager())


def _final_weights(out) -> list:
    return trainrig.load_model(out).get_weights()


def test_a_run_with_image_ops_repeats_and_resumes_bit_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINRIG_LOAD_PLUGINS", "imageaug")  # the root conftest loads no installed plugin
    _digits_run(tmp_path / "a").train()
    _digits_run(tmp_path / "b").train()
    with pytest.raises(RuntimeError, match="simulated crash"):
        _digits_run(tmp_path / "c", crash_at=9).train()  # epoch 2, batch 3
    trainrig.Trainer.resume(tmp_path / "c")
    reference = _final_weights(tmp_path / "a")
    for other in ("b", "c"):
        for expected, got in zip(reference, _final_weights(tmp_path / other)):
            np.testing.assert_array_equal(expected, got)


def test_over_an_array_sequence_the_ops_run_in_tf_data_with_the_same_batches():
    """Every ImageDataGenerator-style op has an in-graph form: trainrig augments inside tf.data, exactly as
    sequence[i] does eagerly (uint8 images, so the dtype round trip is covered too)."""
    from trainrig.data.native_augmentation import NativeAugmented
    from trainrig.data.pipeline import BatchSource

    ops = [
        {"name": "rotation", "rotation_range": 30},
        {"name": "shear", "shear_range": 10},
        {"name": "zoom", "zoom_range": 0.2},
        {"name": "horizontal_flip"},
        {"name": "vertical_flip"},
        {"name": "brightness", "brightness_range": [0.6, 1.4]},
        {"name": "channel_shift", "channel_shift_range": 20},
    ]
    augmentator = build_augmentator(ops, augmentations())
    images = np.random.default_rng(3).integers(0, 256, (19, 6, 7, 3)).astype(np.uint8)
    inner = trainrig.ArraySequence({"image": images}, {"y": np.arange(19)}, 4, shuffle=True, seed=2)
    sequence = DataAugmentationSequence(inner, "image", augmentator, n_augmentation=2, seed=5)
    source = BatchSource(sequence, "training")
    assert isinstance(source.native, NativeAugmented)
    for _ in range(2):
        batches = list(source.dataset(0).as_numpy_iterator())
        assert len(batches) == 5
        for index, (inputs, targets) in enumerate(batches):
            expected_inputs, expected_targets = sequence[index]
            assert inputs["image"].dtype == np.uint8
            np.testing.assert_array_equal(inputs["image"], expected_inputs["image"])
            np.testing.assert_array_equal(targets["y"], expected_targets["y"])
        source.epoch_end()


def test_a_keras_layer_on_images_it_cannot_take_is_one_line_naming_it():
    augmentator = build_augmentator([{"name": "keras.RandomHue", "factor": 0.2, "value_range": [0, 1]}], augmentations())
    inner = trainrig.ArraySequence({"image": np.zeros((4, 8, 8, 1), np.float32)}, {"y": np.arange(4)}, 4)
    sequence = DataAugmentationSequence(inner, "image", augmentator, n_augmentation=2, seed=0)
    with pytest.raises(TrainrigError, match=r"^augmentation keras\.RandomHue failed on a batch of shape \(8, 8, 8, 1\) "
                       r"\(float32\): FailedPreconditionError: input must have 3 channels but input only has 1 channels\.$"):
        sequence[0]
