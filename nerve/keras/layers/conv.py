"""``Conv2D``: channels-last images and (kh, kw, in, out) kernels, on the core's NCHW conv; the
depthwise and separable ``DepthwiseConv2D`` and ``SeparableConv2D`` on its grouped convolution.

Cost of the layout: each call permutes a channels-last input to NCHW and the output back to
NHWC. Permutes are views (no copy); the core's im2col copies the data once as it would anyway,
so the price is a strided read, not an extra pass. ``data_format='channels_first'`` (or
``keras.config.set_image_data_format('channels_first')``) hands NCHW straight to the core. The kernel is kept in the core's (out, in, kh, kw) layout and
only shown to Keras (get_weights, set_weights, files) as (kh, kw, in, out): no per-call transpose.
"""

from __future__ import annotations

import nerve.nn.functional as _functional
from nerve.creation import zeros
from nerve.functions import where

from .. import activations, backend, constraints
from .layer import Layer


def _F():
    return _functional


def _pair(v, what):
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"The `{what}` argument must be a tuple of 2 integers. Received: {what}={v}")
    return v


def standardize_tuple(value, n, what, allow_zero=False):
    """Keras's ``standardize_tuple``: an int or ``n`` ints as an n-tuple of positive (or, with
    ``allow_zero``, non-negative) ints, with Keras's error otherwise."""
    msg = f"The `{what}` argument must be a tuple of {n} integers. Received {what}={value}"
    if isinstance(value, int):
        out = (value,) * n
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise ValueError(msg) from None
        if len(out) != n:
            raise ValueError(msg)
        for v in out:
            try:
                int(v)
            except (ValueError, TypeError):
                raise ValueError(f"{msg}including element {v} of type {type(v)}") from None
    bad = {v for v in out if (v < 0 if allow_zero else v <= 0)}
    if bad:
        raise ValueError(f"{msg}, including values {bad} that do not satisfy `value {'>= 0' if allow_zero else '> 0'}`")
    return tuple(int(v) for v in out)


def standardize_padding(padding, allowed) -> str:
    """Keras's ``standardize_padding``: ``padding`` lower-cased, one of ``allowed``, else Keras's error."""
    p = padding.lower()
    if p not in allowed:
        allowed = set(allowed)  # a set, printed in the order Keras's message prints it in this process
        raise ValueError(f"The `padding` argument must be a list/tuple or one of {allowed}. Received: {p}")
    return p


def same_pads(size, k, s, d=1):
    """TensorFlow's 'same' padding (before, after) for one spatial axis."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def set_data_format(layer, data_format) -> None:
    """``layer.data_format``: Keras's argument checked; None takes ``keras.config.image_data_format()``.

    The config keeps the format chosen (as Keras's), so a model saved while the global default is
    channels-first loads channels-first whatever the default is then."""
    layer.data_format = backend.standardize_data_format(data_format)
    init_args = layer.__dict__.get("_init_args")
    if init_args is not None:
        init_args["data_format"] = layer.data_format


def channel_axis(layer) -> int:
    return 1 if layer.data_format == "channels_first" else -1


def to_channels_first(layer, x):
    """``x`` in ``layer``'s data format as the core's (N, C, *spatial): a view, or ``x`` itself."""
    return x if layer.data_format == "channels_first" else x.movedim(-1, 1)


def from_channels_first(layer, y):
    """The core's (N, C, *spatial) ``y`` in ``layer``'s data format: a view, or ``y`` itself."""
    return y if layer.data_format == "channels_first" else y.movedim(1, -1)


def spatial_dims(layer, shape):
    """The spatial sizes of ``shape`` (batch and channel axes left out)."""
    return tuple(shape[2:]) if layer.data_format == "channels_first" else tuple(shape[1:-1])


def with_spatial(layer, n, spatial, c):
    """An output shape from its batch size, spatial sizes and channels, in ``layer``'s data format."""
    return (n, c, *spatial) if layer.data_format == "channels_first" else (n, *spatial, c)


def check_ndim(layer, shape, ndim: int) -> None:
    """Keras's error for an input of the wrong rank (4 for (H, W, C) images, 3 for (steps, C) sequences)."""
    if len(shape) != ndim:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim={ndim}, '
                         f"found ndim={len(shape)}. Full shape received: {tuple(shape)}")


