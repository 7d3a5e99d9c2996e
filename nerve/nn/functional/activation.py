"""Activation functions: relu, gelu, softmax, log_softmax, ... (functions first; the layers call them).

softmax and log_softmax are single numerically stable ops (the max is subtracted first);
elementwise activations with a cheap closed-form derivative are one op each too.
"""

from __future__ import annotations

import math
import warnings

from ...autograd import Function
from ...dtypes import to_dtype
from ...tensor import Tensor
from ._special import erf


def _dim(dim, ndim: int) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})"
        )
    return dim % max(ndim, 1)


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _floating(x: Tensor, dtype) -> Tensor:
    if dtype is not None:
        return x.to(dtype=to_dtype(dtype))
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"softmax: expected a floating point tensor, got {x.dtype}")
    return x


# the stable exponentials live in the engine (logsumexp uses them too)
from ...ops import exp_shifted, sum_along  # noqa: E402,F401

# ---------------------------------------------------------------- ops


class Softmax(Function):
    def forward(self, xp, x):
        if x.ndim == 0:
            self.y = xp.ones_like(x)
            return self.y
        _, e, s = exp_shifted(xp, x, self.axis, keep_shifted=False)
        e /= s
        self.y = e
        return e

    def backward(self, xp, g):
        y = self.y
        gy = g * y
        gy -= y * sum_along(xp, gy, self.axis)
        return gy

    def backward_t(self, g):
        if self.y.ndim == 0:
            return g * 0.0
        y = self.output(self.y)
        gy = g * y
        return gy - y * gy.sum(self.axis, keepdim=True)


class LogSoftmax(Function):
    def forward(self, xp, x):
        if x.ndim == 0:
            self.y = xp.zeros_like(x)
            return self.y
        sh, _, s = exp_shifted(xp, x, self.axis)
        sh -= xp.log(s)
        self.y = sh
        return sh

    def backward(self, xp, g):
        return g - xp.exp(self.y) * sum_along(xp, g, self.axis)

    def backward_t(self, g):
        if self.y.ndim == 0:
            return g * 0.0
        return g - self.output(self.y).exp() * g.sum(self.axis, keepdim=True)


class LeakyRelu(Function):
    def forward(self, xp, x):
        self.pos = x > 0
        return xp.where(self.pos, x, x * self.slope)

    def backward(self, xp, g):
        return xp.where(self.pos, g, g * self.slope)

    def backward_t(self, g):
        dt = g._data.dtype
        return g * self.const(self.device.xp.where(self.pos, dt.type(1), dt.type(self.slope)))


class RRelu(Function):
    """Leaky relu whose negative slope is drawn per element, uniformly in [lower, upper] (training)."""

    torch_name = "RreluWithNoiseBackward0"

    def forward(self, xp, x):
        from ... import random as _random

        r = _random._uniform(x.shape, self.lower, self.upper, x.dtype, self.dev, self.generator)
        self.noise = xp.where(x <= 0, r, x.dtype.type(1))
        return x * self.noise

    def backward(self, xp, g):
        return g * self.noise

    def backward_t(self, g):
        return g * self.const(self.noise)


class Elu(Function):
    def forward(self, xp, x):
        self.pos = x > 0
        neg = xp.expm1(xp.minimum(x, 0)) * self.alpha
        self.neg = neg
        y = xp.where(self.pos, x, neg)
        return y * self.scale if self.scale != 1.0 else y

    def backward(self, xp, g):
        gs = g * self.scale if self.scale != 1.0 else g
        return xp.where(self.pos, gs, gs * (self.neg + self.alpha))

    def backward_t(self, g):
        from ...ops import Exp

        dt = g._data.dtype
        pos = self.pos.astype(dt)
        gs = g * self.scale if self.scale != 1.0 else g
        if self.alpha == 0:
            return gs * self.const(pos)
        # the negative side's slope alpha * exp(x) is neg + alpha: exp(min(x, 0)) as exp's node on x
        e = (self.neg + self.alpha) / self.alpha
        slope = self.derived(Exp, e, y=e) * self.alpha
        return gs * (self.const(pos) + self.const(1 - pos) * slope)


