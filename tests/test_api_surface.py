"""PyTorch's names that nerve gained with the API-surface work, each against torch: tensor methods
(absolute, is_cpu, the in-place comparisons, fmax/fmin, mv/inner/vdot, mode, the in-place samplers,
register_post_accumulate_grad_hook, ...), functions in the ``nerve`` namespace (asarray, result_type,
isin, set_printoptions, set_default_device, combinations, pdist, vander, unravel_index, ...) and the
``torch.X`` aliases of ``nn.functional``: values, gradients (float64 numeric checks where cheap),
distributions of the samplers, and PyTorch's errors."""

import subprocess
import sys

import numpy as np
import pytest
from _torch_compare import compare, to_np

import nerve
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def _rand(*shape):
    return RNG.standard_normal(shape)


def _nt(a, device="cpu", requires_grad=False):
    return nerve.tensor(a, device=device, requires_grad=requires_grad)


def _same(n, t):
    """A nerve tensor equals a torch tensor: values (NaN where NaN), dtype name and shape."""
    assert tuple(n.shape) == tuple(t.shape), (n.shape, t.shape)
    assert n.dtype.name == str(t.dtype).removeprefix("torch."), (n.dtype, t.dtype)
    np.testing.assert_allclose(to_np(n).astype(np.float64), t.numpy().astype(np.float64), rtol=1e-6, atol=1e-7)


def _raises_like(fn_nerve, fn_torch, prefix=False):
    """Both raise the same exception type with the same message (its first line; with ``prefix``,
    nerve's may leave out the end of torch's)."""
    with pytest.raises(Exception) as theirs:
        fn_torch()
    with pytest.raises(type(theirs.value)) as ours:
        fn_nerve()
    ours, theirs = str(ours.value).split("\n")[0], str(theirs.value).split("\n")[0].replace("torch.", "nerve.")
    assert theirs.startswith(ours) if prefix else ours == theirs, (ours, theirs)


# ---------------------------------------------------------------- attributes and small conveniences


def test_attributes_and_conversions():
    x = nerve.tensor([[-1.5, 2.0], [3.0, -4.0]])
    t = torch.tensor([[-1.5, 2.0], [3.0, -4.0]])
    _same(x.absolute(), t.absolute())
    _same(nerve.absolute(x), torch.absolute(t))
    y = x.clone()
    assert y.absolute_() is y
    _same(y, t.clone().absolute_())
    assert x.ndimension() == t.ndimension() == 2
    assert x.is_cpu is True and x.get_device() == t.get_device() == -1
    _same(x.short(), t.short())
    _same(x.char(), t.char())
    for name in ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"):
        n, tt = nerve.ones(1, dtype=getattr(nerve, name)), torch.ones(1, dtype=getattr(torch, name))
        assert n.is_signed() == tt.is_signed(), name
        assert nerve.is_signed(n) == torch.is_signed(tt)
    assert x.is_complex() is False and nerve.is_complex(x) is False
    assert x.is_inference() is False
    assert x.is_same_size(nerve.zeros(2, 2)) and not x.is_same_size(nerve.zeros(4))
    assert nerve.is_same_size(x, nerve.zeros(2, 2))
    for v in (0.0, 2.0, float("nan")):
        assert nerve.tensor([v]).is_nonzero() == torch.tensor([v]).is_nonzero()
    assert nerve.is_nonzero(nerve.tensor(3))
    _raises_like(lambda: nerve.tensor([]).is_nonzero(), lambda: torch.tensor([]).is_nonzero())
    _raises_like(lambda: nerve.tensor([1, 2]).is_nonzero(), lambda: torch.tensor([1, 2]).is_nonzero())


def test_get_device_on_the_gpu(device):
    x = nerve.ones(2, device=device)
    assert x.get_device() == (-1 if device == "cpu" else 0)
    assert x.is_cpu == (device == "cpu")


def test_retains_grad():
    a = nerve.ones(2, requires_grad=True)
    b = a * 2
    assert (a.retains_grad, b.retains_grad) == (False, False)
    b.retain_grad()
    a.retain_grad()  # a leaf keeps its gradient anyway: retains_grad stays False, as in PyTorch
    assert (a.retains_grad, b.retains_grad) == (False, True)
    b.sum().backward()
    np.testing.assert_array_equal(to_np(b.grad), [1.0, 1.0])


# ---------------------------------------------------------------- comparisons and in-place arithmetic


@pytest.mark.parametrize("name", ["greater", "greater_equal", "less", "less_equal", "not_equal"])
def test_comparison_names(name):
    a, b = np.array([1.0, 2.0, 3.0, np.nan]), np.array([2.0, 2.0, 1.0, np.nan])
    _same(getattr(_nt(a), name)(_nt(b)), getattr(torch.tensor(a), name)(torch.tensor(b)))
    _same(getattr(nerve, name)(_nt(a), 2.0), getattr(torch, name)(torch.tensor(a), 2.0))


