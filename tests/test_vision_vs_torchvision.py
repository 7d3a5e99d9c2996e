"""nerve.vision against the real torchvision, run side by side in the same test session.

Each test calls torchvision and nerve with the same arguments on the same small images and asserts
the same results: PIL images (mode, size, pixels), tensors (dtype, shape, values), errors.
"""

import os
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


# ---------------------------------------------------------------- the other transforms: crops, pads, reprs


@pytest.mark.parametrize("size", [3, (4, 5), (10, 12), (8, 4), [5]])
def test_center_crop_and_crop(size):
    a = image(7, 9, 3)
    t, n = chw(a)
    same(NT.CenterCrop(size)(pil(a)), TT.CenterCrop(size)(pil(a)))
    same(NT.CenterCrop(size)(n), TT.CenterCrop(size)(t))
    for box in [(1, 2, 3, 4), (-2, -1, 5, 6), (5, 7, 4, 4)]:
        same(NF.crop(pil(a), *box), TF.crop(pil(a), *box))
        same(NF.crop(n, *box), TF.crop(t, *box))


@pytest.mark.parametrize("padding_mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad(padding_mode):
    a = image(6, 7, 3)
    t, n = chw(a)
    for padding in (1, (1, 2), (1, 2, 3, 4), (-1, 1, 2, -2)):
        same(NT.Pad(padding, 7, padding_mode)(pil(a)), TT.Pad(padding, 7, padding_mode)(pil(a)))
        same(NT.Pad(padding, 7, padding_mode)(n), TT.Pad(padding, 7, padding_mode)(t))
    for mode in ("P", "L", "RGBA"):
        p = pil(a).convert(mode)
        same(NF.pad(p, 2, 3, padding_mode), TF.pad(p, 2, 3, padding_mode))
    same(NF.hflip(n), TF.hflip(t))
    same(NF.vflip(pil(a)), TF.vflip(pil(a)))


def test_random_crop_and_resized_crop_parameters():
    a = image(10, 30, 3)
    for scale, ratio in [((5, 6), (0.75, 1.33)), ((2, 3), (10, 11)), ((2, 3), (0.1, 0.2))]:  # the central fallback
        assert NT.RandomResizedCrop.get_params(pil(a), scale, ratio) == TT.RandomResizedCrop.get_params(pil(a), scale,
                                                                                                         ratio)
    t, n = chw(a)
    for kw in (dict(size=12, pad_if_needed=True), dict(size=(12, 40), pad_if_needed=True, fill=9),
               dict(size=8, padding=3, padding_mode="reflect")):
        assert NT.RandomCrop(**kw)(pil(a)).size == TT.RandomCrop(**kw)(pil(a)).size
        assert tuple(NT.RandomCrop(**kw)(n).shape) == tuple(TT.RandomCrop(**kw)(t).shape)
    for size in (5, (4, 6)):
        assert tuple(NT.RandomResizedCrop(size)(n).shape) == tuple(TT.RandomResizedCrop(size)(t).shape)


def test_reprs():
    pairs = [
        (NT.Pad((1, 2), fill=3, padding_mode="edge"), TT.Pad((1, 2), fill=3, padding_mode="edge")),
        (NT.RandomResizedCrop(5), TT.RandomResizedCrop(5)),
        (NT.RandomRotation(30, center=(1, 2)), TT.RandomRotation(30, center=(1, 2))),
        (NT.RandomApply([NT.Grayscale()], p=0.3), TT.RandomApply([TT.Grayscale()], p=0.3)),
        (NT.RandomChoice([NT.Grayscale(), NT.RandomHorizontalFlip()]),
         TT.RandomChoice([TT.Grayscale(), TT.RandomHorizontalFlip()])),
        (NT.RandomOrder([NT.Grayscale()]), TT.RandomOrder([TT.Grayscale()])),
        (NT.ConvertImageDtype(nerve.float32), TT.ConvertImageDtype(torch.float32)),
        (NT.ToPILImage("RGB"), TT.ToPILImage("RGB")), (NT.ToPILImage(), TT.ToPILImage()),
        (NT.Compose([NT.Resize((3, 4)), NT.CenterCrop(3), NT.ToTensor(), NT.Normalize([0.5], [0.2])]),
         TT.Compose([TT.Resize((3, 4)), TT.CenterCrop(3), TT.ToTensor(), TT.Normalize([0.5], [0.2])])),
        (NT.ColorJitter(0.2, 0.3, 0.4, 0.1), TT.ColorJitter(0.2, 0.3, 0.4, 0.1)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------- utils


@pytest.mark.parametrize("shape", [(5, 3, 4, 6), (1, 3, 4, 4), (7, 1, 3, 3), (3, 4, 4), (4, 4), (3, 2, 5, 5)])
def test_make_grid(shape):
    from torchvision import utils as TU

    from nerve.vision import utils as NU

    x = (np.random.default_rng(0).standard_normal(shape) * 2).astype(np.float32)
    for kw in (dict(), dict(nrow=2, padding=0), dict(padding=3, pad_value=0.5), dict(normalize=True),
               dict(normalize=True, value_range=(-1, 1)), dict(nrow=3, normalize=True, scale_each=True)):
        same(NU.make_grid(nerve.tensor(x), **kw), TU.make_grid(torch.from_numpy(x), **kw), atol=1e-6)


def test_save_image(tmp_path):
    from torchvision import utils as TU

    from nerve.vision import utils as NU

    x = np.random.default_rng(0).random((5, 3, 4, 6), dtype=np.float32) * 1.4 - 0.2
    for k, arr in enumerate((x, x[:1, :1], x[0, 0])):
        TU.save_image(torch.from_numpy(arr.copy()), tmp_path / f"t{k}.png", nrow=2)
        NU.save_image(nerve.tensor(arr.copy()), tmp_path / f"n{k}.png", nrow=2)
        same(Image.open(tmp_path / f"n{k}.png"), Image.open(tmp_path / f"t{k}.png"))


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("name, kw", [("resnet18", dict(num_classes=10)), ("resnet50", dict(num_classes=7))])
def test_resnet_same_structure_and_outputs(name, kw):
    """The same state-dict keys and shapes; with torchvision's weights copied in, the same outputs
    (eval and train mode), gradients and running statistics, compared in float64 where nothing is lost
    to rounding."""
    import torchvision.models as TM

    from nerve.vision import models as NM

    torch.manual_seed(0)
    tm, nm = getattr(TM, name)(weights=None, **kw), getattr(NM, name)(weights=None, **kw)
    ts, ns = tm.state_dict(), nm.state_dict()
    assert list(ns) == list(ts)
    assert [tuple(v.shape) for v in ns.values()] == [tuple(v.shape) for v in ts.values()]
    assert repr(nm) == repr(tm)
    nm.load_state_dict({k: nerve.tensor(v.numpy().copy()) for k, v in ts.items()})
    tm, nm = tm.double(), nm.double()
    # 33 x 33: layer4's batch norms then see 8 values a channel (with 2 values, training-mode batch
    # norm amplifies rounding differences a thousandfold)
    x = np.random.default_rng(0).standard_normal((2, 3, 33, 33))
    w = np.random.default_rng(1).standard_normal((2, kw["num_classes"]))
    tm.eval(), nm.eval()
    with torch.no_grad(), nerve.no_grad():
        np.testing.assert_allclose(nm(nerve.tensor(x)).numpy(), tm(torch.from_numpy(x)).numpy(), rtol=1e-9, atol=1e-9)
    tm.train(), nm.train()
    yt, yn = tm(torch.from_numpy(x)), nm(nerve.tensor(x))
    np.testing.assert_allclose(yn.detach().numpy(), yt.detach().numpy(), rtol=1e-8, atol=1e-8)
    if name != "resnet18":  # the same layers as resnet18's, in another arrangement: forward is enough (time)
        return
    (yt * torch.from_numpy(w)).sum().backward()
    (yn * nerve.tensor(w)).sum().backward()
    for (key, p), q in zip(tm.named_parameters(), nm.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-7, atol=1e-9, err_msg=key)
    ts, ns = tm.state_dict(), nm.state_dict()
    for key in ts:  # running statistics after one training step
        np.testing.assert_allclose(ns[key].numpy(), ts[key].numpy(), rtol=1e-9, atol=1e-12, err_msg=key)


# ---------------------------------------------------------------- datasets


@pytest.fixture()
def image_tree(tmp_path):
    root = tmp_path / "tree"
    files = ["b/x1.png", "b/sub/z.PNG", "b/sub/deeper/a.jpg", "a/2.png", "a/10.png", "a/.hidden.png", "a/notes.txt",
             "c/file.JPEG", "empty/readme.md", "A/up.png", "a b/sp.bmp", "b/sub2/q.ppm", "d.png"]
    for k, name in enumerate(files):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        ext = p.suffix.lower()[1:]
        if ext in ("png", "jpg", "jpeg", "bmp", "ppm"):
            Image.fromarray(image(4, 5, 3, seed=k)).save(p, format={"jpg": "JPEG"}.get(ext, ext.upper()))
        else:
            p.write_text("x")
    (root / "zz_empty").mkdir()
    return root


def test_image_folder_and_dataset_folder(image_tree):
    import torchvision.datasets as TD

    from nerve.vision import datasets as ND

    def layout(ds):
        rel = [(os.path.relpath(p, image_tree), c) for p, c in ds.samples]
        return ds.classes, ds.class_to_idx, rel, ds.targets

    for kw in (dict(allow_empty=True), dict(is_valid_file=lambda p: p.endswith(".png"), allow_empty=True)):
        t, n = TD.ImageFolder(image_tree, **kw), ND.ImageFolder(image_tree, **kw)
        assert layout(n) == layout(t)
        for i in range(len(t)):
            same(n[i][0], t[i][0])
            assert n[i][1] == t[i][1]
    msg = same_error(lambda: ND.ImageFolder(image_tree), lambda: TD.ImageFolder(image_tree))
    assert "empty" in msg
    for kw in (dict(extensions=(".png",), allow_empty=True), dict(extensions=("txt", "md"), allow_empty=True)):
        t, n = TD.DatasetFolder(image_tree, str, **kw), ND.DatasetFolder(image_tree, str, **kw)
        assert layout(n) == layout(t)
    same_error(lambda: ND.DatasetFolder(image_tree, str), lambda: TD.DatasetFolder(image_tree, str))


def test_dataset_repr_and_standard_transform(image_tree):
    import torchvision.datasets as TD

    from nerve.vision import datasets as ND

    t = TD.ImageFolder(image_tree, transform=TT.Compose([TT.Resize(3), TT.ToTensor()]), allow_empty=True)
    n = ND.ImageFolder(image_tree, transform=NT.Compose([NT.Resize(3), NT.ToTensor()]), allow_empty=True)
    assert repr(n) == repr(t)
    assert repr(ND.FakeData(size=5, image_size=(3, 6, 7))) == repr(TD.FakeData(size=5, image_size=(3, 6, 7)))
    sample, target = n.transforms(Image.open(n.samples[0][0]).convert("RGB"), 3)  # transforms(input, target)
    assert target == 3 and tuple(sample.shape) == (3, 3, 3)


def _idx(path, arr):
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(head + arr.tobytes())


@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST", "KMNIST"])
def test_mnist_family_reads_the_same_files(tmp_path, name):
    import torchvision.datasets as TD
    from torch.utils.data import DataLoader as TorchLoader

    from nerve.utils.data import DataLoader
    from nerve.vision import datasets as ND

    raw = tmp_path / name / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 7), ("t10k", 3)):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        _idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (count,), dtype=np.uint8))
    for train in (True, False):
        t, n = getattr(TD, name)(tmp_path, train=train), getattr(ND, name)(tmp_path, train=train)
        same(n.data, t.data)
        same(n.targets, t.targets)
        assert (n.classes, n.class_to_idx, repr(n)) == (t.classes, t.class_to_idx, repr(t))
        same(n[1][0], t[1][0])
        assert n[1][1] == t[1][1] and type(n[1][1]) is type(t[1][1])
        tf = ([TT.ToTensor(), TT.Normalize((0.1307,), (0.3081,))], [NT.ToTensor(), NT.Normalize((0.1307,), (0.3081,))])
        t = getattr(TD, name)(tmp_path, train=train, transform=TT.Compose(tf[0]))
        n = getattr(ND, name)(tmp_path, train=train, transform=NT.Compose(tf[1]))
        (xt, yt), (xn, yn) = next(iter(TorchLoader(t, batch_size=4))), next(iter(DataLoader(n, batch_size=4)))
        same(xn, xt, atol=1e-6)
        same(yn, yt)


