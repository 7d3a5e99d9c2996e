"""Image transforms as functions, as ``torchvision.transforms.functional``.

Every function takes a PIL image, an HWC (or HW) NumPy array, or a CHW nerve tensor (with any
leading batch dimensions), and returns the same kind. Sizes and rounding follow torchvision's
documentation: ``resize`` with an int matches the shorter side (the longer one is
``int(size * long / short)``), ``center_crop`` starts at ``round((h - th) / 2)`` and pads with
zeros when the crop is larger than the image. Resampling is Pillow's (torchvision's PIL path,
which its antialiased tensor path is built to match).
"""

from __future__ import annotations

import math
import numbers
from enum import Enum
from typing import Sequence

import numpy as np
from PIL import Image

from ...backend import CPU, move
from ...tensor import Tensor

__all__ = [
    "InterpolationMode", "adjust_brightness", "affine", "adjust_contrast", "adjust_hue", "adjust_saturation", "center_crop", "convert_image_dtype", "crop",
    "adjust_gamma", "adjust_sharpness", "autocontrast", "equalize", "erase", "five_crop", "gaussian_blur", "invert", "perspective", "posterize",
    "solarize", "ten_crop",
    "get_dimensions", "get_image_num_channels", "get_image_size", "hflip", "normalize", "pad",
    "pil_to_tensor", "resize", "resized_crop", "rgb_to_grayscale", "rotate", "to_grayscale",
    "to_pil_image", "to_tensor", "vflip",
]


class InterpolationMode(Enum):
    """How to resample, as ``torchvision.transforms.InterpolationMode``."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_PIL_RESAMPLE = {
    InterpolationMode.NEAREST: Image.Resampling.NEAREST,
    InterpolationMode.NEAREST_EXACT: Image.Resampling.NEAREST,
    InterpolationMode.BILINEAR: Image.Resampling.BILINEAR,
    InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
    InterpolationMode.BOX: Image.Resampling.BOX,
    InterpolationMode.HAMMING: Image.Resampling.HAMMING,
    InterpolationMode.LANCZOS: Image.Resampling.LANCZOS,
}
_FROM_PIL_INT = {int(v): k for k, v in _PIL_RESAMPLE.items() if k is not InterpolationMode.NEAREST_EXACT}


def _interp(mode) -> InterpolationMode:
    if isinstance(mode, InterpolationMode):
        return mode
    if isinstance(mode, str):
        return InterpolationMode(mode.lower())
    if isinstance(mode, int) and mode in _FROM_PIL_INT:
        return _FROM_PIL_INT[mode]
    raise TypeError(f"interpolation should be an InterpolationMode, got {mode!r}")


# ---------------------------------------------------------------- kinds of images


def _is_pil(img) -> bool:
    return isinstance(img, Image.Image)


def _check(img) -> None:
    if _is_pil(img) or isinstance(img, Tensor):
        return
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"an image array should be HW or HWC, got {img.ndim} dimensions")
        return
    raise TypeError(f"img should be a PIL Image, an HWC NumPy array or a CHW Tensor. Got {type(img)}")


def get_dimensions(img) -> list[int]:
    """``[channels, height, width]`` of an image."""
    _check(img)
    if _is_pil(img):
        return [len(img.getbands()), img.height, img.width]
    if isinstance(img, Tensor):
        s = img.shape
        return [1 if len(s) == 2 else s[-3], s[-2], s[-1]]
    s = img.shape
    return [1 if img.ndim == 2 else s[2], s[0], s[1]]


def get_image_size(img) -> list[int]:
    """``[width, height]`` of an image."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img) -> int:
    return get_dimensions(img)[0]


def _hw(arr_ndim: int, is_tensor: bool) -> tuple[int, int]:
    """The axes of height and width: the last two in a tensor, the first two in an HWC array."""
    return (arr_ndim - 2, arr_ndim - 1) if is_tensor else (0, 1)


def _host(img):
    """(numpy array, is_tensor, device) for an array or tensor image."""
    if isinstance(img, Tensor):
        return move(img._data, CPU), True, img._device
    return img, False, None


def _back(arr, is_tensor, dev):
    if is_tensor:
        return Tensor._make(move(np.ascontiguousarray(arr), dev), dev)
    return arr


# ---------------------------------------------------------------- conversions


def to_tensor(pic) -> Tensor:
    """A PIL image or HWC array as a CHW float32 tensor, uint8 scaled to [0, 1] (``ToTensor``).

    Other dtypes (PIL modes ``I``, ``I;16``, ``F``; non-uint8 arrays) keep their values.
    """
    if isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
    elif _is_pil(pic):
        if pic.mode == "I;16":
            arr = np.array(pic, dtype=np.int16)
        elif pic.mode in ("I", "F"):
            arr = np.array(pic, dtype=np.int32 if pic.mode == "I" else np.float32)
        else:
            arr = np.asarray(pic, dtype=np.uint8)
            if pic.mode == "1":
                arr = arr * np.uint8(255)
        arr = arr.reshape(pic.height, pic.width, len(pic.getbands()))
    else:
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    chw = arr.transpose(2, 0, 1)
    if chw.dtype == np.uint8:
        out = np.empty(chw.shape, dtype=np.float32)
        np.divide(chw, np.float32(255), out=out, dtype=np.float32)
        return Tensor._make(out, CPU)
    return Tensor._make(np.ascontiguousarray(chw), CPU)


def _batch_to_tensor(batch: np.ndarray, scale: bool) -> Tensor:
    """(N, H, W) or (N, H, W, C) arrays as one (N, C, H, W) tensor, in one NumPy operation."""
    nchw = batch[:, None] if batch.ndim == 3 else batch.transpose(0, 3, 1, 2)
    if scale and nchw.dtype == np.uint8:
        out = np.empty(nchw.shape, dtype=np.float32)
        np.divide(nchw, np.float32(255), out=out, dtype=np.float32)
        return Tensor._make(out, CPU)
    return Tensor._make(np.ascontiguousarray(nchw), CPU)


def pil_to_tensor(pic) -> Tensor:
    """A PIL image as a CHW tensor of its own dtype (no scaling; mode ``'1'`` gives bool), as ``PILToTensor``."""
    if isinstance(pic, np.ndarray):
        arr = pic[:, :, None] if pic.ndim == 2 else pic
        return Tensor._make(np.ascontiguousarray(arr.transpose(2, 0, 1)), CPU)
    if not _is_pil(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = np.array(pic, dtype=np.int32 if pic.mode == "I" else (np.float32 if pic.mode == "F" else None))
    if arr.dtype == np.uint16:  # 16-bit modes: torchvision gives uint16, a dtype nerve lacks
        raise TypeError(f"PIL mode {pic.mode!r} gives uint16 pixels, which nerve has no dtype for; "
                        "convert the image to mode 'I' (int32) first")
    arr = arr.reshape(pic.height, pic.width, len(pic.getbands()))
    return Tensor._make(np.ascontiguousarray(arr.transpose(2, 0, 1)), CPU)


_CHANNEL_MODES = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}
_ONE_CHANNEL_MODE = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16", np.dtype(np.int32): "I",
                     np.dtype(np.float32): "F"}


