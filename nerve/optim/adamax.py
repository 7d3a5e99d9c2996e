"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from ..backend import zeros_like_aligned
from .adam import _check_adam_args
from .optimizer import Optimizer


class Adamax(Optimizer):
    """``torch.optim.Adamax`` (Kingma & Ba, section 7).

    Args:
        params: parameters or param groups.
        lr: learning rate.
        betas: decay rates of the first moment and of the infinity norm.
        eps: added to the norm for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "betas", "eps", "weight_decay", "foreach", "maximize", "differentiable", "capturable")

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, *, maximize: bool = False, **hints):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        return {"step": 0, "exp_avg": zeros_like_aligned(xp, p), "exp_inf": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        lr, eps = float(group["lr"]), float(group["eps"])
        beta1, beta2 = (float(b) for b in group["betas"])
        step = state["step"] = state["step"] + 1
        d = self.grad_with_decay(xp, p, g, group)
        self.elementwise(xp, _update, (p, d, state["exp_avg"], state["exp_inf"], self.scratch(p, 1)), xp,
                         beta1, beta2, eps, lr / (1 - beta1**step))


def _update(p, d, m, u, tmp, xp, beta1, beta2, eps, step_size):
    m += xp.multiply(xp.subtract(d, m, out=tmp), 1 - beta1, out=tmp)
    u *= beta2
    xp.maximum(u, xp.add(xp.abs(d, out=tmp), eps, out=tmp), out=u)
    p -= xp.multiply(xp.divide(m, u, out=tmp), step_size, out=tmp)
