"""Every differentiable op: a float64 numeric gradient check, and values and gradients against PyTorch."""

import numpy as np
import pytest

import nerve
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")


def _pos(a):
    return np.abs(a) + 0.5


# name -> (function of tensors (same code for nerve and torch), input shapes, input transform)
UNARY = {
    "neg": (lambda x: -x, None),
    "exp": (lambda x: x.exp(), None),
    "log": (lambda x: x.log(), _pos),
    "log1p": (lambda x: x.log1p(), _pos),
    "sqrt": (lambda x: x.sqrt(), _pos),
    "rsqrt": (lambda x: x.rsqrt(), _pos),
    "abs": (lambda x: x.abs(), None),
    "sin": (lambda x: x.sin(), None),
    "cos": (lambda x: x.cos(), None),
    "tanh": (lambda x: x.tanh(), None),
    "sigmoid": (lambda x: x.sigmoid(), None),
    "relu": (lambda x: x.relu(), None),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), None),
    "clamp_min": (lambda x: x.clamp(min=0.1), None),
    "pow2": (lambda x: x ** 2, None),
    "pow3.5": (lambda x: x ** 3.5, _pos),
    "rpow": (lambda x: 2.0 ** x, None),
    "square": (lambda x: x.square(), None),
    "reciprocal": (lambda x: x.reciprocal(), _pos),
    "scalar_ops": (lambda x: (3 - x) * 2.5 / 4 + 1, None),
    "rdiv": (lambda x: 1.5 / x, _pos),
    "sum": (lambda x: x.sum(), None),
    "sum_dim": (lambda x: x.sum(dim=1), None),
    "sum_dims_keep": (lambda x: x.sum(dim=(0, 2), keepdim=True), None),
    "mean": (lambda x: x.mean(), None),
    "mean_dim": (lambda x: x.mean(-1, keepdim=True), None),
    "var": (lambda x: x.var(dim=1), None),
    "var_biased": (lambda x: x.var(dim=1, unbiased=False), None),
    "std": (lambda x: x.std(), None),
    "prod": (lambda x: x.prod(dim=1), None),
    "prod_all": (lambda x: x.prod(), None),
    "amax": (lambda x: x.amax(dim=1), None),
    "amin": (lambda x: x.amin(dim=(0, 1)), None),
    "max_all": (lambda x: x.max(), None),
    "max_dim": (lambda x: x.max(dim=2).values, None),
    "min_dim_keep": (lambda x: x.min(dim=0, keepdim=True)[0], None),
    "logsumexp": (lambda x: x.logsumexp(dim=1), None),
    "reshape": (lambda x: x.reshape(4, -1) * 1.0, None),
    "view": (lambda x: x.view(-1), None),
    "flatten": (lambda x: x.flatten(1), None),
    "permute": (lambda x: x.permute(2, 0, 1), None),
    "transpose": (lambda x: x.transpose(0, 2), None),
    "T2d": (lambda x: x.reshape(6, 4).T, None),
    "squeeze_unsqueeze": (lambda x: x.unsqueeze(1).squeeze(1), None),
    "expand": (lambda x: x[:, :1, :].expand(2, 5, 4), None),
    "repeat": (lambda x: x.repeat(2, 1, 3), None),
    "flip": (lambda x: x.flip(1), None),
    "getitem_slice": (lambda x: x[1:, ::2, -1], None),
    "getitem_int_list": (lambda x: x[:, [0, 2, 2]], None),
    "getitem_ellipsis_none": (lambda x: x[..., None, 1], None),
    "chunk": (lambda x: x.chunk(2, dim=2)[1], None),
    "split_sizes": (lambda x: x.split([1, 2], dim=1)[1], None),
    "norm": (lambda x: x.norm(), None),
    "cumsum": (lambda x: x.cumsum(1), None),
    "clone": (lambda x: x.clone() * 1.0, None),
}

SHAPE = (2, 3, 4)


