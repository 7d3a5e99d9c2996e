"""nerve.vision.transforms against Pillow and hand-computed arrays (torchvision cannot be installed here)."""

import numpy as np
import pytest
from PIL import Image

import nerve
from nerve.vision import transforms as T
from nerve.vision.transforms import functional as F


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def as_chw(a):
    return nerve.tensor(np.ascontiguousarray(a.transpose(2, 0, 1)))


# ---------------------------------------------------------------- conversions


def test_to_tensor_scaling_and_layout():
    a = rgb(4, 5)
    t = T.ToTensor()(a)
    assert t.shape == (3, 4, 5) and t.dtype == nerve.float32
    np.testing.assert_array_equal(t.numpy(), a.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    g = T.ToTensor()(Image.fromarray(a[:, :, 0]))
    assert g.shape == (1, 4, 5)
    np.testing.assert_array_equal(g.numpy()[0], a[:, :, 0] / np.float32(255))
    p = T.ToTensor()(Image.fromarray(a))
    np.testing.assert_array_equal(p.numpy(), t.numpy())
    f = T.ToTensor()(np.ones((2, 2), np.float64) * 7)  # non-uint8 keeps its values (and dtype)
    assert f.shape == (1, 2, 2) and f.numpy().max() == 7
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(t)


def test_pil_to_tensor_and_convert_dtype():
    a = rgb(3, 3)
    u = T.PILToTensor()(Image.fromarray(a))
    assert u.dtype == nerve.uint8 and u.shape == (3, 3, 3)
    np.testing.assert_array_equal(u.numpy(), a.transpose(2, 0, 1))
    f = T.ConvertImageDtype(nerve.float32)(u)
    np.testing.assert_allclose(f.numpy(), a.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    back = T.ConvertImageDtype(nerve.uint8)(f)
    np.testing.assert_array_equal(back.numpy(), a.transpose(2, 0, 1))  # x * (255 + 1 - 1e-3), truncated
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        F.convert_image_dtype(f, nerve.int64)


def test_normalize():
    x = nerve.tensor(np.arange(2 * 2 * 3, dtype=np.float32).reshape(3, 2, 2))
    y = T.Normalize([1.0, 2.0, 3.0], [2.0, 4.0, 0.5])(x)
    want = (x.numpy() - np.array([1, 2, 3], np.float32)[:, None, None]) / np.array([2, 4, 0.5], np.float32)[:, None, None]
    np.testing.assert_allclose(y.numpy(), want)
    assert x.numpy()[0, 0, 0] == 0  # not in place by default
    T.Normalize([1.0, 2.0, 3.0], [2.0, 4.0, 0.5], inplace=True)(x)
    np.testing.assert_allclose(x.numpy(), want)
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize([0.5], [0.5])(nerve.zeros(1, 2, 2, dtype=nerve.uint8))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.5], [0.0])(nerve.zeros(1, 2, 2))
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        T.Normalize([0.5], [0.5])(np.zeros((1, 2, 2), np.float32))


# ---------------------------------------------------------------- resize and crops


