"""Core layers: ``Dense``, ``Activation``, ``Flatten``, ``Reshape``, ``Dropout``, ``Rescaling``,
``Softmax``, ``ReLU``, ``LeakyReLU``, ``Embedding``, ``Identity``.

Each holds its weights and calls nerve's functional ops; shapes and defaults are Keras's
(a Dense kernel is (in, out), glorot_uniform; the bias zeros).
"""

from __future__ import annotations

import math

import nerve.nn.functional as _functional
from nerve.tensor import Tensor

from .. import activations
from .layer import Layer


def _F():
    return _functional


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis of ``x``.

    Args:
        units: output size.
        activation: a name (``'relu'``, ``'softmax'``) or a function; None is linear.
        use_bias: add a bias.
        kernel_initializer, bias_initializer: Keras initializers (glorot_uniform, zeros).
        kernel_regularizer, bias_regularizer: penalties added to the loss.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape):
        # Keras's (in, out) kernel, kept as the (out, in) weight F.linear takes (see Variable).
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, perm=(1, 0))
        self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        kernel = self.kernel.value
        if inputs._data.shape[-1] != kernel._data.shape[1]:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 of '
                f"input shape to have value {self.kernel.shape[0]}, but received input with shape "
                f"{tuple(inputs.shape)}"
            )
        y = _F().linear(inputs, kernel, self.bias.value if self.bias is not None else None)
        return self.activation(y)


class Activation(Layer):
    """Apply an activation function (by name or as a function)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)


class Flatten(Layer):
    """Flatten every axis but the batch axis (in channels-last order, as Keras)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)

    def call(self, inputs):
        arr = inputs._data
        if inputs.requires_grad or arr.ndim < 2:
            return inputs.reshape(arr.shape[0], -1)
        # the usual case, a batch straight from the data: a view, no graph to record
        return Tensor._make(arr.reshape(arr.shape[0], -1), inputs._device)


class Reshape(Layer):
    """Reshape each example to ``target_shape`` (may hold one -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, inputs):
        n = math.prod(inputs.shape[1:])
        want = math.prod(d for d in self.target_shape if d != -1)
        if (-1 not in self.target_shape and want != n) or (-1 in self.target_shape and n % max(want, 1)):
            raise ValueError(
                f"The total size of the tensor must be unchanged. Received: input_shape="
                f"{tuple(inputs.shape[1:])}, target_shape={self.target_shape}"
            )
        return inputs.reshape((inputs.shape[0],) + self.target_shape)


class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs while training (scaling the rest by 1/(1-rate))."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float value "
                             f"between 0 and 1. Received: rate={rate}")
        self.rate = float(rate)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        return _F().dropout(inputs, p=self.rate, training=True)


class Rescaling(Layer):
    """``x * scale + offset`` (e.g. ``Rescaling(1./255)`` for pixels)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        y = inputs * self.scale
        return y + self.offset if self.offset else y


class Softmax(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return activations.softmax(inputs, axis=self.axis)


class ReLU(Layer):
    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)


class LeakyReLU(Layer):
    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs):
        return activations.leaky_relu(inputs, self.negative_slope)


class Identity(Layer):
    def call(self, inputs):
        return inputs


class Embedding(Layer):
    """Look up rows of an (input_dim, output_dim) table by integer id."""

    _int_inputs = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        self.mask_zero = mask_zero

    def build(self, input_shape):
        init = "random_uniform" if self.embeddings_initializer == "uniform" else self.embeddings_initializer
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), init, name="embeddings",
                                          regularizer=self.embeddings_regularizer)

    def call(self, inputs):
        return _F().embedding(inputs, self.embeddings.value)
