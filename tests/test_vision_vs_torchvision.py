"""nerve.vision against the real torchvision, run side by side in the same test session.

Each test calls torchvision and nerve with the same arguments on the same small images and asserts
the same results: PIL images (mode, size, pixels), tensors (dtype, shape, values), errors.
"""

import warnings

import numpy as np
import pytest
from _torchvision import import_torchvision
from PIL import Image

import nerve
from nerve.vision import transforms as NT
from nerve.vision.transforms import functional as NF

torchvision = import_torchvision()
import torch
import torchvision.transforms as TT
import torchvision.transforms.functional as TF

warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")


def image(h, w, c=3, seed=0):
    """An HWC uint8 array of random pixels (HW when ``c`` is 0)."""
    shape = (h, w) if c == 0 else (h, w, c)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def pil(a):
    return Image.fromarray(a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a)


def chw(a):
    """The same CHW image as a torch tensor and as a nerve tensor."""
    c = np.ascontiguousarray(a.transpose(2, 0, 1) if a.ndim == 3 else a)
    return torch.from_numpy(c.copy()), nerve.tensor(c.copy())


def same(ours, theirs, atol=0.0):
    """Assert that nerve's result equals torchvision's: same kind, mode or dtype, shape and values."""
    if isinstance(theirs, Image.Image):
        assert isinstance(ours, Image.Image), type(ours)
        assert (ours.mode, ours.size) == (theirs.mode, theirs.size)
        a, b = np.asarray(ours), np.asarray(theirs)
    elif isinstance(theirs, torch.Tensor):
        assert isinstance(ours, nerve.Tensor), type(ours)
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        a, b = ours.numpy(), theirs.numpy()
    else:
        a, b = np.asarray(ours), np.asarray(theirs)
        assert a.dtype == b.dtype
    assert a.shape == b.shape
    if atol:
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=0, atol=atol)
    else:
        np.testing.assert_array_equal(a, b)


def same_error(call_ours, call_theirs):
    """Both raise, the same exception type; returns nerve's message."""
    with pytest.raises(Exception) as theirs:
        call_theirs()
    with pytest.raises(type(theirs.value)) as ours:
        call_ours()
    return str(ours.value)


# ---------------------------------------------------------------- conversions


@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_to_pil_image_tensors_and_arrays(c):
    a = image(5, 6, c)
    t, n = chw(a)
    same(NF.to_pil_image(n), TF.to_pil_image(t))
    same(NF.to_pil_image(a), TF.to_pil_image(a))
    f = a.astype(np.float32) / 255  # floats are scaled by 255, arrays as tensors
    same(NF.to_pil_image(f), TF.to_pil_image(f))
    same(NF.to_pil_image(chw(f)[1]), TF.to_pil_image(chw(f)[0]))
    same(NT.ToPILImage()(f), TT.ToPILImage()(f))


@pytest.mark.parametrize("c, mode", [(1, "F"), (3, "YCbCr"), (3, "HSV"), (4, "CMYK"), (4, "RGBX"), (2, "LA")])
def test_to_pil_image_mode_reads_the_channels_as_given(c, mode):
    a = image(4, 5, c)
    if mode == "F":
        a = a.astype(np.float32) / 255
    t, n = chw(a)
    same(NF.to_pil_image(n, mode), TF.to_pil_image(t, mode))
    same(NT.ToPILImage(mode)(a), TT.ToPILImage(mode)(a))


@pytest.mark.parametrize("c, mode", [(1, "RGB"), (3, "L"), (3, "RGBA"), (4, "RGB"), (2, "RGB"), (1, "I")])
def test_to_pil_image_mode_that_does_not_fit_is_an_error(c, mode):
    t, n = chw(image(4, 5, c))
    msg = same_error(lambda: NF.to_pil_image(n, mode), lambda: TF.to_pil_image(t, mode))
    assert "mode" in msg


@pytest.mark.parametrize("mode", ["1", "L", "P", "I", "F", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "HSV"])
def test_to_tensor_and_pil_to_tensor_every_mode(mode):
    p = pil(image(5, 6, 3)).convert(mode)
    same(NF.to_tensor(p), TF.to_tensor(p))
    same(NF.pil_to_tensor(p), TF.pil_to_tensor(p))


# ---------------------------------------------------------------- resize

MODES = ["NEAREST", "NEAREST_EXACT", "BILINEAR", "BICUBIC"]


