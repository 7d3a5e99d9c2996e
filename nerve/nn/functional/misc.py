"""one_hot, pad and embedding."""

from __future__ import annotations

import numpy as np

from ...autograd import Function
from ...backend import scatter_add
from ...tensor import Tensor


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: shape (..., num_classes); ``num_classes=-1`` uses max + 1."""
    arr = tensor._data
    if arr.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = tensor._device.xp
    if arr.size and int(arr.min()) < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(arr.max()) + 1 if arr.size else 0
    elif arr.size and int(arr.max()) >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = (arr[..., None] == xp.arange(num_classes)).astype(xp.int64)
    return Tensor._make(out, tensor._device)


# ---------------------------------------------------------------- pad


class ConstantPad(Function):
    """Pad with a constant; negative amounts crop."""

    torch_name = "ConstantPadNdBackward0"

    def forward(self, xp, x):
        self.in_shape = x.shape
        self.grow = [(max(lo, 0), max(hi, 0)) for lo, hi in self.pairs]
        if any(g != (0, 0) for g in self.grow):
            y = xp.pad(x, self.grow, mode="constant", constant_values=self.value)
        else:
            y = x.copy()
        # negative amounts crop
        self.sl = tuple(slice(max(-lo, 0), y.shape[i] - max(-hi, 0)) for i, (lo, hi) in enumerate(self.pairs))
        if any(lo < 0 or hi < 0 for lo, hi in self.pairs):
            y = y[self.sl]
        return y

    def backward(self, xp, g):
        # undo the crop: zero-pad the gradient back, then cut out the input's region
        full_shape = tuple(x + a + b for x, (a, b) in zip(self.in_shape, self.grow))
        if full_shape != g.shape:
            gf = xp.zeros(full_shape, g.dtype)
            gf[self.sl] = g
        else:
            gf = g
        src = tuple(slice(a, a + n) for (a, _), n in zip(self.grow, self.in_shape))
        return gf[src]

    def backward_t(self, g):
        from ...ops import IndexPut

        full_shape = tuple(x + a + b for x, (a, b) in zip(self.in_shape, self.grow))
        if full_shape != tuple(g.shape):
            zeros = self.const(self.device.xp.zeros(full_shape, g._data.dtype))
            g = IndexPut.apply(zeros, g, index=self.sl, accumulate=False, advanced=False)
        return g[tuple(slice(a, a + n) for (a, _), n in zip(self.grow, self.in_shape))]


class TakeAxis(Function):
    """``take(x, idx, axis)``: the reflect, replicate and circular pads, one dim at a time."""

    def forward(self, xp, x):
        self.in_shape = x.shape
        return xp.take(x, self.idx, axis=self.axis)

    def backward(self, xp, g):
        gx = xp.zeros(self.in_shape, g.dtype)
        scatter_add(xp, xp.moveaxis(gx, self.axis, 0), self.idx, xp.moveaxis(g, self.axis, 0))
        return gx

    def backward_t(self, g):
        from ...ops import IndexPut

        zeros = self.const(self.device.xp.zeros(self.in_shape, g._data.dtype))
        index = (slice(None),) * (self.axis % len(self.in_shape)) + (self.idx,)
        return IndexPut.apply(zeros, g, index=index, accumulate=True, advanced=True)


def _pad_index(xp, n: int, lo: int, hi: int, mode: str, where: str = ""):
    i = xp.arange(-lo, n + hi)
    if mode == "reflect":
        if lo >= n or hi >= n:
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, "
                f"but got: padding ({lo}, {hi}) at {where or f'dimension of size {n}'}"
            )
        period = 2 * (n - 1) if n > 1 else 1
        i = xp.abs(i) % period
        return xp.where(i >= n, period - i, i)
    if mode == "replicate":
        return xp.clip(i, 0, n - 1)
    if mode == "circular":
        if lo > n or hi > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        return i % n
    raise NotImplementedError(f"pad mode {mode!r}: expected 'constant', 'reflect', 'replicate' or 'circular'")


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``, last dim first.

    Args:
        input: the tensor.
        pad: pairs of amounts, starting from the last dim; negative amounts crop (constant mode).
        mode: ``'constant'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        value: fill value for ``'constant'`` (0 by default).
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    k = len(pad) // 2
    if k > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension "
                           f"but got padding length {len(pad)} and input of dimension {input.ndim}")
    pairs = [(0, 0)] * (input.ndim - k) + [(pad[2 * j], pad[2 * j + 1]) for j in reversed(range(k))]
    if mode == "constant":
        return ConstantPad.apply(input, pairs=pairs, value=0 if value is None else value)
    if value not in (None, 0):
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    if k not in (1, 2, 3) or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    xp = input._device.xp
    out = input
    for axis in range(input.ndim - k, input.ndim):
        lo, hi = pairs[axis]
        if lo or hi:
            where = f"dimension {axis} of input {list(input.shape)}"
            out = TakeAxis.apply(out, idx=_pad_index(xp, out.shape[axis], lo, hi, mode, where), axis=axis)
    return out


# ---------------------------------------------------------------- embedding


class Embedding(Function):
    def forward(self, xp, w, idx):
        self.idx, self.w_shape = idx, w.shape
        return w[idx]

    def backward(self, xp, g):
        gw = xp.zeros(self.w_shape, g.dtype)
        flat = self.idx.reshape(-1)
        scatter_add(xp, gw, flat, g.reshape(-1, self.w_shape[1]))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None

    def backward_t(self, g):
        from ...ops import IndexPut

        xp = self.device.xp
        flat = self.idx.reshape(-1)
        rows = g.reshape(-1, self.w_shape[1])
        if self.padding_idx is not None:
            rows = rows * self.const((flat != self.padding_idx).astype(g._data.dtype)[:, None])
        zeros = self.const(xp.zeros(self.w_shape, g._data.dtype))
        return IndexPut.apply(zeros, rows, index=flat, accumulate=True, advanced=True), None


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``input``: shape ``input.shape + (dim,)``.

    Args:
        padding_idx: a row whose gradient stays zero.
        max_norm: rows picked are first renormalised in place to at most this norm.
    """
    idx = input._data
    if idx.dtype.kind not in "iu":
        raise RuntimeError(
            f"Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
            f"but got {input.dtype} instead (while checking arguments for embedding)"
        )
    n = weight.shape[0]
    if idx.size:  # negative indices too are out of range, as in PyTorch
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            raise IndexError(f"index {hi if hi >= n else lo} is out of range for an embedding with {n} rows "
                             f"(expected 0 to {n - 1})")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    return Embedding.apply(weight, input, padding_idx=padding_idx)


