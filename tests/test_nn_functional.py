"""nerve.nn.functional against torch.nn.functional: values and gradients, float64 and float32,
plus float64 numeric gradient checks of the custom ops."""

import math
import warnings

import numpy as np
import pytest

import nerve
import nerve.nn.functional as NF
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-4, atol=2e-5)}


def _normal(*shape, scale=1.0):
    return lambda rng: rng.standard_normal(shape) * scale


def _int(high, *shape):
    return lambda rng: rng.integers(0, high, size=shape)


# name -> (function of (F, *tensors), [input makers], [which inputs need a gradient])
CASES = {
    "relu": (lambda F, x: F.relu(x), [_normal(4, 5)], [True]),
    "leaky_relu": (lambda F, x: F.leaky_relu(x, 0.2), [_normal(4, 5)], [True]),
    "gelu": (lambda F, x: F.gelu(x), [_normal(4, 5, scale=3)], [True]),
    "gelu_tanh": (lambda F, x: F.gelu(x, approximate="tanh"), [_normal(4, 5, scale=3)], [True]),
    "elu": (lambda F, x: F.elu(x, alpha=0.7), [_normal(4, 5)], [True]),
    "selu": (lambda F, x: F.selu(x), [_normal(4, 5)], [True]),
    "celu": (lambda F, x: F.celu(x, alpha=1.5), [_normal(4, 5)], [True]),
    "sigmoid": (lambda F, x: F.sigmoid(x), [_normal(4, 5, scale=4)], [True]),
    "tanh": (lambda F, x: F.tanh(x), [_normal(4, 5)], [True]),
    "softplus": (lambda F, x: F.softplus(x), [_normal(4, 5, scale=3)], [True]),
    "softplus_beta": (lambda F, x: F.softplus(x, beta=2.0, threshold=3.0), [_normal(4, 5, scale=3)], [True]),
    "silu": (lambda F, x: F.silu(x), [_normal(4, 5, scale=3)], [True]),
    "mish": (lambda F, x: F.mish(x), [_normal(4, 5, scale=3)], [True]),
    "hardtanh": (lambda F, x: F.hardtanh(x, -0.5, 0.8), [_normal(4, 5)], [True]),
    "relu6": (lambda F, x: F.relu6(x), [_normal(4, 5, scale=5)], [True]),
    "logsigmoid": (lambda F, x: F.logsigmoid(x), [_normal(4, 5, scale=5)], [True]),
    "softsign": (lambda F, x: F.softsign(x), [_normal(4, 5)], [True]),
    "hardswish": (lambda F, x: F.hardswish(x), [_normal(4, 5, scale=4)], [True]),
    "softmax_dim1": (lambda F, x: F.softmax(x, dim=1), [_normal(3, 6, 2, scale=3)], [True]),
    "softmax_dim_last": (lambda F, x: F.softmax(x, dim=-1), [_normal(3, 6, scale=3)], [True]),
    "softmin": (lambda F, x: F.softmin(x, dim=0), [_normal(3, 6)], [True]),
    "log_softmax": (lambda F, x: F.log_softmax(x, dim=1), [_normal(5, 7, scale=3)], [True]),
    "log_softmax_dim0": (lambda F, x: F.log_softmax(x, dim=0), [_normal(5, 7, 2)], [True]),
    "linear": (lambda F, x, w, b: F.linear(x, w, b), [_normal(3, 5), _normal(4, 5), _normal(4)], [True] * 3),
    "linear_nobias": (lambda F, x, w: F.linear(x, w), [_normal(3, 5), _normal(4, 5)], [True, True]),
    "linear_3d": (lambda F, x, w, b: F.linear(x, w, b), [_normal(2, 3, 5), _normal(4, 5), _normal(4)], [True] * 3),
    "linear_1d": (lambda F, x, w, b: F.linear(x, w, b), [_normal(5), _normal(4, 5), _normal(4)], [True] * 3),
    "linear_w_only": (lambda F, x, w, b: F.linear(x, w, b), [_normal(3, 5), _normal(4, 5), _normal(4)],
                      [False, True, False]),
    "bilinear": (lambda F, a, b, w, c: F.bilinear(a, b, w, c),
                 [_normal(3, 4), _normal(3, 5), _normal(2, 4, 5), _normal(2)], [True] * 4),
    "layer_norm": (lambda F, x, w, b: F.layer_norm(x, (4, 5), w, b),
                   [_normal(3, 4, 5, scale=2), _normal(4, 5), _normal(4, 5)], [True] * 3),
    "layer_norm_plain": (lambda F, x: F.layer_norm(x, [5], eps=1e-3), [_normal(3, 4, 5, scale=2)], [True]),
    "pad_constant": (lambda F, x: F.pad(x, (1, 2), value=0.5), [_normal(2, 3)], [True]),
    "pad_constant_2d": (lambda F, x: F.pad(x, (1, 1, 2, 0)), [_normal(2, 3, 4)], [True]),
    "pad_negative": (lambda F, x: F.pad(x, (-1, 2, 1, -2)), [_normal(2, 4, 5)], [True]),
    "pad_reflect": (lambda F, x: F.pad(x, (2, 1, 1, 2), mode="reflect"), [_normal(1, 2, 4, 5)], [True]),
    "pad_replicate": (lambda F, x: F.pad(x, (3, 1, 0, 2), mode="replicate"), [_normal(1, 2, 4, 5)], [True]),
    "pad_circular": (lambda F, x: F.pad(x, (2, 1, 1, 3), mode="circular"), [_normal(1, 2, 4, 5)], [True]),
    "embedding": (lambda F, i, w: F.embedding(i, w), [_int(6, 3, 4), _normal(6, 3)], [False, True]),
    "prelu": (lambda F, x, w: F.prelu(x, w), [_normal(4, 3, 2), _normal(3)], [True, True]),
    "prelu_single": (lambda F, x, w: F.prelu(x, w), [_normal(4, 3), _normal(1)], [True, True]),
    "normalize": (lambda F, x: F.normalize(x, dim=-1), [_normal(4, 3)], [True]),
    "normalize_p1": (lambda F, x: F.normalize(x, p=1.0, dim=0), [_normal(4, 3)], [True]),
    "cosine_similarity": (lambda F, a, b: F.cosine_similarity(a, b), [_normal(4, 3, 2), _normal(4, 3, 2)], [True, True]),
    "embedding_padding": (lambda F, i, w: F.embedding(i, w, padding_idx=2), [_int(6, 5, 4), _normal(6, 3)],
                          [False, True]),
}


