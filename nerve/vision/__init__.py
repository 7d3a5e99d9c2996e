"""Vision data, as ``torchvision``: ``datasets`` (MNIST, FashionMNIST, ImageFolder), ``transforms``,
and small image I/O helpers (``read_image``, ``decode_image``)."""

from . import datasets, transforms
from .io import decode_image, read_image

__all__ = ["datasets", "decode_image", "read_image", "transforms"]
