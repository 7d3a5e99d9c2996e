"""Pooling: max, average and adaptive pooling over (N, C, L), (N, C, H, W) and (N, C, D, H, W).

Each pooling op loops over the offsets of its window, not over the windows: every step is one
whole-array op on a strided view of the (padded) input, so a 2x2 max-pool is four compares.
Inputs that are channel-major in memory (what the convolutions return) are pooled in that
order, so no transpose copy is made. The ops take any number of spatial axes; 1-D pooling runs
as 2-D over a height of 1.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from ... import _threads
from ...autograd import Function
from ...tensor import Tensor
from .conv import _ntuple, _workers

_ALL = (slice(None), slice(None))  # the two leading axes, whole


def _work(x):
    """(array with the spatial axes last and contiguous if possible, swapped?)."""
    xc = x.transpose(1, 0, *range(2, x.ndim))
    if xc.flags.c_contiguous and not x.flags.c_contiguous:
        return xc, True
    return x, False


def _unswap(a, swapped):
    return a.transpose(1, 0, *range(2, a.ndim)) if swapped else a


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


def _padded(xp, a, plan, fill):
    """``a`` padded with ``fill`` as ``_pad_plan`` says."""
    pshape, place = plan
    if pshape is None:
        return a
    out = xp.full(a.shape[:2] + pshape, fill, dtype=a.dtype)
    out[place] = a
    return out


@functools.lru_cache(maxsize=256)
def _pad_plan(sizes, pads, need):
    """(padded spatial sizes, the input's place in them) for ``pads[i]`` entries before spatial axis i
    and enough after to reach ``need[i]``; (None, None) when no padding is needed."""
    if not any(pads) and all(n <= s for n, s in zip(need, sizes)):
        return None, None
    return (tuple([max(n, s + p) for n, s, p in zip(need, sizes, pads)]),
            _ALL + tuple([slice(p, p + s) for p, s in zip(pads, sizes)]))


def _lanes(a, axis, k, s, d, n):
    """The k strided views along ``axis`` that a window of size k meets, n outputs each."""
    out = []
    for i in range(k):
        sl = [slice(None)] * a.ndim
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
    # a NaN in a window is its maximum (np.maximum carries it into best), and torch's index and
    # gradient point at the window's last NaN; the comparisons above let a later number beat an
    # earlier NaN, so such windows are decided again (on NumPy only where best has a NaN)
    if xp is not np or (best.size and np.isnan(np.minimum.reduce(best, axis=None))):  # one pass, no array
        _last_nan_wins(xp, lanes, keeps)


def _last_nan_wins(xp, lanes, keeps):
    """``keeps`` again as torch's kernels compare: lane j beats the lanes before it where it is a
    NaN, or where it is greater than their maximum and none of them was a NaN."""
    seen = xp.isnan(lanes[0])
    m = lanes[0]
    for v, keep in zip(lanes[1:], keeps[1:]):
        nan = xp.isnan(v)
        beat = nan | (~seen & (v > m))
        xp.logical_not(beat, out=keep)
        m = xp.maximum(m, v)
        seen |= nan


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


class MaxPoolNdFn(Function):
    """Max over each window; the gradient goes to the first maximum (row-major), as PyTorch's.

    Separable: first the max along the last axis W for every row (KW lanes), then along H (KH
    lanes), then along D in 3-D. Ties keep the earlier lane at every stage, which is the first
    maximum in row-major order.
    """

    name = "max_pool2d"
    torch_name = "MaxPool2DWithIndicesBackward0"

    def forward(self, xp, x):
        k, st, dl, outs = self.kernel, self.stride, self.dilation, self.out_size
        a, self.swapped = _work(x)
        lead = a.shape[:2]
        pad, crop, axes, shapes, back = _max_plan(a.shape[2:], k, st, self.padding, dl, outs)
        fill = -math.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        ap = _padded(xp, a, pad, fill)[crop]
        shapes = [lead + sh for sh in shapes]
        results = [xp.empty(sh, dtype=x.dtype) for sh in shapes]
        self.keeps = [[None] + [xp.empty(sh, dtype=bool) for _ in range(k[ax] - 1)] for sh, ax in zip(shapes, axes)]

        def part(i0, i1):
            src = ap
            for ax, res, keeps in zip(axes, results, self.keeps):
                _max_lanes(xp, [v[i0:i1] for v in _lanes(src, 2 + ax, k[ax], st[ax], dl[ax], outs[ax])],
                           res[i0:i1], [None] + [t[i0:i1] for t in keeps[1:]])
                src = res

        _threads.run_chunks(*_parts(xp, ap, part))
        self.geom = (a.shape, ap.shape, shapes, axes, back)
        return _unswap(results[-1], self.swapped)

    def indices(self, xp, inside: bool = False):
        """Flat (d * H * W + h * W + w) positions of the maxima in each input plane, as PyTorch returns them;
        with ``inside``, also whether each lies in the input (a window of -inf alone can pick its padding)."""
        st, pd, dl, outs = self.stride, self.padding, self.dilation, self.out_size
        shape, pshape, shapes = self.geom[:3]
        nd = len(outs)
        lead = shape[:2]
        flat = 0
        within = True
        pos = None  # the flat position, among the padded axes met so far, of each maximum
        for ax in range(nd):  # the first axis first: its lanes were the last stage's
            stage = nd - 1 - ax
            lane = _lane_index(xp, self.keeps[stage], shapes[stage])  # (lead, padded[:ax], outs[ax:])
            if ax:
                m = lane.reshape(lead + (-1,) + outs[ax:])
                at = pos.reshape(lead + (math.prod(outs[:ax]),) + outs[ax:])
                lane = xp.take_along_axis(m, at, axis=2).reshape(lead + outs)
            r = xp.arange(outs[ax], dtype=xp.int64).reshape((-1,) + (1,) * (nd - 1 - ax)) * st[ax] + lane * dl[ax]
            pos = r if pos is None else pos * pshape[2 + ax] + r
            flat = flat * shape[2 + ax] + (r - pd[ax])
            if inside:
                within = within & (r >= pd[ax]) & (r - pd[ax] < shape[2 + ax])
        if inside:
            return _unswap(flat, self.swapped), _unswap(xp.broadcast_to(within, flat.shape), self.swapped)
        return _unswap(flat, self.swapped)

    def backward(self, xp, grad):
        k, st, dl, outs = self.kernel, self.stride, self.dilation, self.out_size
        shape, pshape, shapes, axes, back = self.geom
        nd = len(k)
        g = _unswap(grad, self.swapped)
        # the gradient of each stage's input; windows that tile an axis (stride == kernel, no
        # dilation) write every element: no zero fill
        ins = [pshape] + shapes[:-1]
        bufs = [(xp.empty if st[ax] == k[ax] and dl[ax] == 1 else xp.zeros)(sh, dtype=grad.dtype)
                for ax, sh in zip(axes, ins)]

        def part(i0, i1):
            src = g[i0:i1]
            for stage in reversed(range(nd)):
                ax = axes[stage]
                _route(xp, src, bufs[stage][i0:i1], 2 + ax, [None] + [t[i0:i1] for t in self.keeps[stage][1:]],
                       k[ax], st[ax], dl[ax], outs[ax])
                src = bufs[stage][i0:i1]

        dx = bufs[0]
        _threads.run_chunks(*_parts(xp, dx, part))
        if back is not None:  # the padded gradient's part that is the input's
            full = xp.zeros(shape, dtype=grad.dtype)
            full[back[0]] = dx[back[1]]
            dx = full
        return _unswap(dx, self.swapped)

    def backward_t(self, g):
        return _route_t(self, g, *self.indices(self.device.xp, inside=True))


@functools.lru_cache(maxsize=256)
def _max_plan(sizes, kernel, stride, padding, dilation, outs):
    """Max pooling's geometry for inputs of spatial ``sizes``: (the padding plan, the crop of the
    padded input to what the windows reach, the stages' axes (the last axis first), each stage's
    result shape past the two leading axes, and (where, from where) the padded gradient goes into
    the input's, or None when the input was used as it is)."""
    need = tuple([(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(outs, stride, dilation, kernel)])
    pad = _pad_plan(sizes, padding, need)
    axes = tuple(reversed(range(len(kernel))))
    shapes, shape = [], need
    for ax in axes:
        shape = shape[:ax] + (outs[ax],) + shape[ax + 1 :]
        shapes.append(shape)
    back = None
    if need != sizes or any(padding):
        ext = [min(s, n - p) for s, n, p in zip(sizes, need, padding)]
        back = (_ALL + tuple([slice(0, e) for e in ext]), _ALL + tuple([slice(p, p + e) for p, e in zip(padding, ext)]))
    return pad, _ALL + tuple([slice(0, n) for n in need]), axes, tuple(shapes), back


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


class AvgPoolNdFn(Function):
    name = "avg_pool2d"
    torch_name = "AvgPool2DBackward0"

    def forward(self, xp, x):
        a, self.swapped = _work(x)
        pad, windows, div, crop = _avg_plan(x.shape[2:], self.kernel, self.stride, self.padding, self.out_size,
                                            self.count_include_pad)
        ap = _padded(xp, a, pad, 0)
        out = None
        for at in windows:
            if out is None:
                out = ap[at].astype(x.dtype, copy=True)
            else:
                out += ap[at]
        if self.divisor_override:
            self.div = xp.asarray(float(self.divisor_override), dtype=x.dtype)
        else:
            self.div = xp.asarray(div, dtype=x.dtype)
        out /= self.div
        self.geom = (ap.shape, windows, crop)
        return _unswap(out, self.swapped)

    def backward(self, xp, grad):
        pshape, windows, crop = self.geom
        g = _unswap(grad, self.swapped) / self.div
        dx = xp.zeros(pshape, dtype=grad.dtype)
        for at in windows:
            dx[at] += g
        if crop is not None:
            dx = dx[crop]
        return _unswap(dx, self.swapped)

    def backward_t(self, g):
        return AvgPoolTransposeFn.apply(g, pool=self)


class AvgPoolTransposeFn(Function):
    """Average pooling's backward as an op (the transpose of a linear map): its own backward is the
    pooling, so gradients through an average pooling's gradient are exact to any order."""

    name = "avg_pool_backward"

    @property
    def node_name(self) -> str:
        return self.pool.torch_name.removesuffix("0") + "Backward0"  # AvgPool2DBackwardBackward0, as PyTorch

    def forward(self, xp, g):
        return self.pool.backward(xp, g)

    def backward(self, xp, gg):
        return self.pool_again().forward(xp, gg)

    def backward_t(self, gg):
        return AvgPoolNdFn.apply(gg, **self.pool_attrs())

    def pool_attrs(self):
        return {k: getattr(self.pool, k) for k in ("kernel", "stride", "padding", "out_size", "name", "torch_name",
                                                   "count_include_pad", "divisor_override")}

    def pool_again(self):
        fn = AvgPoolNdFn()
        fn.__dict__.update(self.pool_attrs())
        return fn


@functools.lru_cache(maxsize=256)
def _avg_plan(sizes, kernel, stride, padding, outs, count_include_pad):
    """Average pooling's geometry for inputs of spatial ``sizes``: (the padding plan, each window
    offset's strided view, the divisor (a host array of the output's spatial shape), the padded
    gradient's part that is the input's or None)."""
    pad = _pad_plan(sizes, padding, tuple([(o - 1) * s + k for o, s, k in zip(outs, stride, kernel)]))
    windows = tuple(_ALL + tuple([slice(i, i + s * (o - 1) + 1, s) for i, o, s in zip(offs, outs, stride)])
                    for offs in itertools.product(*map(range, kernel)))
    div = np.ones((), dtype=np.float64)
    for ax, (size, k, s, p, o) in enumerate(zip(sizes, kernel, stride, padding, outs)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        count = end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0)
        div = div * count.reshape((-1,) + (1,) * (len(sizes) - 1 - ax))
    crop = None if pad[0] is None else _ALL + tuple([slice(p, p + s) for p, s in zip(padding, sizes)])
    return pad, windows, div, crop


class AdaptiveMaxPoolNdFn(Function):
    """Max over PyTorch's adaptive bins [floor(i*H/OH), ceil((i+1)*H/OH)); one loop step per bin."""

    name = "adaptive_max_pool2d"
    torch_name = "AdaptiveMaxPool2DBackward0"

    def forward(self, xp, x):
        n, c, *sizes = x.shape
        outs = self.out_size
        out = xp.empty((n, c) + outs, dtype=x.dtype)
        idx = xp.empty((n, c) + outs, dtype=xp.int64)
        bins = [_bins(size, o) for size, o in zip(sizes, outs)]
        for at in itertools.product(*map(range, outs)):
            spans = [b[i] for b, i in zip(bins, at)]
            win = x[_ALL + tuple(slice(s, e) for s, e in spans)].reshape(n, c, -1)
            k = xp.argmax(win, axis=2)
            if x.dtype.kind == "f":  # a NaN wins, the bin's last one, as in PyTorch
                nan = xp.isnan(win)
                last = win.shape[2] - 1 - xp.argmax(nan[..., ::-1].astype(xp.int8), axis=2)
                k = xp.where(nan.any(axis=2), last, k)
            out[_ALL + at] = xp.take_along_axis(win, k[..., None], axis=2)[..., 0]
            flat, rest = 0, k
            for (s, e), size, below in zip(spans, sizes, [math.prod(e - s for s, e in spans[i + 1 :])
                                                          for i in range(len(spans))]):
                flat = flat * size + s + rest // below  # the window's row-major position, in the whole plane
                rest = rest % below
            idx[_ALL + at] = flat
        self.idx, self.shape = idx, x.shape
        return out

    def backward(self, xp, grad):
        n, c = self.shape[:2]
        dx = xp.zeros((n * c, math.prod(self.shape[2:])), dtype=grad.dtype)
        rows = xp.arange(n * c)[:, None]
        from ...backend import scatter_add

        scatter_add(xp, dx, (rows, self.idx.reshape(n * c, -1)), grad.reshape(n * c, -1))
        return dx.reshape(self.shape)

    def backward_t(self, g):
        return _route_t(self, g, self.idx)


def _route_t(fn, g, idx, inside=None):
    """A max pooling's backward on tensors: ``g`` added into zeros at the flat positions ``idx``
    (N, C, *out) of the maxima in each input plane, recorded (fixed indices: linear in ``g``);
    where ``inside`` is False (a maximum in the padding) no gradient goes, as in ``backward``."""
    from ...ops import IndexPut

    xp = fn.device.xp
    shape = fn.in_meta[0][0]
    nc, plane = shape[0] * shape[1], math.prod(shape[2:])
    zeros = fn.const(xp.zeros((nc, plane), dtype=g._data.dtype))
    idx = idx.reshape(nc, -1)
    g = g.reshape(nc, -1)
    if inside is not None and not bool(inside.all()):
        inside = inside.reshape(nc, -1)
        g = g * fn.const(inside.astype(g._data.dtype))
        idx = xp.where(inside, idx, 0)
    index = (xp.arange(nc)[:, None], idx)
    return IndexPut.apply(zeros, g, index=index, accumulate=True, advanced=True).reshape(shape)


def _bins(size, out):
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _pool_args(input, kernel_size, stride, padding, dilation, ceil_mode, name, nd=2):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for input, got shape "
                           f"{list(input.shape)}")
    k = _ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _ntuple(stride, nd, "stride")
    p = _ntuple(padding, nd, "padding")
    d = _ntuple(dilation, nd, "dilation")
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
    sizes = tuple(input.shape[-nd:])
    out = tuple(_out_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(sizes, k, s, p, d))
    if min(out) < 1:
        c = (input.shape[-nd - 1],)
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, c + sizes))}). Calculated output size: "
                           f"({'x'.join(map(str, c + out))}). Output size is too small")
    return k, s, p, d, out


