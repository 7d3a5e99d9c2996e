"""RAdam: Adam with the variance of the adaptive learning rate rectified (Liu et al.)."""

from __future__ import annotations

from .adam import _check_adam_args
from .optimizer import Optimizer


class RAdam(Optimizer):
    """``torch.optim.RAdam``: plain momentum SGD for the first steps, then rectified Adam.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: weight decay (L2, or decoupled as AdamW with ``decoupled_weight_decay``).
        decoupled_weight_decay: decay the weights directly instead of the gradient.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *, maximize: bool = False, **hints):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        return {"step": 0, "exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}

    def apply_single(self, xp, p, g, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        step = state["step"] = state["step"] + 1
        if group["decoupled_weight_decay"]:
            if wd:
                p *= 1 - lr * wd
            d = self.grad_with_decay(xp, p, g, group, weight_decay=0.0)
        else:
            d = self.grad_with_decay(xp, p, g, group)
        m, v, tmp = state["exp_avg"], state["exp_avg_sq"], self.scratch(p, 1)
        m += xp.multiply(xp.subtract(d, m, out=tmp), 1 - beta1, out=tmp)
        v *= beta2
        v += xp.multiply(xp.multiply(d, d, out=tmp), 1 - beta2, out=tmp)
        bc1, bc2 = 1 - beta1**step, 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2**step / bc2
        if rho_t > 5.0:  # the variance is tractable: rectified adaptive step
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            denom = xp.sqrt(v, out=tmp)
            denom += eps
            p -= xp.multiply(xp.divide(m, denom, out=tmp), lr / bc1 * bc2**0.5 * rect, out=tmp)
        else:
            p -= xp.multiply(m, lr / bc1, out=tmp)
