"""Convolutions: conv1d/conv2d and Conv1d/Conv2d against PyTorch, gradient checks, errors, a ResNet
basic block, and a step of the pytorch/examples MNIST network."""

import math

import numpy as np
import pytest
from _torch_compare import compare, to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck
from nerve.nn.functional import conv as conv_mod

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# (N, C, H, W), out channels, kernel, stride, padding, dilation, groups, bias
CONV2D = [
    ((2, 3, 9, 8), 4, 3, 1, 0, 1, 1, True),
    ((2, 3, 9, 8), 4, 3, 1, 1, 1, 1, False),
    ((2, 4, 11, 7), 6, 3, 2, 1, 1, 2, True),
    ((1, 3, 7, 10), 3, (3, 2), (1, 2), (2, 0), (2, 1), 3, True),
    ((3, 2, 6, 6), 4, 3, 1, "same", 2, 1, True),
    ((3, 2, 6, 7), 4, (2, 4), 1, "same", 1, 1, True),
    ((2, 2, 6, 6), 4, 3, 1, "valid", 1, 1, True),
    ((2, 6, 8, 8), 6, 3, 1, 1, 1, 6, True),  # depthwise
    ((2, 5, 5, 5), 3, 1, 1, 0, 1, 1, True),  # 1x1
    ((2, 3, 10, 9), 2, 2, 3, 1, 1, 1, True),  # stride larger than the kernel
    ((1, 1, 28, 28), 8, 5, 2, 2, 1, 1, True),
    ((4, 3, 5, 5), 2, 5, 1, 0, 1, 1, True),  # kernel as big as the image
]


def _ids(cases):
    return [f"case{i}" for i in range(len(cases))]


def _conv_arrays(rng, shape, out, k, groups, bias):
    kk = k if isinstance(k, tuple) else (k,) * (len(shape) - 2)
    arrays = [rng.standard_normal(shape), rng.standard_normal((out, shape[1] // groups) + kk)]
    if bias:
        arrays.append(rng.standard_normal(out))
    return arrays


@pytest.mark.parametrize("case", CONV2D, ids=_ids(CONV2D))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("wide_below", [0, 1000], ids=["narrow", "wide"])
def test_conv2d_matches_torch(case, dtype, wide_below, device, monkeypatch):
    # stride-1 convolutions take wide columns (short rows) or narrow ones: check both
    monkeypatch.setattr(conv_mod, "_WIDE_BELOW", wide_below)
    _conv2d_vs_torch(case, dtype, device)


def _conv2d_vs_torch(case, dtype, device):
    shape, out, k, s, p, d, g, bias = case
    arrays = _conv_arrays(np.random.default_rng(1), shape, out, k, g, bias)
    compare(torch, lambda *t: F.conv2d(*t[:2], *(t[2:] or [None]), s, p, d, g),
            lambda *t: TF.conv2d(*t[:2], *(t[2:] or [None]), s, p, d, g),
            arrays, [True] * len(arrays), device, dtype)


@pytest.mark.parametrize("case", CONV2D[:6], ids=_ids(CONV2D[:6]))
def test_conv2d_in_small_chunks(case, device, monkeypatch):
    # the CPU path multiplies a few images at a time; force one image per chunk
    monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", 1)
    _conv2d_vs_torch(case, "float64", device)


@pytest.mark.parametrize("grads", [[False, True, True], [True, False, False], [False, False, True]])
def test_conv2d_only_requested_gradients(grads, device):
    arrays = _conv_arrays(np.random.default_rng(2), (2, 3, 7, 7), 4, 3, 1, True)
    compare(torch, lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
            arrays, grads, device)


CONV1D = [
    ((2, 3, 11), 4, 3, 1, 0, 1, 1, True),
    ((2, 4, 12), 6, 5, 2, 2, 1, 2, False),
    ((3, 2, 9), 4, 3, 1, "same", 3, 1, True),
    ((1, 3, 8), 3, 4, 3, 1, 1, 3, True),
]


@pytest.mark.parametrize("case", CONV1D, ids=_ids(CONV1D))
def test_conv1d_matches_torch(case, device):
    shape, out, k, s, p, d, g, bias = case
    arrays = _conv_arrays(np.random.default_rng(3), shape, out, k, g, bias)
    compare(torch, lambda *t: F.conv1d(*t[:2], *(t[2:] or [None]), s, p, d, g),
            lambda *t: TF.conv1d(*t[:2], *(t[2:] or [None]), s, p, d, g),
            arrays, [True] * len(arrays), device)


def test_unbatched_inputs(device):
    rng = np.random.default_rng(4)
    compare(torch, lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
            [rng.standard_normal((3, 5, 6)), rng.standard_normal((2, 3, 3, 3))], [True, True], device)
    compare(torch, lambda x, w: F.conv1d(x, w), lambda x, w: TF.conv1d(x, w),
            [rng.standard_normal((3, 7)), rng.standard_normal((2, 3, 2))], [True, True], device)


@pytest.mark.parametrize("case", [CONV2D[2], CONV2D[3], CONV2D[4]], ids=["groups", "asym", "same"])
def test_conv2d_gradcheck(case, device):
    shape, out, k, s, p, d, g, bias = case
    shape = (1,) + shape[1:]
    arrays = _conv_arrays(np.random.default_rng(5), shape, out, k, g, bias)
    ts = [nerve.tensor(a, device=device, requires_grad=True) for a in arrays]
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, s, p, d, g), ts)


def test_conv1d_gradcheck(device):
    rng = np.random.default_rng(6)
    ts = [nerve.tensor(a, device=device, requires_grad=True)
          for a in (rng.standard_normal((2, 2, 7)), rng.standard_normal((3, 2, 3)), rng.standard_normal(3))]
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), ts)


