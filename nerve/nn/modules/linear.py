"""Linear, LazyLinear, Bilinear and Identity."""

from __future__ import annotations

import math

from ... import creation
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..functional.linear import Linear as _LinearFn
from ..parameter import Parameter, UninitializedParameter
from .lazy import _LazySizeMixin
from .module import Module


def _empty(*shape, device=None, dtype=None):
    return creation.empty(*shape, device=device, dtype=dtype)


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.

    The weight is (out_features, in_features), initialised as PyTorch's: U(-1/sqrt(in), 1/sqrt(in)),
    and so is the bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        p = self._parameters  # read directly: self.weight goes through Module.__getattr__
        if "weight" in p and "bias" in p:
            w, b = p["weight"], p["bias"]
            if b is not None and input.__class__ is Tensor and input._data.dtype == w._data.dtype:
                return _LinearFn.apply(input, w, b)  # what F.linear does here, a Python call less
            return F.linear(input, w, b)
        return F.linear(input, self.weight, self.bias)  # replaced by a plain attribute

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(_LazySizeMixin, Linear):
    """A ``Linear`` whose ``in_features`` is the last dim of its first input, as ``torch.nn.LazyLinear``.

    Until that first call the weight and bias are ``UninitializedParameter``s (``in_features`` is
    0); the call materialises them in place, initialises them as ``Linear``'s, and the layer
    becomes a ``Linear``. An optimizer may be made before or after the first call.
    """

    cls_to_become = Linear
    _lazy_size = "in_features"

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def _size_from_input(self, input) -> int:
        return input.shape[-1]

    def _lazy_shapes(self, size: int) -> dict[str, tuple]:
        return {"weight": (self.out_features, size), "bias": (self.out_features,)}

    def _loaded_size(self) -> tuple[str, int]:
        return "weight", self.weight.shape[-1]


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear`` under the name torch gives ``MultiheadAttention.out_proj``, so models print as torch's."""


class Bilinear(Module):
    """``y_k = x1 @ weight[k] @ x2 + bias_k``."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(_empty(out_features, in1_features, in2_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
