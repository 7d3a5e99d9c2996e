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
from .autograd import Function, quiet_errors, sum_last
from .backend import copy_aligned, cupyx_errstate, scatter_add

# ---------------------------------------------------------------- elementwise


class Cast(Function):
    torch_name = "ToCopyBackward0"

    def forward(self, xp, x):
        return x.astype(self.dtype)

    def backward(self, xp, g):
        return g  # the engine casts back to the input's dtype

    def backward_t(self, g):
        return g


class Neg(Function):
    def forward(self, xp, x):
        return -x

    def backward(self, xp, g):
        return -g

    def backward_t(self, g):
        return -g


class Stepwise(Function):
    """An elementwise op whose derivative is zero wherever it exists (``fn``: the array module's
    floor, ceil, round, trunc or sign; ``args``: its extra arguments, round's decimals): recorded
    as PyTorch records it, passing a zero gradient on (so a result that depends on a tensor only
    through it still reaches the tensor, with zeros)."""

    args = ()

    def forward(self, xp, x):
        return getattr(xp, self.fn)(x, *self.args)

    @property
    def torch_name(self) -> str:  # FloorBackward0, ...; round with decimals is RoundBackward1
        return f"{self.fn.capitalize()}Backward{1 if self.args else 0}"

    def backward(self, xp, g):
        return xp.zeros_like(g)

    def backward_t(self, g):
        return g * 0.0


class Add(Function):
    def forward(self, xp, a, b):
        return a + b

    def backward(self, xp, g):
        return g, g

    def backward_t(self, g):
        return g, g


class Sub(Function):
    rsub = False  # number - tensor: PyTorch's rsub, whose node has the tensor as its only input

    @property
    def torch_name(self) -> str | None:
        return "RsubBackward1" if self.rsub else None

    def torch_edges(self) -> list:
        return self.parents[1:] if self.rsub else self.parents

    def forward(self, xp, a, b):
        return a - b

    def backward(self, xp, g):
        return g, (-g if self.parents[1] is not None else None)

    def backward_t(self, g):
        return g, (-g if self.parents[1] is not None else None)


def _product_saved(op) -> list:
    """What a product's backward reads: each input for the other's gradient (as PyTorch saves)."""
    pa, pb = op.parents
    return [x for x, other in ((op.b, pa), (op.a, pb)) if other is not None]


class Mul(Function):
    saved_arrays = _product_saved

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, xp, g):
        pa, pb = self.parents
        return (g * self.b if pa is not None else None), (g * self.a if pb is not None else None)

    def backward_t(self, g):
        pa, pb = self.parents
        return (g * self.saved(1, self.b) if pa is not None else None), (g * self.saved(0, self.a) if pb is not None else None)


class Div(Function):
    def saved_arrays(self) -> list:  # a's gradient reads b; b's reads both
        pa, pb = self.parents
        return [x for x, need in ((self.b, pa is not None or pb is not None), (self.a, pb is not None))
                if need]

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        if _is_number(b) and b != 0:
            return a / b
        with _errstate(xp):  # x / 0 gives inf or nan silently, as in torch
            return a / b

    def backward(self, xp, g):
        pa, pb = self.parents
        ga = g / self.b if pa is not None else None
        gb = -g * self.a / (self.b * self.b) if pb is not None else None
        return ga, gb

    def backward_t(self, g):
        pa, pb = self.parents
        a, b = self.saved(0, self.a), self.saved(1, self.b)
        ga = g / b if pa is not None else None
        gb = -g * a / (b * b) if pb is not None else None
        return ga, gb


class Pow(Function):
    """``a ** b``; either side may be a Python number."""

    @property
    def torch_name(self) -> str:  # PyTorch's three overloads: tensor ** number, tensor ** tensor, number ** tensor
        return "PowBackward0" if _is_number(self.b) else "PowBackward2" if _is_number(self.a) else "PowBackward1"

    def torch_edges(self) -> list:  # PyTorch's overloads with a number take it as an argument, not an input
        return [p for p, v in zip(self.parents, (self.a, self.b)) if not _is_number(v)]

    def saved_arrays(self) -> list:  # as PyTorch's overloads save: tensor ** number keeps the base only
        if _is_number(self.b):
            return [self.a]
        return [self.a, self.b, self.y]

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        if _is_number(b) and b >= 0 and float(b).is_integer():
            self.y = a ** b
        elif not _is_number(b) and b.dtype.kind in "iu" and _is_integer(a) and bool((b < 0).any()):
            # as torch (NumPy refuses): 1 ** -n is 1, (-1) ** -n is 1 or -1, any other base gives 0
            y = a ** xp.where(b < 0, 0, b)
            unit = xp.where((a == -1) & (b % 2 != 0), -1, xp.where((a == 1) | (a == -1), 1, 0))
            self.y = xp.where(b < 0, unit, y).astype(y.dtype, copy=False)
        else:
            with _errstate(xp):  # 0 ** -1 = inf, (-1) ** 0.5 = nan: silently, as in torch
                self.y = a ** b
        return self.y

    def zero_base(self):
        """Where the exponent's gradient is 0 as PyTorch defines it (``0 ** b`` with ``b >= 0``), not
        the nan of ``0 * log 0``; None for nowhere. (The base's is 0 where the exponent is 0.)"""
        a, b = self.a, self.b
        return (a == 0) & (b >= 0) if not _is_number(a) or a == 0 else None

    def backward(self, xp, g):
        a, b = self.a, self.b
        ga = gb = None
        with _errstate(xp):  # 0 ** -1 in the derivative: inf silently, as in torch
            if self.parents[0] is not None:
                if _is_number(b):
                    ga = g * 0.0 if b == 0 else g * 2 * a if b == 2 else g * b * a ** (b - 1)
                else:
                    ga = xp.where(b == 0, 0, g * b * a ** (b - 1))
            if self.parents[1] is not None:
                gb = g * self.y * (xp.log(a) if not _is_number(a) else _pylog(a))
                zero = self.zero_base()
                if zero is not None:
                    gb = xp.where(zero, 0, gb)
        return ga, gb

    def backward_t(self, g):
        a, b = self.saved(0, self.a), self.saved(1, self.b)
        ga = gb = None
        if self.parents[0] is not None:
            if _is_number(b) and b in (0, 1, 2):  # no a ** 0 or a ** -1 whose own derivative is nan at 0
                ga = g * 0.0 if b == 0 else g if b == 1 else g * 2 * a
            else:
                ga = g * b * a ** (b - 1)
                if not _is_number(b):
                    ga = ga.masked_fill(self.const(self.b == 0), 0.0)
        if self.parents[1] is not None:
            gb = g * self.output(self.y) * (a.log() if not _is_number(a) else _pylog(a))
            zero = self.zero_base()
            if zero is not None:
                gb = gb.masked_fill(self.const(zero), 0.0)
        return ga, gb


def _pick_t(fn, g):
    """``backward_t`` of maximum and minimum: ``g`` to the winner, halves on ties."""
    dt = g._data.dtype
    half = 0.5 * fn.tie.astype(dt)
    return (g * fn.const(fn.a_wins.astype(dt) + half),
            g * fn.const((~(fn.a_wins | fn.tie)).astype(dt) + half))


def _is_number(x) -> bool:
    return isinstance(x, (int, float))


def _is_integer(x) -> bool:
    """An integer Python number or array."""
    return isinstance(x, int) if _is_number(x) else x.dtype.kind in "iu"


def _pylog(x):
    return math.log(x) if x > 0 else -math.inf if x == 0 else math.nan


class Exp(Function):
    def forward(self, xp, x):
        with _errstate(xp):  # exp(100.0) in float32 is inf, silently as in torch
            self.y = xp.exp(x)
        return self.y

    def backward(self, xp, g):
        return g * self.y

    def backward_t(self, g):
        return g * self.output(self.y)


class Log(Function):
    def forward(self, xp, x):
        self.x = x
        with _errstate(xp):  # log(0) = -inf and log(-1) = nan, silently as in torch
            return xp.log(x)

    def backward(self, xp, g):
        return g / self.x

    def backward_t(self, g):
        return g / self.saved(0, self.x)


class Log1p(Function):
    def forward(self, xp, x):
        self.x = x
        with _errstate(xp):
            return xp.log1p(x)

    def backward(self, xp, g):
        return g / (1 + self.x)

    def backward_t(self, g):
        return g / (1 + self.saved(0, self.x))


class Sqrt(Function):
    """``sqrt(x)``; with ``zero_at_zero`` its gradient is 0 where the result is 0, not inf, as
    PyTorch defines the gradients of std and of the 2-norm (a constant row, a zero vector)."""

    zero_at_zero = False

    def forward(self, xp, x):
        with _errstate(xp):
            self.y = xp.sqrt(x)
        return self.y

    def backward(self, xp, g):
        if not self.zero_at_zero:
            return g / (2 * self.y)
        with _errstate(xp):
            return xp.where(self.y == 0, 0, g / (2 * self.y))

    def backward_t(self, g):
        d = g / (2 * self.output(self.y))
        return d.masked_fill(self.const(self.y == 0), 0.0) if self.zero_at_zero else d