def test_chained_convolutions_keep_values(device):
    # conv outputs are channel-major views: relu, a second conv, view and flatten must all agree with torch
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((3, 2, 8, 8)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((5, 4, 3, 3))]

    def net(mod, x, w1, w2):
        h = mod.relu(mod.conv2d(x, w1, padding=1))
        h = mod.conv2d(h, w2)
        return h.reshape(h.shape[0], -1) * 2

    compare(torch, lambda *t: net(F, *t), lambda *t: net(TF, *t), arrays, [True] * 3, device)
    x = nerve.tensor(arrays[0], device=device)
    y = F.conv2d(x, nerve.tensor(arrays[1], device=device))
    assert y.view(3, -1).shape == (3, 4 * 36)
    assert y.contiguous().is_contiguous()


def test_float32_stays_float32(device):
    x = nerve.randn(2, 3, 6, 6, device=device, requires_grad=True)
    conv = nn.Conv2d(3, 4, 3).to(device)
    y = conv(x)
    assert y.dtype == nerve.float32
    y.sum().backward()
    assert x.grad.dtype == conv.weight.grad.dtype == conv.bias.grad.dtype == nerve.float32


def test_conv2d_errors():
    x = nerve.randn(2, 3, 8, 8)
    with pytest.raises(RuntimeError, match=r"expected input\[2, 3, 8, 8\] to have 4 channels, but got 3 channels"):
        F.conv2d(x, nerve.randn(5, 4, 3, 3))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, nerve.randn(5, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        F.conv2d(x, nerve.randn(5, 3, 3, 3), padding="full")
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        F.conv2d(x, nerve.randn(5, 3, 9, 9))
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\) input to conv2d"):
        F.conv2d(nerve.randn(8, 8), nerve.randn(5, 3, 3, 3))
    with pytest.raises(RuntimeError, match="Input type"):
        F.conv2d(x.double(), nerve.randn(5, 3, 3, 3))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")


