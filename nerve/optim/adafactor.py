"""Adafactor (Shazeer & Stern): Adam-like steps with a factored second moment (row and column
statistics for matrices), so the state costs O(m + n) instead of O(m n)."""

from __future__ import annotations

import numpy as np

from ..backend import zeros_like_aligned
from .optimizer import Optimizer


def _lerp_(xp, a, b, w, tmp) -> None:
    """``a.lerp_(b, w)`` rounded as PyTorch does (``tmp`` is a work array shaped as ``a``)."""
    diff = xp.subtract(b, a, out=tmp)
    if w < 0.5:
        a += xp.multiply(diff, w, out=tmp)
    else:
        xp.subtract(b, xp.multiply(diff, 1 - w, out=tmp), out=a)


class Adafactor(Optimizer):
    """``torch.optim.Adafactor``.

    Args:
        params: parameters or param groups.
        lr: the largest relative step size.
        beta2_decay: the second-moment decay is ``1 - step ** beta2_decay``.
        eps: (eps1, eps2): floor of the second moment (the dtype's eps when None) and of the
            parameter scale.
        d: clipping threshold of the update's RMS.
        weight_decay: decoupled weight decay.
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "beta2_decay", "eps", "d", "weight_decay", "foreach", "maximize")

    state_like_params = False  # row and column statistics

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8, eps: tuple = (None, 1e-3),
                 d: float = 1.0, weight_decay: float = 0.0, *, maximize: bool = False, **hints):
        if lr < 0.0:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if beta2_decay > 0.0:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and eps[0] < 0.0:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if eps[1] < 0.0:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if d < 1.0:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if weight_decay < 0.0:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d,
                                      weight_decay=weight_decay, maximize=maximize), **hints)

    def init_single(self, xp, p, group):
        if p.ndim > 1:
            return {"step": 0, "row_var": xp.zeros(p.shape[:-1] + (1,), p.dtype),
                    "col_var": xp.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype)}
        return {"step": 0, "variance": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        lr, wd, clip = float(group["lr"]), float(group["weight_decay"]), float(group["d"])
        eps1, eps2 = group["eps"]
        eps1 = float(np.finfo(p.dtype).eps) if eps1 is None else float(eps1)
        step = state["step"] = state["step"] + 1
        w = float(step) ** float(group["beta2_decay"])  # 1 - beta2 at this step
        rho = min(lr, 1 / step**0.5)
        alpha = max(float(eps2), float(xp.linalg.norm(p.reshape(-1))) / p.size**0.5) * rho
        if wd:
            p *= 1 - lr * wd
        g = self.grad_with_decay(xp, p, g, group, weight_decay=0.0)
        est = self.scratch(p, 1)
        if p.ndim > 1:  # factored: mean squares of rows and columns, outer product as the estimate
            row, col = state["row_var"], state["col_var"]
            sq = xp.square(g, out=est)
            _lerp_(xp, row, sq.mean(axis=-1, keepdims=True), w, xp.empty_like(row))
            _lerp_(xp, col, sq.mean(axis=-2, keepdims=True), w, xp.empty_like(col))
            xp.matmul(row, col, out=est)
            est /= xp.maximum(row.mean(axis=-2, keepdims=True), eps1)
        else:
            var = state["variance"]
            _lerp_(xp, var, xp.square(g, out=est), w, self.scratch(p, 2))
            xp.copyto(est, var)
        update = xp.maximum(est, eps1 * eps1, out=est)
        xp.sqrt(update, out=update)
        xp.divide(g, update, out=update)
        denom = max(1.0, float(xp.linalg.norm(update.reshape(-1))) / (update.size**0.5 * clip))
        p -= xp.multiply(update, alpha / denom, out=update)
