"""Vision data, as ``torchvision``: ``datasets`` (MNIST, FashionMNIST, ImageFolder), ``transforms``,
small image I/O helpers (``read_image``, ``decode_image``), ``utils`` (``make_grid``, ``save_image``)
and ``models`` (the ResNets; loaded on first use, as it needs ``nerve.nn``)."""

import importlib as _importlib

from . import datasets, transforms, utils
from .io import decode_image, read_image

__all__ = ["datasets", "decode_image", "models", "read_image", "transforms", "utils"]


def __getattr__(name):
    if name == "models":
        return _importlib.import_module(f"{__name__}.models")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
