"""Keras 3's own update rules that no ``torch.optim`` optimizer takes step for step.

``nerve.keras.optimizers`` drives these as it drives nerve.optim's other optimizers (so their
state saves and loads as theirs does); they are not part of the ``torch.optim`` names. Each
follows Keras's formulas, in Keras's order of operations: Adamax adds epsilon after the running
maximum (PyTorch's before it), Lion, FTRL and LAMB have no PyTorch counterpart.
"""

from __future__ import annotations

from ..backend import zeros_like_aligned
from .optimizer import Optimizer


class KerasAdamax(Optimizer):
    """Keras's Adamax: ``u = max(beta_2 * u, |g|)``, ``w -= lr * m / ((1 - beta_1**t) * (u + eps))``.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        betas: decay rates of the first moment and of the infinity norm.
        eps: added to the norm for numerical stability.
    """

    group_keys = ("lr", "betas", "eps")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-7):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps))

    def init_single(self, xp, p, group):
        return {"step": 0, "momentum": zeros_like_aligned(xp, p), "norm": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        beta1, beta2 = (float(b) for b in group["betas"])
        step = state["step"] = state["step"] + 1
        self.elementwise(xp, _adamax, (p, g, state["momentum"], state["norm"], self.scratch(p, 1)), xp,
                         beta1, beta2, float(group["eps"]), float(group["lr"]) / (1 - beta1**step))


def _adamax(p, g, m, u, tmp, xp, beta1, beta2, eps, step_size):
    m *= beta1
    m += xp.multiply(g, 1 - beta1, out=tmp)
    u *= beta2
    xp.maximum(u, xp.abs(g, out=tmp), out=u)
    p -= xp.multiply(xp.divide(m, xp.add(u, eps, out=tmp), out=tmp), step_size, out=tmp)


class KerasLion(Optimizer):
    """Lion (Chen et al. 2023): ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then
    ``m = beta_2 * m + (1 - beta_2) * g``.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        betas: the interpolation for the update's sign, and the momentum's decay.
    """

    group_keys = ("lr", "betas")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.99)):
        super().__init__(params, dict(lr=lr, betas=tuple(betas)))

    def init_single(self, xp, p, group):
        return {"momentum": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        beta1, beta2 = (float(b) for b in group["betas"])
        self.elementwise(xp, _lion, (p, g, state["momentum"], self.scratch(p, 1), self.scratch(p, 2)), xp,
                         beta1, beta2, float(group["lr"]))


def _lion(p, g, m, c, tmp, xp, beta1, beta2, lr):
    xp.multiply(m, beta1, out=c)
    c += xp.multiply(g, 1 - beta1, out=tmp)
    p -= xp.multiply(xp.sign(c, out=c), lr, out=c)
    m *= beta2
    m += xp.multiply(g, 1 - beta2, out=tmp)


class KerasFtrl(Optimizer):
    """FTRL-Proximal (McMahan et al. 2013) as Keras writes it, with its L1, L2 and L2-shrinkage
    terms and its ``beta``.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        lr_power: how the per-weight rate falls with the summed squared gradients (<= 0).
        initial_accumulator_value: the summed squared gradients' starting value.
        l1, l2: the L1 and L2 regularization strengths.
        l2_shrinkage: the L2 shrinkage applied to the gradient (``g + 2 * l2_shrinkage * w``).
        beta: added to the L2 term as ``beta / (2 * lr)``.
    """

    group_keys = ("lr", "lr_power", "initial_accumulator_value", "l1", "l2", "l2_shrinkage", "beta")

    def __init__(self, params, lr: float = 1e-3, lr_power: float = -0.5, initial_accumulator_value: float = 0.1,
                 l1: float = 0.0, l2: float = 0.0, l2_shrinkage: float = 0.0, beta: float = 0.0):
        super().__init__(params, dict(lr=lr, lr_power=lr_power, initial_accumulator_value=initial_accumulator_value,
                                      l1=l1, l2=l2, l2_shrinkage=l2_shrinkage, beta=beta))

    def init_single(self, xp, p, group):
        accumulator = zeros_like_aligned(xp, p)
        accumulator += float(group["initial_accumulator_value"])
        return {"accumulator": accumulator, "linear": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        lr, power = float(group["lr"]), -float(group["lr_power"])
        l1, shrinkage = float(group["l1"]), float(group["l2_shrinkage"])
        l2 = float(group["l2"]) + float(group["beta"]) / (2.0 * lr)
        accum, linear = state["accumulator"], state["linear"]
        new_accum = accum + g * g
        grad = g + p * (2 * shrinkage) if shrinkage else g
        linear += grad - (new_accum**power - accum**power) / lr * p
        quadratic = new_accum**power / lr + 2 * l2
        p[...] = (xp.clip(linear, -l1, l1) - linear) / quadratic
        accum[...] = new_accum


class KerasLamb(Optimizer):
    """LAMB (You et al. 2019): Adam's bias-corrected step, scaled per weight by the trust ratio
    ``||w|| / ||step||`` (1 where either norm is 0).

    Args:
        params: parameters or param groups.
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
    """

    group_keys = ("lr", "betas", "eps")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-7):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps))

    def init_single(self, xp, p, group):
        return {"step": 0, "exp_avg": zeros_like_aligned(xp, p), "exp_avg_sq": zeros_like_aligned(xp, p)}

    def apply_single(self, xp, p, g, state, group):
        beta1, beta2 = (float(b) for b in group["betas"])
        step = state["step"] = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (g - m) * (1 - beta1)
        v += (g * g - v) * (1 - beta2)
        update = (m / (1.0 - beta1**step)) / (xp.sqrt(v / (1.0 - beta2**step)) + float(group["eps"]))
        w_norm, u_norm = float(xp.sqrt((p * p).sum())), float(xp.sqrt((update * update).sum()))
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        p -= update * (ratio * float(group["lr"]))