def test_resize_int_is_the_shorter_side_with_torchvision_rounding():
    a = rgb(500, 375)  # h=500, w=375 -> shorter side 255, longer int(255 * 500 / 375) = 340
    pil = Image.fromarray(a)
    out = T.Resize(255)(pil)
    assert out.size == (255, 340)
    want = np.asarray(pil.resize((255, 340), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(np.asarray(out), want)
    np.testing.assert_array_equal(T.Resize(255)(a), want)  # HWC uint8 array
    t = T.Resize(255)(as_chw(a))  # CHW uint8 tensor
    assert t.shape == (3, 340, 255)
    # torchvision resizes tensors in float32 and rounds: within one of Pillow's 8-bit result
    np.testing.assert_allclose(t.numpy().transpose(1, 2, 0), want, atol=1, rtol=0)
    # landscape: (h, w) = (375, 500) -> (255, 340)
    assert T.Resize(255)(Image.fromarray(rgb(375, 500))).size == (340, 255)
    # sizes torchvision gives for a few more shapes: int(size * long / short)
    for (h, w), size, hw in [((100, 33), 10, (30, 10)), ((33, 100), 10, (10, 30)), ((64, 64), 32, (32, 32))]:
        assert T.Resize(size)(as_chw(rgb(h, w))).shape[1:] == hw


def test_resize_pair_max_size_nearest_and_float():
    a = rgb(20, 30)
    assert T.Resize((7, 9))(Image.fromarray(a)).size == (9, 7)
    assert T.Resize(10, max_size=12)(Image.fromarray(a)).size == (12, 8)  # int(12 * 10 / 15) = 8
    with pytest.raises(ValueError, match="max_size = 10 must be strictly greater"):
        T.Resize(10, max_size=10)(Image.fromarray(a))
    near = T.Resize((10, 15), interpolation=T.InterpolationMode.NEAREST)(Image.fromarray(a))
    np.testing.assert_array_equal(np.asarray(near), np.asarray(Image.fromarray(a).resize((15, 10), Image.Resampling.NEAREST)))
    f = a.transpose(2, 0, 1).astype(np.float32) / 255
    out = T.Resize((10, 15))(nerve.tensor(f))
    want = np.stack([np.asarray(Image.fromarray(c, mode="F").resize((15, 10), Image.Resampling.BILINEAR)) for c in f])
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)
    # same size: returned unchanged
    img = Image.fromarray(a)
    assert T.Resize((20, 30))(img) is img


def test_resize_without_antialias_is_plain_bilinear():
    x = nerve.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4))
    up = T.Resize((8, 8), antialias=False)(x).numpy()[0]
    # half-pixel centres: output pixel 1 samples input 0.25 (row 0 -> 0.0, col -> 0.25 * 1)
    assert up[0, 0] == 0 and up[0, 1] == pytest.approx(0.25) and up[7, 7] == 15
    torch = pytest.importorskip("torch")
    want = torch.nn.functional.interpolate(torch.tensor(x.numpy())[None], size=(8, 8), mode="bilinear",
                                           align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(up, want, rtol=1e-6)


def test_center_crop_offsets_as_torchvision():
    a = np.arange(7 * 10, dtype=np.uint8).reshape(7, 10)
    out = T.CenterCrop((4, 5))(a)
    top, left = int(round((7 - 4) / 2.0)), int(round((10 - 5) / 2.0))  # round(1.5) = 2, round(2.5) = 2
    assert (top, left) == (2, 2)
    np.testing.assert_array_equal(out, a[top:top + 4, left:left + 5])
    pil = T.CenterCrop((4, 5))(Image.fromarray(a))
    np.testing.assert_array_equal(np.asarray(pil), a[2:6, 2:7])
    t = T.CenterCrop(3)(nerve.tensor(a[None]))
    np.testing.assert_array_equal(t.numpy()[0], a[2:5, 4:7])


def test_center_crop_pads_with_zeros_when_larger():
    a = np.full((3, 3), 9, dtype=np.uint8)
    out = T.CenterCrop((5, 6))(a)
    want = np.zeros((5, 6), np.uint8)
    want[1:4, 1:4] = 9  # left (6-3)//2 = 1, right 2; top (5-3)//2 = 1, bottom 1
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.asarray(T.CenterCrop((5, 6))(Image.fromarray(a))), want)
    np.testing.assert_array_equal(T.CenterCrop((5, 6))(nerve.tensor(a[None])).numpy()[0], want)


def test_article_pipeline():
    tf = T.Compose([T.Resize(255), T.CenterCrop(224), T.ToTensor()])
    img = Image.fromarray(rgb(500, 375))
    x = tf(img)
    assert x.shape == (3, 224, 224) and x.dtype == nerve.float32
    resized = np.asarray(img.resize((255, 340), Image.Resampling.BILINEAR))
    top, left = int(round((340 - 224) / 2.0)), int(round((255 - 224) / 2.0))
    want = resized[top:top + 224, left:left + 224].transpose(2, 0, 1) / np.float32(255)
    np.testing.assert_array_equal(x.numpy(), want.astype(np.float32))


