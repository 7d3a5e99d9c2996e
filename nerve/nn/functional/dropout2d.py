"""Channel-wise dropout: ``dropout2d`` zeroes whole feature maps."""

from __future__ import annotations

from ... import random as _random
from ...autograd import Function
from ...tensor import Tensor


class ChannelDropout(Function):
    name = "dropout2d"

    def forward(self, xp, x):
        keep = _random._uniform(self.mask_shape, 0.0, 1.0, x.dtype, self.dev, self.generator) >= self.p
        self.mask = keep * x.dtype.type(1.0 / (1.0 - self.p)) if self.p < 1 else keep.astype(x.dtype)
        return x * self.mask

    def backward(self, xp, g):
        return g * self.mask


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each channel of an (N, C, H, W) or (C, H, W) input with probability ``p`` while training.

    The kept channels are scaled by 1/(1-p). The mask comes from nerve's global generator.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"dropout2d: Expected 3D (unbatched) or 4D (batched) input, got input of shape {list(input.shape)}"
        )
    if not training or p == 0.0:
        return input
    lead = input.ndim - 2
    mask_shape = tuple(input.shape[:lead]) + (1, 1)
    out = ChannelDropout.apply(input, p=float(p), mask_shape=mask_shape, dev=input._device, generator=None)
    return input._inplace(out) if inplace else out
