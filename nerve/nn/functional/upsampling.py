"""Resizing: ``interpolate`` (nearest, nearest-exact, linear, bilinear, bicubic, trilinear, area, antialias).

Every mode PyTorch offers for 3-D, 4-D and 5-D inputs is separable: each output position along an
axis is a fixed weighted sum of input positions along that axis. So one (out, in) weight matrix
per spatial axis, built on the host with PyTorch's exact coordinate rules, describes the whole
resize; forward multiplies by each axis's matrix and backward by their transposes (nearest
modes gather in forward instead). Index arithmetic follows ATen's ``UpSample.h``: nearest
indices are computed in float32 as PyTorch computes them, so they match it bit for bit.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ...autograd import Function
from ...tensor import Tensor


def _scale(in_size, out_size, align_corners, scale):
    """ATen's area_pixel_compute_scale: the step in input coordinates per output position."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else in_size / out_size


def _nearest_index(in_size, out_size, scale, exact, shortcut):
    if shortcut and out_size == in_size:
        return np.arange(out_size)
    if shortcut and out_size == 2 * in_size:
        return np.arange(out_size) >> 1
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return np.minimum(np.floor(dst * s).astype(np.int64), in_size - 1)


def _cubic(x, a):
    """The cubic convolution kernel with parameter ``a`` (Keys), for |x| < 2."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _antialias_matrix(in_size, out_size, scale, interp_size, filt):
    # ATen's _compute_indices_min_size_weights_aa: a filter widened by the downscale factor,
    # weights normalised to sum to one
    support = interp_size * 0.5 * scale if scale >= 1 else interp_size * 0.5
    invscale = 1 / scale if scale >= 1 else 1.0
    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        w = filt((np.arange(lo, hi) - center + 0.5) * invscale)
        total = w.sum()
        m[i, lo:hi] = w / total if total != 0 else w
    return m


@functools.lru_cache(maxsize=256)
def _axis_weights(mode, in_size, out_size, scale, align_corners, antialias, ndim):
    """(kind, host array) for one axis: ("take", indices) or ("mat", (out, in) float64 weights)."""
    if mode in ("nearest", "nearest-exact"):
        # ATen's 2-D nearest kernel copies when the size stays and halves indices when it doubles,
        # whatever the scale factor; its 1-D and 3-D kernels and nearest-exact do not (its nearest
        # backward always does, so it is not the gradient of its 1-D and 3-D forwards there: nerve's is)
        shortcut = mode == "nearest" and ndim == 4
        return "take", _nearest_index(in_size, out_size, scale, mode == "nearest-exact", shortcut)
    rows = np.arange(out_size)
    m = np.zeros((out_size, in_size))
    if mode == "area":  # adaptive average pooling
        for i in range(out_size):
            lo, hi = (i * in_size) // out_size, -(-((i + 1) * in_size) // out_size)
            m[i, lo:hi] = 1.0 / (hi - lo)
        return "mat", m
    s = _scale(in_size, out_size, align_corners, scale)
    if antialias:
        if out_size == in_size:  # ATen's separable antialiased resize skips such an axis
            return "mat", np.eye(in_size)
        if mode == "bicubic":
            return "mat", _antialias_matrix(in_size, out_size, s, 4, lambda x: _cubic(x, -0.5))
        return "mat", _antialias_matrix(in_size, out_size, s, 2, lambda x: np.maximum(1 - np.abs(x), 0))
    if align_corners:
        src = s * rows
    else:
        src = s * (rows + 0.5) - 0.5
    if mode == "bicubic":
        i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
        t = np.clip(src - i0, 0, 1)
        coeffs = (_cubic(t + 1, -0.75), _cubic(t, -0.75), _cubic(1 - t, -0.75), _cubic(2 - t, -0.75))
        for j, c in enumerate(coeffs):  # indices beyond the border read the border
            np.add.at(m, (rows, np.clip(i0 - 1 + j, 0, in_size - 1)), c)
        return "mat", m
    if out_size == in_size:  # ATen's shortcut, whatever the scale factor
        return "mat", np.eye(in_size)
    src = np.maximum(src, 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    lam = np.clip(src - i0, 0, 1)
    i1 = i0 + (i0 < in_size - 1)
    np.add.at(m, (rows, i0), 1 - lam)
    np.add.at(m, (rows, i1), lam)
    return "mat", m


class InterpolateFn(Function):
    """Resize the trailing axes of x, one separable weight matrix (or index gather) per axis."""

    name = "interpolate"

    def forward(self, xp, x):
        self.in_shape = x.shape
        self.ops = []
        y = x
        for axis, (kind, w) in zip(range(2, x.ndim), self.weights):
            w = xp.asarray(w) if kind == "take" else xp.asarray(w, dtype=x.dtype)
            self.ops.append((axis, kind, w, y.shape[axis]))
            y = self._apply(xp, y, axis, kind, w, False)
        return y

    @staticmethod
    def _apply(xp, y, axis, kind, w, transpose):
        if kind == "take":
            return xp.take(y, w, axis=axis)
        if axis == y.ndim - 1:  # the last axis: one big GEMM
            lead = y.shape[:-1]
            out = y.reshape(-1, y.shape[-1]) @ (w if transpose else w.T)
            return out.reshape(lead + (out.shape[-1],))
        y = xp.moveaxis(y, axis, -2)
        out = xp.matmul(w.T if transpose else w, y)
        return xp.moveaxis(out, -2, axis)

    def backward(self, xp, g):
        for axis, kind, w, in_size in reversed(self.ops):
            if kind == "take":
                onehot = xp.zeros((w.shape[0], in_size), dtype=g.dtype)
                onehot[xp.arange(w.shape[0]), w] = 1
                g = self._apply(xp, g, axis, "mat", onehot, True)
            else:
                g = self._apply(xp, g, axis, kind, w, True)
        return (xp.ascontiguousarray(g),)

    def backward_t(self, g):
        from ...ops import IndexPut

        for axis, kind, w, in_size in reversed(self.ops):
            if kind == "take":  # the picked positions' gradients added up
                shape = tuple(g.shape[:axis]) + (in_size,) + tuple(g.shape[axis + 1:])
                zeros = self.const(self.device.xp.zeros(shape, g._data.dtype))
                g = IndexPut.apply(zeros, g, index=(slice(None),) * axis + (w,), accumulate=True, advanced=True)
            else:
                g = (g.movedim(axis, -1) @ self.const(w)).movedim(-1, axis)
        return g


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resize an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input, as ``torch.nn.functional.interpolate``.

    Args:
        input: (N, C, L) for ``nearest``, ``nearest-exact``, ``linear``, ``area``;
            (N, C, H, W) for ``nearest``, ``nearest-exact``, ``bilinear``, ``bicubic``, ``area``;
            (N, C, D, H, W) for ``nearest``, ``nearest-exact``, ``trilinear``, ``area``.
        size: the output's spatial size (int or tuple), or None.
        scale_factor: multiplier of the spatial size (float or tuple), or None; exactly one of
            ``size`` and ``scale_factor`` is given.
        mode: the interpolation, as above.
        align_corners: for linear / bilinear / bicubic / trilinear, map the corner pixels' centres onto each
            other (False when None); must be None for the other modes.
        recompute_scale_factor: with ``scale_factor``, compute the coordinates from the output
            size instead of from the given factor.
        antialias: low-pass filter when downsampling (bilinear and bicubic on 4-D inputs).

    Returns:
        The resized tensor (N, C, *out_size).
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    spatial = list(input.shape[2:])
    scales = None
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {spatial} and output size of {size}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
            if not all(_is_int(s) for s in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                                f"Tuple[int, int, int], but got size with types {[type(s) for s in size]}")
            out_size = [int(s) for s in size]
        else:
            out_size = [int(size)] * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {spatial} and scale_factor of shape {scale_factor}. Please provide "
                    "input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
                )
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
        out_size = [int(n * s) for n, s in zip(spatial, scales)]
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if recompute_scale_factor or mode == "area":
        scales = None
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires "
                         "a 4-D tensor as input")
    allowed = {3: ("nearest", "nearest-exact", "linear", "area"),
               4: ("nearest", "nearest-exact", "bilinear", "bicubic", "area"),
               5: ("nearest", "nearest-exact", "trilinear", "area")}
    if input.ndim not in allowed or mode not in allowed[input.ndim]:
        wants = {"linear": 3, "bilinear": 4, "trilinear": 5}
        if input.ndim in (3, 4, 5) and mode in wants:
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {wants[mode]}D input")
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: nearest | "
            f"linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})"
        )
    if any(s <= 0 for s in spatial) or any(s <= 0 for s in out_size):
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input {tuple(spatial)} "
                           f"and output {tuple(out_size)}")
    if not input.is_floating_point() and mode != "nearest" and mode != "nearest-exact":
        raise RuntimeError(f"interpolate: mode {mode!r} expects a floating-point input, got {input.dtype}")
    weights = tuple(
        _axis_weights(mode, n, o, None if scales is None else scales[i], bool(align_corners), bool(antialias),
                      input.ndim)
        for i, (n, o) in enumerate(zip(spatial, out_size))
    )
    return InterpolateFn.apply(input, weights=weights)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """``interpolate`` under its old name, as ``torch.nn.functional.upsample``."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Nearest-neighbour resize, as ``torch.nn.functional.upsample_nearest``."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Bilinear resize with aligned corners, as ``torch.nn.functional.upsample_bilinear``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)