@pytest.mark.parametrize("name", ["eq_", "ne_", "lt_", "le_", "gt_", "ge_", "greater_", "greater_equal_", "less_",
                                  "less_equal_", "not_equal_"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_inplace_comparisons(device, name, dtype):
    a = np.array([0, 1, 2, 3]).astype(dtype)
    n, t = _nt(a, device), torch.tensor(a)
    assert getattr(n, name)(1) is n
    getattr(t, name)(1)
    _same(n.cpu(), t)
    n, t = _nt(a, device), torch.tensor(a)
    getattr(n, name)(_nt(a[::-1].copy(), device))
    getattr(t, name)(torch.tensor(a[::-1].copy()))
    _same(n.cpu(), t)


def test_inplace_comparison_graph_and_errors():
    # a non-leaf stays in the graph with a zero gradient; a leaf that requires grad cannot change
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y.ge_(2)
    assert y.requires_grad and y.grad_fn is not None
    np.testing.assert_array_equal(to_np(y), [0.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), [0.0, 0.0, 0.0])
    _raises_like(lambda: nerve.tensor([1.0], requires_grad=True).ge_(2),
                 lambda: torch.tensor([1.0], requires_grad=True).ge_(2))
    _raises_like(lambda: nerve.tensor([1.0, 2.0]).gt_(nerve.ones(2, 2)),
                 lambda: torch.tensor([1.0, 2.0]).gt_(torch.ones(2, 2)))


def test_inplace_arithmetic_names():
    a, b = np.array([5.0, -6.0, 7.5]), np.array([2.0, 4.0, -3.0])

    def both(fn):
        n, t = _nt(a), torch.tensor(a)
        assert fn(n) is n
        fn(t)
        _same(n, t)

    both(lambda x: x.multiply_(2.5))
    both(lambda x: x.subtract_(x.new_tensor(b), alpha=2))
    both(lambda x: x.divide_(x.new_tensor(b)))
    both(lambda x: x.divide_(x.new_tensor(b), rounding_mode="floor"))
    both(lambda x: x.true_divide_(3))
    both(lambda x: x.floor_divide_(x.new_tensor(b)))
    both(lambda x: x.remainder_(x.new_tensor(b)))
    both(lambda x: x.negative_())
    both(lambda x: x.cumsum_(0))
    both(lambda x: x.fix_())
    n, t = nerve.tensor([5, 6]), torch.tensor([5, 6])
    n.divide_(2, rounding_mode="floor")
    t.divide_(2, rounding_mode="floor")
    _same(n, t)
    n, t = nerve.tensor([1, 2, 3], dtype=nerve.int32), torch.tensor([1, 2, 3], dtype=torch.int32)
    _same(n.cumsum_(0), t.cumsum_(0))  # stays int32
    n, t = nerve.tensor([7, -7]), torch.tensor([7, -7])
    _same(n.remainder_(3), t.remainder_(3))
    _raises_like(lambda: nerve.tensor([5, 6]).floor_divide_(2.5), lambda: torch.tensor([5, 6]).floor_divide_(2.5))
    _raises_like(lambda: nerve.tensor([5, 6]).true_divide_(2), lambda: torch.tensor([5, 6]).true_divide_(2))
    _raises_like(lambda: nerve.tensor([True]).cumsum_(0), lambda: torch.tensor([True]).cumsum_(0))


def test_cumsum_inplace_gradient():
    a = _rand(3, 4)
    compare(torch, lambda x: (x * 1).cumsum_(1), lambda x: (x * 1).cumsum_(1), [a], [True])


# ---------------------------------------------------------------- elementwise


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_values_and_gradients(device, name):
    nan = np.nan
    a = np.array([1.0, 2.0, nan, 3.0, nan, 5.0, -1.0])
    b = np.array([1.0, nan, 2.0, 4.0, nan, 0.0, -1.0])
    compare(torch, lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b], [True, True], device)
    compare(torch, lambda x, y: getattr(nerve, name)(x, y), lambda x, y: getattr(torch, name)(x, y),
            [_rand(3, 4), _rand(4)], [True, True], device)  # broadcasting
    x, y = _nt(_rand(3, 4) + 3, device, True), _nt(_rand(3, 4), device, True)
    assert gradcheck(lambda p, q: getattr(p, name)(q), [x, y])
    # dtypes promote: int with float
    _same(getattr(nerve.tensor([1, 5]), name)(nerve.tensor([2.5, 2.5])),
          getattr(torch.tensor([1, 5]), name)(torch.tensor([2.5, 2.5])))
    _same(getattr(nerve.tensor([1, 5]), name)(nerve.tensor([3, 3])),
          getattr(torch.tensor([1, 5]), name)(torch.tensor([3, 3])))


def test_isposinf_isneginf_isreal():
    a = np.array([1.0, np.inf, -np.inf, np.nan, 0.0])
    for name in ("isposinf", "isneginf", "isreal"):
        _same(getattr(_nt(a), name)(), getattr(torch.tensor(a), name)())
        _same(getattr(nerve, name)(nerve.tensor([1, -2])), getattr(torch, name)(torch.tensor([1, -2])))


def test_logaddexp2():
    a, b = _rand(3, 4) * 10, _rand(4) * 10
    compare(torch, lambda x, y: x.logaddexp2(y), lambda x, y: x.logaddexp2(y), [a, b], [True, True])
    compare(torch, lambda x, y: nerve.logaddexp2(x, y), lambda x, y: torch.logaddexp2(x, y), [a, b], [True, True],
            dtype="float32")
    _same(nerve.tensor([1000.0, -1000.0]).logaddexp2(nerve.tensor([1000.0, -1000.0])),
          torch.tensor([1000.0, -1000.0]).logaddexp2(torch.tensor([1000.0, -1000.0])))
    assert gradcheck(lambda x, y: x.logaddexp2(y), [_nt(_rand(5), requires_grad=True), _nt(_rand(5), requires_grad=True)])


def test_diagflat_and_fix():
    a = _rand(2, 3)
    for offset in (0, 2, -1):
        compare(torch, lambda x: x.diagflat(offset), lambda x: x.diagflat(offset), [a], [True])
        compare(torch, lambda x: nerve.diagflat(x, offset), lambda x: torch.diagflat(x, offset), [a], [True])
    _same(nerve.diagflat(nerve.tensor(3.0)), torch.diagflat(torch.tensor(3.0)))
    f = np.array([-1.5, -0.5, 0.5, 2.7])
    _same(_nt(f).fix(), torch.tensor(f).fix())
    _same(nerve.fix(nerve.tensor([1, -2])), torch.fix(torch.tensor([1, -2])))


def test_hardshrink_and_prelu_methods():
    a = np.array([-0.5, 0.5, 0.6, -0.7, 0.0, 2.0])
    compare(torch, lambda x: x.hardshrink(), lambda x: x.hardshrink(), [a], [True])
    compare(torch, lambda x: x.hardshrink(1.0), lambda x: x.hardshrink(1.0), [a * 2], [True])
    compare(torch, lambda x: nerve.nn.functional.hardshrink(x, 0.3), lambda x: torch.nn.functional.hardshrink(x, 0.3),
            [_rand(3, 4)], [True], dtype="float32")
    compare(torch, lambda x: nerve.hardshrink(x), lambda x: torch.hardshrink(x), [_rand(5)], [True])
    _raises_like(lambda: nerve.tensor([1, 2]).hardshrink(), lambda: torch.tensor([1, 2]).hardshrink())
    compare(torch, lambda x, w: x.prelu(w), lambda x, w: x.prelu(w), [_rand(2, 3, 4), np.array([0.1, 0.2, 0.3])],
            [True, True])


# ---------------------------------------------------------------- products


def test_mv_inner_vdot_values_and_gradients():
    m, v, w = _rand(3, 4), _rand(4), _rand(4)
    compare(torch, lambda a, b: a.mv(b), lambda a, b: a.mv(b), [m, v], [True, True])
    compare(torch, lambda a, b: nerve.mv(a, b), lambda a, b: torch.mv(a, b), [m, v], [True, True], dtype="float32")
    compare(torch, lambda a, b: a.vdot(b), lambda a, b: a.vdot(b), [v, w], [True, True])
    compare(torch, lambda a, b: nerve.vdot(a, b), lambda a, b: torch.vdot(a, b), [v, w], [True, True])
    for x, y in ((v, w), (m, _rand(2, 4)), (_rand(2, 3, 4), v), (np.array(1.5), m), (m, np.array(2.0))):
        compare(torch, lambda a, b: a.inner(b), lambda a, b: a.inner(b), [x, y], [True, True])
        compare(torch, lambda a, b: nerve.inner(a, b), lambda a, b: torch.inner(a, b), [x, y], [True, True])
    assert gradcheck(lambda a, b: a.inner(b), [_nt(m, requires_grad=True), _nt(_rand(2, 4), requires_grad=True)])
    _same(nerve.tensor([1, 2, 3]).vdot(nerve.tensor([4, 5, 6])), torch.tensor([1, 2, 3]).vdot(torch.tensor([4, 5, 6])))


def test_mv_inner_vdot_errors():
    for fn in (lambda L: L.mv(L.ones(2, 3), L.ones(4)), lambda L: L.mv(L.ones(3), L.ones(3)),
               lambda L: L.mv(L.ones(2, 3), L.ones(3, 1)),
               lambda L: L.mv(L.ones(2, 3), L.ones(3, dtype=L.float64)),
               lambda L: L.mv(L.ones(2, 3, dtype=L.float64), L.ones(3)),
               lambda L: L.vdot(L.ones(2, 3), L.ones(3)), lambda L: L.vdot(L.ones(3), L.ones(4)),
               lambda L: L.vdot(L.ones(3), L.ones(3, dtype=L.float64)),
               lambda L: L.inner(L.ones(2, 3), L.ones(4)),
               lambda L: L.inner(L.ones(3, dtype=L.int64), L.ones(3))):
        _raises_like(lambda: fn(nerve), lambda: fn(torch))


# ---------------------------------------------------------------- mode


@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_mode_against_torch(device, dtype):
    data = RNG.integers(0, 4, size=(5, 7, 6)).astype(dtype)
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            n = _nt(data, device).mode(dim, keepdim)
            t = torch.tensor(data).mode(dim, keepdim)
            _same(n.values.cpu(), t.values)
            _same(n.indices.cpu(), t.indices)
    n, t = nerve.mode(_nt(data, device), 1), torch.mode(torch.tensor(data), 1)
    _same(n[0].cpu(), t[0])
    assert n.values is n[0] and n.indices is n[1]


def test_mode_small_cases_gradient_and_errors():
    for data in ([3, 1, 1, 3, 2], [2, 2, 1, 1, 3], [5], [True, False, True]):
        n, t = nerve.tensor(data).mode(), torch.tensor(data).mode()
        _same(n.values, t.values)
        _same(n.indices, t.indices)
    n, t = nerve.tensor(5.0).mode(), torch.tensor(5.0).mode()
    _same(n.values, t.values)
    _same(n.indices, t.indices)
    n, t = nerve.tensor([[1.0, 2.0], [3.0, 4.0]]).mode(axis=0), torch.tensor([[1.0, 2.0], [3.0, 4.0]]).mode(0)
    _same(n.values, t.values)
    a = RNG.integers(0, 3, size=(4, 5)).astype(np.float64)
    compare(torch, lambda x: x.mode(1).values, lambda x: x.mode(1).values, [a], [True])
    _raises_like(lambda: nerve.ones(0).mode(), lambda: torch.ones(0).mode())
    _raises_like(lambda: nerve.ones(2, 0).mode(1), lambda: torch.ones(2, 0).mode(1))


# ---------------------------------------------------------------- sampling


def _draw(method, *args, dtype=nerve.float64, n=100_000, seed=0, device="cpu", **kwargs):
    nerve.manual_seed(seed)
    x = nerve.empty(n, dtype=dtype, device=device)
    assert getattr(x, method)(*args, **kwargs) is x
    return to_np(x).astype(np.float64)


def _close(value, expected, tol):
    assert abs(value - expected) <= tol, (value, expected)


def test_exponential_log_normal_geometric_cauchy_distributions(device):
    lam = 2.5
    x = _draw("exponential_", lam, device=device)
    assert x.min() >= 0
    _close(x.mean(), 1 / lam, 0.01 * 4 / lam)
    _close(x.var(), 1 / lam**2, 0.03 / lam**2)
    mu, sigma = 0.3, 0.4
    x = _draw("log_normal_", mu, sigma, device=device)
    mean = np.exp(mu + sigma**2 / 2)
    _close(x.mean(), mean, 0.01 * mean)
    _close(x.var(), (np.exp(sigma**2) - 1) * np.exp(2 * mu + sigma**2), 0.04 * mean**2 * (np.exp(sigma**2) - 1))
    p = 0.3
    x = _draw("geometric_", p, device=device)
    assert x.min() == 1 and np.all(x == np.round(x))
    _close(x.mean(), 1 / p, 0.02 / p)
    _close(x.var(), (1 - p) / p**2, 0.05 * (1 - p) / p**2)
    _close((x == 1).mean(), p, 0.01)
    x = _draw("cauchy_", 1.5, 2.0, device=device)  # no mean: its median and quartiles are median +- sigma
    q1, q2, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    _close(q2, 1.5, 0.04)
    _close(q1, -0.5, 0.06)
    _close(q3, 3.5, 0.06)
    g = _draw("geometric_", 0.5, dtype=nerve.int64, n=1000, device=device)
    assert g.min() >= 1


def test_random_inplace(device):
    x = _draw("random_", 10, device=device)
    assert set(np.unique(x)) == set(range(10))
    _close(x.mean(), 4.5, 0.05)
    _close(x.var(), (10**2 - 1) / 12, 0.2)
    x = _draw("random_", -3, 4, dtype=nerve.int32, device=device)
    assert x.min() == -3 and x.max() == 3
    x = _draw("random_", device=device, dtype=nerve.float32)  # [0, 2**24]: every value exact
    assert x.min() >= 0 and x.max() <= 2**24 and x.max() > 2**23
    x = _draw("random_", dtype=nerve.uint8, device=device)
    assert x.min() == 0 and x.max() == 255
    x = _draw("random_", dtype=nerve.bool, n=1000, device=device)
    assert set(np.unique(x)) == {0.0, 1.0}
    x = _draw("random_", dtype=nerve.int64, n=1000, device=device)
    assert x.min() >= 0 and x.max() > 2**60
    x = _draw("random_", **{"from": 5, "to": 7}, n=1000, device=device)
    assert set(np.unique(x)) == {5.0, 6.0}
    x = _draw("random_", 100, to=102, n=1000, device=device)
    assert set(np.unique(x)) == {100.0, 101.0}
    x = _draw("random_", **{"from": 250}, dtype=nerve.uint8, n=1000, device=device)
    assert x.min() == 250 and x.max() == 255


def test_samplers_reproducible_under_manual_seed_and_generator():
    for method, args in (("random_", (0, 1000)), ("exponential_", ()), ("log_normal_", ()), ("geometric_", (0.2,)),
                         ("cauchy_", ()), ("uniform_", ())):
        a = _draw(method, *args, n=50)
        b = _draw(method, *args, n=50)
        c = _draw(method, *args, n=50, seed=1)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), method
        g1, g2 = nerve.Generator().manual_seed(7), nerve.Generator().manual_seed(7)
        x, y = nerve.empty(20), nerve.empty(20)
        getattr(x, method)(*args, generator=g1)
        getattr(y, method)(*args, generator=g2)
        np.testing.assert_array_equal(to_np(x), to_np(y))