def test_cifar10_reads_the_same_batches(tmp_path):
    import hashlib
    import pickle

    import torchvision.datasets as TD

    from nerve.vision import datasets as ND

    src = tmp_path / "cifar-10-batches-py"
    src.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"batch_label": name, "data": rng.integers(0, 256, (3, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, 3).tolist()}
        (src / name).write_bytes(pickle.dumps(batch, protocol=2))
    (src / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{k}" for k in range(10)]}, protocol=2))
    md5 = {name: hashlib.md5((src / name).read_bytes()).hexdigest() for name in names + ["batches.meta"]}
    small = {"train_list": [[name, md5[name]] for name in names[:5]], "test_list": [["test_batch", md5["test_batch"]]],
             "meta": {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]}}
    for train in (True, False):
        t = type("CIFAR10", (TD.CIFAR10,), small)(tmp_path, train=train)
        n = type("CIFAR10", (ND.CIFAR10,), small)(tmp_path, train=train)
        same(n.data, t.data)
        assert (n.targets, n.classes, n.class_to_idx, repr(n)) == (t.targets, t.classes, t.class_to_idx, repr(t))
        same(n[2][0], t[2][0])
        assert n[2][1] == t[2][1]


def test_fake_data():
    import torchvision.datasets as TD

    from nerve.vision import datasets as ND

    for image_size in ((3, 6, 7), (1, 6, 7)):
        t, n = TD.FakeData(size=5, image_size=image_size, num_classes=4), ND.FakeData(size=5, image_size=image_size,
                                                                                      num_classes=4)
        assert len(n) == len(t)
        (ti, tl), (ni, nl) = t[0], n[0]
        assert (ni.mode, ni.size, type(nl)) == (ti.mode, ti.size, type(tl)) and 0 <= nl < 4
        same_error(lambda: n[5], lambda: t[5])
    x = torch.randn(3, 6, 7, generator=torch.Generator().manual_seed(3))  # FakeData's conversion of a normal draw
    same(NT.ToPILImage()(nerve.tensor(x.numpy())), TT.ToPILImage()(x))


