"""The 3-D family against PyTorch: conv3d, conv_transpose3d, max/avg/adaptive pooling, BatchNorm3d,
InstanceNorm3d, Dropout3d and 5-D interpolate (values, gradients, indices, float64 gradient checks,
modules, errors), and a small 3-D CNN that learns."""

import math
import warnings

import numpy as np
import pytest
from _torch_compare import compare, same_repr, to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck
from nerve.nn.functional import conv as conv_mod

torch = pytest.importorskip("torch")
TF = torch.nn.functional
# torch's own note on an even kernel with padding='same'
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")


def _ids(cases):
    return [f"case{i}" for i in range(len(cases))]


def _copy_params(src, dst):
    dst.load_state_dict({k: torch.tensor(to_np(v)) for k, v in src.state_dict().items()})


# ---------------------------------------------------------------- conv3d

# (N, C, D, H, W), out channels, kernel, stride, padding, dilation, groups, bias
CONV3D = [
    ((2, 3, 5, 6, 7), 4, 3, 1, 0, 1, 1, True),
    ((2, 3, 5, 6, 5), 4, 3, 1, 1, 1, 1, False),
    ((2, 4, 6, 5, 7), 6, 3, 2, 1, 1, 2, True),
    ((1, 3, 7, 6, 8), 3, (3, 2, 2), (1, 2, 1), (2, 0, 1), (2, 1, 2), 3, True),
    ((2, 2, 5, 5, 6), 4, 3, 1, "same", 2, 1, True),
    ((2, 2, 4, 5, 6), 4, (2, 3, 4), 1, "same", 1, 1, True),
    ((2, 2, 4, 4, 4), 3, 2, 1, "valid", 1, 1, True),
    ((2, 4, 4, 5, 5), 4, 3, 1, 1, 1, 4, True),  # depthwise
    ((2, 3, 3, 4, 5), 2, 1, 1, 0, 1, 1, True),  # 1x1x1
    ((1, 2, 4, 4, 4), 2, 4, 1, 0, 1, 1, True),  # kernel as big as the volume
]


def _conv_arrays(rng, shape, out, k, groups, bias, transposed=False):
    kk = k if isinstance(k, tuple) else (k,) * (len(shape) - 2)
    wshape = (shape[1], out // groups) + kk if transposed else (out, shape[1] // groups) + kk
    arrays = [rng.standard_normal(shape), rng.standard_normal(wshape)]
    if bias:
        arrays.append(rng.standard_normal(out))
    return arrays


def _conv3d_vs_torch(case, dtype, device):
    shape, out, k, s, p, d, g, bias = case
    arrays = _conv_arrays(np.random.default_rng(1), shape, out, k, g, bias)
    compare(torch, lambda *t: F.conv3d(*t[:2], *(t[2:] or [None]), s, p, d, g),
            lambda *t: TF.conv3d(*t[:2], *(t[2:] or [None]), s, p, d, g),
            arrays, [True] * len(arrays), device, dtype)


@pytest.mark.parametrize("case", CONV3D, ids=_ids(CONV3D))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("wide_below", [0, 1000], ids=["narrow", "wide"])
def test_conv3d_matches_torch(case, dtype, wide_below, device, monkeypatch):
    # stride-1 convolutions take wide columns (short rows) or narrow ones: check both
    monkeypatch.setattr(conv_mod, "_WIDE_BELOW", wide_below)
    _conv3d_vs_torch(case, dtype, device)


@pytest.mark.parametrize("case", CONV3D[:5], ids=_ids(CONV3D[:5]))
def test_conv3d_in_small_chunks_and_on_threads(case, monkeypatch):
    # the CPU path multiplies a few images at a time, on worker threads: one image per chunk, two threads
    monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(conv_mod, "_WORKERS", 2)
    _conv3d_vs_torch(case, "float64", "cpu")


@pytest.mark.parametrize("grads", [[False, True, True], [True, False, False], [False, False, True]])
def test_conv3d_only_requested_gradients(grads, device):
    arrays = _conv_arrays(np.random.default_rng(2), (2, 3, 4, 5, 4), 4, 3, 1, True)
    compare(torch, lambda x, w, b: F.conv3d(x, w, b, padding=1), lambda x, w, b: TF.conv3d(x, w, b, padding=1),
            arrays, grads, device)


def test_conv3d_without_grad_and_unbatched(device):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 4, 5, 6)), rng.standard_normal((4, 3, 2, 3, 2)), rng.standard_normal(4)
    with nerve.no_grad():
        y = F.conv3d(*(nerve.tensor(a, device=device) for a in (x, w, b)), stride=(1, 2, 1), padding=1)
    np.testing.assert_allclose(to_np(y), TF.conv3d(*map(torch.tensor, (x, w, b)), stride=(1, 2, 1), padding=1),
                               rtol=1e-9, atol=1e-10)
    compare(torch, lambda x, w: F.conv3d(x, w, padding=1), lambda x, w: TF.conv3d(x, w, padding=1),
            [x[0], w], [True, True], device)


