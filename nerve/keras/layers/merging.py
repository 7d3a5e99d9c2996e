"""Layers that join several inputs: ``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum``, and their functional forms (``layers.add([a, b])``, ...).

Masks as Keras's: the arithmetic merges keep the OR of their inputs' masks when every input has
one; Concatenate joins them.
"""

from __future__ import annotations

import nerve

from .layer import Layer


class _Merge(Layer):
    supports_masking = True

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"A merge layer should be called on a list of at least 2 inputs. Got: {inputs}")

    def compute_mask(self, inputs, mask=None):
        """Keras's: no mask unless every input has one, then their OR."""
        if mask is None or any(m is None for m in mask):
            return None
        out = mask[0]
        for m in mask[1:]:
            out = out | m
        return out


class Concatenate(_Merge):
    """Join a list of inputs along ``axis`` (the last by default)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        self._check(inputs)
        return nerve.cat(list(inputs), dim=self.axis)

    def compute_mask(self, inputs, mask=None):
        """Keras's: the inputs' masks (all True where one has none) joined, then any over the last axis."""
        if mask is None or all(m is None for m in mask):
            return None
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = nerve.ones(tuple(x.shape), dtype=nerve.bool, device=x.device)
            elif m.ndim < x.ndim:
                m = m.unsqueeze(-1).expand(*x.shape)
            masks.append(m)
        return nerve.cat(masks, dim=self.axis).any(dim=-1)


class Add(_Merge):
    """Sum of a list of inputs of one shape."""

    def call(self, inputs):
        self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    def call(self, inputs):
        if len(inputs) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs.")
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    def call(self, inputs):
        self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(_Merge):
    def call(self, inputs):
        self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out * (1.0 / len(inputs))


class Maximum(_Merge):
    """Elementwise maximum of a list of inputs."""

    def call(self, inputs):
        self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = nerve.maximum(out, x)
        return out


class Minimum(_Merge):
    """Elementwise minimum of a list of inputs."""

    def call(self, inputs):
        self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = nerve.minimum(out, x)
        return out


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis)`` applied to ``inputs``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """``Add()`` applied to ``inputs``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract()`` applied to ``inputs`` (two of them)."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply()`` applied to ``inputs``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average()`` applied to ``inputs``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum()`` applied to ``inputs``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum()`` applied to ``inputs``."""
    return Minimum(**kwargs)(inputs)
