"""NAdam: Adam with Nesterov momentum (Dozat), with PyTorch's momentum decay schedule."""

from __future__ import annotations

from ..backend import zeros_like_aligned
from .adam import _check_adam_args
from .optimizer import Optimizer


class NAdam(Optimizer):
    """``torch.optim.NAdam``.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: weight decay (L2, or decoupled as AdamW with ``decoupled_weight_decay``).
        momentum_decay: how fast the momentum schedule ``mu_t`` approaches ``beta1``.
        decoupled_weight_decay: decay the weights directly (NAdamW) instead of the gradient.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay",
                  "maximize", "foreach", "capturable", "differentiable")

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 *, maximize: bool = False, **hints):
        _check_adam_args(lr, betas, eps, weight_decay)
        if momentum_decay < 0.0:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        return {"step": 0, "mu_product": 1.0, "exp_avg": zeros_like_aligned(xp, p), "exp_avg_sq": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        decay = float(group["momentum_decay"])
        step = state["step"] = state["step"] + 1
        decoupled = group["decoupled_weight_decay"]
        d = self.grad_with_decay(xp, p, g, group, weight_decay=0.0 if decoupled else None)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        mu_product = state["mu_product"] = float(state["mu_product"]) * mu
        arrays = (p, d, state["exp_avg"], state["exp_avg_sq"], self.scratch(p, 1), self.scratch(p, 2))
        self.elementwise(xp, _update, arrays, xp, lr * wd if decoupled else 0.0, beta1, beta2, eps,
                         1 - beta2**step, lr * (1.0 - mu) / (1.0 - mu_product),
                         lr * mu_next / (1.0 - mu_product * mu_next))


def _update(p, d, m, v, denom, tmp, xp, decay, beta1, beta2, eps, bc2, grad_step, avg_step):
    if decay:  # decoupled weight decay
        p *= 1 - decay
    m += xp.multiply(xp.subtract(d, m, out=tmp), 1 - beta1, out=tmp)
    v *= beta2
    v += xp.multiply(xp.multiply(d, d, out=tmp), 1 - beta2, out=tmp)
    xp.sqrt(xp.divide(v, bc2, out=denom), out=denom)
    denom += eps
    p -= xp.multiply(xp.divide(d, denom, out=tmp), grad_step, out=tmp)
    p -= xp.multiply(xp.divide(m, denom, out=tmp), avg_step, out=tmp)
