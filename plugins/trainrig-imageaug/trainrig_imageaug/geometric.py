"""Geometric ops in the manner of Keras 2's ``ImageDataGenerator``, warped with one affine transform per batch.

Coordinates and matrices
------------------------
Images are ``(N, H, W, C)`` (channels last; any number of channels) or ``(N, H, W)``. Every matrix here
is a 3x3 homogeneous matrix in ``(row, col, 1)`` pixel coordinates, row 0 at the top, pixel centres at
integer coordinates, and maps an OUTPUT pixel to the INPUT point it samples (as ``ImageDataGenerator``
and ``scipy.ndimage.affine_transform`` use them). The ``*_matrix`` functions build them about the origin
for arrays of parameters (one matrix per sample); :func:`centered` moves the origin to the image centre
``((H - 1) / 2, (W - 1) / 2)`` (``ImageDataGenerator`` used ``(H / 2 + 0.5, W / 2 + 0.5)``, half a
pixel to one pixel off the true centre).

Applying several ops means composing their matrices in list order: for ``[A, B]`` the content is
transformed by ``A`` first, so the input-from-output matrix is ``M_A @ M_B``. ``ImageDataGenerator``
composed rotation @ shift @ shear @ zoom: the list ``rotation, width_shift, height_shift, shear, zoom``
gives its transform.

One warp per batch
------------------
Each op draws its parameters for all samples at once from the samples' seeds
(:mod:`trainrig.data.random_draws`), builds ``(N, 3, 3)`` matrices in numpy and calls
``keras.ops.image.affine_transform`` once for the batch (:func:`warp`). Neighbouring geometric ops with
the same ``fill_mode``, ``cval`` and ``interpolation`` fuse into one :class:`AffineWarp`: their matrices
are multiplied and the image is interpolated once (sharper and faster than one warp per op).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from trainrig.data import random_draws
from trainrig.data.augmentators import BatchAugmentation
from trainrig.errors import one_of
from trainrig_imageaug.images import (
    float_images,
    from_float,
    image_batch,
    is_number,
    non_negative,
    pair,
    restore,
    restore_dtype,
    to_float,
)

FILL_MODES = ("constant", "nearest", "wrap", "reflect", "mirror")
INTERPOLATIONS = ("bilinear", "nearest")


# --- matrices ------------------------------------------------------------------------------------


def _stack(entries: dict[tuple[int, int], np.ndarray], n: int) -> np.ndarray:
    m = np.zeros((n, 3, 3))
    m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = 1.0
    for (i, j), values in entries.items():
        m[:, i, j] = values
    return m


def _flat(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def rotation_matrix(angles_degrees) -> np.ndarray:
    """``(N, 3, 3)`` rotations about the origin; a positive angle turns the content counter-clockwise
    as displayed (row 0 at the top), like ``keras.layers.RandomRotation``.

    ``ImageDataGenerator``'s matrix turned it clockwise for a positive angle; its angles were drawn
    symmetrically, so the distribution of rotations is the same.
    """
    t = np.deg2rad(_flat(angles_degrees))
    c, s = np.cos(t), np.sin(t)
    return _stack({(0, 0): c, (0, 1): s, (1, 0): -s, (1, 1): c}, len(t))


def shift_matrix(rows, cols) -> np.ndarray:
    """``(N, 3, 3)`` translations: the content moves ``rows`` pixels down and ``cols`` pixels right
    (negative values: up, left).

    ``ImageDataGenerator``'s shift parameters had the opposite sign (content moved up/left); its draws
    were symmetric, so the distribution is the same.
    """
    rows, cols = _flat(rows), _flat(cols)
    return _stack({(0, 2): -rows, (1, 2): -cols}, len(rows))


def shear_matrix(angles_degrees) -> np.ndarray:
    """``(N, 3, 3)`` shears about the origin, ``ImageDataGenerator``'s ``[[1, -sin s, 0], [0, cos s, 0]]``.

    The output pixel ``(r, c)`` samples the input at ``(r - c sin s, c cos s)``: an input pixel at
    ``(r0, c0)`` lands at column ``c0 / cos s`` and row ``r0 + c0 tan s``, i.e. for a positive angle the
    content right of the centre moves down (left of it: up) and stretches horizontally by ``1 / cos s``.
    """
    t = np.deg2rad(_flat(angles_degrees))
    return _stack({(0, 1): -np.sin(t), (1, 1): np.cos(t)}, len(t))


def zoom_matrix(row_factors, col_factors) -> np.ndarray:
    """``(N, 3, 3)`` scalings about the origin with ``ImageDataGenerator``'s meaning of the factors: the
    output pixel at distance ``d`` from the centre samples the input at ``factor * d``, so a factor
    below 1 ENLARGES the content (zooms in) and a factor above 1 shrinks it (zooms out).
    """
    rows, cols = _flat(row_factors), _flat(col_factors)
    return _stack({(0, 0): rows, (1, 1): cols}, len(rows))


def centered(matrices, height: int, width: int) -> np.ndarray:
    """``matrices`` (about the origin) re-expressed about the image centre ``((H - 1) / 2, (W - 1) / 2)``."""
    m = np.array(matrices, dtype=np.float64)
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    m[:, :2, 2] += centre - m[:, :2, :2] @ centre
    return m


def projective_params(matrices) -> np.ndarray:
    """``(N, 8)`` float32 rows ``[a0, a1, a2, b0, b1, b2, c0, c1]`` of ``keras.ops.image.affine_transform``
    (which works in ``(x = col, y = row)``) for ``(N, 3, 3)`` input-from-output ``(row, col)`` matrices."""
    m = np.asarray(matrices, dtype=np.float64)
    out = np.zeros((len(m), 8), dtype=np.float32)
    out[:, 0], out[:, 1], out[:, 2] = m[:, 1, 1], m[:, 1, 0], m[:, 1, 2]  # x_in from (x, y, 1)
    out[:, 3], out[:, 4], out[:, 5] = m[:, 0, 1], m[:, 0, 0], m[:, 0, 2]  # y_in from (x, y, 1)
    return out


# --- the warp ------------------------------------------------------------------------------------


def supported_fill_modes() -> tuple[str, ...]:
    """The :data:`FILL_MODES` that ``keras.ops.image.affine_transform`` accepts on the active Keras backend
    (the TensorFlow backend has no ``"mirror"``)."""
    try:
        from keras.src import backend

        available = set(backend.image.AFFINE_TRANSFORM_FILL_MODES)  # the active backend's list
    except (ImportError, AttributeError):
        return FILL_MODES
    return tuple(mode for mode in FILL_MODES if mode in available)


def _backend() -> str:
    import keras

    return f"the {keras.backend.backend()} backend"


@functools.lru_cache(maxsize=None)
def _affine_transform(interpolation: str, fill_mode: str, cval: float):
    """``keras.ops.image.affine_transform`` with these settings, as a function of ``(images, params)``:
    compiled once on the TensorFlow backend (one call instead of five eager ops: a third less time per
    small batch), plain elsewhere."""
    import keras

    def transform(images, params):
        return keras.ops.image.affine_transform(
            images, params, interpolation=interpolation, fill_mode=fill_mode, fill_value=cval, data_format="channels_last"
        )

    if keras.backend.backend() != "tensorflow":
        return transform
    import tensorflow as tf

    signature = [tf.TensorSpec([None, None, None, None], tf.float32), tf.TensorSpec([None, 8], tf.float32)]
    return tf.function(transform, input_signature=signature)


def warp(images, matrices, fill_mode: str = "nearest", cval: float = 0.0, interpolation: str = "bilinear"):
    """``images`` (``(N, H, W, C)`` or ``(N, H, W)``, any dtype) resampled through ``matrices``
    (``(N, 3, 3)`` input-from-output, ``(row, col)``, see the module doc) in ONE
    ``keras.ops.image.affine_transform`` call; computed in float32, returned as a numpy array of the
    input's shape and dtype (integer dtypes rounded and clipped)."""
    import keras

    x, squeezed = image_batch(images, "warp")
    if len(x) == 0:
        return np.asarray(images).copy()
    out = _affine_transform(interpolation, fill_mode, float(cval))(to_float(x), projective_params(matrices))
    return restore(from_float(keras.ops.convert_to_numpy(out), x.dtype), squeezed)


