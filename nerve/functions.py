"""Tensor functions in the ``nerve`` namespace (``nerve.cat``, ``nerve.where``, ``nerve.exp``, ...)."""

from __future__ import annotations

import builtins
import string

import numpy as _np

from . import dtypes as _dt
from . import ops
from .tensor import Tensor, _mixed_matmul, _one_axis, _takes_dim, numpy_aliases


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


def cat(tensors, dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    """Join tensors along an existing dimension."""
    if out is not None:
        return _into(out, cat(tensors, dim), "cat")
    ts = [t for t in _same(tensors, "cat") if not (t.ndim == 1 and t.shape[0] == 0)] or _same(tensors, "cat")[:1]
    for i, t in enumerate(ts):
        if not t.ndim:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
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


def stack(tensors, dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    """Join tensors of equal shape along a new dimension."""
    if out is not None:
        return _into(out, stack(tensors, dim), "stack")
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
    """A Python number as a 0-d tensor of the dtype it promotes to with ``like``, as torch's rule
    has it: a number raises the kind (bool, integer, float), never the width."""
    from .creation import tensor

    kind = like._data.dtype.kind
    if isinstance(v, float) and kind != "f":
        dt = _dt.get_default_dtype()
    elif isinstance(v, int) and not isinstance(v, bool) and kind == "b":  # where(mask, flags, 1) is int64
        dt = _dt.int64
    else:
        dt = like.dtype
    return tensor(v, dtype=dt, device=like.device)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Values of ``input`` at ``index`` along ``dim`` (``out[i][j] = input[i][index[i][j]]`` for dim 1)."""
    d = _one_axis(dim, input.ndim)
    if index.ndim != input.ndim:
        raise RuntimeError(
            f"gather(): index has {index.ndim} dims but input has {input.ndim}; they must match"
        )
    return ops.Gather.apply(input, index, axis=d)


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """The running sum along ``dim`` (in ``dtype`` if given; integer and bool inputs give int64)."""
    if dtype is not None:
        input = input.to(dtype=dtype)
    elif input._data.dtype.kind in "iub":  # NumPy would keep int32, or give uint64 for uint8
        input = input.to(dtype=_dt.int64)
    if not input.ndim:  # a 0-d tensor stays 0-d
        return ops.CumSum.apply(input.reshape(1), axis=_one_axis(dim, 1)).reshape(())
    return ops.CumSum.apply(input, axis=_one_axis(dim, input.ndim))


def maximum(input: Tensor, other, *, out: Tensor | None = None) -> Tensor:
    return _into(out, input.maximum(other), "maximum")


def minimum(input: Tensor, other, *, out: Tensor | None = None) -> Tensor:
    return _into(out, input.minimum(other), "minimum")


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The matrix product of two tensors (``input @ other``), as ``torch.matmul``."""
    return _into(out, input @ other, "matmul")


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


def allclose(input: Tensor, other: Tensor, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
    return input.allclose(other, rtol, atol, equal_nan)


def outer(input: Tensor, vec2: Tensor, *, out: Tensor | None = None) -> Tensor:
    return _into(out, input.reshape(-1, 1) * vec2.reshape(1, -1), "outer")


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    if "->" not in equation:  # implicit output, as NumPy and PyTorch: the letters seen once, sorted
        letters = equation.replace(",", "").replace(".", "")
        equation += "->" + ("..." if "..." in equation else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    if "..." in equation:
        equation = _spell_out_ellipsis(equation, [o.ndim for o in operands])
    ins, out = equation.split("->")
    terms = ins.split(",")
    if builtins.any(len(set(t)) < len(t) for t in terms):  # "ii": the op takes a letter once per operand
        pairs = [_take_diagonals(t, o) for t, o in zip(terms, operands)]
        equation = ",".join(t for t, _ in pairs) + "->" + out
        operands = tuple(o for _, o in pairs)
    dts = [o.dtype for o in operands if isinstance(o, Tensor)]
    if builtins.any(d is not dts[0] for d in dts):  # as PyTorch's: a product never promotes
        raise RuntimeError(f"einsum(): expected all operands to have the same dtype, but got "
                           f"{', '.join(map(str, dts))}; convert them with .to(dtype) first")
    return ops.Einsum.apply(*operands, equation=equation)


def _take_diagonals(term: str, x: Tensor) -> tuple[str, Tensor]:
    """An operand whose ``term`` repeats a letter (``"ii"``), as its diagonal over those dims (the
    letter moves last, where ``diagonal`` puts the dim), until no letter repeats."""
    while len(set(term)) < len(term):
        c = next(c for c in term if term.count(c) > 1)
        p = term.index(c)
        q = term.index(c, p + 1)
        x = x.diagonal(0, p, q)
        term = term[:p] + term[p + 1:q] + term[q + 1:] + c
    return term, x


def _spell_out_ellipsis(equation: str, ndims: list) -> str:
    """``equation`` with each ``...`` written as letters of its own (the op takes letters only): the
    dims an operand's ``...`` covers are the last of one shared block, as broadcasting aligns them."""
    ins, out = equation.split("->")
    terms = ins.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum(): {len(terms)} operands in the equation, but {len(ndims)} were given")
    spans = [nd - len(t.replace("...", "")) if "..." in t else 0 for t, nd in zip(terms, ndims)]
    if builtins.any(n < 0 for n in spans):
        raise RuntimeError(f"einsum(): the equation '{equation}' has more dimensions than an operand")
    free = [c for c in string.ascii_letters if c not in equation]
    block = "".join(free[:builtins.max(spans)])
    terms = [t.replace("...", block[len(block) - n:]) for t, n in zip(terms, spans)]
    return ",".join(terms) + "->" + out.replace("...", block)


def _into(out, result, name: str):
    """``result``, or, given PyTorch's ``out=`` argument, ``result`` written into ``out`` (a tensor,
    or a tuple of them for a function with several results) and ``out`` returned."""
    if out is None:
        return result
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(result)} Tensors")
        for o, r in zip(out, result):
            _into(o, r, name)
        return type(result)(*out) if hasattr(result, "_fields") else tuple(out)
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    from .autograd import is_grad_enabled

    if is_grad_enabled() and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
    if not _dt.can_cast(result.dtype, out.dtype):
        raise RuntimeError(f"{name}(): result type {result.dtype} can't be cast to the desired output type "
                           f"{out.dtype} of 'out'")
    if out.shape != result.shape:  # PyTorch resizes out (and warns when it was not empty)
        if out.numel():
            import warnings

            warnings.warn(f"{name}(): an output with one or more elements was resized since it had shape "
                          f"{list(out.shape)}, which does not match the required output shape {list(result.shape)}",
                          UserWarning, stacklevel=3)
        out._data = result._data.astype(out._data.dtype)
        return out
    out.copy_(result)
    return out


def _method(name):
    def fn(input, *args, out=None, **kwargs):
        return _into(out, getattr(_tensor(input), name)(*args, **kwargs), name)

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



# the functions that are ``Tensor`` methods in PyTorch too, added with scatter, diag, erf, ...
_METHODS_MORE = (
    "scatter scatter_add scatter_reduce index_add addmm baddbmm addbmm addmv addr ger diag diagonal trace "
    "movedim moveaxis rot90 take_along_dim masked_select atan2 arctan2 hypot fmod frac lerp nan_to_num erf "
    "erfc bitwise_and bitwise_or bitwise_xor bitwise_not bitwise_left_shift bitwise_right_shift cumprod diff "
    "median kthvalue quantile histc "
    "bincount asin acos atan sinh cosh asinh acosh atanh arcsin arccos arctan arcsinh arccosh arctanh erfinv "
    "exp2 deg2rad rad2deg sinc logit xlogy logaddexp float_power copysign signbit heaviside sgn positive "
    "logical_xor clamp_min clamp_max nansum nanmean aminmax cummax cummin msort argwhere flipud fliplr take "
    "index_fill index_copy nanquantile nanmedian logcumsumexp index_put masked_scatter diag_embed "
    "index_reduce put histogram frexp ldexp gcd lcm nextafter broadcast_to tensor_split hsplit vsplit dsplit "
    "swapdims addcmul addcdiv unflatten ravel unique_consecutive renorm split_with_sizes narrow_copy log_ "
    "log1p_ sin_ cos_ tanh_ sigmoid_ floor_ ceil_ round_ trunc_ reciprocal_ rsqrt_ sqrt_ exp_ relu_ fill_ "
    "zero_ inverse det slogdet logdet matrix_power lgamma digamma mvlgamma"
).split()

for _n in _METHODS_MORE:
    globals()[_n] = _method(_n)


def std_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(std, mean)`` over ``dim`` (all dims when None), as ``torch.std_mean``."""
    return input.std(dim, unbiased, keepdim, correction=correction), input._floating().mean(dim, keepdim)


def var_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(var, mean)`` over ``dim`` (all dims when None), as ``torch.var_mean``."""
    return input.var(dim, unbiased, keepdim, correction=correction), input._floating().mean(dim, keepdim)


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids from 1-D tensors: with ``indexing='ij'`` output ``k`` varies along axis ``k``;
    ``'xy'`` swaps the first two axes (as NumPy's default)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t.ndim}D")
    ts = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    out = []
    for k, t in enumerate(ts):
        view = [1] * len(ts)
        view[k] = shape[k]
        out.append(t.reshape(view).expand(*shape))
    if swap:  # the grids of the first two inputs vary along axes 1 and 0
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: every element of ``input`` times a block ``other``."""
    a, b = input._coerce(other)
    nd = builtins.max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    va, vb = [], []
    for x, y in zip(sa, sb):
        va += [x, 1]
        vb += [1, y]
    return (a.reshape(va) * b.reshape(vb)).reshape([x * y for x, y in zip(sa, sb)])


def cross(input: Tensor, other: Tensor, dim=None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the first axis of size 3 when None, as
    ``torch.cross``; ``torch.linalg.cross`` uses -1); the inputs broadcast."""
    a, b = input._coerce(other)
    if a.ndim != b.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    try:
        shape = tuple(_np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
        raise RuntimeError(f"linalg.cross: the shapes {list(a.shape)} and {list(b.shape)} do not broadcast") from None
    if dim is None:
        dims = [k for k, s in enumerate(shape) if s == 3]
        if not dims:
            raise RuntimeError("no dimension of size 3 in input")
        d = dims[0]
    else:
        d = _one_axis(dim, len(shape))
    sa, sb = (1,) * (len(shape) - a.ndim) + tuple(a.shape), (1,) * (len(shape) - b.ndim) + tuple(b.shape)
    if sa[d] != 3 or sb[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got {sa[d]} and {sb[d]}")
    a, b = a.expand(*shape), b.expand(*shape)
    a0, a1, a2 = (a.select(d, k) for k in range(3))
    b0, b1, b2 = (b.select(d, k) for k in range(3))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode=None) -> Tensor:
    """The ``p``-norm distance between each row of ``x1`` (..., P, M) and each of ``x2`` (..., R, M)."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    a, b = x1._coerce(x2)
    if a._data.dtype.kind != "f":
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {a.dtype}")
    if p == 2:
        return ops.Cdist2.apply(a, b)
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)
    if p == 0:
        return (diff != 0).to(dtype=a.dtype).sum(-1)
    if p == 1:
        return diff.abs().sum(-1)
    return _pnorm_last(diff, p)


def _pnorm_last(diff: Tensor, p: float) -> Tensor:
    """The ``p``-norm (p > 0, not 1 or 2) over the last axis, with PyTorch's cdist gradients: 0 where
    the norm is 0 and, for p < 1, where a difference is 0 (no NaN); for p = inf every difference
    tied for the largest gets the full gradient."""
    mag = diff.abs()
    if p == float("inf"):
        top = mag.amax(-1, keepdim=True).detach()
        tied = (mag.detach() == top).to(dtype=mag.dtype)
        return top.squeeze(-1) + ((mag - mag.detach()) * tied).sum(-1)
    zero = mag == 0
    s = where(zero, 0.0, where(zero, 1.0, mag) ** p).sum(-1)
    empty = s == 0
    return where(empty, 0.0, where(empty, 1.0, s) ** (1.0 / p))


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``input - other`` (broadcast), as one number."""
    d = (input - other).reshape(-1)
    if p == 2:
        # through cdist's op, whose gradient is 0 (not NaN) where the distance is 0
        return ops.Cdist2.apply(d.reshape(1, -1), d.new_zeros(1, d.shape[0]).detach()).reshape(())
    if p == 0:
        return (d != 0).to(dtype=d.dtype).sum()
    if p in (1, float("inf")):  # torch.dist shares an inf-norm's gradient between ties (cdist does not)
        return d.norm(p)
    return _pnorm_last(d, p)


def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False, side=None,
                 sorter=None) -> Tensor:
    """Where ``input``'s values would go in ``sorted_sequence`` (along its last axis) to keep it
    sorted: the first such place, or the last with ``right=True`` / ``side='right'``."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    seq = sorted_sequence
    xp = seq._device.xp
    scalar = not isinstance(input, Tensor)
    vals = xp.asarray(input) if scalar else input._data
    if scalar and seq.ndim != 1:
        raise RuntimeError("torch.searchsorted(): input value can be a scalar only when boundaries tensor dimension "
                           f"is 1, but we got boundaries tensor dim({seq.ndim}) and input value's dim(0) numel(1)")
    s = seq._data
    if sorter is not None:
        s = xp.take_along_axis(s, sorter._data, axis=-1)
    sd = "right" if right else "left"
    if s.ndim == 1:
        out = xp.searchsorted(s, vals, side=sd)
    else:
        if s.shape[:-1] != vals.shape[:-1]:
            raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                               "dimensions of boundaries tensor and input value tensor must match, but we got "
                               f"boundaries tensor {list(seq.shape)} and input value tensor {list(input.shape)}")
        rows_s = s.reshape(-1, s.shape[-1])
        rows_v = vals.reshape(rows_s.shape[0], -1)
        # one search, no loop over rows: every value becomes its rank among all of them, shifted by its
        # row times a bound on the ranks, so the rows of boundaries make one sorted sequence
        ranks = xp.unique(xp.concatenate([rows_s.reshape(-1), rows_v.reshape(-1)]), return_inverse=True)[1]
        ranks = ranks.reshape(-1)
        row = xp.arange(rows_s.shape[0])[:, None]
        shift = row * (ranks.size + 1)
        keys = (ranks[:rows_s.size].reshape(rows_s.shape) + shift).reshape(-1)
        wanted = ranks[rows_s.size:].reshape(rows_v.shape) + shift
        out = (xp.searchsorted(keys, wanted, side=sd) - row * rows_s.shape[1]).reshape(vals.shape)
    return Tensor._make(xp.asarray(out).astype(_np.int32 if out_int32 else _np.int64), seq._device)


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each value: ``boundaries[i-1] < x <= boundaries[i]`` (``right=True``:
    ``boundaries[i-1] <= x < boundaries[i]``)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)



def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Sum the products over the last ``dims`` axes of ``a`` and the first of ``b`` (or over the
    axes listed in ``dims = (axes_a, axes_b)``)."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    da = [_one_axis(d, a.ndim) for d in da]
    db = [_one_axis(d, b.ndim) for d in db]
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    if a._data.dtype != b._data.dtype:
        raise _mixed_matmul("tensordot", a, b)
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} "
                               f"and second has size {b.shape[y]} in dim {y}")
    ra = [d for d in range(a.ndim) if d not in da]
    rb = [d for d in range(b.ndim) if d not in db]
    k = 1
    for d in da:
        k *= a.shape[d]
    am = a.permute(*(ra + da)).reshape(-1, k)
    bm = b.permute(*(db + rb)).reshape(k, -1)
    return (am @ bm).reshape([a.shape[d] for d in ra] + [b.shape[d] for d in rb])


def block_diag(*tensors) -> Tensor:
    """The tensors (scalars, vectors as one row, matrices) on the diagonal of one matrix."""
    ts = [t.reshape(1, -1) if t.ndim < 2 else t for t in _same(tensors, "block_diag")] if tensors else []
    for t in ts:
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input has {t.ndim} "
                               "dimensions")
    if not ts:
        from .creation import zeros

        return zeros(1, 0)
    cols = builtins.sum(t.shape[1] for t in ts)
    rows, start = [], 0
    for t in ts:
        parts = []
        if start:
            parts.append(t.new_zeros(t.shape[0], start))
        parts.append(t)
        if cols - start - t.shape[1]:
            parts.append(t.new_zeros(t.shape[0], cols - start - t.shape[1]))
        rows.append(cat(parts, 1) if len(parts) > 1 else t)
        start += t.shape[1]
    return cat(rows, 0)


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of one element from each 1-D tensor, one per row."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], 1)


def _tri_indices(row, col, offset, upper, dtype, device):
    from .creation import tensor

    r, c = (_np.triu_indices if upper else _np.tril_indices)(row, offset, col)
    return tensor(_np.stack([r, c]).astype(_np.int64), dtype=dtype, device=device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """Row and column indices (2 x N) of the upper triangle of a ``row x col`` matrix."""
    return _tri_indices(row, col, offset, True, dtype, device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """Row and column indices (2 x N) of the lower triangle of a ``row x col`` matrix."""
    return _tri_indices(row, col, offset, False, dtype, device)


def column_stack(tensors) -> Tensor:
    """Join 1-D tensors as columns (higher ones along dim 1)."""
    return hstack([t.reshape(-1, 1) if t.ndim < 2 else t for t in _same(tensors, "column_stack")])


def dstack(tensors) -> Tensor:
    """Join along the third dimension (1-D and 2-D tensors are made 3-D first)."""
    ts = []
    for t in _same(tensors, "dstack"):
        if t.ndim == 0:
            t = t.reshape(1, 1, 1)
        elif t.ndim == 1:
            t = t.reshape(1, -1, 1)
        elif t.ndim == 2:
            t = t.unsqueeze(-1)
        ts.append(t)
    return cat(ts, 2)


row_stack = vstack



def cov(input: Tensor, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:
    """The covariance matrix of the variables in the rows of ``input`` (observations in columns),
    with optional integer frequency weights and float observation weights, as ``torch.cov``."""
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    x = input._floating()
    x = x.reshape(1, -1) if x.ndim < 2 else x
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = fweights.to(dtype=x.dtype)
    if aweights is not None:
        w = aweights.to(dtype=x.dtype) if w is None else w * aweights.to(dtype=x.dtype)
    if w is None:
        avg = x.mean(1, keepdim=True)
        fact = n - correction
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / w_sum
        if correction == 0:
            fact = w_sum
        elif aweights is None:
            fact = w_sum - correction
        else:
            fact = w_sum - correction * (w * aweights.to(dtype=x.dtype)).sum() / w_sum
    fact = fact.clamp(min=0) if isinstance(fact, Tensor) else builtins.max(fact, 0)
    xm = x - avg
    c = (xm if w is None else xm * w) @ xm.t()
    c = c / fact
    return c.reshape(()) if input.ndim < 2 else c


def corrcoef(input: Tensor) -> Tensor:
    """Pearson's correlation coefficients of the variables in the rows of ``input``."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal()
    return (c / d.sqrt().reshape(-1, 1) / d.sqrt().reshape(1, -1)).clamp(-1, 1)



def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    try:
        shape = tuple(_np.broadcast_shapes(*(tuple(t.shape) for t in tensors)))
    except ValueError:
        raise RuntimeError("shape mismatch: objects cannot be broadcast to a single shape: "
                           + ", ".join(str(list(t.shape)) for t in tensors)) from None
    return tuple(t if tuple(t.shape) == shape else t.expand(*shape) for t in tensors)


def broadcast_shapes(*shapes):
    """The shape that tensors of ``shapes`` broadcast to."""
    try:
        from .tensor import Size

        return Size(_np.broadcast_shapes(*(tuple(s) if not isinstance(s, int) else (s,) for s in shapes)))
    except ValueError:
        raise RuntimeError(f"shape mismatch: objects cannot be broadcast to a single shape: {shapes}") from None


def _atleast(n, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = []
    for t in tensors:
        t = _tensor(t)
        if t.ndim == 0:
            t = t.reshape((1,) * n)
        elif t.ndim == 1 and n >= 2:
            t = t.reshape((1, t.shape[0], 1)[:n])
        elif t.ndim == 2 and n == 3:
            t = t.unsqueeze(-1)
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*tensors):
    return _atleast(1, tensors)


def atleast_2d(*tensors):
    return _atleast(2, tensors)


def atleast_3d(*tensors):
    return _atleast(3, tensors)


def _trapezoid_parts(y, x, dx, dim):
    d = y.shape[y.ndim + dim if dim < 0 else dim]
    a, b = y.narrow(dim, 1, d - 1), y.narrow(dim, 0, d - 1)
    if x is None:
        return (a + b) * (0.5 * (1.0 if dx is None else dx))
    xd = x.diff(dim=dim if x.ndim == y.ndim else -1)
    if x.ndim == 1 and y.ndim > 1:
        view = [1] * y.ndim
        view[dim] = d - 1
        xd = xd.reshape(view)
    return (a + b) * xd * 0.5


def trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim``: with sample points ``x`` or a spacing ``dx`` (1)."""
    if y.shape[dim] == 0:
        return y.sum(dim)
    return _trapezoid_parts(y, x, dx, dim).sum(dim)


trapz = trapezoid


def cumulative_trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The running trapezoidal integral along ``dim`` (one element shorter than ``y`` there)."""
    return cumsum(_trapezoid_parts(y, x, dx, dim), dim)


def polygamma(n: int, input: Tensor) -> Tensor:
    """The ``n``-th derivative of ``digamma`` (note the argument order, as ``torch.polygamma``)."""
    return _tensor(input).polygamma(n)


# ---------------------------------------------------------------- more of torch's functions (the API surface)

_METHODS_API = (
    "mv inner vdot fmax fmin greater greater_equal less less_equal not_equal isposinf isneginf isreal "
    "logaddexp2 diagflat fix absolute mode is_nonzero is_same_size is_signed is_complex is_inference"
).split()

for _n in _METHODS_API:
    globals()[_n] = _method(_n)


def result_type(tensor, other):
    """The dtype an op of ``tensor`` and ``other`` (tensors or numbers) gives, by PyTorch's promotion."""
    return _dt.result_type(tensor, other)


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Where the values of ``elements`` are in ``test_elements`` (either may be a number)."""
    like = elements if isinstance(elements, Tensor) else test_elements
    if not isinstance(like, Tensor):
        raise TypeError(f"isin() received an invalid combination of arguments - got ({type(elements).__name__}, "
                        f"{type(test_elements).__name__}): elements or test_elements must be a Tensor")
    xp = like._device.xp
    arrays = []
    for x in (elements, test_elements):
        if isinstance(x, Tensor) and x._device is not like._device:
            raise RuntimeError(f"isin(): expected all tensors on the same device, got {like.device} and {x.device}")
        arrays.append(x._data if isinstance(x, Tensor) else xp.asarray(x))
    out = xp.isin(*arrays, assume_unique=assume_unique, invert=invert)
    return Tensor._make(xp.asarray(out), like._device)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """Every combination of ``r`` elements of a 1-D tensor, one per row, in order (as Python's
    ``itertools.combinations``, or ``combinations_with_replacement``); differentiable."""
    import itertools

    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return input.new_zeros(0)
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = _np.array(list(pick(range(input.shape[0]), r)), dtype=_np.int64).reshape(-1, r)
    return input[Tensor._make(input._device.xp.asarray(idx), input._device)]


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix: column ``j`` is ``x ** (N - 1 - j)`` (``x ** j`` with ``increasing``);
    integer and bool inputs give int64. Differentiable (a cumulative product)."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if x._data.dtype.kind != "f":
        x = x.to(dtype=_dt.int64)
    if n <= 1:
        return x.new_ones(x.shape[0], n)
    out = cat([x.new_ones(x.shape[0], 1), x.unsqueeze(1).expand(x.shape[0], n - 1)], 1).cumprod(1)
    return out if increasing else out.flip([1])


def rsub(input: Tensor, other, *, alpha=1) -> Tensor:
    """``other - alpha * input``."""
    scaled = input if alpha == 1 else input * alpha
    return other - scaled if isinstance(other, Tensor) else scaled.__rsub__(other)


def unravel_index(indices, shape):
    """The coordinates in an array of ``shape`` of the flat ``indices``: one int64 tensor per
    dimension, as ``torch.unravel_index`` (indices out of range wrap around, as there)."""
    indices = _tensor(indices)
    if indices._data.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype}")
    shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if builtins.any(s < 0 for s in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    if 0 in shape and indices._data.size:
        raise RuntimeError("ZeroDivisionError")  # as torch words it
    flat = indices._data.astype(_np.int64)
    out, stride = [], 1
    for s in reversed(shape):
        out.append(Tensor._make((flat // stride) % s if s else flat * 0, indices._device))
        stride *= s if s else 1
    return tuple(reversed(out))


for _n, _f in list(globals().items()):  # NumPy's axis / keepdims, as on the methods
    if not _n.startswith("_") and getattr(_f, "__module__", None) == __name__ and _takes_dim(_f):
        globals()[_n] = numpy_aliases(_f)
