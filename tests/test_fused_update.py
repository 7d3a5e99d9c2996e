"""The hand-written update ``p -= lr * p.grad`` in one BLAS pass (nerve/_fuse.py).

Where the next instruction takes the product ``lr * g`` into an in-place ``-=``/``+=``, nerve
leaves it uncomputed and the update runs ``axpy``. The results must be PyTorch's (to the last
bit or so: one rounding instead of two), and everything that is not that pattern must see the
product computed as before.
"""

import numpy as np
import pytest

import nerve
from nerve import _blas, _fuse, _threads
from nerve.tensor import _FUSE_MIN

torch = pytest.importorskip("torch")

BIG = (784, 128)  # 100,352 elements, a 784-128 Linear's weight: one piece on OpenBLAS's threads
HUGE = (512, 513)  # 262,656: split over nerve's threads
LR = 0.1

needs_blas = pytest.mark.skipif(_blas.kernels(np.zeros(1, np.float32), min_size=1) is None,
                                reason="NumPy's OpenBLAS symbols are not there")


@pytest.fixture
def fused(monkeypatch):
    """Counts the updates that ran as one BLAS pass."""
    calls = []
    real = _blas.add_scaled

    def spy(a, x, y):
        done = real(a, x, y)
        if done:
            calls.append(y.size)
        return done

    monkeypatch.setattr(_blas, "add_scaled", spy)
    return calls