def test_sampler_errors():
    cases = [
        lambda L: L.empty(3).random_(5, 3), lambda L: L.empty(3, dtype=L.uint8).random_(-1, 3),
        lambda L: L.empty(3, dtype=L.uint8).random_(0, 300), lambda L: L.empty(3, dtype=L.int16).random_(-1, 2**16),
        lambda L: L.empty(3, dtype=L.int8).random_(-(2**40), 2), lambda L: L.empty(3, dtype=L.bool).random_(0, 3),
        lambda L: L.empty(3, dtype=L.int64).random_(0),
        lambda L: L.empty(3, requires_grad=True).random_(), lambda L: L.empty(3, requires_grad=True).exponential_(),
        lambda L: L.empty(3).exponential_(-1.5), lambda L: L.empty(3).exponential_(0),
        lambda L: L.empty(3, dtype=L.int64).exponential_(),
        lambda L: L.empty(3).geometric_(0), lambda L: L.empty(3).geometric_(1.5), lambda L: L.empty(3).geometric_(1),
        lambda L: L.empty(3).log_normal_(0, -1), lambda L: L.empty(3, dtype=L.int64).log_normal_(),
        lambda L: L.empty(3).cauchy_(0, -1), lambda L: L.empty(3).cauchy_(0, 0),
        lambda L: L.empty(3, dtype=L.int64).cauchy_(), lambda L: L.empty(3, dtype=L.int32).cauchy_(),
    ]
    for fn in cases:
        _raises_like(lambda: fn(nerve), lambda: fn(torch))
    with pytest.raises(TypeError):
        nerve.empty(3).random_(0.5, 3)


