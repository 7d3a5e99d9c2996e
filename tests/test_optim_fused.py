"""The optimizers' BLAS updates of big parameters (nerve/_blas.py) against torch.optim.

A parameter of at least ``_blas.MIN_SIZE`` contiguous float32 or float64 elements is updated with
OpenBLAS's axpy/axpby; everything else takes the NumPy code. Both must give PyTorch's parameters.
"""

import functools

import numpy as np
import pytest

import nerve
from nerve import _blas, _threads, optim

torch = pytest.importorskip("torch")

BIG = (512, 513)  # 262,656 elements: above _blas.MIN_SIZE and the size elementwise splits
MID = (256, 300)  # 76,800: SGD's BLAS, in one piece on OpenBLAS's own threads
STEPS = 20

SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.1, maximize=True),
    dict(lr=0.1, weight_decay=0.05, maximize=True),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01, maximize=True),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True),
]

# Adam, AdamW and RMSprop merge some of their passes with BLAS (the rest stays NumPy ufuncs)
OTHER_CASES = [
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9))),  # 1 - beta1 > 0.5: the other form of lerp
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.7, weight_decay=0.05)),
]

needs_blas = pytest.mark.skipif(
    _blas.kernels(np.zeros(_blas.MIN_SIZE, np.float32)) is None,
    reason="NumPy's BLAS has no scipy_cblas_*64_ symbols: only the NumPy path exists here",
)


@pytest.fixture(autouse=True, scope="module")
def torch_on_one_thread():
    # (on a busy machine torch's intra-op threads wait on each other: 3 ms an add_ of these sizes)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ids(kw):
    if isinstance(kw, tuple):
        return kw[0] + "-" + _ids(kw[1])
    return ",".join(f"{k}={v}" for k, v in kw.items())


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-6, atol=1e-6)


@pytest.fixture
def blas_calls(monkeypatch):
    """Counts the parameter updates that got BLAS kernels."""
    calls = []
    real = _blas.kernels

    def spy(*arrays, **kw):
        k = real(*arrays, **kw)
        if k is not None:
            calls.append(arrays[0].size)
        return k

    monkeypatch.setattr(_blas, "kernels", spy)
    return calls


def _record_chunks(monkeypatch, workers) -> list:
    """nerve's threads set to ``workers``; the number of blocks of each split update, appended."""
    monkeypatch.setattr(_threads, "WORKERS", workers)
    chunks = []
    real = _threads.run_chunks
    monkeypatch.setattr(_threads, "run_chunks", lambda n, fn, c: chunks.append(len(c)) or real(n, fn, c))
    return chunks


