"""Channel-wise dropout: ``dropout1d``, ``dropout2d`` and ``dropout3d`` zero whole feature maps."""

from __future__ import annotations

import warnings

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

    def backward_t(self, g):
        return g * self.const(self.mask)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each channel of an (N, C, L) or (C, L) input with probability ``p`` while training.

    The kept channels are scaled by 1/(1-p); the mask comes from nerve's global generator.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that dropout1d exists to "
            "provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional "
            "batch dimension (i.e. 2D or 3D inputs)."
        )
    if not training or p == 0.0:
        return input
    x = input if input.ndim == 3 else input.unsqueeze(0)
    out = ChannelDropout.apply(x, p=float(p), mask_shape=tuple(x.shape[:2]) + (1,), dev=x._device, generator=None)
    if input.ndim != 3:
        out = out.squeeze(0)
    return input._inplace(out) if inplace else out


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each channel of an (N, C, H, W) input with probability ``p`` while training.

    The kept channels are scaled by 1/(1-p). The mask comes from nerve's global generator. As
    torch's, the mask is (N, C, 1, ...) for any input of at least 2 dimensions: a 3-D input is
    taken as (N, C, L) (channel-wise 1-D dropout) and a 2-D one as (N, C) (plain dropout); both,
    and inputs of 5 or more dimensions, warn as torch does.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout "
            "instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    if not training or p == 0.0:
        return input
    if input.ndim < 2:
        raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input, got shape "
                           f"{list(input.shape)}")
    mask_shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    out = ChannelDropout.apply(input, p=float(p), mask_shape=mask_shape, dev=input._device, generator=None)
    return input._inplace(out) if inplace else out


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each channel of an (N, C, D, H, W) or (C, D, H, W) input with probability ``p`` while training.

    The kept channels are scaled by 1/(1-p); the mask comes from nerve's global generator. As
    torch's, any input but a 5-D one is taken as unbatched (the mask is (C, 1, ...) over its first
    axis), and inputs that are neither 4-D nor 5-D warn.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout "
            "instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    if not training or p == 0.0:
        return input
    x = input if input.ndim == 5 else input.unsqueeze(0)
    if x.ndim < 2:
        raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input, got shape "
                           f"{list(x.shape)}")
    mask_shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
    out = ChannelDropout.apply(x, p=float(p), mask_shape=mask_shape, dev=x._device, generator=None)
    if input.ndim != 5:
        out = out.squeeze(0)
    return input._inplace(out) if inplace else out
