"""Conv1d/2d/3d and ConvTranspose1d/2d/3d, initialised as PyTorch's, and their lazy forms."""

from __future__ import annotations

import math

from ... import creation
from .. import functional as F
from .. import init
from ..functional.conv import _ntuple, _pads
from ..parameter import Parameter, UninitializedParameter
from .lazy import _LazySizeMixin
from .module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    if groups <= 0:
        raise ValueError("groups must be a positive integer")
    if in_channels % groups != 0:
        raise ValueError("in_channels must be divisible by groups")
    if out_channels % groups != 0:
        raise ValueError("out_channels must be divisible by groups")


def _make_parameters(module: Module, weight_shape: tuple, out_channels: int, bias: bool, device, dtype) -> None:
    """A convolution's ``weight`` of ``weight_shape`` and ``bias`` (or None), then its initialisation."""
    module.weight = Parameter(creation.empty(*weight_shape, device=device, dtype=dtype))
    if bias:
        module.bias = Parameter(creation.empty(out_channels, device=device, dtype=dtype))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters()


class _ConvNd(Module):
    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        nd = self._nd
        _check_groups(in_channels, out_channels, groups)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {list(_PADDING_MODES)}, but got padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, nd, "kernel_size")
        self.stride = _ntuple(stride, nd, "stride")
        self.dilation = _ntuple(dilation, nd, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, nd, "padding")
        self.groups = groups
        self.padding_mode = padding_mode
        self.transposed = False  # attributes torch's convolutions share with the transposed ones
        self.output_padding = (0,) * nd
        _make_parameters(self, (out_channels, in_channels // groups, *self.kernel_size), out_channels, bias,
                         device, dtype)

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch's
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _conv(self, fn, input):
        if self.padding_mode == "zeros":
            return fn(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        pads = _pads(self.padding, self.kernel_size, self.dilation, self.stride, self._nd)
        # F.pad takes the last axis first: (left, right, top, bottom, front, back)
        amounts = tuple(v for i in range(len(pads) - 2, -1, -2) for v in pads[i : i + 2])
        x = F.pad(input, amounts[: 2 * self._nd], mode=self.padding_mode)
        return fn(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) images, as ``torch.nn.Conv2d``.

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, dilation: int or (h, w).
        padding: int, (h, w), ``'valid'`` or ``'same'``.
        groups: split the channels into this many independent convolutions.
        bias: learn an additive bias per output channel.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    The weight is (out_channels, in_channels / groups, kh, kw).
    """

    _nd = 2

    def forward(self, input):
        return self._conv(F.conv2d, input)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W) volumes, as ``torch.nn.Conv3d``.

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, dilation: int or (d, h, w).
        padding: int, (d, h, w), ``'valid'`` or ``'same'``.
        groups: split the channels into this many independent convolutions.
        bias: learn an additive bias per output channel.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    The weight is (out_channels, in_channels / groups, kd, kh, kw).
    """

    _nd = 3

    def forward(self, input):
        return self._conv(F.conv3d, input)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) sequences, as ``torch.nn.Conv1d``; the weight is (out, in / groups, k)."""

    _nd = 1

    def forward(self, input):
        return self._conv(F.conv1d, input)


class _ConvTransposeNd(Module):
    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__()
        nd = self._nd
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        _check_groups(in_channels, out_channels, groups)
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__} takes an int or a tuple of ints as padding, got {padding!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, nd, "kernel_size")
        self.stride = _ntuple(stride, nd, "stride")
        self.padding = _ntuple(padding, nd, "padding")
        self.output_padding = _ntuple(output_padding, nd, "output_padding")
        self.dilation = _ntuple(dilation, nd, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        self.transposed = True
        # (in, out / groups, *kernel) as PyTorch stores it; its init reads the fans off this shape
        _make_parameters(self, (in_channels, out_channels // groups, *self.kernel_size), out_channels, bias,
                         device, dtype)

    reset_parameters = _ConvNd.reset_parameters

    def _output_padding(self, input, output_size):
        """output_padding, or the one that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        lead = 2 if input.ndim == nd + 2 else 1
        output_size = list(output_size)
        if len(output_size) == lead + nd:
            output_size = output_size[lead:]
        if len(output_size) != nd:
            raise ValueError(f"ConvTranspose{nd}D: for {input.ndim}D input, output_size must have {nd} or "
                             f"{lead + nd} elements (got {len(output_size)})")
        mins = [(input.shape[d + lead] - 1) * self.stride[d] - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(nd)]
        maxs = [m + s - 1 for m, s in zip(mins, self.stride)]
        for size, lo, hi in zip(output_size, mins, maxs):
            if size < lo or size > hi:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from {mins} to "
                                 f"{maxs} (for an input of {tuple(input.shape[lead:])})")
        return tuple(int(o) - m for o, m in zip(output_size, mins))

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution over (N, C_in, H, W) images, as ``torch.nn.ConvTranspose2d``.

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, padding, output_padding, dilation: int or (h, w).
        groups: split the channels into this many independent transposed convolutions.
        bias: learn an additive bias per output channel.

    The weight is (in_channels, out_channels / groups, kh, kw). ``forward(input, output_size)``
    picks the output_padding that gives ``output_size``.
    """

    _nd = 2

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution over (N, C_in, L) sequences, as ``torch.nn.ConvTranspose1d``;
    the weight is (in_channels, out_channels / groups, k)."""

    _nd = 1

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution over (N, C_in, D, H, W) volumes, as ``torch.nn.ConvTranspose3d``.

    Args:
        in_channels, out_channels: channels of the input and the output.
        kernel_size, stride, padding, output_padding, dilation: int or (d, h, w).
        groups: split the channels into this many independent transposed convolutions.
        bias: learn an additive bias per output channel.

    The weight is (in_channels, out_channels / groups, kd, kh, kw). ``forward(input, output_size)``
    picks the output_padding that gives ``output_size``.
    """

    _nd = 3

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation)


# ---------------------------------------------------------------- lazy forms: in_channels from the input


class _LazyConvMixin(_LazySizeMixin):
    """``in_channels`` is dim 1 of the first input (dim 0 if unbatched); the weight and bias follow."""

    _lazy_size = "in_channels"

    def _lazy_parameters(self, out_channels: int, groups: int, bias: bool, device, dtype) -> None:
        # the layer was built with 0 channels and no bias: nothing allocated that the first call replaces
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def _size_from_input(self, input) -> int:
        unbatched = self._nd + 1
        if input.ndim not in (unbatched, unbatched + 1):
            raise RuntimeError(f"Expected {unbatched}D (unbatched) or {unbatched + 1}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {input.shape}")
        in_channels = input.shape[1] if input.ndim == unbatched + 1 else input.shape[0]
        if in_channels % self.groups != 0:
            raise ValueError(f"in_channels must be divisible by groups (in_channels={in_channels} from the "
                             f"input, groups={self.groups})")
        return in_channels

    def _lazy_shapes(self, size: int) -> dict[str, tuple]:
        # (out, in / groups, *kernel) for a convolution; (in, out / groups, *kernel) transposed
        transposed = getattr(self, "transposed", False)
        pair = (size, self.out_channels // self.groups) if transposed else (self.out_channels, size // self.groups)
        return {"weight": (*pair, *self.kernel_size), "bias": (self.out_channels,)}

    def _loaded_size(self) -> tuple[str, int]:
        w = self.weight.shape
        return "weight", w[0] if getattr(self, "transposed", False) else w[1] * self.groups


class _LazyConvNd(_LazyConvMixin):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self._lazy_parameters(out_channels, groups, bias, device, dtype)


class _LazyConvTransposeNd(_LazyConvMixin):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0, groups: int = 1,
                 bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode,
                         device, dtype)
        self._lazy_parameters(out_channels, groups, bias, device, dtype)


class LazyConv1d(_LazyConvNd, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` comes from its first input, as ``torch.nn.LazyConv1d``.

    Args: as :class:`Conv1d`'s, less ``in_channels``. The weight and bias are
    ``UninitializedParameter``s until the first call, which creates them, initialises them as
    ``Conv1d``'s and makes the layer a ``Conv1d``.
    """

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvNd, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` comes from its first input, as ``torch.nn.LazyConv2d``.

    Args: as :class:`Conv2d`'s, less ``in_channels``. The weight and bias are
    ``UninitializedParameter``s until the first call, which creates them, initialises them as
    ``Conv2d``'s and makes the layer a ``Conv2d``.
    """

    cls_to_become = Conv2d


class LazyConv3d(_LazyConvNd, Conv3d):
    """A ``Conv3d`` whose ``in_channels`` comes from its first input, as ``torch.nn.LazyConv3d``.

    Args: as :class:`Conv3d`'s, less ``in_channels``; the first call makes the layer a ``Conv3d``.
    """

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTransposeNd, ConvTranspose1d):
    """A ``ConvTranspose1d`` whose ``in_channels`` comes from its first input, as ``torch.nn.LazyConvTranspose1d``.

    Args: as :class:`ConvTranspose1d`'s, less ``in_channels``; the first call makes the layer a
    ``ConvTranspose1d``.
    """

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTransposeNd, ConvTranspose2d):
    """A ``ConvTranspose2d`` whose ``in_channels`` comes from its first input, as ``torch.nn.LazyConvTranspose2d``.

    Args: as :class:`ConvTranspose2d`'s, less ``in_channels``; the first call makes the layer a
    ``ConvTranspose2d``.
    """

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTransposeNd, ConvTranspose3d):
    """A ``ConvTranspose3d`` whose ``in_channels`` comes from its first input, as ``torch.nn.LazyConvTranspose3d``.

    Args: as :class:`ConvTranspose3d`'s, less ``in_channels``; the first call makes the layer a
    ``ConvTranspose3d``.
    """

    cls_to_become = ConvTranspose3d