def to_pil_image(pic, mode: str | None = None) -> Image.Image:
    """A CHW tensor or HWC array as a PIL image, as torchvision's ``to_pil_image``.

    Floats (tensor or array) are scaled by 255 to uint8 unless ``mode`` is ``'F'``. ``mode`` names
    how to read the channels (``'YCbCr'`` takes them as Y, Cb, Cr: nothing is converted) and must
    suit their number: 1 channel takes its dtype's mode, 2 ``LA``, 3 ``RGB``/``YCbCr``/``HSV``,
    4 ``RGBA``/``CMYK``/``RGBX``.
    """
    if isinstance(pic, Tensor):
        arr = move(pic._data, CPU)
        if arr.ndim == 3:
            arr = arr.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        arr = pic
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"pic should be 2/3 dimensional. Got {arr.ndim} dimensions.")
    c = arr.shape[2]
    if c > 4:
        raise ValueError(f"pic should not have > 4 channels. Got {c} channels.")
    if arr.dtype.kind == "f" and mode != "F":
        arr = (arr * 255).astype(np.uint8)
    if c == 1:
        arr = arr[:, :, 0]
        expected = _ONE_CHANNEL_MODE.get(arr.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"Incorrect mode ({mode}) supplied for input type {arr.dtype}. Should be {expected}")
        mode = expected
    else:
        if mode is not None and mode not in _CHANNEL_MODES[c]:
            raise ValueError(f"Only modes {_CHANNEL_MODES[c]} are supported for {c}D inputs")
        if mode is None and arr.dtype == np.uint8:
            mode = _CHANNEL_MODES[c][0]
    if mode is None:
        raise TypeError(f"Input type {arr.dtype} is not supported")
    # the bytes are read in ``mode`` (Pillow's raw decoder), as torchvision does: no conversion
    return Image.frombuffer(mode, (arr.shape[1], arr.shape[0]), np.ascontiguousarray(arr).tobytes(), "raw", mode, 0, 1)


