"""Tensor functions in the ``nerve`` namespace (``nerve.cat``, ``nerve.where``, ``nerve.exp``, ...)."""

from __future__ import annotations

import builtins

from . import dtypes as _dt
from . import ops
from .tensor import Tensor, _one_axis


def _tensor(x, like=None):
    if isinstance(x, Tensor):
        return x
    from .creation import tensor

    return tensor(x, device=like.device if like is not None else None)


def _same(tensors, op):
    ts = [_tensor(t) for t in tensors]
    if not ts:
        raise RuntimeError(f"{op}(): expected a non-empty list of tensors")
    dev = ts[0].device
    for t in ts[1:]:
        if t.device is not dev:
            raise RuntimeError(f"{op}(): expected all tensors on the same device, got {dev} and {t.device}")
    target = _dt.result_type(*ts) if len({t._data.dtype for t in ts}) > 1 else None
    if target is not None:
        ts = [t.to(dtype=target) for t in ts]
    return ts


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    ts = [t for t in _same(tensors, "cat") if not (t.ndim == 1 and t.shape[0] == 0)] or _same(tensors, "cat")[:1]
    d = _one_axis(dim, ts[0].ndim)
    for t in ts[1:]:
        if t.ndim != ts[0].ndim or builtins.any(a != b for i, (a, b) in enumerate(zip(t.shape, ts[0].shape)) if i != d):
            raise RuntimeError(
                f"cat(): sizes of tensors must match except in dimension {d}; got "
                + " and ".join(str(tuple(x.shape)) for x in ts)
            )
    return ops.Cat.apply(*ts, axis=d)


concat = cat
concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new dimension."""
    ts = _same(tensors, "stack")
    for t in ts[1:]:
        if t.shape != ts[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {tuple(ts[0].shape)} and {tuple(t.shape)}"
            )
    return ops.Stack.apply(*ts, axis=_one_axis(dim, ts[0].ndim + 1))


def hstack(tensors) -> Tensor:
    ts = _same(tensors, "hstack")
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    ts = [t if t.ndim > 1 else t.reshape(1, -1) for t in _same(tensors, "vstack")]
    return cat(ts, 0)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0):
    """Split into pieces of ``split_size`` (last may be smaller) or of the listed sizes."""
    d = _one_axis(dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0:
            raise RuntimeError(f"split expects split_size be positive, but got split_size={s}")
        sizes = [builtins.min(s, n - i) for i in range(0, n, s)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sizes}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(tensor.narrow(d, start, s))
        start += s
    return tuple(out)


def chunk(tensor: Tensor, chunks: int, dim: int = 0):
    """Split into ``chunks`` nearly equal pieces (as ``torch.chunk``)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = tensor.shape[_one_axis(dim, tensor.ndim)]
    size = -(-n // chunks)
    return split(tensor, builtins.max(size, 1), dim)


def where(condition, input=None, other=None):
    """Pick ``input`` where ``condition`` holds, else ``other``; with one argument, ``nonzero``."""
    cond = _tensor(condition)
    if input is None and other is None:
        return cond.nonzero(as_tuple=True)
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    if like is None:
        input = _tensor(input)
        like = input
    if not isinstance(input, Tensor):
        input = _scalar_tensor(input, like)
    if not isinstance(other, Tensor):
        other = _scalar_tensor(other, like)
    a, b = input._coerce(other)
    c = cond._data
    if c.dtype.kind != "b":
        c = c != 0
    if cond.device is not a.device:
        raise RuntimeError(f"where(): condition is on {cond.device} but the values are on {a.device}")
    return ops.Where.apply(Tensor._make(c, cond.device), a, b)


def _scalar_tensor(v, like: Tensor) -> Tensor:
    from .creation import tensor

    dt = like.dtype if (like.is_floating_point() or not isinstance(v, float)) else _dt.get_default_dtype()
    return tensor(v, dtype=dt, device=like.device)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Values of ``input`` at ``index`` along ``dim`` (``out[i][j] = input[i][index[i][j]]`` for dim 1)."""
    d = _one_axis(dim, input.ndim)
    if index.ndim != input.ndim:
        raise RuntimeError(
            f"gather(): index has {index.ndim} dims but input has {input.ndim}; they must match"
        )
    return ops.Gather.apply(input, index, axis=d)


def cumsum(input: Tensor, dim: int) -> Tensor:
    return ops.CumSum.apply(input, axis=_one_axis(dim, input.ndim))


def maximum(a: Tensor, b) -> Tensor:
    return a.maximum(b)


def minimum(a: Tensor, b) -> Tensor:
    return a.minimum(b)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a @ b


def clamp(input: Tensor, min=None, max=None) -> Tensor:
    return input.clamp(min, max)


clip = clamp


def max(input: Tensor, dim=None, keepdim: bool = False):
    return input.max(dim, keepdim)


def min(input: Tensor, dim=None, keepdim: bool = False):
    return input.min(dim, keepdim)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return input.flatten(start_dim, end_dim)


def numel(input: Tensor) -> int:
    return input.numel()


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def allclose(a: Tensor, b: Tensor, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
    return a.allclose(b, rtol, atol, equal_nan)


def outer(a: Tensor, b: Tensor) -> Tensor:
    return a.reshape(-1, 1) * b.reshape(1, -1)


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    if "->" not in equation:  # implicit output, as NumPy and PyTorch: the letters seen once, sorted
        letters = equation.replace(",", "")
        equation += "->" + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ops.Einsum.apply(*operands, equation=equation)


def _method(name):
    def fn(input, *args, **kwargs):
        return getattr(_tensor(input), name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``nerve.{name}(t, ...)`` is ``t.{name}(...)``."
    return fn


_METHODS = (
    "add sub subtract mul multiply div divide true_divide pow neg negative abs exp log log1p log2 log10 "
    "expm1 sqrt rsqrt square reciprocal sin cos tan tanh sigmoid relu sign floor ceil round trunc "
    "sum mean var std prod amax amin argmax argmin logsumexp norm all any count_nonzero sort argsort topk "
    "reshape squeeze unsqueeze permute transpose swapaxes t narrow select unbind flip repeat "
    "eq ne lt le gt ge equal isclose isnan isinf isfinite logical_not logical_and logical_or "
    "masked_fill nonzero index_select softmax log_softmax unique remainder floor_divide "
    "mm bmm dot detach clone tril triu roll repeat_interleave tile"
).split()

for _n in _METHODS:
    globals()[_n] = _method(_n)
