"""``Gamma(concentration, rate)``. Draws come from NumPy's gamma sampler on the host; ``rsample``
(PyTorch's implicit reparameterisation gradient) is not implemented."""

from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, host_draw


def _gamma_draw(rng, alpha, rate, dtype):
    tiny = np.finfo(dtype).tiny  # a draw that underflows stays inside the support, as PyTorch's
    return np.maximum(rng.standard_gamma(alpha) / rate, tiny)


class Gamma(Distribution):
    """The gamma distribution with shape ``concentration`` and inverse scale ``rate``."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        scalars = isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number)
        super().__init__(Size() if scalars else self.concentration.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Gamma, batch_shape, _instance, concentration=0, rate=0)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def sample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        dtype = self.rate._data.dtype
        return host_draw(self.rate, lambda rng, a, r: _gamma_draw(rng, a, r, dtype),
                         self.concentration.expand(shape), self.rate.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return c.xlogy(self.rate) + (c - 1).xlogy(value) - self.rate * value - c.lgamma()

    def entropy(self):
        c = self.concentration
        return c - self.rate.log() + c.lgamma() + (1.0 - c) * c.digamma()