class Abs(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.abs(x)

    def backward(self, xp, g):
        return g * xp.sign(self.x)

    def backward_t(self, g):
        return g * self.const(self.device.xp.sign(self.x))


class Sin(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.sin(x)

    def backward(self, xp, g):
        return g * xp.cos(self.x)

    def backward_t(self, g):
        return g * self.saved(0, self.x).cos()


class Cos(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.cos(x)

    def backward(self, xp, g):
        return -g * xp.sin(self.x)

    def backward_t(self, g):
        return -g * self.saved(0, self.x).sin()


class Tanh(Function):
    def forward(self, xp, x):
        self.y = xp.tanh(x)
        return self.y

    def backward(self, xp, g):
        return g * (1 - self.y * self.y)

    def backward_t(self, g):
        y = self.output(self.y)
        return g * (1 - y * y)


class Sigmoid(Function):
    def forward(self, xp, x):
        # tanh form: stable for large |x| and one transcendental call
        self.y = (0.5 * (xp.tanh(0.5 * x) + 1)).astype(x.dtype, copy=False)
        return self.y

    def backward(self, xp, g):
        return g * self.y * (1 - self.y)

    def backward_t(self, g):
        y = self.output(self.y)
        return g * y * (1 - y)


_ZERO_ROWS: dict = {}
_ZERO_0D: dict = {}


def zero_of(dtype):
    """A read-only 0-d NumPy zero of ``dtype``. NumPy 2 takes 0.3-0.4 us longer over an op with a
    Python number than with a 0-d array of the array's dtype (it checks how the number converts):
    for the constants of small hot ops (ReLU's backward on a (64, 128) batch: 1.15 -> 0.78 us)."""
    z = _ZERO_0D.get(dtype)
    if z is None:
        z = _ZERO_0D[dtype] = _np.zeros((), dtype)
        z.flags.writeable = False
    return z


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
        return g * (y != (zero_of(y.dtype) if xp is _np else 0))

    def backward_t(self, g):
        return g * self.const((self.y != 0).astype(self.y.dtype))


class Clamp(Function):
    """Clamp to [min, max]; the gradient passes where the input was inside the range."""

    torch_name = "ClampBackward1"

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

    def backward_t(self, g):
        return g if self.mask is None else g * self.const(self.mask.astype(g._data.dtype))


class Maximum(Function):
    def forward(self, xp, a, b):
        y = xp.maximum(a, b)
        self.a_wins = a > b
        self.tie = a == b
        return y

    def backward(self, xp, g):
        half = g * 0.5 * self.tie
        return g * self.a_wins + half, g * ~(self.a_wins | self.tie) + half

    def backward_t(self, g):
        return _pick_t(self, g)


class Minimum(Function):
    def forward(self, xp, a, b):
        y = xp.minimum(a, b)
        self.a_wins = a < b
        self.tie = a == b
        return y

    def backward(self, xp, g):
        half = g * 0.5 * self.tie
        return g * self.a_wins + half, g * ~(self.a_wins | self.tie) + half

    def backward_t(self, g):
        return _pick_t(self, g)


class Where(Function):
    """``where(cond, a, b)``; ``cond`` is a constant boolean array."""

    def torch_edges(self) -> list:  # the condition is no input of PyTorch's node
        return self.parents[1:]

    def forward(self, xp, cond, a, b):
        self.cond = cond
        return xp.where(cond, a, b)

    def backward(self, xp, g):
        zero = xp.zeros((), dtype=g.dtype)
        return None, xp.where(self.cond, g, zero), xp.where(self.cond, zero, g)

    def backward_t(self, g):
        cond = self.const(self.cond)
        zero = self.const(self.device.xp.zeros((), dtype=g._data.dtype))
        return None, Where.apply(cond, g, zero), Where.apply(cond, zero, g)


# ---------------------------------------------------------------- matmul


class MatMul(Function):
    saved_arrays = _product_saved

    @property
    def torch_name(self) -> str:  # the product PyTorch's matmul picks for these shapes
        na, nb = self.a.ndim, self.b.ndim
        if na > 2 or nb > 2:
            return "UnsafeViewBackward0"
        return {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (1, 2): "SqueezeBackward4"}.get((na, nb), "MmBackward0")

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

    def backward_t(self, g):
        a, b = self.saved(0, self.a), self.saved(1, self.b)
        need_a, need_b = self.parents[0] is not None, self.parents[1] is not None
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            return (g * b if need_a else None), (g * a if need_b else None)
        if a.ndim == 1:  # (k) @ (..., k, n) -> (..., n)
            if need_a:
                ga = (g.unsqueeze(-2) @ b.mT).squeeze(-2)
            if need_b:
                gb = a.unsqueeze(-1) * g.unsqueeze(-2)
        elif b.ndim == 1:  # (..., m, k) @ (k) -> (..., m)
            if need_a:
                ga = g.unsqueeze(-1) * b
            if need_b:
                gb = (a.mT @ g.unsqueeze(-1)).squeeze(-1)
        else:
            if need_a:
                ga = g @ b.mT
            if need_b:
                gb = a.mT @ g
        return ga, gb


# ---------------------------------------------------------------- reductions


def _expand_reduced(xp, g, shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input ``shape``."""
    if axis is None:
        return g.reshape((1,) * len(shape)) if len(shape) else g
    if not keepdims:
        g = xp.expand_dims(g, axis)
    return g


def _keep_dims_t(g, shape, axis, keepdims):
    """A reduced gradient tensor reshaped to the reduction's keepdims shape (``_expand_reduced``)."""
    if axis is None:
        return g.reshape((1,) * len(shape)) if len(shape) else g
    if keepdims:
        return g
    kept = list(shape)
    for a in axis if isinstance(axis, tuple) else (axis,):
        kept[a % len(shape)] = 1
    return g.reshape(kept)


def _expand_reduced_t(g, shape, axis, keepdims):
    """``backward_t`` of a sum: the reduced gradient tensor broadcast back over ``shape``."""
    g = _keep_dims_t(g, shape, axis, keepdims)
    return g if tuple(g.shape) == tuple(shape) else Expand.apply(g, shape=tuple(shape))


def _has_arrays(index) -> bool:
    """Whether an index holds integer or boolean arrays (advanced indexing)."""
    return any(isinstance(p, list) or getattr(p, "ndim", 0) > 0 for p in (index if isinstance(index, tuple) else (index,)))


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


_F16 = _np.dtype(_np.float16)  # (a dtype is one object per type: `is` is the cheapest test)


class Sum(Function):
    @property
    def torch_name(self) -> str:
        return "SumBackward0" if self.axis is None else "SumBackward1"

    def forward(self, xp, x):
        self.shape = x.shape
        if x.dtype is _F16 and self.dtype is None:  # summed in float32 as PyTorch's, rounded once
            s = x.sum(axis=self.axis, keepdims=self.keepdims, dtype=_np.float32)
            with _errstate(xp):  # a sum past 65504 becomes inf without NumPy's warning, as in torch
                return s.astype(x.dtype)
        return x.sum(axis=self.axis, keepdims=self.keepdims, dtype=self.dtype)

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.shape, self.axis, self.keepdims)
        return broadcast(xp, g, self.shape)

    def backward_t(self, g):
        return _expand_reduced_t(g, self.shape, self.axis, self.keepdims)


class Mean(Function):
    @property
    def torch_name(self) -> str:
        return "MeanBackward0" if self.axis is None else "MeanBackward1"

    def forward(self, xp, x):
        if x.dtype is _F16:  # as PyTorch: summed and divided in float32, rounded once
            return self.forward(xp, x.astype(_np.float32)).astype(x.dtype)
        self.shape = x.shape
        if xp is _np and self.axis is None and not self.keepdims and x.size and x.dtype.kind == "f":
            # the mean of everything (a loss): NumPy's scalar sum divided as a scalar, half the
            # cost of a 1-element array's in-place division; same float division, same rounding.
            # n as a scalar of x's dtype: NumPy 1.x turns a float32 scalar divided by a Python
            # float into float64 (NumPy 2 keeps float32, as an array's division does)
            self.n = x.size
            return _np.asarray(_np.add.reduce(x, axis=None) / x.dtype.type(self.n))
        # sum / n: cheaper than ndarray.mean; keepdims so the sum is always an array
        y = x.sum(axis=self.axis, keepdims=True)
        self.n = x.size // max(y.size, 1) if x.size else 0
        if self.n and y.dtype == x.dtype:
            y /= self.n
        else:
            y = (y / (self.n or float("nan"))).astype(x.dtype, copy=False)
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, self.axis))

    def backward(self, xp, g):
        if g.dtype is _F16:  # n does not fit a float16 (65504 at most): divided in float32,
            return self.backward(xp, g.astype(_np.float32))  # the engine rounds to the input's dtype
        shape = self.shape
        if xp is _np and self.axis is None and shape:
            v = g.reshape(()) / float(self.n)  # (g is 0-d, or all ones in shape with keepdim)
            if self.n <= 4096:  # a small input (a loss over a batch): an array of its own, filled
                out = _np.empty(shape, v.dtype)
                out.fill(v)
                return out
            # one value spread over a big input: a zero-stride read-only view of g / n, made directly
            v = v.reshape((1,) * len(shape))
            v = _np.ndarray(shape, v.dtype, v, 0, (0,) * len(shape))
            v.flags.writeable = False
            return v
        g = _expand_reduced(xp, g, shape, self.axis, self.keepdims)
        return broadcast(xp, g / self.n, shape)

    def backward_t(self, g):
        if g._data.dtype is _F16:  # n may not fit a float16 (65504 at most): divided in float32, as backward
            return _expand_reduced_t((g.float() / self.n).half(), self.shape, self.axis, self.keepdims)
        return _expand_reduced_t(g / self.n, self.shape, self.axis, self.keepdims)


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

    def backward_t(self, g):
        # x - mean(x), recorded from the centred values forward kept (they have the same centring)
        x = self.saved(0, self.xc)
        xc = x - x.mean(self.axis, keepdim=True)
        g = _keep_dims_t(g, self.xc.shape, self.axis, self.keepdims)
        return g * (2.0 / self.denom) * xc if self.denom else g * xc * float("nan")


def _errstate(xp):
    return quiet_errors() if xp is _np else contextlib.nullcontext()


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

    def backward_t(self, g):
        x = self.saved(0, self.x)
        g = _keep_dims_t(g, self.x.shape, self.axis, self.keepdims)
        if not (self.x == 0).any():
            y = self.output(self.y if self.keepdims else self.y.reshape(_reduced_shape(self.x.shape, self.axis)))
            return g * _keep_dims_t(y, self.x.shape, self.axis, self.keepdims) / x
        # a zero: the product of the others
        return g * _others_product_t(self, x, self.axis)


def _others_product_t(fn, x, axis):
    """For every element of ``x``, the product of the other elements along ``axis`` (all of them for
    None), recorded without a division: the exclusive cumulative products from the left and from the
    right, multiplied (as PyTorch's; their first-order backward is exact with zeros)."""
    shape = tuple(x.shape)
    v = x.reshape(-1) if axis is None else x.movedim(axis, -1)
    ones = fn.const(fn.device.xp.ones(tuple(v.shape[:-1]) + (1,), dtype=x._data.dtype))
    left = Cat.apply(ones, v[..., :-1], axis=-1).cumprod(-1)
    right = Flip.apply(Cat.apply(ones, Flip.apply(v, axis=-1)[..., :-1], axis=-1).cumprod(-1), axis=-1)
    out = left * right
    return out.reshape(shape) if axis is None else out.movedim(-1, axis)


def _reduced_shape(shape, axis):
    if axis is None:
        return ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(shape) for a in axes}
    return tuple(s for i, s in enumerate(shape) if i not in axes)


