"""layer_norm: normalise over the last dimensions, one op with a closed-form backward."""

from __future__ import annotations

import numpy as np

from ...autograd import Function
from ...tensor import Tensor


class LayerNorm(Function):
    torch_name = "NativeLayerNormBackward0"

    def forward(self, xp, x, w=None, b=None):
        axes = self.axes
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        self.rstd = 1.0 / xp.sqrt(var + self.eps)
        self.xhat = xc * self.rstd
        self.w = w
        y = self.xhat * w if w is not None else self.xhat.copy()
        if b is not None:
            y += b
        return y

    def backward(self, xp, g):
        axes, xhat = self.axes, self.xhat
        lead = tuple(range(g.ndim - len(axes)))
        gx = gw = gb = None
        if self.parents[0] is not None:
            gxhat = g * self.w if self.w is not None else g
            m1 = gxhat.mean(axis=axes, keepdims=True)
            m2 = (gxhat * xhat).mean(axis=axes, keepdims=True)
            gx = self.rstd * (gxhat - m1 - xhat * m2)
        if len(self.parents) > 1 and self.parents[1] is not None:
            gw = (g * xhat).sum(axis=lead)
        if len(self.parents) > 2 and self.parents[2] is not None:
            gb = g.sum(axis=lead)
        return gx, gw, gb

    def backward_t(self, g):
        # forward keeps xhat and rstd, not x: x - mean (= xhat / rstd) has the same xhat and rstd
        p = self.parents
        axes = self.axes
        xhat, rstd = standardize_t(self.saved(0, self.xhat / self.rstd), axes, self.eps)
        lead = tuple(range(g.ndim - len(axes)))
        gx = gw = gb = None
        if p[0] is not None:
            gxhat = g * self.saved(1, self.w) if self.w is not None else g
            gx = rstd * (gxhat - gxhat.mean(axes, keepdim=True) - xhat * (gxhat * xhat).mean(axes, keepdim=True))
        if len(p) > 1 and p[1] is not None:
            gw = _sum_t(g * xhat, lead)
        if len(p) > 2 and p[2] is not None:
            gb = _sum_t(g, lead)
        return gx, gw, gb


def standardize_t(x: Tensor, axes: tuple, eps: float):
    """((x - mean) / sqrt(var + eps), 1 / sqrt(var + eps)) over ``axes`` (biased variance), recorded:
    the normalisation ops' forward as tensor ops, for their double backward."""
    xc = x - x.mean(axes, keepdim=True)
    rstd = ((xc * xc).mean(axes, keepdim=True) + eps) ** -0.5
    return xc * rstd, rstd


def _sum_t(t: Tensor, axes: tuple) -> Tensor:
    return t.sum(axes) if axes else t


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims to zero mean and unit variance, then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*, {', '.join(map(str, shape))}], "
            f"but got input of size{list(input.shape)}"
        )
    axes = tuple(range(input.ndim - k, input.ndim))
    if weight is None and bias is not None:
        weight = Tensor._make(input._device.xp.ones(shape, dtype=input._data.dtype), input._device)
    args = (input,) if weight is None else ((input, weight) if bias is None else (input, weight, bias))
    return LayerNorm.apply(*args, axes=axes, eps=float(eps))


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """Divide by the root mean square over the trailing ``normalized_shape`` dims, then scale by
    ``weight``; ``eps`` (the dtype's machine epsilon when None) is added to the mean square."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*{', '.join(map(str, shape))}], "
            f"but got input of size{list(input.shape)}"
        )
    if input._data.dtype.kind != "f":
        from ...tensor import _torch_name

        raise NotImplementedError(f"\"rms_norm\" not implemented for '{_torch_name(input)}'")
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight
