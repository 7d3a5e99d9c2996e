"""Core layers: ``Dense``, ``Activation``, ``Flatten``, ``Reshape``, ``Dropout``, ``Rescaling``,
``Softmax``, ``ReLU``, ``LeakyReLU``, ``Embedding``, ``Identity``, ``Masking``, ``Lambda``.

Each holds its weights and calls nerve's functional ops; shapes and defaults are Keras's
(a Dense kernel is (in, out), glorot_uniform; the bias zeros). Masks as Keras's: Embedding
(``mask_zero=True``) and Masking make one; the element-wise layers here (Dense, Activation,
Dropout, Rescaling, Softmax, ReLU, LeakyReLU, Identity) pass it on; Flatten and Reshape drop it.
"""

from __future__ import annotations

import inspect
import math

import nerve
import nerve.nn.functional as _functional
from nerve.tensor import Tensor

from .. import activations, constraints
from .conv import set_data_format
from .layer import KerasTensor, Layer, Node, map_structure, set_keras_mask


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

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, quantization_config=None, **kwargs):
        # (Keras's get_config writes quantization_config=None: its configs build this layer too)
        if lora_rank is not None or quantization_config is not None:
            raise NotImplementedError("Dense(lora_rank=... / quantization_config=...): LoRA and quantization are "
                                      "not supported in nerve.keras; leave them None.")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape):
        # Keras's (in, out) kernel, kept as the (out, in) weight F.linear takes (see Variable).
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer, name="kernel",
                                      constraint=self.kernel_constraint,
                                      regularizer=self.kernel_regularizer, perm=(1, 0))
        self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias", constraint=self.bias_constraint,
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

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)


class Flatten(Layer):
    """Flatten every axis but the batch axis (in channels-last order, as Keras: with
    ``data_format='channels_first'`` the channels move last first)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.movedim(1, -1)
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

    supports_masking = True

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

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        y = inputs * self.scale
        return y + self.offset if self.offset else y


class Softmax(Layer):
    """Softmax over ``axis``; with a ``mask`` (broadcastable to the inputs), masked positions get
    probability 0 (Keras's: their inputs become a large negative number, their outputs 0)."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is None:
            return activations.softmax(inputs, axis=self.axis)
        if mask.ndim > inputs.ndim or any(m != 1 and m != i for m, i in zip(mask.shape[::-1], inputs.shape[::-1])):
            raise ValueError(f"The `mask` must be broadcastable to `inputs`. Received: inputs.shape="
                             f"{tuple(inputs.shape)}, mask.shape={tuple(mask.shape)}")
        big = -1e9 if inputs.dtype is nerve.float32 or inputs.dtype is nerve.float64 else -3e4
        x = nerve.where(mask, inputs, nerve.full((), big, dtype=inputs.dtype, device=inputs.device))
        out = activations.softmax(x, axis=self.axis)
        return nerve.where(mask, out, nerve.zeros((), dtype=out.dtype, device=out.device))


class ReLU(Layer):
    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)


class LeakyReLU(Layer):
    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs):
        return activations.leaky_relu(inputs, self.negative_slope)


class Identity(Layer):
    supports_masking = True

    def call(self, inputs):
        return inputs


class Embedding(Layer):
    """Look up rows of an (input_dim, output_dim) table by integer id."""

    _int_inputs = True
    supports_masking = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        self.mask_zero = mask_zero

    def build(self, input_shape):
        init = "random_uniform" if self.embeddings_initializer == "uniform" else self.embeddings_initializer
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), init, name="embeddings",
                                          constraint=self.embeddings_constraint,
                                          regularizer=self.embeddings_regularizer)

    def call(self, inputs):
        return _F().embedding(inputs, self.embeddings.value)

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero=True``, the steps whose id is 0 (padding) are masked: ``ids != 0``."""
        if not self.mask_zero:
            return None
        return inputs != 0


class Masking(Layer):
    """Mask the time steps whose features all equal ``mask_value``, and zero them.

    The mask, (batch, timesteps) True where any feature differs from ``mask_value``, goes to the
    layers after (recurrent layers skip the masked steps, GlobalAveragePooling1D leaves them out).
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def call(self, inputs):
        keep = (inputs != self.mask_value).any(dim=-1, keepdim=True)
        out = nerve.where(keep, inputs, nerve.zeros((), dtype=inputs.dtype, device=inputs.device))
        set_keras_mask(out, keep.squeeze(-1))
        return out

    def compute_mask(self, inputs, mask=None):
        return (inputs != self.mask_value).any(dim=-1)

    def compute_output_shape(self, input_shape):
        return input_shape


class Lambda(Layer):
    """Wrap a function of the input as a layer: ``Lambda(lambda x: x ** 2)``.

    The function gets the input as a nerve tensor (``keras.ops`` work on it), plus ``mask`` and
    ``training`` when its signature names them, and ``arguments`` as keyword arguments.

    Args:
        function: the function; its first argument is the input (a tensor, or a list of them).
        output_shape: the output's shape without the batch dim (a tuple, or a list of tuples for
            several outputs), or a function of the full input shape. By default it is found by
            running ``function`` once on a one-example batch of zeros.
        mask: None (the layer drops any mask, as Keras's), a function ``(inputs, mask) -> mask``,
            or a fixed mask tensor for the output.
        arguments: a dict of keyword arguments for ``function``.

    A Lambda layer holds code, so it cannot be written to nerve's ``.keras`` files (which hold no
    code); subclass ``Layer`` for a model to save.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"`function` should be a callable. Received: function={function}")
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._fn_expects_mask = "mask" in params
        self._fn_expects_training = "training" in params

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_expects_mask:
            kwargs["mask"] = mask
        if self._fn_expects_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        first = input_shape[0] if input_shape and isinstance(input_shape[0], (list, tuple)) else input_shape
        batch = first[0] if first else None
        shape = self._output_shape
        if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):
            return [(batch,) + tuple(s) for s in shape]
        return (batch,) + tuple(shape)

    def _symbolic_call(self, inputs, args, kwargs):
        if self._output_shape is None:
            return super()._symbolic_call(inputs, args, kwargs)
        # a declared output shape: the function does not run (as Keras's)
        shapes = self.compute_output_shape(map_structure(lambda kt: kt.shape, inputs))
        self.built = True
        if isinstance(shapes, list) and shapes and isinstance(shapes[0], (list, tuple)):
            outputs = [KerasTensor(s, self.dtype) for s in shapes]
        else:
            outputs = KerasTensor(shapes, self.dtype)
        Node(self, inputs, outputs, {k: v for k, v in kwargs.items() if k != "training"})
        return outputs

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "function": self.function,
                  "arguments": self.arguments}
        if self._output_shape is not None:
            config["output_shape"] = self._output_shape
        if self.mask is not None:
            config["mask"] = self.mask
        return config
