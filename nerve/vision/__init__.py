"""Vision data, as ``torchvision``: ``datasets`` (MNIST, FashionMNIST, ImageFolder), ``transforms``,
small image I/O helpers (``read_image``, ``decode_image``) and ``utils`` (``make_grid``, ``save_image``)."""

from . import datasets, transforms, utils
from .io import decode_image, read_image

__all__ = ["datasets", "decode_image", "read_image", "transforms", "utils"]