def _copy_params(src, dst):
    dst.load_state_dict({k: torch.tensor(to_np(v)) for k, v in src.state_dict().items()})


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3),
    dict(kernel_size=(3, 5), stride=2, padding=(1, 2), bias=False),
    dict(kernel_size=3, padding="same", dilation=2),
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=2, padding_mode="replicate", groups=2),
    dict(kernel_size=3, padding=1, padding_mode="circular"),
    dict(kernel_size=4, padding="same", padding_mode="reflect"),
])
def test_conv2d_module_matches_torch(kwargs, device):
    nerve.manual_seed(0)
    m = nn.Conv2d(4, 6, **kwargs).double().to(device)
    t = torch.nn.Conv2d(4, 6, **kwargs).double()
    _copy_params(m, t)
    assert repr(m) == repr(t)
    x = np.random.default_rng(8).standard_normal((2, 4, 9, 10))
    compare(torch, m, t, [x], [True], device)
    np.testing.assert_allclose(to_np(m.weight.grad), t.weight.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_conv1d_module_matches_torch(device):
    m = nn.Conv1d(3, 4, 3, stride=2, padding=1, padding_mode="reflect").double().to(device)
    t = torch.nn.Conv1d(3, 4, 3, stride=2, padding=1, padding_mode="reflect").double()
    _copy_params(m, t)
    assert repr(m) == repr(t)
    compare(torch, m, t, [np.random.default_rng(9).standard_normal((2, 3, 10))], [True], device)


def test_conv_default_init_is_torchs():
    # kaiming_uniform_(a=sqrt(5)) on the weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias
    nerve.manual_seed(1)
    m = nn.Conv2d(16, 32, 3, groups=2)
    fan_in = 8 * 9
    bound = 1 / math.sqrt(fan_in)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert m.weight.shape == (32, 8, 3, 3) and m.bias.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # uniform's standard deviation
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]


# ---------------------------------------------------------------- networks


class BasicBlock:
    """conv-bn-relu-conv-bn + identity, relu: the ResNet basic block, built in either library."""

    @staticmethod
    def make(lib, channels):
        class Block(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = lib.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                self.bn1 = lib.nn.BatchNorm2d(channels)
                self.conv2 = lib.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                self.bn2 = lib.nn.BatchNorm2d(channels)

            def forward(self, x):
                out = lib.nn.functional.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                return lib.nn.functional.relu(out + x)

        return Block()


class _Lib:
    def __init__(self, mod, nn_mod):
        self.nn = nn_mod


def test_resnet_basic_block_matches_torch(device):
    nb = BasicBlock.make(_Lib(nerve, nn), 4).double().to(device)
    tb = BasicBlock.make(_Lib(torch, torch.nn), 4).double()
    _copy_params(nb, tb)
    x = np.random.default_rng(10).standard_normal((3, 4, 6, 6))
    for train in (True, True, False):
        nb.train(train)
        tb.train(train)
        nb.zero_grad()
        tb.zero_grad()
        compare(torch, nb, tb, [x], [True], device)
        for (name, p), q in zip(nb.named_parameters(), tb.parameters()):
            np.testing.assert_allclose(to_np(p.grad), q.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)
    for (name, b), c in zip(nb.named_buffers(), tb.buffers()):
        np.testing.assert_allclose(to_np(b), c.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_resnet_basic_block_trains(device):
    nerve.manual_seed(0)
    rng = np.random.default_rng(11)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        BasicBlock.make(_Lib(nerve, nn), 8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2),
    ).to(device)
    # class 1: a bright square in the top-left quadrant; class 0: in the bottom-right one
    y = rng.integers(0, 2, 32)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32) * 0.3
    for i, c in enumerate(y):
        r = 0 if c else 4
        x[i, 0, r : r + 3, r : r + 3] += 2.0
    xt, yt = nerve.tensor(x, device=device), nerve.tensor(y, device=device)
    opt = nerve.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses
    net.eval()
    with nerve.no_grad():
        acc = (net(xt).argmax(1) == yt).float().mean().item()
    assert acc == 1.0