def test_sampler_on_a_tensor_in_the_graph_keeps_it_with_a_zero_gradient():
    x = nerve.ones(4, requires_grad=True)
    y = x * 2
    y.exponential_()
    assert y.grad_fn is not None and to_np(y).min() > 0
    y.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), np.zeros(4))


def test_bernoulli_method_and_function():
    p = np.array([0.0, 1.0, 0.25, 0.75])
    nerve.manual_seed(3)
    probs = nerve.tensor(np.tile(p, 25_000))
    s = to_np(probs.bernoulli()).reshape(-1, 4)
    assert set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_allclose(s.mean(0), p, atol=0.01)
    np.testing.assert_allclose(s.var(0), p * (1 - p), atol=0.01)
    nerve.manual_seed(3)
    np.testing.assert_array_equal(to_np(nerve.bernoulli(probs)).reshape(-1, 4), s)  # the same stream
    x = nerve.zeros(100_000, dtype=nerve.int64).bernoulli(0.3)
    assert x.dtype is nerve.int64
    _close(to_np(x).mean(), 0.3, 0.01)
    _same(nerve.zeros(3).bernoulli(1.0), torch.zeros(3).bernoulli(1.0))
    _same(nerve.bernoulli(nerve.zeros(3), 1.0), torch.bernoulli(torch.zeros(3), 1.0))
    np.testing.assert_array_equal(to_np(nerve.zeros(3).bernoulli(nerve.tensor([1.0, 0.0, 1.0]))), [1, 0, 1])
    g1, g2 = nerve.Generator().manual_seed(1), nerve.Generator().manual_seed(1)
    np.testing.assert_array_equal(to_np(probs.bernoulli(generator=g1)), to_np(probs.bernoulli(generator=g2)))
    for fn in (lambda L: L.tensor([0.0, 2.0]).bernoulli(), lambda L: L.tensor([0, 1]).bernoulli(),
               lambda L: L.zeros(3).bernoulli(2.0)):
        _raises_like(lambda: fn(nerve), lambda: fn(torch), prefix=True)


def test_multinomial_method():
    nerve.manual_seed(0)
    w = nerve.tensor([1.0, 2.0, 0.0, 5.0])
    s = to_np(w.multinomial(100_000, replacement=True))
    np.testing.assert_allclose(np.bincount(s, minlength=4) / s.size, [1 / 8, 2 / 8, 0, 5 / 8], atol=0.01)
    rows = nerve.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]).multinomial(2)
    assert rows.shape == (2, 2) and rows.dtype is nerve.int64
    assert sorted(to_np(rows[0]).tolist()) == [1, 2]
    nerve.manual_seed(5)
    a = to_np(w.multinomial(10, True))
    nerve.manual_seed(5)
    np.testing.assert_array_equal(a, to_np(nerve.multinomial(w, 10, True)))
    for fn in (lambda L: L.tensor([0.0, 1.0]).multinomial(3), lambda L: L.tensor([-1.0, 1.0]).multinomial(1),
               lambda L: L.tensor([0.0, 0.0]).multinomial(1), lambda L: L.tensor([1, 2]).multinomial(1),
               lambda L: L.ones(2, 2, 2).multinomial(1), lambda L: L.ones(2).multinomial(0)):
        _raises_like(lambda: fn(nerve), lambda: fn(torch))
    # without replacement, categories of weight 0 come last, in order (torch: tensor([1, 0, 2]))
    np.testing.assert_array_equal(to_np(nerve.tensor([0.0, 1.0, 0.0]).multinomial(3)), [1, 0, 2])
    # and the first draw follows the weights
    nerve.manual_seed(1)
    first = to_np(nerve.tensor([[1.0, 3.0]]).expand(20_000, 2).multinomial(1))
    _close(first.mean(), 0.75, 0.015)