def _max_value(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0


def convert_image_dtype(image: Tensor, dtype=None) -> Tensor:
    """Convert a tensor image to ``dtype``, rescaling values (ints 0..max <-> floats 0..1)."""
    from ... import dtypes as _dt

    if not isinstance(image, Tensor):
        raise TypeError("Input img should be Tensor Image")
    target = np.dtype(_dt.to_dtype(dtype if dtype is not None else _dt.float32).np)
    arr = image._data
    src = arr.dtype
    if src == target:
        return image
    xp = image._device.xp
    if src.kind == "f":
        if target.kind == "f":
            out = arr.astype(target)
        else:
            if (src == np.float32 and target in (np.int32, np.int64)) or (src == np.float64 and target == np.int64):
                raise RuntimeError(f"The cast from {image.dtype} to {_dt.from_numpy_dtype(target)} cannot be performed safely.")
            out = (arr * src.type(_max_value(target) + 1.0 - 1e-3)).astype(target)
    else:
        in_max = _max_value(src)
        if target.kind == "f":
            out = arr.astype(target) / target.type(in_max)
        else:
            out_max = _max_value(target)
            if in_max > out_max:
                out = xp.floor_divide(arr, int((in_max + 1) // (out_max + 1))).astype(target)
            else:
                out = arr.astype(target) * int((out_max + 1) // (in_max + 1))
    return Tensor._make(out, image._device)


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> Tensor:
    """``(tensor - mean) / std`` channel by channel, on a float tensor of shape (..., C, H, W)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(
            f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = {tensor.size()}"
        )
    arr = tensor._data
    xp = tensor._device.xp
    m = xp.asarray(np.asarray(mean, dtype=arr.dtype))
    s = xp.asarray(np.asarray(std, dtype=arr.dtype))
    if bool((s == 0).any()):
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
    if m.ndim == 1:
        m = m.reshape(-1, 1, 1)
    if s.ndim == 1:
        s = s.reshape(-1, 1, 1)
    if inplace:
        arr -= m
        arr /= s
        return tensor
    return Tensor._make((arr - m) / s, tensor._device)


# ---------------------------------------------------------------- geometry


def _resized_size(h: int, w: int, size, max_size) -> tuple[int, int]:
    """torchvision's ``_compute_resized_output_size``: (new_h, new_w)."""
    if isinstance(size, numbers.Number):
        size = [int(size)]
    size = list(size) if size is not None else None
    if size is None or len(size) == 1:
        short, long = (w, h) if w <= h else (h, w)
        if size is None:
            if max_size is None:
                raise ValueError("size can only be None if max_size is set")
            new_long = max_size
            new_short = int(max_size * short / long)
        else:
            requested = size[0]
            new_short, new_long = requested, int(requested * long / short)
            if max_size is not None:
                if max_size <= requested:
                    raise ValueError(
                        f"max_size = {max_size} must be strictly greater than the requested "
                        f"size for the smaller edge size = {size}"
                    )
                if new_long > max_size:
                    new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)
    if len(size) != 2:
        raise ValueError(f"size should be an int or a sequence of 1 or 2 ints, got {size}")
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of the smaller edge, "
                         "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    return int(size[0]), int(size[1])


def _pil_resize_planes(arr: np.ndarray, hw, out_hw, resample) -> np.ndarray:
    """Resize an array along its axes ``hw`` with Pillow, plane by plane (exact PIL resampling)."""
    h_ax, w_ax = hw
    a = np.moveaxis(arr, (h_ax, w_ax), (-2, -1))
    lead = a.shape[:-2]
    planes = a.reshape((-1,) + a.shape[-2:])
    oh, ow = out_hw
    out = np.empty((planes.shape[0], oh, ow), dtype=arr.dtype)
    for k, p in enumerate(planes):
        if p.dtype == np.uint8:
            out[k] = np.asarray(Image.fromarray(p, mode="L").resize((ow, oh), resample))
        else:
            r = np.asarray(Image.fromarray(p.astype(np.float32), mode="F").resize((ow, oh), resample))
            if arr.dtype.kind in "iu":
                info = np.iinfo(arr.dtype)
                r = np.clip(np.round(r), info.min, info.max)
            out[k] = r
    return np.moveaxis(out.reshape(lead + (oh, ow)), (-2, -1), (h_ax, w_ax))


def _bilinear_planes(arr: np.ndarray, hw, out_hw) -> np.ndarray:
    """Bilinear resize without antialiasing, half-pixel centres (``align_corners=False``), in NumPy."""
    h_ax, w_ax = hw
    a = np.moveaxis(arr, (h_ax, w_ax), (-2, -1)).astype(np.float32 if arr.dtype != np.float64 else np.float64)
    ih, iw = a.shape[-2:]
    oh, ow = out_hw

    def coords(n_in, n_out):
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0, None)
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo).astype(a.dtype)

    y0, y1, fy = coords(ih, oh)
    x0, x1, fx = coords(iw, ow)
    top = a[..., y0, :] * (1 - fy)[:, None] + a[..., y1, :] * fy[:, None]
    out = top[..., x0] * (1 - fx) + top[..., x1] * fx
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        out = np.clip(np.round(out), info.min, info.max).astype(arr.dtype)
    return np.moveaxis(out, (-2, -1), (h_ax, w_ax))


def _nearest_planes(arr: np.ndarray, out_hw, exact: bool) -> np.ndarray:
    """PyTorch's ``nearest`` (source ``floor(i * in / out)``) or ``nearest-exact`` (``floor((i + 0.5) * in / out)``)
    on the last two axes, in float32 as ATen computes the indices."""

    def index(n_in, n_out):
        i = np.arange(n_out, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
        return np.minimum(np.floor(i * np.float32(n_in / n_out)).astype(np.int64), n_in - 1)

    return arr[..., index(arr.shape[-2], out_hw[0])[:, None], index(arr.shape[-1], out_hw[1])]


def _bicubic_planes(arr: np.ndarray, out_hw) -> np.ndarray:
    """PyTorch's bicubic interpolation without antialiasing (``a = -0.75``, half-pixel centres, edge
    pixels repeated) on the last two axes of a float array."""
    a = -0.75

    def along(x, axis, n_out):
        n_in = x.shape[axis]
        src = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * np.float32(n_in / n_out) - np.float32(0.5)
        i0 = np.floor(src)
        t = src - i0
        w = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
             ((a + 2) * t - (a + 3)) * t * t + 1,
             ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
             ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
        shape = [1] * x.ndim
        shape[axis] = n_out
        out = 0
        for k in range(4):
            idx = np.clip(i0.astype(np.int64) + k - 1, 0, n_in - 1)
            out = out + np.take(x, idx, axis=axis) * w[k].astype(x.dtype).reshape(shape)
        return out

    return along(along(arr, arr.ndim - 2, out_hw[0]), arr.ndim - 1, out_hw[1])


def _tensor_resize(arr: np.ndarray, out_hw, mode: InterpolationMode, antialias) -> np.ndarray:
    """Resize a (..., C, H, W) array as torchvision resizes a tensor: interpolated in floating point
    (integers as float32, then rounded and clamped), nearest modes by PyTorch's index rules."""
    if mode in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT):
        return _nearest_planes(arr, out_hw, mode is InterpolationMode.NEAREST_EXACT)
    x = arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)
    hw = (arr.ndim - 2, arr.ndim - 1)
    if mode is InterpolationMode.BILINEAR and not antialias:
        out = _bilinear_planes(x, hw, out_hw)
    elif mode is InterpolationMode.BICUBIC and not antialias:
        out = _bicubic_planes(x, out_hw)
    else:  # antialiased bilinear / bicubic are Pillow's filters, which PyTorch's reproduce
        out = _pil_resize_planes(x, hw, out_hw, _PIL_RESAMPLE[mode])
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(arr.dtype, copy=False)


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size: int | None = None, antialias: bool | None = True):
    """Resize to ``size``: ``(h, w)``, or an int that the shorter side becomes (as torchvision).

    Args:
        img: PIL image, HWC array or (..., C, H, W) tensor.
        size: ``(h, w)`` or an int (shorter side; the longer is ``int(size * long / short)``).
        interpolation: an ``InterpolationMode`` (or its string, or a PIL constant).
        max_size: cap on the longer side when ``size`` is an int.
        antialias: for arrays and tensors with bilinear/bicubic; False gives plain bilinear or
            bicubic interpolation (PIL images are always antialiased, as in torchvision).

    Tensors are resized as torchvision resizes them (in floating point, nearest modes by PyTorch's
    index rules); PIL images and arrays by Pillow.
    """
    mode = _interp(interpolation)
    _, h, w = get_dimensions(img)
    oh, ow = _resized_size(h, w, size, max_size)
    if (oh, ow) == (h, w):
        return img
    resample = _PIL_RESAMPLE[mode]
    if _is_pil(img):
        return img.resize((ow, oh), resample)
    arr, is_t, dev = _host(img)
    hw = _hw(arr.ndim, is_t)
    if is_t:
        out = _tensor_resize(arr, (oh, ow), mode, antialias)
    elif antialias is False and mode is InterpolationMode.BILINEAR:
        out = _bilinear_planes(arr, hw, (oh, ow))
    elif not is_t and arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] in (3, 4):
        m = "RGB" if arr.shape[2] == 3 else "RGBA"
        out = np.asarray(Image.fromarray(np.ascontiguousarray(arr), mode=m).resize((ow, oh), resample))
    else:
        out = _pil_resize_planes(arr, hw, (oh, ow), resample)
    return _back(out, is_t, dev)


def crop(img, top: int, left: int, height: int, width: int):
    """The ``height`` x ``width`` window at (top, left); outside the image is zeros (as torchvision)."""
    _check(img)
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))
    arr, is_t, dev = _host(img)
    h_ax, w_ax = _hw(arr.ndim, is_t)
    H, W = arr.shape[h_ax], arr.shape[w_ax]
    t0, l0 = max(top, 0), max(left, 0)
    b0, r0 = min(top + height, H), min(left + width, W)
    sl = [slice(None)] * arr.ndim
    sl[h_ax], sl[w_ax] = slice(t0, max(b0, t0)), slice(l0, max(r0, l0))
    out = arr[tuple(sl)]
    if t0 != top or l0 != left or b0 != top + height or r0 != left + width:
        pads = [(0, 0)] * arr.ndim
        pads[h_ax] = (t0 - top, top + height - max(b0, t0))
        pads[w_ax] = (l0 - left, left + width - max(r0, l0))
        out = np.pad(out, pads)
    return _back(out, is_t, dev)


def _crop_size(output_size) -> tuple[int, int]:
    if isinstance(output_size, numbers.Number):
        return int(output_size), int(output_size)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        return int(output_size[0]), int(output_size[0])
    if len(output_size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    return int(output_size[0]), int(output_size[1])


def center_crop(img, output_size):
    """The centred ``output_size`` window: top ``round((h - th) / 2)``, zero-padded when larger."""
    th, tw = _crop_size(output_size)
    _, h, w = get_dimensions(img)
    if tw > w or th > h:
        padding = [(tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                   (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0]
        img = pad(img, padding, fill=0)
        _, h, w = get_dimensions(img)
        if tw == w and th == h:
            return img
    return crop(img, int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)), th, tw)


def resized_crop(img, top: int, left: int, height: int, width: int, size,
                 interpolation=InterpolationMode.BILINEAR, antialias: bool | None = True):
    """``crop`` then ``resize``."""
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def _padding_ltrb(padding) -> tuple[int, int, int, int]:
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = list(padding)
    if len(padding) == 1:
        return (int(padding[0]),) * 4
    if len(padding) == 2:
        return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
    if len(padding) == 4:
        return tuple(int(p) for p in padding)
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")


def _pad_array(arr, hw, ltrb, fill, padding_mode):
    l, t, r, b = ltrb
    h_ax, w_ax = hw
    if min(ltrb) < 0:  # negative padding crops, as in torchvision
        sl = [slice(None)] * arr.ndim
        sl[h_ax] = slice(max(-t, 0), arr.shape[h_ax] - max(-b, 0))
        sl[w_ax] = slice(max(-l, 0), arr.shape[w_ax] - max(-r, 0))
        arr = arr[tuple(sl)]
        l, t, r, b = (max(v, 0) for v in (l, t, r, b))
    pads = [(0, 0)] * arr.ndim
    pads[h_ax], pads[w_ax] = (t, b), (l, r)
    if padding_mode == "constant":
        if isinstance(fill, (tuple, list)) and len(fill) > 1:
            c_ax = 2 if h_ax == 0 else arr.ndim - 3
            planes = [np.pad(np.take(arr, [k], axis=c_ax), pads, constant_values=np.asarray(fill[k]).astype(arr.dtype))
                      for k in range(arr.shape[c_ax])]
            return np.concatenate(planes, axis=c_ax)
        f = fill[0] if isinstance(fill, (tuple, list)) else (0 if fill is None else fill)
        return np.pad(arr, pads, constant_values=np.asarray(f).astype(arr.dtype))
    return np.pad(arr, pads, mode=padding_mode)


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad the borders: an int (all sides), (left/right, top/bottom) or (left, top, right, bottom).

    ``padding_mode`` is ``constant`` (with ``fill``: a number, or one per channel), ``edge``,
    ``reflect`` or ``symmetric``.
    """
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    ltrb = _padding_ltrb(padding)
    if _is_pil(img):
        arr = np.asarray(img)
        out = _pad_array(arr, (0, 1), ltrb, fill, padding_mode)
        res = Image.fromarray(np.ascontiguousarray(out))
        if img.mode == "P":
            res.putpalette(img.getpalette())
        elif res.mode != img.mode:
            res = res.convert(img.mode)
        return res
    arr, is_t, dev = _host(img)
    return _back(_pad_array(arr, _hw(arr.ndim, is_t), ltrb, fill, padding_mode), is_t, dev)


def hflip(img):
    """Mirror left to right."""
    _check(img)
    if _is_pil(img):
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    arr, is_t, dev = _host(img)
    w_ax = _hw(arr.ndim, is_t)[1]
    return _back(np.flip(arr, axis=w_ax), is_t, dev)


def vflip(img):
    """Mirror top to bottom."""
    _check(img)
    if _is_pil(img):
        return img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    arr, is_t, dev = _host(img)
    h_ax = _hw(arr.ndim, is_t)[0]
    return _back(np.flip(arr, axis=h_ax), is_t, dev)


def _pil_fill(fill, img: Image.Image):
    """torchvision's ``_parse_fill``: one fill per band (ints unless the image is mode ``F``)."""
    bands = len(img.getbands())
    fill = 0 if fill is None else fill
    if isinstance(fill, (int, float)) and bands > 1:
        fill = (fill,) * bands
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = tuple(fill) * bands
        elif len(fill) != bands:
            raise ValueError("The number of elements in 'fill' does not match the number of channels of the image "
                             f"({len(fill)} != {bands})")
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(v) for v in fill) if isinstance(fill, tuple) else int(fill)
    return fill


def _pil_planes(arr: np.ndarray, is_t: bool, fill, op) -> np.ndarray:
    """Apply ``op(plane_image, fill)`` (a Pillow operation) to each HW plane of an array or tensor image."""
    hw = _hw(arr.ndim, is_t)
    a = np.moveaxis(arr, hw, (-2, -1))
    lead = a.shape[:-2]
    planes = a.reshape((-1,) + a.shape[-2:])
    fills = fill if isinstance(fill, (tuple, list)) else [0 if fill is None else fill]
    n_ch = 1 if (not is_t and arr.ndim == 2) else (arr.shape[2] if not is_t else (arr.shape[-3] if arr.ndim >= 3 else 1))
    out = []
    for k, p in enumerate(planes):
        fv = fills[(k % n_ch) % len(fills)]
        pim = Image.fromarray(p, mode="L") if p.dtype == np.uint8 else Image.fromarray(p.astype(np.float32), mode="F")
        r = np.asarray(op(pim, fv))
        out.append(r.astype(arr.dtype) if arr.dtype.kind == "f" else np.round(r).astype(arr.dtype))
    res = np.stack(out).reshape(lead + out[0].shape)
    return np.moveaxis(res, (-2, -1), hw)


def _inverse_affine_matrix(center, angle, translate, scale, shear) -> list[float]:
    """torchvision's ``_get_inverse_affine_matrix``: the output-to-input map of
    ``T * C * R(angle) * Shear * Scale * C^-1`` as (a, b, c, d, e, f)."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [v / scale for v in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
    m[2] += cx
    m[5] += cy
    return m


def _affine_output_size(matrix, w: int, h: int) -> tuple[int, int]:
    """(width, height) that holds the whole transformed image (``expand=True``), as torchvision computes it."""
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0], [0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, -0.5 * h, 1.0]], dtype=np.float32)
    new = pts @ np.asarray(matrix, dtype=np.float32).reshape(2, 3).T
    lo = new.min(axis=0) + np.array([w * 0.5, h * 0.5], dtype=np.float32)
    hi = new.max(axis=0) + np.array([w * 0.5, h * 0.5], dtype=np.float32)
    tol = np.float32(1e-4)  # drop digits below 1e-4 so that ceil(x + 1e-15) stays x
    size = np.ceil(np.trunc(hi / tol) * tol) - np.floor(np.trunc(lo / tol) * tol)
    return int(size[0]), int(size[1])


def _check_tensor_warp(arr: np.ndarray, mode: InterpolationMode, fill) -> None:
    """The checks of torchvision's tensor warps (affine, rotate, perspective): nearest or bilinear,
    and a fill of one value or one per channel."""
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError(f"Interpolation mode '{mode.value}' is unsupported with Tensor input")
    c = 1 if arr.ndim == 2 else arr.shape[-3]
    if isinstance(fill, (tuple, list)) and len(fill) > 1 and len(fill) != c:
        raise ValueError("The number of elements in 'fill' cannot broadcast to match the number of channels of the "
                         f"image ({len(fill)} != {c})")


def _grid_transform(arr: np.ndarray, dev, matrix, mode: InterpolationMode, fill, out_wh=None) -> np.ndarray:
    """Warp a (..., C, H, W) array by an inverse affine ``matrix`` (centre-origin pixel coordinates) with
    ``grid_sample`` (zeros outside, then ``fill``), as torchvision's tensor ``affine`` and ``rotate``."""
    _check_tensor_warp(arr, mode, fill)
    h, w = arr.shape[-2:]
    ow, oh = out_wh or (w, h)
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    xs = (np.arange(ow) - ow * 0.5 + 0.5).astype(dtype)[None, :, None]
    ys = (np.arange(oh) - oh * 0.5 + 0.5).astype(dtype)[:, None, None]
    theta = np.asarray(matrix, dtype=dtype).reshape(2, 3).T / np.array([0.5 * w, 0.5 * h], dtype=dtype)
    # summed in this order, as PyTorch's small batched matmul does: sampling points that fall on a
    # pixel boundary then round to the same side in nearest mode
    grid = (xs * theta[0] + ys * theta[1] + theta[2])[None]
    return _sample_with_fill(arr, dev, grid, mode, fill, dtype)


def _sample_with_fill(arr: np.ndarray, dev, grid: np.ndarray, mode: InterpolationMode, fill, dtype) -> np.ndarray:
    """``grid_sample`` a (..., C, H, W) array at a (1, Ho, Wo, 2) grid; points outside take ``fill``
    (through a sampled mask of ones, as torchvision's ``_apply_grid_transform``)."""
    from ...nn.functional import grid_sample

    c, h, w = (1,) + arr.shape if arr.ndim == 2 else arr.shape[-3:]
    oh, ow = grid.shape[1:3]
    x = arr.reshape((-1, c, h, w)).astype(dtype)
    if fill is not None:
        x = np.concatenate([x, np.ones_like(x[:, :1])], axis=1)
    n = x.shape[0]
    sampled = grid_sample(Tensor._make(move(x, dev), dev), Tensor._make(move(np.repeat(grid, n, 0), dev), dev),
                          mode=mode.value, padding_mode="zeros", align_corners=False)
    out = move(sampled._data, CPU)
    if fill is not None:
        mask, out = out[:, -1:], out[:, :-1]
        f = np.asarray(fill if isinstance(fill, (tuple, list)) else [float(fill)], dtype=dtype).reshape(1, -1, 1, 1)
        f = np.broadcast_to(f, out.shape)
        if mode is InterpolationMode.NEAREST:
            out = np.where(mask < 0.5, f, out)
        else:
            out = out * mask + (1.0 - mask) * f
    if arr.dtype != dtype:
        out = np.round(out) if arr.dtype.kind in "iu" else out
    out = out.astype(arr.dtype).reshape(arr.shape[:-2] + (oh, ow))
    return out


def rotate(img, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False,
           center=None, fill=None):
    """Rotate by ``angle`` degrees counter-clockwise about ``center`` (default: the image's centre).

    PIL images and arrays are rotated by Pillow, tensors by a sampling grid (nearest or bilinear),
    as torchvision rotates each.
    """
    mode = _interp(interpolation)
    resample = _PIL_RESAMPLE[mode]
    if _is_pil(img):
        return img.rotate(angle, resample, expand=expand, center=center, fillcolor=_pil_fill(fill, img))
    arr, is_t, dev = _host(img)
    if is_t:
        _, h, w = get_dimensions(img)
        c = [0.0, 0.0] if center is None else [float(v) - s * 0.5 for v, s in zip(center, (w, h))]
        matrix = _inverse_affine_matrix(c, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
        out_wh = _affine_output_size(matrix, w, h) if expand else None
        return _back(_grid_transform(arr, dev, matrix, mode, fill, out_wh), is_t, dev)
    out = _pil_planes(arr, is_t, fill, lambda p, f: p.rotate(angle, resample, expand=expand, center=center, fillcolor=f))
    return _back(out, is_t, dev)


def affine(img, angle: float, translate, scale: float, shear, interpolation=InterpolationMode.NEAREST,
           fill=None, center=None):
    """Rotate by ``angle`` degrees (clockwise, as torchvision's affine), shift by ``translate``, scale and shear
    (degrees: a number shears along x, a pair along x and y), keeping the image's size.

    PIL images and arrays go through Pillow's affine transform, tensors through a sampling grid, as in torchvision.
    """
    mode = _interp(interpolation)
    if not isinstance(translate, (list, tuple)):
        raise TypeError("Argument translate should be a sequence")
    if len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if not isinstance(shear, (numbers.Number, list, tuple)):
        raise TypeError("Shear should be either a single value or a sequence of two values")
    shear = [shear, 0.0] if isinstance(shear, numbers.Number) else list(shear)
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    _, h, w = get_dimensions(img)
    arr, is_t, dev = (None, False, None) if _is_pil(img) else _host(img)
    if is_t:
        c = [0.0, 0.0] if center is None else [float(v) - s * 0.5 for v, s in zip(center, (w, h))]
        matrix = _inverse_affine_matrix(c, float(angle), [float(t) for t in translate], scale, shear)
        return _back(_grid_transform(arr, dev, matrix, mode, fill), is_t, dev)
    matrix = _inverse_affine_matrix([w * 0.5, h * 0.5] if center is None else center, float(angle), list(translate),
                                    scale, shear)
    resample = _PIL_RESAMPLE[mode]

    def warp(p, f):
        return p.transform(p.size, Image.Transform.AFFINE, matrix, resample, fillcolor=f)

    if _is_pil(img):
        return warp(img, _pil_fill(fill, img))
    return _back(_pil_planes(arr, is_t, fill, warp), is_t, dev)


def rgb_to_grayscale(img, num_output_channels: int = 1):
    """Luma ``0.2989 R + 0.587 G + 0.114 B`` (PIL images: Pillow's ``convert('L')``)."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if _is_pil(img):
        g = img.convert("L")
        if num_output_channels == 3:
            a = np.asarray(g)
            g = Image.fromarray(np.dstack([a, a, a]), mode="RGB")
        return g
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        g = np.asarray(Image.fromarray(img).convert("L"))  # as the PIL path: Pillow's integer luma
        return np.stack([g] * num_output_channels, axis=2)
    arr, is_t, dev = _host(img)
    c_ax = arr.ndim - 3 if is_t else 2
    if not is_t and arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[c_ax] not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are 1 or 3, but found {arr.shape[c_ax]}")
    if arr.shape[c_ax] == 3:
        r, g, b = (np.take(arr, k, axis=c_ax) for k in range(3))
        lum = (0.2989 * r + 0.587 * g + 0.114 * b).astype(arr.dtype)
        lum = np.expand_dims(lum, c_ax)
    else:
        lum = arr
    if num_output_channels == 3:
        lum = np.concatenate([lum] * 3, axis=c_ax) if lum.shape[c_ax] == 1 else lum
    return _back(np.ascontiguousarray(lum), is_t, dev)


to_grayscale = rgb_to_grayscale


def _channels_first(img):
    """(array with channels on axis -3, is_tensor, device, was_hwc) for the colour functions."""
    arr, is_t, dev = _host(img)
    hwc = not is_t
    if hwc:
        arr = arr[None] if arr.ndim == 2 else np.moveaxis(arr, 2, 0)
    return arr, is_t, dev, hwc


def _colour_back(out, is_t, dev, hwc, squeeze):
    if hwc:
        out = out[0] if squeeze else np.moveaxis(out, 0, 2)
    return _back(np.ascontiguousarray(out), is_t, dev)


def _blend(a, b, ratio, dtype):
    bound = 1.0 if np.dtype(dtype).kind == "f" else 255.0
    return np.clip(ratio * a + (1.0 - ratio) * b, 0, bound).astype(dtype)


def _gray(arr):
    if arr.shape[-3] == 1:
        return arr.astype(np.float32)
    r, g, b = arr[..., 0, :, :], arr[..., 1, :, :], arr[..., 2, :, :]
    return (0.2989 * r + 0.587 * g + 0.114 * b).astype(arr.dtype).astype(np.float32)[..., None, :, :]


def _pil_enhance(img, kind: str, factor: float):
    from PIL import ImageEnhance

    return getattr(ImageEnhance, kind)(img).enhance(factor)


def adjust_brightness(img, brightness_factor: float):
    """Scale the intensities by ``brightness_factor`` (0: black, 1: unchanged), clamped to the range."""
    if brightness_factor < 0:
        raise ValueError(f"brightness_factor ({brightness_factor}) is not non-negative.")
    if _is_pil(img):
        return _pil_enhance(img, "Brightness", brightness_factor)
    arr, is_t, dev, hwc = _channels_first(img)
    out = _blend(arr.astype(np.float32), 0.0, brightness_factor, arr.dtype)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def adjust_contrast(img, contrast_factor: float):
    """Blend with the mean grey level (0: solid grey, 1: unchanged)."""
    if contrast_factor < 0:
        raise ValueError(f"contrast_factor ({contrast_factor}) is not non-negative.")
    if _is_pil(img):
        return _pil_enhance(img, "Contrast", contrast_factor)
    arr, is_t, dev, hwc = _channels_first(img)
    mean = _gray(arr).mean(axis=(-3, -2, -1), keepdims=True)
    out = _blend(arr.astype(np.float32), mean, contrast_factor, arr.dtype)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def adjust_saturation(img, saturation_factor: float):
    """Blend with the grayscale image (0: grey, 1: unchanged, 2: twice as saturated)."""
    if saturation_factor < 0:
        raise ValueError(f"saturation_factor ({saturation_factor}) is not non-negative.")
    if _is_pil(img):
        return _pil_enhance(img, "Color", saturation_factor)
    arr, is_t, dev, hwc = _channels_first(img)
    if arr.shape[-3] == 1:
        return img
    out = _blend(arr.astype(np.float32), _gray(arr), saturation_factor, arr.dtype)
    return _colour_back(out, is_t, dev, hwc, False)


def _rgb2hsv(img):
    r, g, b = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    maxc, minc = img.max(axis=-3), img.min(axis=-3)
    eqc = maxc == minc
    cr = maxc - minc
    s = cr / np.where(eqc, 1.0, maxc)
    div = np.where(eqc, 1.0, cr)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = np.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return h, s, maxc


def _hsv2rgb(h, s, v):
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int64) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-3)


def adjust_hue(img, hue_factor: float):
    """Rotate the hue by ``hue_factor`` of a turn (in [-0.5, 0.5]); grayscale images are unchanged."""
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    if _is_pil(img):
        if img.mode in {"L", "1", "I", "F"}:
            return img
        mode = img.mode
        h, sat, val = img.convert("HSV").split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += np.array(hue_factor * 255).astype(np.uint8)  # wraps around, as intended
        return Image.merge("HSV", (Image.fromarray(np_h, "L"), sat, val)).convert(mode)
    arr, is_t, dev, hwc = _channels_first(img)
    if arr.shape[-3] == 1:
        return img
    x = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    h, sat, val = _rgb2hsv(x)
    out = _hsv2rgb((h + hue_factor) % 1.0, sat, val)
    # back to uint8 as convert_image_dtype does it: times 256 - 1e-3, truncated
    out = (out * np.float32(255 + 1 - 1e-3)).astype(np.uint8) if arr.dtype == np.uint8 else out.astype(arr.dtype)
    return _colour_back(out, is_t, dev, hwc, False)


# ---------------------------------------------------------------- filters and point operations


def _filter_planes(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate the last two axes of ``x`` with a small 2-D ``kernel`` ('valid': no padding)."""
    kh, kw = kernel.shape
    oh, ow = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
    out = np.zeros(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * x[..., i:i + oh, j:j + ow]
    return out


def _gaussian_kernel1d(size: int, sigma: float, dtype) -> np.ndarray:
    half = (size - 1) * 0.5
    x = np.linspace(-half, half, size).astype(dtype)
    pdf = np.exp(np.asarray(-0.5, dtype) * (x / dtype.type(sigma)) ** 2)
    return pdf / pdf.sum()


def _as_float_planes(arr: np.ndarray):
    """(float array, back) where ``back`` rounds and casts a result to ``arr``'s dtype, as torchvision's casts."""
    if arr.dtype in (np.float32, np.float64):
        return arr, lambda out: out.astype(arr.dtype, copy=False)
    return arr.astype(np.float32), lambda out: np.round(out).astype(arr.dtype)


def gaussian_blur(img, kernel_size, sigma=None):
    """Blur with a Gaussian kernel, as torchvision: ``kernel_size`` (x, y) odd, ``sigma`` (x, y) (default
    ``0.3 * ((k - 1) * 0.5 - 1) + 0.8``), borders reflected; PIL images are blurred as their tensors."""
    if not isinstance(kernel_size, (int, list, tuple)):
        raise TypeError(f"kernel_size should be int or a sequence of integers. Got {type(kernel_size)}")
    if isinstance(kernel_size, int):
        kernel_size = [kernel_size, kernel_size]
    if len(kernel_size) != 2:
        raise ValueError(f"If kernel_size is a sequence its length should be 2. Got {len(kernel_size)}")
    for k in kernel_size:
        if k % 2 == 0 or k < 0:
            raise ValueError(f"kernel_size should have odd and positive integers. Got {kernel_size}")
    if sigma is None:
        sigma = [k * 0.15 + 0.35 for k in kernel_size]
    if not isinstance(sigma, (int, float, list, tuple)):
        raise TypeError(f"sigma should be either float or sequence of floats. Got {type(sigma)}")
    if isinstance(sigma, (int, float)):
        sigma = [float(sigma), float(sigma)]
    if len(sigma) == 1:
        sigma = [sigma[0], sigma[0]]
    if len(sigma) != 2:
        raise ValueError(f"If sigma is a sequence, its length should be 2. Got {len(sigma)}")
    if any(s <= 0.0 for s in sigma):
        raise ValueError(f"sigma should have positive values. Got {sigma}")
    if _is_pil(img):
        return to_pil_image(gaussian_blur(pil_to_tensor(img), kernel_size, sigma), mode=img.mode)
    arr, is_t, dev, hwc = _channels_first(img)
    x, back = _as_float_planes(arr)
    kernel = np.outer(_gaussian_kernel1d(kernel_size[1], sigma[1], x.dtype),
                      _gaussian_kernel1d(kernel_size[0], sigma[0], x.dtype))
    px, py = kernel_size[0] // 2, kernel_size[1] // 2
    x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(py, py), (px, px)], mode="reflect")
    return _colour_back(back(_filter_planes(x, kernel)), is_t, dev, hwc, not is_t and img.ndim == 2)


