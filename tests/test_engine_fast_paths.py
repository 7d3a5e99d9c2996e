"""The engine's fast paths for a training step, each run against PyTorch on the same program.

The paths: a whole-tensor mean, bias and per-row gradients summed as BLAS products, op chains
visited without the heap, leaf gradients stored without a copy, the hand-written SGD update,
and nn.Linear / nn.ReLU / SGD momentum calling their ops directly.
"""

import warnings

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


def _raw_mlp_steps(lib, x, y, w1, w2, steps=3):
    """The raw-op MLP of nerve's engine benchmark; returns the losses and the final weights."""
    w1 = lib.tensor(w1, requires_grad=True)
    b1 = lib.zeros(w1.shape[1], dtype=w1.dtype, requires_grad=True)
    w2 = lib.tensor(w2, requires_grad=True)
    b2 = lib.zeros(w2.shape[1], dtype=w2.dtype, requires_grad=True)
    params = [w1, b1, w2, b2]
    xt, yt = lib.tensor(x), lib.tensor(y)
    rows = lib.arange(len(y))
    losses = []
    for _ in range(steps):
        h = (xt @ w1 + b1).relu()
        z = h @ w2 + b2
        logp = z - z.logsumexp(dim=1, keepdim=True)
        loss = -logp[rows, yt].mean()
        loss.backward()
        losses.append(loss.item())
        with lib.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad = None
    return losses, [p.detach().numpy() for p in params]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_op_mlp_matches_torch(dtype):
    gen = np.random.default_rng(0)
    x = gen.standard_normal((16, 12)).astype(dtype)
    y = gen.integers(0, 5, 16)
    w1 = (gen.standard_normal((12, 8)) * 0.3).astype(dtype)
    w2 = (gen.standard_normal((8, 5)) * 0.3).astype(dtype)
    ln, pn = _raw_mlp_steps(nerve, x, y, w1, w2)
    lt, pt = _raw_mlp_steps(torch, x, y, w1, w2)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ln, lt, rtol=tol, atol=tol)
    for a, b in zip(pn, pt):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _grads(lib, fn, arrays):
    ts = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


