"""``keras.random``: seeded samplers (``normal``, ``uniform``, ``randint``, ``shuffle``, ``dropout``).

``seed`` may be an int (a fresh stream from that seed, so equal seeds give equal draws, as in
Keras) or a ``SeedGenerator``; without one, draws come from nerve's global generator, which
``keras.utils.set_random_seed`` seeds.
"""

from __future__ import annotations

import nerve
from nerve.random import _integers, _normal, _permutation, _uniform

from . import backend


class SeedGenerator:
    """A stream of random draws: pass it as ``seed=`` to get a different sample each call."""

    def __init__(self, seed=None, name=None, **kwargs):
        self.generator = nerve.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)


def _gen(seed):
    if seed is None:
        return None
    if isinstance(seed, SeedGenerator):
        return seed.generator
    return nerve.Generator().manual_seed(int(seed))


def _wrap(arr):
    return nerve.Tensor._make(arr, backend.device())


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from N(mean, stddev²)."""
    return _wrap(_normal(_shape(shape), mean, stddev, backend.standardize_dtype(dtype), backend.device(), _gen(seed)))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples from U[minval, maxval)."""
    return _wrap(_uniform(_shape(shape), minval, maxval, backend.standardize_dtype(dtype), backend.device(),
                          _gen(seed)))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    from .initializers import TruncatedNormal

    init = TruncatedNormal(mean, stddev, seed=seed if isinstance(seed, int) else None)
    import numpy as np

    return _wrap(nerve.backend.move(np.asarray(init(_shape(shape), backend.standardize_dtype(dtype))), backend.device()))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval)."""
    arr = _integers(minval, maxval, _shape(shape), backend.device(), _gen(seed))
    return _wrap(arr.astype(backend.standardize_dtype(dtype)))


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a random order."""
    from .ops import convert_to_tensor

    t = convert_to_tensor(x)
    perm = _permutation(t.shape[axis], backend.device(), _gen(seed))
    return t.index_select(axis, nerve.Tensor._make(perm, backend.device()))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero entries with probability ``rate``, scale the rest by 1/(1-rate)."""
    from .ops import convert_to_tensor

    t = convert_to_tensor(inputs)
    keep = _uniform(tuple(t.shape), 0.0, 1.0, "float32", t.device, _gen(seed)) >= rate
    return t * _wrap(keep.astype(t._data.dtype)) * (1.0 / (1.0 - rate))
