"""Reading image files: ``read_image`` (as ``torchvision.io``) and ``load_image`` (a PIL image).

An unreadable or truncated image is an ``OSError`` that names the file.
"""

from __future__ import annotations

import io
import os
from enum import Enum

import numpy as np
from PIL import Image

from ..backend import CPU
from ..tensor import Tensor

__all__ = ["ImageReadMode", "decode_image", "load_image", "read_image"]


class ImageReadMode(Enum):
    """Channels to read: as the file has them, grayscale, grayscale+alpha, RGB or RGBA."""

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4


_PIL_MODE = {ImageReadMode.GRAY: "L", ImageReadMode.GRAY_ALPHA: "LA", ImageReadMode.RGB: "RGB",
             ImageReadMode.RGB_ALPHA: "RGBA"}


def load_image(path, mode: str | None = "RGB") -> Image.Image:
    """Open and fully decode an image file with Pillow, converted to ``mode`` (None: unchanged).

    Raises:
        OSError: naming ``path`` when the file is missing, not an image, or truncated.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            img = Image.open(f)
            img.load()
    except FileNotFoundError:
        raise
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        raise OSError(f"cannot read image file {path!r}: {e}") from e
    if mode is not None and img.mode != mode:
        if mode == "RGB" and img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        img = img.convert(mode)
    return img


def _to_chw(img: Image.Image) -> Tensor:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return Tensor._make(np.ascontiguousarray(arr.transpose(2, 0, 1)), CPU)


def read_image(path, mode: ImageReadMode = ImageReadMode.UNCHANGED) -> Tensor:
    """An image file as a uint8 CHW tensor."""
    img = load_image(path, None)
    if mode is not ImageReadMode.UNCHANGED:
        img = img.convert(_PIL_MODE[mode])
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
    return _to_chw(img)


def decode_image(data, mode: ImageReadMode = ImageReadMode.UNCHANGED) -> Tensor:
    """Encoded image bytes (a uint8 tensor or ``bytes``) as a uint8 CHW tensor."""
    raw = bytes(np.asarray(data, dtype=np.uint8)) if not isinstance(data, (bytes, bytearray)) else bytes(data)
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except Exception as e:
        raise OSError(f"cannot decode image: {e}") from e
    if mode is not ImageReadMode.UNCHANGED:
        img = img.convert(_PIL_MODE[mode])
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGB")
    return _to_chw(img)