def warp_with_parameters(images, parameters, fill_mode: str, cval: float, interpolation: str):
    """:func:`warp` of a numpy batch or a tensor (in a ``tf.data`` graph too) from the ``(N, 8)``
    :func:`projective_params`; returns a tensor of the input's shape and dtype."""
    import keras

    x, added = float_images(images)
    if keras.backend.backend() == "tensorflow" and not _executing_eagerly():
        # inside a graph (tf.data) the op goes in directly: calling the compiled function from a graph
        # adds a function call per batch (~0.4 ms of a digits batch's ~1.5 ms)
        out = keras.ops.image.affine_transform(
            x, parameters, interpolation=interpolation, fill_mode=fill_mode, fill_value=float(cval), data_format="channels_last"
        )
    else:
        out = _affine_transform(interpolation, fill_mode, float(cval))(x, parameters)
    return restore_dtype(out, images.dtype, added)


def _executing_eagerly() -> bool:
    import tensorflow as tf

    return tf.executing_eagerly()


# --- ops -----------------------------------------------------------------------------------------


class GeometricOp(BatchAugmentation):
    """Base class of the geometric ops: draws one matrix per sample and warps the batch once.

    Subclasses implement :meth:`raw_matrices`. Any number of channels is accepted.
    """

    name = "geometric"

    def __init__(self, fill_mode: str = "nearest", cval: float = 0.0, interpolation: str = "bilinear"):
        supported = supported_fill_modes()
        if fill_mode not in supported:
            missing = [m for m in FILL_MODES if m not in supported]
            note = f" ({one_of(missing)} not supported by keras.ops.image.affine_transform on {_backend()})"
            note = note if missing else ""
            raise ValueError(f"fill_mode must be {one_of(supported)}{note}, got {fill_mode!r}")
        if not is_number(cval):
            raise ValueError(f"cval must be a number (the fill value of fill_mode 'constant'), got {cval!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be {one_of(INTERPOLATIONS)}, got {interpolation!r}")
        self.fill_mode, self.cval, self.interpolation = fill_mode, float(cval), interpolation

    @property
    def parts(self) -> list[GeometricOp]:
        """The ops whose matrices this warp multiplies (just itself for a single op)."""
        return [self]

    def settings(self) -> tuple[str, float, str]:
        """``(fill_mode, cval, interpolation)``: ops fuse only when these agree."""
        return self.fill_mode, self.cval, self.interpolation

    def raw_matrices(self, seeds, height: int, width: int) -> np.ndarray:
        """``(N, 3, 3)`` input-from-output matrices about the origin, drawn from ``seeds``."""
        raise NotImplementedError

    def matrices(self, seeds, height: int, width: int) -> np.ndarray:
        """``(N, 3, 3)`` input-from-output matrices about the image centre, drawn from ``seeds``."""
        return centered(self.raw_matrices(np.asarray(seeds, dtype=np.int64), height, width), height, width)

    def random_transform_batch(self, x, seeds):
        """Every image warped by its own matrix, one ``affine_transform`` call for the batch (the dtype
        round trip in numpy: bit-equal to :meth:`apply`, faster than eager casts)."""
        images, _ = image_batch(x, self.name)
        return warp(x, self.matrices(seeds, images.shape[1], images.shape[2]), self.fill_mode, self.cval, self.interpolation)

    def parameters(self, seeds, sample_shape) -> np.ndarray:
        """``(N, 8)`` float32: each sample's matrix as ``keras.ops.image.affine_transform`` parameters."""
        return projective_params(self.matrices(seeds, sample_shape[0], sample_shape[1]))

    def apply(self, x, parameters):
        """The warp of a batch (numpy, or a tensor inside ``tf.data``) by :meth:`parameters`."""
        return warp_with_parameters(x, parameters, self.fill_mode, self.cval, self.interpolation)

    def fuse(self, following: Any) -> AffineWarp | None:
        """One :class:`AffineWarp` doing ``self`` then ``following`` when ``following`` is geometric and has
        the same ``fill_mode``, ``cval`` and ``interpolation``; ``None`` otherwise."""
        if isinstance(following, GeometricOp) and following.settings() == self.settings():
            return AffineWarp(self.parts + following.parts)
        return None


