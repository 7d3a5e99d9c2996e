"""Winograd F(4x4, 3x3), the CPU path of 3x3 stride-1 convolutions: against PyTorch, against the
im2col path, gradient checks, double backward, threads and image blocks, and where it is not used."""

import numpy as np
import pytest
from _torch_compare import compare, to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck, gradgradcheck
from nerve.nn.functional import _winograd
from nerve.nn.functional import conv as conv_mod

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# (N, C, H, W), out channels, padding, bias
CASES = [
    ((2, 8, 6, 6), 4, 0, True),  # one 4x4 output tile an image
    ((2, 8, 10, 10), 5, 0, False),  # 8x8 output: tiles fit exactly
    ((3, 9, 13, 9), 6, 0, True),  # 11x7 output: partial tiles, cropped
    ((2, 8, 7, 8), 5, 1, True),
    ((1, 8, 7, 7), 4, "same", False),
    ((3, 8, 6, 9), 4, (2, 0), True),  # different padding for height and width
    ((5, 8, 4, 4), 4, 1, True),
    ((4, 12, 13, 13), 8, 0, True),  # the keras.io convnet's second layer shape, fewer channels
]


def _ids(cases):
    return [f"case{i}" for i in range(len(cases))]


def _arrays(rng, shape, out, bias):
    arrays = [rng.standard_normal(shape), rng.standard_normal((out, shape[1], 3, 3))]
    if bias:
        arrays.append(rng.standard_normal(out))
    return arrays


@pytest.fixture
def calls(monkeypatch):
    """How many convolutions ran through Winograd."""
    count = [0]
    real = _winograd.forward

    def counting(*a, **k):
        count[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(_winograd, "forward", counting)
    return count


def _vs_torch(case, dtype, tol=None):
    shape, out, pad, bias = case
    arrays = _arrays(np.random.default_rng(3), shape, out, bias)
    compare(torch, lambda *t: F.conv2d(*t[:2], *(t[2:] or [None]), padding=pad),
            lambda *t: TF.conv2d(*t[:2], *(t[2:] or [None]), padding=pad),
            arrays, [True] * len(arrays), "cpu", dtype, tol=tol)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_torch(case, dtype, calls):
    # in float32 Winograd's error is about 2e-6 of the largest magnitude, not of each element: a
    # weight gradient element that is a small difference of large sums gets an absolute tolerance
    _vs_torch(case, dtype, tol=dict(rtol=2e-4, atol=1e-4) if dtype == "float32" else None)
    assert calls[0] == 1


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_one_image_a_block_on_threads(workers, calls, monkeypatch):
    # blocks of one image, spread over 1-3 threads: every image range and block boundary
    import nerve._threads as threads

    before = threads.get_num_threads()
    monkeypatch.setattr(_winograd, "_SUB_BYTES", 1)
    monkeypatch.setattr(conv_mod, "_workers", lambda xp: workers)
    for case in CASES[2], CASES[3]:
        _vs_torch(case, "float64")
    assert calls[0] == 2
    assert threads.get_num_threads() == before


@pytest.mark.parametrize("grads", [[False, True, True], [True, False, False], [True, True, False]])
def test_only_requested_gradients(grads, calls):
    arrays = _arrays(np.random.default_rng(4), (2, 8, 8, 7), 5, True)
    compare(torch, lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
            arrays, grads)
    assert calls[0] == 1


def test_same_as_im2col_in_float32(monkeypatch):
    # the two CPU paths agree to float32 rounding on the MNIST net's second layer, batch 8
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 32, 26, 26)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) * 0.06).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    g = rng.standard_normal((8, 64, 24, 24)).astype(np.float32)
    results = []
    for on in (True, False):
        monkeypatch.setattr(conv_mod, "_WINOGRAD", on)
        xt, wt, bt = (nerve.tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(xt, wt, bt)
        y.backward(nerve.tensor(g))
        results.append([to_np(y), to_np(xt.grad), to_np(wt.grad), to_np(bt.grad)])
    for a, b in zip(*results):
        assert np.abs(a - b).max() <= 2e-5 * np.abs(b).max()


def test_gradcheck(calls):
    rng = np.random.default_rng(6)
    x = nerve.tensor(rng.standard_normal((2, 8, 7, 8)), requires_grad=True)
    w = nerve.tensor(rng.standard_normal((4, 8, 3, 3)), requires_grad=True)
    b = nerve.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), (x, w, b))
    assert calls[0] > 0