# ---------------------------------------------------------------- blur, sharpness, gamma, invert, erasing


@pytest.mark.parametrize("kernel_size, sigma", [(3, None), ((5, 3), None), (3, 1.5), ((3, 5), (0.7, 2.0))])
def test_gaussian_blur(kernel_size, sigma):
    a = image(7, 9, 3)
    t, n = chw(a)
    same(NF.gaussian_blur(pil(a), kernel_size, sigma), TF.gaussian_blur(pil(a), kernel_size, sigma))
    same(NF.gaussian_blur(pil(a[:, :, 0]), kernel_size, sigma), TF.gaussian_blur(pil(a[:, :, 0]), kernel_size, sigma))
    same(NF.gaussian_blur(n, kernel_size, sigma), TF.gaussian_blur(t, kernel_size, sigma))
    b = np.random.default_rng(2).random((2, 3, 6, 7), dtype=np.float32)
    same(NF.gaussian_blur(nerve.tensor(b), kernel_size, sigma), TF.gaussian_blur(torch.from_numpy(b), kernel_size, sigma),
         atol=1e-6)
    s = (0.5, 1.0) if sigma is None else sigma
    ours, theirs = NT.GaussianBlur(kernel_size, s), TT.GaussianBlur(kernel_size, s)
    assert (repr(ours), ours.kernel_size, ours.sigma) == (repr(theirs), theirs.kernel_size, theirs.sigma)
    assert ours.sigma[0] <= ours.get_params(*ours.sigma) <= ours.sigma[1]
    same_error(lambda: NT.GaussianBlur(4), lambda: TT.GaussianBlur(4))
    same_error(lambda: NT.GaussianBlur(3, (2, 1)), lambda: TT.GaussianBlur(3, (2, 1)))