def _train(lib, name, kw, weights, grads, transpose_grads=False):
    """``STEPS`` steps of ``lib.optim.<name>`` on ``weights`` with the given gradients."""
    params = [lib.tensor(w, requires_grad=True) for w in weights]
    opt = getattr(lib.optim, name)(params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = lib.tensor(g.T.copy()).T if transpose_grads else lib.tensor(g)
        opt.step()
    return params, opt


@functools.lru_cache(maxsize=4)
def _made(dtype, shapes, steps, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return weights, grads


def _data(dtype, shapes=(BIG, (513,)), steps=STEPS, seed=0):
    """Weights and ``steps`` gradients (cached: never write to them)."""
    weights, grads = _made(np.dtype(dtype), tuple(shapes), steps, seed)
    return [w.copy() for w in weights], grads


def _assert_matches_torch(name, kw, dtype, **data):
    weights, grads = _data(dtype, **data)
    ours, _ = _train(nerve, name, kw, weights, grads)
    theirs, _ = _train(torch, name, kw, weights, grads)
    for a, b, w in zip(ours, theirs, weights):
        assert a.detach().numpy().dtype == b.detach().numpy().dtype == dtype
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **_tol(dtype))
        assert not np.allclose(a.detach().numpy(), w)


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", SGD_CASES, ids=_ids)
def test_sgd_blas_update_matches_torch(kw, dtype, blas_calls):
    _assert_matches_torch("SGD", kw, dtype)
    first_momentum_step = 1 if kw.get("momentum") else 0  # copies the gradient: NumPy's code
    assert blas_calls == [BIG[0] * BIG[1]] * (STEPS - first_momentum_step)  # the bias is too small


@needs_blas
@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("kw", [SGD_CASES[3], SGD_CASES[6], SGD_CASES[9]], ids=_ids)
def test_sgd_blas_update_on_one_thread_or_split_matches_torch(kw, workers, blas_calls, monkeypatch):
    chunks = _record_chunks(monkeypatch, workers)
    _assert_matches_torch("SGD", kw, np.float32, steps=6)
    assert blas_calls
    assert (max(chunks) == 3) if workers == 3 else not chunks


@needs_blas
@pytest.mark.parametrize("case", [("SGD", SGD_CASES[4]), ("SGD", SGD_CASES[9]), OTHER_CASES[0], OTHER_CASES[11]],
                         ids=_ids)
def test_mid_size_update_matches_torch_sgd_with_blas_in_one_piece(case, blas_calls, monkeypatch):
    # (a 784-128 Linear's weight is this size: BLAS for SGD, in one piece on OpenBLAS's threads;
    # NumPy's code for Adam and RMSprop, which measured slower with BLAS there)
    assert _blas.SGD_MIN_SIZE <= MID[0] * MID[1] < min(_blas.MIN_SIZE, _threads.ELEMENTWISE_SPLIT)
    chunks = _record_chunks(monkeypatch, None)
    name, kw = case
    _assert_matches_torch(name, kw, np.float32, shapes=[MID, (300,)], steps=8)
    assert set(blas_calls) == ({MID[0] * MID[1]} if name == "SGD" else set())
    assert not chunks


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", SGD_CASES, ids=_ids)
def test_sgd_blas_update_of_small_parameters_matches_torch(kw, dtype, blas_calls, monkeypatch):
    # the threshold is a speed choice: the BLAS path must be right at any size
    monkeypatch.setattr(_blas, "SGD_MIN_SIZE", 1)
    _assert_matches_torch("SGD", kw, dtype, shapes=[(4, 3), (3,), (2, 2, 2)], steps=30)
    assert len(blas_calls) >= 3 * 29


@pytest.mark.parametrize("kw", [SGD_CASES[1], SGD_CASES[6], SGD_CASES[9]], ids=_ids)
def test_sgd_without_blas_kernels_takes_numpys_code(kw, blas_calls, monkeypatch):
    monkeypatch.setattr(_blas, "_kernels", {})  # as with another BLAS, or a NumPy without the symbols
    _assert_matches_torch("SGD", kw, np.float32, steps=6)
    assert not blas_calls


@pytest.mark.parametrize("kw", [SGD_CASES[1], SGD_CASES[6], SGD_CASES[9]], ids=_ids)
def test_sgd_with_strided_gradients_takes_numpys_code(kw, blas_calls):
    weights, grads = _data(np.float64, steps=6)
    ours, _ = _train(nerve, "SGD", kw, weights, grads, transpose_grads=True)
    assert not ours[0].grad._data.flags.c_contiguous
    theirs, _ = _train(torch, "SGD", kw, weights, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert not blas_calls


def test_sgd_in_float16_takes_numpys_code(blas_calls):
    kw = dict(lr=0.05, momentum=0.9, weight_decay=0.01)
    weights, grads = _data(np.float16, steps=4)
    ours, _ = _train(nerve, "SGD", kw, weights, grads)
    theirs, _ = _train(torch, "SGD", kw, weights, grads)
    for a, b in zip(ours, theirs):
        assert a.dtype == nerve.float16
        np.testing.assert_allclose(a.detach().numpy().astype(np.float32), b.detach().float().numpy(),
                                   rtol=1e-2, atol=1e-2)
    assert not blas_calls


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # 0 * inf, on worker threads
@pytest.mark.parametrize("kw", [dict(lr=0.0, momentum=0.9), dict(lr=0.1, momentum=0.9, dampening=1.0),
                                dict(lr=0.5, weight_decay=2.0)], ids=_ids)
def test_sgd_with_a_zero_factor_keeps_numpys_nan_rules(kw, blas_calls):
    # BLAS skips x when its factor is 0, so an infinite gradient would vanish; PyTorch's gives NaN
    weights, grads = _data(np.float64, steps=3)
    grads = [[g.copy() for g in gs] for gs in grads]
    grads[1][0][0, 0] = np.inf
    ours, _ = _train(nerve, "SGD", kw, weights, grads)
    theirs, _ = _train(torch, "SGD", kw, weights, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert not blas_calls


@needs_blas
@pytest.mark.parametrize("kw", [SGD_CASES[6], SGD_CASES[9]], ids=_ids)
def test_sgd_state_dict_round_trip_keeps_the_blas_update(kw, blas_calls):
    """Stop after 5 steps, load the state into a fresh optimizer, go on: as PyTorch never stopping."""
    weights, grads = _data(np.float32, steps=10)
    ours, opt = _train(nerve, "SGD", kw, weights, grads[:5])
    resumed = [nerve.tensor(p.detach().numpy(), requires_grad=True) for p in ours]
    opt2 = optim.SGD(resumed, **kw)
    opt2.load_state_dict(opt.state_dict())
    before = len(blas_calls)
    for gs in grads[5:]:
        for p, g in zip(resumed, gs):
            p.grad = nerve.tensor(g)
        opt2.step()
    assert len(blas_calls) - before == 5
    theirs, _ = _train(torch, "SGD", kw, weights, grads)
    for a, b in zip(resumed, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_kernels_only_for_big_contiguous_float_numpy_arrays():
    n = _blas.MIN_SIZE
    a32, b32 = np.zeros(n, np.float32), np.zeros(n, np.float32)
    assert _blas.kernels(np.zeros(n - 1, np.float32)) is None
    assert _blas.kernels(np.zeros(n, np.float16)) is None
    assert _blas.kernels(np.zeros(n, np.int32)) is None
    assert _blas.kernels(np.zeros(2 * n, np.float32)[::2]) is None
    assert _blas.kernels(a32, np.zeros(n, np.float64)) is None
    assert _blas.kernels(a32, np.zeros(n + 1, np.float32)) is None
    assert _blas.kernels(a32, np.zeros((n, 2), np.float32)[:, 0]) is None
    if _blas.kernels(a32, b32) is not None:
        assert _blas.kernels(np.zeros(n, np.float64)) is not None
        small = np.zeros(_blas.SGD_MIN_SIZE, np.float32)
        assert _blas.kernels(small) is None and _blas.kernels(small, min_size=_blas.SGD_MIN_SIZE) is not None
        k = _blas.kernels(a32, b32)
        x, y = np.arange(n, dtype=np.float32), np.ones(n, np.float32)
        k.axpby(2.0, x, 3.0, y)
        np.testing.assert_array_equal(y, 2 * x + 3)
        k.axpy(-1.0, x, y)
        np.testing.assert_array_equal(y, x + 3)


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", OTHER_CASES, ids=_ids)
def test_adam_and_rmsprop_blas_updates_match_torch(case, dtype, blas_calls):
    name, kw = case
    _assert_matches_torch(name, kw, dtype)
    assert blas_calls == [BIG[0] * BIG[1]] * STEPS


@needs_blas
@pytest.mark.parametrize("case", OTHER_CASES, ids=_ids)
def test_adam_and_rmsprop_blas_updates_of_small_parameters_match_torch(case, blas_calls, monkeypatch):
    monkeypatch.setattr(_blas, "MIN_SIZE", 1)
    name, kw = case
    _assert_matches_torch(name, kw, np.float64, shapes=[(4, 3), (3,), (2, 2, 2)], steps=30)
    assert len(blas_calls) == 3 * 30


@needs_blas
@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("case", [OTHER_CASES[1], OTHER_CASES[6], OTHER_CASES[11]], ids=_ids)
def test_adam_and_rmsprop_blas_updates_on_one_thread_or_split_match_torch(case, workers, blas_calls, monkeypatch):
    chunks = _record_chunks(monkeypatch, workers)
    name, kw = case
    _assert_matches_torch(name, kw, np.float32, steps=6)
    assert len(blas_calls) == 6
    assert (max(chunks) == 3) if workers == 3 else not chunks


@needs_blas
@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_eps_in_sqrt_blas_update_matches_numpys(centered, monkeypatch):
    # nerve's own option (Keras's formula): PyTorch has no counterpart, so against nerve's NumPy code
    kw = dict(lr=0.01, momentum=0.5, centered=centered, eps_in_sqrt=True, eps=1e-3)
    weights, grads = _data(np.float64, steps=8)
    with_blas, _ = _train(nerve, "RMSprop", kw, weights, grads)
    monkeypatch.setattr(_blas, "_kernels", {})
    without, _ = _train(nerve, "RMSprop", kw, weights, grads)
    for a, b in zip(with_blas, without):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [OTHER_CASES[1], OTHER_CASES[6], OTHER_CASES[11]], ids=_ids)
def test_adam_and_rmsprop_without_blas_kernels_take_numpys_code(case, blas_calls, monkeypatch):
    monkeypatch.setattr(_blas, "_kernels", {})
    name, kw = case
    _assert_matches_torch(name, kw, np.float32, steps=6)
    assert not blas_calls


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # 0 * inf, on worker threads
@pytest.mark.parametrize("case", [("Adam", dict(lr=0.0)), ("Adam", dict(lr=0.01, betas=(0.0, 0.9))),
                                  ("AdamW", dict(lr=1.0, weight_decay=1.0)), ("RMSprop", dict(lr=0.0)),
                                  ("RMSprop", dict(lr=0.01, alpha=0.0))], ids=_ids)
def test_adam_and_rmsprop_with_a_zero_factor_keep_numpys_nan_rules(case, blas_calls):
    name, kw = case
    weights, grads = _data(np.float64, steps=3)
    grads = [[g.copy() for g in gs] for gs in grads]
    grads[1][0][0, 0] = np.inf
    ours, _ = _train(nerve, name, kw, weights, grads)
    theirs, _ = _train(torch, name, kw, weights, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert not blas_calls


@needs_blas
def test_blas_steps_allocate_no_arrays(monkeypatch):
    from test_optim import bytes_allocated_by_steps

    monkeypatch.setattr(_blas, "MIN_SIZE", 1)
    rng = np.random.default_rng(3)
    for name, kw in [("SGD", SGD_CASES[6]), ("SGD", SGD_CASES[9])] + OTHER_CASES:
        extra = bytes_allocated_by_steps(name, kw, rng)
        assert extra < 4096, (name, kw, extra)