class MnistNet:
    """The pytorch/examples MNIST network, built in either library."""

    @staticmethod
    def make(lib_nn):
        class Net(lib_nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = lib_nn.Conv2d(1, 32, 3, 1)
                self.conv2 = lib_nn.Conv2d(32, 64, 3, 1)
                self.fc1 = lib_nn.Linear(9216, 128)
                self.fc2 = lib_nn.Linear(128, 10)

            def forward(self, x):
                f = lib_nn.functional
                x = f.relu(self.conv1(x))
                x = f.relu(self.conv2(x))
                x = f.max_pool2d(x, 2)
                x = x.flatten(1)
                x = f.relu(self.fc1(x))
                return f.log_softmax(self.fc2(x), dim=1)

        return Net()


def test_mnist_network_step_matches_torch(device):
    nerve.manual_seed(0)
    net = MnistNet.make(nn).to(device)
    ref = MnistNet.make(torch.nn)
    _copy_params(net, ref)
    rng = np.random.default_rng(12)
    x = rng.random((4, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    opt = nerve.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):
        loss = F.nll_loss(net(nerve.tensor(x, device=device)), nerve.tensor(y, device=device))
        tloss = TF.nll_loss(ref(torch.tensor(x)), torch.tensor(y))
        assert abs(loss.item() - tloss.item()) < 1e-4
        for o, lo in ((opt, loss), (topt, tloss)):
            o.zero_grad()
            lo.backward()
            o.step()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(to_np(p), q.detach().numpy(), rtol=1e-3, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("chunk_bytes", [1, 1 << 30])
def test_conv2d_without_grad_matches(chunk_bytes, device, monkeypatch):
    # under no_grad only one chunk of the im2col matrix is allocated and reused
    monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(13)
    x, w, b = (nerve.tensor(a, device=device) for a in (rng.standard_normal((5, 3, 8, 7)),
                                                        rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)))
    w.requires_grad_()
    with nerve.no_grad():
        y = F.conv2d(x, w, b, padding=1)
    ref = TF.conv2d(*(torch.tensor(to_np(t)) for t in (x, w, b)), padding=1)
    np.testing.assert_allclose(to_np(y), ref.numpy(), rtol=1e-10, atol=1e-12)


def test_conv_backward_twice_with_retain_graph(device):
    x = nerve.randn(2, 3, 6, 6, device=device, requires_grad=True)
    conv = nn.Conv2d(3, 4, 3).to(device)
    y = F.max_pool2d(F.relu(conv(x)), 2).sum()
    y.backward(retain_graph=True)
    g1 = to_np(conv.weight.grad).copy()
    y.backward()
    np.testing.assert_allclose(to_np(conv.weight.grad), 2 * g1, rtol=1e-5)


def test_conv2d_output_is_compact_channel_major():
    # the wide columns (outputs over the padded width) are dropped inside the op: the result is
    # an (N, C, H, W) view of compact (C, N, H, W) memory, so the ReLU and pooling after it run
    # over contiguous memory
    x = nerve.randn(4, 3, 10, 9)
    out = F.conv2d(x, nerve.randn(5, 3, 3, 3), nerve.randn(5), padding=1)
    assert out.shape == (4, 5, 10, 9)
    assert out.numpy().transpose(1, 0, 2, 3).flags.c_contiguous
    y = F.conv2d(out, nerve.randn(2, 5, 3, 3))  # and the next convolution takes it as it is
    assert y.numpy().transpose(1, 0, 2, 3).flags.c_contiguous


def _weight_grad_vs_torch(x, w, b):
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    TF.conv2d(tx, tw, tb, padding=1).square().sum().backward()
    return tw.grad.numpy(), tb.grad.numpy()


def test_im2col_buffer_reused_only_when_its_backward_is_done(monkeypatch):
    # on the CPU a finished im2col matrix goes to the next convolution of the same size
    monkeypatch.setattr(conv_mod, "_POOL_MIN_BYTES", 0)
    monkeypatch.setattr(conv_mod, "_pool", [])
    rng = np.random.default_rng(14)
    xs = [rng.standard_normal((3, 2, 6, 5)) for _ in range(3)]
    w0, b0 = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)

    def loss(x, w, b):
        return F.conv2d(nerve.tensor(x), w, b, padding=1).square().sum()

    col_size = (2 * 9 + 1) * 3 * 6 * 7  # (C*KH*KW + a row of ones for the bias) x N*OH*OWc

    def cols():  # pooled buffers of the im2col matrix's size (the rest is per-chunk scratch)
        return sum(entry[1].size == col_size for entry in conv_mod._pool)

    w, b = nerve.tensor(w0, requires_grad=True), nerve.tensor(b0, requires_grad=True)
    sizes = []
    for x in xs:  # training steps: one buffer serves them all
        w.grad = b.grad = None
        loss(x, w, b).backward()
        gw, gb = _weight_grad_vs_torch(x, w0, b0)
        np.testing.assert_allclose(to_np(w.grad), gw, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(to_np(b.grad), gb, rtol=1e-10, atol=1e-10)
        sizes.append(len(conv_mod._pool))
    assert cols() == 1
    assert sizes[0] == sizes[-1]  # the scratch buffers are reused too
    # two graphs alive before either backward (and one kept with retain_graph) need two buffers
    w.grad = b.grad = None
    l1, l2 = loss(xs[0], w, b), loss(xs[1], w, b)
    l1.backward(retain_graph=True)
    l3 = loss(xs[2], w, b)
    l2.backward()
    l1.backward()
    l3.backward()
    gws, gbs = zip(*(_weight_grad_vs_torch(x, w0, b0) for x in (xs[0], xs[1], xs[0], xs[2])))
    np.testing.assert_allclose(to_np(w.grad), sum(gws), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_np(b.grad), sum(gbs), rtol=1e-10, atol=1e-10)
    assert cols() == 3


@pytest.mark.parametrize("case", CONV2D[:8], ids=_ids(CONV2D[:8]))
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_conv2d_on_threads_matches_torch(case, workers, monkeypatch):
    # on the CPU the chunks run on as many threads as BLAS would use; force 1, 2 and 3 of them
    import nerve._threads as threads

    before = threads.get_num_threads()
    monkeypatch.setattr(conv_mod, "_workers", lambda xp: workers)
    monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", 1)
    _conv2d_vs_torch(case, "float64", "cpu")
    assert threads.get_num_threads() == before  # BLAS's own thread count is put back


def test_conv2d_threads_share_the_buffer_pool(monkeypatch):
    # scratch buffers come from the pool from several threads at once
    monkeypatch.setattr(conv_mod, "_workers", lambda xp: 2)
    monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(conv_mod, "_POOL_MIN_BYTES", 0)
    monkeypatch.setattr(conv_mod, "_pool", [])
    test_conv2d_without_grad_matches(1, "cpu", monkeypatch)
    _conv2d_vs_torch(CONV2D[1], "float64", "cpu")
    _conv2d_vs_torch(CONV2D[2], "float64", "cpu")
    assert all(entry[0]() is None or entry[0]().parents is None for entry in conv_mod._pool)  # all handed back


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_setting_overrides_blas_count(workers, monkeypatch):
    # _WORKERS fixes the CPU chunks' thread count whatever BLAS's own count (None follows BLAS)
    monkeypatch.setattr(conv_mod, "_WORKERS", workers)
    monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", 1)
    assert conv_mod._workers(np) == workers
    _conv2d_vs_torch(CONV2D[0], "float64", "cpu")
    monkeypatch.setattr(conv_mod, "_WORKERS", None)
    assert conv_mod._workers(np) == nerve.get_num_threads()
