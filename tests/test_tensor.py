"""Tensor behaviour as PyTorch's: creation, dtypes and promotion, conversions, in-place ops, autograd rules."""

import warnings

import numpy as np
import pytest
from _torch_compare import compare
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nerve

torch = pytest.importorskip("torch")


def _same_dtype(n, t):
    assert n.dtype.name == str(t.dtype).removeprefix("torch."), (n.dtype, t.dtype)


@pytest.mark.parametrize(
    "data", [[1.0, 2.0], [1, 2], [True, False], 3.5, 7, [[1, 2], [3, 4]], np.array([1.0], np.float64),
             np.array([1, 2], np.int32), np.array([1], np.uint8)],
    ids=str,
)
def test_tensor_infers_dtype_as_torch(data):
    n, t = nerve.tensor(data), torch.tensor(data)
    _same_dtype(n, t)
    assert n.tolist() == t.tolist()


def test_factories_shapes_and_dtypes():
    assert nerve.zeros(2, 3).shape == (2, 3) == nerve.zeros((2, 3)).shape
    assert nerve.ones([4]).dtype is nerve.float32
    assert nerve.full((2,), 7).dtype is nerve.int64
    assert nerve.full((2,), 7.0).dtype is nerve.float32
    assert nerve.full((2,), True).dtype is nerve.bool
    assert nerve.arange(5).dtype is nerve.int64 and nerve.arange(0, 1, 0.25).tolist() == [0, 0.25, 0.5, 0.75]
    assert nerve.linspace(0, 1, 5).tolist() == torch.linspace(0, 1, 5).tolist()
    assert nerve.eye(3).tolist() == torch.eye(3).tolist()
    assert nerve.empty(2, 2).shape == (2, 2)
    assert nerve.randint(0, 10, (100,)).dtype is nerve.int64
    r = nerve.randint(3, 5, (1000,))
    assert r.min().item() == 3 and r.max().item() == 4
    x = nerve.rand(3, 4, dtype=nerve.float64)
    assert nerve.zeros_like(x).dtype is nerve.float64 and nerve.ones_like(x).shape == (3, 4)
    assert nerve.full_like(x, 2.0).sum().item() == 24.0
    assert nerve.randn_like(x).shape == (3, 4) and nerve.rand_like(x).dtype is nerve.float64
    assert sorted(nerve.randperm(10).tolist()) == list(range(10))
    a = np.arange(6.0)
    f = nerve.from_numpy(a)
    a[0] = 100
    assert f[0].item() == 100 and f.dtype is nerve.float64
    assert nerve.float is nerve.float32 and nerve.long is nerve.int64 and nerve.int is nerve.int32


def test_manual_seed_and_generator_reproducible():
    nerve.manual_seed(123)
    a = nerve.randn(5)
    nerve.manual_seed(123)
    b = nerve.randn(5)
    assert a.tolist() == b.tolist()
    g1, g2 = nerve.Generator().manual_seed(7), nerve.Generator().manual_seed(7)
    assert nerve.rand(3, generator=g1).tolist() == nerve.rand(3, generator=g2).tolist()
    c = nerve.rand(1000)
    assert 0.0 <= c.min().item() and c.max().item() < 1.0 and abs(c.mean().item() - 0.5) < 0.05


PROMOTIONS = [
    ("float32", "float64"), ("int64", "float32"), ("int32", "int64"), ("uint8", "int32"), ("bool", "int64"),
    ("bool", "float32"), ("int64", "int64"),
]


@pytest.mark.parametrize("da,db", PROMOTIONS)
def test_type_promotion_tensor_tensor(da, db):
    a = np.ones((2, 2), dtype=np.dtype(da))
    b = np.ones((2,), dtype=np.dtype(db))
    for op in (lambda x, y: x + y, lambda x, y: x * y):
        _same_dtype(op(nerve.tensor(a), nerve.tensor(b)), op(torch.tensor(a), torch.tensor(b)))


