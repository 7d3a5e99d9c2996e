"""``Poisson(rate)``: event counts; ``sample`` uses NumPy's Poisson sampler on the host."""

from __future__ import annotations

import numbers

from ..tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, host_draw


class Poisson(Distribution):
    """Counts with mean ``rate``; draws are floats of the rate's dtype, as PyTorch's."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(Size() if isinstance(rate, numbers.Number) else self.rate.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Poisson, batch_shape, _instance, rate=0)

    @property
    def mean(self):
        return self.rate

    @property
    def mode(self):
        return self.rate.floor()

    @property
    def variance(self):
        return self.rate

    def sample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        return host_draw(self.rate, lambda rng, lam: rng.poisson(lam), self.rate.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return value.xlogy(rate) - rate - (value + 1).lgamma()
