"""Fractional max pooling (Graham, 2014): max over windows whose starts advance by a fractional,
pseudo-random stride, as PyTorch's ``fractional_max_pool2d`` / ``3d``.

The window starts along each axis come from one uniform sample per (N, C) plane and axis, by
ATen's ``generate_intervals`` (in the input's dtype, so the same samples give the same windows);
the maximum of each window is found on the arrays and the output gathered from the input at
those positions, so its gradient is the gather's.
"""

from __future__ import annotations

import math

from ...tensor import Tensor
from .conv import _ntuple


def _intervals(xp, samples, in_size: int, out_size: int, pool: int):
    """(B, out_size) window starts for the (B,) samples of one axis."""
    dt = samples.dtype.type
    if out_size > 1:
        alpha = dt(in_size - pool) / dt(out_size - 1)
        i = xp.arange(out_size).astype(samples.dtype)
        seq = ((i[None, :] + samples[:, None]) * alpha).astype(xp.int64) - (samples * alpha).astype(xp.int64)[:, None]
    else:
        seq = xp.zeros((samples.shape[0], max(out_size, 0)), dtype=xp.int64)
    if out_size > 0:
        seq[:, -1] = in_size - pool
    return seq


def _fractional_max_pool(nd: int, input: Tensor, kernel_size, output_size, output_ratio, return_indices,
                         _random_samples):
    name = f"fractional_max_pool{nd}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {list(input.shape)}")
    sizes = tuple(input.shape[-nd:])
    k = _ntuple(kernel_size, nd, "kernel_size")
    if output_size is None:
        ratio = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * nd
        out = tuple(int(s * r) for s, r in zip(sizes, ratio))
    else:
        out = _ntuple(output_size, nd, "output_size")
    for o, kk, s in zip(out, k, sizes):
        if o + kk - 1 > s:
            raise RuntimeError(f"{name}_out(): pool height {kk} too large relative to input height {s}"
                               if nd == 2 else f"{name}_out(): pool size {kk} too large relative to input size {s}")
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    n, c = x.shape[:2]
    xp = x._device.xp
    if _random_samples is None:
        from ... import rand

        _random_samples = rand(n, c, nd, dtype=x.dtype, device=x._device)
    samples = _random_samples._data.reshape(n * c, nd).astype(x._data.dtype, copy=False)
    b = n * c
    # the samples list the last axis first (width, then height, as ATen's 2-D kernel; depth first in 3-D)
    order = list(range(nd))[::-1] if nd == 2 else list(range(nd))
    starts = [None] * nd
    for j, axis in enumerate(order):
        starts[axis] = _intervals(xp, samples[:, j], sizes[axis], out[axis], k[axis])
    # every window's positions along each axis: (B, out_a, k_a), broadcast against the other axes
    pos = []
    for a in range(nd):
        p = starts[a][:, :, None] + xp.arange(k[a])[None, None, :]
        shape = [b] + [1] * nd + [1] * nd
        shape[1 + a] = out[a]
        shape[1 + nd + a] = k[a]
        pos.append(p.reshape(shape))
    strides = [math.prod(sizes[a + 1:]) for a in range(nd)]
    flat_pos = sum(pos[a] * strides[a] for a in range(nd))  # (B, *out, *k)
    plane = x._data.reshape(b, -1)
    rows = xp.arange(b).reshape([b] + [1] * (2 * nd))
    windows = plane[rows, flat_pos].reshape(b, *out, -1)
    best = windows.argmax(axis=-1)
    nan = xp.isnan(windows)
    if bool(nan.any()):  # a NaN wins (the last one, as ATen's loop keeps it)
        last_nan = windows.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
        best = xp.where(nan.any(axis=-1), last_nan, best)
    flat_pos = xp.broadcast_to(flat_pos, (b, *out, *k)).reshape(b, *out, -1)
    idx = xp.take_along_axis(flat_pos, best[..., None], axis=-1)[..., 0]
    idx_t = Tensor._make(idx.reshape(b, -1).astype(xp.int64), x._device)
    y = x.reshape(b, -1).gather(1, idx_t).reshape(n, c, *out)
    indices = Tensor._make(idx.reshape(n, c, *out).astype(xp.int64), x._device)
    if unbatched:
        y, indices = y.squeeze(0), indices.squeeze(0)
    return (y, indices) if return_indices else y


def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples=None):
    """Fractional max pooling over (N, C, H, W), as ``torch.nn.functional.fractional_max_pool2d``.

    Args:
        kernel_size: the window, int or (kh, kw).
        output_size / output_ratio: the output's (H, W), or its fraction of the input's.
        return_indices: also return the flat (h * W + w) positions of the maxima.
        _random_samples: (N, C, 2) samples in [0, 1) that place the windows (drawn when None).
    """
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio, return_indices, _random_samples)


def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples=None):
    """Fractional max pooling over (N, C, D, H, W), as ``torch.nn.functional.fractional_max_pool3d``.

    Args:
        kernel_size: the window, int or (kd, kh, kw).
        output_size / output_ratio: the output's (D, H, W), or its fraction of the input's.
        return_indices: also return the flat positions of the maxima.
        _random_samples: (N, C, 3) samples in [0, 1) that place the windows (drawn when None).
    """
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio, return_indices, _random_samples)


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                                       return_indices: bool = False, _random_samples=None):
    """:func:`fractional_max_pool2d` returning (values, indices)."""
    return fractional_max_pool2d(input, kernel_size, output_size, output_ratio, True, _random_samples)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                                       return_indices: bool = False, _random_samples=None):
    """:func:`fractional_max_pool3d` returning (values, indices)."""
    return fractional_max_pool3d(input, kernel_size, output_size, output_ratio, True, _random_samples)