def check_ndim4(layer, shape) -> None:
    check_ndim(layer, shape, 4)


def _conv_options(layer, filters, kernel_size, strides, padding, data_format, activation, use_bias,
                  kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer) -> None:
    """The arguments Conv2D and Conv2DTranspose share, checked and set on ``layer``."""
    set_data_format(layer, data_format)
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: {padding}")
    layer.filters = int(filters)
    layer.kernel_size = _pair(kernel_size, "kernel_size")
    layer.strides = _pair(strides, "strides")
    layer.padding = padding
    layer.activation = activations.get(activation)
    layer.use_bias = use_bias
    layer.kernel_initializer, layer.bias_initializer = kernel_initializer, bias_initializer
    layer.kernel_regularizer, layer.bias_regularizer = kernel_regularizer, bias_regularizer


class Conv2D(Layer):
    """2-D convolution of (N, H, W, C) images ((N, C, H, W) with ``data_format='channels_first'``),
    Keras's arguments and defaults; the kernel is (kh, kw, in / groups, filters) either way.

    Args:
        filters: output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: ``'valid'`` (none) or ``'same'`` (output size ceil(in / stride)).
        dilation_rate, groups: as Keras.
        activation, use_bias, kernel_initializer, bias_initializer: as Dense.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        _conv_options(self, filters, kernel_size, strides, padding, data_format, activation, use_bias,
                      kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.groups = int(groups)

    def build(self, input_shape):
        check_ndim4(self, input_shape)
        channels = input_shape[channel_axis(self)]
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel",
                                      constraint=self.kernel_constraint, regularizer=self.kernel_regularizer,
                                      perm=(3, 2, 0, 1))
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        y = conv2d_keras(self, to_channels_first(self, inputs), self.kernel.value,
                         self.bias.value if self.bias is not None else None, self.groups)
        return self.activation(from_channels_first(self, y))


def conv2d_keras(layer, x, weight, bias, groups):
    """``F.conv2d`` of the (N, C, H, W) ``x`` with ``layer``'s strides, dilation and Keras's padding
    (TensorFlow's 'same': with strides, the odd pad at the end, given to F.pad)."""
    F = _F()
    padding = layer.padding
    if padding == "same" and layer.strides != (1, 1):
        (t, b), (left, r) = (same_pads(x.shape[2 + i], weight.shape[2 + i], layer.strides[i], layer.dilation_rate[i])
                             for i in range(2))
        x = F.pad(x, (left, r, t, b))
        padding = "valid"
    return F.conv2d(x, weight, bias, stride=layer.strides, padding=padding, dilation=layer.dilation_rate,
                    groups=groups)


def check_channels(layer, shape, channels) -> None:
    """Keras's error for an input whose channel axis differs from the one the layer was built for."""
    axis = channel_axis(layer)
    if shape[axis] != channels:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected axis {axis} of '
                         f"input shape to have value {channels}, but received input with shape {tuple(shape)}")


def positive(value, what) -> int:
    if value is None or int(value) <= 0:
        raise ValueError(f"Invalid value for argument `{what}`. Expected a strictly positive value. "
                         f"Received {what}={value}.")
    return int(value)


def depthwise_options(layer, rank, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                      activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                      bias_regularizer) -> None:
    """The arguments of the depthwise and separable convolutions (Keras's ``BaseDepthwiseConv``),
    checked as Keras checks them and set on ``layer``: sizes as ``rank``-tuples."""
    layer.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
    layer.strides = standardize_tuple(strides, rank, "strides")
    layer.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
    layer.padding = standardize_padding(padding, ("valid", "same"))
    set_data_format(layer, data_format)
    layer.activation = activations.get(activation)
    layer.use_bias = use_bias
    layer.depthwise_initializer, layer.bias_initializer = depthwise_initializer, bias_initializer
    layer.depthwise_regularizer, layer.bias_regularizer = depthwise_regularizer, bias_regularizer
    layer.depth_multiplier = positive(depth_multiplier, "depth_multiplier")