@pytest.mark.parametrize("dt", ["float32", "float64", "int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_type_promotion_with_python_scalars(dt, scalar):
    a = np.ones((3,), dtype=np.dtype(dt))
    _same_dtype(nerve.tensor(a) * scalar, torch.tensor(a) * scalar)
    _same_dtype(scalar * nerve.tensor(a), scalar * torch.tensor(a))
    if dt != "bool":
        _same_dtype(nerve.tensor(a) + scalar, torch.tensor(a) + scalar)
        _same_dtype(scalar + nerve.tensor(a), scalar + torch.tensor(a))
    if dt != "bool" and not isinstance(scalar, bool):  # torch refuses subtracting a bool
        _same_dtype(nerve.tensor(a) - scalar, torch.tensor(a) - scalar)
        _same_dtype(scalar - nerve.tensor(a), scalar - torch.tensor(a))
    _same_dtype(nerve.tensor(a) / 2, torch.tensor(a) / 2)


def test_zero_dim_tensor_does_not_promote_dimensioned_tensor():
    a = nerve.ones(3)
    b = nerve.tensor(2.0, dtype=nerve.float64)
    assert (a * b).dtype is nerve.float32
    assert (nerve.ones(3, dtype=nerve.int64) * b).dtype is nerve.float64


def test_attributes_and_conversions():
    x = nerve.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert x.ndim == 2 and x.dim() == 2 and x.size() == (2, 2) and x.size(1) == 2 and x.size(-1) == 2
    assert x.numel() == 4 and len(x) == 2 and repr(x.shape) == "nerve.Size([2, 2])"
    assert x.device == "cpu" and x.device == nerve.device("cpu") and str(x.device) == "cpu"
    assert x.long().dtype is nerve.int64 and x.long().tolist() == [[1, 2], [3, 4]]
    assert x.int().dtype is nerve.int32 and x.double().dtype is nerve.float64 and x.bool().dtype is nerve.bool
    assert x.to(nerve.float64).dtype is nerve.float64 and x.to("cpu") is x
    assert x.type() == "nerve.FloatTensor" and x.type(nerve.long).dtype is nerve.int64
    assert x.to(dtype=nerve.int64).float().dtype is nerve.float32
    assert x[0, 0].item() == 1.5 and isinstance(x.sum().item(), float)
    assert x.numpy().dtype == np.float32 and x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    y = x.detach()
    y[0, 0] = 9.0
    assert x[0, 0].item() == 9.0  # detach shares storage
    z = x.clone()
    z[0, 0] = 0.0
    assert x[0, 0].item() == 9.0
    assert x.view_as(nerve.zeros(4)).shape == (4,) and nerve.ones(1, 2).expand_as(x).shape == (2, 2)
    assert x.contiguous().is_contiguous() and x.T.contiguous().is_contiguous()
    assert f"{x.sum():.2f}" == "18.00"
    assert float(nerve.tensor(2.5)) == 2.5 and int(nerve.tensor(3)) == 3


def test_repr_like_torch():
    assert repr(nerve.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
    assert repr(nerve.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(nerve.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    assert repr(nerve.tensor([1.0], dtype=nerve.float64)) == "tensor([1.], dtype=nerve.float64)"


def test_numpy_on_requires_grad_is_refused_with_hint():
    x = nerve.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()


def test_inplace_ops_and_leaf_rules():
    x = nerve.ones(3)
    x += 1
    x.add_(2, alpha=2).mul_(0.5).sub_(nerve.ones(3)).div_(2)
    assert x.tolist() == torch.ones(3).add_(1).add_(2, alpha=2).mul_(0.5).sub_(torch.ones(3)).div_(2).tolist()
    x.zero_()
    assert x.sum().item() == 0
    x.fill_(3.0)
    x.copy_(nerve.tensor([1.0, 2.0, 3.0]))
    assert x.tolist() == [1.0, 2.0, 3.0]
    w = nerve.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w += 1
    with nerve.no_grad():
        w -= 0.5 * nerve.ones(3)  # a hand-written SGD step
    assert w.tolist() == [0.5, 0.5, 0.5] and w.requires_grad and w.is_leaf
    i = nerve.ones(3, dtype=nerve.int64)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i += 0.5


def test_inplace_on_nonleaf_is_differentiable_like_torch():
    def prog(lib):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = a * 2
        c = b + 1  # uses b before the in-place change
        b.add_(1)
        b.mul_(a)
        (b.sum() + c.sum()).backward()
        return a.grad.tolist()

    assert prog(nerve) == prog(torch)


def test_item_assignment_and_views():
    x = nerve.zeros(3, 4)
    x[1] = 5.0
    x[:, 0] = nerve.tensor([1.0, 2.0, 3.0])
    x[x > 4] = -1.0
    t = torch.zeros(3, 4)
    t[1] = 5.0
    t[:, 0] = torch.tensor([1.0, 2.0, 3.0])
    t[t > 4] = -1.0
    assert x.tolist() == t.tolist()
    row = x[2]
    row.fill_(7.0)  # basic indexing gives a view, as in torch
    assert x[2].tolist() == [7.0] * 4


def test_comparisons_and_method_forms():
    a, b = nerve.tensor([1, 2, 3]), nerve.tensor([3, 2, 1])
    assert (a == b).tolist() == [False, True, False] and a.eq(b).tolist() == [False, True, False]
    assert a.ne(b).tolist() == [True, False, True] and a.lt(b).tolist() == [True, False, False]
    assert (a <= 2).tolist() == [True, True, False] and a.ge(b).tolist() == [False, True, True]
    assert (a > b).dtype is nerve.bool and a.gt(1).sum().item() == 2
    pred = nerve.tensor([[0.1, 0.9], [0.8, 0.2]]).argmax(1)
    assert (pred == nerve.tensor([1, 0])).type(nerve.float).sum().item() == 2.0


def test_backward_rules():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*\(2,\)"):
        y.backward()
    y.backward(nerve.ones(2))
    assert x.grad.tolist() == [3.0, 3.0]
    (x * 3).sum().backward()  # gradients accumulate
    assert x.grad.tolist() == [6.0, 6.0]
    x.grad = None
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    w = (x * x).sum()
    w.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        w.backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        nerve.ones(2).sum().backward()


def test_no_grad_context_decorator_and_set_grad_enabled():
    x = nerve.ones(2, requires_grad=True)
    with nerve.no_grad():
        assert not (x * 2).requires_grad
        with nerve.enable_grad():
            assert (x * 2).requires_grad

    @nerve.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and (x * 2).requires_grad
    nerve.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    nerve.set_grad_enabled(True)
    with nerve.set_grad_enabled(False):
        assert not nerve.is_grad_enabled()
    assert nerve.is_grad_enabled()
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    r = nerve.zeros(2).requires_grad_()
    assert r.requires_grad and r.is_leaf


def test_deep_graph_backward_is_iterative():
    x = nerve.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 5000, rtol=1e-3)


def test_backward_visits_an_op_after_all_its_users():
    # a is used by c and by d, and d is made after c: backward must sum both paths into a's
    # gradient before running a's own backward, and call a's hook once, with the sum
    x = nerve.tensor([1.0, -2.0, 3.0], requires_grad=True)
    seen = []
    a = x * 2
    a.register_hook(lambda g: seen.append(g.tolist()))
    b = x * 3
    c = a + b
    d = a * c  # = 2x * 5x = 10 x^2
    e = nerve.tensor([0.5, 0.5, 0.5], requires_grad=True) * 4  # a branch backward never reaches
    (d.sum() + 0 * e.detach().sum()).backward()
    assert x.grad.tolist() == [20.0, -40.0, 60.0]
    assert seen == [(c + a).tolist()]  # dd/da = c + a, once
    assert e.grad_fn.parents is not None  # not visited, so not freed


def test_hooks_and_retain_grad():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    y = x * 2
    y.retain_grad()
    y.sum().backward()
    assert x.grad.tolist() == [20.0, 20.0] and y.grad.tolist() == [1.0, 1.0]


def test_devices_mixing_is_an_error(monkeypatch):
    assert nerve.cuda.is_available() in (True, False)
    if not nerve.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            nerve.zeros(2, device="cuda")
        assert nerve.accelerator.current_accelerator() is None and not nerve.accelerator.is_available()
        return
    a, b = nerve.zeros(2), nerve.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        a + b


def test_cuda_roundtrip_and_grad(device):
    x = nerve.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = (x.cpu() * 2).to(device)
    assert y.device == device
    (y * y).sum().backward()
    assert x.grad.device == device and x.grad.cpu().tolist() == [8.0, 16.0, 24.0]


def test_reductions_int_and_bool_like_torch():
    a = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    n, t = nerve.tensor(a), torch.tensor(a)
    _same_dtype(n.sum(), t.sum())
    _same_dtype((n > 2).sum(), (t > 2).sum())
    assert n.sum(1).tolist() == t.sum(1).tolist() and n.argmax().item() == t.argmax().item()
    assert n.argmin(dim=1).tolist() == t.argmin(dim=1).tolist()
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        n.mean()
    assert n.float().mean().item() == 3.5
    assert n.max(dim=0).indices.tolist() == [1, 1, 1]


def test_split_chunk_stack_cat_shapes():
    x = nerve.arange(10).reshape(5, 2)
    assert [p.shape[0] for p in x.split(2)] == [2, 2, 1]
    assert [p.shape[0] for p in x.chunk(3)] == [2, 2, 1]
    assert [p.shape[0] for p in nerve.split(x, [1, 4])] == [1, 4]
    assert nerve.stack([x, x], dim=2).shape == (5, 2, 2)
    assert nerve.cat([x, x], dim=1).shape == (5, 4)
    with pytest.raises(RuntimeError, match="sizes of tensors must match except in dimension 0"):
        nerve.cat([nerve.zeros(2, 3), nerve.zeros(2, 4)])


# ---------------------------------------------------------------- property-based


@settings(max_examples=60, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4))
def test_broadcasting_matches_torch_property(shapes):
    a_shape, b_shape = shapes.input_shapes
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    na, nb = nerve.tensor(a, requires_grad=True), nerve.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (na * nb + na).sum().backward()
    (ta * tb + ta).sum().backward()
    np.testing.assert_allclose(na.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(nb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
               elements=st.floats(-10, 10)),
    st.data(),
)
def test_reductions_match_torch_property(a, data):
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    keep = data.draw(st.booleans())
    n, t = nerve.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    outs_n = [n.sum(dim, keep), n.mean(dim, keep), n.amax(dim, keep), n.logsumexp(dim, keep)]
    outs_t = [t.sum(dim, keep), t.mean(dim, keep), t.amax(dim, keep), t.logsumexp(dim, keep)]
    for on, ot in zip(outs_n, outs_t):
        np.testing.assert_allclose(on.detach().numpy(), ot.detach().numpy(), rtol=1e-10, atol=1e-12)
    sum(o.sum() for o in outs_n).backward()
    sum(o.sum() for o in outs_t).backward()
    np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_indexing_matches_torch_property(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    idx = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    parts = idx if isinstance(idx, tuple) else (idx,)
    assume(not any(isinstance(p, slice) and p.step is not None and p.step < 0 for p in parts))  # torch has none
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    n, t = nerve.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    on, ot = n[idx], t[idx]
    np.testing.assert_array_equal(on.detach().numpy(), ot.detach().numpy())
    (on * 2).sum().backward()
    (ot * 2).sum().backward()
    np.testing.assert_array_equal(n.grad.numpy(), t.grad.numpy())
    rows = data.draw(hnp.arrays(np.int64, st.integers(1, 6), elements=st.integers(-shape[0], shape[0] - 1)))
    n.grad = None
    t.grad = None
    n[nerve.tensor(rows)].sum().backward()
    t[torch.tensor(rows)].sum().backward()
    np.testing.assert_array_equal(n.grad.numpy(), t.grad.numpy())


def test_set_num_threads_reaches_numpys_blas():
    before = nerve.get_num_threads()
    try:
        nerve.set_num_threads(1)
        assert nerve.get_num_threads() == 1
    finally:
        nerve.set_num_threads(before)
    assert nerve.get_num_threads() == before
    with pytest.raises(ValueError, match="positive"):
        nerve.set_num_threads(0)


@pytest.mark.parametrize("dt", ["uint8", "int64", "float32"])
def test_argmax_argmin_match_torch(dt):
    a = np.array([[3, 0, 7, 0], [200, 5, 5, 1]]).astype(dt)
    n, t = nerve.tensor(a), torch.tensor(a)
    for dim in (None, 0, 1):
        for keep in (False, True):
            if dim is None and keep:
                continue
            assert n.argmax(dim, keep).tolist() == t.argmax(dim, keep).tolist()
            assert n.argmin(dim, keep).tolist() == t.argmin(dim, keep).tolist()


def test_index_out_of_range_is_an_index_error_like_torch():
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        nerve.zeros(3)[5]
    with pytest.raises(IndexError):
        torch.zeros(3)[5]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_logsumexp_rows_far_apart_and_infinite(dim):
    # a global shift would underflow the low rows and overflow nothing: each slice must still be exact
    a = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1002.0], [0.0, -np.inf, 1.0],
                  [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0]], dtype=np.float32)
    n = nerve.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    yn, yt = n.logsumexp(dim), t.logsumexp(dim)
    np.testing.assert_allclose(yn.detach().numpy(), yt.detach().numpy(), rtol=1e-6)
    finite = np.isfinite(yt.detach().numpy())
    w = np.where(finite, 1.0, 0.0).astype(np.float32)
    (yn * nerve.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 5, 4), (64, 784, 128), (300, 64, 200), (17, 4000, 40), (4, 3000, 6)])  # the last two split K
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_gemm_on_nerves_threads_equals_numpy_and_leaves_blas_alone(monkeypatch, shape, workers):
    from nerve import _threads

    monkeypatch.setattr(_threads, "WORKERS", workers)
    monkeypatch.setattr(_threads, "_SPLIT_MACS", 1000)  # split all but the smallest here
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    before = nerve.get_num_threads()
    for x, y in ((a, b), (np.asfortranarray(a), np.asfortranarray(b))):  # row-major and transposed views
        got = _threads.gemm(x, y)
        np.testing.assert_allclose(got, x @ y, rtol=1e-5, atol=1e-4)
        assert got.shape == (m, n) and got.dtype == np.float32
    assert nerve.get_num_threads() == before  # BLAS's own setting is put back
    # the ops that use it: matmul and linear, forward and backward, against torch
    an, bn = nerve.tensor(a, requires_grad=True), nerve.tensor(b, requires_grad=True)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (an @ bn).sum().backward()
    (at @ bt).sum().backward()
    np.testing.assert_allclose(an.grad.numpy(), at.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(bn.grad.numpy(), bt.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("shape,perm", [((64, 32, 26, 26), None), ((64, 64, 24, 24), (1, 0, 2, 3)),
                                        ((3, 1000, 700), None), ((2048, 1025), None)])
def test_relu_of_big_and_channel_major_arrays_matches_torch(shape, perm):
    # big arrays split over nerve's threads; a channel-major view keeps its layout
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(np.float32)
    a[(0,) * len(shape)] = np.nan
    if perm:
        a = np.ascontiguousarray(a.transpose(perm)).transpose(np.argsort(perm))
    g = rng.standard_normal(shape).astype(np.float32)
    n, t = nerve.from_numpy(a).requires_grad_(), torch.tensor(a, requires_grad=True)
    assert n._data.strides == a.strides
    yn, yt = n.relu(), t.relu()
    np.testing.assert_array_equal(yn.detach().numpy(), yt.detach().numpy())
    assert yn.detach().numpy().strides == np.empty_like(a).strides  # the input's memory order
    yn.backward(nerve.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(n.grad.numpy(), t.grad.numpy())  # the NaN input passes its gradient, as in torch


def test_binary_ops_outside_the_graph_skip_the_op_but_keep_its_errors():
    a, b = nerve.tensor([[1.0, 2.0], [3.0, 4.0]]), nerve.tensor([10.0, 20.0])
    for op, want in ((lambda x, y: x + y, [[11, 22], [13, 24]]), (lambda x, y: x - y, [[-9, -18], [-7, -16]]),
                     (lambda x, y: x * y, [[10, 40], [30, 80]])):
        out = op(a, b)
        assert out.tolist() == want and out.dtype == nerve.float32 and out.grad_fn is None and not out.requires_grad
    w = nerve.ones(2, requires_grad=True)
    assert (a * w).grad_fn is not None  # one side records: the op runs
    with nerve.no_grad():
        assert (a * w).grad_fn is None
    with pytest.raises(RuntimeError, match=r"add: shapes \(2, 2\) and \(3,\) cannot be broadcast"):
        a + nerve.ones(3)


def test_zero_dim_results_are_arrays_that_take_in_place_ops():
    # NumPy returns scalars for 0-d results; a tensor keeps a 0-d array, so in-place ops and
    # .numpy() work on a loss total or a sum as they do in torch
    for make in (lambda: nerve.ones(3).sum(), lambda: nerve.tensor(1.0) + nerve.tensor(2.0),
                 lambda: nerve.ones(3) @ nerve.ones(3), lambda: -nerve.tensor(3.0), lambda: nerve.tensor(2.0) * 1.5):
        t = make()
        want = t.item()
        t += 1
        t.mul_(2.0)
        assert t.item() == (want + 1) * 2
        assert isinstance(t.numpy(), np.ndarray) and t.numpy().shape == ()
        t.fill_(7.0)
        t[()] = 5.0
        assert t.item() == 5.0
    total = nerve.zeros(())
    for v in (nerve.tensor([1.0, 2.0]).sum(), nerve.tensor([3.0]).sum()):
        total += v
    assert total.item() == 6.0


@pytest.mark.parametrize("a, b", [([3, -4, 7, -7], 2), ([3, -4, 7, -7], -2), ([3.5, -4.5, 7.0, -7.25], 2.0),
                                  ([3, -4], 2.5), ([3, -4], [2, 3]), ([[5.0, -5.0]], [[-2.0, 2.0]])])
@pytest.mark.parametrize("mode", ["floor", "trunc", None])
def test_div_rounding_modes_match_torch(a, b, mode):
    t = torch.div(torch.tensor(a), torch.tensor(b) if isinstance(b, list) else b, rounding_mode=mode)
    n = nerve.div(nerve.tensor(a), nerve.tensor(b) if isinstance(b, list) else b, rounding_mode=mode)
    assert n.tolist() == t.tolist() and str(n.dtype) == str(t.dtype).replace("torch", "nerve")
    x, y = nerve.tensor(a), torch.tensor(a)
    if t.dtype != y.dtype:  # an int tensor given a float quotient in place: an error in both
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
            x.div_(nerve.tensor(b) if isinstance(b, list) else b, rounding_mode=mode)
        return
    x.div_(nerve.tensor(b) if isinstance(b, list) else b, rounding_mode=mode)
    assert x.tolist() == y.div_(torch.tensor(b) if isinstance(b, list) else b, rounding_mode=mode).tolist()


def test_div_rounding_mode_errors():
    with pytest.raises(ValueError, match="rounding_mode to be one of None, 'trunc', or 'floor'"):
        nerve.tensor([1, 2]).div(2, rounding_mode="round")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        nerve.tensor([1, 2]).div(0, rounding_mode="floor")


def test_bare_no_grad_decorator_and_backends_flags():
    x = nerve.ones(2, requires_grad=True)

    @nerve.no_grad
    def f(t):
        return t * 2

    @nerve.enable_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and f.__name__ == "f"
    with nerve.no_grad():
        assert g(x).requires_grad
    with pytest.raises(TypeError, match="no_grad"):
        nerve.no_grad(3)


@pytest.mark.parametrize("lib", ["nerve", "torch"])
def test_inference_mode_takes_its_mode_as_torch(lib):
    lib = nerve if lib == "nerve" else pytest.importorskip("torch")
    x = lib.ones(2, requires_grad=True)
    with lib.inference_mode():
        assert not (x * 2).requires_grad and lib.is_inference_mode_enabled()
        with lib.inference_mode(False):
            assert (x * 2).requires_grad and not lib.is_inference_mode_enabled()
        assert lib.is_inference_mode_enabled()
    assert not lib.is_inference_mode_enabled()
    with lib.inference_mode(False):
        assert (x * 2).requires_grad
    with lib.no_grad(), lib.inference_mode(mode=False):
        assert (x * 2).requires_grad  # it turns recording on

    @lib.inference_mode
    def bare(t):
        return t * 2

    @lib.inference_mode(False)
    def off(t):
        return t * 2

    @lib.inference_mode()
    def on(t):
        return t * 2

    assert not bare(x).requires_grad and off(x).requires_grad and not on(x).requires_grad
    assert bare.__name__ == "bare" and lib.is_grad_enabled()
    # the start-up lines of many PyTorch scripts
    nerve.backends.cudnn.deterministic = True
    nerve.backends.cudnn.benchmark = False
    assert nerve.backends.cudnn.deterministic and not nerve.backends.mps.is_available()
    assert nerve.backends.cudnn.is_available() == nerve.cuda.is_available()


def _in_place_through_views(lib):
    """In-place ops on views of tensors (in the graph or not): values and gradients."""
    out = {}
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y[:2].mul_(3)
    y.sum().backward()
    out["slice"] = (y.tolist(), x.grad.tolist())
    x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = x * 1
    y[0][1] = 0  # chained indexing
    y[:, 2].zero_()
    y.view(-1)[0] = 10
    y.t().mul_(2)
    (y * y).sum().backward()
    out["views of views"] = (y.tolist(), x.grad.tolist())
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x + 0
    v = y.reshape(4)
    v.add_(1)
    v.mul_(2)  # the view stays a view after an in-place op
    seen = v.tolist()
    y.reshape(2, 2)[1].clamp_(max=9.5)
    y.sum().backward()
    out["reshape"] = (y.tolist(), seen, x.grad.tolist())
    w = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    z = lib.zeros(2, 2)
    z.view(-1).add_(w)  # a base outside the graph joins it
    h = lib.ones(3, requires_grad=True) * 2
    buf = lib.zeros(2, 3)
    buf[1].copy_(h)
    ((z * 3).sum() + (buf * buf).sum()).backward()
    out["plain base"] = (z.tolist(), z.requires_grad, buf.tolist(), w.grad.tolist())
    x = lib.tensor([1.0, 2.0, 3.0])
    x[0].add_(10)  # an element of a 1-D tensor is a view too
    out["element"] = x.tolist()
    return out


def test_in_place_ops_on_views_reach_the_base_as_in_torch():
    want, got = _in_place_through_views(torch), _in_place_through_views(nerve)
    for key in want:
        assert got[key] == want[key], key
    m = nerve.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        m[:, 0].zero_()
    with nerve.no_grad():
        m[:, 0].zero_()  # allowed, as in torch
    assert m.tolist() == [[0.0, 1.0], [0.0, 1.0]]


@pytest.mark.parametrize("name, args", [("tril", (0,)), ("tril", (1,)), ("triu", (-1,)), ("triu", (0,)),
                                        ("roll", (1, 0)), ("roll", ((2, -1), (0, 1))), ("roll", (5,)),
                                        ("repeat_interleave", (2, 1)), ("repeat_interleave", (3,)),
                                        ("tile", ((2, 1, 2),))])
def test_shape_functions_match_torch_with_gradients(name, args, device):
    a = np.random.default_rng(3).standard_normal((3, 4))
    compare(torch, lambda t: getattr(t, name)(*args), lambda t: getattr(t, name)(*args), [a], [True], device)
    assert getattr(nerve, name)(nerve.tensor(a), *args).tolist() == getattr(torch, name)(torch.tensor(a), *args).tolist()


def test_repeat_interleave_with_counts_and_stable_sort():
    counts = [1, 0, 2]
    n = nerve.tensor([[1, 2], [3, 4], [5, 6]]).repeat_interleave(nerve.tensor(counts), dim=0)
    assert n.tolist() == torch.tensor([[1, 2], [3, 4], [5, 6]]).repeat_interleave(torch.tensor(counts), dim=0).tolist()
    with pytest.raises(RuntimeError, match="repeats must have the same size as input along dim"):
        nerve.tensor([1, 2]).repeat_interleave(nerve.tensor([1, 2, 3]))
    v = nerve.tensor([2, 1, 2, 1]).sort(stable=True, descending=True)
    assert v.indices.tolist() == torch.tensor([2, 1, 2, 1]).sort(stable=True, descending=True).indices.tolist()


def test_finfo_and_iinfo_match_torch():
    for d in ("float16", "float32", "float64"):
        n, t = nerve.finfo(getattr(nerve, d)), torch.finfo(getattr(torch, d))
        assert (n.eps, n.max, n.min, n.tiny, n.resolution, n.bits) == (t.eps, t.max, t.min, t.tiny, t.resolution, t.bits)
    assert nerve.finfo().eps == torch.finfo().eps
    for d in ("uint8", "int16", "int32", "int64"):
        n, t = nerve.iinfo(getattr(nerve, d)), torch.iinfo(getattr(torch, d))
        assert (n.max, n.min, n.bits) == (t.max, t.min, t.bits)
    with pytest.raises(TypeError, match="floating point"):
        nerve.finfo(nerve.int64)


def test_autograd_grad_returns_gradients_and_leaves_grad_alone():
    res = {}
    for lib in (torch, nerve):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        h = x * w
        y = (h * h).sum()
        gx, gh = lib.autograd.grad(y, [x, h], retain_graph=True)
        (g2,) = lib.autograd.grad([y, (x.exp()).sum()], x)  # several outputs: their gradients add up
        (g3,) = lib.autograd.grad(x * w, w, grad_outputs=lib.ones(3))
        b = lib.tensor([1.0, 2.0], requires_grad=True)
        (g4,) = lib.autograd.grad((lib.ones(3, 2) + b).sum(), b)  # broadcast: summed to b's shape
        unused = lib.autograd.grad((x * 2).sum(), [x, lib.ones(2, requires_grad=True)], allow_unused=True)[1]
        res[lib.__name__] = [gx.tolist(), gh.tolist(), np.round(g2.tolist(), 5).tolist(), g3.tolist(), g4.tolist(),
                             unused, x.grad, w.grad]
    assert res["nerve"] == res["torch"]
    x = nerve.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        nerve.autograd.grad((x * 2).sum(), [x, nerve.ones(2, requires_grad=True)])
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        nerve.autograd.grad(x * 2, x)
    # create_graph=True records the gradient's own graph (tests/test_higher_order.py has the rest)
    (g,) = nerve.autograd.grad((x * x * 2).sum(), x, create_graph=True)
    assert g.grad_fn is not None and g.tolist() == [4.0, 4.0, 4.0]
    assert nerve.autograd.grad(g.sum(), x)[0].tolist() == [4.0, 4.0, 4.0]


def _tutorial_custom_function(lib):
    """PyTorch's "Learning PyTorch with Examples" custom autograd Function, 30 steps."""

    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k, ctx.seen = k, ctx.needs_input_grad
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = lib.linspace(-3.0, 3.0, 20)
    y = lib.sin(x)
    a, b, c, d = (lib.tensor(v, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3))
    for _ in range(30):
        loss = (a + b * LegendrePolynomial3.apply(c + d * x) - y).pow(2).sum()
        loss.backward()
        with lib.no_grad():
            for p in (a, b, c, d):
                p -= 5e-6 * p.grad
                p.grad = None
    z = lib.tensor([1.0, 2.0], requires_grad=True)
    out = Scale.apply(z, 3.0)
    out.sum().backward()
    return [round(v.item(), 6) + 0.0 for v in (a, b, c, d)], z.grad.tolist(), out.requires_grad


def test_pytorch_style_custom_functions_match_torch():
    assert _tutorial_custom_function(nerve) == _tutorial_custom_function(torch)

    class Bad(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            return x * w

        @staticmethod
        def backward(ctx, g):
            return g  # one gradient for two inputs

    x, w = nerve.ones(2, requires_grad=True), nerve.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned an incorrect number of gradients"):
        Bad.apply(x, w).sum().backward()
    with nerve.no_grad():
        assert Bad.apply(x, w).grad_fn is None


@pytest.mark.parametrize("fn", ["exp", "sqrt", "isnan", "negative", "sign"])
@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept:DeprecationWarning")
def test_numpy_ufuncs_on_tensors_give_tensors_as_torch(fn):
    data = np.array([[0.5, 2.0], [3.0, 0.25]], np.float32)
    n = getattr(np, fn)(nerve.tensor(data))
    t = getattr(np, fn)(torch.tensor(data))
    assert isinstance(n, nerve.Tensor) and isinstance(t, torch.Tensor)
    if fn == "isnan":  # torch's wrapper turns NumPy's bool result into uint8; nerve keeps bool
        assert n.dtype is nerve.bool
    else:
        _same_dtype(n, t)
    np.testing.assert_allclose(n.numpy(), t.numpy(), rtol=1e-6)


def test_numpy_ufuncs_with_several_operands_reductions_and_out():
    a = nerve.tensor([1.0, 5.0, 3.0])
    m = np.maximum(a, 2.5)
    assert isinstance(m, nerve.Tensor) and m.tolist() == [2.5, 5.0, 3.0]
    r = np.add.reduce(a)
    assert isinstance(r, nerve.Tensor) and r.ndim == 0 and r.item() == 9.0
    mant, exp = np.frexp(a)  # two outputs: two tensors
    assert isinstance(mant, nerve.Tensor) and exp.tolist() == [1, 3, 2]
    arr = np.ones(3, np.float32)
    arr += a  # in place on the NumPy array, which stays an array
    assert type(arr) is np.ndarray and arr.tolist() == [2.0, 6.0, 4.0]
    out = nerve.zeros(3)
    assert np.multiply(a, 2, out=out) is out and out.tolist() == [2.0, 10.0, 6.0]


def test_numpy_operators_with_a_tensor_second_run_the_tensor_op_and_record_the_graph():
    w = nerve.tensor([1.0, 2.0], requires_grad=True)
    arr = np.array([3.0, 4.0], np.float32)
    y = arr * w + np.float32(1.0) - arr / w
    assert isinstance(y, nerve.Tensor) and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), arr + arr / np.array([1.0, 4.0]), rtol=1e-6)
    assert (arr < w).tolist() == [False, False] and (arr >= w).tolist() == [True, True]
    assert (arr @ nerve.tensor([[1.0], [1.0]])).tolist() == [7.0]


def test_numpy_ufunc_on_a_tensor_that_requires_grad_says_what_to_do():
    w = nerve.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"numpy\.exp: .*requires grad.*nerve\.exp\(t\).*detach"):
        np.exp(w)
    assert np.exp(w.detach()).tolist() == pytest.approx([np.e])


def test_tensor_of_a_list_of_one_element_tensors_takes_their_values_as_torch():
    for data in ([[1.0], [2.0]], [[3], [4]], [1.5, 2.5]):
        n = nerve.tensor([nerve.tensor(d) for d in data])
        t = torch.tensor([torch.tensor(d) for d in data])
        assert n.shape == tuple(t.shape) and n.tolist() == t.tolist()
        _same_dtype(n, t)
    # longer tensors in a list stack (PyTorch refuses them)
    assert nerve.tensor([nerve.tensor([1, 2]), nerve.tensor([3, 4])]).shape == (2, 2)


@pytest.mark.parametrize("call", [
    "x.sum(axis=0)", "L.sum(x, axis=1, keepdims=True)", "x.mean(axis=0, keepdims=True)", "x.max(axis=0)[0]",
    "x.argmax(axis=1)", "x.std(axis=0)", "x.var(axis=1, keepdims=True)", "x.prod(axis=0)", "x.softmax(axis=1)",
    "x.cumsum(axis=0)", "x.amax(axis=1)", "x.logsumexp(axis=1)", "x.unsqueeze(axis=0)", "L.cat([x, x], axis=1)",
    "L.stack([x, x], axis=1)", "L.concatenate([x, x], axis=0)", "L.mean(x, axis=0)",
])
def test_numpys_axis_and_keepdims_name_dim_and_keepdim_as_in_torch(call):
    data = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    got = eval(call, {"x": nerve.tensor(data), "L": nerve})
    want = eval(call, {"x": torch.tensor(data), "L": torch})
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_dim_and_its_numpy_alias_together_are_an_error():
    with pytest.raises(TypeError, match="sum\\(\\) got both 'dim' and its alias 'axis'"):
        nerve.ones(2, 2).sum(dim=0, axis=1)


def test_division_power_and_exp_give_inf_and_nan_silently_as_torch():
    a = np.array([1.0, 0.0, -1.0, 100.0], dtype=np.float32)
    z = np.zeros(4, dtype=np.float32)
    cases = [
        lambda m, x, zz: x / 0, lambda m, x, zz: x / zz, lambda m, x, zz: 1.0 / x,
        lambda m, x, zz: x ** -1, lambda m, x, zz: x ** 0.5, lambda m, x, zz: x.exp(),
        lambda m, x, zz: m.exp(x * 10),
    ]
    for case in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours = case(nerve, nerve.tensor(a), nerve.tensor(z)).numpy()
        theirs = case(torch, torch.tensor(a), torch.tensor(z)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)  # inf and nan in the same places


def test_backward_inputs_fills_only_their_grad_as_torch():
    import torch

    def run(lib):
        x, y, z = (lib.tensor([1.0, 2.0], requires_grad=True) for _ in range(3))
        (x * y * 3).sum().backward(inputs=[x, z])
        first = (x.grad.tolist(), y.grad, z.grad)
        (x * y).sum().backward(inputs=x)  # accumulates
        h = x * 2
        h.retain_grad()
        (h * y).sum().backward(inputs=[h])
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        (w * w).sum().backward(inputs=[w], create_graph=True)
        return first, x.grad.tolist(), h.grad.tolist(), w.grad.tolist(), w.grad.requires_grad

    assert run(nerve) == run(torch)
    with pytest.raises(RuntimeError, match="`inputs` argument to `backward\\(\\)` cannot be empty."):
        (nerve.ones(2, requires_grad=True) * 2).sum().backward(inputs=[])
    t = nerve.arange(6).reshape(2, 3)
    assert t.flip(0, 1).tolist() == t.flip((0, 1)).tolist() == torch.arange(6).reshape(2, 3).flip(0, 1).tolist()


def test_leaf_hooks_see_the_summed_gradient_once_as_torch():
    """A leaf used twice (x * x): its hooks run once on the whole gradient, in backward, in
    autograd.grad and with create_graph, so a non-linear hook (clamping) gives torch's result."""
    import torch

    def run(lib, grad):
        out = []
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        seen = []
        x.register_hook(lambda g: (seen.append(g.tolist()), g.clamp(max=1.5))[1])
        (x * x).sum().backward()
        out += [seen[:], x.grad.tolist()]
        seen.clear()
        g, = grad((x * x * 3).sum(), x)
        out += [seen[:], g.tolist(), x.grad.tolist()]
        y = lib.tensor([1.0, 2.0], requires_grad=True)
        y.register_hook(lambda g: g * 3)
        g, = grad((y * y).sum(), y, create_graph=True)
        g2, = grad(g.sum(), y)
        out += [g.tolist(), g2.tolist()]
        z = lib.tensor([1.0, 2.0], requires_grad=True)
        z.register_hook(lambda g: g * 2)
        (z * z).sum().backward(create_graph=True)
        return out + [z.grad.tolist()]

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on backward(create_graph=True) cycles
        assert run(nerve, nerve.autograd.grad) == run(torch, torch.autograd.grad)
