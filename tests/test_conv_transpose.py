"""Transposed convolutions: conv_transpose1d/2d and ConvTranspose1d/2d against PyTorch, gradient
checks, output_size, initialisation, errors, and the adjoint relation with conv2d."""

import math

import numpy as np
import pytest
from _torch_compare import compare, to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# (N, C_in, H, W), C_out / groups, kernel, stride, padding, output_padding, dilation, groups, bias
CT2D = [
    ((2, 4, 5, 6), 3, 3, 1, 0, 0, 1, 1, True),
    ((2, 4, 5, 6), 3, 3, 2, 1, 1, 1, 2, True),
    ((1, 6, 4, 7), 4, (3, 2), (2, 3), (1, 0), (1, 2), (2, 1), 3, True),
    ((2, 2, 3, 3), 5, 4, 3, 2, 0, 2, 1, False),
    ((3, 3, 7, 5), 2, 1, 2, 0, 1, 1, 1, True),  # 1x1 kernel, stride 2: holes in the output
    ((2, 4, 6, 6), 1, 3, 1, 1, 0, 1, 4, True),  # depthwise
    ((1, 2, 5, 4), 3, 2, 2, 0, 0, 1, 1, True),  # the usual 2x upsampling
    ((2, 3, 4, 4), 2, 3, 1, 0, 2, 3, 1, True),  # output_padding below the dilation
    ((2, 2, 9, 8), 3, 5, 2, 3, 1, 1, 2, False),
]
CT1D = [
    ((2, 4, 7), 3, 3, 1, 0, 0, 1, 1, True),
    ((2, 4, 7), 2, 4, 3, 1, 2, 1, 2, True),
    ((1, 3, 5), 2, 3, 2, 2, 1, 2, 3, False),
    ((3, 2, 6), 5, 1, 2, 0, 1, 1, 1, True),
]


def _arrays(rng, shape, cog, k, groups, bias):
    kk = k if isinstance(k, tuple) else (k,) * (len(shape) - 2)
    arrays = [rng.standard_normal(shape), rng.standard_normal((shape[1], cog) + kk)]
    if bias:
        arrays.append(rng.standard_normal(cog * groups))
    return arrays


def _ids(cases):
    return [f"case{i}" for i in range(len(cases))]


@pytest.mark.parametrize("case", CT2D, ids=_ids(CT2D))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_transpose2d_matches_torch(case, dtype, device):
    shape, cog, k, s, p, op, d, g, bias = case
    arrays = _arrays(np.random.default_rng(1), shape, cog, k, g, bias)
    compare(torch, lambda *t: F.conv_transpose2d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            lambda *t: TF.conv_transpose2d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            arrays, [True] * len(arrays), device, dtype)


@pytest.mark.parametrize("case", CT1D, ids=_ids(CT1D))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_transpose1d_matches_torch(case, dtype, device):
    shape, cog, k, s, p, op, d, g, bias = case
    arrays = _arrays(np.random.default_rng(2), shape, cog, k, g, bias)
    compare(torch, lambda *t: F.conv_transpose1d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            lambda *t: TF.conv_transpose1d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            arrays, [True] * len(arrays), device, dtype)


@pytest.mark.parametrize("grads", [[False, True, True], [True, False, False], [False, False, True]])
def test_only_requested_gradients(grads, device):
    arrays = _arrays(np.random.default_rng(3), (2, 3, 4, 5), 2, 3, 1, True)
    compare(torch, lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1),
            lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1), arrays, grads, device)


def test_unbatched_inputs(device):
    rng = np.random.default_rng(4)
    compare(torch, lambda x, w: F.conv_transpose2d(x, w, stride=2), lambda x, w: TF.conv_transpose2d(x, w, stride=2),
            [rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 2, 3, 3))], [True, True], device)
    compare(torch, lambda x, w: F.conv_transpose1d(x, w, stride=2), lambda x, w: TF.conv_transpose1d(x, w, stride=2),
            [rng.standard_normal((3, 5)), rng.standard_normal((3, 2, 3))], [True, True], device)


@pytest.mark.parametrize("case", [CT2D[1], CT2D[2], CT2D[7]], ids=["groups", "asymmetric", "dilation"])
def test_conv_transpose2d_gradcheck(case, device):
    shape, cog, k, s, p, op, d, g, bias = case
    arrays = _arrays(np.random.default_rng(5), (1,) + shape[1:], cog, k, g, bias)
    ts = [nerve.tensor(a, device=device, requires_grad=True) for a in arrays]
    assert gradcheck(lambda *t: F.conv_transpose2d(*t[:2], *(t[2:] or [None]), s, p, op, g, d), ts)


