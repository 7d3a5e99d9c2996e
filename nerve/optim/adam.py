"""Adam and AdamW: moment estimates of the gradient and its square, with bias correction."""

from __future__ import annotations

import numpy as np

from .. import _blas
from ..backend import zeros_like_aligned
from .optimizer import Optimizer


def _check_adam_args(lr: float, betas, eps: float, weight_decay: float) -> None:
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """``torch.optim.Adam`` (Kingma & Ba), with the AMSGrad variant and L2 weight decay.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient (AdamW decouples it instead).
        amsgrad: use the running maximum of the second moment (AMSGrad).
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: decay the weights as AdamW does instead of adding to the gradient.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize",
                  "foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay")

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False, **hints):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=bool(decoupled_weight_decay) or self.decoupled), **hints)

    def init_single(self, xp, p, group):
        state = {"step": 0, "exp_avg": zeros_like_aligned(xp, p), "exp_avg_sq": zeros_like_aligned(xp, p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like_aligned(xp, p)
        return state

    def apply_single(self, xp, p, g, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        step = state["step"] = state["step"] + 1
        decoupled = group.get("decoupled_weight_decay", self.decoupled)
        d = self.grad_with_decay(xp, p, g, group, weight_decay=0.0 if decoupled else None)
        arrays = (p, d, state["exp_avg"], state["exp_avg_sq"], self.scratch(p, 1),
                  state["max_exp_avg_sq"] if group["amsgrad"] else None)
        decay = lr * wd if decoupled else 0.0
        # BLAS for a big float parameter (zero factors keep NumPy's code: BLAS would skip 0 * x)
        big = p.size >= _blas.MIN_SIZE and lr and beta1 and beta2 and decay != 1
        k = _blas.kernels(*(a for a in arrays if a is not None)) if big else None
        self.elementwise(xp, _update if k is None else _blas_steps, arrays, xp if k is None else k, decay,
                         beta1, beta2, eps, lr / (1 - beta1**step), (1 - beta2**step) ** 0.5)


def _update(p, d, m, v, tmp, vmax, xp, decay, beta1, beta2, eps, step_size, root_bc2):
    if decay:  # AdamW's decoupled weight decay
        p *= 1 - decay
    diff = xp.subtract(d, m, out=tmp)  # m.lerp_(d, 1 - beta1), as PyTorch rounds it
    if 1 - beta1 < 0.5:
        m += xp.multiply(diff, 1 - beta1, out=tmp)
    else:
        xp.subtract(d, xp.multiply(diff, beta1, out=tmp), out=m)
    v *= beta2
    v += xp.multiply(xp.multiply(d, d, out=tmp), 1 - beta2, out=tmp)
    p -= xp.multiply(xp.divide(m, _denominator(xp, v, vmax, tmp, eps, root_bc2), out=tmp), step_size, out=tmp)


def _denominator(xp, v, vmax, tmp, eps, root_bc2):
    """``sqrt(v) / sqrt(1 - beta2**step) + eps`` into ``tmp``, ``v`` first raised to its running
    maximum with amsgrad (kept in ``vmax``)."""
    if vmax is not None:
        v = xp.maximum(vmax, v, out=vmax)
    denom = xp.sqrt(v, out=tmp)
    denom /= root_bc2
    denom += eps
    return denom


def _blas_steps(p, d, m, v, tmp, vmax, k, decay, beta1, beta2, eps, step_size, root_bc2):
    """``_update`` with BLAS calls ``k`` where they merge passes (23 reads and writes of the arrays an
    element, not 31 or 33): the same formulas as PyTorch's, roundings can differ in the last bit."""
    if 1 - beta1 < 0.5:  # m.lerp_(d, 1 - beta1)
        k.axpy(1 - beta1, np.subtract(d, m, out=tmp), m)
    else:
        k.axpby(1.0, d, -beta1, np.subtract(d, m, out=m))
    k.axpby(1 - beta2, np.multiply(d, d, out=tmp), beta2, v)  # v = beta2 * v + (1 - beta2) * d * d
    ratio = np.divide(m, _denominator(np, v, vmax, tmp, eps, root_bc2), out=tmp)
    if decay:  # AdamW: p = (1 - lr * wd) * p - step_size * m / denom
        k.axpby(-step_size, ratio, 1 - decay, p)
    else:
        k.axpy(-step_size, ratio, p)



class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay, ``p *= 1 - lr * weight_decay``.

    Args: as :class:`Adam`, with ``weight_decay`` 1e-2 by default.
    """

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, **hints):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, **hints)