@pytest.mark.parametrize("fn, args", [("adjust_sharpness", (0.5,)), ("adjust_sharpness", (2.5,)), ("adjust_gamma", (0.5,)),
                                      ("adjust_gamma", (2.2, 0.8)), ("invert", ()), ("solarize", (100,))])
def test_point_and_sharpness_functions(fn, args):
    a = image(7, 9, 3)
    t, n = chw(a)
    same(getattr(NF, fn)(pil(a), *args), getattr(TF, fn)(pil(a), *args))
    same(getattr(NF, fn)(pil(a[:, :, 0]), *args), getattr(TF, fn)(pil(a[:, :, 0]), *args))
    same(getattr(NF, fn)(n, *args), getattr(TF, fn)(t, *args))
    if fn != "solarize":
        f = a.astype(np.float32) / 255
        same(getattr(NF, fn)(chw(f)[1], *args), getattr(TF, fn)(chw(f)[0], *args), atol=1e-6)


def test_random_erasing_grayscale_and_point_transforms():
    f = image(7, 9, 3).astype(np.float32) / 255
    t, n = chw(f)
    for kw in (dict(), dict(p=0.3, scale=(0.1, 0.2), ratio=(0.5, 2), value="random", inplace=True)):
        assert repr(NT.RandomErasing(**kw)) == repr(TT.RandomErasing(**kw))
    for kw in (dict(value="x"), dict(scale=(0, 2)), dict(p=2), dict(scale=0.3)):
        same_error(lambda: NT.RandomErasing(**kw), lambda: TT.RandomErasing(**kw))
    same_error(lambda: NT.RandomErasing(p=1, value=(1, 2))(n), lambda: TT.RandomErasing(p=1, value=(1, 2))(t))
    torch.manual_seed(1)
    for value in ([0.5], [0.1, 0.2, 0.3], None):  # torchvision's rectangle and values, erased by nerve
        i, j, h, w, v = TT.RandomErasing.get_params(t, (0.02, 0.33), (0.3, 3.3), value)
        same(NF.erase(n, i, j, h, w, nerve.tensor(v.numpy())), TF.erase(t, i, j, h, w, v))
        i, j, h, w, v = NT.RandomErasing.get_params(n, (0.02, 0.33), (0.3, 3.3), value)
        assert 0 <= i <= 7 - h and 0 <= j <= 9 - w and tuple(v.shape)[0] == (3 if value is None else len(value))
    assert NT.RandomErasing.get_params(n, (1.0, 1.0), (1.0, 1.0))[:4] == (0, 0, 7, 9)  # no rectangle fits
    a = image(7, 9, 3)
    same(NT.RandomGrayscale(p=1)(pil(a)), TT.RandomGrayscale(p=1)(pil(a)))
    same(NT.RandomGrayscale(p=1)(chw(a)[1]), TT.RandomGrayscale(p=1)(chw(a)[0]))
    for ours, theirs in ((NT.RandomInvert(1), TT.RandomInvert(1)), (NT.RandomSolarize(100, 1), TT.RandomSolarize(100, 1)),
                         (NT.RandomAdjustSharpness(2, 1), TT.RandomAdjustSharpness(2, 1))):
        assert repr(ours) == repr(theirs)
        same(ours(pil(a)), theirs(pil(a)))


