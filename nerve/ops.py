"""Primitive ops: where the forward and backward passes live.

Each op works on raw arrays through ``xp`` (NumPy or CuPy). Broadcasting is undone
by the engine, so a binary op returns gradients of the broadcast output shape.
Composite ops (std, softplus, ...) are written in terms of these on ``Tensor``
and need no backward of their own.
"""

from __future__ import annotations

import contextlib
import math

import numpy as _np

from . import _threads
from ._threads import gemm
from .autograd import Function
from .backend import scatter_add

# ---------------------------------------------------------------- elementwise


class Cast(Function):
    def forward(self, xp, x):
        return x.astype(self.dtype)

    def backward(self, xp, g):
        return g  # the engine casts back to the input's dtype


class Neg(Function):
    def forward(self, xp, x):
        return -x

    def backward(self, xp, g):
        return -g


class Add(Function):
    def forward(self, xp, a, b):
        return a + b

    def backward(self, xp, g):
        return g, g


class Sub(Function):
    def forward(self, xp, a, b):
        return a - b

    def backward(self, xp, g):
        return g, (-g if self.parents[1] is not None else None)


class Mul(Function):
    def forward(self, xp, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, xp, g):
        pa, pb = self.parents
        return (g * self.b if pa is not None else None), (g * self.a if pb is not None else None)


class Div(Function):
    def forward(self, xp, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, xp, g):
        pa, pb = self.parents
        ga = g / self.b if pa is not None else None
        gb = -g * self.a / (self.b * self.b) if pb is not None else None
        return ga, gb


class Pow(Function):
    """``a ** b``; either side may be a Python number."""

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, xp, g):
        a, b = self.a, self.b
        ga = gb = None
        if self.parents[0] is not None:
            ga = g * b * a ** (b - 1) if not isinstance(b, (int, float)) or b != 2 else g * 2 * a
        if self.parents[1] is not None:
            ga_log = xp.log(a) if not isinstance(a, (int, float)) else _pylog(a)
            gb = g * self.y * ga_log
        return ga, gb


def _pylog(x):
    return math.log(x) if x > 0 else float("nan")


class Exp(Function):
    def forward(self, xp, x):
        self.y = xp.exp(x)
        return self.y

    def backward(self, xp, g):
        return g * self.y


