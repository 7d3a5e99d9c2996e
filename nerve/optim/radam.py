"""RAdam: Adam with the variance of the adaptive learning rate rectified (Liu et al.)."""

from __future__ import annotations

from ..backend import zeros_like_aligned
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

    group_keys = ("lr", "betas", "eps", "weight_decay", "maximize",
                  "foreach", "capturable", "decoupled_weight_decay", "differentiable")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, maximize: bool = False, **hints):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        return {"step": 0, "exp_avg": zeros_like_aligned(xp, p), "exp_avg_sq": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        step = state["step"] = state["step"] + 1
        decoupled = group["decoupled_weight_decay"]
        d = self.grad_with_decay(xp, p, g, group, weight_decay=0.0 if decoupled else None)
        bc1, bc2 = 1 - beta1**step, 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2**step / bc2
        adaptive = None  # the rectified adaptive step, once the variance is tractable
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = lr / bc1 * bc2**0.5 * rect
        self.elementwise(xp, _update, (p, d, state["exp_avg"], state["exp_avg_sq"], self.scratch(p, 1)), xp,
                         lr * wd if decoupled else 0.0, beta1, beta2, eps, adaptive, lr / bc1)


def _update(p, d, m, v, tmp, xp, decay, beta1, beta2, eps, adaptive, plain):
    if decay:  # decoupled weight decay
        p *= 1 - decay
    m += xp.multiply(xp.subtract(d, m, out=tmp), 1 - beta1, out=tmp)
    v *= beta2
    v += xp.multiply(xp.multiply(d, d, out=tmp), 1 - beta2, out=tmp)
    if adaptive is not None:
        denom = xp.sqrt(v, out=tmp)
        denom += eps
        p -= xp.multiply(xp.divide(m, denom, out=tmp), adaptive, out=tmp)
    else:
        p -= xp.multiply(m, plain, out=tmp)
