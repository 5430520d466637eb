"""8. Image augmentation: images per second of the fused ops, and how long an augmented run waits for data.

* Throughput: the full ImageDataGenerator op set (rotation, width and height shift, shear, zoom,
  horizontal flip, brightness) on 32x32x3 float images, a batch of 128 originals augmented
  ``n_augmentation=3`` times (384 images; tiny: 32 originals), as ``DataAugmentationSequence`` calls it:
  - ``imageaug fused``: the ``trainrig-imageaug`` ops built by ``trainrig.build_augmentation`` — the
    five geometric ops fused into one matrix per image, one ``keras.ops.image.affine_transform`` over
    the batch, flip and brightness as one numpy expression each;
  - ``scipy per image``: what ImageDataGenerator did — per image, draw the parameters, compose one
    matrix, one ``scipy.ndimage.affine_transform`` per channel (bilinear, ``nearest`` fill), then the
    brightness factor (the baseline);
  - ``keras layers chained``: ``RandomRotation``, ``RandomTranslation``, ``RandomShear``,
    ``RandomZoom``, ``RandomFlip``, ``RandomBrightness`` in one ``tf.function`` (four warps).
  Each repetition times 10 calls of each side (tiny: 3) after a warm-up call; goal for the ratio
  fused / scipy: >= 3.
* Data wait: the digits tutorial trained as the README's command line does it — three augmented
  copies (rotation 10, zoom 0.1, both shifts 0.1: one warp) of every batch of 32 images, 96 rows a
  step — against the same augmented batches computed beforehand and held in memory (a floor), and
  the augmented batches read alone through trainrig's input pipeline without training. Per side the
  training part of an epoch (the fastest epoch after the first of 10; tiny: of 2 — the fastest,
  because the best model's export and the checkpoint writes run in background threads during some
  epochs and land unevenly on the sides). The slowdown fraction is
  ``max(0, (t_augmented - t_memory) / t_augmented)``: on this CPU-only machine it is the CPU the
  augmentation itself takes from the step (both use the 2 cores) plus any wait for data; the
  pipeline alone taking less than a training epoch shows the reading keeps ahead of the step
  (prefetched). Two networks: the tutorial's (16 filters, a step of about 4 ms on this machine) and
  the same with 64 filters (a step several times longer, where the reading is a smaller share).
  Goal: under 10%.

Needs the plugin: ``pip install -e plugins/trainrig-imageaug``.
"""

from __future__ import annotations

import time

from benchmarks.common import Row, compared, interleave

NAME = "augmentation"
DESCRIPTION = "fused image augmentation vs ImageDataGenerator's per-image scipy warp (images/s); data wait of augmented digits"

ORIGINALS = {"full": 128, "tiny": 32}
CALLS = {"full": 10, "tiny": 3}
COPIES = 3
IMAGE = (32, 32, 3)
FULL_SET = [
    {"name": "rotation", "rotation_range": 20},
    {"name": "width_shift", "width_shift_range": 0.1},
    {"name": "height_shift", "height_shift_range": 0.1},
    {"name": "shear", "shear_range": 10},
    {"name": "zoom", "zoom_range": 0.2},
    {"name": "horizontal_flip"},
    {"name": "brightness", "brightness_range": [0.8, 1.2]},
]
DIGITS_SET = [
    {"name": "rotation", "rotation_range": 10},
    {"name": "zoom", "zoom_range": 0.1},
    {"name": "width_shift", "width_shift_range": 0.1},
    {"name": "height_shift", "height_shift_range": 0.1},
]
DIGITS_EPOCHS = {"full": 10, "tiny": 2}
DIGITS_ORIGINALS = 32
DIGITS_FILTERS = (16, 64)  # the tutorial's network, and one whose step takes several times longer


def run(size: str, repeats: int) -> list[Row]:
    rows = throughput_rows(size, repeats)
    for filters in DIGITS_FILTERS:
        rows += data_wait_rows(size, repeats, filters)
    return rows


def registry() -> dict:
    from trainrig_imageaug.registry import augmentations

    return augmentations()


def scipy_per_image(images, rng):
    """ImageDataGenerator's way: one composed matrix and one scipy warp per channel, for each image."""
    import numpy as np
    from scipy import ndimage

    out = np.empty_like(images)
    h, w = images.shape[1:3]
    centre = np.array([[1, 0, (h - 1) / 2], [0, 1, (w - 1) / 2], [0, 0, 1]])
    uncentre = np.array([[1, 0, -(h - 1) / 2], [0, 1, -(w - 1) / 2], [0, 0, 1]])
    for i, image in enumerate(images):
        t, s = np.deg2rad(rng.uniform(-20, 20)), np.deg2rad(rng.uniform(-10, 10))
        tx, ty = rng.uniform(-0.1, 0.1) * h, rng.uniform(-0.1, 0.1) * w
        zx, zy = rng.uniform(0.8, 1.2, 2)
        flip = -1.0 if rng.uniform() < 0.5 else 1.0
        m = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        m = m @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        m = m @ np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
        m = m @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]]) @ np.diag([1.0, flip, 1.0])
        m = centre @ m @ uncentre
        for c in range(image.shape[-1]):
            out[i, ..., c] = ndimage.affine_transform(image[..., c], m[:2, :2], m[:2, 2], order=1, mode="nearest")
        out[i] = np.clip(out[i] * rng.uniform(0.8, 1.2), 0, 255)
    return out


