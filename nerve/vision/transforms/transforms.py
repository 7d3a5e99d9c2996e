"""Transform classes, as ``torchvision.transforms``: ``Compose([Resize(255), CenterCrop(224), ToTensor()])``.

Each takes a PIL image, an HWC NumPy array or a CHW tensor (see ``functional``). Random ones draw
from nerve's global generator, so ``nerve.manual_seed`` makes them reproducible.

Batches: a transform whose ``batchable`` is True also has ``batch(images)``, which transforms a
whole batch at once: an (N, H, W) / (N, H, W, C) uint8 array as a dataset stores it, or an
(N, C, H, W) tensor. Datasets held in arrays (``MNIST``) use it to serve a batch in a few NumPy
operations; ``batch(x)`` equals stacking the per-image results.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import numpy as np

from ...backend import CPU, move
from ...random import _integers, _uniform
from ...tensor import Tensor
from . import functional as F
from .functional import InterpolationMode

__all__ = [
    "CenterCrop", "ColorJitter", "Compose", "ConvertImageDtype", "FiveCrop", "GaussianBlur", "Grayscale", "Lambda",
    "Normalize", "Pad", "PILToTensor", "RandomAdjustSharpness", "RandomAffine", "RandomApply", "RandomAutocontrast",
    "RandomChoice", "RandomCrop", "RandomEqualize", "RandomErasing", "RandomGrayscale", "RandomHorizontalFlip",
    "RandomInvert", "RandomOrder", "RandomPerspective", "RandomPosterize", "RandomResizedCrop", "RandomRotation", "RandomSolarize",
    "RandomVerticalFlip", "Resize", "TenCrop", "ToPILImage", "ToTensor", "is_batchable",
]


def _rand() -> float:
    return float(_uniform((1,), 0.0, 1.0, np.float32, CPU)[0])  # as torch.rand(1): one float32


def _randint(low: int, high: int) -> int:
    return int(_integers(low, high, (1,), CPU)[0])


def _flip_some(images, p: float, np_axis: int, tensor_axis: int):
    """Flip the images of a batch whose uniform draw is below ``p`` (N, H, W[, C] arrays or N, C, H, W tensors)."""
    chosen = np.nonzero(_uniform((len(images),), 0.0, 1.0, np.float32, CPU) < p)[0]
    if isinstance(images, Tensor):
        arr, dev = images._data, images._device
        idx = move(chosen, dev)
        out = arr.copy()
        out[idx] = dev.xp.flip(arr[idx], axis=tensor_axis)
        return Tensor._make(out, dev)
    out = images.copy()
    out[chosen] = np.flip(images[chosen], axis=np_axis)
    return out


def is_batchable(transform) -> bool:
    """True when ``transform`` can run on a whole batch through ``transform.batch(x)``."""
    return bool(getattr(transform, "batchable", False))


class Transform:
    """Base class: subclasses define ``__call__``; batchable ones also ``batch``."""

    batchable = False

    def batch(self, images):
        raise NotImplementedError(f"{type(self).__name__} does not transform whole batches")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Compose(Transform):
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    @property
    def batchable(self) -> bool:  # type: ignore[override]
        return all(is_batchable(t) for t in self.transforms)

    def batch(self, images):
        for t in self.transforms:
            images = t.batch(images)
        return images

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class ToTensor(Transform):
    """PIL image or HWC uint8 array -> CHW float32 tensor in [0, 1] (other dtypes keep their values)."""

    batchable = True

    def __call__(self, pic):
        return F.to_tensor(pic)

    def batch(self, images):
        if isinstance(images, Tensor):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(images)}")
        return F._batch_to_tensor(images, scale=True)


class PILToTensor(Transform):
    """PIL image -> CHW tensor of the same dtype (no scaling)."""

    batchable = True

    def __call__(self, pic):
        return F.pil_to_tensor(pic)

    def batch(self, images):
        return F._batch_to_tensor(images, scale=False)


class ToPILImage(Transform):
    """CHW tensor or HWC array -> PIL image."""

    def __init__(self, mode: str | None = None):
        self.mode = mode

    def __call__(self, pic):
        return F.to_pil_image(pic, self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'' if self.mode is None else f'mode={self.mode}'})"


class ConvertImageDtype(Transform):
    """Convert a tensor image to ``dtype``, rescaling (uint8 0..255 <-> float 0..1)."""

    batchable = True

    def __init__(self, dtype):
        self.dtype = dtype

    def __call__(self, image):
        return F.convert_image_dtype(image, self.dtype)

    batch = __call__


class Normalize(Transform):
    """``(x - mean) / std`` per channel, on a float tensor (..., C, H, W).

    Args:
        mean: one per channel (or one for all).
        std: one per channel (or one for all).
        inplace: change the tensor's data in place.
    """

    batchable = True

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        return F.normalize(tensor, self.mean, self.std, self.inplace)

    batch = __call__

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


def _size_arg(size, name="size"):
    if isinstance(size, numbers.Number):
        return int(size)
    if isinstance(size, (list, tuple)) and len(size) in (1, 2):
        return size  # kept as given, as torchvision (its repr shows a tuple as a tuple)
    if size is None:
        return None
    raise TypeError(f"{name} should be int or sequence of length 1 or 2. Got {size!r}")


class Resize(Transform):
    """Resize: ``(h, w)``, or an int the shorter side becomes (longer: ``int(size * long / short)``).

    Args:
        size: int or (h, w).
        interpolation: an ``InterpolationMode`` (default bilinear).
        max_size: cap on the longer side when ``size`` is an int.
        antialias: antialias arrays/tensors (PIL images always are).
    """

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        self.size = _size_arg(size)
        self.interpolation = F._interp(interpolation)
        self.max_size = max_size
        self.antialias = antialias

    def __call__(self, img):
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, interpolation={self.interpolation.value}, "
                f"max_size={self.max_size}, antialias={self.antialias})")


class CenterCrop(Transform):
    """The centred ``size`` window (top ``round((h - th) / 2)``), zero-padded if the image is smaller."""

    batchable = True

    def __init__(self, size):
        self.size = F._crop_size(size)

    def __call__(self, img):
        return F.center_crop(img, self.size)

    def batch(self, images):
        if isinstance(images, Tensor):  # (N, C, H, W): the tensor path already works on the last two axes
            return F.center_crop(images, self.size)
        # (N, H, W[, C]) array: crop each image's HW axes with one slice
        th, tw = self.size
        h, w = images.shape[1], images.shape[2]
        if th > h or tw > w:
            return np.stack([np.asarray(F.center_crop(im, self.size)) for im in images])
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return images[:, top:top + th, left:left + tw]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class Pad(Transform):
    """Pad the borders (see ``functional.pad``)."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant"):
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        F._padding_ltrb(padding)
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img):
        return F.pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class RandomCrop(Transform):
    """A random ``size`` window, after optional ``padding``; ``pad_if_needed`` pads small images.

    Args:
        size: int or (h, w).
        padding: border added first (see ``Pad``).
        pad_if_needed: pad an image smaller than ``size`` on both sides.
        fill: constant fill value.
        padding_mode: constant, edge, reflect or symmetric.
    """

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0, padding_mode: str = "constant"):
        self.size = F._crop_size(size)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size):
        """(top, left, h, w) of a random crop of ``output_size``."""
        _, h, w = F.get_dimensions(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        return _randint(0, h - th + 1), _randint(0, w - tw + 1), th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, height, width = F.get_dimensions(img)
        if self.pad_if_needed and width < self.size[1]:
            img = F.pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            img = F.pad(img, [0, self.size[0] - height], self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)
        return F.crop(img, i, j, h, w)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class _RandomFlip(Transform):
    """Flip with probability ``p``; subclasses name the flip and its axes.

    ``batch`` draws one number per image, in one call that gives the same stream as the per-image
    draws: alone in a pipeline, it flips exactly the images the per-image path would.
    """

    batchable = True
    _axes: tuple  # (axis of an N, H, W[, C] array batch, axis of an N, C, H, W tensor batch)

    def __init__(self, p: float = 0.5):
        self.p = p

    def _flip(self, img):
        raise NotImplementedError

    def __call__(self, img):
        return self._flip(img) if _rand() < self.p else img

    def batch(self, images):
        return _flip_some(images, self.p, *self._axes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left to right with probability ``p`` (whole batches too, see ``_RandomFlip``)."""

    _axes = (2, -1)

    def _flip(self, img):
        return F.hflip(img)


class RandomVerticalFlip(_RandomFlip):
    """Mirror top to bottom with probability ``p`` (whole batches too, see ``_RandomFlip``)."""

    _axes = (1, -2)

    def _flip(self, img):
        return F.vflip(img)


class RandomResizedCrop(Transform):
    """A random crop of random area ``scale`` and aspect ``ratio``, resized to ``size`` (torchvision's recipe)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias: bool | None = True):
        self.size = F._crop_size(size)
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            import warnings

            warnings.warn("Scale and ratio should be of kind (min, max)")
        self.scale = scale
        self.ratio = ratio
        self.interpolation = F._interp(interpolation)
        self.antialias = antialias

    @staticmethod
    def get_params(img, scale, ratio):
        """(top, left, h, w): up to 10 random tries, then a central crop (as torchvision)."""
        _, height, width = F.get_dimensions(img)
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * float(_uniform((1,), scale[0], scale[1], np.float64, CPU)[0])
            aspect = math.exp(float(_uniform((1,), log_ratio[0], log_ratio[1], np.float64, CPU)[0]))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return _randint(0, height - h + 1), _randint(0, width - w + 1), h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w = width
            h = int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            h = height
            w = int(round(h * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return F.resized_crop(img, i, j, h, w, self.size, self.interpolation, antialias=self.antialias)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, scale={tuple(round(v, 4) for v in self.scale)}, "
                f"ratio={tuple(round(v, 4) for v in self.ratio)}, interpolation={self.interpolation.value}, "
                f"antialias={self.antialias})")


class RandomRotation(Transform):
    """Rotate by an angle drawn uniformly from ``degrees`` (a number d means (-d, d))."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand: bool = False, center=None, fill=0):
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError("If degrees is a single number, it must be positive.")
            degrees = [-float(degrees), float(degrees)]
        elif len(degrees) != 2:
            raise ValueError("If degrees is a sequence, it must be of len 2.")
        self.degrees = [float(d) for d in degrees]
        self.interpolation = F._interp(interpolation)
        self.expand = expand
        self.center = center
        self.fill = 0 if fill is None else fill

    @staticmethod
    def get_params(degrees) -> float:
        return float(_uniform((1,), float(degrees[0]), float(degrees[1]), np.float64, CPU)[0])

    def __call__(self, img):
        angle = self.get_params(self.degrees)
        return F.rotate(img, angle, self.interpolation, self.expand, self.center, self.fill)

    def __repr__(self) -> str:
        s = f"{type(self).__name__}(degrees={self.degrees}, interpolation={self.interpolation.value}, expand={self.expand}"
        s += "" if self.center is None else f", center={self.center}"
        s += "" if self.fill is None else f", fill={self.fill}"
        return s + ")"


def _angle_range(x, name: str, sizes=(2,)) -> list[float]:
    """torchvision's ``_setup_angle``: a number d means (-d, d); else a sequence of one of ``sizes`` lengths."""
    if isinstance(x, numbers.Number):
        if x < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        x = [-x, x]
    elif not isinstance(x, Sequence) or len(x) not in sizes:
        msg = " or ".join(str(n) for n in sizes)
        raise (ValueError if isinstance(x, Sequence) else TypeError)(f"{name} should be a sequence of length {msg}.")
    return [float(d) for d in x]


def _check_pair(x, name: str) -> None:
    if not isinstance(x, Sequence):
        raise TypeError(f"{name} should be a sequence of length 2.")
    if len(x) != 2:
        raise ValueError(f"{name} should be a sequence of length 2.")


class RandomAffine(Transform):
    """A random rotation, translation, scale and shear that keeps the centre (torchvision's ``RandomAffine``).

    Args:
        degrees: angle range (a number d means (-d, d)).
        translate: (a, b): shifts drawn from (-a * width, a * width) and (-b * height, b * height), rounded.
        scale: (min, max) of the scale factor.
        shear: x shear range (a number s means (-s, s)), or 4 numbers: x range then y range.
        interpolation: nearest (default) or bilinear for tensors; any Pillow filter for PIL images.
        fill: value (or one per channel) outside the transformed image.
        center: (x, y) to rotate about; default the image's centre.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None, interpolation=InterpolationMode.NEAREST,
                 fill=0, center=None):
        self.degrees = _angle_range(degrees, "degrees")
        if translate is not None:
            _check_pair(translate, "translate")
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError("translation values should be between 0 and 1")
        if scale is not None:
            _check_pair(scale, "scale")
            if any(v <= 0 for v in scale):
                raise ValueError("scale values should be positive")
        self.translate = translate
        self.scale = scale
        self.shear = None if shear is None else _angle_range(shear, "shear", (2, 4))
        self.interpolation = F._interp(interpolation)
        self.fill = 0 if fill is None else fill
        self.center = center

    @staticmethod
    def get_params(degrees, translate, scale_ranges, shears, img_size):
        """(angle, (tx, ty), scale, (shear_x, shear_y)) for an image of ``img_size`` = [width, height]."""
        def draw(lo, hi):
            return float(_uniform((1,), float(lo), float(hi), np.float32, CPU)[0])

        angle = draw(degrees[0], degrees[1])
        if translate is not None:
            max_dx, max_dy = float(translate[0] * img_size[0]), float(translate[1] * img_size[1])
            translations = (int(round(draw(-max_dx, max_dx))), int(round(draw(-max_dy, max_dy))))
        else:
            translations = (0, 0)
        scale = draw(scale_ranges[0], scale_ranges[1]) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = draw(shears[0], shears[1])
            if len(shears) == 4:
                shear_y = draw(shears[2], shears[3])
        return angle, translations, scale, (shear_x, shear_y)

    def __call__(self, img):
        _, height, width = F.get_dimensions(img)
        params = self.get_params(self.degrees, self.translate, self.scale, self.shear, [width, height])
        return F.affine(img, *params, interpolation=self.interpolation, fill=self.fill, center=self.center)

    def __repr__(self) -> str:
        s = f"{type(self).__name__}(degrees={self.degrees}"
        s += f", translate={self.translate}" if self.translate is not None else ""
        s += f", scale={self.scale}" if self.scale is not None else ""
        s += f", shear={self.shear}" if self.shear is not None else ""
        s += f", interpolation={self.interpolation.value}" if self.interpolation != InterpolationMode.NEAREST else ""
        s += f", fill={self.fill}" if self.fill != 0 else ""
        s += f", center={self.center}" if self.center is not None else ""
        return s + ")"


class RandomPerspective(Transform):
    """With probability ``p``, move each corner inwards by up to ``distortion_scale`` of half the image
    and warp the image to match (torchvision's ``RandomPerspective``)."""

    def __init__(self, distortion_scale: float = 0.5, p: float = 0.5, interpolation=InterpolationMode.BILINEAR,
                 fill=0):
        if fill is not None and not isinstance(fill, (Sequence, numbers.Number)):
            raise TypeError("Fill should be either a sequence or a number.")
        self.p = p
        self.interpolation = F._interp(interpolation)
        self.distortion_scale = distortion_scale
        self.fill = 0 if fill is None else fill

    @staticmethod
    def get_params(width: int, height: int, distortion_scale: float):
        """(startpoints, endpoints): the image's corners and the corners moved inwards at random."""
        dx, dy = int(distortion_scale * (width // 2)), int(distortion_scale * (height // 2))
        topleft = [_randint(0, dx + 1), _randint(0, dy + 1)]
        topright = [_randint(width - dx - 1, width), _randint(0, dy + 1)]
        botright = [_randint(width - dx - 1, width), _randint(height - dy - 1, height)]
        botleft = [_randint(0, dx + 1), _randint(height - dy - 1, height)]
        startpoints = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
        return startpoints, [topleft, topright, botright, botleft]

    def __call__(self, img):
        if _rand() >= self.p:
            return img
        _, height, width = F.get_dimensions(img)
        startpoints, endpoints = self.get_params(width, height, self.distortion_scale)
        return F.perspective(img, startpoints, endpoints, self.interpolation, self.fill)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class Grayscale(Transform):
    """To grayscale with 1 or 3 output channels."""

    def __init__(self, num_output_channels: int = 1):
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        return F.rgb_to_grayscale(img, self.num_output_channels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_output_channels={self.num_output_channels})"


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue, applied in a random order (as torchvision).

    Args:
        brightness, contrast, saturation: a number v (factor drawn from [max(0, 1 - v), 1 + v]) or (min, max).
        hue: a number v in [0, 0.5] (shift drawn from [-v, v]) or (min, max) within [-0.5, 0.5].
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = self._check_input(brightness, "brightness")
        self.contrast = self._check_input(contrast, "contrast")
        self.saturation = self._check_input(saturation, "saturation")
        self.hue = self._check_input(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)

    @staticmethod
    def _check_input(value, name, center=1.0, bound=(0.0, float("inf")), clip_first_on_zero=True):
        if isinstance(value, numbers.Number):
            if value < 0:
                raise ValueError(f"If {name} is a single number, it must be non negative.")
            value = [center - float(value), center + float(value)]
            if clip_first_on_zero:
                value[0] = max(value[0], 0.0)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            value = [float(value[0]), float(value[1])]
        else:
            raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
        if not bound[0] <= value[0] <= value[1] <= bound[1]:
            raise ValueError(f"{name} values should be between {bound}, but got {value}.")
        if value[0] == value[1] == center:
            return None
        return tuple(value)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        """(order of the four adjustments, and each factor or None)."""
        from ...random import _permutation

        order = _permutation(4, CPU).tolist()

        def draw(r):
            return None if r is None else float(_uniform((1,), r[0], r[1], np.float32, CPU)[0])

        return order, draw(brightness), draw(contrast), draw(saturation), draw(hue)

    def __call__(self, img):
        order, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        for k in order:
            if k == 0 and b is not None:
                img = F.adjust_brightness(img, b)
            elif k == 1 and c is not None:
                img = F.adjust_contrast(img, c)
            elif k == 2 and s is not None:
                img = F.adjust_saturation(img, s)
            elif k == 3 and h is not None:
                img = F.adjust_hue(img, h)
        return img

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


class RandomGrayscale(Transform):
    """To grayscale with probability ``p``, keeping the number of channels."""

    def __init__(self, p: float = 0.1):
        self.p = p

    def __call__(self, img):
        channels = F.get_dimensions(img)[0]
        return F.rgb_to_grayscale(img, num_output_channels=channels) if _rand() < self.p else img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class GaussianBlur(Transform):
    """Gaussian blur with a sigma drawn uniformly from ``sigma`` (a number s means (s, s)) for each image.

    Args:
        kernel_size: odd int or (x, y) sizes.
        sigma: a positive number, or (min, max).
    """

    def __init__(self, kernel_size, sigma=(0.1, 2.0)):
        if isinstance(kernel_size, numbers.Number):
            kernel_size = (int(kernel_size), int(kernel_size))
        elif isinstance(kernel_size, Sequence) and len(kernel_size) == 1:
            kernel_size = (kernel_size[0], kernel_size[0])
        elif len(kernel_size) != 2:
            raise ValueError("Kernel size should be a tuple/list of two integers")
        if any(k <= 0 or k % 2 == 0 for k in kernel_size):
            raise ValueError("Kernel size value should be an odd and positive number.")
        if isinstance(sigma, numbers.Number):
            if sigma <= 0:
                raise ValueError("If sigma is a single number, it must be positive.")
            sigma = (sigma, sigma)
        elif isinstance(sigma, Sequence) and len(sigma) == 2:
            if not 0.0 < sigma[0] <= sigma[1]:
                raise ValueError("sigma values should be positive and of the form (min, max).")
        else:
            raise ValueError("sigma should be a single number or a list/tuple with length 2.")
        self.kernel_size = kernel_size
        self.sigma = sigma

    @staticmethod
    def get_params(sigma_min: float, sigma_max: float) -> float:
        return float(_uniform((1,), float(sigma_min), float(sigma_max), np.float32, CPU)[0])

    def __call__(self, img):
        sigma = self.get_params(self.sigma[0], self.sigma[1])
        return F.gaussian_blur(img, self.kernel_size, [sigma, sigma])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, sigma={self.sigma})"


class _RandomPointOp(Transform):
    """Apply ``_op`` with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def _op(self, img):
        raise NotImplementedError

    def __call__(self, img):
        return self._op(img) if _rand() < self.p else img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomInvert(_RandomPointOp):
    """Invert the colours with probability ``p``."""

    def _op(self, img):
        return F.invert(img)


class RandomSolarize(_RandomPointOp):
    """Invert the values at or above ``threshold``, with probability ``p``."""

    def __init__(self, threshold: float, p: float = 0.5):
        super().__init__(p)
        self.threshold = threshold

    def _op(self, img):
        return F.solarize(img, self.threshold)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold},p={self.p})"  # torchvision's spacing


class RandomAdjustSharpness(_RandomPointOp):
    """``adjust_sharpness(img, sharpness_factor)`` with probability ``p``."""

    def __init__(self, sharpness_factor: float, p: float = 0.5):
        super().__init__(p)
        self.sharpness_factor = sharpness_factor

    def _op(self, img):
        return F.adjust_sharpness(img, self.sharpness_factor)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sharpness_factor={self.sharpness_factor},p={self.p})"


class RandomPosterize(_RandomPointOp):
    """Keep ``bits`` bits of each value, with probability ``p``."""

    def __init__(self, bits: int, p: float = 0.5):
        super().__init__(p)
        self.bits = bits

    def _op(self, img):
        return F.posterize(img, self.bits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.bits},p={self.p})"


class RandomAutocontrast(_RandomPointOp):
    """Stretch each channel to the full range, with probability ``p``."""

    def _op(self, img):
        return F.autocontrast(img)


class RandomEqualize(_RandomPointOp):
    """Equalize the histogram, with probability ``p``."""

    def _op(self, img):
        return F.equalize(img)


def _crop_pair(size):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    return size


class FiveCrop(Transform):
    """The four corner crops and the central crop of ``size``, as a tuple of five images."""

    def __init__(self, size):
        self.size = _crop_pair(size)

    def __call__(self, img):
        return F.five_crop(img, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class TenCrop(Transform):
    """``FiveCrop`` of the image and of its mirror (``vertical_flip`` mirrors top to bottom): ten images."""

    def __init__(self, size, vertical_flip: bool = False):
        self.size = _crop_pair(size)
        self.vertical_flip = vertical_flip

    def __call__(self, img):
        return F.ten_crop(img, self.size, self.vertical_flip)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, vertical_flip={self.vertical_flip})"


class RandomErasing(Transform):
    """Erase a random rectangle of a tensor image with probability ``p`` (Zhong et al.'s Random Erasing).

    Args:
        p: probability of erasing.
        scale: (min, max) of the erased area, as a fraction of the image.
        ratio: (min, max) of the rectangle's aspect ratio (drawn log-uniformly).
        value: the fill: a number, one per channel, or ``'random'`` (standard normal values).
        inplace: erase in the given tensor.
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace: bool = False):
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not isinstance(scale, Sequence):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, Sequence):
            raise TypeError("Ratio should be a sequence")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            import warnings

            warnings.warn("Scale and ratio should be of kind (min, max)")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if p < 0 or p > 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
        self.inplace = inplace

    @staticmethod
    def get_params(img, scale, ratio, value=None):
        """(i, j, h, w, v): up to 10 tries for a rectangle inside the image, else the whole image (v = img)."""
        from ...random import _normal

        img_c, img_h, img_w = img.shape[-3], img.shape[-2], img.shape[-1]
        area = img_h * img_w
        log_ratio = np.log(np.asarray(ratio, dtype=np.float32))
        for _ in range(10):
            erase_area = area * float(_uniform((1,), scale[0], scale[1], np.float32, CPU)[0])
            aspect = float(np.exp(_uniform((1,), float(log_ratio[0]), float(log_ratio[1]), np.float32, CPU)[0]))
            h = int(round(math.sqrt(erase_area * aspect)))
            w = int(round(math.sqrt(erase_area / aspect)))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v = Tensor._make(_normal((img_c, h, w), 0.0, 1.0, np.float32, CPU), CPU)
            else:
                v = Tensor._make(np.asarray(value, dtype=np.float32)[:, None, None], CPU)
            return _randint(0, img_h - h + 1), _randint(0, img_w - w + 1), h, w, v
        return 0, 0, img_h, img_w, img

    def __call__(self, img):
        if _rand() >= self.p:
            return img
        if isinstance(self.value, str):
            value = None
        elif isinstance(self.value, (list, tuple)):
            value = [float(v) for v in self.value]
        else:
            value = [float(self.value)]
        if value is not None and len(value) not in (1, img.shape[-3]):
            raise ValueError("If value is a sequence, it should have either a single value or "
                             f"{img.shape[-3]} (number of input channels)")
        i, j, h, w, v = self.get_params(img, scale=self.scale, ratio=self.ratio, value=value)
        return F.erase(img, i, j, h, w, v, self.inplace)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value}, "
                f"inplace={self.inplace})")


class RandomApply(Transform):
    """Apply the list of ``transforms`` with probability ``p`` (one draw for all)."""

    def __init__(self, transforms: Sequence[Callable], p: float = 0.5):
        self.transforms = list(transforms)
        self.p = p

    def __call__(self, img):
        if self.p < _rand():
            return img
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}(\n    p={self.p}{body}\n)"


def _list_repr(self) -> str:
    body = "".join(f"\n    {t}" for t in self.transforms)
    return f"{type(self).__name__}({body}\n)"


class RandomChoice(Transform):
    """Apply one of ``transforms``, picked at random (weighted by ``p`` when given)."""

    def __init__(self, transforms: Sequence[Callable], p: Sequence[float] | None = None):
        if p is not None and len(p) != len(transforms):
            raise ValueError(f"Length of p doesn't match the number of transforms: {len(p)} != {len(transforms)}")
        self.transforms = list(transforms)
        self.p = p

    def __call__(self, img):
        if self.p is None:
            k = _randint(0, len(self.transforms))
        else:
            w = np.cumsum(np.asarray(self.p, dtype=np.float64))
            k = int(np.searchsorted(w, _rand() * w[-1], side="right"))
            k = min(k, len(self.transforms) - 1)
        return self.transforms[k](img)

    def __repr__(self) -> str:
        return f"{_list_repr(self)}(p={self.p})"  # torchvision's odd layout, kept


class RandomOrder(Transform):
    """Apply ``transforms`` in a random order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, img):
        from ...random import _permutation

        for k in _permutation(len(self.transforms), CPU).tolist():
            img = self.transforms[k](img)
        return img

    __repr__ = _list_repr


class Lambda(Transform):
    """Apply a user function."""

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)