@pytest.mark.parametrize("mode", MODES + ["BOX", "HAMMING", "LANCZOS"])
@pytest.mark.parametrize("size", [5, (4, 6), (15, 20), [13]])
def test_resize_pil(mode, size):
    p = pil(image(7, 9, 3))
    ours = NF.resize(p, size, getattr(NF.InterpolationMode, mode))
    same(ours, TF.resize(p, size, getattr(TF.InterpolationMode, mode)))


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [5, (4, 6), (15, 20), [13]])
def test_resize_tensor(mode, size, antialias):
    """Tensors are resized as torchvision resizes them: PyTorch's nearest index rules, bicubic
    with a = -0.75 when not antialiased, integers interpolated as floats (uint8 may differ by one
    where a float32 result lies within rounding error of .5)."""
    for dtype, atol in ((np.uint8, 1), (np.float32, 1e-5)):
        a = image(7, 9, 3)
        a = a if dtype == np.uint8 else a.astype(np.float32) / 255
        t, n = chw(a)
        ours = NF.resize(n, size, getattr(NF.InterpolationMode, mode), antialias=antialias)
        same(ours, TF.resize(t, size, getattr(TF.InterpolationMode, mode), antialias=antialias), atol=atol)


@pytest.mark.parametrize("mode", MODES)
def test_resize_batched_tensor_and_max_size(mode):
    b = np.random.default_rng(1).random((2, 3, 8, 12), dtype=np.float32)
    tr = TT.Resize([5, 7], getattr(TF.InterpolationMode, mode))
    nr = NT.Resize([5, 7], getattr(NF.InterpolationMode, mode))
    same(nr(nerve.tensor(b)), tr(torch.from_numpy(b)), atol=1e-5)
    for max_size in (None, 10, 14):
        same(NT.Resize(6, max_size=max_size)(nerve.tensor(b)), TT.Resize(6, max_size=max_size)(torch.from_numpy(b)),
             atol=1e-5)
    assert repr(NT.Resize((4, 5), max_size=None, antialias=False)) == repr(TT.Resize((4, 5), antialias=False))


# ---------------------------------------------------------------- rotate, affine


ROTATIONS = [(30, False, None, None), (-45, True, (2, 3), 100), (90, False, None, 7), (12.5, True, None, [10, 20, 30])]


@pytest.mark.parametrize("angle, expand, center, fill", ROTATIONS)
@pytest.mark.parametrize("mode", ["NEAREST", "BILINEAR"])
def test_rotate(angle, expand, center, fill, mode):
    """PIL images by Pillow; tensors by a sampling grid, exactly as torchvision's (uint8 bilinear may
    differ by one where a float32 value lies within rounding error of .5)."""
    a = image(7, 9, 3)
    kw = dict(expand=expand, center=center, fill=fill)
    same(NF.rotate(pil(a), angle, getattr(NF.InterpolationMode, mode), **kw),
         TF.rotate(pil(a), angle, getattr(TF.InterpolationMode, mode), **kw))
    t, n = chw(a)
    same(NF.rotate(n, angle, getattr(NF.InterpolationMode, mode), **kw),
         TF.rotate(t, angle, getattr(TF.InterpolationMode, mode), **kw), atol=1 if mode == "BILINEAR" else 0)
    f = a.astype(np.float32) / 255
    t, n = chw(f)
    same(NF.rotate(n, angle, getattr(NF.InterpolationMode, mode), **kw),
         TF.rotate(t, angle, getattr(TF.InterpolationMode, mode), **kw), atol=1e-4)


AFFINES = [(30, [0, 0], 1.0, 0, None), (-45, [2, -1], 1.3, [5, -8], (2, 3)), (90, [1, 1], 0.7, 10, None),
           (0, [0, 0], 1.0, [12], (4, 4))]


@pytest.mark.parametrize("angle, translate, scale, shear, center", AFFINES)
@pytest.mark.parametrize("mode", ["NEAREST", "BILINEAR"])
def test_affine(angle, translate, scale, shear, center, mode):
    a = image(8, 9, 3)
    for fill in (None, [10, 20, 30]):
        kw = dict(center=center, fill=fill)
        same(NF.affine(pil(a), angle, translate, scale, shear, getattr(NF.InterpolationMode, mode), **kw),
             TF.affine(pil(a), angle, translate, scale, shear, getattr(TF.InterpolationMode, mode), **kw))
        t, n = chw(a)
        same(NF.affine(n, angle, translate, scale, shear, getattr(NF.InterpolationMode, mode), **kw),
             TF.affine(t, angle, translate, scale, shear, getattr(TF.InterpolationMode, mode), **kw),
             atol=1 if mode == "BILINEAR" else 0)