def test_pad_modes_match_numpy():
    a = rgb(4, 5)
    for mode in ("constant", "edge", "reflect", "symmetric"):
        out = T.Pad((1, 2, 3, 4), fill=0, padding_mode=mode)(a)
        want = np.pad(a, ((2, 4), (1, 3), (0, 0)), mode=mode)
        np.testing.assert_array_equal(out, want)
        t = T.Pad((1, 2, 3, 4), padding_mode=mode)(as_chw(a))
        np.testing.assert_array_equal(t.numpy().transpose(1, 2, 0), want)
    filled = T.Pad(1, fill=(1, 2, 3))(Image.fromarray(a))
    arr = np.asarray(filled)
    assert arr.shape == (6, 7, 3) and tuple(arr[0, 0]) == (1, 2, 3)
    assert T.Pad([2, 1])(a).shape == (4 + 2, 5 + 4, 3)  # (left/right, top/bottom)


def test_random_crop():
    a = rgb(10, 12)
    nerve.manual_seed(5)
    c1 = T.RandomCrop(4)(a)
    nerve.manual_seed(5)
    c2 = T.RandomCrop(4)(a)
    np.testing.assert_array_equal(c1, c2)
    assert c1.shape == (4, 4, 3)
    # the crop is a window of the image
    found = any((a[i:i + 4, j:j + 4] == c1).all() for i in range(7) for j in range(9))
    assert found
    p = T.RandomCrop(12, padding=2, fill=7)(Image.fromarray(a))
    assert p.size == (12, 12)
    assert T.RandomCrop((12, 14), pad_if_needed=True)(a).shape == (12, 14, 3)
    with pytest.raises(ValueError, match="Required crop size"):
        T.RandomCrop(20)(a)
    full = T.RandomCrop((10, 12))(a)
    np.testing.assert_array_equal(full, a)


def test_flips_with_a_seed():
    a = rgb(3, 4)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(a), a[:, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(a), a[::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(a), a)
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(1.0)(Image.fromarray(a))), a[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(as_chw(a)).numpy(), a[:, ::-1].transpose(2, 0, 1))
    flip = T.RandomHorizontalFlip()
    nerve.manual_seed(123)
    first = [bool((flip(a) != a).any()) for _ in range(20)]
    nerve.manual_seed(123)
    second = [bool((flip(a) != a).any()) for _ in range(20)]
    assert first == second and 0 < sum(first) < 20
    # the draw is nerve's global uniform, as torch.rand(1) < p
    nerve.manual_seed(123)
    u = [nerve.rand(1).item() < 0.5 for _ in range(20)]
    assert u == first


def test_random_resized_crop_and_rotation():
    a = rgb(40, 30)
    nerve.manual_seed(0)
    out = T.RandomResizedCrop(16)(Image.fromarray(a))
    assert out.size == (16, 16)
    nerve.manual_seed(0)
    i, j, h, w = T.RandomResizedCrop.get_params(Image.fromarray(a), (0.08, 1.0), (3 / 4, 4 / 3))
    assert 0 < h <= 40 and 0 < w <= 30 and 0 <= i <= 40 - h and 0 <= j <= 30 - w
    nerve.manual_seed(0)
    again = T.RandomResizedCrop(16)(Image.fromarray(a))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(again))
    assert T.RandomResizedCrop((8, 12))(as_chw(a)).shape == (3, 8, 12)
    rot = T.RandomRotation((90, 90))(Image.fromarray(a))
    np.testing.assert_array_equal(np.asarray(rot), np.asarray(Image.fromarray(a).rotate(90)))
    g = a[:, :, 0]
    r = T.RandomRotation((90, 90))(nerve.tensor(g[None]))
    np.testing.assert_array_equal(r.numpy()[0], np.asarray(Image.fromarray(g).rotate(90)))
    with pytest.raises(ValueError, match="must be positive"):
        T.RandomRotation(-3)


def test_grayscale_and_lambda():
    a = rgb(5, 6)
    pil = T.Grayscale()(Image.fromarray(a))
    np.testing.assert_array_equal(np.asarray(pil), np.asarray(Image.fromarray(a).convert("L")))
    three = T.Grayscale(3)(Image.fromarray(a))
    assert three.mode == "RGB"
    x = as_chw(a).float() / 255
    g = T.Grayscale()(x)
    want = 0.2989 * x.numpy()[0] + 0.587 * x.numpy()[1] + 0.114 * x.numpy()[2]
    np.testing.assert_allclose(g.numpy()[0], want, rtol=1e-6)
    assert T.Lambda(lambda v: v + 1)(1) == 2
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)


# ---------------------------------------------------------------- batches