class AffineWarp(GeometricOp):
    """Several geometric ops fused: their matrices multiplied in list order, ONE interpolation.

    Part ``k`` draws with ``random_draws.derived_seeds(seeds, k)``, so the parts' draws are distinct and
    each sample's matrix depends on its own seed only.
    """

    def __init__(self, parts: list[GeometricOp]):
        if not parts or not all(isinstance(p, GeometricOp) and not isinstance(p, AffineWarp) for p in parts):
            raise ValueError(f"AffineWarp needs a non-empty list of single geometric ops, got {parts!r}")
        if len({p.settings() for p in parts}) != 1:
            raise ValueError("the ops of one AffineWarp must have the same fill_mode, cval and interpolation")
        self._parts = list(parts)
        self.fill_mode, self.cval, self.interpolation = parts[0].settings()
        self.name = "+".join(p.name for p in parts)

    @property
    def parts(self) -> list[GeometricOp]:
        """The fused ops, in order."""
        return list(self._parts)

    def raw_matrices(self, seeds, height, width):
        """The product of the parts' matrices in list order (part ``k`` with seeds derived with ``k``)."""
        out = None
        for k, part in enumerate(self._parts):
            m = part.raw_matrices(random_draws.derived_seeds(seeds, k), height, width)
            out = m if out is None else out @ m
        return out


