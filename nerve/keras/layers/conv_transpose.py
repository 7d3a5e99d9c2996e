"""``Conv2DTranspose`` on (N, H, W, C) images, with Keras's (kh, kw, filters, in) kernel, on the
core's NCHW ``conv_transpose2d``, and ``Conv1DTranspose`` on (N, steps, C) sequences, with Keras's
(k, filters, in) kernel, on ``conv_transpose1d``.

The kernel is kept in the core's (in, filters, kh, kw) layout and shown to Keras as
(kh, kw, filters, in). ``'same'`` gives ``in * stride`` rows and columns, cropping
or padding the full transposed convolution as Keras's torch backend does (JAX's pads).
"""

from __future__ import annotations

from .. import constraints
from .conv import (
    _F,
    _conv_options,
    _pair,
    channel_axis,
    check_channels,
    check_ndim,
    check_ndim4,
    from_channels_first,
    spatial_dims,
    to_channels_first,
    with_spatial,
)
from .conv1d import _single, grouped_conv_options
from .layer import Layer


def transpose_pads(layer, i):
    """(before, after) amounts to pad (> 0, zeros) or crop (< 0) the full transposed convolution of
    ``layer`` (Conv2DTranspose, Conv3DTranspose) along spatial axis i: Keras's JAX-style
    (left_pad, right_pad), as its torch backend applies them."""
    op = None if layer.output_padding is None else layer.output_padding[i]
    return _transpose_pads(layer.padding, layer.kernel_size[i], layer.strides[i], op)


def _transpose_pads(padding, k, s, op):
    if padding == "valid":
        left, right = k - 1, k - 1 + (max(k, s) - k if op is None else op)
    else:
        pad_len = s + k - 2 if op is None else k + k % 2 - 2 + op
        left = min(pad_len // 2 + pad_len % 2, k - 1)
        right = pad_len - left
    return left - (k - 1), right - (k - 1)


def padded_transpose(op, x, kernel, bias, pads, **kw):
    """``op`` (``F.conv_transpose1d/2d/3d``) of ``x``, then the pads (> 0) or crops (< 0) of Keras's
    padding, in F.pad's order; the bias goes after them, so that a padded border gets it too."""
    if not any(pads):
        return op(x, kernel, bias, **kw)
    y = _F().pad(op(x, kernel, None, **kw), pads)
    return y if bias is None else y + bias.reshape(1, -1, *(1,) * (y.ndim - 2))


class Conv2DTranspose(Layer):
    """Transposed 2-D convolution ("deconvolution") of (N, H, W, C) images ((N, C, H, W) with
    ``data_format='channels_first'``; the kernel is (kh, kw, filters, in) either way).

    Args:
        filters: output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: ``'valid'`` (output in * stride + max(kernel - stride, 0): zeros, then the bias,
            after the full transposed convolution when the kernel is smaller than the stride)
            or ``'same'`` (in * stride).
        activation, use_bias, kernel_initializer, bias_initializer: as Conv2D.
        output_padding: extra rows / columns, placed as Keras's backends place them; None: the
            sizes above.
        dilation_rate: 1 only.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        _conv_options(self, filters, kernel_size, strides, padding, data_format, activation, use_bias,
                      kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        self.output_padding = None if output_padding is None else _pair(output_padding, "output_padding")
        if _pair(dilation_rate, "dilation_rate") != (1, 1):
            raise NotImplementedError("nerve.keras Conv2DTranspose supports dilation_rate=1 only")

    def build(self, input_shape):
        check_ndim4(self, input_shape)
        shape = self.kernel_size + (self.filters, input_shape[channel_axis(self)])
        self.kernel = self.add_weight(shape, self.kernel_initializer, name="kernel",
                                      constraint=self.kernel_constraint, regularizer=self.kernel_regularizer,
                                      perm=(3, 2, 0, 1))
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None
        self.built = True

    def _pads(self, i):
        return transpose_pads(self, i)

    def _size(self, n, i):
        if n is None:
            return None
        return (n - 1) * self.strides[i] + self.kernel_size[i] + sum(self._pads(i))

    def call(self, inputs):
        F = _F()
        check_ndim4(self, inputs.shape)
        check_channels(self, inputs.shape, self.kernel.shape[3])  # the kernel's (kh, kw, filters, in)
        x = to_channels_first(self, inputs)
        bias = self.bias.value if self.bias is not None else None
        pads = self._pads(1) + self._pads(0)  # F.pad's order: the last axis first
        y = padded_transpose(F.conv_transpose2d, x, self.kernel.value, bias, pads, stride=self.strides)
        return self.activation(from_channels_first(self, y))

    def compute_output_shape(self, input_shape):
        h, w = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (self._size(h, 0), self._size(w, 1)), self.filters)


class Conv1DTranspose(Layer):
    """Transposed 1-D convolution of (N, steps, C) sequences ((N, C, steps) with
    ``data_format='channels_first'``); the kernel is (k, filters, in) either way, as Keras's.

    Args:
        filters: output channels.
        kernel_size, strides: int (or a 1-tuple).
        padding: ``'valid'`` (output (steps - 1) * stride + max(kernel, stride)) or ``'same'``
            (steps * stride).
        output_padding: extra steps, placed as Keras's backends place them; None: the sizes above.
        dilation_rate: the kernel's taps this many steps apart.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer: as Conv1D.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        grouped_conv_options(self, "Conv1DTranspose", _single, filters, kernel_size, strides, padding,
                             ("valid", "same"), data_format, dilation_rate, 1, activation, use_bias,
                             kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer)
        self.output_padding = None if output_padding is None else _single(output_padding, "output_padding")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                             f"strides={(self.strides,)} and dilation_rate={(self.dilation_rate,)}")

    def build(self, input_shape):
        check_ndim(self, input_shape, 3)
        self._channels = input_shape[channel_axis(self)]
        self.kernel = self.add_weight((self.kernel_size, self.filters, self._channels), self.kernel_initializer,
                                      name="kernel", constraint=self.kernel_constraint,
                                      regularizer=self.kernel_regularizer, perm=(2, 1, 0))
        self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                    constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def _span(self):
        """The dilated kernel's extent: (k - 1) * dilation + 1 steps."""
        return (self.kernel_size - 1) * self.dilation_rate + 1

    def _pads(self):
        return _transpose_pads(self.padding, self._span(), self.strides, self.output_padding)

    def call(self, inputs):
        F = _F()
        check_ndim(self, inputs.shape, 3)
        check_channels(self, inputs.shape, self._channels)
        x = to_channels_first(self, inputs)
        bias = self.bias.value if self.bias is not None else None
        y = padded_transpose(F.conv_transpose1d, x, self.kernel.value, bias, self._pads(), stride=self.strides,
                             dilation=self.dilation_rate)
        return self.activation(from_channels_first(self, y))

    def compute_output_shape(self, input_shape):
        (steps,) = spatial_dims(self, input_shape)
        if steps is not None:
            steps = (steps - 1) * self.strides + self._span() + sum(self._pads())
        return with_spatial(self, input_shape[0], (steps,), self.filters)


Convolution2DTranspose = Conv2DTranspose
Convolution1DTranspose = Conv1DTranspose
