"""nerve.backend.scatter_add on NumPy: its faster ways (flat offsets, one-hot product) against
np.add.at, the cases it hands back to np.add.at, and the gradients built on it against torch."""

import numpy as np
import pytest

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import backend
from nerve.backend import scatter_add

TOL = {np.float32: dict(rtol=1e-5, atol=2e-4), np.float64: dict(rtol=1e-12, atol=1e-11)}


def _reference(target, index, values):
    """np.add.at on a copy, the values broadcast first (see test_numpy_add_at_broadcast_bug)."""
    out = np.array(target, copy=True)
    np.add.at(out, index, np.broadcast_to(values, out[index].shape))
    return out


def _fast(target, index, values):
    """scatter_add on a copy, asserting that it took a fast way rather than np.add.at."""
    out = np.array(target, copy=True)
    assert backend._scatter_add_fast(out, index, values)
    return out


@pytest.fixture
def no_one_hot(monkeypatch):
    monkeypatch.setattr(backend, "_ONE_HOT_ROWS", (0, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64, np.uint16])
@pytest.mark.parametrize("shape,n", [((100, 64), 4096), ((1000, 3), 700), ((7, 5, 3), 2000), ((300,), (40, 60))])
def test_rows_match_add_at_exactly(no_one_hot, dtype, idx_dtype, shape, n):
    """One index array on the first axis, many repeats (and negative entries): the flat offsets
    add the same numbers in the same order as np.add.at, so the result is bit for bit equal."""
    rng = np.random.default_rng(0)
    v = shape[0]
    lo = 0 if np.dtype(idx_dtype).kind == "u" else -v
    idx = rng.integers(lo, v, n).astype(idx_dtype)
    target = rng.standard_normal(shape).astype(dtype)
    values = rng.standard_normal(idx.shape + shape[1:]).astype(dtype)
    np.testing.assert_array_equal(_fast(target, idx, values), _reference(target, idx, values))


@pytest.fixture
def one_hot_calls(monkeypatch):
    """How many times the one-hot product was used."""
    calls = []

    def spy(*args):
        done = one_hot(*args)
        calls.append(done)
        return done

    one_hot = backend._scatter_add_one_hot
    monkeypatch.setattr(backend, "_scatter_add_one_hot", spy)
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,width", [(1, 64), (5, 4), (16, 8), (32, 16), (10, (4, 6))])
def test_few_rows_one_hot_matches_add_at(one_hot_calls, dtype, rows, width):
    """Few rows: the one-hot product, equal up to float rounding; rows the index misses are
    left alone, a -0.0 included."""
    rng = np.random.default_rng(1)
    width = width if isinstance(width, tuple) else (width,)
    idx = rng.integers(-rows, rows, 3000)
    idx[(idx == 0) | (idx == -rows)] = 1 if rows > 1 else 0  # row 0 missed where there are others
    target = rng.standard_normal((rows,) + width).astype(dtype)
    target[0] = -0.0
    values = rng.standard_normal(idx.shape + width).astype(dtype)
    got = _fast(target, idx, values)
    assert one_hot_calls == [True]
    # against the sums in float64: float32 sums of ~3000 numbers differ from np.add.at's in
    # the last digits (it adds them one by one, the product in blocks)
    exact = _reference(target.astype(np.float64), idx, values.astype(np.float64))
    np.testing.assert_allclose(got, exact, **TOL[dtype])
    if rows > 1:
        assert np.signbit(got[0]).all()


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_one_hot_with_inf_or_nan_values(one_hot_calls, bad):
    """An inf or nan among the values would reach every row through the one-hot product's
    zeros; the flat offsets are used then, so only its own row gets it."""
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 8, 1000)
    values = rng.standard_normal((1000, 16))
    values[7, 3] = bad
    target = np.zeros((8, 16))
    got = _fast(target, idx, values)
    assert one_hot_calls == [False]
    np.testing.assert_array_equal(got, _reference(target, idx, values))
    assert np.isfinite(np.delete(got, idx[7], axis=0)).all()


