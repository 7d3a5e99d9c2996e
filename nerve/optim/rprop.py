"""Rprop: per-weight step sizes that grow while the gradient's sign holds and shrink when it flips."""

from __future__ import annotations

from ..backend import full_aligned, zeros_like_aligned
from .optimizer import Optimizer


class Rprop(Optimizer):
    """``torch.optim.Rprop`` (resilient backpropagation; full-batch training).

    Args:
        params: parameters or param groups.
        lr: the initial step size.
        etas: (shrink, grow) factors of the step size.
        step_sizes: (smallest, largest) step size.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "etas", "step_sizes", "foreach", "maximize", "differentiable", "capturable")

    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, maximize: bool = False, **hints):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        return {"step": 0, "prev": zeros_like_aligned(xp, p), "step_size": full_aligned(xp, p.shape, float(group["lr"]), p.dtype)}

    def apply_single(self, xp, p, g, state, group):
        shrink, grow = (float(e) for e in group["etas"])
        smallest, largest = (float(s) for s in group["step_sizes"])
        state["step"] += 1
        d = self.grad_with_decay(xp, p, g, group, weight_decay=0.0)
        prev, size, factor = state["prev"], state["step_size"], self.scratch(p, 1)
        xp.sign(xp.multiply(d, prev, out=factor), out=factor)
        flipped = factor < 0
        xp.copyto(factor, grow, where=factor > 0)
        xp.copyto(factor, shrink, where=flipped)
        xp.copyto(factor, 1.0, where=factor == 0)
        size *= factor
        xp.clip(size, smallest, largest, out=size)
        xp.copyto(prev, d)  # a gradient whose sign flipped is skipped this step, and forgotten
        xp.copyto(prev, 0.0, where=flipped)
        p -= xp.multiply(xp.sign(prev, out=factor), size, out=factor)
