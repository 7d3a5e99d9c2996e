"""Spatial transformers: ``affine_grid`` and ``grid_sample`` (4-D and 5-D inputs), as PyTorch's.

``affine_grid`` is composed: a fixed base grid of normalised pixel centres times each
``theta``. ``grid_sample`` is one op with its own backward, for speed (a gather per tap on raw
arrays instead of some thirty graph nodes) and to keep PyTorch's gradient conventions for the
grid: zero in ``nearest`` mode, and zero where ``border`` / ``reflection`` clip a coordinate
(a coordinate on the border counts as clipped). Coordinate rules follow ATen's
``GridSampler.h``: grid values in [-1, 1] map onto the corner pixels' centres with
``align_corners=True`` and onto the outer edges of the corner pixels otherwise.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from ...autograd import Function
from ...backend import scatter_add
from ...tensor import Tensor, _torch_name

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. "
                  "See the documentation of grid_sample for details.")


def _linspace_from_neg_one(n: int, align_corners: bool, dtype) -> np.ndarray:
    """PyTorch's ``linspace(-a, a, n)`` (from both ends towards the middle), a = 1 or (n - 1) / n."""
    dt = np.dtype(dtype)
    if n <= 1:
        return np.zeros(max(n, 1), dtype=dt)
    a = dt.type(1.0 if align_corners else (n - 1) / n)
    step = (a - -a) / dt.type(n - 1)
    i = np.arange(n)
    return np.where(i < n // 2, -a + step * i.astype(dt), a - step * (n - 1 - i).astype(dt)).astype(dt)


def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of 2-D or 3-D affine transforms, as ``torch.nn.functional.affine_grid``.

    Args:
        theta: (N, 2, 3) (or (N, 3, 4)) affine matrices mapping output coordinates to input
            coordinates, both normalised to [-1, 1].
        size: the output size (N, C, H, W) (or (N, C, D, H, W)).
        align_corners: as in ``grid_sample``; None warns and means False.

    Returns:
        The grid (N, H, W, 2) (or (N, D, H, W, 3)): x, y (and z) of the input point each output
        pixel reads.
    """
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    if len(size) == 4:
        if theta.dim() != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                             f"Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or theta.shape[-2] != 3 or theta.shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                             f"Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    n = int(size[0])
    spatial = [int(v) for v in spatial]
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != n:
        k = len(spatial) + 1
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{n}, {k}] "
                           f"but got: [{theta.shape[0]}, {k}].")
    dt = theta._data.dtype
    nd = len(spatial)
    base = np.empty((*spatial, nd + 1), dtype=dt)
    for j in range(nd):  # x (the last axis) first, then y (and z)
        axis = nd - 1 - j
        shape = [1] * nd
        shape[axis] = spatial[axis]
        base[..., j] = _linspace_from_neg_one(spatial[axis], align_corners, dt).reshape(shape)
    base[..., nd] = 1
    m = int(np.prod(spatial))
    base_t = Tensor._make(theta._device.xp.asarray(base.reshape(1, m, nd + 1)), theta._device)
    return (base_t @ theta.transpose(1, 2)).reshape(n, *spatial, nd)


def _source_coords(xp, coord, size: int, padding_mode: str, align_corners: bool):
    """Pixel coordinates along one axis, and their derivative by the normalised coordinate."""
    if align_corners:
        scale = (size - 1) / 2
        pix = (coord + 1) / 2 * (size - 1)
    else:
        scale = size / 2
        pix = ((coord + 1) * size - 1) / 2
    mult = xp.full(pix.shape, scale, dtype=pix.dtype)
    if padding_mode == "reflection":
        low, span = (0.0, size - 1) if align_corners else (-0.5, size)
        if span == 0:
            return xp.zeros_like(pix), xp.zeros_like(pix)
        d = pix - low
        sign = xp.where(d < 0, -1.0, 1.0).astype(pix.dtype)
        d = xp.abs(d)
        extra = xp.fmod(d, span)
        odd = xp.floor(d / span) % 2 == 1
        pix = xp.where(odd, span - extra, extra) + low
        mult *= xp.where(odd, -sign, sign)
    if padding_mode != "zeros":  # clip to the image; the border itself counts as outside for the gradient
        inside = (pix > 0) & (pix < size - 1)
        pix = xp.clip(pix, 0, size - 1)
        mult *= inside
    return pix, mult


def _unnormalize(coord, size: int, align_corners: bool):
    """Pixel coordinates along one axis (no padding rule) and their derivative (bicubic's)."""
    if align_corners:
        return (coord + 1) / 2 * (size - 1), (size - 1) / 2
    return ((coord + 1) * size - 1) / 2, size / 2


def _bounded(xp, c, size: int, padding_mode: str, align_corners: bool):
    """ATen's ``compute_coordinates`` on an integer tap of the bicubic kernel, then whether it is
    inside: border clips it, reflection mirrors then clips it, zeros leaves it (outside reads 0)."""
    if padding_mode != "zeros":
        if padding_mode == "reflection":
            low, span = (0.0, size - 1) if align_corners else (-0.5, size)
            if span == 0:
                c = xp.zeros_like(c)
            else:
                d = xp.abs(c - low)
                extra = xp.fmod(d, span)
                c = xp.where(xp.floor(d / span) % 2 == 1, span - extra, extra) + low
        c = xp.clip(c, 0, size - 1)
    c = xp.trunc(c)
    return c, (c >= 0) & (c <= size - 1)


_A = -0.75  # the cubic convolution's parameter, as PyTorch's


def _cubic_coeffs(t):
    """The four weights of taps -1, 0, 1, 2 at fraction ``t``, and their derivatives by ``t``."""
    a = _A
    x2 = 1 - t
    w = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a, ((a + 2) * t - (a + 3)) * t * t + 1,
         ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1, ((a * (x2 + 1) - 5 * a) * (x2 + 1) + 8 * a) * (x2 + 1) - 4 * a]
    x = -1 - t
    d0 = (-3 * a * x - 10 * a) * x - 8 * a
    x = -t
    d1 = (-3 * (a + 2) * x - 2 * (a + 3)) * x
    x = 1 - t
    d2 = (3 * (a + 2) * x - 2 * (a + 3)) * x
    x = 2 - t
    d3 = (3 * a * x - 10 * a) * x + 8 * a
    return w, [-d0, -d1, -d2, -d3]  # (ATen's formulas give the derivatives' negatives)


class GridSampleFn(Function):
    """Sample (N, C, H, W) (or (N, C, D, H, W)) ``input`` at the (N, Ho, Wo, 2) (or (N, Do, Ho, Wo, 3))
    normalised points of ``grid``: each output is a weighted sum of taps (corners of the cell around
    the point, the nearest pixel, or bicubic's 4 x 4), kept with their weights for backward."""

    name = "grid_sampler_2d"
    torch_name = "GridSampler2DBackward0"

    def forward(self, xp, x, grid):
        n, c = x.shape[:2]
        sizes = x.shape[2:]
        nd = len(sizes)
        self.in_shape = x.shape
        # the grid lists the coordinates x first: the last spatial axis first
        coords = [grid[..., nd - 1 - a].reshape(n, -1).astype(x.dtype, copy=False) for a in range(nd)]
        if self.mode == "bicubic":
            # the taps' own coordinates follow the padding rule, not the point's (as ATen's)
            pix, mults = zip(*(_unnormalize(co, s, self.align_corners) for co, s in zip(coords, sizes)))
            taps = []
            for p, s in zip(pix, sizes):
                p0 = xp.floor(p)
                w, dw = _cubic_coeffs(p - p0)
                taps.append([(*_bounded(xp, p0 + k - 1, s, self.padding_mode, self.align_corners), w[k], dw[k])
                             for k in range(4)])
            self.mults = [xp.full(pix[0].shape, m, dtype=x.dtype) for m in mults]
        else:
            pix, self.mults = zip(*(_source_coords(xp, co, s, self.padding_mode, self.align_corners)
                                    for co, s in zip(coords, sizes)))
            taps = []
            for p, s in zip(pix, sizes):
                if self.mode == "nearest":
                    r = xp.rint(p)
                    taps.append([(r, (r >= 0) & (r <= s - 1), None, None)])
                else:
                    p0 = xp.floor(p)
                    t = p - p0
                    one = xp.ones_like(t)
                    taps.append([(p0, (p0 >= 0) & (p0 <= s - 1), 1 - t, -one),
                                 (p0 + 1, (p0 + 1 >= 0) & (p0 + 1 <= s - 1), t, one)])
        flat = x.reshape(n, c, -1)
        out = xp.zeros((n, c, pix[0].shape[1]), dtype=x.dtype)
        strides = [int(np.prod(sizes[a + 1:])) for a in range(nd)]
        self.corners = []
        for combo in itertools.product(*taps):
            valid = combo[0][1]
            idx = xp.clip(combo[0][0], 0, sizes[0] - 1) * strides[0]
            for a in range(1, nd):
                valid = valid & combo[a][1]
                idx = idx + xp.clip(combo[a][0], 0, sizes[a] - 1) * strides[a]
            idx = idx.astype(xp.int64)
            v = xp.take_along_axis(flat, xp.broadcast_to(idx[:, None, :], out.shape), axis=2)
            ws = [tap[2] for tap in combo]
            if self.mode == "nearest":
                weight = valid.astype(x.dtype)
            else:
                weight = ws[-1]
                for wa in ws[-2::-1]:  # x's weight first, as the 2-D rule always multiplied
                    weight = weight * wa
                weight = weight * valid
            out += weight[:, None, :] * v
            self.corners.append((idx, weight, v, ws, [tap[3] for tap in combo], valid))
        return out.reshape(n, c, *grid.shape[1:-1])

    def backward(self, xp, g):
        n, c = self.in_shape[:2]
        plane = int(np.prod(self.in_shape[2:]))
        g = g.reshape(n, c, -1)
        gx = gg = None
        if self.parents[0] is not None:
            gflat = xp.zeros((n * plane, c), dtype=g.dtype)
            offset = (xp.arange(n) * plane)[:, None]
            g_rows = xp.moveaxis(g, 1, 2).reshape(-1, c)
            for idx, weight, *_ in self.corners:
                scatter_add(xp, gflat, (idx + offset).reshape(-1), g_rows * weight.reshape(-1, 1))
            gx = xp.ascontiguousarray(xp.moveaxis(gflat.reshape(n, plane, c), 2, 1)).reshape(self.in_shape)
        if len(self.parents) > 1 and self.parents[1] is not None:
            nd = len(self.in_shape) - 2
            d = [xp.zeros(g.shape[::2], dtype=g.dtype) for _ in range(nd)]
            if self.mode != "nearest":
                for _, _, v, ws, dws, valid in self.corners:
                    gv = (g * v).sum(axis=1) * valid
                    for a in range(nd):  # the derivative along axis a: the other axes' weights
                        term = gv
                        for b in range(nd - 1, -1, -1):
                            term = term * (dws[b] if b == a else ws[b])
                        d[a] += term
            gg = xp.stack([d[a] * self.mults[a] for a in range(nd - 1, -1, -1)], axis=-1).reshape(self.grid_shape)
        return gx, gg


def _sizes(t: Tensor) -> list:
    return list(t.shape)


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` at the points of ``grid``, as ``torch.nn.functional.grid_sample``.

    Args:
        input: (N, C, H, W), or (N, C, D, H, W) volumes.
        grid: (N, Ho, Wo, 2) points (x, y) (or (N, Do, Ho, Wo, 3) points (x, y, z)) normalised to
            [-1, 1] over the input's extent.
        mode: ``'bilinear'`` (trilinear on volumes), ``'nearest'`` or ``'bicubic'`` (4-D only).
        padding_mode: what points outside the input read: ``'zeros'``, ``'border'`` (the
            nearest border pixel) or ``'reflection'`` (the input mirrored at its borders).
        align_corners: -1 and 1 are the corner pixels' centres (True) or their outer edges
            (False); None warns and means False.

    Returns:
        (N, C, Ho, Wo), differentiable in ``input`` and in ``grid`` (the grid's gradient is
        zero in ``nearest`` mode).
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if input.ndim != grid.ndim:
        raise RuntimeError("grid_sampler(): expected 4D input and grid with same number of dimensions, but got "
                           f"input with sizes {_sizes(input)} and grid with sizes {_sizes(grid)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, but got input with "
                           f"sizes {_sizes(input)} and grid with sizes {_sizes(grid)}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but "
                           f"got grid with sizes {_sizes(grid)}")
    if input.ndim not in (4, 5):
        raise RuntimeError(f"grid_sampler(): expected {5 if input.ndim > 5 else 4}D input and grid with same number "
                           f"of dimensions, but got input with sizes {_sizes(input)} and grid with sizes "
                           f"{_sizes(grid)}")
    for d in range(2, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError("grid_sampler(): expected input to have non-empty spatial dimensions, but input "
                               f"has sizes {_sizes(input)} with dimension {d} being empty")
    if mode == "bicubic" and input.ndim == 5:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    nd = input.ndim - 2
    if input.dtype != grid.dtype:
        raise RuntimeError(f"expected scalar type {_torch_name(input)} but found {_torch_name(grid)}")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"grid_sampler_{nd}d_cpu_kernel_impl\" not implemented for '{_torch_name(input)}'")
    return GridSampleFn.apply(input, grid, mode=mode, padding_mode=padding_mode, align_corners=bool(align_corners),
                              grid_shape=tuple(grid.shape), name=f"grid_sampler_{nd}d",
                              torch_name=f"GridSampler{nd}DBackward0")
