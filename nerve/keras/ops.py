"""``keras.ops``: Keras 3's backend-agnostic tensor functions, each mapped to a nerve op.

The article's TensorFlow snippet in Keras 3 words::

    x = ops.convert_to_tensor([[1, 2], [3, 4]])
    rand = keras.random.normal((2, 2))
    res = rand + ops.ones((2, 2)) * x
"""

from __future__ import annotations

import builtins

import numpy as np

import nerve
from nerve.backend import move

from . import backend


def _dtype(dtype):
    from nerve.dtypes import to_dtype

    return None if dtype is None else to_dtype(backend.standardize_dtype(dtype))


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A nerve tensor on Keras's device; Python floats become float32 (floatx), ints int32."""
    if isinstance(x, nerve.Tensor):
        t = x if x.device == backend.device() else x.to(backend.device())
        return t if dtype is None else t.to(_dtype(dtype))
    if hasattr(x, "__nerve_tensor__"):  # a Variable: its value in Keras's layout
        return convert_to_tensor(x.__nerve_tensor__(), dtype)
    arr = np.asarray(x)
    if dtype is not None:
        arr = arr.astype(backend.standardize_dtype(dtype))
    elif arr.dtype == np.float64:
        arr = arr.astype(backend.floatx())
    elif arr.dtype == np.int64 and not isinstance(x, np.ndarray):
        arr = arr.astype(np.int32)
    return nerve.Tensor._make(move(arr, backend.device()), backend.device())


def convert_to_numpy(x):
    """A NumPy array of a tensor (copied from the GPU if needed)."""
    if isinstance(x, nerve.Tensor):
        return nerve.backend.to_numpy(x._data)
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


def is_tensor(x) -> bool:
    return isinstance(x, nerve.Tensor)


_t = convert_to_tensor


def _f(shape, fill, dtype):
    return nerve.full(tuple(shape) if not isinstance(shape, int) else (shape,), fill,
                      dtype=_dtype(dtype or backend.floatx()), device=backend.device())


def ones(shape, dtype=None):
    return _f(shape, 1, dtype)


def zeros(shape, dtype=None):
    return _f(shape, 0, dtype)


def full(shape, fill_value, dtype=None):
    return _f(shape, fill_value, dtype)


def ones_like(x, dtype=None):
    return nerve.ones_like(_t(x), dtype=_dtype(dtype))


def zeros_like(x, dtype=None):
    return nerve.zeros_like(_t(x), dtype=_dtype(dtype))


def eye(n, m=None, dtype=None):
    return nerve.eye(n, m, dtype=_dtype(dtype or backend.floatx()), device=backend.device())


def arange(start, stop=None, step=1, dtype=None):
    return nerve.arange(start, stop, step, dtype=_dtype(dtype), device=backend.device())


def cast(x, dtype):
    return _t(x).to(_dtype(dtype))


def shape(x):
    return tuple(x.shape)


def ndim(x):
    return len(x.shape)


def size(x):
    return int(np.prod(x.shape))


def _bin(fn):
    def op(x1, x2):
        a = x1 if isinstance(x1, nerve.Tensor) else None
        b = x2 if isinstance(x2, nerve.Tensor) else None
        if a is None and b is None:
            a = _t(x1)
        if a is None:
            a = x1 if np.isscalar(x1) else _t(x1)
        if b is None:
            b = x2 if np.isscalar(x2) else _t(x2)
        return fn(a, b)

    return op


add = _bin(lambda a, b: a + b)
subtract = _bin(lambda a, b: a - b)
multiply = _bin(lambda a, b: a * b)
divide = true_divide = _bin(lambda a, b: a / b)
power = _bin(lambda a, b: a**b)
maximum = _bin(lambda a, b: nerve.maximum(a, b if isinstance(b, nerve.Tensor) else _t(b)))
minimum = _bin(lambda a, b: nerve.minimum(a, b if isinstance(b, nerve.Tensor) else _t(b)))
equal = _bin(lambda a, b: a == b)
not_equal = _bin(lambda a, b: a != b)
greater = _bin(lambda a, b: a > b)
greater_equal = _bin(lambda a, b: a >= b)
less = _bin(lambda a, b: a < b)
less_equal = _bin(lambda a, b: a <= b)


