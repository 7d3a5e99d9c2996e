"""Pooling: max, average and adaptive pooling over (N, C, H, W) and (N, C, L).

Each pooling op loops over the KH*KW offsets of its window, not over the windows: every step
is one whole-array op on a strided view of the (padded) input, so a 2x2 max-pool is four
compares. Inputs that are channel-major in memory (what the convolutions return) are pooled
in that order, so no transpose copy is made.
"""

from __future__ import annotations

import math

from ... import _threads
from ...autograd import Function
from ...tensor import Tensor
from .conv import _ntuple, _workers


def _work(x):
    """(array with the spatial axes last and contiguous if possible, swapped?)."""
    xc = x.transpose(1, 0, 2, 3)
    if xc.flags.c_contiguous and not x.flags.c_contiguous:
        return xc, True
    return x, False


def _out_size(size, k, s, p, d, ceil_mode):
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    if num < 0:
        return 0
    if ceil_mode:
        out = -(-num // s) + 1
        if (out - 1) * s >= size + p:  # the last window must start inside the input or left padding
            out -= 1
    else:
        out = num // s + 1
    return out


def _padded(xp, a, ph, pw, hn, wn, fill):
    """``a`` with ``ph``/``pw`` rows/columns of ``fill`` before and enough after to reach (hn, wn)."""
    n0, n1, h, w = a.shape
    if ph == 0 and pw == 0 and hn <= h and wn <= w:
        return a
    hp, wp = max(hn, h + ph), max(wn, w + pw)
    out = xp.full((n0, n1, hp, wp), fill, dtype=a.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = a
    return out


def _window(a, i, j, oh, ow, stride, dilation):
    sh, sw = stride
    hs, ws = i * dilation[0], j * dilation[1]
    return a[:, :, hs : hs + sh * (oh - 1) + 1 : sh, ws : ws + sw * (ow - 1) + 1 : sw]


def _lanes(a, axis, k, s, d, n):
    """The k strided views along ``axis`` (2 or 3) that a window of size k meets, n outputs each."""
    out = []
    for i in range(k):
        sl = [slice(None)] * 4
        sl[axis] = slice(i * d, i * d + s * (n - 1) + 1, s)
        out.append(a[tuple(sl)])
    return out


def _max_lanes(xp, lanes, best, keeps):
    """Running max over ``lanes`` into ``best``; ``keeps[j]`` (j >= 1, preallocated) is False
    where lane j beat every lane before it (strictly greater, or NaN)."""
    if len(lanes) == 1:
        best[...] = lanes[0]
        return
    xp.less_equal(lanes[1], lanes[0], out=keeps[1])
    xp.maximum(lanes[0], lanes[1], out=best)
    for v, keep in zip(lanes[2:], keeps[2:]):
        xp.less_equal(v, best, out=keep)
        xp.maximum(best, v, out=best)


def _winner(keeps, j):
    """Where lane j holds the first maximum: it beat the earlier lanes and no later lane beat it."""
    sel = None if j == 0 else ~keeps[j]
    for keep in keeps[j + 1 :]:
        sel = keep if sel is None else sel & keep
    return sel


def _lane_index(xp, keeps, shape):
    idx = xp.zeros(shape, dtype=xp.int64)
    for j, keep in enumerate(keeps[1:], 1):
        idx[~keep] = j
    return idx


# Pooling big inputs on the CPU splits the leading axis between the threads the convolutions
# use (elementwise NumPy work releases the GIL).
_PARALLEL_MIN = 1 << 18


def _parts(xp, a, fn):
    """``run_chunks``'s arguments to apply ``fn(i0, i1)`` to slices of ``a``'s leading axis."""
    workers = _workers(xp) if a.size >= _PARALLEL_MIN else 1
    return workers, fn, _threads.blocks(a.shape[0], workers)


class MaxPool2dFn(Function):
    """Max over each window; the gradient goes to the first maximum (row-major), as PyTorch's.

    Separable: first the max along W for every row (KW lanes), then along H (KH lanes). Ties
    keep the earlier lane at both stages, which is the first maximum in row-major order.
    """

    name = "max_pool2d"
    torch_name = "MaxPool2DWithIndicesBackward0"

    def forward(self, xp, x):
        (kh, kw), st, (ph, pw), dl = self.kernel, self.stride, self.padding, self.dilation
        a, self.swapped = _work(x)
        oh, ow = self.out_hw
        hn = (oh - 1) * st[0] + dl[0] * (kh - 1) + 1
        wn = (ow - 1) * st[1] + dl[1] * (kw - 1) + 1
        fill = -math.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        ap = _padded(xp, a, ph, pw, hn, wn, fill)[:, :, :hn, :wn]
        rshape = ap.shape[:3] + (ow,)
        bshape = ap.shape[:2] + (oh, ow)
        rows = xp.empty(rshape, dtype=x.dtype)
        best = xp.empty(bshape, dtype=x.dtype)
        self.keep_w = [None] + [xp.empty(rshape, dtype=bool) for _ in range(kw - 1)]
        self.keep_h = [None] + [xp.empty(bshape, dtype=bool) for _ in range(kh - 1)]

        def part(i0, i1):
            _max_lanes(xp, [v[i0:i1] for v in _lanes(ap, 3, kw, st[1], dl[1], ow)], rows[i0:i1],
                       [None] + [t[i0:i1] for t in self.keep_w[1:]])
            _max_lanes(xp, _lanes(rows[i0:i1], 2, kh, st[0], dl[0], oh), best[i0:i1],
                       [None] + [t[i0:i1] for t in self.keep_h[1:]])

        _threads.run_chunks(*_parts(xp, ap, part))
        self.geom = (a.shape, ap.shape, rshape)
        return best.transpose(1, 0, 2, 3) if self.swapped else best

    def indices(self, xp):
        """Flat (h * W + w) positions of the maxima in each input plane, as PyTorch returns them."""
        st, (ph, pw), dl = self.stride, self.padding, self.dilation
        oh, ow = self.out_hw
        shape, _, rshape = self.geom
        ih = _lane_index(xp, self.keep_h, shape[:2] + (oh, ow))
        r = xp.arange(oh, dtype=xp.int64)[:, None] * st[0] + ih * dl[0]  # padded row of each max
        iw = xp.take_along_axis(_lane_index(xp, self.keep_w, rshape), r, axis=2)
        c = xp.arange(ow, dtype=xp.int64) * st[1] + iw * dl[1]
        flat = (r - ph) * shape[3] + (c - pw)
        return flat.transpose(1, 0, 2, 3) if self.swapped else flat

    def backward(self, xp, grad):
        (kh, kw), st, (ph, pw), dl = self.kernel, self.stride, self.padding, self.dilation
        oh, ow = self.out_hw
        shape, pshape, rshape = self.geom
        g = grad.transpose(1, 0, 2, 3) if self.swapped else grad
        # windows that tile an axis (stride == kernel, no dilation) write every element: no zero fill
        drows = (xp.empty if st[0] == kh and dl[0] == 1 else xp.zeros)(rshape, dtype=grad.dtype)
        dx = (xp.empty if st[1] == kw and dl[1] == 1 else xp.zeros)(pshape, dtype=grad.dtype)

        def part(i0, i1):
            _route(xp, g[i0:i1], drows[i0:i1], 2, [None] + [t[i0:i1] for t in self.keep_h[1:]],
                   kh, st[0], dl[0], oh)
            _route(xp, drows[i0:i1], dx[i0:i1], 3, [None] + [t[i0:i1] for t in self.keep_w[1:]],
                   kw, st[1], dl[1], ow)

        _threads.run_chunks(*_parts(xp, dx, part))
        if pshape[2:] != shape[2:] or ph or pw:
            full = xp.zeros(shape, dtype=grad.dtype)
            h, w = min(shape[2], pshape[2] - ph), min(shape[3], pshape[3] - pw)
            full[:, :, :h, :w] = dx[:, :, ph : ph + h, pw : pw + w]
            dx = full
        return dx.transpose(1, 0, 2, 3) if self.swapped else dx


def _route(xp, g, dst, axis, keeps, k, s, d, n):
    """Send ``g`` back along ``axis`` of ``dst`` to the lane that held each first maximum."""
    lanes = _lanes(dst, axis, k, s, d, n)
    disjoint = s >= d * (k - 1) + 1
    if disjoint and k == 2:  # the common 2-wide window: two passes, no temporaries
        xp.multiply(g, keeps[1], out=lanes[0])
        xp.subtract(g, lanes[0], out=lanes[1])
        return
    for j, lane in enumerate(lanes):
        sel = _winner(keeps, j)
        if disjoint:
            if sel is None:
                lane[...] = g
            else:
                xp.multiply(g, sel, out=lane)
        else:
            lane += g if sel is None else g * sel


class AvgPool2dFn(Function):
    name = "avg_pool2d"
    torch_name = "AvgPool2DBackward0"

    def forward(self, xp, x):
        (kh, kw), st, (ph, pw) = self.kernel, self.stride, self.padding
        a, self.swapped = _work(x)
        h, w = x.shape[2:]
        oh, ow = self.out_hw
        hn, wn = (oh - 1) * st[0] + kh, (ow - 1) * st[1] + kw
        ap = _padded(xp, a, ph, pw, hn, wn, 0)
        out = None
        for o in range(kh * kw):
            v = _window(ap, o // kw, o % kw, oh, ow, st, (1, 1))
            if out is None:
                out = v.astype(x.dtype, copy=True)
            else:
                out += v
        self.div = self._divisor(xp, h, w, x.dtype)
        out /= self.div
        self.geom = (a.shape, ap.shape)
        return out.transpose(1, 0, 2, 3) if self.swapped else out

    def _divisor(self, xp, h, w, dtype):
        if self.divisor_override:
            return xp.asarray(float(self.divisor_override), dtype=dtype)
        counts = []
        for size, k, s, p, o in zip((h, w), self.kernel, self.stride, self.padding, self.out_hw):
            start = [i * s - p for i in range(o)]
            end = [min(b + k, size + p) for b in start]
            if self.count_include_pad:
                counts.append([e - b for b, e in zip(start, end)])
            else:
                counts.append([min(e, size) - max(b, 0) for b, e in zip(start, end)])
        ch = xp.asarray(counts[0], dtype=dtype)[:, None]
        cw = xp.asarray(counts[1], dtype=dtype)[None, :]
        return ch * cw

    def backward(self, xp, grad):
        (kh, kw), st, (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = self.out_hw
        shape, pshape = self.geom
        g = grad.transpose(1, 0, 2, 3) if self.swapped else grad
        g = g / self.div
        dx = xp.zeros(pshape, dtype=grad.dtype)
        for o in range(kh * kw):
            _window(dx, o // kw, o % kw, oh, ow, st, (1, 1))[...] += g
        dx = dx[:, :, ph : ph + shape[2], pw : pw + shape[3]]
        return dx.transpose(1, 0, 2, 3) if self.swapped else dx


class AdaptiveMaxPool2dFn(Function):
    """Max over PyTorch's adaptive bins [floor(i*H/OH), ceil((i+1)*H/OH)); one loop step per bin."""

    name = "adaptive_max_pool2d"
    torch_name = "AdaptiveMaxPool2DBackward0"

    def forward(self, xp, x):
        n, c, h, w = x.shape
        oh, ow = self.out_hw
        out = xp.empty((n, c, oh, ow), dtype=x.dtype)
        idx = xp.empty((n, c, oh, ow), dtype=xp.int64)
        for i, (hs, he) in enumerate(_bins(h, oh)):
            for j, (ws, we) in enumerate(_bins(w, ow)):
                win = x[:, :, hs:he, ws:we].reshape(n, c, -1)
                k = xp.argmax(win, axis=2)
                if x.dtype.kind == "f":  # a NaN wins, as in PyTorch
                    nan = xp.isnan(win)
                    k = xp.where(nan.any(axis=2), xp.argmax(nan.astype(xp.int8), axis=2), k)
                out[:, :, i, j] = xp.take_along_axis(win, k[..., None], axis=2)[..., 0]
                idx[:, :, i, j] = (hs + k // (we - ws)) * w + ws + k % (we - ws)
        self.idx, self.shape = idx, x.shape
        return out

    def backward(self, xp, grad):
        n, c, h, w = self.shape
        dx = xp.zeros((n * c, h * w), dtype=grad.dtype)
        rows = xp.arange(n * c)[:, None]
        from ...backend import scatter_add

        scatter_add(xp, dx, (rows, self.idx.reshape(n * c, -1)), grad.reshape(n * c, -1))
        return dx.reshape(self.shape)


def _bins(size, out):
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _pool_args(input, kernel_size, stride, padding, dilation, ceil_mode, name):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{name}: Expected 3D or 4D (batch mode) tensor for input, got shape {list(input.shape)}")
    k = _ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _ntuple(stride, 2, "stride")
    p = _ntuple(padding, 2, "padding")
    d = _ntuple(dilation, 2, "dilation")
    if any(v <= 0 for v in k):
        raise RuntimeError(f"{name}: kernel_size must be greater than zero, but got {k}")
    if any(v <= 0 for v in s):
        raise RuntimeError(f"{name}: stride must be greater than zero, but got {s}")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"{name}: dilation must be greater than zero, but got {d}")
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={pp}, "
                f"kernel_size={kk} and dilation={dd}"
            )
    h, w = input.shape[-2:]
    out = tuple(_out_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip((h, w), k, s, p, d))
    if out[0] < 1 or out[1] < 1:
        raise RuntimeError(
            f"{name}: given input size ({h}x{w}), calculated output size ({out[0]}x{out[1]}) is too small"
        )
    return k, s, p, d, out


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, stride (default: kernel_size), padding, dilation: int or (h, w).
        ceil_mode: round the output size up instead of down.
        return_indices: also return the flat (h * W + w) position of each maximum.

    Returns:
        The pooled tensor, or (pooled, indices).
    """
    k, s, p, d, out = _pool_args(input, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    fn = MaxPool2dFn()
    fn.__dict__.update(kernel=k, stride=s, padding=p, dilation=d, out_hw=out)
    y = fn.run((x,))
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    idx = Tensor._make(fn.indices(x._device.xp), x._device)
    return y, (idx.squeeze(0) if unbatched else idx)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, stride (default: kernel_size), padding: int or (h, w).
        ceil_mode: round the output size up instead of down.
        count_include_pad: count the zero padding in the divisor.
        divisor_override: divide every window sum by this instead.

    Returns:
        The pooled tensor.
    """
    k, s, p, _, out = _pool_args(input, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    y = AvgPool2dFn.apply(x, kernel=k, stride=s, padding=p, out_hw=out,
                          count_include_pad=count_include_pad, divisor_override=divisor_override)
    return y.squeeze(0) if unbatched else y


def _adaptive_size(input, output_size, name):
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{name}: Expected 3D or 4D tensor, but got shape {list(input.shape)}")
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    h, w = input.shape[-2:]
    out = tuple(n if o is None else int(o) for o, n in zip(output_size, (h, w)))
    if len(out) != 2 or any(o < 1 for o in out):
        raise RuntimeError(f"{name}: output_size must be positive, got {output_size}")
    return out


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average over PyTorch's adaptive bins to an (OH, OW) output; ``None`` keeps that size.

    Computed as ``P_h @ x @ P_w^T`` with small constant averaging matrices, so the gradient
    comes from matmul's.
    """
    oh, ow = _adaptive_size(input, output_size, "adaptive_avg_pool2d")
    h, w = input.shape[-2:]
    if (oh, ow) == (1, 1):
        return input.mean(dim=(-2, -1), keepdim=True)
    xp = input._device.xp

    def matrix(size, out):
        m = xp.zeros((out, size), dtype=input._data.dtype)
        for i, (a, b) in enumerate(_bins(size, out)):
            m[i, a:b] = 1.0 / (b - a)
        return Tensor._make(m, input._device)

    y = input
    if oh != h:
        y = matrix(h, oh) @ y
    if ow != w:
        y = y @ matrix(w, ow).transpose(0, 1)
    return y


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive bins to an (OH, OW) output; ``None`` keeps that size."""
    out = _adaptive_size(input, output_size, "adaptive_max_pool2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    fn = AdaptiveMaxPool2dFn()
    fn.out_hw = out
    y = fn.run((x,))
    idx = Tensor._make(fn.idx, x._device)
    if unbatched:
        y, idx = y.squeeze(0), idx.squeeze(0)
    return (y, idx) if return_indices else y


def _to_2d(v, what, fill):
    return (fill, _ntuple(v, 1, what)[0])


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling over (N, C, L) or (C, L), as ``torch.nn.functional.max_pool1d``."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"max_pool1d: Expected 2D or 3D (batch mode) tensor for input, got shape {list(input.shape)}")
    k = _to_2d(kernel_size, "kernel_size", 1)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _to_2d(stride, "stride", 1)
    r = max_pool2d(input.unsqueeze(-2), k, s, _to_2d(padding, "padding", 0), _to_2d(dilation, "dilation", 1),
                   ceil_mode, return_indices)
    if return_indices:
        return r[0].squeeze(-2), r[1].squeeze(-2)
    return r.squeeze(-2)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L), as ``torch.nn.functional.avg_pool1d``."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"avg_pool1d: Expected 2D or 3D (batch mode) tensor for input, got shape {list(input.shape)}")
    k = _to_2d(kernel_size, "kernel_size", 1)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _to_2d(stride, "stride", 1)
    return avg_pool2d(input.unsqueeze(-2), k, s, _to_2d(padding, "padding", 0), ceil_mode,
                      count_include_pad).squeeze(-2)


def _adaptive_1d(input: Tensor, output_size, name: str):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 "
                           f"'self' (while checking arguments for {name})")
    return (1, _ntuple(output_size, 1, "output_size")[0])


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average over PyTorch's adaptive bins of (N, C, L) or (C, L) to length ``output_size``."""
    out = _adaptive_1d(input, output_size, "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(input.unsqueeze(-2), out).squeeze(-2)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive bins of (N, C, L) or (C, L); indices are positions along L."""
    out = _adaptive_1d(input, output_size, "adaptive_max_pool1d")
    y, idx = adaptive_max_pool2d(input.unsqueeze(-2), out, return_indices=True)
    y = y.squeeze(-2)
    return (y, idx.squeeze(-2)) if return_indices else y