# ---------------------------------------------------------------- hooks


def test_register_post_accumulate_grad_hook():
    w = nerve.ones(3, requires_grad=True)
    events = []
    w.register_hook(lambda g: events.append(("pre", to_np(g).tolist())) or g * 2)
    handle = w.register_post_accumulate_grad_hook(lambda t: events.append(("post", to_np(t.grad).tolist())))
    (w * 3).sum().backward()
    (w * 1).sum().backward()
    assert events == [("pre", [3.0] * 3), ("post", [6.0] * 3), ("pre", [1.0] * 3), ("post", [8.0] * 3)]
    handle.remove()
    w.sum().backward()
    assert len(events) == 5 and events[-1][0] == "pre"
    # as torch: the hook sees the accumulated gradient, once per backward, and can step the parameter
    w, tw = nerve.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for p, lib in ((w, nerve), (tw, torch)):

        def step(t, lib=lib):
            with lib.no_grad():
                t -= 0.1 * t.grad
            t.grad = None

        p.register_post_accumulate_grad_hook(step)
        (p * p).sum().backward()
    np.testing.assert_allclose(to_np(w.detach()), tw.detach().numpy(), rtol=1e-6)
    assert w.grad is None
    # a leaf that is the root of backward
    seen = []
    leaf = nerve.tensor(2.0, requires_grad=True)
    leaf.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.item()))
    leaf.backward()
    assert seen == [1.0]
    _raises_like(lambda: (nerve.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(print),
                 lambda: (torch.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(print))
    _raises_like(lambda: nerve.ones(2).register_post_accumulate_grad_hook(print),
                 lambda: torch.ones(2).register_post_accumulate_grad_hook(print))


# ---------------------------------------------------------------- dtypes, asarray, isin


DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def test_promote_types_can_cast_result_type():
    for a in DTYPES:
        for b in DTYPES:
            na, nb, ta, tb = getattr(nerve, a), getattr(nerve, b), getattr(torch, a), getattr(torch, b)
            assert nerve.promote_types(na, nb).name == str(torch.promote_types(ta, tb)).removeprefix("torch.")
            assert nerve.can_cast(na, nb) == torch.can_cast(ta, tb), (a, b)
    cases = [(lambda L: L.tensor([1, 2]), 1.0), (1, 2.0), (True, 2), (2, lambda L: L.tensor([True])),
             (lambda L: L.tensor(1.0, dtype=L.float64), lambda L: L.tensor([1], dtype=L.int32)),
             (lambda L: L.tensor([1], dtype=L.int8), lambda L: L.tensor(1000))]
    for x, y in cases:
        def args(L):
            return [v(L) if callable(v) else v for v in (x, y)]
        assert nerve.result_type(*args(nerve)).name == str(torch.result_type(*args(torch))).removeprefix("torch.")


def test_asarray_shares_copies_and_refuses():
    a = np.arange(3.0)
    t = nerve.asarray(a)
    a[0] = 9
    assert t.dtype is nerve.float64 and to_np(t)[0] == 9  # shared
    t = nerve.asarray(a, dtype=nerve.float32)
    a[1] = 9
    assert to_np(t)[1] == 1  # a cast copies
    t = nerve.asarray(a, copy=True)
    a[2] = 7
    assert to_np(t)[2] == 2
    b = np.arange(6.0).reshape(2, 3)[:, ::2]
    t = nerve.asarray(b)
    b[0, 0] = 100
    np.testing.assert_array_equal(to_np(t), torch.asarray(b).numpy())
    x = nerve.ones(2)
    assert nerve.asarray(x) is x and nerve.asarray(x, dtype=nerve.float32, device="cpu") is x
    y = nerve.asarray(x, copy=True)
    y[0] = 5
    assert to_np(x)[0] == 1
    assert nerve.asarray(x, dtype=nerve.float64).dtype is nerve.float64
    for obj, tobj in (([1.0, 2.0], [1.0, 2.0]), ([1, 2], [1, 2]), (3.5, 3.5), (np.float64(3.5), np.float64(3.5)),
                      (True, True), (np.arange(3, dtype=np.int32), np.arange(3, dtype=np.int32)),
                      ([nerve.tensor(1.0), nerve.tensor(2.0)], [torch.tensor(1.0), torch.tensor(2.0)])):
        _same(nerve.asarray(obj), torch.asarray(tobj))
    _same(nerve.asarray([1, 2], dtype=nerve.float64), torch.asarray([1, 2], dtype=torch.float64))
    z = nerve.asarray(np.arange(3.0), requires_grad=True)
    assert z.requires_grad and z.is_leaf
    w = nerve.ones(2, requires_grad=True) * 2
    assert nerve.asarray(w) is w and nerve.asarray(w, copy=True).grad_fn is not None
    assert not nerve.asarray(w, requires_grad=False).requires_grad
    for fn in (lambda L: L.asarray(np.arange(3.0), dtype=L.float32, copy=False),
               lambda L: L.asarray([1, 2], copy=False),
               lambda L: L.asarray(L.ones(2), dtype=L.float64, copy=False)):
        _raises_like(lambda: fn(nerve), lambda: fn(torch))


def test_isin():
    e, s = np.array([[1, 2, 3], [4, 5, 6]]), np.array([2, 5, 9])
    for invert in (False, True):
        _same(nerve.isin(_nt(e), _nt(s), invert=invert), torch.isin(torch.tensor(e), torch.tensor(s), invert=invert))
    _same(nerve.isin(_nt(e), 2), torch.isin(torch.tensor(e), 2))
    _same(nerve.isin(2, _nt(s)), torch.isin(2, torch.tensor(s)))
    _same(nerve.isin(nerve.tensor([1.0, 2.5]), nerve.tensor([2.5])), torch.isin(torch.tensor([1.0, 2.5]),
                                                                                 torch.tensor([2.5])))
    with pytest.raises(TypeError):
        nerve.isin(2, 3)


# ---------------------------------------------------------------- printing


@pytest.fixture
def printoptions():
    yield
    nerve.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def _tensors(L):
    return [L.tensor([1.123456, 2.5, -3.0]), L.arange(20), L.arange(12.0).reshape(3, 4) / 7,
            L.tensor([1e-5, 1.0, 12345.678]), L.tensor([1.5e10, 1.0]), L.tensor([1.0, 2000.0]), L.tensor([0.1, 0.25]),
            L.arange(40.0) / 3, L.arange(3000).reshape(1000, 3), L.arange(3000.0).reshape(3, 1000),
            L.tensor([float("nan"), 1.0, float("inf")]), L.tensor(2.5), L.zeros(2, 2), L.tensor([1e-3, 2.0]),
            L.arange(8000).reshape(20, 20, 20), L.tensor([True, False]), L.tensor([-0.0, 1e-20]), L.tensor([1, -200]),
            L.arange(2000.0).reshape(2, 1000) - 1000.5, L.tensor([1.0, 2.0], dtype=L.float16), L.tensor([]),
            L.zeros(0, 4), L.zeros(2, 0, dtype=L.int32), L.ones(2, 3, dtype=L.float64, requires_grad=True),
            L.arange(30.0).reshape(3, 10).double(), L.tensor([1, 2], dtype=L.uint8), L.tensor(-0.0),
            L.tensor([123456789.0]), L.arange(100, dtype=L.int16)]


@pytest.mark.parametrize("options", [{}, {"precision": 2}, {"threshold": 5}, {"threshold": 5, "edgeitems": 2},
                                     {"threshold": 5, "edgeitems": 0},
                                     {"linewidth": 30}, {"sci_mode": True}, {"sci_mode": False},
                                     {"profile": "short"}, {"profile": "full"}])
def test_set_printoptions_against_torch(printoptions, options):
    nerve.set_printoptions(**options)
    torch.set_printoptions(**options)
    for n, t in zip(_tensors(nerve), _tensors(torch)):
        assert repr(n) == repr(t).replace("torch.", "nerve."), (options, repr(n), repr(t))


# ---------------------------------------------------------------- default device


def test_default_device(printoptions):
    assert nerve.get_default_device() == nerve.device("cpu")
    assert str(nerve.get_default_device()) == str(torch.get_default_device())
    nerve.set_default_device("cpu")
    assert nerve.zeros(2).device == nerve.device("cpu")
    if nerve.cuda.is_available():
        return
    try:
        # no GPU here: every factory now asks CuPy for one, which shows where they put tensors
        nerve.set_default_device("cuda")
        assert nerve.get_default_device() == nerve.device("cuda", 0)
        for make in (lambda: nerve.zeros(2), lambda: nerve.tensor([1.0]), lambda: nerve.rand(2),
                     lambda: nerve.arange(3), lambda: nerve.full((2,), 1.0), lambda: nerve.nn.Linear(2, 3)):
            with pytest.raises(RuntimeError, match="CUDA is not available"):
                make()
        assert nerve.zeros(2, device="cpu").device == nerve.device("cpu")
        assert nerve.from_numpy(np.ones(2)).device == nerve.device("cpu")
    finally:
        nerve.set_default_device(None)
    assert nerve.tensor([1.0]).device == nerve.device("cpu")


# ---------------------------------------------------------------- combinations, distances, vander


@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("with_replacement", [False, True])
def test_combinations(r, with_replacement):
    a = _rand(4)
    compare(torch, lambda x: nerve.combinations(x, r, with_replacement),
            lambda x: torch.combinations(x, r, with_replacement), [a], [True])


def test_combinations_edges_and_errors():
    for r, n in ((0, 3), (4, 3), (2, 0)):
        _same(nerve.combinations(nerve.arange(n), r=r), torch.combinations(torch.arange(n), r=r))
    for fn in (lambda L: L.combinations(L.ones(2, 2)), lambda L: L.combinations(L.arange(3), r=-1)):
        _raises_like(lambda: fn(nerve), lambda: fn(torch))


@pytest.mark.parametrize("p", [0, 1, 2, 3, 0.5, float("inf")])
def test_pdist(device, p):
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [-1.0, 0.5]])  # a zero distance: zero gradient, as torch
    compare(torch, lambda a: nerve.pdist(a, p), lambda a: torch.pdist(a, p), [x], [True], device)
    compare(torch, lambda a: nerve.nn.functional.pdist(a, p), lambda a: torch.nn.functional.pdist(a, p),
            [_rand(5, 3)], [True], device, dtype="float32")
    if p not in (0, float("inf")):
        assert gradcheck(lambda a: nerve.pdist(a, p), [_nt(_rand(4, 3), device, True)])