def adjust_sharpness(img, sharpness_factor: float):
    """Blend with a smoothed copy (3 x 3, centre weight 5): 0 blurs, 1 keeps, 2 sharpens (as torchvision / Pillow)."""
    if sharpness_factor < 0:
        raise ValueError(f"sharpness_factor ({sharpness_factor}) is not non-negative.")
    if _is_pil(img):
        return _pil_enhance(img, "Sharpness", sharpness_factor)
    arr, is_t, dev, hwc = _channels_first(img)
    if arr.shape[-3] not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {arr.shape[-3]}")
    if arr.shape[-1] <= 2 or arr.shape[-2] <= 2:
        return img
    x, back = _as_float_planes(arr)
    kernel = np.ones((3, 3), dtype=x.dtype)
    kernel[1, 1] = 5.0
    smooth = arr.copy()
    smooth[..., 1:-1, 1:-1] = back(_filter_planes(x, kernel / kernel.sum()))
    out = _blend(arr.astype(np.float32), smooth.astype(np.float32), sharpness_factor, arr.dtype)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def adjust_gamma(img, gamma: float, gain: float = 1):
    """``gain * x ** gamma`` on intensities in [0, 1] (uint8 scaled there and back as torchvision)."""
    if gamma < 0:
        raise ValueError("Gamma should be a non-negative real number")
    if _is_pil(img):
        mode = img.mode
        table = [int((255 + 1 - 1e-3) * gain * pow(v / 255.0, gamma)) for v in range(256)] * 3
        return img.convert("RGB").point(table).convert(mode)
    arr, is_t, dev, hwc = _channels_first(img)
    if arr.shape[-3] not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {arr.shape[-3]}")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / np.float32(255)
        out = (np.clip(gain * x ** gamma, 0, 1) * np.float32(255 + 1 - 1e-3)).astype(np.uint8)
    else:
        out = np.clip(gain * arr ** gamma, 0, 1).astype(arr.dtype)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def invert(img):
    """``max - x`` (255 for uint8, 1 for floats); PIL images by ``ImageOps.invert``."""
    if _is_pil(img):
        from PIL import ImageOps

        return ImageOps.invert(img)
    arr, is_t, dev, hwc = _channels_first(img)
    if arr.shape[-3] not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {arr.shape[-3]}")
    out = (np.asarray(_max_value(arr.dtype), dtype=arr.dtype) - arr).astype(arr.dtype)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def solarize(img, threshold: float):
    """Invert the values at or above ``threshold``."""
    if _is_pil(img):
        from PIL import ImageOps

        return ImageOps.solarize(img, threshold)
    arr, _, _, _ = _channels_first(img)
    if threshold > _max_value(arr.dtype):
        raise TypeError("Threshold should be less than bound of img.")
    inverted = invert(img)
    a, b = (x._data if isinstance(x, Tensor) else x for x in (img, inverted))
    out = img._device.xp.where(a >= threshold, b, a) if isinstance(img, Tensor) else np.where(a >= threshold, b, a)
    return Tensor._make(out, img._device) if isinstance(img, Tensor) else out


def erase(img, i: int, j: int, h: int, w: int, v, inplace: bool = False):
    """Set the ``h`` x ``w`` window at (i, j) of a (..., C, H, W) tensor to ``v`` (a tensor or number)."""
    if not isinstance(img, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(img)}")
    out = img if inplace else Tensor._make(img._data.copy(), img._device)
    value = move(v._data, out._device) if isinstance(v, Tensor) else v
    out._data[..., i:i + h, j:j + w] = value
    return out


