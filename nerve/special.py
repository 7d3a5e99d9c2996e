"""``nerve.special``: the special functions under SciPy's names, as ``torch.special``.

Each is one of nerve's differentiable tensor ops, or a short composition of them.
"""

from __future__ import annotations

import math

from .autograd import Function
from .ops import _errstate
from .tensor import Tensor


def _t(x) -> Tensor:
    if isinstance(x, Tensor):
        return x
    from .creation import tensor

    return tensor(x)


def expit(input) -> Tensor:
    """The logistic sigmoid, 1 / (1 + exp(-x))."""
    return _t(input).sigmoid()


def logit(input, eps=None) -> Tensor:
    """log(p / (1 - p)); with ``eps``, p is clamped to [eps, 1 - eps] first."""
    return _t(input).logit(eps)


def erf(input) -> Tensor:
    return _t(input).erf()


def erfc(input) -> Tensor:
    return _t(input).erfc()


def erfinv(input) -> Tensor:
    return _t(input).erfinv()


def gammaln(input) -> Tensor:
    """log |Gamma(x)|."""
    return _t(input).lgamma()


def digamma(input) -> Tensor:
    return _t(input).digamma()


psi = digamma


def polygamma(n: int, input) -> Tensor:
    return _t(input).polygamma(n)


def multigammaln(input, p: int) -> Tensor:
    return _t(input).mvlgamma(p)


def xlogy(input, other) -> Tensor:
    """x * log(y), 0 where x is 0."""
    return _t(input).xlogy(other)


def xlog1py(input, other) -> Tensor:
    """x * log1p(y), 0 where x is 0 (unless y is NaN); the gradient of x is log1p(y) there too."""
    from .functions import where

    a, b = _t(input)._binary_float(other)
    safe = (a == 0) & ((b <= -1) | b.isinf())
    return a * where(safe, 0.0, b).log1p()


class _Entr(Function):
    def forward(self, xp, x):
        self.x = x
        with _errstate(xp):
            out = -x * xp.log(xp.where(x > 0, x, 1))
        return xp.where(x < 0, -xp.inf, out).astype(x.dtype, copy=False)

    def backward(self, xp, g):
        with _errstate(xp):
            return g * -(xp.log(self.x) + 1)  # +inf at 0, NaN below, as PyTorch


def entr(input) -> Tensor:
    """-x log x elementwise: 0 at 0, -inf below 0."""
    return _Entr.apply(_t(input)._floating())


def ndtr(input) -> Tensor:
    """The standard normal distribution function, (1 + erf(x / sqrt 2)) / 2, from erfc."""
    return (_t(input) * (-1 / math.sqrt(2.0))).erfc() * 0.5


def log_ndtr(input) -> Tensor:
    """log of ``ndtr``, from erfc so that it keeps its precision far in the lower tail."""
    return ((_t(input) * (-1 / math.sqrt(2.0))).erfc() * 0.5).log()


def ndtri(input) -> Tensor:
    """The inverse of ``ndtr``: sqrt 2 * erfinv(2p - 1)."""
    return (_t(input) * 2 - 1).erfinv() * math.sqrt(2.0)


def log1p(input) -> Tensor:
    return _t(input).log1p()


def expm1(input) -> Tensor:
    return _t(input).expm1()


def exp2(input) -> Tensor:
    return _t(input).exp2()


def sinc(input) -> Tensor:
    return _t(input).sinc()


def round(input, decimals: int = 0) -> Tensor:  # noqa: A001  (PyTorch's name)
    return _t(input).round(decimals=decimals)


def softmax(input, dim: int, dtype=None) -> Tensor:
    return _t(input).softmax(dim, dtype=dtype)


def log_softmax(input, dim: int, dtype=None) -> Tensor:
    return _t(input).log_softmax(dim, dtype=dtype)


def logsumexp(input, dim, keepdim: bool = False) -> Tensor:
    return _t(input).logsumexp(dim, keepdim)
