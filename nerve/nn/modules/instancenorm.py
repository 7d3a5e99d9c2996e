"""InstanceNorm1d/2d/3d: per-sample, per-channel statistics, as PyTorch's."""

from __future__ import annotations

import warnings

from .. import functional as F
from .batchnorm import _BatchNorm


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