def test_double_backward_matches_torch(calls):
    # the weight's double backward rebuilds the input from the kept transform
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((2, 8, 7, 8)), rng.standard_normal((5, 8, 3, 3)), rng.standard_normal(5)]

    def second(lib):
        ts = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = lib.nn.functional.conv2d((ts[0] * 1.3).tanh(), ts[1], ts[2], padding=1)
        gs = lib.autograd.grad((y * y.sin()).sum(), ts, create_graph=True)
        g2 = lib.autograd.grad(sum((g * g.tanh()).sum() for g in gs), ts)
        return [t.detach().numpy() for t in list(gs) + list(g2)]

    for a, b in zip(second(nerve), second(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11 * max(1.0, np.abs(b).max()))
    assert calls[0] >= 1
    x = nerve.tensor(arrays[0], requires_grad=True)
    w = nerve.tensor(arrays[1], requires_grad=True)
    assert gradgradcheck(lambda x, w: F.conv2d(x, w, padding=1), (x, w))


def test_chained_layers_and_a_training_step_match_torch(calls):
    # two Winograd layers in a row: the second reads the first's channel-major output
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1),
                               torch.nn.ReLU(), torch.nn.Conv2d(8, 6, 3), torch.nn.Flatten(), torch.nn.Linear(6 * 64, 3))
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 3),
                        nn.Flatten(), nn.Linear(6 * 64, 3)).double()
    net.load_state_dict({k: nerve.tensor(v.double().numpy()) for k, v in tnet.state_dict().items()})
    tnet.double()
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((4, 3, 12, 12)), rng.integers(0, 3, 4)
    opt = nerve.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        for m, o, lib in ((net, opt, nerve), (tnet, topt, torch)):
            o.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            o.step()
    for (k, a), b in zip(net.state_dict().items(), tnet.state_dict().values()):
        np.testing.assert_allclose(to_np(a), b.numpy(), rtol=1e-9, atol=1e-10, err_msg=k)
    assert calls[0] == 6  # the second and third layers, 3 steps (3 input channels send the first to im2col)


