"""nerve: a small neural-network framework with PyTorch's and Keras's APIs, on NumPy and CuPy.

``import nerve as torch`` is meant to be all a PyTorch script changes; ``from nerve import
keras`` all a Keras script changes. Submodules (``nn``, ``optim``, ``utils``, ``vision``,
``keras``) load on first use so that ``import nerve`` stays about as fast as ``import numpy``.
"""

from __future__ import annotations

import builtins as _builtins
import importlib as _importlib

from . import accelerator, backends, cuda
from .autograd import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from .backend import device
from .creation import (
    arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full, full_like, get_default_device,
    linspace, logspace, multinomial, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn,
    randn_like, randperm, set_default_device, tensor, zeros, zeros_like,
)
from .dtypes import (
    bool_ as bool, can_cast, channels_last, channels_last_3d, contiguous_format, dtype, finfo, float16, float32,
    float64, get_default_dtype, iinfo, int8, int16, int32, int64, memory_format, preserve_format, set_default_dtype,
    uint8,
)
from .functions import *  # noqa: F401,F403  (elementwise, reduction and shape functions)
from .functions import (
    allclose, cat, chunk, clamp, clip, concat, concatenate, cumsum, einsum, flatten, gather, hstack,
    is_tensor, matmul, max, maximum, min, minimum, numel, outer, split, stack, vstack, where,
)
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .tensor import Size, Tensor

# the API-surface work: more of torch's names (nn.functional's torch.X aliases load lazily, below)
from ._tensor_str import set_printoptions
from .creation import asarray, scalar_tensor
from .dtypes import promote_types

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

_LAZY = {"nn", "optim", "utils", "vision", "keras", "cli", "bench", "serialization", "amp", "testing", "special", "jit", "onnx",
         "distributions"}


# torch.X names of nn.functional's functions (torch.conv2d, torch.dropout, ...): nerve/_nn_aliases.py
_NN_ALIASES = frozenset((
    "conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d max_pool1d max_pool2d max_pool3d "
    "avg_pool1d adaptive_avg_pool1d "
    "adaptive_max_pool1d dropout embedding layer_norm group_norm batch_norm instance_norm pixel_shuffle "
    "pixel_unshuffle prelu selu celu threshold kl_div binary_cross_entropy_with_logits bilinear rms_norm "
    "channel_shuffle cosine_embedding_loss margin_ranking_loss hinge_embedding_loss triplet_margin_loss "
    "poisson_nll_loss cosine_similarity pairwise_distance pdist hardshrink"
).split())


def __getattr__(name):
    if name in _LAZY:
        return _importlib.import_module(f"nerve.{name}")
    if name in ("save", "load"):
        return getattr(_importlib.import_module("nerve.serialization"), name)
    if name in ("autocast", "is_autocast_enabled"):
        return getattr(_importlib.import_module("nerve.amp"), name)
    if name in _NN_ALIASES:
        fn = globals()[name] = getattr(_importlib.import_module("nerve._nn_aliases"), name)
        return fn
    if name in ("linalg", "svd", "qr", "cholesky", "pinverse", "matrix_exp"):  # nerve/linalg.py, and torch's
        linalg = _importlib.import_module("nerve.linalg")  # top-level names that live there
        return linalg if name == "linalg" else linalg.TOP_LEVEL[name]
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


def compile(model=None, **options):  # noqa: A001  (PyTorch's name)
    """``torch.compile``: nerve has no compiler, so the model or function comes back as it is
    (not wrapped, so its ``state_dict`` keys stay the same). Used bare or as ``@compile(...)``."""
    if model is None:
        return lambda fn: fn
    return model


_matmul_precision = "highest"


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted for PyTorch scripts; nerve's float32 products always run in full float32."""
    global _matmul_precision
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"{precision!r} is not one of 'highest', 'high', or 'medium'")
    _matmul_precision = precision


def get_float32_matmul_precision() -> str:
    return _matmul_precision


_deterministic = {"mode": False, "warn_only": False}
_interop_threads = [None]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Ask for deterministic algorithms, as ``torch.use_deterministic_algorithms``. nerve's ops are
    deterministic on the CPU whatever the flag; it is kept for ``are_deterministic_algorithms_enabled``."""
    if not isinstance(mode, _builtins.bool):
        raise TypeError(f"use_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    _deterministic.update(mode=mode, warn_only=_builtins.bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic["mode"] and _deterministic["warn_only"]


def set_flush_denormal(mode: bool) -> bool:
    """Flushing denormal floats to zero is not supported by nerve (NumPy has no switch for it): returns
    False, as ``torch.set_flush_denormal`` does where the CPU cannot."""
    return False


def get_num_interop_threads() -> int:
    """The threads for running independent ops in parallel (nerve runs ops one at a time; the number
    set with ``set_num_interop_threads`` is kept)."""
    import os

    return _interop_threads[0] or os.cpu_count() or 1


def set_num_interop_threads(n: int) -> None:
    if n <= 0:
        raise RuntimeError("Expected positive number of threads")
    _interop_threads[0] = n
