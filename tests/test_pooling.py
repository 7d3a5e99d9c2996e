"""Pooling against PyTorch: values, gradients (ties go to the first maximum), indices, gradient checks."""

import numpy as np
import pytest
from _torch_compare import compare, to_np, torch_before

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# shape, kernel, stride, padding, dilation, ceil_mode
MAXPOOL = [
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 3, 9, 7), 2, None, 0, 1, False),
    ((2, 3, 9, 7), 2, None, 0, 1, True),
    ((2, 2, 9, 8), 3, 2, 1, 1, True),
    ((1, 2, 10, 9), (3, 2), (1, 2), (1, 1), (2, 1), False),
    ((2, 2, 7, 7), 3, 1, 1, 1, False),  # overlapping windows
    ((2, 2, 11, 10), 3, 3, 1, 1, True),
    ((1, 3, 6, 6), 2, 1, 0, 2, True),
    ((2, 2, 5, 5), 5, 1, 2, 1, False),
]


def _ids(cases):
    return [f"case{i}" for i in range(len(cases))]


@pytest.mark.parametrize("case", MAXPOOL, ids=_ids(MAXPOOL))
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool2d_matches_torch(case, ties, device):
    shape, k, s, p, d, ceil = case
    rng = np.random.default_rng(0)
    # small integers make many ties: the gradient must go to the first maximum, as in torch
    x = rng.integers(0, 3, shape).astype(float) if ties else rng.standard_normal(shape)
    yn, yt = compare(torch, lambda t: F.max_pool2d(t, k, s, p, d, ceil), lambda t: TF.max_pool2d(t, k, s, p, d, ceil),
                     [x], [True], device)
    _, idx_n = F.max_pool2d(nerve.tensor(x, device=device), k, s, p, d, ceil, return_indices=True)
    _, idx_t = TF.max_pool2d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
    assert idx_n.dtype == nerve.int64
    np.testing.assert_array_equal(to_np(idx_n), idx_t.numpy())


def test_max_pool2d_tie_goes_to_first_maximum(device):
    x = nerve.tensor([[[[1.0, 1.0], [1.0, 1.0]]]], device=device, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(to_np(x.grad)[0, 0], [[1, 0], [0, 0]])


def test_max_pool2d_on_a_convolution_output(device):
    # convolutions hand back channel-major views; pooling must work on them as on contiguous input
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((3, 2, 9, 9)), rng.standard_normal((4, 2, 3, 3))]
    compare(torch, lambda x, w: F.max_pool2d(F.relu(F.conv2d(x, w)), 2, ceil_mode=True).flatten(1),
            lambda x, w: TF.max_pool2d(TF.relu(TF.conv2d(x, w)), 2, ceil_mode=True).flatten(1),
            arrays, [True, True], device)
    compare(torch, lambda x, w: F.avg_pool2d(F.conv2d(x, w), 3, 2, 1),
            lambda x, w: TF.avg_pool2d(TF.conv2d(x, w), 3, 2, 1), arrays, [True, True], device)


def test_max_pool2d_propagates_nan(device):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y = F.max_pool2d(nerve.tensor(x, device=device), 2)
    assert np.isnan(to_np(y)[0, 0, 0, 0]) and to_np(y)[0, 0, 1, 1] == 15



@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_pool_with_nans_points_at_the_windows_last_nan_as_torch(device, dims):
    # the output is NaN wherever a window holds one; torch's index and gradient go to the window's
    # last NaN (in row-major order), and a number never beats an earlier NaN
    rng = np.random.default_rng(dims)
    shape = (2, 3) + (7, 8, 6)[:dims]
    fns = {1: ("max_pool1d", "adaptive_max_pool1d"), 2: ("max_pool2d", "adaptive_max_pool2d"),
           3: ("max_pool3d", "adaptive_max_pool3d")}[dims]
    for trial in range(6):
        x = rng.standard_normal(shape)
        x[rng.random(shape) < 0.15] = np.nan
        k, st = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        calls = [lambda lib, t: getattr(lib.nn.functional, fns[0])(t, k, st, k // 2, return_indices=True),
                 lambda lib, t: getattr(lib.nn.functional, fns[1])(t, 3, return_indices=True)]
        for call in calls:
            got = []
            for lib, dev in ((nerve, device), (torch, "cpu")):
                t = lib.tensor(x, device=dev, requires_grad=True)
                y, idx = call(lib, t)
                y.backward(lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)), device=dev))
                got.append([v.detach().cpu().numpy() for v in (y, idx, t.grad)])
            for ours, theirs in zip(*got):
                np.testing.assert_array_equal(ours, theirs)

# shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
AVGPOOL = [
    ((2, 3, 8, 8), 2, None, 0, False, True, None),
    ((2, 3, 9, 7), 3, 2, 1, False, True, None),
    ((2, 3, 9, 7), 3, 2, 1, True, True, None),
    ((2, 3, 9, 7), 3, 2, 1, True, False, None),
    ((1, 2, 10, 9), (3, 2), (1, 2), (1, 1), False, False, None),
    ((2, 2, 7, 7), (2, 3), (2, 1), (1, 0), False, True, 5),
    ((2, 2, 11, 10), 3, 3, 1, True, False, None),
]


@pytest.mark.parametrize("case", AVGPOOL, ids=_ids(AVGPOOL))
def test_avg_pool2d_matches_torch(case, device):
    shape, k, s, p, ceil, cip, div = case
    x = np.random.default_rng(2).standard_normal(shape)
    compare(torch, lambda t: F.avg_pool2d(t, k, s, p, ceil, cip, div),
            lambda t: TF.avg_pool2d(t, k, s, p, ceil, cip, div), [x], [True], device)


@pytest.mark.parametrize("shape,out", [((2, 3, 8, 8), (4, 4)), ((2, 3, 9, 7), (4, 3)), ((2, 3, 5, 7), 1),
                                       ((1, 2, 7, 10), (None, 3)), ((2, 3, 6, 6), (8, 9))])
def test_adaptive_pools_match_torch(shape, out, device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    compare(torch, lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), [x], [True], device)
    xi = rng.integers(0, 3, shape).astype(float)
    compare(torch, lambda t: F.adaptive_max_pool2d(t, out), lambda t: TF.adaptive_max_pool2d(t, out), [xi], [True], device)
    _, i_n = F.adaptive_max_pool2d(nerve.tensor(xi, device=device), out, return_indices=True)
    _, i_t = TF.adaptive_max_pool2d(torch.tensor(xi), out, return_indices=True)
    np.testing.assert_array_equal(to_np(i_n), i_t.numpy())


@pytest.mark.parametrize("ties", [False, True])
def test_pool1d_matches_torch(ties, device):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (2, 3, 11)).astype(float) if ties else rng.standard_normal((2, 3, 11))
    compare(torch, lambda t: F.max_pool1d(t, 3, 2, 1, ceil_mode=True), lambda t: TF.max_pool1d(t, 3, 2, 1, ceil_mode=True),
            [x], [True], device)
    compare(torch, lambda t: F.max_pool1d(t, 2, dilation=2), lambda t: TF.max_pool1d(t, 2, dilation=2), [x], [True], device)
    compare(torch, lambda t: F.avg_pool1d(t, 4, 3, 2, True, False), lambda t: TF.avg_pool1d(t, 4, 3, 2, True, False),
            [x], [True], device)
    _, i_n = F.max_pool1d(nerve.tensor(x, device=device), 3, 2, 1, return_indices=True)
    _, i_t = TF.max_pool1d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(to_np(i_n), i_t.numpy())


def test_unbatched_pooling(device):
    x = np.random.default_rng(5).standard_normal((3, 6, 5))
    compare(torch, lambda t: F.max_pool2d(t, 2, ceil_mode=True), lambda t: TF.max_pool2d(t, 2, ceil_mode=True),
            [x], [True], device)
    compare(torch, lambda t: F.avg_pool2d(t, 2), lambda t: TF.avg_pool2d(t, 2), [x], [True], device)


@pytest.mark.parametrize("fn", [
    lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True),
    lambda t: F.max_pool2d(t, 2, 1, dilation=2),
    lambda t: F.avg_pool2d(t, 3, 2, 1, True, False),
    lambda t: F.adaptive_avg_pool2d(t, (3, 2)),
    lambda t: F.adaptive_max_pool2d(t, (2, 3)),
], ids=["max", "max_dilated", "avg", "adaptive_avg", "adaptive_max"])
def test_pooling_gradcheck(fn, device):
    x = nerve.tensor(np.random.default_rng(6).standard_normal((2, 2, 6, 5)), device=device, requires_grad=True)
    assert gradcheck(fn, [x])


