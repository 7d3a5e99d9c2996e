"""Gradient clipping: by total norm (``clip_grad_norm_``) or by value (``clip_grad_value_``)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...tensor import Tensor


def _params(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm of the norms of ``tensors`` (as if they were one vector)."""
    tensors = [t for t in _params(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        from ...creation import tensor

        return tensor(0.0)
    dev = tensors[0]._device
    xp = dev.xp
    arrays = [t._data for t in tensors]
    if norm_type == math.inf:
        total = max(xp.abs(a).max() for a in arrays) if arrays else 0.0
    elif norm_type == -math.inf:
        total = min(xp.abs(a).min() for a in arrays)
    elif norm_type == 2.0:
        total = xp.sqrt(sum((a * a).sum() for a in arrays))
    else:
        total = sum((xp.abs(a) ** norm_type).sum() for a in arrays) ** (1.0 / norm_type)
    total = xp.asarray(total, dtype=arrays[0].dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return Tensor._make(total, dev)


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None) -> None:
    """Scale the gradients by ``max_norm / (total_norm + 1e-6)`` when that is below 1."""
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    xp = grads[0]._device.xp
    coef = xp.minimum(float(max_norm) / (total_norm._data + 1e-6), 1.0)
    with np.errstate(invalid="ignore"):  # an inf gradient times 0 is NaN, silently, as in PyTorch
        for g in grads:
            g._data *= coef.astype(g._data.dtype)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Rescale gradients in place so that their total norm is at most ``max_norm``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped.
        max_norm: the largest total norm allowed.
        norm_type: the p of the p-norm (``float('inf')`` for the max norm).
        error_if_nonfinite: raise when the total norm is nan or inf.
        foreach: accepted for compatibility, ignored.

    Returns:
        The total norm before clipping (a 0-d tensor).
    """
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if grads:
        clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_``."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _params(parameters):
        if p.grad is not None:
            xp = p.grad._device.xp
            xp.clip(p.grad._data, -clip_value, clip_value, out=p.grad._data)