def matmul(x1, x2):
    a, b = _t(x1), _t(x2)
    if a.dtype != b.dtype:  # Keras promotes; the core's product, as PyTorch's, does not
        d = nerve.promote_types(a.dtype, b.dtype)
        a, b = a.to(d), b.to(d)
    return a @ b


def dot(x1, x2):
    return matmul(x1, x2)


def einsum(subscripts, *operands):
    """Keras's ``ops.einsum``: the core's einsum of the operands as tensors."""
    from nerve.functions import einsum as _einsum
    return _einsum(subscripts, *[_t(o) for o in operands])


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def mean(x, axis=None, keepdims=False):
    return _t(x).float().mean(dim=_axis(axis), keepdim=keepdims) if not _t(x).is_floating_point() \
        else _t(x).mean(dim=_axis(axis), keepdim=keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return _t(x).sum(dim=_axis(axis), keepdim=keepdims)


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    return _t(x).amax(dim=_axis(axis) if axis is not None else tuple(range(_t(x).ndim)), keepdim=keepdims)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    return _t(x).amin(dim=_axis(axis) if axis is not None else tuple(range(_t(x).ndim)), keepdim=keepdims)


def prod(x, axis=None, keepdims=False, dtype=None):
    return _t(x).prod(dim=axis, keepdim=keepdims)


def std(x, axis=None, keepdims=False):
    return _t(x).std(dim=_axis(axis), unbiased=False, keepdim=keepdims)


def var(x, axis=None, keepdims=False):
    return _t(x).var(dim=_axis(axis), unbiased=False, keepdim=keepdims)


def argmax(x, axis=None, keepdims=False):
    return _t(x).argmax(dim=axis, keepdim=keepdims)


def argmin(x, axis=None, keepdims=False):
    return _t(x).argmin(dim=axis, keepdim=keepdims)


def _unary(name):
    def op(x):
        return getattr(_t(x) if not isinstance(x, nerve.Tensor) else x, name)()

    op.__name__ = name
    return op


exp, log, sqrt, abs, negative, sign = (_unary(n) for n in ("exp", "log", "sqrt", "abs", "neg", "sign"))  # noqa: A001
sin, cos, tanh, floor, ceil, square, log1p = (_unary(n) for n in ("sin", "cos", "tanh", "floor", "ceil", "square", "log1p"))
absolute = abs


def round(x, decimals=0):  # noqa: A001
    return _t(x).round(decimals=decimals)


def clip(x, x_min, x_max):
    return _t(x).clamp(x_min, x_max)


def reshape(x, newshape):
    return _t(x).reshape(tuple(newshape) if not isinstance(newshape, int) else (newshape,))


def transpose(x, axes=None):
    t = _t(x)
    return t.permute(*(axes if axes is not None else builtins.range(t.ndim - 1, -1, -1)))


def expand_dims(x, axis):
    return _t(x).unsqueeze(axis)


def squeeze(x, axis=None):
    return _t(x).squeeze(axis)


def concatenate(xs, axis=0):
    return nerve.cat([_t(x) for x in xs], dim=axis)


def stack(xs, axis=0):
    return nerve.stack([_t(x) for x in xs], dim=axis)


def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return _t(condition).nonzero(as_tuple=True)
    return nerve.where(_t(condition).bool(), x1 if not isinstance(x1, (list, np.ndarray)) else _t(x1),
                       x2 if not isinstance(x2, (list, np.ndarray)) else _t(x2))


def one_hot(x, num_classes, axis=-1, dtype=None):
    import nerve.nn.functional as F

    return F.one_hot(_t(x).long(), num_classes).to(_dtype(dtype or backend.floatx()))


def take(x, indices, axis=None):
    t = _t(x)
    idx = _t(indices).long()
    if axis is None:
        return t.reshape(-1)[idx]
    return t.index_select(axis, idx.reshape(-1)).reshape(t.shape[:axis] + tuple(idx.shape) + t.shape[axis + 1:])


def _nn(name):
    def op(x, *args, **kwargs):
        from . import activations

        return getattr(activations, name)(_t(x), *args, **kwargs)

    op.__name__ = name
    return op


relu, sigmoid, softmax, log_softmax, gelu, silu, softplus, elu, selu, leaky_relu = (
    _nn(n) for n in ("relu", "sigmoid", "softmax", "log_softmax", "gelu", "silu", "softplus", "elu", "selu", "leaky_relu"))


def stop_gradient(x):
    return _t(x).detach()


def logsumexp(x, axis=None, keepdims=False):
    return _t(x).logsumexp(dim=axis if axis is not None else tuple(builtins.range(_t(x).ndim)), keepdim=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return _t(x).bool().all(dim=axis, keepdim=keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return _t(x).bool().any(dim=axis, keepdim=keepdims)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from . import losses

    return losses.categorical_crossentropy(target, _t(output), from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    from . import losses

    return losses.sparse_categorical_crossentropy(target, _t(output), from_logits=from_logits)


def binary_crossentropy(target, output, from_logits=False):
    from . import losses

    return losses.binary_crossentropy(target, _t(output), from_logits=from_logits)


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Per-sample CTC losses of the logits ``output`` (batch, frames, classes) against the padded
    labels ``target`` (batch, max_length), as Keras 3 on torch computes them: a log-softmax over
    the classes, then ``F.ctc_loss`` with ``mask_index`` as the blank. float16 is computed in float32."""
    import nerve.nn.functional as F

    out = _t(output)
    if not out.is_floating_point() or out.dtype == nerve.float16:
        out = out.float()
    logp = F.log_softmax(out.transpose(0, 1), dim=-1)
    return F.ctc_loss(logp, _t(target).long(), _t(output_length).long(), _t(target_length).long(),
                      blank=mask_index, reduction="none")


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """Greedy CTC decoding of (batch, frames, classes) scores, as Keras 3's: ``(decoded, scores)`` with
    ``decoded`` (1, batch, frames) int32, each row the best class per frame (within its sequence
    length), repeats merged, ``mask_index`` dropped and the rest padded with -1; ``scores`` (batch, 1)
    the negated sum of the best scores. ``strategy="beam_search"`` is not in nerve."""
    if strategy == "beam_search":
        raise NotImplementedError(
            "ctc_decode: strategy='beam_search' is not implemented in nerve; use strategy='greedy'"
        )
    if strategy != "greedy":
        raise ValueError(f"Invalid strategy {strategy}. Supported values are 'greedy' and 'beam_search'.")
    x = _t(inputs)
    a = np.asarray(x.detach().cpu().numpy())
    if a.ndim != 3:
        raise ValueError(f"ctc_decode expects inputs of shape (batch_size, max_length, num_classes), got {a.shape}")
    if a.dtype.kind != "f" or a.dtype == np.float16:
        a = a.astype(np.float32)
    batch, frames, classes = a.shape
    lengths = np.asarray(_t(sequence_lengths).cpu().numpy()).reshape(-1).astype(np.int64)
    if mask_index is None:
        mask_index = classes - 1
    idx = a.argmax(-1).astype(np.int32)
    best = a.max(-1)
    beyond = np.arange(frames)[None, :] >= lengths[:, None]
    idx = np.where(beyond, mask_index, idx)
    best = np.where(beyond, 0, best)
    if merge_repeated:
        repeat = np.zeros_like(beyond)
        repeat[:, 1:] = idx[:, 1:] == idx[:, :-1]
        idx = np.where(repeat, mask_index, idx)
    dropped = idx == mask_index
    idx = np.where(dropped, -1, idx).astype(np.int32)
    order = np.argsort(np.where(dropped, frames, np.arange(frames)[None, :]), axis=-1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=-1)
    scores = -best.sum(axis=1, keepdims=True).astype(a.dtype)
    return convert_to_tensor(idx[None], dtype="int32"), convert_to_tensor(scores)