@pytest.mark.parametrize("case", [CONV3D[2], CONV3D[3], CONV3D[4]], ids=["groups", "asym", "same"])
def test_conv3d_gradcheck(case, device):
    shape, out, k, s, p, d, g, bias = case
    shape = (1,) + shape[1:2] + tuple(min(n, 5) for n in shape[2:])
    arrays = _conv_arrays(np.random.default_rng(5), shape, out, k, g, bias)
    ts = [nerve.tensor(a, device=device, requires_grad=True) for a in arrays]
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, s, p, d, g), ts)


def test_chained_conv3d_keeps_values(device):
    # conv outputs are channel-major views: relu, pooling, a second conv and flatten must agree with torch
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((3, 2, 6, 6, 6)), rng.standard_normal((4, 2, 3, 3, 3)),
              rng.standard_normal((5, 4, 2, 2, 2))]

    def net(mod, x, w1, w2):
        h = mod.max_pool3d(mod.relu(mod.conv3d(x, w1, padding=1)), 2)
        h = mod.conv3d(h, w2)
        return h.reshape(h.shape[0], -1) * 2

    compare(torch, lambda *t: net(F, *t), lambda *t: net(TF, *t), arrays, [True] * 3, device)


# ---------------------------------------------------------------- conv_transpose3d

# (N, C_in, D, H, W), out channels, kernel, stride, padding, output_padding, groups, dilation, bias
CONVT3D = [
    ((2, 4, 3, 4, 5), 6, 3, 1, 1, 0, 2, 1, True),
    ((2, 3, 3, 4, 2), 4, (2, 3, 2), (2, 1, 3), (1, 0, 1), (1, 0, 2), 1, 1, False),
    ((1, 2, 3, 3, 3), 3, 2, 2, 0, 1, 1, 2, True),
    ((2, 2, 2, 3, 3), 2, 3, 2, 1, 1, 1, 1, True),
]


@pytest.mark.parametrize("case", CONVT3D, ids=_ids(CONVT3D))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_transpose3d_matches_torch(case, dtype, device):
    shape, out, k, s, p, op, g, d, bias = case
    arrays = _conv_arrays(np.random.default_rng(11), shape, out, k, g, bias, transposed=True)
    compare(torch, lambda *t: F.conv_transpose3d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            lambda *t: TF.conv_transpose3d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            arrays, [True] * len(arrays), device, dtype)


def test_conv_transpose3d_gradcheck_and_unbatched(device):
    shape, out, k, s, p, op, g, d, bias = CONVT3D[1]
    arrays = _conv_arrays(np.random.default_rng(12), (1, 3, 2, 3, 2), out, k, g, True, transposed=True)
    ts = [nerve.tensor(a, device=device, requires_grad=True) for a in arrays]
    assert gradcheck(lambda x, w, b: F.conv_transpose3d(x, w, b, s, p, op, g, d), ts)
    compare(torch, lambda x, w: F.conv_transpose3d(x, w, stride=2), lambda x, w: TF.conv_transpose3d(x, w, stride=2),
            [arrays[0][0], arrays[1]], [True, True], device)