class Log(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.log(x)

    def backward(self, xp, g):
        return g / self.x


class Log1p(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.log1p(x)

    def backward(self, xp, g):
        return g / (1 + self.x)


class Sqrt(Function):
    def forward(self, xp, x):
        self.y = xp.sqrt(x)
        return self.y

    def backward(self, xp, g):
        return g / (2 * self.y)


class Abs(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.abs(x)

    def backward(self, xp, g):
        return g * xp.sign(self.x)


class Sin(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.sin(x)

    def backward(self, xp, g):
        return g * xp.cos(self.x)


class Cos(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.cos(x)

    def backward(self, xp, g):
        return -g * xp.sin(self.x)


class Tanh(Function):
    def forward(self, xp, x):
        self.y = xp.tanh(x)
        return self.y

    def backward(self, xp, g):
        return g * (1 - self.y * self.y)


class Sigmoid(Function):
    def forward(self, xp, x):
        # tanh form: stable for large |x| and one transcendental call
        self.y = (0.5 * (xp.tanh(0.5 * x) + 1)).astype(x.dtype, copy=False)
        return self.y

    def backward(self, xp, g):
        return g * self.y * (1 - self.y)


_ZERO_ROWS: dict = {}
_PARALLEL_MIN = 1 << 20  # elements from which ReLU splits its work over nerve's threads


def _relu_numpy(x):
    """``maximum(x, 0)`` against a row of zeros: NumPy's vector loop for two arrays runs 2-3x
    faster than its loop for an array and a scalar. ``x`` is viewed in its memory order, so a
    channel-major activation needs no copy; the result keeps that layout."""
    n = x.size
    if x.dtype.kind != "f" or n < 1024 or x.ndim == 0:
        return _np.maximum(x, 0)
    perm = None
    xm = x
    if not x.flags.c_contiguous:
        perm = sorted(range(x.ndim), key=lambda i: x.strides[i], reverse=True)
        xm = x.transpose(perm)
        if not xm.flags.c_contiguous:
            return _np.maximum(x, 0)
    k = 1024 if n % 1024 == 0 else xm.shape[-1]
    if k < 16:
        return _np.maximum(x, 0)
    key = (k, x.dtype)
    zeros = _ZERO_ROWS.get(key)
    if zeros is None:
        zeros = _ZERO_ROWS[key] = _np.zeros(k, x.dtype)
    rows = xm.reshape(-1, k)
    if n >= _PARALLEL_MIN:  # a big activation: row blocks on nerve's threads
        out = _np.empty_like(rows)
        w = _threads.workers()
        _threads.run_chunks(w, lambda a, b: _np.maximum(rows[a:b], zeros, out=out[a:b]),
                            _threads.blocks(rows.shape[0], w))
        y = out.reshape(xm.shape)
    else:
        y = _np.maximum(rows, zeros).reshape(xm.shape)
    if perm is not None:
        y = y.transpose(_np.argsort(perm))
    return y


class Relu(Function):
    def forward(self, xp, x):
        # one pass; NaN propagates as in torch
        self.y = _relu_numpy(x) if xp is _np else xp.maximum(x, 0)
        return self.y

    def backward(self, xp, g):
        # y = max(x, 0) is 0 or positive or NaN, so "y != 0" is torch's "not y <= 0": the
        # gradient passes where the output is positive or NaN, in one comparison
        y = self.y
        if xp is _np and y.size >= _PARALLEL_MIN and g.shape == y.shape:
            # blocks along the outermost axis in memory, on nerve's threads
            ax = max(range(y.ndim), key=lambda i: abs(y.strides[i]))
            out = _np.empty_like(y)
            lead = (slice(None),) * ax

            def part(a, b):
                sl = lead + (slice(a, b),)
                _np.multiply(g[sl], y[sl] != 0, out=out[sl])

            w = _threads.workers()
            _threads.run_chunks(w, part, _threads.blocks(y.shape[ax], w))
            return out
        return g * (y != 0)


class Clamp(Function):
    """Clamp to [min, max]; the gradient passes where the input was inside the range."""

    def forward(self, xp, x):
        lo, hi = self.min, self.max
        self.mask = None
        if lo is not None and hi is not None:
            self.mask = (x >= lo) & (x <= hi)
        elif lo is not None:
            self.mask = x >= lo
        elif hi is not None:
            self.mask = x <= hi
        return xp.clip(x, lo, hi)

    def backward(self, xp, g):
        return g if self.mask is None else g * self.mask


class Maximum(Function):
    def forward(self, xp, a, b):
        y = xp.maximum(a, b)
        self.a_wins = a > b
        self.tie = a == b
        return y

    def backward(self, xp, g):
        half = g * 0.5 * self.tie
        return g * self.a_wins + half, g * ~(self.a_wins | self.tie) + half


class Minimum(Function):
    def forward(self, xp, a, b):
        y = xp.minimum(a, b)
        self.a_wins = a < b
        self.tie = a == b
        return y

    def backward(self, xp, g):
        half = g * 0.5 * self.tie
        return g * self.a_wins + half, g * ~(self.a_wins | self.tie) + half


class Where(Function):
    """``where(cond, a, b)``; ``cond`` is a constant boolean array."""

    def forward(self, xp, cond, a, b):
        self.cond = cond
        return xp.where(cond, a, b)

    def backward(self, xp, g):
        zero = xp.zeros((), dtype=g.dtype)
        return None, xp.where(self.cond, g, zero), xp.where(self.cond, zero, g)


# ---------------------------------------------------------------- matmul


class MatMul(Function):
    def forward(self, xp, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("both arguments to matmul need to be at least 1D")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(
                f"shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied ({ka} != {kb})"
            )
        self.a, self.b = a, b
        if xp is _np and a.ndim == 2 and b.ndim == 2:
            return gemm(a, b)
        return xp.matmul(a, b)

    def backward(self, xp, g):
        a, b = self.a, self.b
        need_a, need_b = self.parents[0] is not None, self.parents[1] is not None
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            return (g * b if need_a else None), (g * a if need_b else None)
        if a.ndim == 1:  # (k) @ (..., k, n) -> (..., n)
            if need_a:
                ga = xp.matmul(g[..., None, :], xp.swapaxes(b, -1, -2))[..., 0, :]
            if need_b:
                gb = a[:, None] * g[..., None, :]
        elif b.ndim == 1:  # (..., m, k) @ (k) -> (..., m)
            if need_a:
                ga = g[..., :, None] * b
            if need_b:
                gb = xp.matmul(xp.swapaxes(a, -1, -2), g[..., :, None])[..., 0]
        else:  # the ndarray method: NumPy's module function adds two Python frames
            mm = gemm if xp is _np and a.ndim == 2 and b.ndim == 2 and g.ndim == 2 else xp.matmul
            if need_a:
                ga = mm(g, b.swapaxes(-1, -2))
            if need_b:
                gb = mm(a.swapaxes(-1, -2), g)
        return ga, gb


# ---------------------------------------------------------------- reductions


def _expand_reduced(xp, g, shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input ``shape``."""
    if axis is None:
        return g.reshape((1,) * len(shape)) if len(shape) else g
    if not keepdims:
        g = xp.expand_dims(g, axis)
    return g


def broadcast(xp, g, shape):
    """``broadcast_to(g, shape)``: a read-only view. On NumPy it is built directly from ``g``'s
    memory with zero strides; ``numpy.broadcast_to`` costs about five times as much in Python."""
    if type(g) is _np.ndarray and g.ndim == len(shape) and g.size and g.flags.c_contiguous:
        strides = []
        for s, t, st in zip(g.shape, shape, g.strides):
            if s == t:
                strides.append(st)
            elif s == 1:
                strides.append(0)
            else:
                return xp.broadcast_to(g, shape)  # raises NumPy's error
        v = _np.ndarray(shape, g.dtype, g, 0, tuple(strides))
        v.flags.writeable = False
        return v
    return xp.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, xp, x):
        self.shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims, dtype=self.dtype)

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.shape, self.axis, self.keepdims)
        return broadcast(xp, g, self.shape)


class Mean(Function):
    def forward(self, xp, x):
        self.shape = x.shape
        # sum / n: cheaper than ndarray.mean; keepdims so the sum is always an array
        y = x.sum(axis=self.axis, keepdims=True)
        self.n = x.size // max(y.size, 1) if x.size else 0
        if self.n and y.dtype == x.dtype:
            y /= self.n
        else:
            y = (y / (self.n or float("nan"))).astype(x.dtype, copy=False)
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, self.axis))

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.shape, self.axis, self.keepdims)
        return broadcast(xp, g / self.n, self.shape)


class Var(Function):
    def forward(self, xp, x):
        mean = x.mean(axis=self.axis, keepdims=True)
        self.xc = x - mean
        n = x.size // max(mean.size, 1)
        self.denom = max(n - self.correction, 0)
        y = (self.xc * self.xc).sum(axis=self.axis, keepdims=self.keepdims)
        with _errstate(xp):
            return (y / self.denom if self.denom else y * float("nan")).astype(x.dtype, copy=False)

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.xc.shape, self.axis, self.keepdims)
        return g * (2.0 / self.denom) * self.xc if self.denom else g * self.xc * float("nan")


def _errstate(xp):
    return _np.errstate(divide="ignore", invalid="ignore") if xp is _np else contextlib.nullcontext()


class Prod(Function):
    def forward(self, xp, x):
        self.x = x
        self.y = x.prod(axis=self.axis, keepdims=True)
        return self.y if self.keepdims else self.y.reshape(_reduced_shape(x.shape, self.axis))

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.x.shape, self.axis, self.keepdims)
        x = self.x
        zeros = x == 0
        if not zeros.any():
            return g * self.y / x
        # exact gradient with zeros: product of all the other elements
        axis = self.axis
        if axis is None:
            flat = x.reshape(-1)
            left = xp.concatenate([xp.ones(1, x.dtype), xp.cumprod(flat)[:-1]])
            right = xp.concatenate([xp.cumprod(flat[::-1])[:-1][::-1], xp.ones(1, x.dtype)])
            return g * (left * right).reshape(x.shape)
        ones_shape = list(x.shape)
        ones_shape[axis] = 1
        ones = xp.ones(ones_shape, x.dtype)
        left = xp.concatenate([ones, xp.cumprod(x, axis=axis)], axis=axis)
        left = xp.take(left, xp.arange(x.shape[axis]), axis=axis)
        rev = xp.flip(x, axis=axis)
        right = xp.concatenate([ones, xp.cumprod(rev, axis=axis)], axis=axis)
        right = xp.flip(xp.take(right, xp.arange(x.shape[axis]), axis=axis), axis=axis)
        return g * left * right


def _reduced_shape(shape, axis):
    if axis is None:
        return ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(shape) for a in axes}
    return tuple(s for i, s in enumerate(shape) if i not in axes)


class Amax(Function):
    """max/min over axes; the gradient is shared evenly between tied maxima (as amax)."""

    def forward(self, xp, x):
        y = x.max(axis=self.axis, keepdims=True) if self.op == "max" else x.min(axis=self.axis, keepdims=True)
        self.mask = x == y
        self.count = self.mask.sum(axis=self.axis, keepdims=True)
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, self.axis))

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.mask.shape, self.axis, self.keepdims)
        return g * self.mask / self.count


class MaxDim(Function):
    """max/min along one dim, returning values; the gradient goes to the chosen index."""

    def forward(self, xp, x):
        idx = x.argmax(axis=self.axis) if self.op == "max" else x.argmin(axis=self.axis)
        self.idx = xp.expand_dims(idx, self.axis)
        self.shape = x.shape
        y = xp.take_along_axis(x, self.idx, axis=self.axis)
        return y if self.keepdims else xp.squeeze(y, self.axis)

    def backward(self, xp, g):
        if not self.keepdims:
            g = xp.expand_dims(g, self.axis)
        gx = xp.zeros(self.shape, g.dtype)
        xp.put_along_axis(gx, self.idx, g, axis=self.axis)
        return gx


class LogSumExp(Function):
    def forward(self, xp, x):
        if xp is _np and isinstance(self.axis, int) and x.size:
            shifted = _global_shift(x, self.axis, keep_shifted=False)
            if shifted is not None:
                c, _, e, s = shifted
                self.e, self.s = e, s
                y = _np.log(s)
                y += c
                return y if self.keepdims else y.reshape(_reduced_shape(x.shape, self.axis))
        m = x.max(axis=self.axis, keepdims=True)
        if xp is not _np or not math.isfinite(m.sum()):  # rows of -inf/inf: shift by 0 instead
            m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True))
        y += m
        # backward as torch: g * exp(x - y), which stays 0 (not inf * 0) next to an infinite y
        self.e, self.x, self.y = None, x, y
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, self.axis))

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.x.shape if self.e is None else self.e.shape, self.axis, self.keepdims)
        if self.e is not None:
            return self.e * (g / self.s)
        return g * xp.exp(self.x - self.y)


# ---------------------------------------------------------------- stable exponentials

_ONES: dict = {}
_SAFE: dict = {}


def _safe_sum(dtype) -> float:
    """The smallest sum of shifted exponentials whose log keeps full precision (sqrt(tiny))."""
    safe = _SAFE.get(dtype)
    if safe is None:
        safe = _SAFE[dtype] = float(_np.sqrt(_np.finfo(dtype).tiny))
    return safe


def sum_along(xp, a, axis: int):
    """``a.sum(axis, keepdims=True)``; along the last axis on NumPy a BLAS matrix-vector product,
    several times faster than NumPy's reduction on the small rows of a classifier's logits."""
    if xp is _np and axis == a.ndim - 1 and a.dtype.kind == "f":
        key = (a.shape[-1], a.dtype)
        ones = _ONES.get(key)
        if ones is None:
            ones = _ONES[key] = _np.ones(a.shape[-1], dtype=a.dtype)
        return (a @ ones)[..., None]
    return a.sum(axis=axis, keepdims=True)


def _global_shift(x, axis: int, keep_shifted: bool):
    """NumPy: ``(c, shifted, e, s)`` with one global shift ``c = x.max()``, or None when some
    slice's sum of exponentials comes near underflow (logits of rows far apart, inf, nan)."""
    c = _np.maximum.reduce(x, axis=None)  # the ufunc itself: ndarray.max adds a Python frame
    sh = x - c
    e = _np.exp(sh, out=None if keep_shifted else sh)
    s = sum_along(_np, e, axis)
    return (c, sh, e, s) if _np.minimum.reduce(s, axis=None) >= _safe_sum(x.dtype) else None


def exp_shifted(xp, x, axis: int, keep_shifted: bool = True):
    """``(shifted, e, s)``: shifted = x - c, e = exp(shifted), s = e summed along ``axis`` (kept).

    ``c`` is the max along ``axis``, which no exponential can overflow past. On NumPy one global
    max (one cheap reduction instead of a slow per-row one) is used instead whenever every
    slice still keeps a sum far from underflow; otherwise (logits of rows far apart, inf, nan)
    the per-row max is used. On the GPU the per-row max is always used: the check would wait
    for the device. With ``keep_shifted=False``, ``shifted`` is overwritten by ``e``.
    """
    if xp is _np and x.size:
        shifted = _global_shift(x, axis, keep_shifted)
        if shifted is not None:
            return shifted[1:]
    sh = x - x.max(axis=axis, keepdims=True)
    e = xp.exp(sh, out=None if keep_shifted else sh)
    return sh, e, sum_along(xp, e, axis)


# ---------------------------------------------------------------- shapes


class Reshape(Function):
    def forward(self, xp, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, xp, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    def forward(self, xp, x):
        return x.transpose(self.dims)

    def backward(self, xp, g):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return g.transpose(inv)


class Expand(Function):
    def forward(self, xp, x):
        return xp.broadcast_to(x, self.shape)

    def backward(self, xp, g):
        return g  # the engine sums back to the input shape


class Cat(Function):
    def forward(self, xp, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, xp, g):
        out, start = [], 0
        for n in self.sizes:
            sl = [slice(None)] * g.ndim
            sl[self.axis] = slice(start, start + n)
            out.append(g[tuple(sl)])
            start += n
        return tuple(out)


class Stack(Function):
    def forward(self, xp, *xs):
        return xp.stack(xs, axis=self.axis)

    def backward(self, xp, g):
        return tuple(xp.take(g, i, axis=self.axis) for i in range(g.shape[self.axis]))


class GetItem(Function):
    """``x[index]`` for slices, ints, None, Ellipsis, integer arrays and boolean masks."""

    def forward(self, xp, x):
        self.shape = x.shape
        self.dtype = x.dtype
        out = x[self.index]
        if isinstance(out, _np.generic):  # integers for every axis: a 0-d view, not a copied scalar
            idx = self.index
            out = x[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
        return out

    def backward(self, xp, g):
        gx = xp.zeros(self.shape, dtype=g.dtype)
        if self.advanced:
            scatter_add(xp, gx, self.index, g)
        else:
            gx[self.index] = g
        return gx


class SetItem(Function):
    """Out-of-place ``x[index] = v`` used when the assignment must be differentiable."""

    def forward(self, xp, x, v):
        out = x.copy()
        out[self.index] = v
        return out

    def backward(self, xp, g):
        gx = g.copy()
        gx[self.index] = 0
        gv = g[self.index] if self.parents[1] is not None else None
        return gx, gv


class Flip(Function):
    def forward(self, xp, x):
        return xp.flip(x, axis=self.axis)

    def backward(self, xp, g):
        return xp.flip(g, axis=self.axis)


class Tri(Function):
    """``tril`` / ``triu`` of the last two axes; the gradient keeps the same triangle."""

    def forward(self, xp, x):
        return (xp.triu if self.upper else xp.tril)(x, self.k)

    def backward(self, xp, g):
        return (xp.triu if self.upper else xp.tril)(g, self.k)


class Roll(Function):
    """``roll``: shift elements along axes, wrapping around; the gradient rolls back."""

    def forward(self, xp, x):
        return xp.roll(x, self.shifts, axis=self.axis)

    def backward(self, xp, g):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return xp.roll(g, back, axis=self.axis)


class Repeat(Function):
    """``x.repeat(*sizes)``: tile the tensor; the gradient sums the tiles."""

    def forward(self, xp, x):
        self.in_shape = x.shape
        return xp.tile(x, self.reps)

    def backward(self, xp, g):
        shape = self.in_shape
        lead = len(self.reps) - len(shape)
        full = (1,) * lead + tuple(shape)
        split = []
        for r, s in zip(self.reps, full):
            split += [r, s]
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return g.reshape(shape)


class Contiguous(Function):
    """A differentiable copy in C order (``clone`` and ``contiguous``)."""

    def forward(self, xp, x):
        return xp.array(x, copy=True, order="C")

    def backward(self, xp, g):
        return g


class Gather(Function):
    """``take_along_axis``: pick along ``axis`` by an integer index array."""

    def forward(self, xp, x, index):
        self.shape, self.index = x.shape, index
        return xp.take_along_axis(x, index, axis=self.axis)

    def backward(self, xp, g):
        gx = xp.zeros(self.shape, g.dtype)
        nd = self.index.ndim
        grids = [xp.arange(n).reshape([n if i == d else 1 for i in range(nd)])
                 for d, n in enumerate(self.index.shape)]
        grids[self.axis] = self.index
        scatter_add(xp, gx, tuple(grids), g)
        return gx, None


class CumSum(Function):
    def forward(self, xp, x):
        return xp.cumsum(x, axis=self.axis)

    def backward(self, xp, g):
        return xp.flip(xp.cumsum(xp.flip(g, axis=self.axis), axis=self.axis), axis=self.axis)


class Einsum(Function):
    """``einsum`` with an explicit ``->`` output; a letter may appear once per operand."""

    def forward(self, xp, *xs):
        self.xs = xs
        return xp.einsum(self.equation, *xs)

    def backward(self, xp, g):
        ins, out = self.equation.replace(" ", "").split("->")
        terms = ins.split(",")
        grads = []
        for i, term in enumerate(terms):
            if self.parents[i] is None:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(terms) if j != i]
            arrays = [x for j, x in enumerate(self.xs) if j != i]
            # the gradient contracts g with the other operands; letters summed away in term i alone
            # (absent from the output and every other operand) come back by broadcasting
            present = set(out).union(*others)
            eq = ",".join([out] + others) + "->" + "".join(c for c in term if c in present)
            gi = xp.einsum(eq, g, *arrays)
            missing = tuple(k for k, c in enumerate(term) if c not in present)
            if missing:
                gi = xp.broadcast_to(xp.expand_dims(gi, missing), self.xs[i].shape)
            grads.append(gi)
        return tuple(grads)
