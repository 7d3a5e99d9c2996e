"""``Dirichlet(concentration)``: points on the simplex. Draws normalise NumPy gamma draws on the
host; ``rsample`` is not implemented."""

from __future__ import annotations

import numpy as np

from ..creation import arange
from ..functions import where
from ..tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import host_draw


def _dirichlet_draw(rng, alpha, dtype):
    g = np.maximum(rng.standard_gamma(alpha), np.finfo(np.float64).tiny)
    return np.maximum(g / g.sum(-1, keepdims=True), np.finfo(dtype).tiny)


class Dirichlet(Distribution):
    """The Dirichlet distribution over the last dim of ``concentration`` (the event)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Dirichlet, batch_shape, _instance, concentration=1)

    def sample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        dtype = self.concentration._data.dtype
        return host_draw(self.concentration, lambda rng, a: _dirichlet_draw(rng, a, dtype),
                         self.concentration.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return (c - 1.0).xlogy(value).sum(-1) + c.sum(-1).lgamma() - c.lgamma().sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self):
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, True)
        k = cm1.shape[-1]
        # all concentrations below 1: the density peaks at a vertex
        vertex = (mode.argmax(-1).unsqueeze(-1) == arange(k, device=mode.device)).to(mode.dtype)
        return where((self.concentration < 1).all(-1, keepdim=True), vertex, mode)

    @property
    def variance(self):
        c0 = self.concentration.sum(-1, True)
        return self.concentration * (c0 - self.concentration) / (c0.pow(2) * (c0 + 1))

    def entropy(self):
        c = self.concentration
        k, a0 = c.size(-1), c.sum(-1)
        return c.lgamma().sum(-1) - a0.lgamma() - (k - a0) * a0.digamma() - ((c - 1.0) * c.digamma()).sum(-1)
