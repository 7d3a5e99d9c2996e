"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

from ..backend import is_array
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """``torch.optim.Adagrad`` (Duchi et al.).

    Args:
        params: parameters or param groups.
        lr: learning rate.
        lr_decay: the step size is ``lr / (1 + (step - 1) * lr_decay)``.
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: starting value of the sum of squared gradients.
        eps: added to the denominator for numerical stability.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "lr_decay", "eps", "weight_decay", "initial_accumulator_value",
                  "foreach", "maximize", "differentiable", "fused")

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *,
                 maximize: bool = False, **hints):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if lr_decay < 0.0:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if initial_accumulator_value < 0.0:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize), **hints)
        for group in self.param_groups:  # PyTorch's Adagrad starts every parameter's state here
            for p in group["params"]:
                init = self.init_single(p._device.xp, p._data, group)
                self.state[p] = {k: self._tensor(v) if is_array(v) else v for k, v in init.items()}

    def init_single(self, xp, p, group):
        return {"step": 0, "sum": xp.full_like(p, group["initial_accumulator_value"])}

    def apply_single(self, xp, p, g, state, group):
        lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
        step = state["step"] = state["step"] + 1
        d = self.grad_with_decay(xp, p, g, group)
        self.elementwise(xp, _update, (p, d, state["sum"], self.scratch(p, 1)), xp, eps,
                         lr / (1 + (step - 1) * lr_decay))


def _update(p, d, total, tmp, xp, eps, step_size):
    total += xp.multiply(d, d, out=tmp)
    std = xp.sqrt(total, out=tmp)
    std += eps
    p -= xp.multiply(xp.divide(d, std, out=tmp), step_size, out=tmp)