@pytest.mark.parametrize("kwargs,shape", [
    (dict(stride=2), (2, 8, 8, 8)), (dict(dilation=2), (2, 8, 8, 8)), (dict(groups=2), (2, 8, 8, 8)),
    ({}, (2, 4, 8, 8)),  # fewer than 8 input channels
    ({}, (2, 8, 7, 7)),  # a 5x5 output fills its 2x2 tiles of 4x4 too little
])
def test_other_convolutions_take_im2col(kwargs, shape, calls):
    rng = np.random.default_rng(9)
    groups = kwargs.get("groups", 1)
    arrays = [rng.standard_normal(shape), rng.standard_normal((4, shape[1] // groups, 3, 3))]
    compare(torch, lambda x, w: F.conv2d(x, w, **kwargs), lambda x, w: TF.conv2d(x, w, **kwargs), arrays, [True, True])
    assert calls[0] == 0


def test_kept_transform_goes_back_to_the_pool(monkeypatch):
    # the transform kept for the weight gradient is a pooled buffer: handed to the next step's
    # layer once this step's backward has run
    monkeypatch.setattr(conv_mod, "_POOL_MIN_BYTES", 0)
    monkeypatch.setattr(conv_mod, "_pool", [])
    rng = np.random.default_rng(10)
    w = nerve.tensor(rng.standard_normal((4, 8, 3, 3)), requires_grad=True)
    for _ in range(3):
        F.conv2d(nerve.tensor(rng.standard_normal((2, 8, 10, 10))), w).sum().backward()
    assert len(conv_mod._pool) == 1


@pytest.mark.parametrize("winograd", [True, False])
def test_empty_batch_matches_torch(winograd, calls, monkeypatch):
    # a batch of 0 images: an empty output, zero weight and bias gradients (no image range to run)
    monkeypatch.setattr(conv_mod, "_WINOGRAD", winograd)
    arrays = _arrays(np.random.default_rng(11), (0, 8, 10, 10), 4, True)
    compare(torch, lambda x, w, b: F.conv2d(x, w, b), lambda x, w, b: TF.conv2d(x, w, b), arrays, [True] * 3)
    assert calls[0] == int(winograd)


def test_threads_keep_one_pool(calls, monkeypatch):
    # 4 images on 3 workers make 2 image ranges: Winograd still asks for the pool of 3 threads every
    # other op uses, so the pool is not rebuilt at each switch between it and an im2col convolution
    import nerve._threads as threads

    monkeypatch.setattr(conv_mod, "_workers", lambda xp: 3)
    monkeypatch.setattr(threads, "_executor", None)
    pools = set()
    for kernel in (3, 5, 3):
        arrays = _arrays(np.random.default_rng(12), (4, 8, 10, 10), 4, True)
        arrays[1] = arrays[1][:, :, :1, :1].repeat(kernel, 2).repeat(kernel, 3)
        compare(torch, lambda x, w, b: F.conv2d(x, w, b), lambda x, w, b: TF.conv2d(x, w, b), arrays, [True] * 3)
        pools.add(id(threads._executor[2]))
        assert threads._executor[1] == 3
    assert len(pools) == 1
    assert calls[0] == 2


def test_an_inf_or_nan_stays_where_torch_has_it():
    # an inf or NaN pixel reaches the outputs whose 3x3 windows read it, as in a direct convolution;
    # through Winograd's transforms it turned the whole 4x4 output tile, all channels, into NaN (and an
    # inf weight its whole output channel, where torch has +-inf)
    arrays = _arrays(np.random.default_rng(13), (2, 8, 10, 10), 4, True)
    arrays[0][0, 0, 0, 0] = np.inf
    arrays[0][1, 3, 5, 6] = np.nan
    yn, yt = compare(torch, lambda x, w, b: F.conv2d(x, w, b), lambda x, w, b: TF.conv2d(x, w, b), arrays, [True] * 3)
    assert np.isfinite(yt).sum() == np.isfinite(yn).sum() == yt.size - 4 - 9 * 4
    arrays = _arrays(np.random.default_rng(14), (2, 8, 10, 10), 4, True)
    arrays[1][1, 2, 0, 1] = np.inf
    yn, yt = compare(torch, lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
                     arrays, [True] * 3)
    assert np.isinf(yt).sum() == np.isinf(yn).sum() > 0


@pytest.mark.parametrize("view", ["channels_last", "transposed", "flipped", "cropped"])
@pytest.mark.parametrize("pad", [0, 1])
def test_strided_inputs_match_torch(view, pad, calls):
    # the tiles are read through as_strided with the input's own strides (no copy without padding)
    views = {"channels_last": lambda x: x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2),
             "transposed": lambda x: x.transpose(2, 3), "flipped": lambda x: x.flip(3),
             "cropped": lambda x: x[:, 1:, 2:, 1:-1]}
    arrays = _arrays(np.random.default_rng(15), (3, 9, 12, 10), 5, True)
    arrays[1] = arrays[1][:, :8] if view == "cropped" else arrays[1]
    if view == "transposed":
        arrays[0] = arrays[0].transpose(0, 1, 3, 2).copy()
    compare(torch, lambda x, w, b: F.conv2d(views[view](x), w, b, padding=pad),
            lambda x, w, b: TF.conv2d(views[view](x), w, b, padding=pad), arrays, [True] * 3)
    assert calls[0] == 1


def test_pooled_transform_is_not_taken_from_a_graph_still_to_run(monkeypatch):
    # two forward passes keep two transforms; the first's backward runs after the second's forward, and
    # with retain_graph a graph whose backward has run keeps its buffer for the next backward
    monkeypatch.setattr(conv_mod, "_POOL_MIN_BYTES", 0)
    monkeypatch.setattr(conv_mod, "_pool", [])
    rng = np.random.default_rng(16)
    xs, w0 = [rng.standard_normal((2, 8, 10, 10)) for _ in range(3)], rng.standard_normal((5, 8, 3, 3))
    grads = []
    for lib in (nerve, torch):
        w = lib.tensor(w0, requires_grad=True)
        losses = [(lib.nn.functional.conv2d(lib.tensor(x), w) ** 2).sum() for x in xs[:2]]
        got = []
        for loss, retain in ((losses[0], True), (losses[1], False), (losses[0], False)):
            if loss is losses[0] and not retain:  # a third forward between the two backward passes of the first
                (lib.nn.functional.conv2d(lib.tensor(xs[2]), w) ** 2).sum().backward()
            w.grad = None
            loss.backward(retain_graph=retain)
            got.append(w.grad.numpy().copy())
        grads.append(got)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b).max())


@pytest.mark.parametrize("grads", [[True, True, True], [True, False, False], [False, True, True]])
def test_an_inf_gradient_stays_where_torch_has_it(grads, calls):
    # an inf in the output's gradient: through Winograd's transforms and the band products that add the
    # tiles back it made the whole image's input gradient NaN (800 elements against torch's 72 infs)
    # and the weight gradient NaN where torch has +-inf; such a backward runs through im2col
    arrays = _arrays(np.random.default_rng(17), (2, 8, 10, 10), 4, True)
    g = np.random.default_rng(18).standard_normal((2, 4, 8, 8))
    g[1, 1, 5, 5] = np.inf
    got = []
    for lib, fn in ((nerve, F.conv2d), (torch, TF.conv2d)):
        ts = [lib.tensor(a, requires_grad=r) for a, r in zip(arrays, grads)]
        fn(*ts).backward(lib.tensor(g))
        got.append([to_np(t.grad) if lib is nerve else t.grad.numpy() for t, r in zip(ts, grads) if r])
    for a, b in zip(*got):
        assert np.isinf(b).any()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b[np.isfinite(b)]).max())
    assert calls[0] == 1