@pytest.mark.parametrize("size", [3, (4, 5), [6]])
def test_five_and_ten_crop(size):
    a = image(7, 9, 3)
    t, n = chw(a)
    for vertical_flip in (False, True):
        for ours, theirs in ((NT.TenCrop(size, vertical_flip)(pil(a)), TT.TenCrop(size, vertical_flip)(pil(a))),
                             (NT.TenCrop(size, vertical_flip)(n), TT.TenCrop(size, vertical_flip)(t))):
            assert isinstance(ours, tuple) and len(ours) == len(theirs) == 10
            for x, y in zip(ours, theirs):
                same(x, y)
        assert repr(NT.TenCrop(size, vertical_flip)) == repr(TT.TenCrop(size, vertical_flip))
    assert repr(NT.FiveCrop(size)) == repr(TT.FiveCrop(size))
    for x, y in zip(NF.five_crop(n, size), TF.five_crop(t, size)):
        same(x, y)
    same_error(lambda: NF.five_crop(n, 8), lambda: TF.five_crop(t, 8))


def test_posterize_and_autocontrast():
    a = image(7, 9, 3)
    t, n = chw(a)
    for bits in (1, 4, 8):
        same(NF.posterize(pil(a), bits), TF.posterize(pil(a), bits))
        same(NF.posterize(n, bits), TF.posterize(t, bits))
    same_error(lambda: NF.posterize(chw(a / 255.0)[1], 2), lambda: TF.posterize(chw(a / 255.0)[0], 2))
    low = (a // 2 + 30).astype(np.uint8)
    low[:, :, 1] = 77  # one flat channel
    same(NF.autocontrast(pil(low)), TF.autocontrast(pil(low)))
    same(NF.autocontrast(chw(low)[1]), TF.autocontrast(chw(low)[0]))
    same(NF.autocontrast(chw(low / 300.0)[1]), TF.autocontrast(chw(low / 300.0)[0]), atol=1e-12)
    for seed in range(5):  # uint8 batches: scale = 255 * (1 / (max - min)), as PyTorch divides a number by a tensor
        b = np.random.default_rng(seed).integers(0, 200, (2, 3, 5, 5), dtype=np.uint8)
        same(NF.autocontrast(nerve.tensor(b)), TF.autocontrast(torch.from_numpy(b)))
    assert repr(NT.RandomPosterize(3)) == repr(TT.RandomPosterize(3))
    assert repr(NT.RandomAutocontrast()) == repr(TT.RandomAutocontrast())
    same(NT.RandomPosterize(3, p=1)(pil(a)), TT.RandomPosterize(3, p=1)(pil(a)))


def test_equalize():
    for seed in range(3):
        a = image(7, 9, 3, seed)
        same(NF.equalize(pil(a)), TF.equalize(pil(a)))
        same(NF.equalize(pil(a[:, :, 0])), TF.equalize(pil(a[:, :, 0])))
        same(NF.equalize(chw(a)[1]), TF.equalize(chw(a)[0]))
        b = np.random.default_rng(seed).integers(0, 50, (2, 3, 5, 5), dtype=np.uint8)
        same(NF.equalize(nerve.tensor(b)), TF.equalize(torch.from_numpy(b)))
    flat = np.full((4, 4, 3), 7, np.uint8)
    same(NF.equalize(chw(flat)[1]), TF.equalize(chw(flat)[0]))
    same_error(lambda: NF.equalize(chw(flat / 1.0)[1]), lambda: TF.equalize(chw(flat / 1.0)[0]))
    assert repr(NT.RandomEqualize()) == repr(TT.RandomEqualize())


@pytest.mark.parametrize("endpoints", [[[1, 1], [7, 0], [8, 6], [0, 7]], [[2, 1], [6, 2], [7, 5], [1, 6]]])
@pytest.mark.parametrize("mode", ["NEAREST", "BILINEAR"])
def test_perspective(endpoints, mode):
    """torchvision's coefficients come from LAPACK's gels, nerve's from NumPy's lstsq: equal to float32
    rounding, so a bilinear uint8 pixel may differ by one."""
    a = image(8, 9, 3)
    startpoints = [[0, 0], [8, 0], [8, 7], [0, 7]]
    np.testing.assert_allclose(NF._perspective_coeffs(startpoints, endpoints),
                               TF._get_perspective_coeffs(startpoints, endpoints), rtol=1e-6, atol=1e-6)
    atol = 1 if mode == "BILINEAR" else 0
    for fill in (None, [10, 20, 30]):
        args = (startpoints, endpoints)
        same(NF.perspective(pil(a), *args, getattr(NF.InterpolationMode, mode), fill),
             TF.perspective(pil(a), *args, getattr(TF.InterpolationMode, mode), fill), atol=atol)
        t, n = chw(a)
        same(NF.perspective(n, *args, getattr(NF.InterpolationMode, mode), fill),
             TF.perspective(t, *args, getattr(TF.InterpolationMode, mode), fill), atol=atol)
        t, n = chw(a / np.float32(255))
        same(NF.perspective(n, *args, getattr(NF.InterpolationMode, mode), fill),
             TF.perspective(t, *args, getattr(TF.InterpolationMode, mode), fill), atol=1e-4)
    assert repr(NT.RandomPerspective()) == repr(TT.RandomPerspective())
    start, end = NT.RandomPerspective.get_params(9, 8, 0.5)
    assert start == TT.RandomPerspective.get_params(9, 8, 0.5)[0]
    assert all(0 <= x < 9 and 0 <= y < 8 for x, y in end)
    assert NT.RandomPerspective(p=1)(pil(a)).size == (9, 8)


# ---------------------------------------------------------------- AutoAugment, RandAugment, TrivialAugmentWide


def _space_lists(space):
    return {k: (v.tolist() if v.ndim > 0 else None, signed) for k, (v, signed) in space.items()}


def test_auto_augment_spaces_policies_and_reprs():
    import torchvision.transforms.autoaugment as TA

    from nerve.vision.transforms import autoaugment as NA

    for num_bins, size in ((10, (8, 9)), (31, (33, 40))):
        for cls in ("AutoAugment", "RandAugment"):
            theirs = _space_lists(getattr(TT, cls)()._augmentation_space(num_bins, size))
            assert getattr(NT, cls)()._augmentation_space(num_bins, size) == theirs
        theirs = _space_lists(TT.TrivialAugmentWide()._augmentation_space(num_bins))
        ours = NT.TrivialAugmentWide()._augmentation_space(num_bins)
        assert ours == theirs and list(ours) == list(theirs)  # the order the operation is drawn from
    for policy in TA.AutoAugmentPolicy:
        ours = NT.AutoAugment(NA.AutoAugmentPolicy(policy.value))
        assert ours.policies == TT.AutoAugment(policy).policies and repr(ours) == repr(TT.AutoAugment(policy))
    assert repr(NT.RandAugment(3, 5, fill=2)) == repr(TT.RandAugment(3, 5, fill=2))
    assert repr(NT.TrivialAugmentWide(interpolation=NF.InterpolationMode.BILINEAR)) == repr(
        TT.TrivialAugmentWide(interpolation=TF.InterpolationMode.BILINEAR))
    a = image(8, 9, 3)
    for cls in ("AutoAugment", "RandAugment", "TrivialAugmentWide"):
        assert getattr(NT, cls)()(pil(a)).size == (9, 8)
        assert tuple(getattr(NT, cls)(fill=3)(chw(a)[1]).shape) == (3, 8, 9)


@pytest.mark.parametrize("mode", ["NEAREST", "BILINEAR"])
def test_auto_augment_operations(mode):
    import torchvision.transforms.autoaugment as TA

    from nerve.vision.transforms import autoaugment as NA

    a = image(8, 9, 3)
    t, n = chw(a)
    space = _space_lists(TT.TrivialAugmentWide()._augmentation_space(31))
    for op, (magnitudes, signed) in list(space.items()) + [("Invert", (None, False))]:
        for magnitude in ((magnitudes[4], -magnitudes[-1]) if signed else (magnitudes or [0.0])[::13]):
            for fill in (None, [5.0, 6.0, 7.0]):
                args = (op, magnitude)
                same(NA._apply_op(pil(a), *args, getattr(NF.InterpolationMode, mode), fill),
                     TA._apply_op(pil(a), *args, getattr(TF.InterpolationMode, mode), fill))
                same(NA._apply_op(n, *args, getattr(NF.InterpolationMode, mode), fill),
                     TA._apply_op(t, *args, getattr(TF.InterpolationMode, mode), fill), atol=1 if mode == "BILINEAR" else 0)