def _pair_size(size):
    if isinstance(size, numbers.Number):
        size = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 1:
        size = (size[0], size[0])
    if len(size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    return size


def five_crop(img, size):
    """The four corner crops and the central crop of ``size`` (h, w): (top-left, top-right, bottom-left,
    bottom-right, centre)."""
    size = _pair_size(size)
    _, h, w = get_dimensions(img)
    ch, cw = size
    if cw > w or ch > h:
        raise ValueError(f"Requested crop size {size} is bigger than input size {(h, w)}")
    return (crop(img, 0, 0, ch, cw), crop(img, 0, w - cw, ch, cw), crop(img, h - ch, 0, ch, cw),
            crop(img, h - ch, w - cw, ch, cw), center_crop(img, [ch, cw]))


def ten_crop(img, size, vertical_flip: bool = False):
    """``five_crop`` of the image, then of its mirror (left-right, or top-bottom with ``vertical_flip``)."""
    size = _pair_size(size)
    return five_crop(img, size) + five_crop(vflip(img) if vertical_flip else hflip(img), size)


def posterize(img, bits: int):
    """Keep the ``bits`` high bits of each uint8 value."""
    if not (0 <= bits <= 8):
        raise ValueError(f"The number if bits should be between 0 and 8. Got {bits}")
    if _is_pil(img):
        from PIL import ImageOps

        return ImageOps.posterize(img, bits)
    arr, is_t, dev, hwc = _channels_first(img)
    if arr.dtype != np.uint8:
        raise TypeError(f"Only torch.uint8 image tensors are supported, but found {arr.dtype}")
    if arr.shape[-3] not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {arr.shape[-3]}")
    out = arr & np.uint8(-int(2 ** (8 - bits)) & 0xFF)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def autocontrast(img):
    """Stretch each channel to the full range (its minimum to 0, its maximum to the top)."""
    if _is_pil(img):
        from PIL import ImageOps

        return ImageOps.autocontrast(img)
    arr, is_t, dev, hwc = _channels_first(img)
    if arr.ndim < 3:
        raise TypeError(f"Input image tensor should have at least 3 dimensions, but found {arr.ndim}")
    if arr.shape[-3] not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {arr.shape[-3]}")
    bound = _max_value(arr.dtype)
    dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float32)
    lo = arr.min(axis=(-2, -1), keepdims=True).astype(dtype)
    hi = arr.max(axis=(-2, -1), keepdims=True).astype(dtype)
    flat = hi == lo
    lo = np.where(flat, 0, lo).astype(dtype)
    # bound / (hi - lo) as PyTorch computes a number over a tensor: a reciprocal, then a product
    scale = np.where(flat, 1, np.reciprocal(np.where(flat, 1, hi - lo)) * dtype.type(bound)).astype(dtype)
    out = np.clip((arr - lo) * scale, 0, bound).astype(arr.dtype)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def _equalize_plane(p: np.ndarray) -> np.ndarray:
    """torchvision's ``_scale_channel``: a lookup table from the cumulative histogram of one uint8 plane."""
    hist = np.bincount(p.reshape(-1), minlength=256)
    nonzero = hist[hist != 0]
    step = int(nonzero[:-1].sum()) // 255
    if step == 0:
        return p
    lut = (np.cumsum(hist) + step // 2) // step
    lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255)
    return lut[p.astype(np.int64)].astype(np.uint8)


def equalize(img):
    """Equalize the histogram of each channel of a uint8 image."""
    if _is_pil(img):
        from PIL import ImageOps

        return ImageOps.equalize(img)
    arr, is_t, dev, hwc = _channels_first(img)
    if not (3 <= arr.ndim <= 4):
        raise TypeError(f"Input image tensor should have 3 or 4 dimensions, but found {arr.ndim}")
    if arr.dtype != np.uint8:
        raise TypeError(f"Only torch.uint8 image tensors are supported, but found {arr.dtype}")
    if arr.shape[-3] not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {arr.shape[-3]}")
    planes = arr.reshape((-1,) + arr.shape[-2:])
    out = np.stack([_equalize_plane(p) for p in planes]).reshape(arr.shape)
    return _colour_back(out, is_t, dev, hwc, not is_t and img.ndim == 2)


def _perspective_coeffs(startpoints, endpoints) -> list[float]:
    """The 8 coefficients that map output pixels (``endpoints``) to input ones (``startpoints``), solved in
    float64 by least squares and rounded to float32, as torchvision's ``_get_perspective_coeffs``."""
    if len(startpoints) != 4 or len(endpoints) != 4:
        raise ValueError(f"Please provide exactly four corners, got {len(startpoints)} startpoints and "
                         f"{len(endpoints)} endpoints.")
    a = np.zeros((8, 8), dtype=np.float64)
    for i, (p1, p2) in enumerate(zip(endpoints, startpoints)):
        a[2 * i] = [p1[0], p1[1], 1, 0, 0, 0, -p2[0] * p1[0], -p2[0] * p1[1]]
        a[2 * i + 1] = [0, 0, 0, p1[0], p1[1], 1, -p2[1] * p1[0], -p2[1] * p1[1]]
    b = np.asarray(startpoints, dtype=np.float64).reshape(8)
    # torchvision solves with LAPACK's gels; another solver may round a coefficient to the next float32
    return np.linalg.lstsq(a, b, rcond=None)[0].astype(np.float32).tolist()


def perspective(img, startpoints, endpoints, interpolation=InterpolationMode.BILINEAR, fill=None):
    """Warp so that the four ``startpoints`` (corners, as [x, y]) land on ``endpoints``, as torchvision:
    Pillow's perspective transform for PIL images and arrays, a sampling grid for tensors."""
    coeffs = _perspective_coeffs(startpoints, endpoints)
    mode = _interp(interpolation)
    if _is_pil(img):
        return img.transform(img.size, Image.Transform.PERSPECTIVE, coeffs, _PIL_RESAMPLE[mode],
                             fillcolor=_pil_fill(fill, img))
    arr, is_t, dev = _host(img)
    if not is_t:
        return _pil_planes(arr, is_t, fill, lambda p, f: p.transform(p.size, Image.Transform.PERSPECTIVE, coeffs,
                                                                       _PIL_RESAMPLE[mode], fillcolor=f))
    _check_tensor_warp(arr, mode, fill)
    oh, ow = arr.shape[-2:]
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    xs = (np.arange(ow) + 0.5).astype(dtype)[None, :, None]
    ys = (np.arange(oh) + 0.5).astype(dtype)[:, None, None]
    t1 = np.asarray(coeffs[:6], dtype=dtype).reshape(2, 3).T / np.array([0.5 * ow, 0.5 * oh], dtype=dtype)
    t2 = np.asarray([[coeffs[6], coeffs[7], 1.0]] * 2, dtype=dtype).T
    grid = (xs * t1[0] + ys * t1[1] + t1[2]) / (xs * t2[0] + ys * t2[1] + t2[2]) - dtype.type(1.0)
    return _back(_sample_with_fill(arr, dev, grid[None], mode, fill, dtype), is_t, dev)