class Amax(Function):
    """max/min over axes; the gradient is shared evenly between tied maxima (as amax)."""

    whole = False  # max() / min() of everything: PyTorch's max / min node, not amax / amin's

    @property
    def torch_name(self) -> str:
        return ("MaxBackward1" if self.op == "max" else "MinBackward1") if self.whole else f"A{self.op}Backward0"

    def forward(self, xp, x):
        y = x.max(axis=self.axis, keepdims=True) if self.op == "max" else x.min(axis=self.axis, keepdims=True)
        self.mask = x == y
        self.count = self.mask.sum(axis=self.axis, keepdims=True)
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, self.axis))

    def backward(self, xp, g):
        g = _expand_reduced(xp, g, self.mask.shape, self.axis, self.keepdims)
        return g * self.mask / self.count

    def backward_t(self, g):
        g = _keep_dims_t(g, self.mask.shape, self.axis, self.keepdims)
        return g * self.const((self.mask / self.count).astype(g._data.dtype))


class MaxDim(Function):
    """max/min along one dim, returning values; the gradient goes to the chosen index."""

    @property
    def torch_name(self) -> str:
        return "MaxBackward0" if self.op == "max" else "MinBackward0"

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

    def backward_t(self, g):
        xp = self.device.xp
        if not self.keepdims:
            g = g.unsqueeze(self.axis)
        hot = xp.zeros(self.shape, g._data.dtype)
        xp.put_along_axis(hot, self.idx, 1, axis=self.axis)
        return g * self.const(hot)


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
        with _errstate(xp):  # nan, inf - inf, exp(inf), log(0): inf/nan silently, as torch
            m = x.max(axis=self.axis, keepdims=True)
            if xp is not _np or not math.isfinite(m.sum()):  # rows of -inf/inf: shift by 0 instead
                m = xp.where(xp.isfinite(m), m, 0)
            y = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True))
            y += m
        # backward as torch: g * exp(x - y), which stays 0 (not inf * 0) next to an infinite y
        self.e, self.x, self.y = None, x, y
        return y if self.keepdims else y.reshape(_reduced_shape(x.shape, self.axis))

    def backward(self, xp, g):
        if self.e is not None:
            if not self.keepdims:  # (_expand_reduced's case here, without its call)
                g = xp.expand_dims(g, self.axis)
            return self.e * (g / self.s)
        g = _expand_reduced(xp, g, self.x.shape, self.axis, self.keepdims)
        return g * xp.exp(self.x - self.y)

    def backward_t(self, g):
        if self.e is not None:  # the quick path kept exp(x - c) and its sums: softmax's probabilities
            from .nn.functional.activation import Softmax

            probs = self.e / self.s
            p = self.derived(Softmax, probs, y=probs, axis=self.axis)
            return _keep_dims_t(g, probs.shape, self.axis, self.keepdims) * p
        x = self.saved(0, self.x)
        y = self.output(self.y if self.keepdims else self.y.reshape(_reduced_shape(self.x.shape, self.axis)))
        y = _keep_dims_t(y, self.y.shape, self.axis, self.keepdims)
        return _keep_dims_t(g, self.y.shape, self.axis, self.keepdims) * (x - y).exp()


# ---------------------------------------------------------------- stable exponentials

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
        return sum_last(xp, a)[..., None]
    return a.sum(axis=axis, keepdims=True)


def _global_shift(x, axis: int, keep_shifted: bool):
    """NumPy: ``(c, shifted, e, s)`` with one global shift ``c = x.max()``, or None when some
    slice's sum of exponentials comes near underflow (logits of rows far apart, inf, nan)."""
    c = _np.maximum.reduce(x, axis=None)  # the ufunc itself: ndarray.max adds a Python frame
    # an inf or nan somewhere: the caller's per-slice path (math.isfinite on a real scalar costs
    # 60 ns against NumPy's 1.4 us)
    if not (math.isfinite(c) if x.dtype.kind == "f" else _np.isfinite(c)):
        return None
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
    torch_name = "ViewBackward0"

    def forward(self, xp, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, xp, g):
        return g.reshape(self.in_shape)

    def backward_t(self, g):
        return Reshape.apply(g, shape=self.in_shape)


class Permute(Function):
    def forward(self, xp, x):
        return x.transpose(self.dims)

    def backward(self, xp, g):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return g.transpose(inv)

    def backward_t(self, g):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return Permute.apply(g, dims=tuple(inv))


class Expand(Function):
    def forward(self, xp, x):
        return xp.broadcast_to(x, self.shape)

    def backward(self, xp, g):
        return g  # the engine sums back to the input shape

    def backward_t(self, g):
        return g


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

    def backward_t(self, g):
        out, start = [], 0
        for n in self.sizes:
            sl = [slice(None)] * g.ndim
            sl[self.axis] = slice(start, start + n)
            out.append(GetItem.apply(g, index=tuple(sl), advanced=False))
            start += n
        return tuple(out)


class Stack(Function):
    def forward(self, xp, *xs):
        return xp.stack(xs, axis=self.axis)

    def backward(self, xp, g):
        return tuple(xp.take(g, i, axis=self.axis) for i in range(g.shape[self.axis]))

    def backward_t(self, g):
        ax = self.axis % g.ndim
        return tuple(GetItem.apply(g, index=(slice(None),) * ax + (i,), advanced=False) for i in range(g.shape[ax]))


# NumPy's C function itself: its __array_function__ dispatcher is a Python frame more a call
_ravel_multi_index = getattr(_np.ravel_multi_index, "_implementation", _np.ravel_multi_index)


class GetItem(Function):
    """``x[index]`` for slices, ints, None, Ellipsis, integer arrays and boolean masks."""

    @property
    def torch_name(self) -> str:
        """PyTorch applies the parts of a basic index one by one, skipping whole-axis slices: the
        last it applies names the node."""
        if self.advanced:
            return "IndexBackward0"
        name = "AliasBackward0"
        for part in self.index if isinstance(self.index, tuple) else (self.index,):
            if part is None:
                name = "UnsqueezeBackward0"
            elif isinstance(part, slice):
                if part != slice(None):
                    name = "SliceBackward0"
            elif part is not Ellipsis:
                name = "SelectBackward0"
        return name

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
        if not self.advanced:
            gx[self.index] = g
        elif (flat := self._flat_offsets(xp)) is not None:
            _np.add.at(gx.reshape(-1), flat, g.reshape(-1))  # NumPy's fast 1-D loop
        else:
            scatter_add(xp, gx, self.index, g)
        return gx

    def _flat_offsets(self, xp):
        """For an integer array on every axis (``x[rows, cols]``, a pick per row) on NumPy, each
        picked element's flat offset in C order, else None. The forward's indexing already
        proved every index in range, so wrapping is only NumPy's reading of a negative index;
        ``np.add.at`` on these offsets adds in the order it adds on the index tuple (bit for
        bit), about 4 us faster on a (64, 10) pick."""
        idx = self.index
        if xp is not _np or type(idx) is not tuple or len(idx) != len(self.shape):
            return None
        for a in idx:
            if type(a) is not _np.ndarray or a.dtype.kind not in "iu":
                return None
        try:
            return _ravel_multi_index(idx, self.shape, mode="wrap").reshape(-1)
        except (TypeError, ValueError):  # an index type ravel_multi_index does not take
            return None

    def backward_t(self, g):
        zeros = self.const(self.device.xp.zeros(self.shape, dtype=g._data.dtype))
        return IndexPut.apply(zeros, g, index=self.index, accumulate=self.advanced, advanced=self.advanced)


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

    def backward_t(self, g):
        adv = _has_arrays(self.index)
        gx = IndexPut.apply(g, 0.0, index=self.index, accumulate=False, advanced=adv) if self.parents[0] is not None else None
        gv = GetItem.apply(g, index=self.index, advanced=adv) if self.parents[1] is not None else None
        return gx, gv


