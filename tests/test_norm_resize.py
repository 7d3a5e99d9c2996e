"""GroupNorm, InstanceNorm1d/2d and interpolate / Upsample against PyTorch: values, gradients,
running statistics, numeric gradient checks and PyTorch's errors."""

import warnings

import numpy as np
import pytest
from _torch_compare import compare, same_repr, to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---------------------------------------------------------------- group norm

GROUP_CASES = [((3, 6, 5, 4), 1), ((3, 6, 5, 4), 2), ((3, 6, 5, 4), 3), ((2, 6, 7), 6), ((4, 8), 2),
               ((2, 4, 3, 5), 4), ((1, 9, 1, 1), 3)]


@pytest.mark.parametrize("shape,groups", GROUP_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_group_norm_matches_torch(shape, groups, affine, dtype, device):
    rng = np.random.default_rng(1)
    c = shape[1]
    arrays = [rng.standard_normal(shape) * 3 + 1]
    if affine != "none":
        arrays.append(rng.standard_normal(c))
    if affine == "both":
        arrays.append(rng.standard_normal(c))
    compare(torch, lambda *t: F.group_norm(t[0], groups, *t[1:], eps=1e-4),
            lambda *t: TF.group_norm(t[0], groups, *t[1:], eps=1e-4),
            arrays, [True] * len(arrays), device, dtype)


def test_group_norm_bias_without_weight(device):
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((2, 4, 3)), rng.standard_normal(4)
    # torch's backward fails here ("tensor does not have a device"): compare with a weight of ones
    compare(torch, lambda x, b: F.group_norm(x, 2, None, b), lambda x, b: TF.group_norm(x, 2, torch.ones(4, dtype=x.dtype), b),
            [x, b], [True, True], device)


def test_group_norm_gradcheck(device):
    x = nerve.randn(2, 6, 3, 2, dtype=nerve.float64, device=device, requires_grad=True)
    w = nerve.randn(6, dtype=nerve.float64, device=device, requires_grad=True)
    b = nerve.randn(6, dtype=nerve.float64, device=device, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.group_norm(x, 3, w, b), [x, w, b])


def test_group_norm_module_matches_torch(device):
    m, tm = nn.GroupNorm(2, 6).to(device), torch.nn.GroupNorm(2, 6)
    assert same_repr(torch, m, tm) and repr(m) == "GroupNorm(2, 6, eps=1e-05, affine=True, bias=True)"
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(to_np(m.weight), 1)
    np.testing.assert_array_equal(to_np(m.bias), 0)
    x = np.random.default_rng(3).standard_normal((2, 6, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(to_np(m(nerve.tensor(x, device=device))), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    assert nn.GroupNorm(3, 6, affine=False).weight is None


def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
        nn.GroupNorm(3, 4)
    with pytest.raises(RuntimeError, match=r"Expected number of channels in input to be divisible by num_groups, "
                                           r"but got input of shape \[2, 4, 3\] and num_groups=3"):
        F.group_norm(nerve.randn(2, 4, 3), 3)
    with pytest.raises(RuntimeError, match=r"Expected weight to be a vector of size equal to the number of channels"):
        F.group_norm(nerve.randn(2, 4, 3), 2, nerve.ones(3))
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size \[1, 4\]"):
        F.group_norm(nerve.randn(1, 4), 4)
    with pytest.raises(RuntimeError, match="Expected at least 2 dimensions for input tensor but received 1"):
        F.group_norm(nerve.randn(4), 2)
    with pytest.raises(RuntimeError, match="mixed dtype"):  # torch: "mixed dtype (CPU): expect parameter ..."
        F.group_norm(nerve.randn(2, 4, 3), 2, nerve.ones(4, dtype=nerve.float64))


# ---------------------------------------------------------------- instance norm

@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 3, 7), (1, 2, 1, 3)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_instance_norm_matches_torch(shape, affine, dtype, device):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(shape) * 2 - 1]
    if affine:
        arrays += [rng.standard_normal(shape[1]), rng.standard_normal(shape[1])]
    compare(torch, lambda *t: F.instance_norm(t[0], None, None, *t[1:], eps=1e-3),
            lambda *t: TF.instance_norm(t[0], None, None, *t[1:], eps=1e-3),
            arrays, [True] * len(arrays), device, dtype)


def test_instance_norm_gradcheck(device):
    x = nerve.randn(2, 3, 4, dtype=nerve.float64, device=device, requires_grad=True)
    w = nerve.randn(3, dtype=nerve.float64, device=device, requires_grad=True)
    b = nerve.randn(3, dtype=nerve.float64, device=device, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), [x, w, b])


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (4, 3, 6)), ("InstanceNorm2d", (4, 3, 5, 4)),
                                       ("InstanceNorm1d", (3, 6)), ("InstanceNorm2d", (3, 5, 4))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_instance_norm_running_stats_match_torch(cls, shape, momentum, device):
    m = getattr(nn, cls)(3, momentum=momentum, affine=True, track_running_stats=True).to(device)
    tm = getattr(torch.nn, cls)(3, momentum=momentum, affine=True, track_running_stats=True).double()
    m = m.double()
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 0.5
        y, ty = m(nerve.tensor(x, device=device)), tm(torch.tensor(x))
        np.testing.assert_allclose(to_np(y), ty.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(to_np(m.running_mean), tm.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_np(m.running_var), tm.running_var.numpy(), rtol=1e-12)
    m.eval()
    tm.eval()
    x = rng.standard_normal(shape)
    xn = nerve.tensor(x, device=device, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y, ty = m(xn), tm(xt)
    np.testing.assert_allclose(to_np(y), ty.detach().numpy(), rtol=1e-9, atol=1e-10)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_np(xn.grad), xt.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_instance_norm_module_defaults(device):
    m, tm = nn.InstanceNorm2d(3).to(device), torch.nn.InstanceNorm2d(3)
    assert same_repr(torch, m, tm)
    assert m.weight is None and m.running_mean is None
    assert list(m.state_dict()) == list(tm.state_dict()) == []
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 4)).astype(np.float32)
    m.eval()
    tm.eval()  # without tracking, eval still uses each instance's statistics
    np.testing.assert_allclose(to_np(m(nerve.tensor(x, device=device))), tm(torch.tensor(x)).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert list(nn.InstanceNorm1d(3, affine=True, track_running_stats=True).state_dict()) == list(
        torch.nn.InstanceNorm1d(3, affine=True, track_running_stats=True).state_dict())


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.InstanceNorm2d(3)(nerve.randn(3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.InstanceNorm1d(3)(nerve.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(4\), but got: 3."):
        nn.InstanceNorm1d(4, affine=True)(nerve.randn(2, 3, 5))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nn.InstanceNorm1d(4)(nerve.randn(2, 3, 5))
    assert "does not match num_features" in str(w[0].message)
    with pytest.raises(ValueError, match=r"Expected more than 1 spatial element when training, got input size \[2, 3, 1\]"):
        F.instance_norm(nerve.randn(2, 3, 1))


# ---------------------------------------------------------------- interpolate

MODES = {3: ["nearest", "nearest-exact", "linear", "area"],
         4: ["nearest", "nearest-exact", "bilinear", "bicubic", "area"]}
SIZES = [dict(size=11), dict(size=1), dict(scale_factor=2), dict(scale_factor=1.7),
         dict(scale_factor=1.1), dict(scale_factor=1 / 3),
         dict(scale_factor=2.3, recompute_scale_factor=True), dict(scale_factor=0.6, recompute_scale_factor=False)]
SIZES_4D = [dict(size=(4, 13)), dict(scale_factor=(2, 0.5)), dict(scale_factor=(1.1, 2.5))]


def _interp_cases():
    for nd, shape in ((3, (2, 3, 5)), (4, (2, 3, 7, 5)), (4, (1, 2, 9, 8))):
        for mode in MODES[nd]:
            corners = [None] if mode in ("nearest", "nearest-exact", "area") else [False, True]
            for ac in corners:
                for kw in SIZES + (SIZES_4D if nd == 4 else []):
                    yield shape, mode, ac, kw


def _torch_grad_is_wrong(shape, mode, kw, antialias=False):
    """torch's backward ignores a given scale factor on an axis whose size stays (its forward does
    not, and torch.autograd.gradcheck fails there): nearest on 3-D inputs, bicubic, antialias."""
    sf = kw.get("scale_factor")
    if sf is None or kw.get("recompute_scale_factor"):
        return False
    sfs = sf if isinstance(sf, tuple) else (sf,) * (len(shape) - 2)
    same = any(int(n * f) == n and f != 1 for n, f in zip(shape[2:], sfs))
    return same and (antialias or mode == "bicubic" or (mode == "nearest" and len(shape) == 3))


def _check_interp(x, kw, device):
    wrong = _torch_grad_is_wrong(x.shape, kw.get("mode"), kw, kw.get("antialias", False))
    compare(torch, lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x], [not wrong], device)
    if wrong:  # nerve's gradient is checked numerically instead
        xn = nerve.tensor(x, device=device, requires_grad=True)
        assert gradcheck(lambda t: F.interpolate(t, **kw), [xn])


@pytest.mark.parametrize("shape,mode,ac,kw", list(_interp_cases()))
def test_interpolate_matches_torch(shape, mode, ac, kw, device):
    x = np.random.default_rng(7).standard_normal(shape)
    _check_interp(x, dict(kw, mode=mode, align_corners=ac), device)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("kw", [dict(scale_factor=1 / 3), dict(size=(4, 3)), dict(size=(13, 11)),
                                dict(scale_factor=(1.1, 0.4)), dict(scale_factor=1.1)])
def test_interpolate_antialias_matches_torch(mode, ac, kw, device):
    x = np.random.default_rng(8).standard_normal((2, 3, 9, 8))
    _check_interp(x, dict(kw, mode=mode, align_corners=ac, antialias=True), device)


def test_interpolate_antialias_to_width_one(device):
    # torch's antialiased kernel repeats the first row when the output is one pixel wide; nerve
    # matches torch's own resize done one axis at a time
    x = np.random.default_rng(9).standard_normal((1, 2, 7, 5))
    y = F.interpolate(nerve.tensor(x, device=device), size=(2, 1), mode="bilinear", antialias=True)
    t = TF.interpolate(torch.tensor(x), size=(2, 5), mode="bilinear", antialias=True)
    t = TF.interpolate(t, size=(2, 1), mode="bilinear", antialias=True)
    np.testing.assert_allclose(to_np(y), t.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_interpolate_float32(mode, device):
    x = np.random.default_rng(10).standard_normal((2, 3, 6, 7))
    compare(torch, lambda t: F.interpolate(t, scale_factor=1.5, mode=mode),
            lambda t: TF.interpolate(t, scale_factor=1.5, mode=mode), [x], [True], device, "float32")


@pytest.mark.parametrize("mode,ac,aa", [("nearest", None, False), ("nearest-exact", None, False),
                                        ("bilinear", False, False), ("bilinear", True, False),
                                        ("bicubic", False, False), ("bicubic", True, True), ("area", None, False)])
def test_interpolate_gradcheck(mode, ac, aa, device):
    x = nerve.randn(2, 2, 5, 4, dtype=nerve.float64, device=device, requires_grad=True)
    size = (3, 7) if not aa else (3, 2)
    assert gradcheck(lambda x: F.interpolate(x, size=size, mode=mode, align_corners=ac, antialias=aa), [x])


def test_interpolate_linear_gradcheck(device):
    x = nerve.randn(2, 3, 6, dtype=nerve.float64, device=device, requires_grad=True)
    assert gradcheck(lambda x: F.interpolate(x, scale_factor=1.6, mode="linear"), [x])


def test_upsample_modules_match_torch(device):
    x = np.random.default_rng(11).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for m, tm in [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                  (nn.Upsample(size=(3, 7), mode="bilinear"), torch.nn.Upsample(size=(3, 7), mode="bilinear")),
                  (nn.Upsample(scale_factor=(1.5, 2), mode="bicubic", align_corners=True),
                   torch.nn.Upsample(scale_factor=(1.5, 2), mode="bicubic", align_corners=True)),
                  (nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
                  (nn.UpsamplingBilinear2d(size=(7, 9)), torch.nn.UpsamplingBilinear2d(size=(7, 9)))]:
        assert repr(m) == repr(tm)
        np.testing.assert_allclose(to_np(m(nerve.tensor(x, device=device))), tm(torch.tensor(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert nn.UpsamplingBilinear2d(scale_factor=2).align_corners is True


def test_interpolate_integer_input_nearest():
    x = np.arange(12, dtype=np.uint8).reshape(1, 1, 3, 4)
    y = F.interpolate(nerve.tensor(x), scale_factor=2)
    np.testing.assert_array_equal(y.numpy(), TF.interpolate(torch.tensor(x), scale_factor=2).numpy())


@pytest.mark.parametrize("call,exc,msg", [
    (lambda x: F.interpolate(x, scale_factor=2, mode="nearest", align_corners=True), ValueError,
     "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"),
    (lambda x: F.interpolate(x, size=4, scale_factor=2), ValueError, "only one of size or scale_factor should be defined"),
    (lambda x: F.interpolate(x), ValueError, "either size or scale_factor should be defined"),
    (lambda x: F.interpolate(x, size=(4, 4, 4)), ValueError,
     "Input and output must have the same number of spatial dimensions, but got input with spatial dimensions of [3, 4]"),
    (lambda x: F.interpolate(x, scale_factor=(2, 2, 2)), ValueError,
     "Input and scale_factor must have the same number of spatial dimensions"),
    (lambda x: F.interpolate(x, size=4, recompute_scale_factor=True), ValueError,
     "recompute_scale_factor is not meaningful with an explicit size."),
    (lambda x: F.interpolate(x, size=(4, 4.5)), TypeError, "expected size to be one of int"),
    (lambda x: F.interpolate(x, size=4, mode="linear"), NotImplementedError, "Got 4D input, but linear mode needs 3D input"),
    (lambda x: F.interpolate(x[0], size=4, mode="bilinear"), NotImplementedError,
     "Got 3D input, but bilinear mode needs 4D input"),
    (lambda x: F.interpolate(x[0], size=4, mode="bicubic"), NotImplementedError, "Input Error: Only 3D, 4D and 5D"),
    (lambda x: F.interpolate(x, size=4, mode="cubic"), NotImplementedError, "Input Error: Only 3D, 4D and 5D"),
    (lambda x: F.interpolate(x, size=4, mode="nearest", antialias=True), ValueError,
     "Anti-alias option is restricted to bilinear, bicubic"),
    (lambda x: F.interpolate(x[0], size=4, mode="linear", antialias=True), ValueError,
     "Anti-alias option is restricted to bilinear, bicubic"),
])
def test_interpolate_errors_as_torch(call, exc, msg):
    x = np.random.default_rng(12).standard_normal((2, 1, 3, 4))
    with pytest.raises(exc, match=None) as e:
        call(nerve.tensor(x))
    assert msg in str(e.value)
    with pytest.raises(exc) as t:
        call(torch.tensor(x))
    assert msg in str(t.value)


def test_interpolate_zero_size_error():
    with pytest.raises(RuntimeError, match="Input and output sizes should be greater than 0"):
        F.interpolate(nerve.randn(1, 1, 3, 4), scale_factor=0.2)
