"""``add_``/``sub_`` with ``alpha`` on big tensors: one BLAS axpy pass (nerve/_blas.py), as
PyTorch's kernel does it (one rounding). Everything else takes NumPy's two passes, as before."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nerve
from nerve import _blas, _threads
from nerve.tensor import _AXPY_MIN

torch = pytest.importorskip("torch")

BIG = (784, 128)  # 100,352 elements, a 784-128 Linear's weight: one piece on OpenBLAS's threads
HUGE = (512, 513)  # 262,656: blocks over nerve's threads

needs_blas = pytest.mark.skipif(_blas.kernels(np.zeros(1, np.float32), min_size=1) is None,
                                reason="NumPy's BLAS has no scipy_cblas_*64_ symbols: only the NumPy path exists")


@pytest.fixture
def axpy_calls(monkeypatch):
    """The sizes of the updates that ran as one BLAS pass."""
    calls = []
    real = _blas.add_scaled

    def spy(a, x, y):
        done = real(a, x, y)
        if done:
            calls.append(y.size)
        return done

    monkeypatch.setattr(_blas, "add_scaled", spy)
    return calls


def _arrays(shape, dtype=np.float32, steps=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


def _steps(lib, method, alpha, w, grads):
    p = lib.tensor(w.copy(), requires_grad=True)
    for g in grads:
        with lib.no_grad():
            getattr(p, method)(lib.tensor(g), alpha=alpha)
    return p.detach().numpy()


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method,alpha", [("add_", -0.1), ("sub_", 0.1), ("add_", 3), ("sub_", -2.5)])
def test_add_and_sub_with_alpha_match_torch(method, alpha, dtype, axpy_calls):
    w, grads = _arrays(BIG, dtype)
    ours, theirs = _steps(nerve, method, alpha, w, grads), _steps(torch, method, alpha, w, grads)
    assert ours.dtype == theirs.dtype == dtype
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(ours, theirs, **tol)
    assert axpy_calls == [w.size] * len(grads)


@needs_blas
@pytest.mark.parametrize("workers", [1, 3])
def test_big_update_on_one_thread_or_in_blocks_matches_torch(workers, axpy_calls, monkeypatch):
    monkeypatch.setattr(_threads, "WORKERS", workers)
    chunks = []
    real = _threads.run_chunks
    monkeypatch.setattr(_threads, "run_chunks", lambda n, fn, c: chunks.append(len(c)) or real(n, fn, c))
    w, grads = _arrays(HUGE, steps=2)
    np.testing.assert_allclose(_steps(nerve, "add_", -0.1, w, grads), _steps(torch, "add_", -0.1, w, grads),
                               rtol=1e-6, atol=1e-6)
    assert axpy_calls == [w.size] * 2
    assert chunks == ([3] * 2 if workers == 3 else [])


@needs_blas
def test_what_blas_does_not_take_gets_numpys_passes(axpy_calls):
    g = nerve.randn(*BIG)
    d = nerve.ones(*BIG, dtype=nerve.float64)
    d.sub_(g, alpha=0.5)  # float64 target, float32 other: promotes, as before
    np.testing.assert_array_equal(d.numpy(), 1 - 0.5 * g.numpy().astype(np.float64))
    f = nerve.ones(BIG[1], BIG[0]).T
    f.sub_(g.T.contiguous().T, alpha=0.5)  # not C-contiguous
    np.testing.assert_array_equal(f.numpy(), 1 - np.float32(0.5) * g.numpy())
    small = nerve.ones(100)
    small.sub_(nerve.ones(100), alpha=0.5)
    np.testing.assert_array_equal(small.numpy(), 0.5)
    assert not axpy_calls
    v = nerve.randn(*BIG)
    before = v.numpy().copy()
    v[1:].sub_(v[:-1], alpha=0.1)  # the product reads rows the update writes: NumPy, product first
    np.testing.assert_array_equal(v.numpy()[1:], before[1:] - np.float32(0.1) * before[:-1])
    assert not axpy_calls
    s = nerve.randn(*BIG)
    before = s.numpy().copy()
    s.sub_(s, alpha=0.1)  # the same array on both sides: element by element, BLAS is right
    np.testing.assert_allclose(s.numpy(), before - np.float32(0.1) * before, rtol=1e-6)
    assert axpy_calls == [s.numel()]


def test_errors_are_numpys_paths_ones():
    g = nerve.randn(*BIG)
    w = nerve.zeros(*BIG, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        w.add_(g, alpha=0.1)
    e = nerve.zeros(BIG[1]).expand(*BIG)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single"):
        e.add_(g, alpha=0.1)
    np.testing.assert_array_equal(e.numpy(), 0)


@pytest.mark.parametrize("lib", [nerve, torch], ids=["nerve", "torch"])
def test_a_recorded_add_with_alpha_keeps_its_graph(lib):
    rng = np.random.default_rng(3)
    w = lib.tensor(rng.standard_normal(BIG).astype(np.float32), requires_grad=True)
    g = lib.tensor(rng.standard_normal(BIG).astype(np.float32))
    h = w * 2.0
    h.add_(g, alpha=-0.1)  # records: NumPy's passes, the graph goes through
    (h * h).sum().backward()
    expected = 4 * (2 * w.detach().numpy() - np.float32(0.1) * g.numpy())
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_an_axpy_into_a_saved_tensor_is_caught():
    g = nerve.randn(*BIG)
    x = nerve.randn(*BIG, requires_grad=True)
    y = x.sigmoid()  # saves its output
    with nerve.no_grad():
        y.add_(g, alpha=-0.1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@needs_blas
@pytest.mark.parametrize("alpha", [0.1, 0.0, 1e-50, 3e38])
def test_nan_inf_zero_and_extreme_factors_as_torch(alpha, axpy_calls):
    w, grads = _arrays(BIG, steps=1)
    g = grads[0]
    g[0, :4] = [np.nan, np.inf, -np.inf, 0.0]
    ours, theirs = nerve.tensor(w), torch.tensor(w)
    with np.errstate(all="ignore"):
        ours.add_(nerve.tensor(g), alpha=alpha)
    theirs.add_(torch.tensor(g), alpha=alpha)
    a, b = ours.numpy(), theirs.numpy()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isinf(a), np.isinf(b))
    fin = np.isfinite(b)
    np.testing.assert_allclose(a[fin], b[fin], rtol=1e-6, atol=1e-6)
    # a factor that is 0 in float32 (0.0, 1e-50) or not finite (3e38 is; 0 * inf must stay NaN)
    assert axpy_calls == ([] if np.float32(alpha) == 0 else [w.size])


@needs_blas
def test_an_update_while_the_interpreter_exits_runs_on_this_thread():
    # (no thread starts and no pool takes work during shutdown: the blocks run one by one)
    code = textwrap.dedent(f"""
        import atexit, numpy as np, nerve
        from nerve import _threads
        _threads.WORKERS = 2
        p, g = nerve.ones({HUGE[0]}, {HUGE[1]}), nerve.ones({HUGE[0]}, {HUGE[1]})
        def last():
            p.add_(g, alpha=-0.5)
            print(float(p.sum()), flush=True)
        atexit.register(last)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == 0.5 * HUGE[0] * HUGE[1]


def test_the_threshold_is_the_optimizers():
    assert _AXPY_MIN == _blas.SGD_MIN_SIZE
