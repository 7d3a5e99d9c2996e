"""Spatial transformers: ``affine_grid`` and ``grid_sample`` (4-D inputs), as PyTorch's.

``affine_grid`` is composed: a fixed base grid of normalised pixel centres times each
``theta``. ``grid_sample`` is one op with its own backward, for speed (four gathers on raw
arrays instead of some thirty graph nodes) and to keep PyTorch's gradient conventions for the
grid: zero in ``nearest`` mode, and zero where ``border`` / ``reflection`` clip a coordinate
(a coordinate on the border counts as clipped). Coordinate rules follow ATen's
``GridSampler.h``: grid values in [-1, 1] map onto the corner pixels' centres with
``align_corners=True`` and onto the outer edges of the corner pixels otherwise.
"""

from __future__ import annotations

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
    """The sampling grid of a batch of 2-D affine transforms, as ``torch.nn.functional.affine_grid``.

    Args:
        theta: (N, 2, 3) affine matrices mapping output coordinates to input coordinates, both
            normalised to [-1, 1].
        size: the output size (N, C, H, W).
        align_corners: as in ``grid_sample``; None warns and means False.

    Returns:
        The grid (N, H, W, 2): x then y of the input point each output pixel reads.
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
    elif len(size) == 5:
        raise NotImplementedError("affine_grid: 3-D affine transforms (5-D sizes) are not supported by nerve")
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    n, _, h, w = (int(s) for s in size)
    if align_corners and min(h, w) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != n:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{n}, 3] "
                           f"but got: [{theta.shape[0]}, 3].")
    dt = theta._data.dtype
    base = np.empty((h, w, 3), dtype=dt)
    base[..., 0] = _linspace_from_neg_one(w, align_corners, dt)[None, :]
    base[..., 1] = _linspace_from_neg_one(h, align_corners, dt)[:, None]
    base[..., 2] = 1
    base_t = Tensor._make(theta._device.xp.asarray(base.reshape(1, h * w, 3)), theta._device)
    return (base_t @ theta.transpose(1, 2)).reshape(n, h, w, 2)


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


class GridSampleFn(Function):
    """Sample (N, C, H, W) ``input`` at the (N, Ho, Wo, 2) normalised points of ``grid``."""

    name = "grid_sampler_2d"
    torch_name = "GridSampler2DBackward0"

    def forward(self, xp, x, grid):
        n, c, h, w = x.shape
        self.in_shape = x.shape
        ho, wo = grid.shape[1:3]
        gx = grid[..., 0].reshape(n, -1).astype(x.dtype, copy=False)
        gy = grid[..., 1].reshape(n, -1).astype(x.dtype, copy=False)
        ix, self.mx = _source_coords(xp, gx, w, self.padding_mode, self.align_corners)
        iy, self.my = _source_coords(xp, gy, h, self.padding_mode, self.align_corners)
        flat = x.reshape(n, c, h * w)
        if self.mode == "nearest":
            corners = [(xp.rint(ix), xp.rint(iy), None, None)]
        else:
            x0, y0 = xp.floor(ix), xp.floor(iy)
            tx, ty = ix - x0, iy - y0
            # (x, y, weight along x, weight along y) of the four neighbours
            corners = [(x0, y0, 1 - tx, 1 - ty), (x0 + 1, y0, tx, 1 - ty),
                       (x0, y0 + 1, 1 - tx, ty), (x0 + 1, y0 + 1, tx, ty)]
        out = xp.zeros((n, c, ix.shape[1]), dtype=x.dtype)
        self.corners = []
        for cx, cy, wx, wy in corners:
            valid = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
            idx = (xp.clip(cy, 0, h - 1) * w + xp.clip(cx, 0, w - 1)).astype(xp.int64)
            v = xp.take_along_axis(flat, xp.broadcast_to(idx[:, None, :], out.shape), axis=2)
            weight = valid.astype(x.dtype) if wx is None else wx * wy * valid
            out += weight[:, None, :] * v
            self.corners.append((idx, weight, v, wx, wy, valid))
        return out.reshape(n, c, ho, wo)

    def backward(self, xp, g):
        n, c, h, w = self.in_shape
        g = g.reshape(n, c, -1)
        gx = gg = None
        if self.parents[0] is not None:
            gflat = xp.zeros((n * h * w, c), dtype=g.dtype)
            offset = (xp.arange(n) * (h * w))[:, None]
            g_rows = xp.moveaxis(g, 1, 2).reshape(-1, c)
            for idx, weight, *_ in self.corners:
                scatter_add(xp, gflat, (idx + offset).reshape(-1), g_rows * weight.reshape(-1, 1))
            gx = xp.ascontiguousarray(xp.moveaxis(gflat.reshape(n, h * w, c), 2, 1)).reshape(n, c, h, w)
        if len(self.parents) > 1 and self.parents[1] is not None:
            dix = xp.zeros(g.shape[::2], dtype=g.dtype)
            diy = xp.zeros_like(dix)
            if self.mode != "nearest":
                for k, (_, _, v, wx, wy, valid) in enumerate(self.corners):
                    gv = (g * v).sum(axis=1) * valid
                    dix += gv * wy * (1 if k % 2 else -1)
                    diy += gv * wx * (1 if k >= 2 else -1)
            gg = xp.stack([dix * self.mx, diy * self.my], axis=-1).reshape(self.grid_shape)
        return gx, gg


def _sizes(t: Tensor) -> list:
    return list(t.shape)


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` at the points of ``grid``, as ``torch.nn.functional.grid_sample`` (4-D).

    Args:
        input: (N, C, H, W).
        grid: (N, Ho, Wo, 2) points (x, y) normalised to [-1, 1] over the input's extent.
        mode: ``'bilinear'`` or ``'nearest'`` (``'bicubic'`` is not supported).
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
    if input.ndim != 4:
        raise NotImplementedError(f"grid_sample: only 4-D inputs are supported by nerve (got {input.ndim}-D)")
    for d in (2, 3):
        if input.shape[d] == 0:
            raise RuntimeError("grid_sampler(): expected input to have non-empty spatial dimensions, but input "
                               f"has sizes {_sizes(input)} with dimension {d} being empty")
    if mode == "bicubic":
        raise NotImplementedError("grid_sample: mode 'bicubic' is not supported by nerve")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"expected scalar type {_torch_name(input)} but found {_torch_name(grid)}")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"grid_sampler_2d_cpu_kernel_impl\" not implemented for '{_torch_name(input)}'")
    return GridSampleFn.apply(input, grid, mode=mode, padding_mode=padding_mode, align_corners=bool(align_corners),
                              grid_shape=tuple(grid.shape))