def _symmetric_range(value, option: str, unit: str) -> float:
    return float(non_negative(value, option, f" ({unit}: draws are uniform in [-{option}, {option}])"))


class Rotation(GeometricOp):
    """Rotation by an angle uniform in ``[-rotation_range, rotation_range]`` degrees about the image
    centre; positive angles turn the content counter-clockwise as displayed (see :func:`rotation_matrix`)."""

    name = "rotation"

    def __init__(self, rotation_range: float, fill_mode="nearest", cval=0.0, interpolation="bilinear"):
        self.rotation_range = _symmetric_range(rotation_range, "rotation_range", "degrees")
        super().__init__(fill_mode, cval, interpolation)

    def raw_matrices(self, seeds, height, width):
        """Rotations drawn from ``seeds``."""
        r = self.rotation_range
        return rotation_matrix(random_draws.uniform(seeds, 0, 1, -r, r)[:, 0])


def _check_shift_range(value, option: str):
    if not is_number(value) or value < 0:
        raise ValueError(
            f"{option} must be a number >= 0: a float < 1 is a fraction of the image size, an int >= 1 a "
            f"number of pixels (a float >= 1: pixels, not rounded), got {value!r}"
        )
    return value


def draw_shifts(seeds, shift_range, size: int) -> np.ndarray:
    """One shift in pixels per seed for a ``shift_range`` along an axis of ``size`` pixels.

    A float ``f < 1`` draws uniformly in ``[-f * size, f * size]`` (not rounded); an int ``n >= 1``
    draws an integer uniformly in ``[-n, n]`` (ImageDataGenerator drew ``|shift| < n``, i.e. never
    ``n`` itself); a float ``v >= 1`` draws uniformly in ``[-v, v]`` pixels, as ImageDataGenerator did.
    """
    if isinstance(shift_range, (int, np.integer)) and shift_range >= 1:
        return random_draws.integers(seeds, 0, -int(shift_range), int(shift_range))[:, 0].astype(np.float64)
    limit = shift_range * size if shift_range < 1 else shift_range
    return random_draws.uniform(seeds, 0, 1, -limit, limit)[:, 0]