GRAPHS = {
    # a bias broadcast over rows and a per-row value broadcast along a row (the two BLAS sums)
    "bias_and_row": (lambda x, b, r: ((x + b) * (x - r)).sum(), [(6, 4), (4,), (6, 1)]),
    "row_3d": (lambda x, r: (x * r).sum(), [(2, 3, 5), (2, 3, 1)]),
    "empty_row": (lambda x, r: (x + r).sum() + r.sum(), [(3, 0), (3, 1)]),
    # one op read by two others, recorded in different orders: the heap must order the visits
    "diamond": (lambda x: ((x.exp() * 2) + x.exp().sin() - x).mean(), [(3, 4)]),
    "chain_then_fork": (lambda x, w: ((x @ w).relu() * (x @ w).tanh()).mean(), [(4, 3), (3, 3)]),
    "mean_of_all": (lambda x: (x * x).mean(), [(5, 7)]),
    "mean_keepdim_and_dims": (lambda x: x.mean(dim=(0, 1), keepdim=True).sum() + x.mean(dim=1).sum(), [(2, 3, 4)]),
    "mean_0d": (lambda x: x.mean() * 3, [()]),
    "neg_of_0d_leaf": (lambda x: -x, [()]),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_paths_match_torch(name, dtype):
    fn, shapes = GRAPHS[name]
    gen = np.random.default_rng(1)
    arrays = [gen.standard_normal(s).astype(dtype) for s in shapes]
    vn, gn = _grads(nerve, fn, arrays)
    vt, gt = _grads(torch, fn, arrays)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(vn, vt, rtol=tol, atol=tol)
    for a, b in zip(gn, gt):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_leaf_gradient_is_not_an_alias():
    # Add hands the same upstream array to both inputs; each leaf must own its gradient
    for lib in (nerve, torch):
        a = lib.ones(3, requires_grad=True)
        b = lib.ones(3, requires_grad=True)
        (a + b).sum().backward()
        with lib.no_grad():
            a.grad.mul_(5)
        assert b.grad.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("opt_kw", [dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
                                    dict(lr=0.05, momentum=0.5, weight_decay=0.1),
                                    dict(lr=0.05, momentum=0.9, maximize=True), dict(lr=0.1)],
                         ids=["momentum", "nesterov", "weight_decay", "maximize", "plain"])
def test_nn_mlp_sgd_matches_torch(opt_kw):
    gen = np.random.default_rng(2)
    x = gen.standard_normal((16, 3, 4)).astype(np.float32)
    y = gen.integers(0, 5, 16)
    models = {}
    for lib in (nerve, torch):
        nn = lib.nn
        models[lib] = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5))
    for pn, pt in zip(models[nerve].parameters(), models[torch].parameters()):  # same initial weights
        with nerve.no_grad():
            pn.copy_(nerve.tensor(pt.detach().numpy()))
    results = {}
    for lib, model in models.items():
        opt = lib.optim.SGD(model.parameters(), **opt_kw)
        loss_fn = lib.nn.CrossEntropyLoss()
        xt, yt = lib.tensor(x), lib.tensor(y)
        losses = []
        for _ in range(3):
            loss = loss_fn(model(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results[lib] = losses, [p.detach().numpy() for p in model.parameters()]
    np.testing.assert_allclose(results[nerve][0], results[torch][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(results[nerve][1], results[torch][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_mean_of_everything_keeps_the_dtype(dtype):
    # the whole-tensor mean divides a NumPy scalar: NumPy 1.x (nerve takes numpy>=1.24) turns a
    # float32 scalar divided by a Python float into float64, where torch's mean stays float32
    values = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    out = {}
    for lib in (nerve, torch):
        x = lib.tensor(values, dtype=getattr(lib, dtype), requires_grad=True)
        m = x.mean()
        m.backward()
        out[lib] = m, x.grad
    (mn, gn), (mt, gt) = out[nerve], out[torch]
    assert str(mn.dtype) == str(mt.dtype).replace("torch", "nerve")
    assert mn.detach().numpy().dtype == mt.detach().numpy().dtype
    assert gn.numpy().dtype == gt.numpy().dtype
    tol = 1e-3 if dtype == "float16" else 1e-6
    np.testing.assert_allclose(mn.item(), mt.item(), rtol=tol)
    np.testing.assert_allclose(gn.numpy(), gt.numpy(), rtol=tol)


def _frozen_after_forward(lib, create_graph=False):
    """A leaf whose requires_grad is turned off between forward and backward: torch's gradient
    accumulator skips it (its hooks still run, the post-accumulate hook sees no .grad)."""
    calls = []
    x = lib.ones(2, requires_grad=True)
    w = lib.tensor([2.0, 3.0], requires_grad=True)
    x.register_hook(lambda g: calls.append(("hook", g.tolist())))
    x.register_post_accumulate_grad_hook(lambda t: calls.append(("post", t.grad)))
    layer = lib.nn.Linear(2, 3)
    with lib.no_grad():
        layer.weight.copy_(lib.tensor([[1.0, -1.0], [0.5, 2.0], [-3.0, 1.0]]))
    y = (layer(x * w) + x.sum()).sum()
    x.requires_grad_(False)
    layer.bias.requires_grad_(False)  # a layer frozen between forward and backward
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on create_graph's reference cycle
        y.backward(create_graph=create_graph)
    return calls, x.grad, layer.bias.grad, w.grad.tolist(), layer.weight.grad.tolist()


@pytest.mark.parametrize("create_graph", [False, True])
def test_leaf_frozen_after_forward_gets_no_grad(create_graph):
    n = _frozen_after_forward(nerve, create_graph)
    t = _frozen_after_forward(torch, create_graph)
    assert n[0] == t[0]  # the hooks' calls
    assert n[1] is None and t[1] is None
    assert n[2] is None and t[2] is None
    np.testing.assert_allclose(n[3], t[3], rtol=1e-6)
    np.testing.assert_allclose(n[4], t[4], rtol=1e-6)


def test_backward_of_a_leaf_does_not_alias_the_given_gradient():
    # x.backward(g) on a leaf: x.grad is a copy of g, so updating one leaves the other alone
    out = {}
    for lib in (nerve, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        g = lib.ones(3)
        x.backward(g)
        with lib.no_grad():
            x.grad.mul_(4)
            x.grad[0] = 7.0
        out[lib] = x.grad.tolist(), g.tolist()
    assert out[nerve] == out[torch]


def test_ones_vectors_of_varying_lengths_are_not_kept_each():
    # a Linear over batches of sequences whose length varies: the bias gradient sums B*T rows as a
    # BLAS product with a vector of ones; one kept vector per length would hold memory for good
    from nerve import autograd

    gen = np.random.default_rng(3)
    w = gen.standard_normal((3, 4)).astype(np.float32)
    layers = {}
    for lib in (nerve, torch):
        layers[lib] = lib.nn.Linear(4, 3)
        with lib.no_grad():
            layers[lib].weight.copy_(lib.tensor(w))
            layers[lib].bias.zero_()
    def held():  # bytes in the long vectors (other tests may have asked for some already)
        return sum(v.nbytes for v in autograd._ONES.values() if v.shape[0] > autograd._ONES_KEPT)

    before = held()
    longest = 0
    for t in range(600, 612):
        x = gen.standard_normal((8, t, 4)).astype(np.float32)
        g = gen.standard_normal((8, t, 3)).astype(np.float32)
        longest = max(longest, 8 * t)
        for lib, layer in layers.items():
            layer.zero_grad()
            layer(lib.tensor(x)).backward(lib.tensor(g))
        np.testing.assert_allclose(layers[nerve].bias.grad.numpy(), layers[torch].bias.grad.numpy(),
                                   rtol=1e-4, atol=1e-3)
    assert held() - before <= longest * 4  # at most one float32 vector of the longest length


def _hooks_change_gradient_in_place(lib):
    """Hooks that scale a mean's gradient in place (one returning it, others returning None)."""

    def add_one(g):
        g.add_(1)

    def double(g):
        g.mul_(2)

    x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    w = lib.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, -0.5]], requires_grad=True)
    h = x * w
    h.register_hook(lambda g: g.mul_(3))
    w.register_hook(add_one)
    (h.mean() + w.mean()).backward()
    v = lib.tensor([1.0, 2.0, 4.0], requires_grad=True)
    v.register_hook(double)
    gv, = lib.autograd.grad(v.mean(), v)
    return x.grad.tolist(), w.grad.tolist(), gv.tolist()


def test_hooks_may_change_a_mean_gradient_in_place():
    # the mean's backward spreads g / n as a read-only view: a hook gets an array it may write
    n = _hooks_change_gradient_in_place(nerve)
    t = _hooks_change_gradient_in_place(torch)
    for a, b in zip(n, t):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("create_graph", [False, True])
def test_backward_into_inputs_owns_each_gradient(create_graph):
    # backward(inputs=...): an add hands the same gradient to both operands, and a leaf's own
    # gradient is the caller's; each .grad must be a copy, as torch's accumulation makes
    out = {}
    for lib in (nerve, torch):
        a = lib.ones(3, requires_grad=True)
        b = lib.ones(3, requires_grad=True)
        go = lib.tensor([1.0, 2.0, 3.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on create_graph's reference cycle
            (a + b).backward(go, inputs=[a, b], create_graph=create_graph)
            c = lib.ones(2, requires_grad=True)
            gc = lib.tensor([4.0, 5.0])
            c.backward(gc, inputs=[c], create_graph=create_graph)
        with lib.no_grad():
            a.grad.mul_(5)
            c.grad.mul_(2)
        out[lib] = a.grad.tolist(), b.grad.tolist(), go.tolist(), c.grad.tolist(), gc.tolist()
    assert out[nerve] == out[torch]


# ---------------------------------------------------------------- the unrolled Function.run and the
# methods that build their op directly (logsumexp, mean, sum, indexing)


def test_anomaly_stack_ends_at_the_callers_line():
    """Every path through Function.run (one tensor, two tensors, the general loop) keeps the stack of
    the code that ran the op, without the engine's own frames."""
    x = nerve.tensor([1.0, -1.0], requires_grad=True)
    with nerve.autograd.detect_anomaly():
        ops = {
            "one": x.sqrt(),  # one tensor
            "two": x * x,  # two tensors
            "three": nerve.where(x > 0, x, x * 2),  # three inputs: the general loop
        }
    for name, t in ops.items():
        stack = t.grad_fn._stack
        assert "autograd.py" not in stack[-1], (name, stack[-1])  # the method that ran the op, or the caller
        assert any("test_engine_fast_paths.py" in f for f in stack), name  # the caller's line is in it


def test_unrolled_run_errors_and_no_grad_as_the_general_loop():
    a, b = nerve.ones(2, 3, requires_grad=True), nerve.ones(4)
    with pytest.raises(RuntimeError, match=r"\(2, 3\) and \(4,\)"):
        a + b
    with pytest.raises(IndexError):
        a[5]
    with nerve.no_grad():
        out = a * 2 + a
    assert out.grad_fn is None and not out.requires_grad
    c = nerve.ones(3)  # neither input records: no node
    assert (c + c).grad_fn is None
    # one input requiring grad of two: only its edge is kept
    d = nerve.ones(3, requires_grad=True)
    e = c * d
    assert e.grad_fn.parents[0] is None and e.grad_fn.parents[1] is d


@pytest.mark.parametrize("method", ["sum", "mean", "logsumexp"])
def test_reductions_take_numpy_aliases_as_torch(method):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4, 5))
    xn, xt = nerve.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    calls = [dict(axis=1), dict(axis=-1, keepdims=True), dict(dim=0, keepdims=True), dict(axis=(0, 2))]
    if method != "logsumexp":
        calls.append({})
    for kw in calls:
        got, want = getattr(xn, method)(**kw), getattr(xt, method)(**kw)
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
        got.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
        xn.grad = xt.grad = None
    with pytest.raises(TypeError, match="both 'dim' and its alias 'axis'"):
        getattr(xn, method)(dim=0, axis=1)
    with pytest.raises(TypeError, match="both 'keepdim' and its alias 'keepdims'"):
        getattr(xn, method)(1, keepdim=True, keepdims=True)


def test_logsumexp_without_dim_and_of_integers():
    with pytest.raises(TypeError, match="dim"):
        nerve.ones(3).logsumexp()
    got = nerve.tensor([[1, 2], [3, 4]]).logsumexp(1)
    want = torch.tensor([[1, 2], [3, 4]]).logsumexp(1)
    assert got.dtype == nerve.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nerve.ones(2, 3).logsumexp(2)


@pytest.mark.parametrize("n", [64, 5000])  # a filled array / a zero-stride view below and above 4096
def test_mean_gradient_small_and_large(n):
    rng = np.random.default_rng(5)
    a = rng.standard_normal(n).astype(np.float32)
    got, want = [], []
    for lib, out in ((nerve, got), (torch, want)):
        x = lib.tensor(a, requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: g.mul_(3))  # in place: the hook owns what it is given
        y.mean().backward()
        x.grad.add_(1)  # the leaf's gradient is its own, writable array
        out.append(x.grad.numpy().copy())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