def keras_layers_chained():
    """The six Keras layers in one compiled function (four separate warps)."""
    import keras
    import tensorflow as tf

    layers = keras.Sequential(
        [
            keras.layers.RandomRotation(20 / 360, fill_mode="nearest", seed=1),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=2),
            keras.layers.RandomShear(x_factor=0.17, y_factor=0.0, fill_mode="nearest", seed=3),
            keras.layers.RandomZoom(0.2, fill_mode="nearest", seed=4),
            keras.layers.RandomFlip("horizontal", seed=5),
            keras.layers.RandomBrightness(0.2, seed=6),
        ]
    )
    return tf.function(lambda x: layers(x, training=True))


def images_per_second(function, images, calls: int) -> float:
    function(images)  # warm-up: tracing, first allocations
    start = time.perf_counter()
    for _ in range(calls):
        function(images)
    return calls * len(images) / (time.perf_counter() - start)


def throughput_rows(size: str, repeats: int) -> list[Row]:
    import numpy as np

    import trainrig
    from trainrig.hooks.manager import PluginManager
    from trainrig_imageaug import plugin

    manager = PluginManager()
    manager.register(plugin, name="imageaug")
    fused = trainrig.build_augmentation(FULL_SET, plugins=manager)
    count, calls = ORIGINALS[size] * COPIES, CALLS[size]
    images = np.random.default_rng(0).uniform(0, 255, (count, *IMAGE)).astype("float32")
    seeds = np.arange(count)
    chained, rng = keras_layers_chained(), np.random.default_rng(1)
    sides = {
        "imageaug fused": lambda: images_per_second(lambda x: fused.random_transform_batch(x, seeds), images, calls),
        "scipy per image": lambda: images_per_second(lambda x: scipy_per_image(x, rng), images, calls),
        "keras layers chained": lambda: images_per_second(lambda x: chained(x).numpy(), images, calls),
    }
    case = f"{ORIGINALS[size]} x {COPIES} images 32x32x3, 7 ops ({fused.name})"
    return compared(NAME, case, "throughput", "images/s", interleave(sides, repeats), baseline="scipy per image")


def data_wait_rows(size: str, repeats: int, filters: int) -> list[Row]:
    import trainrig
    from trainrig.data.pipeline import BatchSource
    from trainrig.hooks.manager import PluginManager
    from trainrig_digits.data import DigitsData
    from trainrig_digits.model import DigitsModel, DigitsModelParams
    from trainrig_imageaug import plugin

    from benchmarks.trainrig_side import MaterialisedData, timed_train

    manager = PluginManager()
    manager.register(plugin, name="imageaug")
    augmentator = trainrig.build_augmentation(DIGITS_SET, plugins=manager)

    class AugmentedDigits(DigitsData):
        def train_sequence(self, batch_size):
            originals = super().train_sequence(batch_size)
            return trainrig.DataAugmentationSequence(originals, "image", augmentator, n_augmentation=COPIES, seed=self.seed)

    epochs = DIGITS_EPOCHS[size]

    def training_part(data) -> float:
        # the best model is exported on every improvement of val_acc; monitoring a value that improves
        # only in the first epoch keeps those exports out of the measured epochs
        timer = timed_train(DigitsModel(DigitsModelParams(filters=filters)), data, epochs, DIGITS_ORIGINALS, best_metric="val_loss", best_mode="max")
        times = timer.training_times()
        return min(times[1:] if len(times) > 2 else times)

    def read_alone() -> float:
        source = BatchSource(AugmentedDigits().train_sequence(DIGITS_ORIGINALS), "training")
        times = []
        for _ in range(2):
            start = time.perf_counter()
            with source.reading():
                for _batch in source.dataset(0):
                    pass
            times.append(time.perf_counter() - start)
        return min(times)

    sides = {
        "augmented": lambda: training_part(AugmentedDigits()),
        "augmented batches in memory": lambda: training_part(MaterialisedData(AugmentedDigits())),
        "augmented batches read alone, no training": read_alone,
    }
    results = interleave(sides, repeats)
    case = f"digits, {filters} filters, {COPIES} copies of {DIGITS_ORIGINALS} images a step ({augmentator.name})"
    floor = results["augmented batches in memory"]
    slowdown = [100 * max(0.0, (t - f) / t) for t, f in zip(results["augmented"], floor)]
    rows = compared(NAME, case, "an epoch", "s", results, baseline="augmented batches in memory")
    return rows + [Row(NAME, case, "slowdown fraction (augmentation CPU + data wait)", "%", slowdown)]
