"""``torch.backends.cudnn``: ``enabled``, ``benchmark`` and ``deterministic``, kept as set."""

from __future__ import annotations

from .. import cuda as _cuda

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """True when a CUDA GPU is usable (CuPy uses the GPU's own libraries)."""
    return _cuda.is_available()
