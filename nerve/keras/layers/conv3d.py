"""3-D layers on (N, D, H, W, C) volumes: ``Conv3D``, ``Conv3DTranspose``, ``MaxPooling3D``,
``AveragePooling3D``, ``GlobalAveragePooling3D``, ``GlobalMaxPooling3D``, ``UpSampling3D``,
``ZeroPadding3D`` and ``Cropping3D``, over the core's (N, C, D, H, W) ``conv3d``,
``conv_transpose3d``, ``max_pool3d``, ``avg_pool3d`` and ``pad``.

As Conv2D: each call permutes to channels-first and back (views; none with
``data_format='channels_first'``, (N, C, D, H, W) volumes), and the kernels are kept in the
core's layout, shown to Keras as (kd, kh, kw, in / groups, filters) (Conv3D) or
(kd, kh, kw, filters, in) (Conv3DTranspose). Padding ``'same'`` is TensorFlow's (the odd pad at the
end); a pooling window that runs past an edge takes the max, or the mean, of the cells it covers.
"""

from __future__ import annotations

import math

from nerve.creation import ones

from .. import activations, constraints
from .conv import (
    _F,
    _GlobalPooling,
    channel_axis,
    check_ndim,
    from_channels_first,
    same_pads,
    set_data_format,
    spatial_dims,
    standardize_padding,
    to_channels_first,
    with_spatial,
)
from .conv1d import _check_channels, grouped_conv_options, grouped_in_channels
from .conv_transpose import padded_transpose, transpose_pads
from .layer import Layer


def _triple(v, what):
    if isinstance(v, int):
        return (v, v, v)
    v = tuple(int(a) for a in v)
    if len(v) != 3:
        raise ValueError(f"The `{what}` argument must be a tuple of 3 integers. Received: {what}={v}")
    return v


def _pads(padding, sizes, kernel, strides, dilation=(1, 1, 1)):
    """(before, after) for each of the three spatial axes."""
    if padding == "same":
        return [same_pads(sizes[i], kernel[i], strides[i], dilation[i]) for i in range(3)]
    return [(0, 0)] * 3


def _pad_arg(pads):
    """F.pad's order (the last axis first) for per-axis (before, after) pairs."""
    return tuple(p for pair in reversed(pads) for p in pair)


def _first_spatial(layer) -> int:
    return 2 if layer.data_format == "channels_first" else 1


def _size(n, k, s, padding, d=1):
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return (n - (k - 1) * d - 1) // s + 1


