"""``nerve.backends``: the switches PyTorch scripts set at start-up (as ``torch.backends``).

nerve's kernels are NumPy's (and CuPy's on the GPU): there is no cuDNN autotuner to turn off
and no Apple MPS device. The flags are kept so that the usual determinism and device-picking
lines run unchanged; nerve's results do not depend on them (its CPU ops are deterministic).
``cudnn``, ``mps`` and ``cuda`` are modules, as torch's, so ``import torch.backends.cudnn as
cudnn`` has its counterpart.
"""

from __future__ import annotations

from . import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
