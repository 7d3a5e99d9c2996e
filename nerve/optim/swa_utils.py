"""Stochastic weight averaging and EMA of weights, as ``torch.optim.swa_utils``.

``AveragedModel`` keeps a running average (or an exponential moving average) of a model's
weights; ``SWALR`` anneals the lr to a constant for the averaging phase; ``update_bn`` recomputes
BatchNorm statistics for the averaged weights with one pass over the data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any

from .. import autograd
from ..creation import tensor
from ..dtypes import int64
from ..nn import Module
from ..nn.modules.batchnorm import _BatchNorm
from .lr_scheduler import LRScheduler, _per_group
from .optimizer import Optimizer

__all__ = ["AveragedModel", "SWALR", "update_bn", "get_ema_avg_fn", "get_swa_avg_fn",
           "get_ema_multi_avg_fn", "get_swa_multi_avg_fn"]


def _check_decay(decay: float) -> None:
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """``avg_fn`` for an exponential moving average: ``decay * ema + (1 - decay) * current``."""
    _check_decay(decay)

    def ema_update(ema, current, num_averaged):
        return decay * ema + (1 - decay) * current
    return ema_update


def get_swa_avg_fn() -> Callable:
    """``avg_fn`` for the plain running mean of all the weights seen."""
    def swa_update(averaged, current, num_averaged):
        return averaged + (current - averaged) / (int(num_averaged) + 1)
    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """``multi_avg_fn`` for an EMA, updating all averaged tensors in place."""
    _check_decay(decay)

    def ema_update(ema_list, current_list, num_averaged) -> None:
        for e, c in zip(ema_list, current_list):
            if e._data.dtype.kind == "f":
                e._data += (c._data - e._data) * (1 - decay)  # ema.lerp_(current, 1 - decay)
            else:
                e._data[...] = e._data * decay + c._data * (1 - decay)
    return ema_update


def get_swa_multi_avg_fn() -> Callable:
    """``multi_avg_fn`` for the running mean, updating all averaged tensors in place."""
    def swa_update(averaged_list, current_list, num_averaged) -> None:
        n = int(num_averaged)
        for a, c in zip(averaged_list, current_list):
            if a._data.dtype.kind == "f":
                a._data += (c._data - a._data) / (n + 1)
            else:  # integer buffers (num_batches_tracked): average in floats, truncate as copy_ does
                a._data[...] = a._data + (c._data - a._data) / (n + 1)
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose weights are the average of the weights it is given.

    Args:
        model: the model to average (deep-copied).
        device: where to keep the averaged copy.
        avg_fn: ``avg_fn(averaged, current, num_averaged) -> new averaged`` per tensor.
        multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, num_averaged)`` updating in place.
        use_buffers: average the buffers too (else they are copied from the model).
    """

    def __init__(self, model: Module, device=None, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average."""
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine, theirs = list(self.module.parameters()), list(model.parameters())
        mine = [p.detach() for p in mine]
        theirs = [p.detach().to(a.device) for p, a in zip(theirs, mine)]
        n = int(self.n_averaged)
        with autograd.no_grad():
            if n == 0:
                for a, p in zip(mine, theirs):
                    a._data[...] = p._data
            elif self.multi_avg_fn is not None:
                self.multi_avg_fn(mine, theirs, self.n_averaged)
            elif self.avg_fn is None:
                get_swa_multi_avg_fn()(mine, theirs, n)
            else:
                for a, p in zip(mine, theirs):
                    a._data[...] = self.avg_fn(a, p, self.n_averaged)._data
            if not self.use_buffers:
                for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                    b_avg._data[...] = b_model.detach().to(b_avg.device)._data
        self.n_averaged._data[...] = n + 1


def update_bn(loader: Iterable[Any], model: Module, device=None) -> None:
    """Recompute the BatchNorm running statistics of ``model`` with one pass over ``loader``.

    Args:
        loader: batches (tensors, or tuples whose first item is the input).
        model: the model (an ``AveragedModel`` after SWA, typically).
        device: move each batch there first.
    """
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None  # a cumulative average over the whole pass
    with autograd.no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` epochs, then hold it.

    Args:
        optimizer: the optimizer.
        swa_lr: the target lr, one for all groups or one per group.
        anneal_epochs: epochs of the annealing (0: jump at once).
        anneal_strategy: ``'cos'`` or ``'linear'``.
        last_epoch: index of the last epoch.
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | list[float], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1):
        for lr, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self._anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2 if self._anneal_strategy == "cos" else t

    @staticmethod
    def _initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        groups = self.optimizer.param_groups
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]
