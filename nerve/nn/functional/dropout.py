"""dropout: zero each element with probability p during training and scale the rest by 1/(1-p)."""

from __future__ import annotations

from ... import random as _random
from ...autograd import Function
from ...tensor import Tensor


class Dropout(Function):
    torch_name = "MulBackward0"  # PyTorch's CPU dropout multiplies by a scaled mask too

    def forward(self, xp, x):
        keep = _random._uniform(x.shape, 0.0, 1.0, x.dtype, self.dev, self.generator) >= self.p
        self.mask = keep * x.dtype.type(1.0 / (1.0 - self.p)) if self.p < 1 else keep.astype(x.dtype)
        return x * self.mask

    def backward(self, xp, g):
        return g * self.mask

    def backward_t(self, g):
        return g * self.const(self.mask)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None) -> Tensor:
    """Randomly zero elements with probability ``p`` (only when ``training``), scaling the rest by 1/(1-p).

    The mask comes from nerve's global generator, so ``nerve.manual_seed`` makes it reproducible.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    out = Dropout.apply(input, p=float(p), dev=input._device, generator=generator)
    return input._inplace(out) if inplace else out


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: keeps mean and variance by setting dropped values to -alpha'."""
    return _alpha_dropout(input, p, training, inplace, feature=False)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels, as ``torch.nn.functional.feature_alpha_dropout``: each (N, C)
    plane of (N, C, ...) is kept or set to -alpha' as one, then all are scaled and shifted as in
    :func:`alpha_dropout`."""
    return _alpha_dropout(input, p, training, inplace, feature=True)


def _alpha_dropout(input: Tensor, p: float, training: bool, inplace: bool, feature: bool) -> Tensor:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if feature and training and 0.0 < p < 1.0 and input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0
    alpha_p = -1.7580993408473766
    # a channel's mask is one value broadcast over its plane (feature dropout)
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2) if feature else input.shape
    keep = (_random._uniform(shape, 0.0, 1.0, input._data.dtype, input._device) >= p)
    a = (1 - p + alpha_p**2 * p * (1 - p)) ** -0.5
    b = -a * alpha_p * p
    keep_t = Tensor._make(keep.astype(input._data.dtype), input._device)
    out = (input * keep_t + alpha_p * (1 - keep_t)) * a + b
    return input._inplace(out) if inplace else out