class Flip(Function):
    def forward(self, xp, x):
        return xp.flip(x, axis=self.axis)

    def backward(self, xp, g):
        return xp.flip(g, axis=self.axis)

    def backward_t(self, g):
        return Flip.apply(g, axis=self.axis)


class Tri(Function):
    """``tril`` / ``triu`` of the last two axes; the gradient keeps the same triangle."""

    @property
    def torch_name(self) -> str:
        return "TriuBackward0" if self.upper else "TrilBackward0"

    def forward(self, xp, x):
        return (xp.triu if self.upper else xp.tril)(x, self.k)

    def backward(self, xp, g):
        return (xp.triu if self.upper else xp.tril)(g, self.k)

    def backward_t(self, g):
        return Tri.apply(g, upper=self.upper, k=self.k)


class Roll(Function):
    """``roll``: shift elements along axes, wrapping around; the gradient rolls back."""

    def forward(self, xp, x):
        return xp.roll(x, self.shifts, axis=self.axis)

    def backward(self, xp, g):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return xp.roll(g, back, axis=self.axis)

    def backward_t(self, g):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return Roll.apply(g, shifts=back, axis=self.axis)


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

    def backward_t(self, g):
        shape = self.in_shape
        full = (1,) * (len(self.reps) - len(shape)) + tuple(shape)
        split = []
        for r, s in zip(self.reps, full):
            split += [r, s]
        return g.reshape(split).sum(tuple(range(0, len(split), 2))).reshape(shape)


class Contiguous(Function):
    """A differentiable copy in C order (``clone`` and ``contiguous``), or with ``perm`` its axes
    laid out in that order in memory (channels-last) and viewed back in the original order."""

    perm = None

    torch_name = "CloneBackward0"

    def forward(self, xp, x):
        if self.perm is None:  # (a clone is often kept and updated in place: aligned as a new tensor)
            return copy_aligned(x) if xp is _np else xp.array(x, copy=True, order="C")
        back = sorted(range(x.ndim), key=self.perm.__getitem__)
        return xp.ascontiguousarray(x.transpose(self.perm)).transpose(back)

    def backward(self, xp, g):
        return g

    def backward_t(self, g):
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

    def backward_t(self, g):
        xp = self.device.xp
        zeros = self.const(xp.zeros(self.shape, g._data.dtype))
        coords = scatter_coords(xp, self.index, self.axis)
        return IndexPut.apply(zeros, g, index=coords, accumulate=True, advanced=True), None


class CumSum(Function):
    def forward(self, xp, x):
        return xp.cumsum(x, axis=self.axis, dtype=x.dtype)  # (NumPy would widen int32)

    def backward(self, xp, g):
        return xp.flip(xp.cumsum(xp.flip(g, axis=self.axis), axis=self.axis), axis=self.axis)

    def backward_t(self, g):
        ax = self.axis
        return Flip.apply(CumSum.apply(Flip.apply(g, axis=ax), axis=ax), axis=ax)


class Einsum(Function):
    """``einsum`` with an explicit ``->`` output; a letter may appear once per operand."""

    def saved_arrays(self) -> list:  # each operand's gradient reads all the others
        need = [p is not None for p in self.parents]
        return [x for i, x in enumerate(self.xs) if any(n for j, n in enumerate(need) if j != i)]

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

    def backward_t(self, g):
        ins, out = self.equation.replace(" ", "").split("->")
        terms = ins.split(",")
        xs = [self.saved(j, x) for j, x in enumerate(self.xs)]
        grads = []
        for i, term in enumerate(terms):
            if self.parents[i] is None:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(terms) if j != i]
            present = set(out).union(*others)
            eq = ",".join([out] + others) + "->" + "".join(c for c in term if c in present)
            gi = Einsum.apply(g, *[x for j, x in enumerate(xs) if j != i], equation=eq)
            if any(c not in present for c in term):  # letters summed away in term i alone: broadcast back
                sizes = iter(gi.shape)
                gi = gi.reshape([1 if c not in present else next(sizes) for c in term]).expand(*self.xs[i].shape)
            grads.append(gi)
        return tuple(grads)


# ---------------------------------------------------------------- scatter, index_add, scatter_reduce


def scatter_coords(xp, index, axis):
    """The full coordinates that ``index`` addresses along ``axis`` (its own position elsewhere):
    a tuple of arrays that broadcast to ``index``'s shape, for fancy indexing."""
    nd = index.ndim
    grids = [xp.arange(n).reshape([n if i == d else 1 for i in range(nd)]) for d, n in enumerate(index.shape)]
    grids[axis] = index
    return tuple(grids)


def _leading(a, shape):
    """The leading block of ``a`` of ``shape`` (``src`` may be larger than ``index``)."""
    if a.shape == tuple(shape):
        return a
    return a[tuple(slice(0, n) for n in shape)]


def _leading_t(fn, i, a):
    """Input ``i`` of ``fn`` cut to ``a``'s shape (the leading block that forward kept) as a recorded tensor."""
    full = fn.saved(i, a)
    if tuple(full.shape) == a.shape:
        return full
    return GetItem.apply(full, index=tuple(slice(0, n) for n in a.shape), advanced=False)


def _pad_to(xp, g, shape):
    """``g`` placed at the start of zeros of ``shape`` (the gradient of ``_leading``)."""
    if g.shape == tuple(shape):
        return g
    out = xp.zeros(shape, g.dtype)
    out[tuple(slice(0, n) for n in g.shape)] = g
    return out


def _pad_to_t(fn, g, shape):
    """``_pad_to`` on a tensor, recorded (``backward_t``)."""
    if tuple(g.shape) == tuple(shape):
        return g
    zeros = fn.const(fn.device.xp.zeros(shape, g._data.dtype))
    return IndexPut.apply(zeros, g, index=tuple(slice(0, n) for n in g.shape), accumulate=False, advanced=False)


def ufunc_at(xp, ufunc: str, target, coords, values) -> None:
    """``getattr(xp, ufunc).at(target, coords, values)``: repeated coordinates combine. Where the
    array module has no ``ufunc.at``, the updates run in rounds, each round holding at most one
    update per target element (as many rounds as the most repeated coordinate)."""
    if ufunc == "add":
        scatter_add(xp, target, coords, values)
        return
    fn = getattr(xp, ufunc)
    if xp is _np:
        fn.at(target, coords, values)
        return
    shape = _np.broadcast_shapes(*(c.shape for c in coords))
    flat = xp.ravel_multi_index(tuple(xp.broadcast_to(c, shape).reshape(-1) for c in coords), target.shape)
    vals = xp.broadcast_to(xp.asarray(values, target.dtype), shape).reshape(-1)
    order = xp.argsort(flat, kind="stable")
    flat, vals = flat[order], vals[order]
    n = flat.size
    if n == 0:
        return
    rank = xp.arange(n) - xp.searchsorted(flat, flat)  # position within its run of equal coordinates
    t = target.reshape(-1)
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        t[flat[sel]] = fn(t[flat[sel]], vals[sel])


class Scatter(Function):
    """``x.scatter(axis, index, src)``: a copy of ``x`` with ``src`` (an array or a number) written
    at ``index`` along ``axis``. The gradient of ``x`` is zero where it was overwritten; that of
    ``src`` is ``grad`` gathered at ``index``."""

    def forward(self, xp, x, src):
        self.coords = scatter_coords(xp, self.index, self.axis)
        self.src_shape = getattr(src, "shape", None)
        v = _leading(src, self.index.shape) if self.src_shape is not None else src
        out = x.copy()
        if self.reduce is None:
            out[self.coords] = v
        else:
            ufunc_at(xp, "add" if self.reduce == "add" else "multiply", out, self.coords,
                     xp.broadcast_to(xp.asarray(v, x.dtype), self.index.shape))
        return out

    def backward(self, xp, g):
        if self.reduce is not None:
            raise RuntimeError("derivative for aten::scatter with reduce is not implemented")
        gx = gs = None
        if self.parents[0] is not None:
            gx = g.copy()
            gx[self.coords] = 0
        if self.src_shape is not None and self.parents[1] is not None:
            gs = _pad_to(xp, g[self.coords], self.src_shape)
        return gx, gs

    def backward_t(self, g):
        if self.reduce is not None:
            raise RuntimeError("derivative for aten::scatter with reduce is not implemented")
        gx = gs = None
        if self.parents[0] is not None:
            gx = IndexPut.apply(g, 0.0, index=self.coords, accumulate=False, advanced=True)
        if self.src_shape is not None and self.parents[1] is not None:
            gs = _pad_to_t(self, GetItem.apply(g, index=self.coords, advanced=True), self.src_shape)
        return gx, gs


class ScatterAdd(Function):
    """``x.scatter_add(axis, index, src)``: ``src`` added into a copy of ``x`` at ``index``
    (repeated indices add up)."""

    def forward(self, xp, x, src):
        self.coords = scatter_coords(xp, self.index, self.axis)
        self.src_shape = src.shape
        out = x.copy()
        scatter_add(xp, out, self.coords, _leading(src, self.index.shape))
        return out

    def backward(self, xp, g):
        gs = _pad_to(xp, g[self.coords], self.src_shape) if self.parents[1] is not None else None
        return g, gs

    def backward_t(self, g):
        gs = None
        if self.parents[1] is not None:
            gs = _pad_to_t(self, GetItem.apply(g, index=self.coords, advanced=True), self.src_shape)
        return g, gs


