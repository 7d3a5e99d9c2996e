"""``nerve.backends``: the switches PyTorch scripts set at start-up (as ``torch.backends``).

nerve's kernels are NumPy's (and CuPy's on the GPU): there is no cuDNN autotuner to turn off
and no Apple MPS device. The flags are kept so that the usual determinism and device-picking
lines run unchanged; nerve's results do not depend on them (its CPU ops are deterministic).
"""

from __future__ import annotations

from types import SimpleNamespace

from . import cuda as _cuda


class _CuDNN:
    """``torch.backends.cudnn``: ``enabled``, ``benchmark`` and ``deterministic``, kept as set."""

    def __init__(self):
        self.enabled = True
        self.benchmark = False
        self.deterministic = False
        self.allow_tf32 = True

    @staticmethod
    def is_available() -> bool:
        """True when a CUDA GPU is usable (CuPy uses the GPU's own libraries)."""
        return _cuda.is_available()


cudnn = _CuDNN()

# Apple's Metal device: not supported by nerve, so never available
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)

cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False), is_built=lambda: True)