def _renorm_rows(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """Scale the rows of ``weight`` that ``idx`` picks, in place, to a ``norm_type``-norm of at most ``max_norm``."""
    xp = weight._device.xp
    rows = xp.unique(idx.reshape(-1) % weight.shape[0])
    w = weight._data
    norms = (xp.abs(w[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    w[rows] *= scale[:, None]


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``."""
    norm = input.norm(p, dim=dim, keepdim=True)
    return input / norm.clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim``: each divided by its norm (at
    least ``eps``) first, then their product summed, as PyTorch computes it (so a constant input's
    own values are not what backward keeps). The inputs broadcast."""
    if x1.shape != x2.shape:
        from ...functions import broadcast_tensors

        x1, x2 = broadcast_tensors(x1, x2)
    n1 = x1.norm(dim=dim, keepdim=True).clamp(min=eps)  # (norm: a zero gradient at 0, not sqrt's nan)
    n2 = x2.norm(dim=dim, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dim (inputs broadcast), as ``torch.nn.functional.pairwise_distance``."""
    return (x1 - x2 + eps).norm(p, dim=-1, keepdim=keepdim)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm distance between every two rows of ``input`` (N, M): the N (N - 1) / 2 values
    above the diagonal of ``cdist(input, input)``, row by row. The gradient is 0 where a distance is."""
    from ...functions import _pnorm_last, where

    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if input._data.dtype.kind != "f":
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    xp = input._device.xp
    i, j = (Tensor._make(xp.asarray(k), input._device) for k in np.triu_indices(input.shape[0], 1))
    diff = input.index_select(0, i) - input.index_select(0, j)
    if p == 0:  # a count: in the graph, with a zero gradient (as PyTorch)
        count = (diff != 0).to(dtype=input.dtype).sum(-1)
        return where(count == count, count, diff.sum(-1)) if diff.requires_grad else count
    if p == 1:
        return diff.abs().sum(-1)
    if p == 2:
        sq = (diff * diff).sum(-1)
        zero = sq == 0
        return where(zero, 0.0, where(zero, 1.0, sq).sqrt())
    return _pnorm_last(diff, p)