def test_tuples_of_arrays_and_leading_slices():
    """A cross-entropy-like pick, gather's coordinate grids, index_add's leading slices, an int
    among the arrays, broadcast index arrays: exactly np.add.at's result."""
    rng = np.random.default_rng(3)
    t2, t3 = rng.standard_normal((4096, 40)), rng.standard_normal((16, 12, 50))
    y = rng.integers(-40, 40, 4096)
    grids = (np.arange(16)[:, None, None], np.arange(12)[None, :, None], rng.integers(0, 50, (16, 12, 30)))
    cases = [
        (t2, (np.arange(4096), y), rng.standard_normal(4096)),
        (t3, grids, rng.standard_normal((16, 12, 30))),
        (t3, (slice(None), rng.integers(-12, 12, 40)), rng.standard_normal((16, 40, 50))),
        (t3, (slice(None), slice(None), rng.integers(0, 50, 300)), rng.standard_normal((16, 12, 300))),
        (t3, (3, rng.integers(0, 12, (10, 30))), rng.standard_normal((10, 30, 50))),
        (t3, (np.arange(16)[:, None], rng.integers(0, 12, (1, 200))), rng.standard_normal(50)),  # values broadcast
        (t2, (rng.integers(0, 4096, 3000),), rng.standard_normal((3000, 40))),  # a 1-tuple
    ]
    for target, index, values in cases:
        np.testing.assert_array_equal(_fast(target, index, values), _reference(target, index, values))


def test_strided_targets_and_values(no_one_hot):
    """A transposed view (pad's backward scatters into one), a strided slice and non-contiguous
    or broadcast values: written through the view, nothing else touched."""
    rng = np.random.default_rng(4)
    idx = rng.integers(-36, 36, 50)
    values = np.asfortranarray(rng.standard_normal((50, 8, 6)))
    base = np.zeros((8, 6, 36))
    view = np.moveaxis(base, 2, 0)
    want = _reference(view, idx, values)
    scatter_add(np, view, idx, values)
    np.testing.assert_array_equal(view, want)

    big = np.zeros((400, 20))
    view = big[::2, ::2]
    values = rng.standard_normal((10, 3000)).T
    idx = rng.integers(0, 200, 3000)
    want = _reference(view, idx, values)
    scatter_add(np, view, idx, values)
    np.testing.assert_array_equal(view, want)
    assert not big[1::2].any() and not big[:, 1::2].any()

    target = np.zeros((50, 40))
    idx = rng.integers(0, 50, 100)
    scatter_add(np, target, idx, np.broadcast_to(np.arange(40.0), (100, 40)))
    np.testing.assert_array_equal(target, _reference(np.zeros((50, 40)), idx, np.arange(40.0)))


def test_integer_and_small_targets():
    """Integer targets (counts) exact; a small update goes to np.add.at unchanged."""
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 30, (200, 20))
    counts = np.zeros((30, 4), np.int64)
    scatter_add(np, counts, idx, np.ones((200, 20, 4), np.int64))
    np.testing.assert_array_equal(counts, np.bincount(idx.ravel(), minlength=30)[:, None].repeat(4, 1))
    small = np.zeros((5, 3))
    assert not backend._scatter_add_fast(small, np.array([0, 1, 1]), np.ones((3, 3)))


def test_cases_left_to_add_at():
    """Empty index, booleans, 0-d target, other slices: np.add.at's result (or nothing)."""
    rng = np.random.default_rng(6)
    target = rng.standard_normal((60, 50))
    cases = [
        (np.array([], np.int64), np.ones((0, 50))),
        (rng.random((60, 50)) > 0.5, 1.0),
        ((slice(1, None), rng.integers(0, 50, 200)), np.ones((59, 200))),
        ((Ellipsis, rng.integers(0, 50, 200)), np.ones((60, 200))),
    ]
    for index, values in cases:
        assert not backend._scatter_add_fast(target.copy(), index, values)
        got = target.copy()
        scatter_add(np, got, index, values)
        want = target.copy()
        np.add.at(want, index, values)
        np.testing.assert_array_equal(got, want)
    zero_d = np.zeros(())
    scatter_add(np, zero_d, (), 2.0)
    assert zero_d == 2.0


def test_errors_as_add_at():
    """Out of range (either side), values that do not broadcast, a read-only target: the same
    error as np.add.at, and the target untouched."""
    target = np.zeros((100, 30))
    idx = np.arange(-100, 100).repeat(20)
    for bad, exc in [(np.append(idx, 100), IndexError), (np.append(idx, -101), IndexError)]:
        with pytest.raises(exc):
            np.add.at(target.copy(), bad, 1.0)
        with pytest.raises(exc):
            scatter_add(np, target, bad, np.ones((bad.size, 30)))
    with pytest.raises(ValueError):
        scatter_add(np, target, idx, np.ones((idx.size, 7)))
    assert not target.any()
    target.flags.writeable = False
    with pytest.raises(ValueError):
        scatter_add(np, target, idx, np.ones((idx.size, 30)))