class Gelu(Function):
    _C = math.sqrt(2.0 / math.pi)

    def forward(self, xp, x):
        self.x = x
        if self.approximate == "tanh":
            self.t = xp.tanh(self._C * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + erf(xp, x * (1 / math.sqrt(2.0))))
        return x * self.cdf

    def backward(self, xp, g):
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            dinner = self._C * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
        pdf = xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return g * (self.cdf + x * pdf)

    def backward_t(self, g):
        from ...ops import Erf

        x = self.saved(0, self.x)
        if self.approximate == "tanh":
            t = (self._C * (x + 0.044715 * x * x * x)).tanh()
            dinner = self._C * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
        cdf = 0.5 * (1 + Erf.apply(x * (1 / math.sqrt(2.0)), complement=0))
        pdf = (-0.5 * x * x).exp() * (1 / math.sqrt(2 * math.pi))
        return g * (cdf + x * pdf)


class Softplus(Function):
    def forward(self, xp, x):
        z = x * self.beta if self.beta != 1 else x
        self.z = z
        self.linear = z > self.threshold
        y = xp.log1p(xp.exp(xp.minimum(z, self.threshold)))
        if self.beta != 1:
            y = y / self.beta
        return xp.where(self.linear, x, y)

    def backward(self, xp, g):
        s = 0.5 * (xp.tanh(0.5 * self.z) + 1)  # sigmoid(beta * x)
        return xp.where(self.linear, g, g * s)

    def backward_t(self, g):
        from ...ops import Mul

        lin = self.linear.astype(g._data.dtype)
        if self.beta == 1:
            z = self.saved(0, self.z)
        else:  # z = x * beta, kept by forward: as mul's node on x
            z = self.derived(Mul, self.z, parents=[self.parents[0], None], in_meta=[self.in_meta[0], None],
                             a=None, b=self.beta)
        return g * (self.const(lin) + self.const(1 - lin) * z.sigmoid())


class Silu(Function):
    def forward(self, xp, x):
        self.x = x
        self.s = 0.5 * (xp.tanh(0.5 * x) + 1)
        return x * self.s

    def backward(self, xp, g):
        s = self.s
        return g * (s * (1 + self.x * (1 - s)))

    def backward_t(self, g):
        x = self.saved(0, self.x)
        s = x.sigmoid()
        return g * (s * (1 + x * (1 - s)))


class Hardtanh(Function):
    def forward(self, xp, x):
        self.mask = (x > self.lo) & (x < self.hi)
        return xp.clip(x, self.lo, self.hi)

    def backward(self, xp, g):
        return g * self.mask

    def backward_t(self, g):
        return g * self.const(self.mask.astype(g._data.dtype))


class Hardshrink(Function):
    def forward(self, xp, x):
        self.mask = (x > self.lambd) | (x < -self.lambd)
        return xp.where(self.mask, x, x.dtype.type(0))

    def backward(self, xp, g):
        return g * self.mask

    def backward_t(self, g):
        return g * self.const(self.mask.astype(g._data.dtype))


class Threshold(Function):
    def forward(self, xp, x):
        self.mask = x > self.threshold
        return xp.where(self.mask, x, xp.asarray(self.value, dtype=x.dtype))

    def backward(self, xp, g):
        return g * self.mask

    def backward_t(self, g):
        return g * self.const(self.mask.astype(g._data.dtype))


# ---------------------------------------------------------------- functions


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return input.relu_() if inplace else input.relu()


