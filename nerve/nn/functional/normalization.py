"""Batch normalisation: ``batch_norm`` as one op with its own backward.

Training mode normalises with the batch's mean and (biased) variance over every axis but the
channel axis 1, and updates the running statistics in place as PyTorch does: the running
variance takes the unbiased batch variance. Evaluation mode uses the running statistics.
"""

from __future__ import annotations

from ...autograd import Function
from ...tensor import Tensor


class BatchNormFn(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per channel (axis 1)."""

    name = "batch_norm"
    torch_name = "NativeBatchNormBackward0"

    def forward(self, xp, x, w=None, b=None):
        c = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, c) + (1,) * (x.ndim - 2)
        rm, rv = self.running_mean, self.running_var
        if self.training:
            count = x.size // c
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            var = (xc * xc).mean(axis=axes)
            if rm is not None:
                mom = self.momentum
                rm *= 1 - mom
                rm += mom * mean.astype(rm.dtype, copy=False)
            if rv is not None:
                mom = self.momentum
                rv *= 1 - mom
                rv += (mom * count / max(count - 1, 1)) * var.astype(rv.dtype, copy=False)
        else:
            mean, var = rm.astype(x.dtype, copy=False), rv.astype(x.dtype, copy=False)
            xc = x - mean.reshape(shape)
        invstd = (1 / xp.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        xhat = xc * invstd.reshape(shape)
        self.xhat, self.invstd, self.w = xhat, invstd, w
        self.axes, self.shape = axes, shape
        y = xhat * w.reshape(shape) if w is not None else xhat.copy()
        if b is not None:
            y += b.reshape(shape)
        return y

    def backward(self, xp, g):
        xhat, shape, axes = self.xhat, self.shape, self.axes
        p = self.parents
        need_w = len(p) > 1 and p[1] is not None
        need_b = len(p) > 2 and p[2] is not None
        sum_g = g.sum(axis=axes)
        sum_gx = (g * xhat).sum(axis=axes)
        scale = self.invstd if self.w is None else self.invstd * self.w
        gx = None
        if p[0] is not None:
            if self.training:
                count = g.size // g.shape[1]
                gx = g - (sum_g / count).reshape(shape)
                gx -= xhat * (sum_gx / count).reshape(shape)
                gx *= scale.reshape(shape)
            else:
                gx = g * scale.reshape(shape)
        return gx, (sum_gx if need_w else None), (sum_g if need_b else None)

    def backward_t(self, g):
        from .layer_norm import standardize_t

        p = self.parents
        axes, shape = self.axes, self.shape
        inv = self.invstd.reshape(shape)
        x = self.saved(0, self.xhat / inv)  # x minus its mean: the same xhat in training mode
        if self.training:
            xhat, invstd = standardize_t(x, axes, self.eps)
        else:  # xhat = (x - running_mean) * invstd: forward's value, with its derivative in x
            invstd = self.const(inv)
            xhat = self.const(self.xhat) + (x - x.detach()) * invstd
        gx = None
        if p[0] is not None:
            gxhat = g * self.saved(1, self.w).reshape(shape) if self.w is not None else g
            if self.training:
                gxhat = gxhat - gxhat.mean(axes, keepdim=True) - xhat * (gxhat * xhat).mean(axes, keepdim=True)
            gx = gxhat * invstd
        gw = (g * xhat).sum(axes) if len(p) > 1 and p[1] is not None else None
        gb = g.sum(axes) if len(p) > 2 and p[2] is not None else None
        return gx, gw, gb


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over axis 1 of an (N, C, ...) input, as ``torch.nn.functional.batch_norm``.

    Args:
        input: (N, C) or (N, C, *spatial).
        running_mean, running_var: (C,) buffers, updated in place when ``training``; used when not.
        weight, bias: (C,) affine parameters, or None.
        training: normalise with the batch's statistics (and update the running ones).
        momentum: weight of the new batch in the running averages.
        eps: added to the variance.

    Returns:
        The normalised tensor, of the input's shape.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got shape {list(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements not {t.numel()}")
    if training:
        if input.numel() // c <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {input.shape}"
            )
    elif running_mean is None or running_var is None:
        raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
    return BatchNormFn.apply(
        input, weight, bias,
        running_mean=None if running_mean is None else running_mean._data,
        running_var=None if running_var is None else running_var._data,
        training=bool(training), momentum=float(momentum), eps=float(eps),
    )
