"""Group and instance normalisation: ``group_norm`` and ``instance_norm`` as one op.

Both normalise each sample over groups of channels (and all spatial positions) with the group's
mean and biased variance, then apply a per-channel scale and shift. Instance norm is group norm
with one channel per group, plus optional running statistics, updated as PyTorch does: the
running mean takes the batch average of the per-instance means, the running variance the batch
average of the unbiased per-instance variances.
"""

from __future__ import annotations

from ...autograd import Function
from ...tensor import Tensor
from .normalization import batch_norm


class GroupNormFn(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per (sample, group)."""

    name = "group_norm"

    def forward(self, xp, x, w=None, b=None):
        n, c = x.shape[0], x.shape[1]
        g = self.groups
        xr = x.reshape(n, g, -1)
        mean = xr.mean(axis=2, keepdims=True)
        xc = xr - mean
        var = (xc * xc).mean(axis=2, keepdims=True)
        invstd = (1 / xp.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        xhat = (xc * invstd).reshape(x.shape)
        rm, rv = self.running_mean, self.running_var
        if rm is not None:  # instance norm with tracked statistics: g == c
            m = self.momentum
            rm *= 1 - m
            rm += m * mean.reshape(n, c).mean(axis=0).astype(rm.dtype, copy=False)
            count = xr.shape[2]
            rv *= 1 - m
            rv += (m * count / max(count - 1, 1)) * var.reshape(n, c).mean(axis=0).astype(rv.dtype, copy=False)
        self.shape = (1, c) + (1,) * (x.ndim - 2)
        self.xhat, self.invstd, self.w = xhat, invstd, w
        y = xhat * w.reshape(self.shape) if w is not None else xhat.copy()
        if b is not None:
            y += b.reshape(self.shape)
        return y

    def backward(self, xp, g):
        xhat, shape = self.xhat, self.shape
        p = self.parents
        n = g.shape[0]
        axes = (0,) + tuple(range(2, g.ndim))
        gw = (g * xhat).sum(axis=axes) if p[1] is not None else None
        gb = g.sum(axis=axes) if p[2] is not None else None
        gx = None
        if p[0] is not None:
            gxhat = g * self.w.reshape(shape) if self.w is not None else g
            gr = gxhat.reshape(n, self.groups, -1)
            xr = xhat.reshape(n, self.groups, -1)
            # d/dx of (x - mean) * invstd, per group: invstd * (g - mean(g) - xhat * mean(g * xhat))
            gx = gr - gr.mean(axis=2, keepdims=True)
            gx -= xr * (gr * xr).mean(axis=2, keepdims=True)
            gx *= self.invstd
            gx = gx.reshape(g.shape)
        return gx, gw, gb


def _norm(input, groups, weight, bias, eps, running_mean=None, running_var=None, momentum=0.1):
    for t in (weight, bias):
        if t is not None and t.dtype != input.dtype:  # NumPy would promote the output silently
            raise RuntimeError(f"mixed dtype: expected the parameters to have the input's dtype {input.dtype}, "
                               f"got {t.dtype}")
    return GroupNormFn.apply(
        input, weight, bias, groups=int(groups), eps=float(eps), momentum=float(momentum),
        running_mean=None if running_mean is None else running_mean._data,
        running_var=None if running_var is None else running_var._data,
    )


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Group normalisation of an (N, C, ...) input, as ``torch.nn.functional.group_norm``.

    Args:
        input: (N, C) or (N, C, *spatial); C must be divisible by ``num_groups``.
        num_groups: how many groups the channels are split into.
        weight, bias: (C,) per-channel scale and shift, or None.
        eps: added to the variance.

    Returns:
        The normalised tensor, of the input's shape.
    """
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{list(input.shape)} and num_groups={num_groups}"
        )
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.shape[0] != c):
            raise RuntimeError(
                f"Expected {what} to be a vector of size equal to the number of channels in input, but got "
                f"{what} of shape {list(t.shape)} and input of shape {list(input.shape)}"
            )
    size = [n * c // num_groups, num_groups] + list(input.shape[2:])
    count = size[0]
    for s in size[2:]:
        count *= s
    if count == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")
    return _norm(input, num_groups, weight, bias, eps)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalisation of an (N, C, *spatial) input, as ``torch.nn.functional.instance_norm``.

    Args:
        input: (N, C, *spatial) with at least one spatial axis.
        running_mean, running_var: (C,) buffers, updated in place when ``use_input_stats``;
            used instead of each instance's statistics when not.
        weight, bias: (C,) per-channel scale and shift, or None.
        use_input_stats: normalise with each instance's own statistics.
        momentum: weight of the new batch in the running averages.
        eps: added to the variance.

    Returns:
        The normalised tensor, of the input's shape.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input with at least 3 dims (N, C, *spatial), "
                         f"got shape {list(input.shape)}")
    c = input.shape[1]
    for what, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"instance_norm: {what} should contain {c} elements not {t.numel()}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    spatial = 1
    for s in input.shape[2:]:
        spatial *= s
    if spatial == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {list(input.shape)}")
    if (running_mean is None) != (running_var is None):
        raise RuntimeError("instance_norm: running_mean and running_var must both be given or both be None")
    return _norm(input, c, weight, bias, eps, running_mean, running_var, momentum)