def test_pooling_modules_match_torch(device):
    x = np.random.default_rng(7).standard_normal((2, 3, 9, 8))
    pairs = [
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
        (nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3))),
        (nn.AdaptiveMaxPool2d(2), torch.nn.AdaptiveMaxPool2d(2)),
    ]
    for m, t in pairs:
        assert repr(m) == repr(t)
        compare(torch, m, t, [x], [True], device)
    x1 = x[:, :, 0]
    for m, t in [(nn.MaxPool1d(3, 2), torch.nn.MaxPool1d(3, 2)), (nn.AvgPool1d(2), torch.nn.AvgPool1d(2))]:
        assert repr(m) == repr(t)
        compare(torch, m, t, [x1], [True], device)
    y, idx = nn.MaxPool2d(2, return_indices=True)(nerve.tensor(x, device=device))
    assert tuple(idx.shape) == tuple(y.shape) == (2, 3, 4, 4)


def test_pooling_errors():
    x = nerve.randn(1, 1, 6, 6)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match=r"non-empty 3D or 4D \(batch mode\) tensor expected for input"):
        F.max_pool2d(nerve.randn(6, 6), 2)
    with pytest.raises(RuntimeError, match=r"Calculated output size: \(1x0x0\). Output size is too small"):
        F.avg_pool2d(nerve.randn(1, 1, 2, 2), 3)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        F.avg_pool2d(x, 2, divisor_override=0)


@pytest.mark.parametrize("case", MAXPOOL, ids=_ids(MAXPOOL))
@pytest.mark.parametrize("workers", [2, 3])
def test_max_pool2d_on_threads_matches_torch(case, workers, monkeypatch):
    # big inputs are pooled on the convolutions' threads, split along the leading axis
    from nerve.nn.functional import pooling

    monkeypatch.setattr(pooling, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(pooling, "_workers", lambda xp: workers)
    test_max_pool2d_matches_torch(case, True, "cpu")
    test_max_pool2d_on_a_convolution_output("cpu")


def _lp_pool_inf_as_torch_2_13(torch, dims):
    """lp_pool with p = +-inf as torch 2.13 computes it (the max of |x| over the window, or the min);
    older torch (the GPU machine's 2.11) returned 1 there."""
    pool = getattr(torch.nn.functional, f"max_pool{dims}d")

    def fn(t, p, k, st, ceil_mode):
        return pool(t.abs(), k, st, ceil_mode=ceil_mode) if p > 0 else -pool(-t.abs(), k, st, ceil_mode=ceil_mode)
    return fn


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, float("inf"), -float("inf")])
def test_lp_pool_matches_torch_values_and_gradients(device, dims, p):
    rng = np.random.default_rng(int(dims * 10 + (p if np.isfinite(p) else 7)))
    shape = (2, 3) + (9, 8, 7)[:dims]
    x = rng.standard_normal(shape)
    if p == 0.5:  # x ** 0.5 is nan below 0 in both: keep the inputs positive, and one window of zeros
        x = np.abs(x)
        x[(0, 0) + (slice(0, 2),) * dims] = 0.0
    k, st = (3, 2) if dims < 3 else (2, 2)
    got = []
    for lib, dev in ((nerve, device), (torch, "cpu")):
        fn = getattr(lib.nn.functional, f"lp_pool{dims}d")
        if lib is torch and not np.isfinite(p) and torch_before(torch, 2, 13):
            fn = _lp_pool_inf_as_torch_2_13(torch, dims)
        t = lib.tensor(x, device=dev, requires_grad=True)
        y = fn(t, p, k, st, ceil_mode=dims == 2)
        y.backward(lib.ones_like(y))
        got.append([v.detach().cpu().numpy() for v in (y, t.grad)])
    for ours, theirs in zip(*got):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    module = getattr(nn, f"LPPool{dims}d")(2, k, st)
    assert repr(module) == repr(getattr(torch.nn, f"LPPool{dims}d")(2, k, st))
    if np.isfinite(p) and p >= 1 and device == "cpu":
        small = np.abs(rng.standard_normal((1, 1) + (5,) * dims)) + 0.1  # away from the kinks at 0
        assert gradcheck(lambda t: getattr(F, f"lp_pool{dims}d")(t, p, k, st), (nerve.tensor(small, requires_grad=True),))
