"""Sequence convolution and pooling: ``Conv1D``, ``SeparableConv1D``, ``DepthwiseConv1D``, ``MaxPooling1D``,
``AveragePooling1D`` on (N, steps, C) inputs, over the core's (N, C, L) ``conv1d`` and pools.

As Conv2D, each call permutes to channels-first and back (views; none with
``data_format='channels_first'``, (N, C, steps) inputs), and the kernels are kept in the
core's layout: a Conv1D kernel (k, in / groups, filters) to Keras is the (filters, in / groups, k)
weight ``F.conv1d`` takes. Padding ``'same'`` is TensorFlow's (the odd pad at the end), ``'causal'``
pads ``(k - 1) * dilation`` steps at the start so that step t sees only steps <= t.
"""

from __future__ import annotations

import math

from nerve.creation import ones

from .. import activations, constraints
from .conv import (
    _F,
    build_depthwise,
    build_pointwise,
    channel_axis,
    check_channels,
    check_ndim,
    depthwise_input,
    depthwise_options,
    from_channels_first,
    positive,
    same_pads,
    set_data_format,
    standardize_padding,
    to_channels_first,
)
from .layer import Layer


def _single(v, what) -> int:
    if isinstance(v, int):
        return v
    v = tuple(int(a) for a in v)
    if len(v) != 1:
        raise ValueError(f"The `{what}` argument must be a tuple of 1 integers. Received: {what}={v}")
    return v[0]


def grouped_conv_options(layer, name, size, filters, kernel_size, strides, padding, allowed, data_format,
                         dilation_rate, groups, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer) -> None:
    """The arguments Conv1D and Conv3D share, checked and set on ``layer``; ``size`` turns an int or
    a tuple into the layer's form (``_single``, ``_triple``), ``allowed`` are its paddings."""
    set_data_format(layer, data_format)
    layer.filters, layer.groups = int(filters), int(groups)
    if layer.filters <= 0 or layer.groups <= 0 or layer.filters % layer.groups:
        raise ValueError("The number of filters must be evenly divisible by the number of groups. "
                         f"Received: groups={groups}, filters={filters}.")
    layer.kernel_size = size(kernel_size, "kernel_size")
    layer.strides = size(strides, "strides")
    layer.dilation_rate = size(dilation_rate, "dilation_rate")
    layer.padding = standardize_padding(padding, allowed)
    layer.activation = activations.get(activation)
    layer.use_bias = use_bias
    layer.kernel_initializer, layer.bias_initializer = kernel_initializer, bias_initializer
    layer.kernel_regularizer, layer.bias_regularizer = kernel_regularizer, bias_regularizer


def grouped_in_channels(layer, input_shape, ndim: int) -> int:
    """The input's channels, checked against the rank and ``layer.groups`` and kept as ``layer._channels``."""
    check_ndim(layer, input_shape, ndim)
    channels = input_shape[channel_axis(layer)]
    if channels % layer.groups:
        raise ValueError(f"The number of input channels must be evenly divisible by the number of groups. "
                         f"Received groups={layer.groups}, but the input has {channels} channels (full input "
                         f"shape is {tuple(input_shape)}).")
    layer._channels = channels
    return channels


_check_channels = check_channels


def _pads(padding, length, k, s, d=1):
    """(before, after) for ``'valid'``, ``'same'`` or ``'causal'`` on a sequence of ``length`` steps."""
    if padding == "same":
        return same_pads(length, k, s, d)
    if padding == "causal":
        return (k - 1) * d, 0
    return 0, 0


def _conv(x, weight, bias, stride, padding, dilation, groups):
    """``F.conv1d`` on (N, C, L) with Keras's padding (symmetric pads go to the op, others to F.pad)."""
    before, after = _pads(padding, x.shape[2], weight.shape[2], stride, dilation)
    if before != after:
        x = _F().pad(x, (before, after))
        before = 0
    return _F().conv1d(x, weight, bias, stride=stride, padding=before, dilation=dilation, groups=groups)