# ---------------------------------------------------------------- modules


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3),
    dict(kernel_size=(3, 2, 3), stride=2, padding=(1, 0, 2), bias=False),
    dict(kernel_size=3, padding="same", dilation=2),
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=(1, 2, 1), padding_mode="replicate", groups=2),
    dict(kernel_size=(2, 3, 3), padding=1, padding_mode="circular"),
    dict(kernel_size=4, padding="same", padding_mode="reflect"),
])
def test_conv3d_module_matches_torch(kwargs, device):
    m = nn.Conv3d(4, 6, **kwargs).double().to(device)
    t = torch.nn.Conv3d(4, 6, **kwargs).double()
    _copy_params(m, t)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    x = np.random.default_rng(8).standard_normal((2, 4, 5, 6, 5))
    compare(torch, m, t, [x], [True], device)
    np.testing.assert_allclose(to_np(m.weight.grad), t.weight.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_conv3d_module_loads_torchs_weights_and_inits_as_torch(device):
    torch.manual_seed(0)
    t = torch.nn.Conv3d(8, 16, (3, 2, 3), groups=2)
    m = nn.Conv3d(8, 16, (3, 2, 3), groups=2)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [("weight", (16, 4, 3, 2, 3)), ("bias", (16,))]
    # kaiming_uniform_(a=sqrt(5)) on the weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias
    bound = 1 / math.sqrt(4 * 3 * 2 * 3)
    w, b = to_np(m.weight), to_np(m.bias)
    assert bound * 0.9 < np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    m.load_state_dict(t.state_dict())
    m = m.to(device)
    x = np.random.default_rng(9).standard_normal((2, 8, 4, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(to_np(m(nerve.tensor(x, device=device))), t(torch.tensor(x)).detach().numpy(),
                               rtol=2e-4, atol=2e-5)


def test_conv_transpose3d_module_matches_torch(device):
    m = nn.ConvTranspose3d(4, 6, (3, 2, 3), stride=2, padding=1, groups=2, dilation=(1, 2, 1)).double().to(device)
    t = torch.nn.ConvTranspose3d(4, 6, (3, 2, 3), stride=2, padding=1, groups=2, dilation=(1, 2, 1)).double()
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [("weight", (4, 3, 3, 2, 3)), ("bias", (6,))]
    _copy_params(m, t)
    assert repr(m) == repr(t)
    x = np.random.default_rng(10).standard_normal((2, 4, 3, 4, 3))
    compare(torch, m, t, [x], [True], device)
    size = (6, 7, 6)  # one more than the smallest output along D and W: output_padding (1, 0, 1)
    compare(torch, lambda a: m(a, output_size=size), lambda a: t(a, output_size=size), [x], [True], device)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose3d'):
        nn.ConvTranspose3d(4, 6, 3, padding_mode="reflect")


def test_pooling_modules_match_torch(device):
    x = np.random.default_rng(13).standard_normal((2, 3, 7, 6, 8))
    pairs = [
        (nn.MaxPool3d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool3d(3, 2, 1, ceil_mode=True)),
        (nn.MaxPool3d(2), torch.nn.MaxPool3d(2)),
        (nn.AvgPool3d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool3d(3, 2, 1, count_include_pad=False)),
        (nn.AvgPool3d((2, 1, 2), divisor_override=3), torch.nn.AvgPool3d((2, 1, 2), divisor_override=3)),
        (nn.AdaptiveAvgPool3d((2, None, 3)), torch.nn.AdaptiveAvgPool3d((2, None, 3))),
        (nn.AdaptiveMaxPool3d(2), torch.nn.AdaptiveMaxPool3d(2)),
    ]
    for m, t in pairs:
        assert repr(m) == repr(t)
        compare(torch, m, t, [x], [True], device)
    y, idx = nn.MaxPool3d(2, return_indices=True)(nerve.tensor(x, device=device))
    assert tuple(idx.shape) == tuple(y.shape) == (2, 3, 3, 3, 4)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm3d_over_several_steps(momentum, device):
    m = nn.BatchNorm3d(3, momentum=momentum).double().to(device)
    t = torch.nn.BatchNorm3d(3, momentum=momentum).double()
    assert same_repr(torch, m, t)
    assert list(m.state_dict()) == list(t.state_dict())
    rng = np.random.default_rng(14)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(rng.standard_normal(3)))
    m.load_state_dict(t.state_dict())
    for step in range(3):
        compare(torch, m, t, [rng.standard_normal((4, 3, 3, 4, 2)) * (step + 1) + step], [True], device)
        np.testing.assert_allclose(to_np(m.weight.grad), t.weight.grad.numpy(), rtol=1e-9, atol=1e-10)
        m.zero_grad()
        t.zero_grad()
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(to_np(m.state_dict()[k]), v.numpy(), rtol=1e-12, atol=1e-14, err_msg=k)
    m.eval()
    t.eval()
    compare(torch, m, t, [rng.standard_normal((2, 3, 2, 3, 2))], [True], device)
    with pytest.raises(ValueError, match=r"expected 5D input \(got 4D input\)"):
        m(nerve.randn(3, 2, 3, 2, device=device))


@pytest.mark.parametrize("shape", [(2, 3, 3, 4, 5), (3, 4, 2, 3)], ids=["batched", "unbatched"])
def test_instancenorm3d_matches_torch(shape, device):
    m = nn.InstanceNorm3d(3, affine=True, track_running_stats=True).double().to(device)
    t = torch.nn.InstanceNorm3d(3, affine=True, track_running_stats=True).double()
    assert same_repr(torch, m, t)
    rng = np.random.default_rng(15)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(rng.standard_normal(3)))
    m.load_state_dict(t.state_dict())
    compare(torch, m, t, [rng.standard_normal(shape) * 2 + 1], [True], device)
    np.testing.assert_allclose(to_np(m.running_var), t.running_var.numpy(), rtol=1e-12)
    m.eval()
    t.eval()
    compare(torch, m, t, [rng.standard_normal(shape)], [True], device)
    plain, tplain = nn.InstanceNorm3d(3).to(device), torch.nn.InstanceNorm3d(3)
    assert same_repr(torch, plain, tplain) and list(plain.state_dict()) == []
    x = rng.standard_normal((2, 3, 2, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(to_np(plain(nerve.tensor(x, device=device))), tplain(torch.tensor(x)).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_dropout3d_zeroes_whole_channels(device):
    nerve.manual_seed(0)
    m = nn.Dropout3d(0.4)
    assert repr(m) == repr(torch.nn.Dropout3d(0.4))
    x = nerve.ones(32, 16, 2, 3, 2, device=device, requires_grad=True)
    y = m(x)
    v = to_np(y)
    per_channel = v.reshape(32, 16, 12)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # each channel all kept or all dropped
    assert set(np.unique(v)) <= {0.0, np.float32(1 / 0.6)}
    assert abs((per_channel[..., 0] == 0).mean() - 0.4) < 0.06
    y.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), v)
    m.eval()
    assert m(x) is x
    # an unbatched (C, D, H, W) input drops whole channels too
    u = to_np(F.dropout3d(nerve.ones(64, 2, 2, 2, device=device), 0.5)).reshape(64, 8)
    assert np.all(u.min(-1) == u.max(-1)) and 0 < (u[:, 0] == 0).sum() < 64
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        F.dropout3d(nerve.ones(4, 3, 3, device=device), 0.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.dropout3d(x, 1.5)


# ---------------------------------------------------------------- pooling

# shape, kernel, stride, padding, dilation, ceil_mode
MAXPOOL3D = [
    ((2, 3, 6, 7, 8), 2, None, 0, 1, False),
    ((2, 2, 7, 6, 9), 3, 2, 1, 1, True),
    ((1, 2, 5, 8, 7), (2, 3, 2), (1, 2, 2), (1, 1, 0), (2, 1, 2), False),
    ((1, 2, 5, 5, 5), 3, 1, 1, 1, True),  # overlapping windows
]


@pytest.mark.parametrize("case", MAXPOOL3D, ids=_ids(MAXPOOL3D))
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool3d_matches_torch(case, ties, device):
    shape, k, s, p, d, ceil = case
    rng = np.random.default_rng(16)
    # small integers make many ties: the gradient must go to the first maximum, as in torch
    x = rng.integers(0, 3, shape).astype(float) if ties else rng.standard_normal(shape)
    compare(torch, lambda t: F.max_pool3d(t, k, s, p, d, ceil), lambda t: TF.max_pool3d(t, k, s, p, d, ceil),
            [x], [True], device)
    _, idx_n = F.max_pool3d(nerve.tensor(x, device=device), k, s, p, d, ceil, return_indices=True)
    _, idx_t = TF.max_pool3d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
    assert idx_n.dtype == nerve.int64
    np.testing.assert_array_equal(to_np(idx_n), idx_t.numpy())


def test_max_pool3d_tie_goes_to_first_maximum_and_threads(device, monkeypatch):
    x = nerve.ones(1, 1, 2, 2, 2, device=device, requires_grad=True)
    F.max_pool3d(x, 2).sum().backward()
    assert to_np(x.grad).ravel().tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    from nerve.nn.functional import pooling

    monkeypatch.setattr(pooling, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(pooling, "_workers", lambda xp: 2)
    test_max_pool3d_matches_torch(MAXPOOL3D[1], True, device)


@pytest.mark.parametrize("case", MAXPOOL3D[:2] + [((2, 2, 5, 6, 7), (3, 2, 3), (2, 1, 2), (1, 1, 0), 1, True)],
                         ids=_ids(MAXPOOL3D[:3]))
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool3d_matches_torch(case, count_include_pad, divisor_override, device):
    shape, k, s, p, _, ceil = case
    x = np.random.default_rng(17).standard_normal(shape)
    compare(torch, lambda t: F.avg_pool3d(t, k, s, p, ceil, count_include_pad, divisor_override),
            lambda t: TF.avg_pool3d(t, k, s, p, ceil, count_include_pad, divisor_override), [x], [True], device)


@pytest.mark.parametrize("out", [(3, 2, 4), 1, (None, 3, 2), (2, None, None), (7, 5, 6)])
def test_adaptive_pools3d_match_torch(out, device):
    x = np.random.default_rng(18).standard_normal((2, 3, 7, 5, 6))
    compare(torch, lambda t: F.adaptive_avg_pool3d(t, out), lambda t: TF.adaptive_avg_pool3d(t, out), [x], [True],
            device)
    compare(torch, lambda t: F.adaptive_max_pool3d(t, out), lambda t: TF.adaptive_max_pool3d(t, out), [x], [True],
            device)
    _, idx_n = F.adaptive_max_pool3d(nerve.tensor(x, device=device), out, return_indices=True)
    np.testing.assert_array_equal(to_np(idx_n), TF.adaptive_max_pool3d(torch.tensor(x), out, True)[1].numpy())


def test_unbatched_and_float32_pooling(device):
    x = np.random.default_rng(19).standard_normal((3, 4, 5, 6))
    for fn in ("max_pool3d", "avg_pool3d"):
        compare(torch, lambda t: getattr(F, fn)(t, 2), lambda t: getattr(TF, fn)(t, 2), [x], [True], device)
        compare(torch, lambda t: getattr(F, fn)(t, 3, 2, 1), lambda t: getattr(TF, fn)(t, 3, 2, 1), [x], [True],
                device, "float32")
    compare(torch, lambda t: F.adaptive_avg_pool3d(t, 2), lambda t: TF.adaptive_avg_pool3d(t, 2), [x], [True], device)


@pytest.mark.parametrize("fn", [
    lambda t: F.max_pool3d(t, 3, 2, 1, ceil_mode=True),
    lambda t: F.max_pool3d(t, 2, 1, dilation=2),
    lambda t: F.avg_pool3d(t, 3, 2, 1, True, False),
    lambda t: F.adaptive_avg_pool3d(t, (3, 2, 2)),
    lambda t: F.adaptive_max_pool3d(t, (2, 3, 2)),
], ids=["max", "max_dilated", "avg", "adaptive_avg", "adaptive_max"])
def test_pooling3d_gradcheck(fn, device):
    x = nerve.tensor(np.random.default_rng(20).standard_normal((1, 2, 5, 4, 5)), device=device, requires_grad=True)
    assert gradcheck(fn, [x])


# ---------------------------------------------------------------- interpolate on 5-D inputs

INTERP5 = [dict(scale_factor=2), dict(scale_factor=(1.5, 0.5, 2.0)), dict(size=(3, 7, 4)), dict(size=5),
           dict(scale_factor=1.7), dict(scale_factor=(1.3, 2.5, 0.75), recompute_scale_factor=True)]


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("trilinear", False),
                                     ("trilinear", True), ("area", None)])
@pytest.mark.parametrize("kw", INTERP5, ids=_ids(INTERP5))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_interpolate_5d_matches_torch(mode, ac, kw, dtype, device):
    x = np.random.default_rng(21).standard_normal((2, 3, 4, 5, 6))
    compare(torch, lambda t: F.interpolate(t, mode=mode, align_corners=ac, **kw),
            lambda t: TF.interpolate(t, mode=mode, align_corners=ac, **kw), [x], [True], device, dtype)


@pytest.mark.parametrize("mode", ["nearest", "trilinear"])
def test_interpolate_5d_gradcheck(mode, device):
    # a factor of 2.01 that doubles the size: torch's nearest backward assumes 2 here, its forward does
    # not (nerve's gradient is its forward's: checked numerically)
    x = nerve.tensor(np.random.default_rng(22).standard_normal((1, 2, 2, 3, 3)), device=device, requires_grad=True)
    assert gradcheck(lambda t: F.interpolate(t, scale_factor=(2.01, 1.5, 0.7), mode=mode), [x])
    m, t = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True), torch.nn.Upsample(
        scale_factor=2, mode="trilinear", align_corners=True)
    assert repr(m) == repr(t)
    compare(torch, m, t, [np.random.default_rng(23).standard_normal((1, 2, 2, 3, 2))], [True], device)


# ---------------------------------------------------------------- errors and torch.X names


def _messages(call):
    """(torch's exception type and message, nerve's) for ``call(lib, F)``."""
    out = []
    for lib, fns in ((torch, TF), (nerve, F)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                call(lib, fns)
                out.append(None)
            except Exception as e:  # noqa: BLE001 - compared with torch's below
                out.append((type(e).__name__, str(e)))
    return out


@pytest.mark.parametrize("call", [
    lambda L, f: f.conv3d(L.randn(2, 3, 3), L.randn(2, 2, 2, 2, 2)),
    lambda L, f: f.conv3d(L.randn(1, 2, 3, 3, 3), L.randn(2, 3, 2, 2, 2)),
    lambda L, f: f.conv3d(L.randn(1, 2, 3, 3, 3), L.randn(2, 2, 5, 2, 2)),
    lambda L, f: f.conv3d(L.randn(1, 2, 3, 3, 3), L.randn(2, 2, 2, 2, 2), stride=0),
    lambda L, f: f.conv3d(L.randn(1, 2, 3, 3, 3), L.randn(2, 2, 2, 2, 2), dilation=(1, 0, 1)),
    lambda L, f: f.conv_transpose3d(L.randn(2, 3, 3), L.randn(2, 2, 2, 2, 2)),
    lambda L, f: f.conv_transpose3d(L.randn(1, 2, 3, 3, 3), L.randn(3, 2, 2, 2, 2)),
    lambda L, f: f.conv_transpose3d(L.randn(1, 2, 3, 3, 3), L.randn(2, 2, 2, 2, 2), stride=2, output_padding=2),
    lambda L, f: f.conv_transpose3d(L.randn(1, 2, 3, 3, 3), L.randn(2, 2, 2, 2, 2), dilation=0),
    lambda L, f: f.conv_transpose3d(L.randn(1, 2, 3, 3, 3), L.randn(2, 2, 2, 2, 2), padding=5),
    lambda L, f: f.max_pool3d(L.randn(1, 2, 3, 3, 3), 4),
    lambda L, f: f.max_pool3d(L.randn(1, 2, 3, 3, 3), 2, padding=2),
    lambda L, f: f.avg_pool3d(L.randn(1, 2, 3, 3, 3), 2, divisor_override=0),
    lambda L, f: f.adaptive_avg_pool3d(L.randn(2, 3, 3), 2),
    lambda L, f: f.adaptive_max_pool3d(L.randn(2, 3, 3), 2),
    lambda L, f: f.adaptive_avg_pool3d(L.randn(1, 2, 3, 3, 3), (2, 2)),
    lambda L, f: f.interpolate(L.randn(1, 2, 3, 3, 3), scale_factor=2, mode="bilinear"),
    lambda L, f: f.interpolate(L.randn(1, 2, 3, 3), scale_factor=2, mode="trilinear"),
    lambda L, f: f.interpolate(L.randn(1, 2, 3, 3, 3), scale_factor=2, mode="bicubic"),
    lambda L, f: L.nn.BatchNorm3d(3)(L.randn(2, 3, 4, 4)),
    lambda L, f: L.nn.Conv3d(3, 4, 3, groups=2),
    lambda L, f: L.nn.Conv3d(3, 4, 3, padding="same", stride=2),
], ids=lambda c: "")
def test_errors_worded_as_torchs(call):
    theirs, ours = _messages(call)
    assert theirs is not None and ours == theirs


def test_errors_close_to_torchs():
    x = nerve.randn(1, 2, 3, 3, 3)
    with pytest.raises(RuntimeError, match=r"non-empty 4D or 5D \(batch mode\) tensor expected for input"):
        F.max_pool3d(nerve.randn(2, 3, 3), 2)
    with pytest.raises(RuntimeError, match="Input type"):
        F.conv3d(x.double(), nerve.randn(2, 2, 2, 2, 2))
    with pytest.raises(RuntimeError, match="expected a 5D weight"):
        F.conv3d(x, nerve.randn(2, 2, 2, 2))


def test_top_level_names():
    rng = np.random.default_rng(24)
    x, w = rng.standard_normal((1, 2, 4, 4, 4)), rng.standard_normal((2, 2, 2, 2, 2))
    for name, args in (("conv3d", (w,)), ("conv_transpose3d", (w,)), ("max_pool3d", (2,))):
        assert name in nerve._NN_ALIASES
        compare(torch, lambda t, name=name, args=args: getattr(nerve, name)(t, *(
                    nerve.tensor(a) if isinstance(a, np.ndarray) else a for a in args)),
                lambda t, name=name, args=args: getattr(torch, name)(t, *(
                    torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args)), [x], [True])


# ---------------------------------------------------------------- a 3-D CNN that learns


def _rods(rng, n, size=8):
    """Noisy volumes with one bright rod through the volume along D, H or W; the label is the rod's axis."""
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 1, size, size, size)).astype(np.float32) * 0.3
    for i, axis in enumerate(y):
        a, b = rng.integers(1, size - 1, 2)
        x[(i, 0) + [(slice(None), a, b), (a, slice(None), b), (a, b, slice(None))][axis]] += 2.0
    return x, y


def test_small_3d_cnn_learns(device):
    nerve.manual_seed(0)
    rng = np.random.default_rng(25)
    net = nn.Sequential(
        nn.Conv3d(1, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(), nn.MaxPool3d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4 * 4, 3),
    ).to(device)
    opt = nerve.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(60):
        x, y = _rods(rng, 32)
        loss = F.cross_entropy(net(nerve.tensor(x, device=device)), nerve.tensor(y, device=device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _rods(np.random.default_rng(26), 300)
    net.eval()
    with nerve.no_grad():
        pred = to_np(net(nerve.tensor(x, device=device)).argmax(1))
    acc = (pred == y).mean()
    assert acc > 0.8, acc  # chance is 1/3