class IndexAdd(Function):
    """``x.index_add(axis, index, source, alpha)``: ``alpha * source[..., j, ...]`` added to
    ``x[..., index[j], ...]`` along ``axis``."""

    def forward(self, xp, x, source):
        out = x.copy()
        v = source if self.alpha == 1 else source * self.alpha
        lead = (slice(None),) * self.axis
        scatter_add(xp, out, lead + (self.index,), v.astype(x.dtype, copy=False))
        return out

    def backward(self, xp, g):
        gs = None
        if self.parents[1] is not None:
            gs = xp.take(g, self.index, axis=self.axis)
            if self.alpha != 1:
                gs = gs * self.alpha
        return g, gs

    def backward_t(self, g):
        gs = None
        if self.parents[1] is not None:
            gs = GetItem.apply(g, index=(slice(None),) * self.axis + (self.index,), advanced=True)
            if self.alpha != 1:
                gs = gs * self.alpha
        return g, gs


class ScatterReduce(Function):
    """``x.scatter_reduce(axis, index, src, reduce, include_self)``, reduce one of sum, prod,
    mean, amax, amin. Gradients as PyTorch's: amax/amin share the gradient evenly between the
    elements equal to the result; prod divides the result by the element (the product of the
    others where an element is zero)."""

    def forward(self, xp, x, src):
        self.coords = c = scatter_coords(xp, self.index, self.axis)
        self.src_shape = src.shape
        s = _leading(src, self.index.shape)
        self.x, self.s = x, s
        r = self.reduce
        out = x.copy()
        if not self.include_self:  # the reduction's identity where src lands
            ident = {"sum": 0, "mean": 0, "prod": 1}.get(r)
            if ident is None:
                if x.dtype.kind == "f":
                    ident = -math.inf if r == "amax" else math.inf
                else:
                    info = _np.iinfo(x.dtype)
                    ident = info.min if r == "amax" else info.max
            out[c] = ident
        ufunc_at(xp, {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}[r],
                 out, c, s)
        self.hit = xp.zeros(x.shape, bool)
        self.hit[c] = True
        if r == "mean":
            count = xp.zeros(x.shape, x.dtype if x.dtype.kind == "f" else _np.int64)
            scatter_add(xp, count, c, xp.ones(s.shape, count.dtype))
            if self.include_self:
                count += 1
            count = xp.maximum(count, 1)
            self.count = count
            out = out / count if x.dtype.kind == "f" else (out // count).astype(x.dtype)
        self.out = out
        return out

    def backward(self, xp, g):
        r, c, x, s, out = self.reduce, self.coords, self.x, self.s, self.out
        keep = None if self.include_self else ~self.hit  # x's entries that took part
        if r == "sum":
            gx, gs = g, g[c]
        elif r == "mean":
            gm = g / self.count
            gx, gs = gm, gm[c]
        elif r in ("amax", "amin"):
            x_is = x == out
            if keep is not None:
                x_is &= keep
            s_is = s == out[c]
            n = x_is.astype(g.dtype)
            scatter_add(xp, n, c, s_is.astype(g.dtype))
            gd = g / xp.maximum(n, 1)
            gx, gs = gd * x_is, gd[c] * s_is
        else:  # prod: d out / d e = product of the other elements of its group
            gx, gs = self._prod_grads(xp, g, keep)
        if keep is not None:
            gx = gx * keep
        gs = _pad_to(xp, gs, self.src_shape) if self.parents[1] is not None else None
        return (gx if self.parents[0] is not None else None), gs

    def backward_t(self, g):
        xp = self.device.xp
        r, c, x, s, out = self.reduce, self.coords, self.x, self.s, self.out
        dt = g._data.dtype
        keep = None if self.include_self else ~self.hit
        if r == "sum":
            gx = gs = g
        elif r == "mean":
            gx = gs = g / self.const(self.count.astype(dt))
        elif r in ("amax", "amin"):  # the tie masks and counts are constants, as PyTorch's
            x_is = x == out
            if keep is not None:
                x_is &= keep
            s_is = s == out[c]
            n = x_is.astype(dt)
            scatter_add(xp, n, c, s_is.astype(dt))
            gd = g / self.const(xp.maximum(n, 1))
            gx, gs = gd * self.const(x_is.astype(dt)), GetItem.apply(gd, index=c, advanced=True) * self.const(s_is.astype(dt))
        elif (x == 0).any() or (s == 0).any():
            return super().backward_t(g)  # prod with zeros in the input: the first order only
        else:  # prod without zeros: out / e
            go = g * self.output(out)
            gx = go / self.saved(0, x)
            gs = GetItem.apply(go, index=c, advanced=True) / _leading_t(self, 1, s)
        if r in ("sum", "mean"):
            gs = GetItem.apply(gs, index=c, advanced=True)
        if keep is not None:
            gx = gx * self.const(keep.astype(dt))
        gs = _pad_to_t(self, gs, self.src_shape) if self.parents[1] is not None else None
        return (gx if self.parents[0] is not None else None), gs

    def _prod_grads(self, xp, g, keep):
        c, x, s, out = self.coords, self.x, self.s, self.out
        xz = (x == 0) if keep is None else (x == 0) & keep
        zeros = xz.astype(_np.int64)
        scatter_add(xp, zeros, c, (s == 0).astype(_np.int64))
        # the product of the nonzero elements of each group
        nz = xp.where(xz, 1, x) if keep is None else xp.where(keep & ~xz, x, 1)
        ufunc_at(xp, "multiply", nz, c, xp.where(s == 0, 1, s))
        with _errstate(xp):
            # no zero in the group: out / e; one zero: the zero gets the others' product, the rest 0
            gx = xp.where(zeros == 0, g * out / xp.where(x == 0, 1, x), xp.where(xz & (zeros == 1), g * nz, 0))
            gc, zc, nzc = g[c], zeros[c], nz[c]
            gs = xp.where(zc == 0, gc * out[c] / xp.where(s == 0, 1, s), xp.where((s == 0) & (zc == 1), gc * nzc, 0))
        return gx, gs


# ---------------------------------------------------------------- diagonals, cumprod


def _diag_coords(xp, n1, n2, offset):
    """Row and column indices of the ``offset``-th diagonal of an (n1, n2) matrix."""
    length = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    i = xp.arange(length)
    return i + max(-offset, 0), i + max(offset, 0)


class Diagonal(Function):
    """``x.diagonal(offset, dim1, dim2)``: the diagonal becomes the last axis. A view, as PyTorch's, so
    that an in-place op outside the graph (``x.diagonal().fill_(1)`` under ``no_grad``) reaches ``x``."""

    def forward(self, xp, x):
        self.shape = x.shape
        d = xp.diagonal(x, self.offset, self.axis1, self.axis2)
        if xp is _np:  # NumPy's diagonal view is read-only
            if x.flags.writeable:
                d.flags.writeable = True
            else:
                d = d.copy()
        return d

    def backward(self, xp, g):
        gx = xp.zeros(self.shape, g.dtype)
        view = xp.moveaxis(gx, (self.axis1, self.axis2), (-2, -1))
        rows, cols = _diag_coords(xp, self.shape[self.axis1], self.shape[self.axis2], self.offset)
        view[..., rows, cols] = g
        return gx

    def backward_t(self, g):
        a1, a2 = self.axis1, self.axis2
        moved = tuple(n for i, n in enumerate(self.shape) if i not in (a1, a2)) + (self.shape[a1], self.shape[a2])
        rows, cols = _diag_coords(self.device.xp, self.shape[a1], self.shape[a2], self.offset)
        zeros = self.const(self.device.xp.zeros(moved, g._data.dtype))
        gx = IndexPut.apply(zeros, g, index=(Ellipsis, rows, cols), accumulate=False, advanced=True)
        return gx.movedim((-2, -1), (a1, a2))


class DiagEmbed(Function):
    """The last axis of ``v`` on the ``offset``-th diagonal of square matrices in the last two axes
    (``diag`` of a 1-D tensor, ``diag_embed``)."""

    def forward(self, xp, v):
        n = v.shape[-1] + abs(self.offset)
        out = xp.zeros(v.shape[:-1] + (n, n), v.dtype)
        self.rows, self.cols = _diag_coords(xp, n, n, self.offset)
        out[..., self.rows, self.cols] = v
        return out

    def backward(self, xp, g):
        return g[..., self.rows, self.cols]

    def backward_t(self, g):
        return GetItem.apply(g, index=(Ellipsis, self.rows, self.cols), advanced=True)


class CumProd(Function):
    """Cumulative product along ``axis``; the gradient is exact with zeros in the input: before
    a slice's first zero it is ``revcumsum(g * y) / x``, at the first zero the reversed cumulative
    sum of ``g`` times the products that skip that zero, after it 0."""

    def forward(self, xp, x):
        self.x = x
        self.y = xp.cumprod(x, axis=self.axis)
        return self.y

    def backward(self, xp, g):
        x, y, ax = self.x, self.y, self.axis

        def revcumsum(a):
            return xp.flip(xp.cumsum(xp.flip(a, axis=ax), axis=ax), axis=ax)

        is_zero = x == 0
        if not is_zero.any():
            return revcumsum(g * y) / x
        seen = xp.cumsum(is_zero, axis=ax)
        before = seen == 0
        first = is_zero & (seen == 1)
        a = revcumsum(g * y) / xp.where(before, x, 1) * before
        skip = xp.cumprod(xp.where(first, 1, x), axis=ax)
        b = revcumsum(g * skip) * first
        return a + b

    def backward_t(self, g):
        ax = self.axis
        x = self.saved(0, self.x)
        if not (self.x == 0).any():
            gy = g * self.output(self.y)
            return Flip.apply(CumSum.apply(Flip.apply(gy, axis=ax), axis=ax), axis=ax) / x
        # a zero: d y_k / d x_i = prod_{j <= k, j != i} x_j (k >= i), recorded without a division as
        # the cumulative products of the rows of an (..., n, n) tensor whose row i is x with a one in place i
        xp = self.device.xp
        v = x.movedim(ax, -1)
        n = v.shape[-1]
        eye = xp.eye(n, dtype=self.x.dtype)
        rows = v.unsqueeze(-2) * self.const(1 - eye) + self.const(eye)
        upper = self.const(xp.triu(xp.ones((n, n), dtype=self.x.dtype)))  # k >= i
        d = rows.cumprod(-1) * upper
        return (d @ g.movedim(ax, -1).unsqueeze(-1)).squeeze(-1).movedim(-1, ax)


# ---------------------------------------------------------------- binary math


class Atan2(Function):
    def forward(self, xp, y, x):
        self.y, self.x = y, x
        return xp.arctan2(y, x)

    def backward(self, xp, g):
        y, x = self.y, self.x
        with _errstate(xp):
            d = g / (x * x + y * y)
        return (d * x if self.parents[0] is not None else None), (-d * y if self.parents[1] is not None else None)

    def backward_t(self, g):
        y, x = self.saved(0, self.y), self.saved(1, self.x)
        d = g / (x * x + y * y)
        return (d * x if self.parents[0] is not None else None), (-d * y if self.parents[1] is not None else None)


class Hypot(Function):
    def forward(self, xp, a, b):
        self.a, self.b = a, b
        self.h = xp.hypot(a, b)
        return self.h

    def backward(self, xp, g):
        with _errstate(xp):
            d = g / self.h
        return (d * self.a if self.parents[0] is not None else None), (d * self.b if self.parents[1] is not None else None)

    def backward_t(self, g):
        d = g / self.output(self.h)
        return ((d * self.saved(0, self.a) if self.parents[0] is not None else None),
                (d * self.saved(1, self.b) if self.parents[1] is not None else None))


class Fmod(Function):
    """C's remainder (the sign of the dividend); the divisor's gradient is ``-g * trunc(a / b)``."""

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        with _errstate(xp):  # fmod(x, 0) is nan silently, as in torch
            return xp.fmod(a, b)

    def backward(self, xp, g):
        gb = None
        if self.parents[1] is not None:
            with _errstate(xp):
                gb = -g * xp.trunc(self.a / self.b)
        return g, gb

    def backward_t(self, g):
        gb = None
        if self.parents[1] is not None:
            with _errstate(self.device.xp):
                gb = -g * self.const(self.device.xp.trunc(self.a / self.b))
        return g, gb


class Remainder(Function):
    """Python's remainder (the sign of the divisor); the divisor's gradient is ``-g * floor(a / b)``."""

    @property
    def torch_name(self) -> str:  # PyTorch's overloads: tensor % number, tensor % tensor
        return "RemainderBackward0" if _is_number(self.b) else "RemainderBackward1"

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        with _errstate(xp):  # x % 0 is nan silently, as in torch
            return xp.remainder(a, b)

    def backward(self, xp, g):
        gb = None
        if self.parents[1] is not None:
            with _errstate(xp):
                gb = -g * xp.floor_divide(self.a, self.b)
        return g, gb

    def backward_t(self, g):
        gb = None
        if self.parents[1] is not None:
            with _errstate(self.device.xp):
                gb = -g * self.const(self.device.xp.floor_divide(self.a, self.b))
        return g, gb


class RoundedDiv(Function):
    """``a / b`` rounded down (``mode='floor'``, exact as Python's ``//``) or toward zero
    (``'trunc'``): in the graph with a zero gradient, as PyTorch records it."""

    torch_name = "DivBackward2"

    def forward(self, xp, a, b):
        with _errstate(xp):  # x // 0 is inf or nan silently, as in torch
            return xp.floor_divide(a, b) if self.mode == "floor" else xp.trunc(a / b)

    def backward(self, xp, g):
        z = xp.zeros_like(g)
        return tuple(z if p is not None else None for p in self.parents)

    def backward_t(self, g):
        z = g * 0.0
        return tuple(z if p is not None else None for p in self.parents)


# ---------------------------------------------------------------- erf (W. J. Cody's rational approximations)

_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
          1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
          8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
          2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
          3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
          6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
          2.33520497626869185e-3)
