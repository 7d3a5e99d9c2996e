"""InstanceNorm1d/2d/3d: per-sample, per-channel statistics, as PyTorch's; and their lazy forms."""

from __future__ import annotations

import warnings

from .. import functional as F
from .batchnorm import _BatchNorm, _LazyNormBase


class _InstanceNorm(_BatchNorm):
    _nd = 2  # spatial axes plus one: the dims of an unbatched input

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def _check_input_dim(self, input) -> None:
        nd = self._nd
        if input.ndim not in (nd, nd + 1):
            raise ValueError(f"expected {nd}D or {nd + 1}D input (got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        axis = input.ndim - self._nd
        if input.shape[axis] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={axis} to match num_features"
                                 f" ({self.num_features}), but got: {input.shape[axis]}.")
            warnings.warn(f"input's size at dim={axis} does not match num_features. You can silence this "
                          "warning by not passing in num_features, which is not used because affine=False",
                          stacklevel=2)
        unbatched = input.ndim == self._nd
        x = input.unsqueeze(0) if unbatched else input
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs, as ``torch.nn.InstanceNorm1d``.

    Args:
        num_features: channels C.
        eps: added to the variance.
        momentum: weight of the new batch in the running averages (``track_running_stats``).
        affine: learn a per-channel ``weight`` and ``bias`` (off by default, as PyTorch).
        track_running_stats: keep running statistics while training and use them in eval.
    """

    _nd = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs, as ``torch.nn.InstanceNorm2d``.

    Args: as :class:`InstanceNorm1d`.
    """

    _nd = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) inputs, as ``torch.nn.InstanceNorm3d``.

    Args: as :class:`InstanceNorm1d`.
    """

    _nd = 4


class _LazyInstanceNorm(_LazyNormBase):
    def _channel_axis(self, input) -> int:
        return input.ndim - self._nd  # 0 for an unbatched input


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """An ``InstanceNorm1d`` whose ``num_features`` is the channel dim of its first input, as
    ``torch.nn.LazyInstanceNorm1d`` (whose ``affine`` and ``track_running_stats`` default to True).

    Args: as :class:`InstanceNorm1d`'s, less ``num_features``; the first call creates the
    parameters and statistics and makes the layer an ``InstanceNorm1d``.
    """

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """An ``InstanceNorm2d`` whose ``num_features`` is the channel dim of its first input, as
    ``torch.nn.LazyInstanceNorm2d``; the first call makes the layer an ``InstanceNorm2d``."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """An ``InstanceNorm3d`` whose ``num_features`` is the channel dim of its first input, as
    ``torch.nn.LazyInstanceNorm3d``; the first call makes the layer an ``InstanceNorm3d``."""

    cls_to_become = InstanceNorm3d