class Conv1D(Layer):
    """1-D convolution over the steps of (N, steps, C) sequences, Keras's arguments and defaults.

    Args:
        filters: output channels.
        kernel_size: int (or a 1-tuple).
        strides: int.
        padding: ``'valid'`` (none), ``'same'`` (output length ceil(steps / stride)) or
            ``'causal'`` (zeros before the first step: output t depends on inputs <= t).
        dilation_rate, groups: as Keras (filters and channels divisible by groups).
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer: as Dense.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        grouped_conv_options(self, "Conv1D", _single, filters, kernel_size, strides, padding, ("valid", "same", "causal"),
                             data_format, dilation_rate, groups, activation, use_bias, kernel_initializer,
                             bias_initializer, kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        channels = grouped_in_channels(self, input_shape, 3)
        shape = (self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel", constraint=self.kernel_constraint,
                                      regularizer=self.kernel_regularizer, perm=(2, 1, 0))
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        check_ndim(self, inputs.shape, 3)
        _check_channels(self, inputs.shape, self._channels)
        y = _conv(to_channels_first(self, inputs), self.kernel.value, self.bias.value if self.bias is not None else None,
                  self.strides, self.padding, self.dilation_rate, self.groups)
        return self.activation(from_channels_first(self, y))


class SeparableConv1D(Layer):
    """A depthwise 1-D convolution (each channel alone, ``depth_multiplier`` outputs each), then a
    pointwise (size 1) convolution to ``filters`` channels, as Keras's.

    Weights, in Keras's order and shapes: ``depthwise_kernel`` (k, C, depth_multiplier),
    ``pointwise_kernel`` (1, C * depth_multiplier, filters), ``bias`` (filters,).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.bias_constraint, self.depthwise_constraint, self.pointwise_constraint = map(
            constraints.get, (bias_constraint, depthwise_constraint, pointwise_constraint))
        depthwise_options(self, 1, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                          activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                          bias_regularizer)
        self.filters = positive(filters, "filters")
        self.pointwise_initializer, self.pointwise_regularizer = pointwise_initializer, pointwise_regularizer

    def build(self, input_shape):
        self.depthwise_kernel = build_depthwise(self, input_shape, 1, "depthwise_kernel")
        self.pointwise_kernel = build_pointwise(self, 1)
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        x, depthwise = depthwise_input(self, inputs, self.depthwise_kernel, 1)
        x = _conv(x, depthwise, None, self.strides[0], self.padding, self.dilation_rate[0], self._channels)
        y = _F().conv1d(x, self.pointwise_kernel.value, self.bias.value if self.bias is not None else None)
        return self.activation(from_channels_first(self, y))


class DepthwiseConv1D(Layer):
    """Each channel of (N, steps, C) sequences convolved alone with ``depth_multiplier`` filters of
    its own: C * depth_multiplier output channels, channel c's outputs together, as Keras's.

    A grouped convolution (groups = C) in the core. Weights, in Keras's order and shapes: ``kernel``
    (k, C, depth_multiplier), ``bias`` (C * depth_multiplier,). Padding 'valid' or 'same'.
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.bias_constraint, self.depthwise_constraint = map(constraints.get, (bias_constraint, depthwise_constraint))
        depthwise_options(self, 1, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                          activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                          bias_regularizer)

    def build(self, input_shape):
        self.kernel = build_depthwise(self, input_shape, 1, "kernel")
        self.bias = self.add_weight((self._channels * self.depth_multiplier,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        x, weight = depthwise_input(self, inputs, self.kernel, 1)
        y = _conv(x, weight, self.bias.value if self.bias is not None else None, self.strides[0], self.padding,
                  self.dilation_rate[0], self._channels)
        return self.activation(from_channels_first(self, y))


class _Pooling1D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        set_data_format(self, data_format)
        self.pool_size = _single(pool_size, "pool_size")
        self.strides = _single(strides, "strides") if strides is not None else self.pool_size
        self.padding = standardize_padding(padding, ("valid", "same"))

    def call(self, inputs):
        check_ndim(self, inputs.shape, 3)
        x = to_channels_first(self, inputs)
        before, after = _pads(self.padding, x.shape[2], self.pool_size, self.strides)
        return from_channels_first(self, self._pool(x, before, after))


class MaxPooling1D(_Pooling1D):
    """Max over ``pool_size`` steps of (N, steps, C) sequences; strides default to pool_size.

    ``padding='same'`` keeps ceil(steps / strides) outputs, the windows that run past an end
    taking the max of the steps they cover.
    """

    def _pool(self, x, before, after):
        if before or after:
            x = _F().pad(x, (before, after), value=-math.inf)
        return _F().max_pool1d(x, self.pool_size, self.strides)


class AveragePooling1D(_Pooling1D):
    """Mean over ``pool_size`` steps of (N, steps, C) sequences; strides default to pool_size.

    ``padding='same'``: a window that runs past an end averages only the steps it covers, as
    Keras's TensorFlow and JAX backends (Keras's torch backend, where the padding is uneven,
    repeats the edge step instead: different numbers for those windows).
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    def _pool(self, x, before, after):
        F = _F()
        if not (before or after):
            return F.avg_pool1d(x, self.pool_size, self.strides)
        # the mean of the covered steps: the windows' sums over the windows' counts of real steps
        sums = F.avg_pool1d(F.pad(x, (before, after)), self.pool_size, self.strides)
        real = ones((1, 1, x.shape[2]), dtype=x.dtype, device=x.device)
        counts = F.avg_pool1d(F.pad(real, (before, after)), self.pool_size, self.strides)
        return sums / counts


MaxPool1D, AvgPool1D = MaxPooling1D, AveragePooling1D
Convolution1D, SeparableConvolution1D = Conv1D, SeparableConv1D