def test_pdist_edges_and_errors():
    _same(nerve.pdist(nerve.ones(1, 2)), torch.pdist(torch.ones(1, 2)))
    _same(nerve.pdist(nerve.ones(0, 2)), torch.pdist(torch.ones(0, 2)))
    for fn in (lambda L: L.pdist(L.ones(2, 2, 2)), lambda L: L.pdist(L.ones(2, 2, dtype=L.int64)),
               lambda L: L.pdist(L.ones(2, 2), -1)):
        _raises_like(lambda: fn(nerve), lambda: fn(torch))


def test_cosine_similarity_and_pairwise_distance():
    a, b = _rand(4, 5), _rand(4, 5)
    compare(torch, lambda x, y: nerve.cosine_similarity(x, y), lambda x, y: torch.cosine_similarity(x, y),
            [a, b], [True, True])
    compare(torch, lambda x, y: nerve.cosine_similarity(x, y, 0), lambda x, y: torch.cosine_similarity(x, y, 0),
            [a, b], [True, True])
    compare(torch, lambda x, y: nerve.pairwise_distance(x, y), lambda x, y: torch.pairwise_distance(x, y),
            [a, b], [True, True])
    compare(torch, lambda x, y: nerve.pairwise_distance(x, y, 1.0, 1e-6, True),
            lambda x, y: torch.pairwise_distance(x, y, 1.0, 1e-6, True), [a, b], [True, True])


