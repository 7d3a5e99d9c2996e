"""Helpers the distributions share: broadcasting parameters, probabilities and logits, lazy
properties, and the draws from nerve's global generator on a tensor's device."""

from __future__ import annotations

import numbers
from functools import update_wrapper

import numpy as np

from ..autograd import enable_grad
from ..backend import CPU, move
from ..creation import tensor
from ..dtypes import finfo, get_default_dtype
from ..functions import broadcast_tensors
from ..random import _normal, _rng, _uniform
from ..tensor import Tensor

euler_constant = 0.57721566490153286060  # Euler-Mascheroni constant


def broadcast_all(*values) -> tuple[Tensor, ...]:
    """Numbers and tensors broadcast to one shape; numbers take the first tensor's dtype and device
    (the default dtype when there is none), as ``torch.distributions.utils.broadcast_all``."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number, torch.Tensor or objects "
                         "implementing __torch_function__.")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    opts = dict(dtype=first.dtype, device=first.device) if first is not None else dict(dtype=get_default_dtype())
    return broadcast_tensors(*[v if isinstance(v, Tensor) else tensor(v, **opts) for v in values])


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum out the ``dim`` rightmost dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Sigmoid of binary logits, softmax over the last dim otherwise."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities kept within [eps, 1 - eps] of their dtype, so their logs stay finite."""
    eps = finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log p (log-odds when ``is_binary``), from clamped probabilities."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


class lazy_property:
    """A property computed on first use and then stored on the instance (with gradients recorded,
    as PyTorch's, so a parameter derived under ``no_grad`` still leads back to its source)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


# ---------------------------------------------------------------- draws


def standard_normal(shape, like: Tensor) -> Tensor:
    """N(0, 1) noise of ``shape`` in ``like``'s dtype, on its device, from the global generator."""
    dev = like.device
    return Tensor._make(_normal(tuple(shape), 0.0, 1.0, like._data.dtype, dev), dev)


def uniform(shape, like: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """U[low, high) noise of ``shape`` in ``like``'s dtype, on its device, from the global generator."""
    dev = like.device
    return Tensor._make(_uniform(tuple(shape), low, high, like._data.dtype, dev), dev)


def host_draw(like: Tensor, draw, *params: Tensor) -> Tensor:
    """A draw that only NumPy's generator offers (gamma, Poisson, binomial): ``draw(rng, *arrays)``
    runs on the host with float64 parameters, the result comes back in ``like``'s dtype and device."""
    arrays = [np.asarray(move(p.detach()._data, CPU), dtype=np.float64) for p in params]
    out = np.asarray(draw(_rng(None, CPU), *arrays)).astype(like._data.dtype, copy=False)
    return Tensor._make(move(out, like.device), like.device)