def test_conv_transpose1d_gradcheck(device):
    arrays = _arrays(np.random.default_rng(6), (2, 4, 5), 2, 3, 2, True)
    ts = [nerve.tensor(a, device=device, requires_grad=True) for a in arrays]
    assert gradcheck(lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1, groups=2), ts)


def test_is_the_adjoint_of_conv2d(device):
    # <conv2d(x, w), y> == <x, conv_transpose2d(y, w)>: the transposed convolution is conv2d's
    # input gradient
    rng = np.random.default_rng(7)
    x = nerve.tensor(rng.standard_normal((2, 4, 9, 8)), device=device)
    w = nerve.tensor(rng.standard_normal((6, 2, 3, 3)), device=device)
    y = F.conv2d(x, w, stride=2, padding=1, dilation=1, groups=2)
    r = nerve.tensor(rng.standard_normal(tuple(y.shape)), device=device)
    back = F.conv_transpose2d(r, w, stride=2, padding=1, output_padding=(0, 1), groups=2)
    assert back.shape == x.shape
    np.testing.assert_allclose((y * r).sum().item(), (x * back).sum().item(), rtol=1e-10)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=(2, 4), stride=(2, 1), padding=(0, 1), groups=2, bias=False),
    dict(kernel_size=3, stride=2, dilation=2, output_padding=1, groups=2),
])
def test_conv_transpose2d_module_matches_torch(kwargs, device):
    m = nn.ConvTranspose2d(4, 6, **kwargs).double().to(device)
    t = torch.nn.ConvTranspose2d(4, 6, **kwargs).double()
    assert repr(m) == repr(t)
    assert tuple(m.weight.shape) == tuple(t.weight.shape)
    with torch.no_grad():
        for name, p in m.named_parameters():
            getattr(t, name).copy_(torch.tensor(to_np(p)))
    x = np.random.default_rng(8).standard_normal((2, 4, 5, 6))
    compare(torch, m, t, [x], [True], device)
    np.testing.assert_allclose(to_np(m.weight.grad), t.weight.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_conv_transpose1d_module_matches_torch(device):
    m = nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1).double().to(device)
    t = torch.nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1).double()
    assert repr(m) == repr(t)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(to_np(m.weight)))
        t.bias.copy_(torch.tensor(to_np(m.bias)))
    compare(torch, m, t, [np.random.default_rng(9).standard_normal((2, 3, 6))], [True], device)


@pytest.mark.parametrize("size", [(9, 9), (10, 10), (9, 10), [2, 4, 10, 9]])
def test_output_size_picks_output_padding(size, device):
    m = nn.ConvTranspose2d(2, 4, 3, stride=2, groups=2).to(device)
    t = torch.nn.ConvTranspose2d(2, 4, 3, stride=2, groups=2)
    x = nerve.randn(2, 2, 4, 4, device=device)
    assert tuple(m(x, output_size=size).shape) == tuple(t(torch.randn(2, 2, 4, 4), output_size=size).shape)


def test_output_size_errors():
    m = nn.ConvTranspose2d(2, 4, 3, stride=2)
    with pytest.raises(ValueError, match=r"requested an output size of \[12, 12\], but valid sizes range from "
                                         r"\[9, 9\] to \[10, 10\]"):
        m(nerve.randn(1, 2, 4, 4), output_size=(12, 12))
    with pytest.raises(ValueError, match=r"ConvTranspose1D: for 2D input, output_size must have 1 or 2 elements "
                                         r"\(got 4\)"):
        nn.ConvTranspose1d(2, 4, 3)(nerve.randn(2, 3), output_size=[1, 2, 3, 4])


def test_default_init_is_torchs():
    # kaiming_uniform_(a=sqrt(5)) on the (in, out/groups, kh, kw) weight: fan_in = out/groups * kh * kw
    nerve.manual_seed(1)
    m = nn.ConvTranspose2d(16, 32, 3, groups=2)
    assert m.weight.shape == (16, 16, 3, 3) and m.bias.shape == (32,)
    bound = 1 / math.sqrt(16 * 9)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.8 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert list(m.state_dict()) == list(torch.nn.ConvTranspose2d(16, 32, 3, groups=2).state_dict())