def _arrays(shape, dtype=np.float32, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


def _steps(lib, form, w, grads):
    p = lib.tensor(w.copy(), requires_grad=True)
    for g in grads:
        p.grad = lib.tensor(g)
        if form == "p.data -= lr * p.grad":  # the old idiom, outside no_grad
            p.data -= LR * p.grad
            continue
        with lib.no_grad():
            if form == "p -= lr * p.grad":
                p -= LR * p.grad
            elif form == "p -= p.grad * lr":
                p -= p.grad * LR
            elif form == "p += -lr * p.grad":
                p += -LR * p.grad
            elif form == "p.add_(p.grad, alpha=-lr)":
                p.add_(p.grad, alpha=-LR)
            elif form == "p.sub_(p.grad, alpha=lr)":
                p.sub_(p.grad, alpha=LR)
            elif form == "p[...] -= lr * p.grad":
                p[...] -= LR * p.grad
    return p.detach().numpy()


FORMS = ["p -= lr * p.grad", "p -= p.grad * lr", "p += -lr * p.grad", "p.data -= lr * p.grad",
         "p.add_(p.grad, alpha=-lr)", "p.sub_(p.grad, alpha=lr)", "p[...] -= lr * p.grad"]


def test_this_python_shows_the_pattern():
    # (else nothing is ever fused here: the benchmark's figure would quietly change)
    dist, mul, nxt = _fuse._learn()
    assert dist >= 2 and len(mul) == 2 and sorted(nxt.values()) == [-1.0, 1.0]


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", FORMS)
def test_fused_update_matches_torch(form, dtype, fused):
    w, grads = _arrays(BIG, dtype)
    ours = _steps(nerve, form, w, grads)
    theirs = _steps(torch, form, w, grads)
    assert ours.dtype == theirs.dtype == dtype
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(ours, theirs, **tol)
    assert fused == [w.size] * len(grads)


@needs_blas
@pytest.mark.parametrize("workers", [1, 3])
def test_big_update_split_over_threads_matches_torch(workers, fused, monkeypatch):
    monkeypatch.setattr(_threads, "WORKERS", workers)
    chunks = []
    real = _threads.run_chunks
    monkeypatch.setattr(_threads, "run_chunks", lambda n, fn, c: chunks.append(len(c)) or real(n, fn, c))
    w, grads = _arrays(HUGE, steps=3)
    np.testing.assert_allclose(_steps(nerve, FORMS[0], w, grads), _steps(torch, FORMS[0], w, grads),
                               rtol=1e-6, atol=1e-6)
    assert fused == [w.size] * 3
    assert chunks == ([3] * 3 if workers == 3 else [])


def test_a_product_kept_or_used_otherwise_is_computed(fused):
    g = nerve.randn(*BIG)
    expected = np.float32(LR) * g.numpy()
    u = LR * g  # stored: then anything may read it
    assert type(u) is nerve.Tensor
    np.testing.assert_array_equal(u.numpy(), expected)
    assert type(g.__rmul__(LR)) is nerve.Tensor  # called, not the operator
    v = LR * g * 2.0  # the next instruction multiplies
    np.testing.assert_array_equal(v.numpy(), expected * np.float32(2.0))
    assert not fused


@needs_blas
def test_left_operands_that_do_not_fuse_get_the_computed_product(fused):
    g = nerve.randn(*BIG)
    expected = np.float32(LR) * g.numpy()
    a = np.ones(BIG, np.float32)
    a -= LR * g  # a NumPy array on the left: NumPy reads the product
    np.testing.assert_array_equal(a, 1 - expected)
    d = nerve.ones(*BIG, dtype=nerve.float64)
    d -= LR * g  # another dtype: the promoting subtraction
    np.testing.assert_array_equal(d.numpy(), 1 - expected.astype(np.float64))
    assert not fused


@needs_blas
def test_overlapping_views_take_the_product_first(fused):
    v = nerve.randn(*BIG)
    before = v.numpy().copy()
    with nerve.no_grad():
        v[1:] -= LR * v[:-1]  # the product reads rows the update writes
    expected = before.copy()
    expected[1:] -= np.float32(LR) * before[:-1]
    np.testing.assert_array_equal(v.numpy(), expected)
    assert not fused
    s = nerve.randn(*BIG)
    before = s.numpy().copy()
    s -= LR * s  # the same array on both sides: element by element, it fuses
    np.testing.assert_allclose(s.numpy(), before - np.float32(LR) * before, rtol=1e-6)
    assert fused == [s.numel()]


def test_errors_are_the_unfused_ones():
    g = nerve.randn(*BIG)
    w = nerve.zeros(*BIG, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        w -= LR * g
    e = nerve.zeros(BIG[1]).expand(*BIG)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single"):
        e -= LR * g
    np.testing.assert_array_equal(e.numpy(), 0)


@pytest.mark.parametrize("lib", [nerve, torch], ids=["nerve", "torch"])
def test_a_recorded_in_place_update_keeps_its_graph(lib):
    rng = np.random.default_rng(3)
    w = lib.tensor(rng.standard_normal(BIG).astype(np.float32), requires_grad=True)
    g = lib.tensor(rng.standard_normal(BIG).astype(np.float32))
    h = w * 2.0
    h -= LR * g  # records: the product is computed, the graph goes through
    (h * h).sum().backward()
    expected = 4 * (2 * w.detach().numpy() - np.float32(LR) * g.numpy())
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-5)


def test_a_fused_write_into_a_saved_tensor_is_caught():
    g = nerve.randn(*BIG)
    x = nerve.randn(*BIG, requires_grad=True)
    y = x.sigmoid()  # saves its output
    with nerve.no_grad():
        y -= LR * g
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@needs_blas
def test_nan_inf_and_zero_factors_as_torch(fused):
    w, grads = _arrays(BIG, steps=1)
    g = grads[0]
    g[0, :4] = [np.nan, np.inf, -np.inf, 0.0]
    for lr in (LR, 0.0):
        ours, theirs = nerve.tensor(w), torch.tensor(w)
        with nerve.no_grad():
            ours -= lr * nerve.tensor(g)
        theirs -= lr * torch.tensor(g)
        np.testing.assert_array_equal(np.isnan(ours.numpy()), np.isnan(theirs.numpy()))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
    assert fused == [w.size]  # a zero factor computes the product (0 * inf is NaN; BLAS would skip it)


def test_small_tensors_are_computed_as_before(fused):
    p, g = nerve.ones(100), nerve.ones(100)
    p -= LR * g
    np.testing.assert_array_equal(p.numpy(), np.float32(1) - np.float32(LR))
    assert not fused
    assert _FUSE_MIN == _blas.SGD_MIN_SIZE