_SQRPI = 5.6418958354775628695e-1  # 1 / sqrt(pi)


def erf_parts(xp, x):
    """``(erf, erfc)`` of a float array (W. J. Cody, "Rational Chebyshev approximations for the
    error function", Math. Comp. 23, 1969, as in netlib's CALERF; relative error near 1e-16 in
    float64). Computed in the input's precision (float16 in float32). Vectorised: every
    interval's formula runs on the whole array and ``where`` picks."""
    if x.dtype not in (_np.float32, _np.float64):
        x = x.astype(_np.float32)
    y = xp.abs(x)
    with _errstate(xp):
        # |x| <= 0.46875: erf by a rational function of x^2
        z = y * y
        num, den = _ERF_A[4] * z, z
        for i in range(3):
            num, den = (num + _ERF_A[i]) * z, (den + _ERF_B[i]) * z
        erf_small = x * (num + _ERF_A[3]) / (den + _ERF_B[3])
        # 0.46875 < |x| <= 4: erfc(|x|) = exp(-x^2) R(|x|); exp(-x^2) split to keep its precision
        num, den = _ERF_C[8] * y, y
        for i in range(7):
            num, den = (num + _ERF_C[i]) * y, (den + _ERF_D[i]) * y
        mid = (num + _ERF_C[7]) / (den + _ERF_D[7])
        # |x| > 4: erfc(|x|) = exp(-x^2) (1/sqrt(pi) - R(1/x^2) / x^2) / |x|
        w = 1.0 / xp.maximum(z, 16.0)
        num, den = _ERF_P[5] * w, w
        for i in range(4):
            num, den = (num + _ERF_P[i]) * w, (den + _ERF_Q[i]) * w
        big = (_SQRPI - w * (num + _ERF_P[4]) / (den + _ERF_Q[4])) / xp.clip(y, 4.0, 30.0)
        yc = xp.minimum(y, 30.0)  # erfc(30) underflows to 0: keeps inf out of the split below
        ysq = xp.trunc(yc * 16.0) / 16.0
        scale = xp.exp(-ysq * ysq) * xp.exp(-(yc - ysq) * (yc + ysq))
        erfc_abs = scale * xp.where(y <= 4.0, mid, big)  # erfc(|x|) for |x| > 0.46875
    small = y <= 0.46875
    erfc_signed = xp.where(x < 0, 2.0 - erfc_abs, erfc_abs)
    erf = xp.where(small, erf_small, xp.where(x < 0, erfc_abs - 1.0, 1.0 - erfc_abs))
    erfc = xp.where(small, 1.0 - erf_small, erfc_signed)
    nan = xp.isnan(x)
    return xp.where(nan, x, erf), xp.where(nan, x, erfc)


class Erf(Function):
    def forward(self, xp, x):
        self.x = x
        return erf_parts(xp, x)[self.complement].astype(x.dtype)

    def backward(self, xp, g):
        d = g * (2 * _SQRPI) * xp.exp(-self.x * self.x)
        return -d if self.complement else d

    def backward_t(self, g):
        x = self.saved(0, self.x)
        d = g * (2 * _SQRPI) * (-(x * x)).exp()
        return -d if self.complement else d


# ---------------------------------------------------------------- distances


class Cdist2(Function):
    """Euclidean distances between the rows of ``a`` (..., P, M) and ``b`` (..., R, M). The forward
    takes differences (exact); the backward goes through matrix products, with a zero gradient
    where a distance is zero (as PyTorch)."""

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        if a.shape[-2] * b.shape[-2] * a.shape[-1] <= (1 << 22):
            diff = a[..., :, None, :] - b[..., None, :, :]
            self.d = xp.sqrt((diff * diff).sum(-1))
        else:  # large: |a|^2 + |b|^2 - 2 a.b, as PyTorch's matrix-product path
            sq = (a * a).sum(-1)[..., :, None] + (b * b).sum(-1)[..., None, :] - 2 * xp.matmul(a, xp.swapaxes(b, -1, -2))
            self.d = xp.sqrt(xp.maximum(sq, 0))
        return self.d

    def backward(self, xp, g):
        with _errstate(xp):
            w = xp.where(self.d == 0, 0, g / self.d)
        ga = gb = None
        if self.parents[0] is not None:
            ga = self.a * w.sum(-1)[..., None] - xp.matmul(w, self.b)
        if self.parents[1] is not None:
            gb = self.b * w.sum(-2)[..., None] - xp.matmul(xp.swapaxes(w, -1, -2), self.a)
        return ga, gb


# ---------------------------------------------------------------- inverse trigonometric and hyperbolic


