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
