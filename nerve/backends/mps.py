"""``torch.backends.mps``: Apple's Metal device, not supported by nerve, so never available."""

from __future__ import annotations


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