def build_depthwise(layer, input_shape, rank: int, name: str):
    """The ``rank``-D depthwise kernel of ``layer`` for ``input_shape``, Keras's (k..., C,
    depth_multiplier), kept as (C, depth_multiplier, k...): it reshapes to the core's grouped
    (C * depth_multiplier, 1, k...) weight with channel c's outputs together, as Keras's."""
    check_ndim(layer, input_shape, rank + 2)
    c = layer._channels = input_shape[channel_axis(layer)]
    return layer.add_weight(layer.kernel_size + (c, layer.depth_multiplier), layer.depthwise_initializer, name=name,
                            regularizer=layer.depthwise_regularizer,
                            constraint=layer.depthwise_constraint, perm=(rank, rank + 1, *range(rank)))


def build_pointwise(layer, rank: int):
    """A separable convolution's pointwise kernel, Keras's (1..., C * depth_multiplier, filters), kept
    as the core's (filters, C * depth_multiplier, 1...)."""
    shape = (1,) * rank + (layer._channels * layer.depth_multiplier, layer.filters)
    return layer.add_weight(shape, layer.pointwise_initializer, name="pointwise_kernel",
                            regularizer=layer.pointwise_regularizer,
                            constraint=layer.pointwise_constraint, perm=(rank + 1, rank, *range(rank)))


def depthwise_input(layer, inputs, kernel, rank: int):
    """``inputs`` checked as Keras checks them and in the core's (N, C, spatial...), and the grouped
    convolution weight of the depthwise ``kernel`` (see ``build_depthwise``)."""
    check_ndim(layer, inputs.shape, rank + 2)
    check_channels(layer, inputs.shape, layer._channels)
    weight = kernel.value.reshape(layer._channels * layer.depth_multiplier, 1, *layer.kernel_size)
    return to_channels_first(layer, inputs), weight