class Asin(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.arcsin(x)

    def backward(self, xp, g):
        with _errstate(xp):
            return g / xp.sqrt(1 - self.x * self.x)

    def backward_t(self, g):
        x = self.saved(0, self.x)
        return g / (1 - x * x).sqrt()


class Acos(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.arccos(x)

    def backward(self, xp, g):
        with _errstate(xp):
            return -g / xp.sqrt(1 - self.x * self.x)

    def backward_t(self, g):
        x = self.saved(0, self.x)
        return -g / (1 - x * x).sqrt()


class Atan(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.arctan(x)

    def backward(self, xp, g):
        return g / (1 + self.x * self.x)

    def backward_t(self, g):
        x = self.saved(0, self.x)
        return g / (1 + x * x)


class Sinh(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.sinh(x)

    def backward(self, xp, g):
        return g * xp.cosh(self.x)

    def backward_t(self, g):
        return g * self.saved(0, self.x).cosh()


class Cosh(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.cosh(x)

    def backward(self, xp, g):
        return g * xp.sinh(self.x)

    def backward_t(self, g):
        return g * self.saved(0, self.x).sinh()


class Asinh(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.arcsinh(x)

    def backward(self, xp, g):
        return g / xp.sqrt(self.x * self.x + 1)

    def backward_t(self, g):
        x = self.saved(0, self.x)
        return g / (x * x + 1).sqrt()


class Acosh(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.arccosh(x)

    def backward(self, xp, g):
        with _errstate(xp):
            return g / xp.sqrt(self.x * self.x - 1)

    def backward_t(self, g):
        x = self.saved(0, self.x)
        return g / (x * x - 1).sqrt()


class Atanh(Function):
    def forward(self, xp, x):
        self.x = x
        return xp.arctanh(x)

    def backward(self, xp, g):
        with _errstate(xp):
            return g / (1 - self.x * self.x)

    def backward_t(self, g):
        x = self.saved(0, self.x)
        return g / (1 - x * x)


class Erfinv(Function):
    """The inverse error function: M. Giles' approximation ("Approximating the erfinv function",
    GPU Computing Gems, 2011) refined by Newton steps on Cody's erf (on erfc in the tails, where
    1 - |y| is exact), so float64 results are accurate to about 1e-15."""

    def forward(self, xp, y):
        y64 = y.astype(_np.float64)
        with _errstate(xp):
            w = -xp.log((1.0 - y64) * (1.0 + y64))
            a = w - 2.5
            p = 2.81022636e-08
            for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                      -0.00417768164, 0.246640727, 1.50140941):
                p = c + p * a
            b = xp.sqrt(w) - 3.0
            q = -0.000200214257
            for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                      0.00943887047, 1.00167406, 2.83297682):
                q = c + q * b
            ay = xp.abs(y64)
            a = xp.abs(xp.where(w < 5.0, p, q) * y64)  # |erfinv(y)|, to about 1e-7
            tail = ay > 0.5
            log_t = xp.log(1.0 - ay)  # 1 - |y| is exact here
            for _ in range(3):
                e, ec = erf_parts(xp, a)
                slope = 2 * _SQRPI * xp.exp(-a * a)
                # Newton on erf(a) = |y|; in the tails on log(erfc(a)) = log(1 - |y|)
                step = xp.where(tail, (xp.log(ec) - log_t) * ec, ay - e) / slope
                a = xp.where(xp.isfinite(step), a + step, a)
            x = xp.copysign(xp.where(ay == 1, xp.inf, a), y64)
            x = xp.where(xp.abs(y64) > 1, xp.nan, x)
        self.out = x.astype(y.dtype)
        return self.out

    def backward(self, xp, g):
        return g * (0.5 / _SQRPI) * xp.exp(self.out * self.out)

    def backward_t(self, g):
        y = self.output(self.out)
        return g * (0.5 / _SQRPI) * (y * y).exp()


def scan_argext(xp, x, axis: int, op: str):
    """Indices of the running max (``op='max'``) or min along ``axis``, the last one on ties (as
    PyTorch's cummax / cummin), NaN counting as the extreme; a doubling scan of log2(n) steps."""
    x = xp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    v = x.copy()
    idx = xp.broadcast_to(xp.arange(n), x.shape).copy()
    s = 1
    while s < n:
        prev_v, prev_i = v[..., :-s], idx[..., :-s]
        cur_v = v[..., s:]
        with _errstate(xp):
            better = (prev_v > cur_v) if op == "max" else (prev_v < cur_v)
        better = (better | xp.isnan(prev_v)) & ~xp.isnan(cur_v) if v.dtype.kind == "f" else better
        v[..., s:] = xp.where(better, prev_v, cur_v)
        idx[..., s:] = xp.where(better, prev_i, idx[..., s:])
        s *= 2
    return xp.moveaxis(idx, -1, axis)


def logcumsumexp_array(xp, x, axis: int):
    """``log(cumsum(exp(x)))`` along ``axis`` without overflow: a doubling scan of ``logaddexp``
    (log2(n) passes, each exact to rounding)."""
    y = xp.moveaxis(x, axis, -1).copy()
    s, n = 1, y.shape[-1]
    while s < n:
        y[..., s:] = xp.logaddexp(y[..., s:], y[..., :-s].copy())
        s *= 2
    return xp.moveaxis(y, -1, axis)


class LogCumSumExp(Function):
    """``log(cumsum(exp(x)))`` along ``axis``. The gradient ``sum_{i>=j} g_i exp(x_j - y_i)`` runs in
    log space, the positive and negative parts of ``g`` apart, so nothing overflows."""

    def forward(self, xp, x):
        self.x = x
        self.y = logcumsumexp_array(xp, x, self.axis)
        return self.y

    def backward(self, xp, g):
        ax = self.axis

        def rev(a):
            return xp.flip(logcumsumexp_array(xp, xp.flip(a, axis=ax), ax), axis=ax)

        with _errstate(xp):
            pos = rev(xp.log(xp.maximum(g, 0)) - self.y)
            neg = rev(xp.log(xp.maximum(-g, 0)) - self.y)
            return xp.exp(self.x + pos) - xp.exp(self.x + neg)


class IndexPut(Function):
    """``x.index_put(indices, v, accumulate)``: ``v`` written (or added, repeats adding up) at the
    advanced index ``indices``; the gradient of ``v`` is ``grad`` at those places."""

    def forward(self, xp, x, v):
        out = x.copy()
        if self.accumulate:
            shape = out[self.index].shape
            scatter_add(xp, out, self.index, xp.broadcast_to(xp.asarray(v, x.dtype), shape))
        else:
            out[self.index] = v
        return out

    def backward(self, xp, g):
        gx = g
        if not self.accumulate and self.parents[0] is not None:
            gx = g.copy()
            gx[self.index] = 0
        gv = g[self.index] if self.parents[1] is not None else None
        return gx, gv

    advanced = True  # whether ``index`` holds integer arrays (False: slices and ints, a view's index)

    def backward_t(self, g):
        gx = g
        if not self.accumulate and self.parents[0] is not None:
            gx = IndexPut.apply(g, 0.0, index=self.index, accumulate=False, advanced=self.advanced)
        gv = GetItem.apply(g, index=self.index, advanced=self.advanced) if self.parents[1] is not None else None
        return gx, gv


# ---------------------------------------------------------------- matrix inverse and determinants


def _mT(a):
    return a.swapaxes(-1, -2)


class LinAlgError(RuntimeError):
    """A matrix a linear-algebra function cannot take (singular, not positive-definite): a
    RuntimeError, as ``torch.linalg.LinAlgError`` (``nerve.linalg.LinAlgError``)."""


def lu_info(xp, a):
    """LAPACK getrf's ``info`` for each matrix of ``a`` (..., n, n): 0, or the 1-based position of
    the first zero pivot of its LU factorization with partial pivoting. One loop over the columns,
    every matrix of the batch at once; only the error paths call it."""
    batch, n = a.shape[:-2], a.shape[-1]
    lu = a.reshape((-1, n, n)).copy()
    rows = xp.arange(lu.shape[0])
    info = xp.zeros(lu.shape[0], _np.int32)
    for j in range(n):
        p = j + xp.abs(lu[:, j:, j]).argmax(axis=1)
        pivot_rows = lu[rows, p].copy()
        lu[rows, p] = lu[:, j]
        lu[:, j] = pivot_rows
        piv = lu[:, j, j]
        zero = piv == 0
        info[zero & (info == 0)] = j + 1
        if j + 1 < n:
            col = lu[:, j + 1:, j] / xp.where(zero, 1, piv)[:, None]
            lu[:, j + 1:, j + 1:] -= col[:, :, None] * lu[:, j, None, j + 1:]
    return info.reshape(batch)


def linalg_errors(xp):
    """Where CuPy's solvers report a failed factorization (a zero pivot, a minor that is not positive-
    definite) as NumPy's do, by raising ``numpy.linalg.LinAlgError``: CuPy checks its solvers' info
    only when ``cupyx.errstate(linalg="raise")`` asks it to (one synchronisation, as PyTorch's CUDA
    inverse and Cholesky also make). NumPy's always raise."""
    if xp is _np:
        return contextlib.nullcontext()
    return cupyx_errstate(linalg="raise")


def first_failure(info, default: int = 0):
    """PyTorch's ``(Batch element k): `` prefix for the first matrix whose ``info`` is not 0 ('' for one
    matrix), and that info (``default`` when none is)."""
    flat = _np.asarray(info.get() if hasattr(info, "get") else info).reshape(-1)
    bad = _np.flatnonzero(flat)
    k = int(bad[0]) if bad.size else 0
    return (f"(Batch element {k}): " if info.ndim else ""), (int(flat[k]) if bad.size else default)


def singular_inverse(xp, a, name: str = "linalg.inv") -> LinAlgError:
    """The error of inverting singular matrices, naming the batch element and zero pivot as PyTorch."""
    # (default: LAPACK's blocked factorization met an exact zero pivot where ours rounded to a tiny one)
    prefix, pos = first_failure(lu_info(xp, a), default=a.shape[-1])
    return LinAlgError(f"{name}: {prefix}The diagonal element {pos} is zero, the inversion could not be "
                       "completed because the input matrix is singular.")


class Inverse(Function):
    """The inverse of (batches of) square matrices; the gradient is ``-A^-T g A^-T``."""

    def forward(self, xp, a):
        try:
            with linalg_errors(xp):
                self.inv = xp.linalg.inv(a)
        except _np.linalg.LinAlgError:
            raise singular_inverse(xp, a) from None
        return self.inv

    def backward(self, xp, g):
        it = _mT(self.inv)
        return -xp.matmul(xp.matmul(it, g), it)

    def backward_t(self, g):
        it = self.output(self.inv).mT
        return -(it @ g @ it)


def adjugate_t(xp, a):
    """The transposed adjugate (the cofactor matrix) of square matrices, singular ones included:
    ``det(A) A^-T`` computed as ``det(U) det(V) U diag(prod of the other singular values) V^T``."""
    u, s, vt = xp.linalg.svd(a)
    n = s.shape[-1]
    ones = xp.ones(s.shape[:-1] + (1,), s.dtype)
    left = xp.concatenate([ones, xp.cumprod(s, axis=-1)[..., :-1]], axis=-1)
    right = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(s, axis=-1), axis=-1)[..., :-1]], axis=-1), axis=-1)
    others = left * right if n else s
    sign = xp.linalg.det(u) * xp.linalg.det(vt)
    return sign[..., None, None] * xp.matmul(u * others[..., None, :], vt)


class Det(Function):
    """The determinant; the gradient ``g * adj(A)^T`` holds for singular matrices too."""

    def forward(self, xp, a):
        self.a = a
        self.det = xp.linalg.det(a)
        return self.det

    def backward(self, xp, g):
        a, det = self.a, self.det
        if bool((det != 0).all()):
            cof = det[..., None, None] * _mT(xp.linalg.inv(a))
        else:
            cof = adjugate_t(xp, a)
        return g[..., None, None] * cof

    def backward_t(self, g):
        if not bool((self.det != 0).all()):
            return super().backward_t(g)  # singular matrices: the first order only
        a = self.saved(0, self.a)
        return (g * self.output(self.det)).unsqueeze(-1).unsqueeze(-1) * a.inverse().mT


class LogAbsDet(Function):
    """``log|det A|``; the gradient is ``g * A^-T``."""

    def forward(self, xp, a):
        self.a = a
        sign, logabs = xp.linalg.slogdet(a)
        self.sign = sign
        return logabs.astype(a.dtype, copy=False)

    def backward(self, xp, g):
        return g[..., None, None] * _mT(xp.linalg.inv(self.a))

    def backward_t(self, g):
        return g.unsqueeze(-1).unsqueeze(-1) * self.saved(0, self.a).inverse().mT


# ---------------------------------------------------------------- lgamma, digamma, polygamma

_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)  # B2, B4, ..., B16