def test_vander():
    for data in ([1, 2, 3], [True, False], [0.5, -2.0, 0.0]):
        for n in (None, 0, 1, 4):
            for inc in (False, True):
                _same(nerve.vander(nerve.tensor(data), n, inc), torch.vander(torch.tensor(data), n, inc))
    _same(nerve.vander(nerve.tensor([1, 2], dtype=nerve.int32)), torch.vander(torch.tensor([1, 2], dtype=torch.int32)))
    # torch 2.13's vander backward fails (an in-place op in its graph): checked numerically instead
    assert gradcheck(lambda x: nerve.vander(x, 4), [_nt(np.array([0.0, 2.0, -1.5]), requires_grad=True)])
    assert gradcheck(lambda x: nerve.vander(x, increasing=True), [_nt(_rand(3), requires_grad=True)])
    for fn in (lambda L: L.vander(L.ones(2, 2)), lambda L: L.vander(L.tensor([1, 2]), N=-1),
               lambda L: L.vander(L.tensor(2.0))):
        _raises_like(lambda: fn(nerve), lambda: fn(torch))


# ---------------------------------------------------------------- small functions


def test_scalar_tensor_rsub_unravel_index():
    for s, kw in ((3, {}), (True, {}), (2.5, {}), (3, {"dtype": "int64"})):
        tkw = {k: getattr(torch, v) for k, v in kw.items()}
        nkw = {k: getattr(nerve, v) for k, v in kw.items()}
        _same(nerve.scalar_tensor(s, **nkw), torch.scalar_tensor(s, **tkw))
    _same(nerve.scalar_tensor(nerve.tensor(2)), torch.scalar_tensor(torch.tensor(2)))
    a, b = _rand(3), _rand(3)
    compare(torch, lambda x, y: nerve.rsub(x, y, alpha=2), lambda x, y: torch.rsub(x, y, alpha=2), [a, b],
            [True, True])
    compare(torch, lambda x: nerve.rsub(x, 5), lambda x: torch.rsub(x, 5), [a], [True])
    _same(nerve.rsub(nerve.tensor([1, 2]), 2.5), torch.rsub(torch.tensor([1, 2]), 2.5))
    # torch.unravel_index's first call takes seconds (it loads torch's Python decompositions): its
    # answers, from torch 2.13, are written out (an index out of range wraps around there)
    for idx, shape, want in (([4, 1], (2, 3), ([1, 0], [1, 1])), (7, (2, 3), (0, 1)), (-1, (2, 3), (1, 2)),
                             (-7, (2, 3), (1, 2)), ([[1, 2]], (2, 3), ([[0, 0]], [[1, 2]])), (5, 6, (5,)),
                             ([3, 1], (), ()), (3, (4,), (3,)), ([0, 5, 23], (2, 3, 4), ([0, 0, 1], [0, 1, 2],
                                                                                       [0, 1, 3]))):
        got = nerve.unravel_index(nerve.tensor(idx), shape)
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype is nerve.int64 and to_np(g).tolist() == w
    with pytest.raises(TypeError, match="expected 'indices' to be integer dtype, but got nerve.float32"):
        nerve.unravel_index(nerve.tensor(1.0), (2, 3))
    with pytest.raises(ValueError, match=r"'shape' cannot have negative values, but got \(2, -3\)"):
        nerve.unravel_index(nerve.tensor(5), (2, -3))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        nerve.unravel_index(nerve.tensor([3, 1]), (2, 0, 3))


def test_settings_functions():
    assert nerve.are_deterministic_algorithms_enabled() is False
    try:
        nerve.use_deterministic_algorithms(True)
        assert nerve.are_deterministic_algorithms_enabled() is True
        assert nerve.is_deterministic_algorithms_warn_only_enabled() is False
        nerve.use_deterministic_algorithms(True, warn_only=True)
        assert nerve.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        nerve.use_deterministic_algorithms(False)
    assert nerve.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError, match="must be bool, not int"):
        nerve.use_deterministic_algorithms(1)
    assert nerve.set_flush_denormal(True) is False and nerve.set_flush_denormal(False) is False
    n = nerve.get_num_interop_threads()
    assert isinstance(n, int) and n >= 1
    nerve.set_num_interop_threads(3)
    assert nerve.get_num_interop_threads() == 3
    with pytest.raises(RuntimeError):
        nerve.set_num_interop_threads(0)


# ---------------------------------------------------------------- torch.X aliases of nn.functional


