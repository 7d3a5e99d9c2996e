"""``EinsumDense``: a dense layer whose product is an einsum equation (``"abc,cd->abd"``).

As Keras's: the kernel's shape comes from the equation, the input shape and ``output_shape``
(the output's dims past the batch and any ``...``); ``bias_axes`` names the output letters the
bias spans. The layer holds its weights and calls ``nerve.einsum``; the shape rules and their
errors are Keras's ``_analyze_einsum_string``. LoRA and quantization are not provided.
"""

from __future__ import annotations

import copy
import re

import nerve

from .. import activations, constraints, initializers
from .layer import Layer, in_symbolic_call


class EinsumDense(Layer):
    """``activation(einsum(equation, x, kernel) + bias)``.

    Args:
        equation: ``"ab,bc->ac"``, ``"...ab,bc->...ac"`` or ``"ab...,bc->ac..."`` style.
        output_shape: the output's shape past the batch dim and any ``...`` (an int for one dim);
            ``None`` for a dim the input gives.
        activation: a name or a function; None is linear.
        bias_axes: the output letters that get a bias (None: no bias).
        kernel_initializer, bias_initializer: Keras initializers (glorot_uniform, zeros).
        kernel_regularizer, bias_regularizer, activity_regularizer: penalties added to the loss
            (the activity's on the output, divided by the batch size).
    Constraints, LoRA and quantization are refused (NotImplementedError).
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        if lora_rank is not None:
            raise NotImplementedError("EinsumDense(lora_rank=...): LoRA is not supported in nerve.keras; "
                                      "leave lora_rank=None.")
        if quantization_config is not None:
            raise NotImplementedError("EinsumDense(quantization_config=...): quantization is not supported in "
                                      "nerve.keras; leave quantization_config=None.")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint, self.bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        self.equation = equation
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape):
        kernel_shape, bias_shape, full_output_shape, input_axes, output_axes = _analyze_einsum_string(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        self.full_output_shape = tuple(full_output_shape)
        self._input_ndim = len(input_shape)  # Keras's InputSpec(ndim=...)
        init = initializers.get(self.kernel_initializer)
        if isinstance(init, initializers.VarianceScaling) and (init.input_axes is None or init.output_axes is None):
            # as Keras's: glorot/he/lecun take their fans from the kernel's input and output letters
            init = copy.copy(init)
            init.input_axes, init.output_axes = input_axes, output_axes
        self.kernel = self.add_weight(kernel_shape, init, name="kernel",
                                      constraint=self.kernel_constraint, regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(bias_shape, self.bias_initializer, name="bias", constraint=self.bias_constraint,
                                    regularizer=self.bias_regularizer) if bias_shape is not None else None

    def call(self, inputs):
        if inputs.ndim != self._input_ndim:
            raise ValueError(f"Input 0 with name 'None' of layer '{self.name}' is incompatible with the layer: "
                             f"expected ndim={self._input_ndim}, found ndim={inputs.ndim}. Full shape received: "
                             f"{tuple(inputs.shape) if not in_symbolic_call() else (None, *inputs.shape[1:])}")
        y = nerve.einsum(self.equation, inputs, self.kernel.value)
        if self.bias is not None:
            y = y + self.bias.value
        y = self.activation(y)
        return y

    def compute_output_shape(self, input_shape):
        # Keras's: the shape worked out from the equation, where output_shape's None dims stay unknown
        # though the input gives them ("abc,cd->abd", output_shape=(None, 64) on (None, 32, 128) gives
        # (None, None, 64)); no need to build the layer
        return tuple(_analyze_einsum_string(self.equation, self.bias_axes, input_shape, self.partial_output_shape)[2])

    def _symbolic_call(self, inputs, args, kwargs):
        outputs = super()._symbolic_call(inputs, args, kwargs)
        outputs.shape = outputs.shape[:1] + self.compute_output_shape(inputs.shape)[1:]
        return outputs

    def get_config(self) -> dict:
        config = super().get_config()
        config["output_shape"] = self.partial_output_shape  # as Keras's: a tuple, even for an int
        for key in ("lora_rank", "lora_alpha"):  # Keras writes them only when LoRA is on
            config.pop(key, None)
        return config


def _analyze_einsum_string(equation, bias_axes, input_shape, output_shape):
    """``(kernel_shape, bias_shape or None, full_output_shape, input_axes, output_axes)`` (the kernel's
    axes that take the input's letters and the output's) for ``equation``, as Keras works them
    out (with its errors); ``...`` may stand on the left of the input and output or on their right."""
    dotted = re.sub(r"\.\.\.", "0", equation)
    forms = (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False),
             ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
             ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False))
    for pattern, left_elided in forms:
        split = re.match(pattern, dotted)
        if split:
            return _analyze_split_string(split, bias_axes, input_shape, output_shape, left_elided)
    raise ValueError(
        f"Invalid einsum equation '{equation}'. Equations must be in the form "
        "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...."
    )


def _analyze_split_string(split, bias_axes, input_shape, output_shape, left_elided):
    input_spec, weight_spec, output_spec = split.group(1), split.group(2), split.group(3)
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    output_shape = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    # the full output shape: the batch dim, then the elided dims where the `...` stands
    output_shape.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        output_shape[1:1] = input_shape[1:elided]
    elif elided > 0:
        output_shape.extend(input_shape[len(input_shape) - elided:])

    if left_elided:  # input letters count from the end; the output's past the elided dims
        input_dim_map = {dim: i + elided - len(input_shape) for i, dim in enumerate(input_spec)}
        output_dim_map = {dim: i + elided for i, dim in enumerate(output_spec)}
    else:
        input_dim_map = {dim: i for i, dim in enumerate(input_spec)}
        output_dim_map = {dim: i for i, dim in enumerate(output_spec)}

    for dim in input_spec:
        size = input_shape[input_dim_map[dim]]
        if dim in output_dim_map:
            out = output_shape[output_dim_map[dim]]
            if out is not None and out != size:
                raise ValueError(
                    f"Input shape and output shape do not match at shared dimension '{dim}'. "
                    f"Input shape is {size}, and output shape is {out}."
                )
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            # Keras's message names the output spec where it means the weight spec; kept as Keras's
            raise ValueError(
                f"Dimension '{dim}' was specified in the output '{output_spec}' but has no corresponding "
                f"dim in the input spec '{input_spec}' or weight spec '{output_spec}'"
            )

    weight_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_dim_map:
            weight_shape.append(output_shape[output_dim_map[dim]])
            output_axes.append(i)
        elif dim in input_dim_map:
            weight_shape.append(input_shape[input_dim_map[dim]])
            input_axes.append(i)
        else:
            raise ValueError(
                f"Weight dimension '{dim}' did not have a match in either the input spec '{input_spec}' "
                f"or the output spec '{output_spec}'. For this layer, the weight must be fully specified."
            )

    bias_shape = None
    if bias_axes is not None:
        offset = elided if left_elided else 0
        sizes = {char: output_shape[i + offset] for i, char in enumerate(output_spec)}
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(
                    f"Bias dimension '{char}' was requested, but is not part of the output spec '{output_spec}'"
                )
        # the bias spans the output from its first biased letter on (ones where no bias), so it
        # broadcasts against the output's trailing dims
        first = min(output_spec.find(char) for char in bias_axes)
        bias_shape = [sizes[char] if char in bias_axes else 1 for char in output_spec[first:]]
        if not left_elided:
            bias_shape.extend([1] * max(elided, 0))
    return weight_shape, bias_shape, output_shape, input_axes, output_axes