class Conv3D(Layer):
    """3-D convolution of (N, D, H, W, C) volumes, Keras's arguments and defaults.

    Args:
        filters: output channels (divisible by ``groups``).
        kernel_size: int or (kd, kh, kw).
        strides: int or (sd, sh, sw).
        padding: ``'valid'`` (none) or ``'same'`` (output size ceil(in / stride)).
        dilation_rate, groups: as Keras.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer: as Dense.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        grouped_conv_options(self, "Conv3D", _triple, filters, kernel_size, strides, padding, ("valid", "same"),
                             data_format, dilation_rate, groups, activation, use_bias, kernel_initializer,
                             bias_initializer, kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        channels = grouped_in_channels(self, input_shape, 5)
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel", constraint=self.kernel_constraint,
                                      regularizer=self.kernel_regularizer, perm=(4, 3, 0, 1, 2))
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        F = _F()
        check_ndim(self, inputs.shape, 5)
        _check_channels(self, inputs.shape, self._channels)
        x = to_channels_first(self, inputs)
        pads = _pads(self.padding, x.shape[2:], self.kernel_size, self.strides, self.dilation_rate)
        if all(before == after for before, after in pads):
            padding = tuple(before for before, _ in pads)
        else:
            x = F.pad(x, _pad_arg(pads))
            padding = 0
        y = F.conv3d(x, self.kernel.value, self.bias.value if self.bias is not None else None, stride=self.strides,
                     padding=padding, dilation=self.dilation_rate, groups=self.groups)
        return self.activation(from_channels_first(self, y))

    def compute_output_shape(self, input_shape):
        spatial = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (_size(spatial[i], self.kernel_size[i], self.strides[i], self.padding,
                                                         self.dilation_rate[i]) for i in range(3)), self.filters)


class Conv3DTranspose(Layer):
    """Transposed 3-D convolution of (N, D, H, W, C) volumes, with Keras's (kd, kh, kw, filters, in)
    kernel; sizes and ``output_padding`` as Conv2DTranspose (Keras's torch backend). dilation_rate: 1 only."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        set_data_format(self, data_format)
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.strides = _triple(strides, "strides")
        self.padding = standardize_padding(padding, ("valid", "same"))
        self.output_padding = None if output_padding is None else _triple(output_padding, "output_padding")
        if _triple(dilation_rate, "dilation_rate") != (1, 1, 1):
            raise NotImplementedError("nerve.keras Conv3DTranspose supports dilation_rate=1 only")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape):
        check_ndim(self, input_shape, 5)
        self._channels = input_shape[channel_axis(self)]
        shape = self.kernel_size + (self.filters, self._channels)
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel", constraint=self.kernel_constraint,
                                      regularizer=self.kernel_regularizer, perm=(4, 3, 0, 1, 2))
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def _pads(self, i):
        return transpose_pads(self, i)

    def call(self, inputs):
        F = _F()
        check_ndim(self, inputs.shape, 5)
        _check_channels(self, inputs.shape, self._channels)
        x = to_channels_first(self, inputs)
        bias = self.bias.value if self.bias is not None else None
        pads = _pad_arg([self._pads(i) for i in range(3)])
        y = padded_transpose(F.conv_transpose3d, x, self.kernel.value, bias, pads, stride=self.strides)
        return self.activation(from_channels_first(self, y))

    def compute_output_shape(self, input_shape):
        spatial = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (None if spatial[i] is None else
                                                   (spatial[i] - 1) * self.strides[i] + self.kernel_size[i]
                                                   + sum(self._pads(i)) for i in range(3)), self.filters)


class _Pooling3D(Layer):
    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        set_data_format(self, data_format)
        self.pool_size = _triple(pool_size, "pool_size")
        self.strides = _triple(strides, "strides") if strides is not None else self.pool_size
        self.padding = standardize_padding(padding, ("valid", "same"))

    def call(self, inputs):
        check_ndim(self, inputs.shape, 5)
        x = to_channels_first(self, inputs)
        pads = _pads(self.padding, x.shape[2:], self.pool_size, self.strides)
        return from_channels_first(self, self._pool(x, _pad_arg(pads)))

    def compute_output_shape(self, input_shape):
        spatial, c = spatial_dims(self, input_shape), input_shape[channel_axis(self)]
        return with_spatial(self, input_shape[0],
                            (_size(spatial[i], self.pool_size[i], self.strides[i], self.padding) for i in range(3)), c)


class MaxPooling3D(_Pooling3D):
    """Max over ``pool_size`` windows of (N, D, H, W, C) volumes; strides default to pool_size.

    ``padding='same'`` keeps ceil(size / strides) outputs per axis, a window that runs past an edge
    taking the max of the cells it covers.
    """

    def _pool(self, x, pads):
        if any(pads):
            x = _F().pad(x, pads, value=-math.inf)
        return _F().max_pool3d(x, self.pool_size, self.strides)


