"""Utilities as in ``torch.utils``: ``nerve.utils.data`` (datasets, samplers, DataLoader).

Kept light: submodules load on first use, so ``import nerve.utils`` costs nothing.
"""

from __future__ import annotations

import importlib as _importlib

__all__ = ["data", "checkpoint", "tensorboard"]


def __getattr__(name):
    if name in __all__:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
