"""``nerve.distributions``: probability distributions with sampling, log-densities and KL
divergences, as ``torch.distributions``.

Draws come from nerve's global generator (``nerve.manual_seed`` makes them reproducible) on the
parameters' device. ``rsample`` is reparameterised (gradients reach the parameters) for
``Normal``, ``Uniform``, ``Laplace``, ``Exponential`` and ``MultivariateNormal``; ``Gamma``,
``Beta``, ``Dirichlet``, ``Poisson`` and ``Binomial`` draw with NumPy's samplers on the host and
have ``sample`` only.
"""

from . import constraints
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .poisson import Poisson
from .uniform import Uniform

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Dirichlet", "Distribution", "Exponential", "Gamma",
    "Independent", "Laplace", "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson", "Uniform",
    "constraints", "kl_divergence", "register_kl",
]
