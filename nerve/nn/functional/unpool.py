"""Max unpooling: the partial inverse of max pooling, from the indices it returned.

Each value goes to the flat position (within its (N, C) plane) that ``max_pool*d(...,
return_indices=True)`` gave for it; everything else is zero. The gradient is the output's
gradient gathered back at those positions.
"""

from __future__ import annotations

import math

from ...autograd import Function
from ...tensor import Tensor
from .conv import _ntuple


class MaxUnpoolFn(Function):
    """Scatter ``x`` (..., *in) into zeros of (..., *out_size) at the flat plane positions ``idx``."""

    torch_name = "MaxUnpool2DBackward0"

    def forward(self, xp, x, idx):
        nd = len(self.out_size)
        lead = x.shape[:-nd]
        b, plane = math.prod(lead), math.prod(self.out_size)
        self.idx = idx.reshape(b, -1)
        if self.idx.size and (int(self.idx.min()) < 0 or int(self.idx.max()) >= plane):
            bad = self.idx[(self.idx < 0) | (self.idx >= plane)][0]
            raise RuntimeError(f"Found an invalid max index: {int(bad)} (output volumes are of size "
                               f"{'x'.join(map(str, self.out_size))}")
        self.rows = xp.arange(b)[:, None]
        out = xp.zeros((b, plane), dtype=x.dtype)
        out[self.rows, self.idx] = x.reshape(b, -1)
        return out.reshape(lead + tuple(self.out_size))

    def backward(self, xp, g):
        shape = self.in_meta[0][0]
        return g.reshape(self.rows.shape[0], -1)[self.rows, self.idx].reshape(shape), None

    def backward_t(self, g):
        shape = self.in_meta[0][0]
        return g.reshape(self.rows.shape[0], -1).gather(1, self.const(self.idx)).reshape(shape), None


_TORCH_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
                     "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _unpool_output_size(input, kernel_size, stride, padding, output_size) -> list:
    nd = len(kernel_size)
    default = [(input.shape[-nd + d] - 1) * stride[d] + kernel_size[d] - 2 * padding[d] for d in range(nd)]
    if output_size is None:
        return default
    output_size = list(output_size)
    if len(output_size) == nd + 2:
        output_size = output_size[2:]
    if len(output_size) != nd:
        raise ValueError(f"output_size should be a sequence containing {nd} or {nd + 2} elements, but it has a "
                         f"length of '{len(output_size)}'")
    for d in range(nd):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < output_size[d] < hi:
            raise ValueError(f'invalid output_size "{tuple(output_size)}" (dim {d} must be between {lo} and {hi})')
    return [int(v) for v in output_size]


def _max_unpool(nd, input, indices, kernel_size, stride, padding, output_size):
    if not isinstance(input, Tensor) or not isinstance(indices, Tensor):
        raise TypeError(f"max_unpool{nd}d(): input and indices must be Tensors")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"max_unpool{nd}d: expected a {nd + 1}D or {nd + 2}D input, got shape "
                           f"{list(input.shape)}")
    dt = indices._data.dtype
    if dt.kind not in "iu" or dt.itemsize != 8:
        name = _TORCH_TYPE_NAMES.get(str(dt), str(dt))
        raise RuntimeError(f"elements in indices should be type int64 but got: {name}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) "
                           f"but got indices tensor with shape: {list(indices.shape)}")
    k = _ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None else _ntuple(stride, nd, "stride")
    p = _ntuple(padding, nd, "padding")
    out = _unpool_output_size(input, k, s, p, output_size)
    return MaxUnpoolFn.apply(input, indices, out_size=tuple(out), torch_name=f"MaxUnpool{max(nd, 2)}DBackward0")


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of ``max_pool1d``, as ``torch.nn.functional.max_unpool1d``.

    Args:
        input: (N, C, L) or (C, L), the pooled values.
        indices: what ``max_pool1d(..., return_indices=True)`` returned with them.
        kernel_size, stride (default: kernel_size), padding: the pooling's.
        output_size: the size to restore ((L,) or (N, C, L)) where the default is ambiguous.

    Returns:
        Zeros of the unpooled size, with each value at its index.
    """
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of ``max_pool2d``, as ``torch.nn.functional.max_unpool2d``.

    Args:
        input: (N, C, H, W) or (C, H, W), the pooled values.
        indices: what ``max_pool2d(..., return_indices=True)`` returned with them.
        kernel_size, stride (default: kernel_size), padding: the pooling's, int or (h, w).
        output_size: the size to restore ((H, W) or (N, C, H, W)) where the default is ambiguous.

    Returns:
        Zeros of the unpooled size, with each value at its index.
    """
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of ``max_pool3d``, as ``torch.nn.functional.max_unpool3d``.

    Args:
        input: (N, C, D, H, W) or (C, D, H, W), the pooled values.
        indices: what ``max_pool3d(..., return_indices=True)`` returned with them.
        kernel_size, stride (default: kernel_size), padding: the pooling's, int or (d, h, w).
        output_size: the size to restore ((D, H, W) or (N, C, D, H, W)) where the default is ambiguous.

    Returns:
        Zeros of the unpooled size, with each value at its index.
    """
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)
