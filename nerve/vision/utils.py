"""``make_grid`` and ``save_image``, as ``torchvision.utils``: a batch of images as one picture.

The VAE and DCGAN examples of PyTorch write their samples with ``save_image``; these follow
torchvision's layout (``nrow`` images a row, ``padding`` pixels of ``pad_value`` between and
around them, one-channel images repeated into three) and its rounding.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..backend import to_numpy
from ..functions import stack
from ..tensor import Tensor

__all__ = ["make_grid", "save_image"]


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False, value_range=None,
              scale_each: bool = False, pad_value: float = 0.0) -> Tensor:
    """Lay out a batch of images (B, C, H, W) (or a list of (C, H, W) tensors) as one (C, H', W') image.

    Args:
        tensor: a 4-D batch, a 3-D image, a 2-D (H, W) image, or a list of same-sized images.
        nrow: images per row of the grid.
        padding: pixels between the images and around them.
        normalize: shift and scale to [0, 1]: by ``value_range`` (min, max), else by the
            images' own min and max (each image's own with ``scale_each``).
        pad_value: the value of the padding.

    One-channel images become three-channel; a batch of one is returned as that image (no padding).
    """
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, Tensor):
                raise TypeError(f"tensor or list of tensors expected, got a list containing {type(t)}")
        tensor = stack(tensor, 0)
    elif not isinstance(tensor, Tensor):
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    xp = tensor._device.xp
    x = tensor.detach()._data
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"make_grid expects (B, C, H, W), (C, H, W) or (H, W) images, got shape {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = xp.concatenate((x, x, x), axis=1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

        def scaled(a):
            low, high = value_range if value_range is not None else (float(a.min()), float(a.max()))
            return (xp.clip(a, low, high) - low) / max(high - low, 1e-5)

        x = xp.stack([scaled(img) for img in x]) if scale_each else scaled(x)
    if x.shape[0] == 1:
        return Tensor._make(xp.ascontiguousarray(x[0]), tensor._device)
    n, channels = x.shape[0], x.shape[1]
    cols = min(nrow, n)
    rows = int(math.ceil(n / cols))
    h, w = x.shape[2] + padding, x.shape[3] + padding
    grid = xp.full((channels, h * rows + padding, w * cols + padding), pad_value, dtype=x.dtype)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[:, r * h + padding:(r + 1) * h, c * w + padding:(c + 1) * w] = x[k]
    return Tensor._make(grid, tensor._device)


def save_image(tensor, fp, format: str | None = None, **kwargs) -> None:
    """Write ``make_grid(tensor, **kwargs)`` (values in [0, 1]) to an image file (PNG, JPEG, ... by its name).

    Each value becomes ``clamp(value * 255 + 0.5, 0, 255)`` truncated to 8 bits, as torchvision rounds.
    """
    grid = to_numpy(make_grid(tensor, **kwargs)._data)
    arr = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(arr).save(fp, format=format)