def _run(lib, fn, arrays, needs, dtype):
    if lib == "torch":
        dt = getattr(torch, dtype)
        ts = [torch.tensor(a, dtype=dt if a.dtype.kind == "f" else torch.int64, requires_grad=n)
              for a, n in zip(arrays, needs)]
        out = fn(TF, *ts)
    else:
        ts = [nerve.tensor(a, dtype=dtype if a.dtype.kind == "f" else "int64", requires_grad=n)
              for a, n in zip(arrays, needs)]
        out = fn(NF, *ts)
    return out, ts


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name, dtype):
    fn, makers, needs = CASES[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    arrays = [m(rng) for m in makers]
    t_out, t_in = _run("torch", fn, arrays, needs, dtype)
    n_out, n_in = _run("nerve", fn, arrays, needs, dtype)
    assert n_out.dtype.name == dtype
    assert tuple(n_out.shape) == tuple(t_out.shape)
    np.testing.assert_allclose(n_out.detach().numpy(), t_out.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(g, dtype=t_out.dtype))
    n_out.backward(nerve.tensor(g, dtype=dtype))
    for i, (tt, nt) in enumerate(zip(t_in, n_in)):
        if needs[i]:
            assert nt.grad is not None, f"input {i} got no gradient"
            assert nt.grad.dtype.name == dtype
            np.testing.assert_allclose(nt.grad.numpy(), tt.grad.numpy(), **TOL[dtype], err_msg=f"input {i}")


# the custom ops, checked against finite differences in float64
GRADCHECKS = {
    "softmax": lambda x: NF.softmax(x, dim=1),
    "log_softmax": lambda x: NF.log_softmax(x, dim=-1),
    "gelu": lambda x: NF.gelu(x),
    "gelu_tanh": lambda x: NF.gelu(x, approximate="tanh"),
    "leaky_relu": lambda x: NF.leaky_relu(x, 0.1),
    "elu": lambda x: NF.elu(x),
    "softplus": lambda x: NF.softplus(x, beta=1.5, threshold=2.0),
    "silu": lambda x: NF.silu(x),
    "pad_reflect": lambda x: NF.pad(x, (2, 1), mode="reflect"),
    "pad_constant": lambda x: NF.pad(x, (-1, 2, 1, 0), value=3.0),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_gradcheck_unary(name):
    x = nerve.randn(3, 5, dtype=nerve.float64, requires_grad=True) * 2
    x = x.detach().requires_grad_()
    assert gradcheck(GRADCHECKS[name], [x])


def test_gradcheck_linear():
    x = nerve.randn(4, 3, dtype=nerve.float64, requires_grad=True)
    w = nerve.randn(2, 3, dtype=nerve.float64, requires_grad=True)
    b = nerve.randn(2, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(NF.linear, [x, w, b])
    x3 = nerve.randn(2, 2, 3, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(NF.linear, [x3, w, b])


def test_gradcheck_layer_norm():
    x = nerve.randn(3, 4, dtype=nerve.float64, requires_grad=True)
    w = nerve.randn(4, dtype=nerve.float64, requires_grad=True)
    b = nerve.randn(4, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: NF.layer_norm(x, (4,), w, b), [x, w, b])


def test_gradcheck_embedding():
    w = nerve.randn(5, 3, dtype=nerve.float64, requires_grad=True)
    idx = nerve.tensor([[0, 2, 2], [4, 0, 1]])
    assert gradcheck(lambda w: NF.embedding(idx, w), [w])


def test_linear_computes_only_needed_gradients():
    x = nerve.randn(4, 3)
    w = nerve.randn(2, 3, requires_grad=True)
    NF.linear(x, w).sum().backward()
    assert x.grad is None and w.grad is not None


def test_linear_errors():
    with pytest.raises(RuntimeError, match=r"shapes cannot be multiplied \(4x3 and 5x2\)"):
        NF.linear(nerve.randn(4, 3), nerve.randn(2, 5))
    with pytest.raises(RuntimeError, match="same dtype"):
        NF.linear(nerve.randn(4, 3, dtype=nerve.float64), nerve.randn(2, 3))


def test_float32_stays_float32():
    x = nerve.randn(8, 10)
    for out in (NF.softmax(x, 1), NF.log_softmax(x, 1), NF.gelu(x), NF.silu(x), NF.softplus(x), NF.elu(x),
                NF.leaky_relu(x), NF.layer_norm(x, (10,)), NF.dropout(x, 0.3)):
        assert out.dtype == nerve.float32


def test_log_softmax_is_stable():
    x = nerve.tensor([[1000.0, 0.0, -1000.0]])
    out = NF.log_softmax(x, dim=1).numpy()
    np.testing.assert_allclose(out, [[0.0, -1000.0, -2000.0]])
    s = NF.softmax(x, dim=1).numpy()
    np.testing.assert_allclose(s, [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("ndim,expected", [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_softmax_without_dim_warns_and_picks_torch_dim(ndim, expected):
    shape = (2, 3, 4, 5)[:ndim]
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = NF.softmax(nerve.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = TF.softmax(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)
    np.testing.assert_allclose(out.numpy().sum(axis=expected), 1.0)


def test_tensor_softmax_methods():
    x = nerve.randn(3, 4)
    np.testing.assert_allclose(x.softmax(dim=1).numpy(), NF.softmax(x, 1).numpy())
    np.testing.assert_allclose(x.log_softmax(-1).numpy(), NF.log_softmax(x, -1).numpy())
    assert x.softmax(1, dtype=nerve.float64).dtype == nerve.float64


def test_dropout():
    nerve.manual_seed(1)
    x = nerve.ones(200, 500, requires_grad=True)
    y = NF.dropout(x, 0.3)
    vals = np.unique(y.detach().numpy())
    np.testing.assert_allclose(vals, [0.0, 1 / 0.7], rtol=1e-6)
    frac = (y.detach().numpy() == 0).mean()
    assert abs(frac - 0.3) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() == 0, y.detach().numpy() == 0)
    assert NF.dropout(x, 0.3, training=False) is x
    assert (NF.dropout(x, 1.0).detach().numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        NF.dropout(x, 1.5)
    nerve.manual_seed(5)
    a = NF.dropout(nerve.ones(10, 10), 0.5).numpy()
    nerve.manual_seed(5)
    b = NF.dropout(nerve.ones(10, 10), 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_one_hot():
    t = nerve.tensor([0, 2, 1, 2])
    out = NF.one_hot(t)
    assert out.dtype == nerve.int64
    np.testing.assert_array_equal(out.numpy(), TF.one_hot(torch.tensor([0, 2, 1, 2])).numpy())
    np.testing.assert_array_equal(NF.one_hot(t, 5).numpy(), TF.one_hot(torch.tensor([0, 2, 1, 2]), 5).numpy())
    np.testing.assert_array_equal(NF.one_hot(nerve.tensor([[1], [0]]), 3).numpy(),
                                  TF.one_hot(torch.tensor([[1], [0]]), 3).numpy())
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        NF.one_hot(t, 2)
    with pytest.raises(RuntimeError, match="non-negative"):
        NF.one_hot(nerve.tensor([-1, 0]))


def test_pad_errors():
    with pytest.raises(RuntimeError, match="divisible by 2"):
        NF.pad(nerve.randn(2, 3), (1,))
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        NF.pad(nerve.randn(1, 2, 3), (3, 0), mode="reflect")


def test_embedding_max_norm_and_errors():
    w = np.random.default_rng(0).standard_normal((6, 4)) * 3
    idx = [[0, 1], [5, 1]]
    nw, tw = nerve.tensor(w), torch.tensor(w)
    n_out = NF.embedding(nerve.tensor(idx), nw, max_norm=1.0)
    t_out = TF.embedding(torch.tensor(idx), tw, max_norm=1.0)
    np.testing.assert_allclose(n_out.numpy(), t_out.numpy(), rtol=1e-6)
    np.testing.assert_allclose(nw.numpy(), tw.numpy(), rtol=1e-6)  # renormalised in place, as PyTorch
    with pytest.raises(IndexError, match="index 6 is out of range"):
        NF.embedding(nerve.tensor([6]), nw)


def test_gelu_exact_erf():
    x = np.linspace(-8, 8, 2001)
    out = NF.gelu(nerve.tensor(x)).numpy()
    ref = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_on_every_device(name, device):
    """Each op on each device (CPU, and the GPU when there is one) gives the CPU's values and gradients."""
    fn, makers, needs = CASES[name]
    rng = np.random.default_rng(3)
    arrays = [m(rng) for m in makers]
    results = []
    for dev in ("cpu", device):
        ts = [nerve.tensor(a, dtype="float64" if a.dtype.kind == "f" else "int64", device=dev, requires_grad=n)
              for a, n in zip(arrays, needs)]
        out = fn(NF, *ts)
        out.backward(nerve.ones(*out.shape, dtype=out.dtype, device=dev))
        assert out.device.type == dev
        results.append([out.detach().cpu().numpy()] + [t.grad.cpu().numpy() for t, n in zip(ts, needs) if n])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_dropout_and_one_hot_on_device(device):
    x = nerve.ones(50, 40, device=device, requires_grad=True)
    y = NF.dropout(x, 0.25)
    y.sum().backward()
    assert y.device.type == device and x.grad.device.type == device
    assert 0.15 < float((y == 0).float().mean()) < 0.35
    oh = NF.one_hot(nerve.tensor([2, 0], device=device), 3)
    np.testing.assert_array_equal(oh.cpu().numpy(), [[0, 0, 1], [1, 0, 0]])


EXTREME = [
    [[1000.0, 0.0, -1000.0], [-3.0, 2.0, 1.0]],  # rows far apart: the shift must be per row
    [[0.0, -200.0, -150.0], [-190.0, -180.0, -170.0]],
    [[0.0, float("-inf"), 1.0], [2.0, 3.0, 4.0]],  # masked logits
    [[1e-3, 2e-3, 3e-3], [5.0, 5.0, 5.0]],
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(EXTREME)))
def test_softmax_family_on_extreme_logits(case, dtype):
    x = np.array(EXTREME[case])
    for dim in (0, 1):
        for name in ("softmax", "log_softmax"):
            nx = nerve.tensor(x, dtype=dtype, requires_grad=True)
            tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
            n_out, t_out = getattr(NF, name)(nx, dim=dim), getattr(TF, name)(tx, dim=dim)
            np.testing.assert_allclose(n_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-30)
            g = np.arange(6.0).reshape(2, 3)
            n_out.backward(nerve.tensor(g, dtype=dtype))
            t_out.backward(torch.tensor(g, dtype=getattr(torch, dtype)))
            np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    if np.isfinite(x).all():
        t = np.array([2, 0])
        nx = nerve.tensor(x, dtype=dtype, requires_grad=True)
        tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        n_loss, t_loss = NF.cross_entropy(nx, nerve.tensor(t)), TF.cross_entropy(tx, torch.tensor(t))
        np.testing.assert_allclose(n_loss.item(), t_loss.item(), rtol=1e-5)
        n_loss.backward()
        t_loss.backward()
        np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-7)