def _max_pool(name, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    k, s, p, d, out = _pool_args(input, kernel_size, stride, padding, dilation, ceil_mode, name, nd)
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    fn = MaxPoolNdFn()
    fn.__dict__.update(kernel=k, stride=s, padding=p, dilation=d, out_size=out, name=name,
                       torch_name=f"MaxPool{nd}DWithIndicesBackward0")
    y = fn.run((x,))
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    idx = Tensor._make(fn.indices(x._device.xp), x._device)
    return y, (idx.squeeze(0) if unbatched else idx)


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
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """3-D max pooling, as ``torch.nn.functional.max_pool3d``.

    Args:
        input: (N, C, D, H, W) or (C, D, H, W).
        kernel_size, stride (default: kernel_size), padding, dilation: int or (d, h, w).
        ceil_mode: round the output size up instead of down.
        return_indices: also return the flat (d * H * W + h * W + w) position of each maximum.

    Returns:
        The pooled tensor, or (pooled, indices).
    """
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(name, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    k, s, p, _, out = _pool_args(input, kernel_size, stride, padding, 1, ceil_mode, name, nd)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    y = AvgPoolNdFn.apply(x, kernel=k, stride=s, padding=p, out_size=out, name=name,
                          torch_name=f"AvgPool{nd}DBackward0", count_include_pad=count_include_pad,
                          divisor_override=divisor_override)
    return y.squeeze(0) if unbatched else y


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
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """3-D average pooling, as ``torch.nn.functional.avg_pool3d``.

    Args:
        input: (N, C, D, H, W) or (C, D, H, W).
        kernel_size, stride (default: kernel_size), padding: int or (d, h, w).
        ceil_mode: round the output size up instead of down.
        count_include_pad: count the zero padding in the divisor.
        divisor_override: divide every window sum by this instead.

    Returns:
        The pooled tensor.
    """
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _adaptive_size(input, output_size, name, nd=2):
    if input.ndim not in (nd + 1, nd + 2):
        got = ": " if name.startswith("adaptive_max") else " "  # ATen's two messages differ so
        raise RuntimeError(f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got{got}{list(input.shape)}")
    if isinstance(output_size, int):
        output_size = (output_size,) * nd
    if len(output_size) != nd:
        raise RuntimeError(f"{name}: output_size must be {nd}")
    sizes = input.shape[-nd:]
    out = tuple(n if o is None else int(o) for o, n in zip(output_size, sizes))
    if min(out) < 1:
        raise RuntimeError(f"{name}: output_size must be positive, got {output_size}")
    return out


def _bin_matrix(input, size, out):
    """The (out, size) matrix that averages each of PyTorch's adaptive bins."""
    xp = input._device.xp
    m = xp.zeros((out, size), dtype=input._data.dtype)
    for i, (a, b) in enumerate(_bins(size, out)):
        m[i, a:b] = 1.0 / (b - a)
    return Tensor._make(m, input._device)


def _adaptive_avg(input, outs):
    """Average the trailing ``len(outs)`` axes over PyTorch's adaptive bins.

    Each axis whose size changes is multiplied by a small constant averaging matrix (``P_h @ x
    @ P_w^T`` in 2-D; the depth against the flattened (H, W) planes in 3-D), so the gradient
    comes from matmul's.
    """
    nd = len(outs)
    if all(o == 1 for o in outs):
        return input.mean(dim=tuple(range(-nd, 0)), keepdim=True)
    y = input
    for ax, o in enumerate(outs, y.ndim - nd):
        n = y.shape[ax]
        if n == o:
            continue
        if ax == y.ndim - 1:
            y = y @ _bin_matrix(input, n, o).transpose(0, 1)
        else:
            lead, rest = tuple(y.shape[:ax]), tuple(y.shape[ax + 1 :])
            y = (_bin_matrix(input, n, o) @ y.reshape(lead + (n, math.prod(rest)))).reshape(lead + (o,) + rest)
    return y


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average over PyTorch's adaptive bins to an (OH, OW) output; ``None`` keeps that size."""
    return _adaptive_avg(input, _adaptive_size(input, output_size, "adaptive_avg_pool2d"))


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Average over PyTorch's adaptive bins of (N, C, D, H, W) or (C, D, H, W) to (OD, OH, OW); ``None``
    keeps that size."""
    return _adaptive_avg(input, _adaptive_size(input, output_size, "adaptive_avg_pool3d", 3))


def _adaptive_max(name, nd, input, output_size, return_indices):
    out = _adaptive_size(input, output_size, name, nd)
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    fn = AdaptiveMaxPoolNdFn()
    fn.__dict__.update(out_size=out, name=name, torch_name=f"AdaptiveMaxPool{nd}DBackward0")
    y = fn.run((x,))
    idx = Tensor._make(fn.idx, x._device)
    if unbatched:
        y, idx = y.squeeze(0), idx.squeeze(0)
    return (y, idx) if return_indices else y


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive bins to an (OH, OW) output; ``None`` keeps that size."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max over PyTorch's adaptive bins to an (OD, OH, OW) output; ``None`` keeps that size. Indices are
    flat (d * H * W + h * W + w) positions."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


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


# ---------------------------------------------------------------- power-average pooling


def _lp_pool(input: Tensor, norm_type, kernel_size, stride, ceil_mode: bool, dims: int, avg, top) -> Tensor:
    """(sum over the window of x ** p) ** (1 / p), as torch computes it: an average pooling of
    x ** p times the window's size; p = inf is max pooling of |x|, -inf the min."""
    ks = (kernel_size,) * dims if isinstance(kernel_size, int) else tuple(kernel_size)
    if norm_type == math.inf:
        return top(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -top(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    out = avg(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    # sign * relu(|out|) keeps torch's gradient: 0 (not nan) where a window's sum is 0
    return (out.sign() * out.abs().relu()).mul(math.prod(ks)).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """1-D power-average pooling, as ``torch.nn.functional.lp_pool1d``."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1, avg_pool1d, max_pool1d)


def lp_pool2d(input: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """2-D power-average pooling, as ``torch.nn.functional.lp_pool2d``."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2, avg_pool2d, max_pool2d)


def lp_pool3d(input: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """3-D power-average pooling, as ``torch.nn.functional.lp_pool3d``."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3, avg_pool3d, max_pool3d)


# torch's names for the forms that always return (values, indices)
def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                            return_indices: bool = False):
    """:func:`max_pool1d` with ``return_indices=True``."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                            return_indices: bool = False):
    """:func:`max_pool2d` with ``return_indices=True``."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                            return_indices: bool = False):
    """:func:`max_pool3d` with ``return_indices=True``."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """:func:`adaptive_max_pool1d` with ``return_indices=True``."""
    return adaptive_max_pool1d(input, output_size, return_indices=True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """:func:`adaptive_max_pool2d` with ``return_indices=True``."""
    return adaptive_max_pool2d(input, output_size, return_indices=True)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """:func:`adaptive_max_pool3d` with ``return_indices=True``."""
    return adaptive_max_pool3d(input, output_size, return_indices=True)
