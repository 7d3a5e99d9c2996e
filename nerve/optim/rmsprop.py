"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

import numpy as np

from .. import _blas
from ..backend import zeros_like_aligned
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """``torch.optim.RMSprop`` (Hinton), optionally centered and with momentum.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        alpha: smoothing constant of the squared-gradient average.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor.
        centered: normalize by an estimate of the gradient's variance instead of its second moment.
        maximize: maximize the objective instead of minimizing it.
        eps_in_sqrt: nerve's: divide by ``sqrt(v + eps)`` as Keras's RMSprop does, not by
            ``sqrt(v) + eps`` (PyTorch's); the two differ where ``v`` is near ``eps``.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "momentum", "alpha", "eps", "centered", "weight_decay",
                  "capturable", "foreach", "maximize", "differentiable")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False, eps_in_sqrt: bool = False, **hints):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if alpha < 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      # only when asked: a group's keys stay PyTorch's
                                      **({"eps_in_sqrt": True} if eps_in_sqrt else {})), **hints)

    def init_single(self, xp, p, group):
        state = {"step": 0, "square_avg": zeros_like_aligned(xp, p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like_aligned(xp, p)
        if group["centered"]:
            state["grad_avg"] = zeros_like_aligned(xp, p)
        return state

    def apply_single(self, xp, p, g, state, group):
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        momentum = float(group["momentum"])
        state["step"] += 1
        d = self.grad_with_decay(xp, p, g, group)
        arrays = (p, d, state["square_avg"], self.scratch(p, 1),
                  state["grad_avg"] if group["centered"] else None,
                  state["momentum_buffer"] if momentum > 0 else None)
        # BLAS for a big float parameter (zero factors keep NumPy's code: BLAS would skip 0 * x)
        big = p.size >= _blas.MIN_SIZE and lr and 0 < alpha < 1
        k = _blas.kernels(*(a for a in arrays if a is not None)) if big else None
        self.elementwise(xp, _update if k is None else _blas_steps, arrays, xp if k is None else k, lr, alpha,
                         eps, momentum, bool(group.get("eps_in_sqrt")))


def _update(p, d, sq, avg, mean, buf, xp, lr, alpha, eps, momentum, in_sqrt=False):
    sq *= alpha
    sq += xp.multiply(xp.multiply(d, d, out=avg), 1 - alpha, out=avg)
    if mean is not None:  # centered
        mean += xp.multiply(xp.subtract(d, mean, out=avg), 1 - alpha, out=avg)
    _denominator(xp, sq, mean, avg, eps, in_sqrt)
    if buf is not None:
        buf *= momentum
        buf += xp.divide(d, avg, out=avg)
        p -= xp.multiply(buf, lr, out=avg)
    else:
        p -= xp.multiply(xp.divide(d, avg, out=avg), lr, out=avg)


def _denominator(xp, sq, mean, avg, eps, in_sqrt):
    """``sqrt(sq - mean**2) + eps`` (``mean`` None: not centered; ``in_sqrt``: eps inside the root,
    Keras's formula) into ``avg``."""
    if mean is not None:
        xp.subtract(sq, xp.multiply(mean, mean, out=avg), out=avg)
        if in_sqrt:
            avg += eps
        xp.sqrt(avg, out=avg)
    else:
        xp.sqrt(xp.add(sq, eps, out=avg) if in_sqrt else sq, out=avg)
    if not in_sqrt:
        avg += eps
    return avg


def _blas_steps(p, d, sq, avg, mean, buf, k, lr, alpha, eps, momentum, in_sqrt=False):
    """``_update`` with BLAS calls ``k`` where they merge passes (15 reads and writes of the arrays an
    element, not 21, without options): the same formulas, roundings can differ in the last bit."""
    k.axpby(1 - alpha, np.multiply(d, d, out=avg), alpha, sq)  # sq = alpha * sq + (1 - alpha) * d * d
    if mean is not None:  # centered
        k.axpy(1 - alpha, np.subtract(d, mean, out=avg), mean)
    ratio = np.divide(d, _denominator(np, sq, mean, avg, eps, in_sqrt), out=avg)
    if buf is not None:
        k.axpby(1.0, ratio, momentum, buf)  # buf = momentum * buf + d / avg
        k.axpy(-lr, buf, p)
    else:
        k.axpy(-lr, ratio, p)