def _run(lib, fn, arrays, requires=True):
    ts = [lib.tensor(a, requires_grad=requires) for a in arrays]
    out = fn(*ts)
    return ts, out


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch(name):
    fn, tf = UNARY[name]
    rng = np.random.default_rng(1)
    a = rng.standard_normal(SHAPE)
    if tf is not None:
        a = tf(a)
    for dt in (np.float64, np.float32):
        x = a.astype(dt)
        (tn,), on = _run(nerve, fn, [x])
        (tt,), ot = _run(torch, fn, [x])
        tol = 1e-10 if dt == np.float64 else 1e-5
        assert on.dtype.name == str(ot.dtype).split(".")[1]
        np.testing.assert_allclose(on.detach().numpy(), ot.detach().numpy(), rtol=tol * 10, atol=tol)
        g = rng.standard_normal(tuple(ot.shape)).astype(dt)
        on.backward(nerve.tensor(g))
        ot.backward(torch.tensor(g))
        np.testing.assert_allclose(tn.grad.numpy(), tt.grad.numpy(), rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck(name, device):
    fn, tf = UNARY[name]
    rng = np.random.default_rng(2)
    a = rng.standard_normal(SHAPE)
    if tf is not None:
        a = tf(a)
    x = nerve.tensor(a, dtype=nerve.float64, device=device, requires_grad=True)
    assert gradcheck(fn, [x])


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a.abs() ** b,
    "maximum": lambda a, b: a.maximum(b),
    "minimum": lambda a, b: a.minimum(b),
    "where": lambda a, b: (a > 0).float().to(a.dtype).bool().logical_not().logical_not().__and__(a > 0) and None,
}
del BINARY["where"]

BROADCAST_SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((2, 1, 4), (3, 1)), ((), (3, 2))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_binary_broadcast_matches_torch(name, shapes):
    fn = BINARY[name]
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shapes[0])
    b = rng.standard_normal(shapes[1])
    if name == "div":
        b = _pos(b)
    (na, nb), on = _run(nerve, fn, [a, b])
    (ta, tb), ot = _run(torch, fn, [a, b])
    np.testing.assert_allclose(on.detach().numpy(), ot.detach().numpy(), rtol=1e-10, atol=1e-12)
    on.sum().backward()
    ot.sum().backward()
    assert na.grad.shape == na.shape and nb.grad.shape == nb.shape
    np.testing.assert_allclose(na.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nb.grad.numpy(), tb.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck(name, device):
    rng = np.random.default_rng(4)
    a = nerve.tensor(rng.standard_normal((2, 1, 4)), device=device, requires_grad=True)
    b = nerve.tensor(rng.standard_normal((3, 1)) + (3.0 if name == "div" else 0.0), device=device,
                     requires_grad=True)
    assert gradcheck(BINARY[name], [a, b])


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4,)), ((4,), (4, 5)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_matches_torch_and_gradcheck(shapes):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    (na, nb), on = _run(nerve, lambda x, y: x @ y, [a, b])
    (ta, tb), ot = _run(torch, lambda x, y: x @ y, [a, b])
    np.testing.assert_allclose(on.detach().numpy(), ot.detach().numpy(), rtol=1e-10)
    g = rng.standard_normal(tuple(ot.shape))
    on.backward(nerve.tensor(g))
    ot.backward(torch.tensor(g))
    np.testing.assert_allclose(na.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nb.grad.numpy(), tb.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert gradcheck(lambda x, y: x @ y, [nerve.tensor(a, requires_grad=True), nerve.tensor(b, requires_grad=True)])


def test_matmul_shape_error_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied \(3 != 4\)"):
        nerve.zeros(2, 3) @ nerve.zeros(4, 5)


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        nerve.zeros(2, 3) + nerve.zeros(4)
    with pytest.raises(RuntimeError, match=r"mul: shapes"):
        nerve.zeros(2, 3) * nerve.zeros(2)


def test_cat_stack_where_gather_match_torch(device):
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    c = rng.standard_normal((2, 3))
    idx = np.array([[0, 2, 1], [1, 1, 0]])

    def prog(lib, a, b, c):
        cat = lib.cat([a, b], dim=0)
        st = lib.stack([a, c], dim=1)
        w = lib.where(a > 0, a, c * 2)
        g = a.gather(1, lib.tensor(idx, device=a.device))
        return (cat.sum(0) * 2).sum() + (st ** 2).sum() + w.sum() + (g * 3).sum()

    nt = [nerve.tensor(x, device=device, requires_grad=True) for x in (a, b, c)]
    tt = [torch.tensor(x, requires_grad=True) for x in (a, b, c)]
    on, ot = prog(nerve, *nt), prog(torch, *tt)
    np.testing.assert_allclose(on.item(), ot.item(), rtol=1e-12)
    on.backward()
    ot.backward()
    for x, y in zip(nt, tt):
        np.testing.assert_allclose(x.grad.cpu().numpy(), y.grad.numpy(), rtol=1e-12)
    assert gradcheck(lambda *xs: prog(nerve, *xs), nt)


def test_indexing_with_tensors_and_masks_matches_torch():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5, 4))
    rows = np.array([0, 3, 3, 1])
    mask = a[:, 0] > 0

    def prog(lib, x):
        r = lib.tensor(rows)
        m = lib.tensor(mask)
        return (x[r] * 2).sum() + (x[m] ** 2).sum() + x[r, lib.tensor([1, 1, 2, 0])].sum() + x[x > 0.5].sum()

    xn = nerve.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    on, ot = prog(nerve, xn), prog(torch, xt)
    np.testing.assert_allclose(on.item(), ot.item(), rtol=1e-12)
    on.backward()
    ot.backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_setitem_differentiable_matches_torch():
    a = np.arange(12.0).reshape(3, 4)
    v = np.array([10.0, 20.0, 30.0, 40.0])

    def prog(lib):
        x = lib.tensor(a, requires_grad=True)
        val = lib.tensor(v, requires_grad=True)
        y = x * 2
        y[1] = val * 3
        y[:, 0] = 0.0
        (y ** 2).sum().backward()
        return x.grad.numpy(), val.grad.numpy()

    for gn, gt in zip(prog(nerve), prog(torch)):
        np.testing.assert_allclose(gn, gt)


