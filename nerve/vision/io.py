"""Reading image files: ``read_image`` (as ``torchvision.io``), ``load_image`` (a PIL image), and the
engines of Keras's ``load_img`` / ``img_to_array`` / ``array_to_img`` / ``save_img``.

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

__all__ = ["ImageReadMode", "array_to_img", "decode_image", "img_to_array", "load_image", "load_img", "read_image",
           "save_img"]


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


# ---------------------------------------------------------------- Keras's image helpers

_KERAS_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC, "hamming": Image.Resampling.HAMMING, "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}


def load_img(path, color_mode: str = "rgb", target_size=None, interpolation: str = "nearest",
             keep_aspect_ratio: bool = False) -> Image.Image:
    """A PIL image, as ``keras.utils.load_img``: ``color_mode`` rgb/rgba/grayscale, ``target_size=(h, w)``.

    ``keep_aspect_ratio`` centre-crops to the target's aspect ratio before resizing.
    """
    img = load_image(path, None)
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif color_mode == "rgb":
        if img.mode != "RGB":
            img = img.convert("RGB")
    else:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    if target_size is not None:
        wh = (target_size[1], target_size[0])
        if img.size != wh:
            if interpolation not in _KERAS_RESAMPLE:
                raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported methods are "
                                 + ", ".join(_KERAS_RESAMPLE))
            resample = _KERAS_RESAMPLE[interpolation]
            if keep_aspect_ratio:
                width, height = img.size
                tw, th = wh
                ch = min(height, (width * th) // tw)
                cw = min(width, (height * tw) // th)
                top, left = (height - ch) // 2, (width - cw) // 2
                img = img.resize(wh, resample, box=(left, top, left + cw, top + ch))
            else:
                img = img.resize(wh, resample)
    return img


def img_to_array(img, data_format: str | None = None, dtype=None) -> np.ndarray:
    """A PIL image as a float32 array (h, w, c) (``channels_first``: (c, h, w)), as ``keras.utils.img_to_array``."""
    data_format = data_format or "channels_last"
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(f"Unknown data_format: {data_format}")
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format: str | None = None, scale: bool = True, dtype=None) -> Image.Image:
    """A 3-D array as a PIL image, rescaled to 0-255 when ``scale`` (as ``keras.utils.array_to_img``)."""
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if (data_format or "channels_last") == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x = x / x_max
        x = x * 255
    c = x.shape[2]
    if c == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if c == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if c == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {c}")


def save_img(path, x, data_format: str | None = None, file_format: str | None = None, scale: bool = True, **kwargs):
    """Save an image array to a file (as ``keras.utils.save_img``)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format == "jpg" or file_format == "jpeg"
                               or str(path).lower().endswith((".jpg", ".jpeg"))):
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)