def test_batched_equals_per_item():
    imgs = np.random.default_rng(1).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    assert T.is_batchable(tf)
    batch = tf.batch(imgs)
    items = np.stack([tf(Image.fromarray(im)).numpy() for im in imgs])
    assert batch.shape == (6, 1, 28, 28) and batch.dtype == nerve.float32
    np.testing.assert_array_equal(batch.numpy(), items)
    crop = T.Compose([T.CenterCrop(20), T.ToTensor()])
    np.testing.assert_array_equal(crop.batch(imgs).numpy(), np.stack([crop(im).numpy() for im in imgs]))
    rgbs = np.random.default_rng(2).integers(0, 256, size=(3, 8, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(T.ToTensor().batch(rgbs).numpy(), np.stack([T.ToTensor()(im).numpy() for im in rgbs]))
    assert not T.is_batchable(T.Compose([T.ToTensor(), T.RandomRotation(10)]))
    assert not T.is_batchable(T.Compose([T.Lambda(lambda v: v)]))


@pytest.mark.parametrize("flip", [T.RandomHorizontalFlip(), T.RandomVerticalFlip(0.3)])
def test_random_flip_batch_draws_as_per_item(flip):
    imgs = np.random.default_rng(3).integers(0, 256, size=(16, 5, 7), dtype=np.uint8)
    tf = T.Compose([flip, T.ToTensor()])
    assert T.is_batchable(tf)
    nerve.manual_seed(9)
    batch = tf.batch(imgs).numpy()
    nerve.manual_seed(9)
    items = np.stack([tf(Image.fromarray(im)).numpy() for im in imgs])
    np.testing.assert_array_equal(batch, items)
    assert 0 < sum((batch[k] != imgs[k] / np.float32(255)).any() for k in range(16)) < 16
    nerve.manual_seed(9)
    on_tensors = flip.batch(nerve.tensor(imgs[:, None]))
    np.testing.assert_array_equal(on_tensors.numpy()[:, 0], (batch * 255).round().astype(np.uint8)[:, 0])


def test_random_apply_choice_order_and_grayscale_arrays():
    a = rgb(4, 4)
    np.testing.assert_array_equal(T.RandomApply([T.RandomHorizontalFlip(1.0)], p=1.0)(a), a[:, ::-1])
    np.testing.assert_array_equal(T.RandomApply([T.RandomHorizontalFlip(1.0)], p=0.0)(a), a)
    picks = {T.RandomChoice([T.Lambda(lambda v: 1), T.Lambda(lambda v: 2)])(a) for _ in range(30)}
    assert picks == {1, 2}
    assert T.RandomChoice([T.Lambda(lambda v: 1), T.Lambda(lambda v: 2)], p=[0.0, 1.0])(a) == 2
    seen = [T.RandomOrder([T.Lambda(lambda v: v + "a"), T.Lambda(lambda v: v + "b")])("") for _ in range(30)]
    assert set(seen) == {"ab", "ba"}
    g = T.Grayscale()(a)  # an HWC array gives what the PIL path gives
    np.testing.assert_array_equal(g[:, :, 0], np.asarray(Image.fromarray(a).convert("L")))


def test_to_pil_image_round_trips():
    a = rgb(4, 6)
    img = T.ToPILImage()(as_chw(a))
    assert img.mode == "RGB" and img.size == (6, 4)
    np.testing.assert_array_equal(np.asarray(img), a)
    f = T.ToPILImage()(T.ToTensor()(a))  # floats are scaled by 255 and truncated, as torchvision
    assert np.abs(np.asarray(f).astype(int) - a).max() <= 1
    g = F.to_pil_image(a[:, :, :1])
    assert g.mode == "L"


def test_read_and_decode_image(tmp_path):
    from nerve.vision import decode_image, read_image
    from nerve.vision.io import ImageReadMode

    a = rgb(5, 7)
    Image.fromarray(a).save(tmp_path / "x.png")
    t = read_image(tmp_path / "x.png")
    assert t.dtype == nerve.uint8 and t.shape == (3, 5, 7)
    np.testing.assert_array_equal(t.numpy(), a.transpose(2, 0, 1))
    assert read_image(tmp_path / "x.png", ImageReadMode.GRAY).shape == (1, 5, 7)
    raw = (tmp_path / "x.png").read_bytes()
    np.testing.assert_array_equal(decode_image(nerve.tensor(np.frombuffer(raw, np.uint8).copy())).numpy(), t.numpy())
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(OSError, match="bad.png"):
        read_image(tmp_path / "bad.png")


def test_color_adjustments():
    import colorsys

    from PIL import ImageEnhance

    a = rgb(6, 5)
    pil = Image.fromarray(a)
    for fn, kind in ((F.adjust_brightness, "Brightness"), (F.adjust_contrast, "Contrast"), (F.adjust_saturation, "Color")):
        np.testing.assert_array_equal(np.asarray(fn(pil, 0.6)), np.asarray(getattr(ImageEnhance, kind)(pil).enhance(0.6)))
    x = as_chw(a).float() / 255
    np.testing.assert_allclose(F.adjust_brightness(x, 1.5).numpy(), np.clip(x.numpy() * 1.5, 0, 1), rtol=1e-6)
    gray = 0.2989 * x.numpy()[0] + 0.587 * x.numpy()[1] + 0.114 * x.numpy()[2]
    want = np.clip(0.3 * x.numpy() + 0.7 * gray.mean(), 0, 1)
    np.testing.assert_allclose(F.adjust_contrast(x, 0.3).numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(F.adjust_saturation(x, 0.0).numpy(), np.stack([gray] * 3), rtol=1e-5, atol=1e-6)
    shifted = F.adjust_hue(x, 0.25).numpy()
    for i, j in ((0, 0), (3, 2), (5, 4)):
        h, s, v = colorsys.rgb_to_hsv(*x.numpy()[:, i, j])
        np.testing.assert_allclose(shifted[:, i, j], colorsys.hsv_to_rgb((h + 0.25) % 1.0, s, v), atol=1e-5)
    np.testing.assert_allclose(F.adjust_hue(x, 0.0).numpy(), x.numpy(), atol=1e-6)
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    assert np.asarray(F.adjust_hue(red, 0.5))[0, 0].tolist()[0] < 10  # red turned cyan
    with pytest.raises(ValueError, match="hue_factor"):
        F.adjust_hue(x, 0.7)


def test_color_jitter():
    a = rgb(8, 8)
    cj = T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    nerve.manual_seed(1)
    one = np.asarray(cj(Image.fromarray(a)))
    nerve.manual_seed(1)
    two = np.asarray(cj(Image.fromarray(a)))
    np.testing.assert_array_equal(one, two)
    assert not (one == a).all()
    assert T.ColorJitter(brightness=0.5).brightness == (0.5, 1.5) and T.ColorJitter().hue is None
    out = T.ColorJitter(brightness=(0.5, 0.5))(as_chw(a).float() / 255)
    np.testing.assert_allclose(out.numpy(), (as_chw(a).float() / 255).numpy() * 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="hue values should be between"):
        T.ColorJitter(hue=0.6)
    with pytest.raises(ValueError, match="must be non negative"):
        T.ColorJitter(brightness=-1)


def test_keras_image_helpers(tmp_path):
    from nerve.vision.io import array_to_img, img_to_array, load_img, save_img

    a = rgb(20, 30)
    Image.fromarray(a).save(tmp_path / "x.png")
    img = load_img(tmp_path / "x.png", target_size=(10, 15))
    assert img.size == (15, 10) and img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), np.asarray(Image.fromarray(a).resize((15, 10), Image.Resampling.NEAREST)))
    assert load_img(tmp_path / "x.png", color_mode="grayscale").mode == "L"
    sq = load_img(tmp_path / "x.png", target_size=(8, 8), keep_aspect_ratio=True, interpolation="bilinear")
    want = Image.fromarray(a).resize((8, 8), Image.Resampling.BILINEAR, box=(5, 0, 25, 20))
    np.testing.assert_array_equal(np.asarray(sq), np.asarray(want))
    arr = img_to_array(Image.fromarray(a))
    assert arr.dtype == np.float32 and arr.shape == (20, 30, 3)
    assert img_to_array(Image.fromarray(a[:, :, 0]), data_format="channels_first").shape == (1, 20, 30)
    back = array_to_img(arr, scale=False)
    np.testing.assert_array_equal(np.asarray(back), a)
    scaled = np.asarray(array_to_img(arr / 255.0))
    assert scaled.max() == 255 and scaled.min() == 0
    save_img(tmp_path / "y.png", arr, scale=False)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "y.png")), a)
