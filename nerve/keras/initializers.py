"""Keras's weight initializers (``glorot_uniform`` for kernels, ``zeros`` for biases, ...).

Fans follow Keras's layouts: a Dense kernel is (in, out), a Conv2D kernel (kh, kw, in, out), so
``fan_in = in * kh * kw``. Samples come from nerve's generator (or the initializer's own seed).
"""

from __future__ import annotations

import math

import numpy as np

import nerve
from nerve.random import _normal, _uniform

_CPU = nerve.device("cpu")


def _fans(shape, input_axes=None, output_axes=None):
    if input_axes is not None and output_axes is not None:  # named (an EinsumDense kernel's, as Keras's)
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``init(shape, dtype)`` returns a NumPy array."""

    def __init__(self, seed=None):
        self.seed = seed
        self._gen = nerve.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _uniform(self, shape, low, high, dtype):
        return _uniform(shape, low, high, dtype, _CPU, self._gen)

    def _truncated_normal(self, shape, stddev, dtype, mean=0.0):
        # Keras's truncated normal: draws beyond two standard deviations are drawn again.
        out = _normal(shape, 0.0, 1.0, "float64", _CPU, self._gen)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = _normal((int(bad.sum()),), 0.0, 1.0, "float64", _CPU, self._gen)
            bad = np.abs(out) > 2
        return (out * stddev + mean).astype(dtype)


class Zeros(Initializer):
    def __init__(self):
        super().__init__()

    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __init__(self):
        super().__init__()

    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return self._uniform(shape, self.minval, self.maxval, dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        return _normal(shape, self.mean, self.stddev, dtype, _CPU, self._gen)


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        return self._truncated_normal(shape, self.stddev, dtype, self.mean)


class VarianceScaling(Initializer):
    """Keras's family behind glorot/he/lecun: ``scale / fan`` variance, normal or uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        super().__init__(seed)
        self.scale, self.mode, self.distribution = scale, mode, distribution
        # the kernel's axes that count as its inputs and its outputs (else the Dense/conv layouts' rule)
        self.input_axes, self.output_axes = input_axes, output_axes

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = _fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return self._uniform(shape, -limit, limit, dtype)
        if self.distribution == "untruncated_normal":
            return _normal(shape, 0.0, math.sqrt(var), dtype, _CPU, self._gen)
        return self._truncated_normal(shape, math.sqrt(var) / 0.87962566103423978, dtype)


def _family(name, scale, mode, distribution):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _family("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _family("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _family("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _family("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _family("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _family("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """A (scaled) random orthogonal matrix, as Keras's ``orthogonal`` (recurrent kernels' default).

    The shape is flattened to (prod(shape[:-1]), shape[-1]); Q of the QR of a normal matrix,
    its columns' signs fixed by R's diagonal, transposed when there are fewer rows than columns.
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = _normal((max(rows, cols), min(rows, cols)), 0.0, 1.0, "float64", _CPU, self._gen)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "uniform": RandomUniform, "normal": RandomNormal,
}


def get(identifier):
    """An initializer from a name (``'glorot_uniform'``), a class, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else identifier.lower()
        for cls in _BY_NAME.values():
            if cls.__name__ == identifier:
                return cls()
        if key not in _BY_NAME:
            raise ValueError(f"Could not interpret initializer identifier: {identifier!r}. "
                             f"Known: {', '.join(sorted(_BY_NAME))}")
        return _BY_NAME[key]()
    if isinstance(identifier, dict):
        name = identifier["class_name"]
        cls = _BY_NAME.get(name) or {c.__name__: c for c in _BY_NAME.values()}.get(name)
        if cls is None:
            raise ValueError(f"unknown initializer {name!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")


def serialize(init) -> dict | None:
    if init is None:
        return None
    if not isinstance(init, Initializer):
        raise TypeError(f"cannot save the custom initializer {init!r}: use a Keras initializer")
    return {"class_name": type(init).__name__, "config": init.get_config()}