def relu_(input: Tensor) -> Tensor:
    return input.relu_()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, else negative_slope * x."""
    out = LeakyRelu.apply(input, slope=float(negative_slope))
    return input._inplace(out) if inplace else out


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False, generator=None) -> Tensor:
    """Randomized leaky relu, as ``torch.nn.functional.rrelu``.

    Args:
        lower, upper: the range of the negative slope.
        training: draw each element's slope uniformly in [lower, upper] (the gradient there is that
            slope); otherwise the slope is (lower + upper) / 2.

    Returns:
        x where x > 0, else slope * x.
    """
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    out = RRelu.apply(input, lower=float(lower), upper=float(upper), dev=input._device, generator=generator)
    return input._inplace(out) if inplace else out


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, else alpha * (exp(x) - 1)."""
    out = Elu.apply(input, alpha=float(alpha), scale=1.0)
    return input._inplace(out) if inplace else out


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants."""
    out = Elu.apply(input, alpha=1.6732632423543772848170429916717, scale=1.0507009873554804934193349852946)
    return input._inplace(out) if inplace else out


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    out = elu(input / alpha) * alpha
    return input._inplace(out) if inplace else out


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; ``approximate='tanh'`` uses the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return Gelu.apply(input, approximate=approximate)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold."""
    return Softplus.apply(input, beta=beta, threshold=threshold)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    out = Silu.apply(input)
    return input._inplace(out) if inplace else out


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    out = input * softplus(input).tanh()
    return input._inplace(out) if inplace else out


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    out = Hardtanh.apply(input, lo=min_val, hi=max_val)
    return input._inplace(out) if inplace else out


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    out = Threshold.apply(input, threshold=threshold, value=value)
    return input._inplace(out) if inplace else out


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), computed stably as -softplus(-x)."""
    return -softplus(-input)


def softsign(input: Tensor) -> Tensor:
    return input / (1 + input.abs())


def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    out = hardtanh(input / 6 + 0.5, 0.0, 1.0)
    return input._inplace(out) if inplace else out


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    out = input * hardsigmoid(input)
    return input._inplace(out) if inplace else out


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed stably.

    Args:
        input: the tensor.
        dim: the dimension that sums to 1. Omitting it is deprecated, as in PyTorch: it warns
            and picks 0 for 0-, 1- and 3-D inputs, else 1.
        dtype: cast the input to this dtype first.
    """
    x = _floating(input, dtype)
    if dim is None:
        dim = _get_softmax_dim("softmax", x.ndim, _stacklevel)
    return Softmax.apply(x, axis=_dim(dim, x.ndim))


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    x = _floating(input, dtype)
    if dim is None:
        dim = _get_softmax_dim("softmin", x.ndim, _stacklevel)
    return Softmax.apply(-x, axis=_dim(dim, x.ndim))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log(softmax(x)) along ``dim`` as one stable op: (x - max) - log(sum(exp(x - max)))."""
    x = _floating(input, dtype)
    if dim is None:
        dim = _get_softmax_dim("log_softmax", x.ndim, _stacklevel)
    return LogSoftmax.apply(x, axis=_dim(dim, x.ndim))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, else weight * x; ``weight`` has one value or one per channel (dim 1)."""
    w = weight
    if weight.numel() > 1:
        if input.ndim < 2 or input.shape[1] != weight.numel():
            raise RuntimeError(
                f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {weight.numel()} "
                f"and channel size = {input.shape[1] if input.ndim >= 2 else 1}."
            )
        w = weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return input.relu() - w * (-input).relu()


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: ``a * sigmoid(b)`` with ``a, b`` the two halves of ``input`` along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim + input.ndim if dim < 0 else dim
    if not 0 <= d < input.ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-input.ndim}, {input.ndim - 1}], "
                         f"but got {dim})")
    if input.shape[d] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {input.shape[d]}")
    a, b = input.chunk(2, d)
    return a * b.sigmoid()


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be in range [0, inf] for input dtype {input.dtype}, but found {lambd}")
    return input - input.clamp(-lambd, lambd)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    if input._data.dtype.kind != "f":
        from ...tensor import _torch_name

        raise NotImplementedError(f"\"hardshrink_cpu\" not implemented for '{_torch_name(input)}'")
    return Hardshrink.apply(input, lambd=float(lambd))


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A sample of the Gumbel-softmax (concrete) distribution, as ``torch.nn.functional.gumbel_softmax``.

    Args:
        logits: unnormalised log-probabilities.
        tau: the temperature; lower is closer to one-hot.
        hard: return one-hot vectors whose gradient is the soft sample's (straight-through).
        eps: deprecated, without effect (warns when set).
        dim: the dimension that sums to 1.

    Returns:
        A tensor of ``logits``' shape; the Gumbel noise comes from nerve's generator.
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -logits.new_empty(logits.shape).exponential_().log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = logits.new_zeros(logits.shape).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


# the in-place forms, as torch.nn.functional's
def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place :func:`leaky_relu`."""
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`elu`."""
    return elu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    """In-place :func:`selu`."""
    return selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`celu`."""
    return celu(input, alpha, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place :func:`hardtanh`."""
    return hardtanh(input, min_val, max_val, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place :func:`threshold`."""
    return globals()["threshold"](input, threshold, value, inplace=True)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """In-place :func:`rrelu`."""
    return rrelu(input, lower, upper, training, inplace=True)