class AveragePooling3D(_Pooling3D):
    """Mean over ``pool_size`` windows of (N, D, H, W, C) volumes; strides default to pool_size.

    ``padding='same'``: a window that runs past an edge averages only the cells it covers, as
    Keras's TensorFlow and JAX backends (Keras's torch backend, where the padding is uneven, takes
    other numbers for those windows: see AveragePooling1D).
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)

    def _pool(self, x, pads):
        F = _F()
        if not any(pads):
            return F.avg_pool3d(x, self.pool_size, self.strides)
        sums = F.avg_pool3d(F.pad(x, pads), self.pool_size, self.strides)
        real = ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        counts = F.avg_pool3d(F.pad(real, pads), self.pool_size, self.strides)
        return sums / counts


class _GlobalPooling3D(_GlobalPooling):
    def compute_output_shape(self, input_shape):
        n, c = input_shape[0], input_shape[channel_axis(self)]
        return with_spatial(self, n, (1, 1, 1), c) if self.keepdims else (n, c)


class GlobalAveragePooling3D(_GlobalPooling3D):
    """Mean over depth, height and width: (N, D, H, W, C) -> (N, C) (``keepdims``: (N, 1, 1, 1, C))."""

    def call(self, inputs):
        check_ndim(self, inputs.shape, 5)
        return inputs.mean(dim=self._axes(5), keepdim=self.keepdims)


class GlobalMaxPooling3D(_GlobalPooling3D):
    """Max over depth, height and width: (N, D, H, W, C) -> (N, C) (``keepdims``: (N, 1, 1, 1, C))."""

    def call(self, inputs):
        check_ndim(self, inputs.shape, 5)
        return inputs.amax(dim=self._axes(5), keepdim=self.keepdims)


class UpSampling3D(Layer):
    """Repeat each cell ``size`` times along each axis: (N, D, H, W, C) -> (N, D*sd, H*sh, W*sw, C)."""

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        self.size = _triple(size, "size")

    def call(self, inputs):
        check_ndim(self, inputs.shape, 5)
        y = inputs
        for axis, s in enumerate(self.size, start=_first_spatial(self)):
            if s != 1:
                y = y.repeat_interleave(s, dim=axis)
        return y

    def compute_output_shape(self, input_shape):
        spatial = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (None if d is None else d * s for d, s in zip(spatial, self.size)),
                            input_shape[channel_axis(self)])


def _three_pairs(value, what):
    """An int (every side), or three entries, each an int (symmetric) or a (before, after) pair."""
    try:
        if isinstance(value, int):
            pairs = ((value, value),) * 3
        elif len(value) == 3:
            pairs = tuple((v, v) if isinstance(v, int) else tuple(int(a) for a in v) for v in value)
            if any(len(p) != 2 for p in pairs):
                raise ValueError
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"`{what}` should be either an int, a tuple of 3 ints (symmetric_dim1, symmetric_dim2, "
                         f"symmetric_dim3), or a tuple of 3 tuples of 2 ints ((left_dim1, right_dim1), "
                         f"(left_dim2, right_dim2), (left_dim3, right_dim3)). Received: {what}={value}.") from None
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError(f"The `{what}` argument must be non-negative. Received: {what}={value}")
    return pairs


class ZeroPadding3D(Layer):
    """Zeros around (N, D, H, W, C) volumes.

    Args:
        padding: int (every side), (pd, ph, pw) (symmetric per axis) or
            ((front, back), (top, bottom), (left, right)).
    """

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        self.padding = _three_pairs(padding, "padding")

    def call(self, inputs):
        check_ndim(self, inputs.shape, 5)
        pads = _pad_arg(self.padding)
        return _F().pad(inputs, pads if self.data_format == "channels_first" else (0, 0) + pads)

    def compute_output_shape(self, input_shape):
        spatial = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (None if d is None else d + sum(p)
                                                   for d, p in zip(spatial, self.padding)), input_shape[channel_axis(self)])


class Cropping3D(Layer):
    """Drop cells at the edges of (N, D, H, W, C) volumes.

    Args:
        cropping: int (every side), (cd, ch, cw) (symmetric per axis) or
            ((front, back), (top, bottom), (left, right)).
    """

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        self.cropping = _three_pairs(cropping, "cropping")

    def _check(self, shape):
        for d, (start, end) in zip(spatial_dims(self, shape), self.cropping):
            if d is not None and start + end >= d:
                raise ValueError(f"Values in `cropping` argument should be smaller than the corresponding spatial "
                                 f"dimension of the input. Received: input_shape={tuple(shape)}, "
                                 f"cropping={self.cropping}")

    def call(self, inputs):
        check_ndim(self, inputs.shape, 5)
        self._check(inputs.shape)
        (a, b), (c, d), (e, f) = self.cropping
        D, H, W = spatial_dims(self, inputs.shape)
        if self.data_format == "channels_first":
            return inputs[:, :, a:D - b, c:H - d, e:W - f]
        return inputs[:, a:D - b, c:H - d, e:W - f]

    def compute_output_shape(self, input_shape):
        check_ndim(self, input_shape, 5)
        self._check(input_shape)
        spatial = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (None if d is None else d - sum(p)
                                                   for d, p in zip(spatial, self.cropping)), input_shape[channel_axis(self)])


MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D
Convolution3D, Convolution3DTranspose = Conv3D, Conv3DTranspose