def test_functional_aliases_resolve_lazily():
    code = ("import sys, nerve; nerve.asarray, nerve.set_printoptions, nerve.mode; before = 'nerve.nn' in sys.modules; "
            "f = nerve.conv2d; import nerve.nn.functional as F; "
            "print(before, f is F.conv2d, nerve.dropout is not F.dropout, 'conv2d' in vars(nerve))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "True"], out.stdout + out.stderr
    for name in nerve._NN_ALIASES:
        assert callable(getattr(nerve, name)), name
        assert callable(getattr(torch, name)), name
    with pytest.raises(AttributeError):
        nerve.no_such_function  # noqa: B018


def test_functional_aliases_with_their_own_signatures():
    x = _rand(2, 3, 4)
    # dropout(input, p, train): train is required
    _same(nerve.dropout(_nt(x), 0.5, False), torch.dropout(torch.tensor(x), 0.5, False))
    with pytest.raises(TypeError):
        nerve.dropout(_nt(x), 0.5)
    nerve.manual_seed(0)
    d = to_np(nerve.dropout(nerve.ones(100_000), 0.25, True))
    np.testing.assert_allclose(np.unique(d), [0.0, 1 / 0.75], rtol=1e-6)
    _close((d == 0).mean(), 0.25, 0.01)
    # embedding(weight, indices)
    w, idx = _rand(5, 3), np.array([[0, 4], [2, 2]])
    compare(torch, lambda a, i: nerve.embedding(a, i), lambda a, i: torch.embedding(a, i), [w, idx], [True, False])
    compare(torch, lambda a, i: nerve.embedding(a, i, 2), lambda a, i: torch.embedding(a, i, 2), [w, idx],
            [True, False])
    # batch_norm / instance_norm with the weights first
    c = 3
    wt, b, rm, rv = _rand(c), _rand(c), _rand(c), np.abs(_rand(c)) + 0.5
    for training in (False, True):
        compare(torch, lambda a, g, h: nerve.batch_norm(a, g, h, _nt(rm), _nt(rv), training, 0.1, 1e-5, True),
                lambda a, g, h: torch.batch_norm(a, g, h, torch.tensor(rm), torch.tensor(rv), training, 0.1, 1e-5,
                                                 True),
                [_rand(4, c, 5), wt, b], [True, True, True])
    compare(torch, lambda a, g, h: nerve.instance_norm(a, g, h, None, None, True, 0.1, 1e-5, False),
            lambda a, g, h: torch.instance_norm(a, g, h, None, None, True, 0.1, 1e-5, False),
            [_rand(2, c, 6), wt, b], [True, True, True])
    compare(torch, lambda a, g, h: nerve.layer_norm(a, (4,), g, h), lambda a, g, h: torch.layer_norm(a, (4,), g, h),
            [x, _rand(4), _rand(4)], [True, True, True])
    compare(torch, lambda a, g, h: nerve.group_norm(a, 3, g, h), lambda a, g, h: torch.group_norm(a, 3, g, h),
            [_rand(2, 6, 5), _rand(6), _rand(6)], [True, True, True])
    # adaptive_max_pool1d gives the indices too
    n, t = nerve.adaptive_max_pool1d(_nt(x), 2), torch.adaptive_max_pool1d(torch.tensor(x), 2)
    _same(n[0], t[0])
    _same(n[1], t[1])
    compare(torch, lambda a: nerve.selu(a), lambda a: torch.selu(a), [x], [True], dtype="float32")
    compare(torch, lambda a: nerve.celu(a, 0.7), lambda a: torch.celu(a, 0.7), [x], [True], dtype="float32")
    compare(torch, lambda a: nerve.threshold(a, 0.1, -2.0), lambda a: torch.threshold(a, 0.1, -2.0), [x], [True])


@pytest.mark.parametrize("reduction", [None, 0, 1, 2])
def test_loss_aliases_take_reduction_as_a_number(reduction):
    kw = {} if reduction is None else {"reduction": reduction}
    a, b = _rand(4, 3), _rand(4, 3)
    p = 1 / (1 + np.exp(-_rand(4, 3)))
    sign = np.array([1.0, -1.0, 1.0, -1.0])
    cases = [
        (lambda L, x, y: L.kl_div(x, y, **kw), [a, p]),
        (lambda L, x, y: L.kl_div(x, y, **kw, log_target=True), [a, b]),
        (lambda L, x, y: L.binary_cross_entropy_with_logits(x, y, **kw), [a, p]),
        (lambda L, x, y: L.binary_cross_entropy_with_logits(x, y, L.tensor(b[0]), L.tensor(np.abs(b[1])), **kw),
         [a, p]),
        (lambda L, x, y: L.margin_ranking_loss(x[:, 0], y[:, 0], L.tensor(sign), 0.2, **kw), [a, b]),
        (lambda L, x, y: L.hinge_embedding_loss(x - y, L.tensor(np.sign(b)), 0.5, **kw), [a, b]),
        (lambda L, x, y: L.cosine_embedding_loss(x, y, L.tensor(sign), 0.1, **kw), [a, b]),
        (lambda L, x, y: L.triplet_margin_loss(x, y, x * 0.5, 1.0, 2, 1e-6, False, **kw), [a, b]),
    ]
    if reduction is not None:
        cases.append((lambda L, x, y: L.poisson_nll_loss(x, y, True, False, 1e-8, reduction), [a, np.abs(b)]))
    for fn, arrays in cases:
        compare(torch, lambda x, y: fn(nerve, x, y), lambda x, y: fn(torch, x, y), arrays, [True, True])


def test_functional_aliases_with_the_same_signatures():
    x4, w4 = _rand(2, 3, 6, 6), _rand(4, 3, 3, 3)
    x3, w3 = _rand(2, 3, 8), _rand(4, 3, 3)
    cases = [
        (lambda L, x, w: L.conv2d(x, w, None, 2, 1), [x4, w4]),
        (lambda L, x, w: L.conv1d(x, w, None, 1, 2, 2), [x3, w3]),
        (lambda L, x, w: L.conv_transpose2d(x, w, None, 2, 1, 1), [x4, _rand(3, 2, 3, 3)]),
        (lambda L, x, w: L.conv_transpose1d(x, w, None, 2), [x3, _rand(3, 2, 3)]),
        (lambda L, x, w: L.prelu(x, w), [x3, np.array([0.1, 0.2, 0.3])]),
        (lambda L, x, w: L.bilinear(x, x * 2, w), [_rand(4, 3), _rand(2, 3, 3)]),
        (lambda L, x, w: L.rms_norm(x, (8,), w), [x3, _rand(8)]),
        (lambda L, x, w: L.rms_norm(x, (3, 8), None, 1e-3) * w, [x3, np.array(2.0)]),
    ]
    for fn, arrays in cases:
        compare(torch, lambda x, w: fn(nerve, x, w), lambda x, w: fn(torch, x, w), arrays, [True, True])
    one = [
        (lambda L, x: L.max_pool1d(x, 2), x3), (lambda L, x: L.max_pool2d(x, 3, 2, 1), x4),
        (lambda L, x: L.avg_pool1d(x, 3, 2, 1), x3), (lambda L, x: L.adaptive_avg_pool1d(x, 3), x3),
        (lambda L, x: L.pixel_shuffle(x, 2), _rand(1, 8, 2, 3)), (lambda L, x: L.pixel_unshuffle(x, 2), x4),
        (lambda L, x: L.channel_shuffle(x, 3), _rand(1, 6, 2, 2)),
    ]
    for fn, a in one:
        compare(torch, lambda x: fn(nerve, x), lambda x: fn(torch, x), [a], [True])


def test_rms_norm_functional():
    import torch.nn.functional as TF

    F = nerve.nn.functional
    x = _rand(3, 4, 5)
    compare(torch, lambda a, w: F.rms_norm(a, [4, 5], w), lambda a, w: TF.rms_norm(a, [4, 5], w),
            [x, _rand(4, 5)], [True, True])
    compare(torch, lambda a: F.rms_norm(a, (5,)), lambda a: TF.rms_norm(a, (5,)), [x], [True], dtype="float32")
    assert gradcheck(lambda a, w: F.rms_norm(a, (5,), w, 1e-5), [_nt(x, requires_grad=True),
                                                                 _nt(_rand(5), requires_grad=True)])
    _raises_like(lambda: F.rms_norm(nerve.ones(2, 3), (4,)), lambda: TF.rms_norm(torch.ones(2, 3), (4,)))
    _raises_like(lambda: F.rms_norm(nerve.ones(2, 3, 4), (2, 4)), lambda: TF.rms_norm(torch.ones(2, 3, 4), (2, 4)))
    _raises_like(lambda: F.rms_norm(nerve.ones(2, 3, dtype=nerve.int64), (3,)),
                 lambda: TF.rms_norm(torch.ones(2, 3, dtype=torch.int64), (3,)))