def test_float32_stays_float32(device):
    x = nerve.randn(2, 3, 4, 4, device=device)
    y = nn.ConvTranspose2d(3, 2, 3, stride=2).to(device)(x)
    assert y.dtype == nerve.float32 and tuple(y.shape) == (2, 2, 9, 9)


def test_upsampling_decoder_trains(device):
    # an encoder-decoder with a transposed convolution learns to reproduce its input
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
                          nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1)).to(device)
    opt = nerve.optim.Adam(model.parameters(), lr=0.02)
    x = nerve.rand(16, 1, 8, 8, device=device)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.mse_loss(model(x), x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("call,exc,msg", [
    (lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=2), RuntimeError,
     "output padding must be smaller than either stride or dilation, but got output_padding_height: 2 "
     "output_padding_width: 2 stride_height: 2 stride_width: 2 dilation_height: 1 dilation_width: 1"),
    (lambda x, w: F.conv_transpose2d(x[:, :1], w), RuntimeError,
     "Given transposed=1, weight of size [2, 3, 3, 3], expected input[1, 1, 3, 3] to have 2 channels, "
     "but got 1 channels instead"),
    (lambda x, w: F.conv_transpose2d(x, w, padding=3), RuntimeError,
     "Given input size per channel: (3 x 3). Calculated output size per channel: (-1 x -1). Output size is too small"),
    (lambda x, w: F.conv_transpose2d(x, w, nerve.randn(2)), RuntimeError,
     "expected bias to be 1-dimensional with 3 elements, but got bias of size [2] instead"),
    (lambda x, w: F.conv_transpose2d(x[0, 0], w), RuntimeError,
     "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: [3, 3]"),
    (lambda x, w: F.conv_transpose2d(x, w, stride=0), RuntimeError, "non-positive stride is not supported"),
    (lambda x, w: F.conv_transpose2d(x, w, padding=-1), RuntimeError, "negative padding is not supported"),
    (lambda x, w: F.conv_transpose2d(x, w, output_padding=-1), RuntimeError,
     "negative output_padding is not supported"),
    (lambda x, w: F.conv_transpose2d(x, w, dilation=0), RuntimeError,
     "dilation should be greater than zero, but got dilation_height: 0, dilation_width: 0"),
    (lambda x, w: F.conv_transpose2d(x, w, groups=2), RuntimeError, "Given groups=2, expected weight to be divisible"),
])
def test_errors_as_torch(call, exc, msg):
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 3, 3, 3))
    if "groups=2" in msg:
        x, w = rng.standard_normal((1, 3, 3, 3)), rng.standard_normal((3, 2, 3, 3))
    with pytest.raises(exc) as e:
        call(nerve.tensor(x), nerve.tensor(w))
    assert msg in str(e.value)
    with pytest.raises(exc) as e:
        _torch_call(call, x, w)
    assert msg in str(e.value)


def _torch_call(call, x, w):
    # the same lambda with torch's functional module and tensors
    g = dict(call.__globals__, F=TF, nerve=torch)
    fn = type(call)(call.__code__, g)
    return fn(torch.tensor(x), torch.tensor(w))


def test_conv_transpose1d_output_padding_error():
    msg = ("output padding must be smaller than either stride or dilation, but got output_padding_height: 0 "
           "output_padding_width: 2 stride_height: 1 stride_width: 2 dilation_height: 1 dilation_width: 1")
    for lib, fn in ((nerve, F), (torch, TF)):
        with pytest.raises(RuntimeError) as e:
            fn.conv_transpose1d(lib.randn(1, 2, 3), lib.randn(2, 3, 3), stride=2, output_padding=2)
        assert msg in str(e.value)


def test_module_errors():
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(2, 3, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.ConvTranspose1d(2, 3, 3, groups=2)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)


@pytest.mark.parametrize("case", CT2D[:4], ids=_ids(CT2D[:4]))
def test_conv_transpose2d_in_small_chunks(case, device, monkeypatch):
    # the CPU path works a few images at a time; force one image per chunk
    from nerve.nn.functional import conv as conv_mod

    monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", 1)
    shape, cog, k, s, p, op, d, g, bias = case
    arrays = _arrays(np.random.default_rng(11), shape, cog, k, g, bias)
    compare(torch, lambda *t: F.conv_transpose2d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            lambda *t: TF.conv_transpose2d(*t[:2], *(t[2:] or [None]), s, p, op, g, d),
            arrays, [True] * len(arrays), device)