def test_numpy_add_at_broadcast_bug():
    """np.add.at (NumPy 2.4) adds garbage for a 1-D target, a 2-D index and values of the
    index's last dim; scatter_add broadcasts the values first, small or large."""
    for rows in (3, 2000):
        idx = np.tile(np.array([3, -4, -4, 1]), (rows, 1))
        values = np.array([1.0, 2.0, 3.0, 4.0])
        target = np.zeros(5)
        scatter_add(np, target, idx, values)
        np.testing.assert_array_equal(target, [0, 9 * rows, 0, rows, 0])


# ---------------------------------------------------------------- the gradients built on it


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [10, 300])  # the one-hot product and the flat offsets
def test_embedding_backward_matches_torch(dtype, rows):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((rows, 24)).astype(dtype)
    idx = rng.integers(0, rows, (32, 40))
    g = rng.standard_normal((32, 40, 24)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    for pad in (None, 3):
        e = nn.Embedding(rows, 24, padding_idx=pad).to(getattr(nerve, dtype))
        e.load_state_dict({"weight": w})
        te = torch.nn.Embedding(rows, 24, padding_idx=pad).to(getattr(torch, dtype))
        te.load_state_dict({"weight": torch.tensor(w)})
        (e(nerve.tensor(idx)) * nerve.tensor(g)).sum().backward()
        (te(torch.tensor(idx)) * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(e.weight.grad.numpy(), te.weight.grad.numpy(), **tol)


def test_embedding_refuses_negative_indices_as_torch():
    w = nerve.tensor(np.ones((50, 16)), requires_grad=True)
    with pytest.raises(IndexError, match=r"index -3 is out of range for an embedding with 50 rows \(expected 0 to 49\)"):
        F.embedding(nerve.tensor([[1, -3]]), w)
    with pytest.raises(IndexError, match="index out of range"):
        torch.nn.functional.embedding(torch.tensor([[1, -3]]), torch.ones(50, 16))


@pytest.mark.parametrize("make_index", [
    lambda rng, t: t.tensor(rng.integers(-200, 200, 3000)),  # x[idx], negative entries
    lambda rng, t: t.tensor(rng.integers(0, 200, (40, 50))),  # a 2-D index
    lambda rng, t: (t.arange(200), t.tensor(rng.integers(-30, 30, 200))),  # a pick per row
    lambda rng, t: (slice(None), t.tensor(rng.integers(0, 30, 400))),  # x[:, idx]
])
def test_getitem_backward_matches_torch(make_index):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((200, 30))
    xn, xt = nerve.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn, yt = xn[make_index(np.random.default_rng(1), nerve)], xt[make_index(np.random.default_rng(1), torch)]
    g = rng.standard_normal(tuple(yt.shape))
    (yn * nerve.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_index_add_scatter_add_gather_match_torch():
    rng = np.random.default_rng(10)
    x, src = rng.standard_normal((8, 40, 20)), rng.standard_normal((8, 300, 20))
    idx = rng.integers(0, 40, 300)
    got = nerve.tensor(x).index_add(1, nerve.tensor(idx), nerve.tensor(src), alpha=2)
    want = torch.tensor(x).index_add(1, torch.tensor(idx), torch.tensor(src), alpha=2)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)

    sidx = rng.integers(0, 20, (8, 40, 20))
    got = nerve.tensor(x).scatter_add(2, nerve.tensor(sidx), nerve.tensor(x))
    want = torch.tensor(x).scatter_add(2, torch.tensor(sidx), torch.tensor(x))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)

    xn, xt = nerve.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    gidx = rng.integers(0, 40, (8, 100, 20))
    g = rng.standard_normal((8, 100, 20))
    (xn.gather(1, nerve.tensor(gidx)) * nerve.tensor(g)).sum().backward()
    (xt.gather(1, torch.tensor(gidx)) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("one_hot", [True, False])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_backward_matches_torch(monkeypatch, mode, one_hot):
    """The padding modes scatter into a transposed view of the gradient (24 or 20 rows: the
    one-hot product, or the flat offsets when it is turned off)."""
    if not one_hot:
        monkeypatch.setattr(backend, "_ONE_HOT_ROWS", (0, 0))
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 3, 20, 24))
    xn, xt = nerve.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn, yt = F.pad(xn, (5, 7, 3, 2), mode=mode), torch.nn.functional.pad(xt, (5, 7, 3, 2), mode=mode)
    g = rng.standard_normal(tuple(yt.shape))
    (yn * nerve.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
