"""BatchNorm1d/2d/3d: batch statistics while training, running statistics in eval; and their lazy forms."""

from __future__ import annotations

from ... import creation
from ...autograd import no_grad
from ...dtypes import int64
from .. import functional as F
from .. import init
from ..parameter import UninitializedBuffer, UninitializedParameter
from .lazy import _LazySizeMixin
from .module import Module
from .normalization import affine_parameters


class _BatchNorm(Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        affine_parameters(self, (num_features,), affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", creation.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Zero the running mean and the batch count; set the running variance to one."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._data += 1
            if self.momentum is None:  # a cumulative moving average
                factor = 1.0 / int(self.num_batches_tracked.item())
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight, self.bias, use_batch, factor, self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over every axis but C, as ``torch.nn.BatchNorm1d``.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of each new batch in the running averages; None for a cumulative average.
        affine: learn a per-channel scale (weight) and shift (bias).
        track_running_stats: keep running statistics for evaluation mode.
        bias: with ``affine``, learn the shift too.
    """

    def _check_input_dim(self, input) -> None:
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over N, H and W, as ``torch.nn.BatchNorm2d``.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of each new batch in the running averages; None for a cumulative average.
        affine: learn a per-channel scale (weight) and shift (bias).
        track_running_stats: keep running statistics for evaluation mode.
        bias: with ``affine``, learn the shift too.
    """

    def _check_input_dim(self, input) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs over N, D, H and W, as ``torch.nn.BatchNorm3d``.

    Args: as :class:`BatchNorm2d`.
    """

    def _check_input_dim(self, input) -> None:
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")


# ---------------------------------------------------------------- lazy forms: num_features from the input


class _LazyNormBase(_LazySizeMixin):
    """``num_features`` is the channel dim of the first input; the weight, bias and running
    statistics follow. Shared by the lazy batch and instance norms (whose defaults are torch's:
    ``affine`` and ``track_running_stats`` on for both)."""

    _lazy_size = "num_features"

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        # built with 0 features, no affine and no statistics: nothing allocated that the first call replaces
        super().__init__(0, eps, momentum, False, False, device, dtype, bias=False)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = creation.tensor(0, dtype=int64, device=device)

    def _channel_axis(self, input) -> int:
        return 1

    def _size_from_input(self, input) -> int:
        self._check_input_dim(input)
        return input.shape[self._channel_axis(input)]

    def _lazy_shapes(self, size: int) -> dict[str, tuple]:
        return dict.fromkeys(("weight", "bias", "running_mean", "running_var"), (size,))

    def _loaded_size(self) -> tuple[str, int] | None:
        for name in ("weight", "running_mean"):
            t = getattr(self, name)
            if t is not None:
                return name, t.shape[0]
        return None  # neither affine nor tracking: nothing has the size, which stays 0 (as torch)


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    """A ``BatchNorm1d`` whose ``num_features`` is dim 1 of its first input, as ``torch.nn.LazyBatchNorm1d``.

    Args: as :class:`BatchNorm1d`'s, less ``num_features``. The weight, bias, running mean and
    running variance are uninitialised until the first call, which creates and initialises them
    and makes the layer a ``BatchNorm1d``.
    """

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    """A ``BatchNorm2d`` whose ``num_features`` is dim 1 of its first input, as ``torch.nn.LazyBatchNorm2d``.

    Args: as :class:`BatchNorm2d`'s, less ``num_features``; the first call makes the layer a ``BatchNorm2d``.
    """

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    """A ``BatchNorm3d`` whose ``num_features`` is dim 1 of its first input, as ``torch.nn.LazyBatchNorm3d``.

    Args: as :class:`BatchNorm3d`'s, less ``num_features``; the first call makes the layer a ``BatchNorm3d``.
    """

    cls_to_become = BatchNorm3d