def test_max_dim_returns_values_and_indices_and_first_index_on_ties():
    x = nerve.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    v, i = x.max(dim=1)
    assert v.tolist() == [3.0, 2.0] and i.tolist() == [1, 0]
    v.sum().backward()
    xt = torch.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    xt.max(dim=1).values.sum().backward()
    assert x.grad.tolist() == xt.grad.tolist()
    # amax shares the gradient between ties, as torch.amax
    x.grad = None
    x.amax(dim=1).sum().backward()
    xt.grad = None
    xt.amax(dim=1).sum().backward()
    assert x.grad.tolist() == xt.grad.tolist()


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("ijk->ik", [(2, 3, 4)]),
    ("ij,kl->ik", [(2, 3), (4, 5)]),
], ids=str)
def test_einsum_matches_torch_and_gradcheck(equation, shapes):
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s) for s in shapes]
    nt = [nerve.tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    on, ot = nerve.einsum(equation, *nt), torch.einsum(equation, *tt)
    np.testing.assert_allclose(on.detach().numpy(), ot.detach().numpy(), rtol=1e-10)
    g = rng.standard_normal(tuple(ot.shape))
    on.backward(nerve.tensor(g))
    ot.backward(torch.tensor(g))
    for x, y in zip(nt, tt):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert gradcheck(lambda *xs: nerve.einsum(equation, *xs), [nerve.tensor(a, requires_grad=True) for a in arrays])


def test_einsum_implicit_output_like_torch():
    a, b = np.random.default_rng(9).standard_normal((2, 3, 4))[0], np.arange(12.0).reshape(4, 3)
    n = nerve.einsum("ij,jk", nerve.tensor(a, requires_grad=True), nerve.tensor(b))
    t = torch.einsum("ij,jk", torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(n.detach().numpy(), t.numpy(), rtol=1e-12)
    n.sum().backward()


def _graph(fn, depth=6):
    """A node and what its ``next_functions`` lead to, by PyTorch's node names, ``depth`` levels deep."""
    if fn is None:
        return None
    name = type(fn).__name__ if type(fn).__name__ == "AccumulateGrad" else str(fn).split()[0][1:].replace("torch.", "nerve.")
    if depth == 0 or name == "AccumulateGrad":
        return name
    return name, [(_graph(n, depth - 1), i) for n, i in fn.next_functions]


def _scaled(lib, x, k, y):
    """``x * k + y`` as a custom Function with a number among its inputs."""

    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k, y):
            ctx.k = k
            return x * k + y

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None, g

    return Scale.apply(x, k, y)


# expressions whose graphs nerve builds differently (fused ops, numbers as arguments): the edges
# must still read as PyTorch's
GRAPHS = {
    "x + 2": lambda t, F, x, w, b: x + 2,
    "2 + x": lambda t, F, x, w, b: 2 + x,
    "3 * b ** 3 - x ** 2": lambda t, F, x, w, b: 3 * b ** 3 - x.sum(1).repeat(2) ** 2,
    "2 - x": lambda t, F, x, w, b: 2 - x,
    "2 ** x": lambda t, F, x, w, b: 2 ** x,
    "x ** w": lambda t, F, x, w, b: x ** w[:2],
    "where": lambda t, F, x, w, b: t.where(x > 0.5, x, x * 2),
    "linear 2-D": lambda t, F, x, w, b: F.linear(x * 1, w, b),
    "linear 2-D no bias": lambda t, F, x, w, b: F.linear(x * 1, w),
    "linear 1-D": lambda t, F, x, w, b: F.linear(x[0], w, b),
    "linear 1-D no bias": lambda t, F, x, w, b: F.linear(x[0], w),
    "linear 3-D": lambda t, F, x, w, b: F.linear(x.view(1, 2, 5), w, b),
    "linear 3-D no bias": lambda t, F, x, w, b: F.linear(x.view(1, 2, 5), w),
    "linear, weight without grad": lambda t, F, x, w, b: F.linear(x, w.detach(), b),
    "linear, bias without grad": lambda t, F, x, w, b: F.linear(x, w, b.detach()),
    "linear, input without grad": lambda t, F, x, w, b: F.linear(x.detach(), w, b),
    "cross_entropy": lambda t, F, x, w, b: F.cross_entropy(x, t.tensor([0, 4])),
    "nll_loss": lambda t, F, x, w, b: F.nll_loss(F.log_softmax(x, 1), t.tensor([0, 4]), weight=x.detach()[0]),
    "mse_loss": lambda t, F, x, w, b: F.mse_loss(x, w[:2, :5].detach()),
    "custom Function, number argument": lambda t, F, x, w, b: _scaled(t, x * 1, 2.0, w[:2, :5].detach()),
    "custom Function, two tensors": lambda t, F, x, w, b: _scaled(t, x, 2.0, w[:2, :5]),
    # view ops that nerve makes with one reshape or permute op: PyTorch's name for each
    "t, mT, T": lambda t, F, x, w, b: x.t() + w.mT[:, :2] + x.T,
    "transpose": lambda t, F, x, w, b: t.transpose(x.view(1, 2, 5), 0, 2).swapaxes(0, 1),
    "unsqueeze, squeeze": lambda t, F, x, w, b: x.unsqueeze(1).squeeze(1).unsqueeze(0).squeeze().unsqueeze(2).squeeze((2,)),
    "max(), min(), amax, amin": lambda t, F, x, w, b: x.max() + x.min() + x.amax(1) + t.amin(x, 0).sum(),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_next_functions_as_torch(name):
    """``grad_fn.next_functions`` walks PyTorch's graph: the same node names, edges in the same order,
    ``AccumulateGrad`` for the leaves and ``(None, 0)`` for inputs without a gradient."""
    rng = np.random.default_rng(3)
    arrays = [rng.uniform(0.1, 1, s).astype(np.float32) for s in ((2, 5), (4, 5), (4,))]
    graphs = []
    for lib in (torch, nerve):
        x, w, b = (lib.tensor(a, requires_grad=True) for a in arrays)
        graphs.append(_graph(GRAPHS[name](lib, lib.nn.functional, x, w, b).grad_fn))
    assert graphs[1] == graphs[0]


def test_next_functions_nodes():
    """Leaves' ``AccumulateGrad`` nodes hold the leaf and are the same object while one is alive; a
    several-output custom Function is one node with an edge per output; a graph that backward freed
    says so."""
    w = nerve.ones(3, requires_grad=True)
    a, b = w * 2, w * 3
    acc = a.grad_fn.next_functions[0][0]
    assert acc is b.grad_fn.next_functions[0][0] and acc.variable is w and acc.next_functions == ()
    assert repr(acc).startswith("<AccumulateGrad object at 0x")
    assert repr(a.grad_fn.next_functions) == f"(({acc!r}, 0), (None, 0))"

    class Split(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x[:1] * 1, x[1:] * 1

        @staticmethod
        def backward(ctx, g1, g2):
            return nerve.cat([g1, g2])

    first, second = Split.apply(w)
    node = (first + second.sum()).grad_fn.next_functions
    assert str(node[0][0]).startswith("<nerve.autograd.function.SplitBackward object at 0x") and node[0][1] == 0
    assert repr(first.grad_fn) == repr(second.grad_fn) == repr(node[0][0])  # one node for both outputs
    assert node[1][0].next_functions[0] == (node[0][0], 1)  # sum's input: output 1 of the same node
    assert node[0][0].next_functions[0][0].variable is w

    loss = (w * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="graph was freed by backward.*retain_graph=True"):
        loss.grad_fn.next_functions
    kept = (w * 2).sum()
    kept.backward(retain_graph=True)
    assert kept.grad_fn.next_functions[0][0].next_functions[0][0].variable is w