class _Shift(GeometricOp):
    """A shift along one axis (``axis`` 0: rows, 1: columns) by ``shift_range`` as in :func:`draw_shifts`."""

    axis = 0
    shift_range: float = 0.0

    def raw_matrices(self, seeds, height, width):
        """Translations along the op's axis drawn from ``seeds``."""
        moved = draw_shifts(seeds, self.shift_range, (height, width)[self.axis])
        still = np.zeros_like(moved)
        return shift_matrix(moved, still) if self.axis == 0 else shift_matrix(still, moved)


class WidthShift(_Shift):
    """Horizontal shift; ``width_shift_range`` as in :func:`draw_shifts` (fraction of W or pixels). A
    positive shift moves the content right (see :func:`shift_matrix`)."""

    name = "width_shift"
    axis = 1

    def __init__(self, width_shift_range: float, fill_mode="nearest", cval=0.0, interpolation="bilinear"):
        self.width_shift_range = self.shift_range = _check_shift_range(width_shift_range, "width_shift_range")
        super().__init__(fill_mode, cval, interpolation)


class HeightShift(_Shift):
    """Vertical shift; ``height_shift_range`` as in :func:`draw_shifts` (fraction of H or pixels). A
    positive shift moves the content down (see :func:`shift_matrix`)."""

    name = "height_shift"
    axis = 0

    def __init__(self, height_shift_range: float, fill_mode="nearest", cval=0.0, interpolation="bilinear"):
        self.height_shift_range = self.shift_range = _check_shift_range(height_shift_range, "height_shift_range")
        super().__init__(fill_mode, cval, interpolation)


class Shear(GeometricOp):
    """Shear by an angle uniform in ``[-shear_range, shear_range]`` degrees, ImageDataGenerator's shear
    matrix (see :func:`shear_matrix`), about the image centre."""

    name = "shear"

    def __init__(self, shear_range: float, fill_mode="nearest", cval=0.0, interpolation="bilinear"):
        self.shear_range = _symmetric_range(shear_range, "shear_range", "degrees")
        if self.shear_range >= 90:
            raise ValueError(f"shear_range must be < 90 degrees (cos(90) = 0 collapses the image), got {shear_range!r}")
        super().__init__(fill_mode, cval, interpolation)

    def raw_matrices(self, seeds, height, width):
        """Shears drawn from ``seeds``."""
        s = self.shear_range
        return shear_matrix(random_draws.uniform(seeds, 0, 1, -s, s)[:, 0])


def zoom_bounds(zoom_range) -> tuple[float, float]:
    """``(lower, upper)`` of a ``zoom_range``: a number ``z`` in ``[0, 1)`` means ``[1 - z, 1 + z]``, a pair
    ``[lower, upper]`` needs ``0 < lower <= upper``."""
    if is_number(zoom_range) and 0 <= zoom_range < 1:
        return 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    bounds = pair(zoom_range)
    if bounds is not None and 0 < bounds[0] <= bounds[1]:
        return bounds
    raise ValueError(
        "zoom_range must be a number z with 0 <= z < 1 (factors in [1 - z, 1 + z]) or a pair "
        f"[lower, upper] with 0 < lower <= upper, got {zoom_range!r}"
    )


class Zoom(GeometricOp):
    """Zoom with independent factors for rows and columns, each uniform in ``zoom_range`` (see
    :func:`zoom_bounds`), about the image centre. As in ImageDataGenerator a factor below 1 ENLARGES the
    content: a pixel at distance ``d`` from the centre moves to ``d / factor`` (see :func:`zoom_matrix`)."""

    name = "zoom"

    def __init__(self, zoom_range, fill_mode="nearest", cval=0.0, interpolation="bilinear"):
        self.zoom_range = zoom_bounds(zoom_range)
        super().__init__(fill_mode, cval, interpolation)

    def raw_matrices(self, seeds, height, width):
        """Scalings drawn from ``seeds`` (row factor, column factor)."""
        factors = random_draws.uniform(seeds, 0, 2, *self.zoom_range)
        return zoom_matrix(factors[:, 0], factors[:, 1])
