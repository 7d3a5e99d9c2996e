"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from ..backend import zeros_like_aligned
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """``torch.optim.Adadelta`` (Zeiler).

    Args:
        params: parameters or param groups.
        lr: scales the update (1.0 in the paper).
        rho: decay rate of the running averages.
        eps: added inside the square roots for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "rho", "eps", "weight_decay", "maximize", "capturable", "foreach", "differentiable")

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False, **hints):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        return {"step": 0, "square_avg": zeros_like_aligned(xp, p), "acc_delta": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        state["step"] += 1
        d = self.grad_with_decay(xp, p, g, group)
        arrays = (p, d, state["square_avg"], state["acc_delta"], self.scratch(p, 1), self.scratch(p, 2))
        self.elementwise(xp, _update, arrays, xp, lr, rho, eps)


def _update(p, d, sq, acc, delta, tmp, xp, lr, rho, eps):
    sq *= rho
    sq += xp.multiply(xp.multiply(d, d, out=tmp), 1 - rho, out=tmp)
    std = xp.sqrt(xp.add(sq, eps, out=tmp), out=tmp)
    xp.sqrt(xp.add(acc, eps, out=delta), out=delta)
    delta /= std
    delta *= d
    acc *= rho
    acc += xp.multiply(xp.multiply(delta, delta, out=tmp), 1 - rho, out=tmp)
    p -= xp.multiply(delta, lr, out=tmp)