def test_random_rotation_and_affine_apply_their_parameters_as_torchvision():
    torch.manual_seed(0)
    a = image(8, 9, 3)
    t, n = chw(a)
    for kw in (dict(degrees=30), dict(degrees=(10, 20), translate=(0.1, 0.2), scale=(0.8, 1.2), shear=10),
               dict(degrees=0, shear=(1, 2, 3, 4), fill=5, center=(1, 2))):
        ta, na = TT.RandomAffine(**kw), NT.RandomAffine(**kw)
        assert repr(na) == repr(ta)
        assert (na.degrees, na.translate, na.scale, na.shear, na.fill) == (ta.degrees, ta.translate, ta.scale,
                                                                            ta.shear, ta.fill)
        for _ in range(3):  # torchvision's parameters, through nerve's functional: the same images
            p = ta.get_params(ta.degrees, ta.translate, ta.scale, ta.shear, [9, 8])
            same(NF.affine(pil(a), *p, fill=na.fill, center=na.center),
                 TF.affine(pil(a), *p, fill=ta.fill, center=ta.center))
            same(NF.affine(n, *p, fill=na.fill, center=na.center),
                 TF.affine(t, *p, fill=[float(ta.fill)] * 3, center=ta.center))
        angle, (tx, ty), scale, (sx, sy) = na.get_params(na.degrees, na.translate, na.scale, na.shear, [9, 8])
        assert na.degrees[0] <= angle <= na.degrees[1] and isinstance(tx, int) and isinstance(ty, int)
    # RandomRotation's default fill 0 is a fill (masked edges when bilinear), as torchvision's
    tr = TT.RandomRotation((33, 33), TF.InterpolationMode.BILINEAR)
    nr = NT.RandomRotation((33, 33), NF.InterpolationMode.BILINEAR, fill=None)
    same(nr(n), tr(t), atol=1)
    with pytest.raises(ValueError, match="translation values should be between 0 and 1"):
        NT.RandomAffine(10, translate=(0.1, 2))
    with pytest.raises(ValueError, match="shear should be a sequence of length 2 or 4"):
        NT.RandomAffine(10, shear=(1, 2, 3))


# ---------------------------------------------------------------- colour


@pytest.mark.parametrize("fn, factors", [("adjust_brightness", (0, 0.3, 1.7)), ("adjust_contrast", (0, 0.3, 1.7)),
                                         ("adjust_saturation", (0, 0.3, 1.7)), ("adjust_hue", (-0.5, -0.2, 0.37))])
def test_colour_adjustments(fn, factors):
    a = image(6, 7, 3)
    f = a.astype(np.float32) / 255
    batch = np.random.default_rng(2).random((2, 3, 5, 6), dtype=np.float32)
    for factor in factors:
        ours, theirs = getattr(NF, fn), getattr(TF, fn)
        same(ours(pil(a), factor), theirs(pil(a), factor))
        same(ours(pil(a[:, :, 0]), factor), theirs(pil(a[:, :, 0]), factor))
        same(ours(chw(a)[1], factor), theirs(chw(a)[0], factor))  # uint8: back to 8 bits as torchvision rounds
        same(ours(chw(f)[1], factor), theirs(chw(f)[0], factor), atol=1e-5)
        same(ours(nerve.tensor(batch), factor), theirs(torch.from_numpy(batch), factor), atol=1e-5)


def test_grayscale():
    a = image(6, 7, 3)
    for n in (1, 3):
        same(NT.Grayscale(n)(pil(a)), TT.Grayscale(n)(pil(a)))
        same(NT.Grayscale(n)(chw(a)[1]), TT.Grayscale(n)(chw(a)[0]))
        same(NT.Grayscale(n)(chw(a / np.float32(255))[1]), TT.Grayscale(n)(chw(a / np.float32(255))[0]), atol=1e-6)
    t, n = chw(image(5, 5, 4))
    same_error(lambda: NF.rgb_to_grayscale(n), lambda: TF.rgb_to_grayscale(t))
