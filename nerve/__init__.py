"""nerve: a small neural-network framework with PyTorch's and Keras's APIs, on NumPy and CuPy.

``import nerve as torch`` is meant to be all a PyTorch script changes; ``from nerve import
keras`` all a Keras script changes. Submodules (``nn``, ``optim``, ``utils``, ``vision``,
``keras``) load on first use so that ``import nerve`` stays about as fast as ``import numpy``.
"""

from __future__ import annotations

import importlib as _importlib

from . import accelerator, backends, cuda
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import device
from .creation import (
    arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full, full_like, linspace,
    logspace, multinomial, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn,
    randn_like, randperm, tensor, zeros, zeros_like,
)
from .dtypes import (
    bool_ as bool, dtype, finfo, float16, float32, float64, get_default_dtype, iinfo, int8, int16, int32,
    int64, set_default_dtype, uint8,
)
from .functions import *  # noqa: F401,F403  (elementwise, reduction and shape functions)
from .functions import (
    allclose, cat, chunk, clamp, clip, concat, concatenate, cumsum, einsum, flatten, gather, hstack,
    is_tensor, matmul, max, maximum, min, minimum, numel, outer, split, stack, vstack, where,
)
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .tensor import Size, Tensor

__version__ = "0.1.0"

from . import _malloc  # noqa: E402

_malloc.tune()  # keep freed CPU memory for reuse (see nerve/_malloc.py; NERVE_MALLOC_TUNING=0 skips it)

float = float32  # noqa: A001  (PyTorch's aliases)
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
uint8 = uint8

_LAZY = {"nn", "optim", "utils", "vision", "keras", "cli", "bench", "serialization", "onnx"}


def __getattr__(name):
    if name in _LAZY:
        return _importlib.import_module(f"nerve.{name}")
    if name in ("save", "load"):
        return getattr(_importlib.import_module("nerve.serialization"), name)
    raise AttributeError(f"module 'nerve' has no attribute {name!r}")


def is_floating_point(t: Tensor) -> bool:
    return t.is_floating_point()


def set_num_threads(n: int) -> None:
    """Set the threads of NumPy's BLAS (matrix products), as ``torch.set_num_threads``."""
    from ._threads import set_num_threads as _set

    _set(n)


def get_num_threads() -> int:
    """The threads NumPy's BLAS uses."""
    from ._threads import get_num_threads as _get

    return _get()