def _shift_up(xp, x, floor, per_step):
    """Raise ``x`` by ones until every element is at least ``floor``, adding ``per_step(z)`` for
    each element's steps: returns ``(z, total)``."""
    z, total = x, xp.zeros_like(x)
    steps = int(math.ceil(floor - float(x.min()))) if x.size else 0
    for _ in range(max(steps, 0)):
        low = z < floor
        total = total + xp.where(low, per_step(xp.where(low, z, floor)), 0.0)
        z = xp.where(low, z + 1, z)
    return z, total


def _sinpi_tanpi(xp, x):
    r = x - xp.round(x)  # exact: sin(pi x) and tan(pi x) from the reduced argument keep their digits
    return xp.sin(math.pi * r) * xp.where(xp.round(x) % 2 == 0, 1.0, -1.0), xp.tan(math.pi * r)


def polygamma_array(xp, n: int, x):
    """``lgamma`` (``n = -1``), ``digamma`` (``n = 0``) or the ``n``-th ``polygamma`` of a float
    array, in float64: the recurrence raises the argument past 10 (+n), then the asymptotic
    (Stirling) series; reflection for ``lgamma`` and ``digamma`` below 1/2."""
    x = x.astype(_np.float64)
    with _errstate(xp):
        finite = xp.isfinite(x)
        xs = xp.where(finite, x, 1.0)
        if n <= 0:
            neg = xs < 0.5
            y = xp.where(neg, 1.0 - xs, xs)
        else:
            neg = None
            y = xp.where(xs < -1000, xp.nan, xs)  # the recurrence would take too many steps
            y = xp.where(xp.isnan(y), 1.0, y)
        floor = 10.0 + max(n, 0)
        if n == -1:
            z, acc = _shift_up(xp, y, floor, lambda t: xp.log(xp.abs(t)))
            w = 1.0 / (z * z)
            series = (1 / 12 + w * (-1 / 360 + w * (1 / 1260 + w * (-1 / 1680 + w * (1 / 1188 + w * (
                -691 / 360360 + w / 156)))))) / z
            out = (z - 0.5) * xp.log(z) - z + 0.5 * math.log(2 * math.pi) + series - acc
            s, _ = _sinpi_tanpi(xp, xs)
            out = xp.where(neg, math.log(math.pi) - xp.log(xp.abs(s)) - out, out)
            out = xp.where(neg & (s == 0), xp.inf, out)
            return xp.where(finite, out, xp.where(xp.isnan(x), x, xp.inf))
        if n == 0:
            z, acc = _shift_up(xp, y, floor, lambda t: 1.0 / t)
            w = 1.0 / (z * z)
            series = w * (1 / 12 - w * (1 / 120 - w * (1 / 252 - w * (1 / 240 - w * (1 / 132 - w * (
                691 / 32760 - w / 12))))))
            out = xp.log(z) - 0.5 / z - series - acc
            _, t = _sinpi_tanpi(xp, xs)
            out = xp.where(neg, out - math.pi / t, out)
            out = xp.where(neg & (t == 0), xp.where(xs == 0, -xp.inf, xp.nan), out)
            return xp.where(finite, out, xp.where(x == xp.inf, xp.inf, xp.nan))
        fact = math.factorial(n)
        sgn = 1.0 if n % 2 else -1.0  # (-1)^(n+1)
        z, acc = _shift_up(xp, y, floor, lambda t: t ** -(n + 1))
        out = math.factorial(n - 1) / z ** n + fact / (2 * z ** (n + 1))
        for k, b in enumerate(_BERNOULLI, start=1):
            out = out + b * math.factorial(2 * k + n - 1) / math.factorial(2 * k) / z ** (2 * k + n)
        out = sgn * out + sgn * fact * acc  # psi_n(x) = psi_n(x + N) + (-1)^(n+1) n! sum x^-(n+1)
        out = xp.where((xs <= 0) & (xs == xp.round(xs)), sgn * xp.inf, out)  # the poles, signed as PyTorch
        out = xp.where(xs < -1000, xp.nan, out)
        return xp.where(finite, out, xp.where(x == xp.inf, 0.0, xp.nan))


class Polygamma(Function):
    """``lgamma`` (n = -1), ``digamma`` (n = 0), ``polygamma(n)``; the gradient is the next one."""

    def forward(self, xp, x):
        self.x = x
        return polygamma_array(xp, self.n, x).astype(x.dtype)

    def backward(self, xp, g):
        return g * polygamma_array(xp, self.n + 1, self.x).astype(g.dtype)

    def backward_t(self, g):
        return g * Polygamma.apply(self.saved(0, self.x), n=self.n + 1)


class LogAddExp(Function):
    """``log(exp(a) + exp(b))``; the gradients are ``exp(a - out)`` and ``exp(b - out)`` (0, not NaN,
    where both inputs are -inf)."""

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        self.out = xp.logaddexp(a, b)
        return self.out

    def backward(self, xp, g):
        with _errstate(xp):
            fin = xp.isfinite(self.out)
            ga = xp.where(fin, g * xp.exp(self.a - self.out), 0) if self.parents[0] is not None else None
            gb = xp.where(fin, g * xp.exp(self.b - self.out), 0) if self.parents[1] is not None else None
        return ga, gb

    def backward_t(self, g):
        out = self.output(self.out)
        fin = self.device.xp.isfinite(self.out)
        grads = []
        for i, v in enumerate((self.a, self.b)):
            if self.parents[i] is None:
                grads.append(None)
                continue
            gi = g * (self.saved(i, v) - out).exp()
            if not fin.all():  # 0, not NaN, where both inputs are -inf
                gi = Where.apply(self.const(fin), gi, self.const(self.device.xp.zeros((), g._data.dtype)))
            grads.append(gi)
        return tuple(grads)


class FMax(Function):
    """``fmax`` (``op='max'``) or ``fmin`` (``op='min'``): the larger (smaller) value, NaN only where
    both are NaN. As PyTorch, the whole gradient goes to ``a`` where it wins or ties, or where ``b``
    is NaN; to ``b`` elsewhere (ties are not shared, unlike ``maximum``)."""

    def forward(self, xp, a, b):
        self.a_wins = ((a >= b) if self.op == "max" else (a <= b)) | (b != b)
        return xp.fmax(a, b) if self.op == "max" else xp.fmin(a, b)

    def backward(self, xp, g):
        return g * self.a_wins, g * ~self.a_wins

    def backward_t(self, g):
        dt = g._data.dtype
        return g * self.const(self.a_wins.astype(dt)), g * self.const((~self.a_wins).astype(dt))
