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
from .layer_norm import standardize_t
from .normalization import batch_norm


def _rowsum(xp, a):
    """``a.sum(axis=-1, keepdims=True)`` of a 3-D array as a product with a vector of ones (BLAS
    reads the rows at full speed; NumPy's reduction takes about three times as long)."""
    n, m, length = a.shape
    return (a.reshape(n * m, length) @ xp.ones(length, dtype=a.dtype)).reshape(n, m, 1)


def _rowdot(a, b):
    """``(a * b).sum(axis=-1, keepdims=True)`` of two 3-D arrays, as batched dot products (no temporary)."""
    return (a[:, :, None, :] @ b[:, :, :, None])[:, :, :, 0]


class GroupNormFn(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per (sample, group)."""

    name = "group_norm"
    torch_name = "NativeGroupNormBackward0"

    def forward(self, xp, x, w=None, b=None):
        n, c = x.shape[0], x.shape[1]
        g = self.groups
        xr = x.reshape(n, g, -1)
        count = xr.shape[2]
        # two passes (the mean, then the squares of the centred values) for a stable variance
        mean = _rowsum(xp, xr) / count
        xc = xr - mean
        var = _rowdot(xc, xc) / count
        invstd = (1 / xp.sqrt(var + self.eps)).astype(x.dtype, copy=False)
        xc *= invstd
        xhat = xc.reshape(x.shape)
        rm, rv = self.running_mean, self.running_var
        if rm is not None:  # instance norm with tracked statistics: g == c
            m = self.momentum
            rm *= 1 - m
            rm += m * mean.reshape(n, c).mean(axis=0).astype(rm.dtype, copy=False)
            rv *= 1 - m
            rv += (m * count / max(count - 1, 1)) * var.reshape(n, c).mean(axis=0).astype(rv.dtype, copy=False)
        self.xhat, self.invstd, self.w = xhat, invstd, w
        if w is None and b is None:
            return xhat.copy()
        y3 = xhat.reshape(n, c, -1)
        y = y3 * w[:, None] if w is not None else y3.copy()
        if b is not None:
            y += b[:, None]
        return y.reshape(x.shape)

    def backward(self, xp, g):
        p = self.parents
        n, c = g.shape[0], g.shape[1]
        groups = self.groups
        g3 = g.reshape(n, c, -1)
        xh3 = self.xhat.reshape(n, c, -1)
        # per (sample, channel): sum of g * xhat and sum of g; everything else follows from these
        a = _rowdot(g3, xh3)[:, :, 0]
        bs = _rowsum(xp, g3)[:, :, 0]
        gw = a.sum(axis=0) if p[1] is not None else None
        gb = bs.sum(axis=0) if p[2] is not None else None
        gx = None
        if p[0] is not None:
            # d/dx of (x - mean) * invstd, per group: invstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)),
            # gxhat = g * weight
            cg = c // groups
            count = cg * g3.shape[2]
            inv = self.invstd.reshape(n, groups)
            if self.w is not None:
                a = a * self.w
                bs = bs * self.w
            m1 = bs.reshape(n, groups, cg).sum(axis=2) / count * inv
            m2 = a.reshape(n, groups, cg).sum(axis=2) / count * inv
            s1 = xp.repeat(inv, cg, axis=1)
            if self.w is not None:
                s1 = s1 * self.w
            gx = g3 * s1[:, :, None].astype(g.dtype, copy=False)
            gx -= xh3 * xp.repeat(m2, cg, axis=1)[:, :, None].astype(g.dtype, copy=False)
            gx -= xp.repeat(m1, cg, axis=1)[:, :, None].astype(g.dtype, copy=False)
            gx = gx.reshape(g.shape)
        return gx, gw, gb

    def backward_t(self, g):
        # x - mean (= xhat / invstd) has the same statistics as x: the backward recomputed from it
        p = self.parents
        n, c = g.shape[0], g.shape[1]
        groups = self.groups
        x = (self.xhat.reshape(n, groups, -1) / self.invstd).reshape(self.xhat.shape)
        xhat, invstd = standardize_t(self.saved(0, x).reshape(n, groups, -1), (2,), self.eps)
        xhat = xhat.reshape(n, c, -1)
        g3 = g.reshape(n, c, -1)
        gx = None
        if p[0] is not None:
            gxhat = (g3 * self.saved(1, self.w).reshape(c, 1) if self.w is not None else g3).reshape(n, groups, -1)
            xh = xhat.reshape(n, groups, -1)
            gx = invstd * (gxhat - gxhat.mean(2, keepdim=True) - xh * (gxhat * xh).mean(2, keepdim=True))
            gx = gx.reshape(g.shape)
        gw = (g3 * xhat).sum((0, 2)) if p[1] is not None else None
        gb = g3.sum((0, 2)) if p[2] is not None else None
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
