"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from .. import _blas, _threads
from ..backend import copy_aligned
from .optimizer import Optimizer


class SGD(Optimizer):
    """``torch.optim.SGD``: ``buf = momentum * buf + (1 - dampening) * g``; ``p -= lr * buf``.

    Args:
        params: parameters or param groups.
        lr: learning rate.
        momentum: momentum factor (0 turns momentum off).
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and no dampening).
        maximize: maximize the objective instead of minimizing it.
        foreach, fused, capturable: PyTorch's implementation hints, accepted and ignored.
    """

    group_keys = ("lr", "momentum", "dampening", "weight_decay", "nesterov",
                  "maximize", "foreach", "differentiable", "fused")

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False, **hints):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize), **hints)

    def apply_single(self, xp, p, g, state, group):
        lr, momentum, dampening = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
        buf = state.get("momentum_buffer") if momentum else None
        wd = float(group.get("weight_decay") or 0)
        n = _blas.SGD_MIN_SIZE
        if p.size < n or (momentum and buf is None) or not lr or dampening == 1 or lr * wd == 1:
            k = None  # (the first momentum step copies the gradient; zero factors: NumPy's NaN rules)
        else:
            k = _blas.kernels(p, g, min_size=n) if buf is None else _blas.kernels(p, g, buf, min_size=n)
        if k is not None:  # a big float parameter: BLAS, 2 or 3 passes instead of 4 to 7
            sign = -1.0 if group.get("maximize") else 1.0
            self.elementwise(xp, _blas_steps, (p, g, buf), k, sign, lr, momentum, dampening, wd,
                             group["nesterov"])
            return
        # (grad_with_decay returns g itself without weight decay or maximize: no call for that)
        d = self.grad_with_decay(xp, p, g, group) if wd or group.get("maximize") else g
        first = momentum and buf is None
        if first:  # the first step starts the buffer at the gradient, undamped
            state["momentum_buffer"] = buf = copy_aligned(d)
        args = (p, d, buf, self.scratch(p, 1), xp, lr, momentum, dampening, group["nesterov"], first)
        if p.size < _threads.ELEMENTWISE_SPLIT:  # what elementwise does for a parameter this small
            _update(*args)
        else:
            self.elementwise(xp, _update, args[:4], *args[4:])


def _update(p, d, buf, tmp, xp, lr, momentum, dampening, nesterov, first):
    if buf is not None:
        if not first:
            buf *= momentum
            buf += d if dampening == 0 else xp.multiply(d, 1 - dampening, out=tmp)
        d = xp.add(d, xp.multiply(buf, momentum, out=tmp), out=tmp) if nesterov else buf
    p -= xp.multiply(d, lr, out=tmp)


def _blas_steps(p, g, buf, k, sign, lr, momentum, dampening, wd, nesterov):
    """``_update``'s step with BLAS calls (``k``) on the raw gradient ``g``, where the gradient
    with decay is ``d = sign * g + wd * p``: its terms are folded into the calls' factors, so ``d``
    is never written out. Same formulas as PyTorch's; roundings can differ in the last bit."""
    if buf is not None:
        k.axpby((1 - dampening) * sign, g, momentum, buf)  # buf = momentum * buf + (1 - dampening) * d
        if wd:
            k.axpy((1 - dampening) * wd, p, buf)
        if not nesterov:
            k.axpy(-lr, buf, p)  # p -= lr * buf
            return
    # p -= lr * d (+ lr * momentum * buf with Nesterov), the decay term taken from p itself
    if wd:
        k.axpby(-lr * sign, g, 1 - lr * wd, p)
    else:
        k.axpy(-lr * sign, g, p)
    if buf is not None:
        k.axpy(-lr * momentum, buf, p)