class DepthwiseConv2D(Layer):
    """Each channel of (N, H, W, C) images ((N, C, H, W) with ``data_format='channels_first'``)
    convolved alone with ``depth_multiplier`` filters of its own: C * depth_multiplier output
    channels, channel c's outputs together (c * depth_multiplier + j), as Keras's.

    A grouped convolution (groups = C) in the core. Weights, in Keras's order and shapes: ``kernel``
    (kh, kw, C, depth_multiplier), kept as the core's (C * depth_multiplier, 1, kh, kw); ``bias``
    (C * depth_multiplier,).

    Args:
        kernel_size: int or (kh, kw).
        strides, padding ('valid' or 'same'), dilation_rate, data_format: as Conv2D.
        depth_multiplier: output channels per input channel.
        activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
            bias_regularizer: as Conv2D's kernel_ ones.
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.bias_constraint, self.depthwise_constraint = map(constraints.get, (bias_constraint, depthwise_constraint))
        depthwise_options(self, 2, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                          activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                          bias_regularizer)

    def build(self, input_shape):
        self.kernel = build_depthwise(self, input_shape, 2, "kernel")
        self.bias = self.add_weight((self._channels * self.depth_multiplier,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        x, weight = depthwise_input(self, inputs, self.kernel, 2)
        y = conv2d_keras(self, x, weight, self.bias.value if self.bias is not None else None, self._channels)
        return self.activation(from_channels_first(self, y))


class SeparableConv2D(Layer):
    """A depthwise 2-D convolution (each channel alone, ``depth_multiplier`` outputs each), then a
    pointwise (1 x 1) convolution to ``filters`` channels, as Keras's.

    Weights, in Keras's order and shapes: ``depthwise_kernel`` (kh, kw, C, depth_multiplier),
    ``pointwise_kernel`` (1, 1, C * depth_multiplier, filters), ``bias`` (filters,).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.bias_constraint, self.depthwise_constraint, self.pointwise_constraint = map(
            constraints.get, (bias_constraint, depthwise_constraint, pointwise_constraint))
        depthwise_options(self, 2, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                          activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                          bias_regularizer)
        self.filters = positive(filters, "filters")
        self.pointwise_initializer, self.pointwise_regularizer = pointwise_initializer, pointwise_regularizer

    def build(self, input_shape):
        self.depthwise_kernel = build_depthwise(self, input_shape, 2, "depthwise_kernel")
        self.pointwise_kernel = build_pointwise(self, 2)
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        x, depthwise = depthwise_input(self, inputs, self.depthwise_kernel, 2)
        x = conv2d_keras(self, x, depthwise, None, self._channels)
        y = _F().conv2d(x, self.pointwise_kernel.value, self.bias.value if self.bias is not None else None)
        return self.activation(from_channels_first(self, y))


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = _pair(strides, "strides") if strides is not None else self.pool_size
        self.padding = padding.lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: {padding}")

    def _pool(self, F, x, kernel, stride, **kw):
        raise NotImplementedError

    def call(self, inputs):
        F = _F()
        x = to_channels_first(self, inputs)
        ceil = False
        if self.padding == "same":
            pads = [same_pads(x.shape[2 + i], self.pool_size[i], self.strides[i]) for i in range(2)]
            if any(before for before, _ in pads):
                raise NotImplementedError("padding='same' pooling that pads before the first row is not supported")
            # Only the last window runs past the edge: a ceil-mode pool covers it with the valid part.
            ceil = any(after for _, after in pads)
        y = self._pool(F, x, self.pool_size, self.strides, ceil_mode=ceil)
        return from_channels_first(self, y)


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows of (N, H, W, C) images; strides default to pool_size."""

    def _pool(self, F, x, kernel, stride, **kw):
        return F.max_pool2d(x, kernel, stride, **kw)


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows of (N, H, W, C) images; strides default to pool_size."""

    def _pool(self, F, x, kernel, stride, **kw):
        return F.avg_pool2d(x, kernel, stride, **kw)


class _GlobalPooling(Layer):
    """Keras's global pooling: ``data_format`` and ``keepdims``, and the spatial axes to reduce."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        self.keepdims = keepdims

    def _axes(self, ndim):
        return tuple(range(2, ndim)) if self.data_format == "channels_first" else tuple(range(1, ndim - 1))


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (N, H, W, C) -> (N, C) (``keepdims`` keeps (N, 1, 1, C))."""

    def call(self, inputs):
        return inputs.mean(dim=self._axes(inputs.ndim), keepdim=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling):
    def call(self, inputs):
        return inputs.amax(dim=self._axes(inputs.ndim), keepdim=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the time steps: (N, steps, C) -> (N, C) (``keepdims``: (N, 1, C)).

    With a mask (batch, steps), from an ``Embedding(mask_zero=True)`` or ``Masking``, the mean is
    over the unmasked steps only, as Keras's; the output has no mask.
    """

    supports_masking = True

    def call(self, inputs, mask=None):
        axis = 1 if self.data_format == "channels_last" else 2
        if mask is None:
            return inputs.mean(dim=axis, keepdim=self.keepdims)
        m = mask.unsqueeze(2 if self.data_format == "channels_last" else 1)
        kept = where(m, inputs, zeros((), dtype=inputs.dtype, device=inputs.device))
        return kept.sum(dim=axis, keepdim=self.keepdims) / m.to(inputs.dtype).sum(dim=axis, keepdim=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the time steps: (N, steps, C) -> (N, C) (a mask is not used, as Keras's)."""

    def call(self, inputs):
        return inputs.amax(dim=1 if self.data_format == "channels_last" else 2, keepdim=self.keepdims)


GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
MaxPool2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D = MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D
Convolution2D = Conv2D
SeparableConvolution2D = SeparableConv2D
