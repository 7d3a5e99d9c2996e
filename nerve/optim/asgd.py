"""Averaged SGD (Polyak and Juditsky): SGD whose iterates are also averaged, in ``state['ax']``."""

from __future__ import annotations

from ..backend import zeros_like_aligned
from .optimizer import Optimizer


class ASGD(Optimizer):
    """``torch.optim.ASGD``; the averaged weights are ``optimizer.state[p]['ax']``.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        lambd: decay term of the step size.
        alpha: power of the step-size decay.
        t0: the step at which averaging starts.
        weight_decay: L2 penalty added to the gradient.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "lambd", "alpha", "t0", "weight_decay", "foreach", "maximize", "differentiable", "capturable")

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, *, maximize: bool = False, **hints):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        return {"step": 0, "eta": float(group["lr"]), "mu": 1.0, "ax": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        lr, lambd, alpha, t0 = float(group["lr"]), float(group["lambd"]), float(group["alpha"]), float(group["t0"])
        step = state["step"] = state["step"] + 1
        eta, mu = float(state["eta"]), float(state["mu"])
        d = self.grad_with_decay(xp, p, g, group)
        tmp, ax = self.scratch(p, 1), state["ax"]
        p *= 1 - lambd * eta
        p -= xp.multiply(d, eta, out=tmp)
        if mu != 1:
            ax += xp.multiply(xp.subtract(p, ax, out=tmp), mu, out=tmp)
        else:
            xp.copyto(ax, p)
        state["eta"] = lr / (1 + lambd * lr * step) ** alpha
        state["mu"] = 1 / max(1, step - t0)
