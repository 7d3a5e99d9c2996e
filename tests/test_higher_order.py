"""Higher-order gradients (create_graph=True): values against PyTorch and finite differences."""

import numpy as np
import pytest

import nerve
import nerve.nn.functional as F
from nerve.autograd import grad, gradgradcheck

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy()


def _pair(a, device, requires_grad=True):
    """The same float64 values as a nerve tensor on ``device`` and a torch CPU tensor."""
    a = np.asarray(a, dtype=np.float64)
    return (nerve.tensor(a, device=device, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


SCALAR_FUNCTIONS = {
    "cube": lambda L, x: x ** 3,
    "pow_real": lambda L, x: x.abs() ** 2.5,
    "number_pow": lambda L, x: 2.0 ** x,
    "exp_log": lambda L, x: x.exp() + (x * x + 1).log(),
    "sqrt_div": lambda L, x: (x * x + 1).sqrt() / (1 + x * x * x * x),
    "tanh_sigmoid": lambda L, x: x.tanh() * x.sigmoid(),
    "sin_cos": lambda L, x: x.sin() * x.cos() - x,
    "neg_sub": lambda L, x: -(x - x * x * x),
    "softplus": lambda L, x: L.nn.functional.softplus(x * 3, beta=0.5),
    "gelu": lambda L, x: L.nn.functional.gelu(x),
    "gelu_tanh": lambda L, x: L.nn.functional.gelu(x, approximate="tanh"),
    "elu": lambda L, x: L.nn.functional.elu(x, alpha=0.7) * x,
    "silu": lambda L, x: L.nn.functional.silu(x),
    "leaky_relu": lambda L, x: L.nn.functional.leaky_relu(x, 0.1) * x,
    "relu_clamp": lambda L, x: x.relu() * x + x.clamp(-0.5, 0.5) * x,
    "max_min": lambda L, x: L.maximum(x, x * x) + L.minimum(x * 2, x.exp()),
}


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_second_derivative_of_scalar_functions_matches_torch(device, name):
    f = SCALAR_FUNCTIONS[name]
    vals = [-1.7, -0.6, 0.3, 0.9, 1.4]
    x, xt = _pair(vals, device)
    (g,) = grad(f(nerve, x).sum(), x, create_graph=True)
    assert g.grad_fn is not None
    (g2,) = grad(g.sum(), x)
    (gt,) = torch.autograd.grad(f(torch, xt).sum(), xt, create_graph=True)
    (g2t,) = torch.autograd.grad(gt.sum(), xt)
    np.testing.assert_allclose(_np(g), gt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(g2), g2t.numpy(), rtol=1e-10, atol=1e-12)


def test_cube_second_derivative_is_6x(device):
    x = nerve.tensor([-2.0, 0.5, 3.0], device=device, requires_grad=True)
    (g,) = grad((x ** 3).sum(), x, create_graph=True)
    (g2,) = grad(g.sum(), x)
    np.testing.assert_allclose(_np(g2), [-12.0, 3.0, 18.0], rtol=1e-6)


def test_third_derivative_of_x4_is_24x(device):
    x = nerve.tensor([-1.5, 0.25, 2.0], dtype=nerve.float64, device=device, requires_grad=True)
    (g,) = grad((x ** 4).sum(), x, create_graph=True)
    (g2,) = grad(g.sum(), x, create_graph=True)
    (g3,) = grad(g2.sum(), x)
    np.testing.assert_allclose(_np(g), 4 * _np(x) ** 3, rtol=1e-12)
    np.testing.assert_allclose(_np(g2), 12 * _np(x) ** 2, rtol=1e-12)
    np.testing.assert_allclose(_np(g3), 24 * _np(x), rtol=1e-12)


def _critic(lib):
    return lib.nn.Sequential(
        lib.nn.Linear(4, 8), lib.nn.LeakyReLU(0.2), lib.nn.Linear(8, 8), lib.nn.Tanh(),
        lib.nn.Linear(8, 8), lib.nn.ReLU(), lib.nn.Linear(8, 6), lib.nn.Sigmoid(), lib.nn.Linear(6, 1),
    ).double()


def _copy_weights(src, dst) -> None:
    with torch.no_grad():
        for p, q in zip(src.parameters(), dst.parameters()):
            q.copy_(torch.from_numpy(_np(p)))


def test_gradient_penalty_matches_torch(device):
    """WGAN-GP: the parameters' gradients of the penalty on the critic's input gradients."""
    d = _critic(nerve).to(device)
    dt = _critic(torch)
    _copy_weights(d, dt)
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((7, 4)), rng.standard_normal((7, 4))
    eps = rng.random((7, 1))
    grads = {}
    for lib, net, dev in ((nerve, d, device), (torch, dt, "cpu")):
        r, f = lib.tensor(real, device=dev), lib.tensor(fake, device=dev)
        x = (lib.tensor(eps, device=dev) * r + (1 - lib.tensor(eps, device=dev)) * f).requires_grad_(True)
        g = lib.autograd.grad(net(x).sum(), x, create_graph=True)[0]
        penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
        loss = net(f).mean() - net(r).mean() + 10 * penalty
        loss.backward()
        grads[lib.__name__] = [_np(p.grad) for p in net.parameters()]
    for ours, theirs in zip(grads["nerve"], grads["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_backward_create_graph_leaves_differentiable_grads(device):
    w, wt = _pair([[0.3, -1.2], [0.8, 0.5]], device)
    for lib, t in ((nerve, w), (torch, wt)):
        (t.tanh() @ t).exp().sum().backward(create_graph=True)
    assert w.grad.grad_fn is not None and w.grad.requires_grad
    np.testing.assert_allclose(_np(w.grad), wt.grad.detach().numpy(), rtol=1e-12)
    gw, gwt = w.grad, wt.grad
    w.grad, wt.grad = None, None
    (gw * gw).sum().backward()
    (gwt * gwt).sum().backward()
    np.testing.assert_allclose(_np(w.grad), wt.grad.numpy(), rtol=1e-10)


def test_hessian_vector_product_and_hessian_match_torch(device):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 3))
    x0, v0 = rng.standard_normal(3), rng.standard_normal(3)

    def f(lib, am):
        return lambda x: (x.tanh() @ am @ x.exp()) + (x ** 4).sum() / 4 + lib.logsumexp(x * 2, dim=0)

    fn = f(nerve, nerve.tensor(a, device=device))
    ft = f(torch, torch.tensor(a))
    x, xt = _pair(x0, device, requires_grad=False)
    out, hv = nerve.autograd.functional.hvp(fn, x, nerve.tensor(v0, device=device))
    out_t, hv_t = torch.autograd.functional.hvp(ft, xt, torch.tensor(v0))
    np.testing.assert_allclose(_np(out), out_t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(hv), hv_t.numpy(), rtol=1e-10)
    h = nerve.autograd.functional.hessian(fn, x)
    np.testing.assert_allclose(_np(h), torch.autograd.functional.hessian(ft, xt).numpy(), rtol=1e-10)
    # the same product by hand: grad of (grad . v)
    x.requires_grad_(True)
    (g,) = grad(fn(x), x, create_graph=True)
    (hv2,) = grad((g * nerve.tensor(v0, device=device)).sum(), x)
    np.testing.assert_allclose(_np(hv2), hv_t.numpy(), rtol=1e-10)


def test_functional_jacobian_and_vjp_jvp_match_torch(device):
    rng = np.random.default_rng(5)
    x0, y0 = rng.standard_normal((2, 3)), rng.standard_normal(3)

    def f(lib):
        return lambda x, y: ((x * y).softmax(dim=1), (x @ y).sigmoid())

    x, xt = _pair(x0, device, requires_grad=False)
    y, yt = _pair(y0, device, requires_grad=False)
    jac = nerve.autograd.functional.jacobian(f(nerve), (x, y))
    jac_t = torch.autograd.functional.jacobian(f(torch), (xt, yt))
    for row, row_t in zip(jac, jac_t):
        for block, block_t in zip(row, row_t):
            np.testing.assert_allclose(_np(block), block_t.numpy(), rtol=1e-10, atol=1e-14)
    v = rng.standard_normal((2, 3))
    single = lambda L: lambda x: (x.exp() * x).sum(dim=1)  # noqa: E731
    _, vj = nerve.autograd.functional.vjp(single(nerve), x, nerve.tensor(v[0, :2], device=device))
    _, vj_t = torch.autograd.functional.vjp(single(torch), xt, torch.tensor(v[0, :2]))
    np.testing.assert_allclose(_np(vj), vj_t.numpy(), rtol=1e-12)
    _, jv = nerve.autograd.functional.jvp(single(nerve), x, nerve.tensor(v, device=device))
    _, jv_t = torch.autograd.functional.jvp(single(torch), xt, torch.tensor(v))
    np.testing.assert_allclose(_np(jv), jv_t.numpy(), rtol=1e-12)


def test_maml_inner_and_outer_step_match_torch(device):
    """One MAML step: an inner SGD step taken with create_graph=True, the outer loss of the adapted
    weights backpropagated to the initial ones."""
    rng = np.random.default_rng(6)
    w0, b0 = rng.standard_normal((5, 4)) * 0.5, rng.standard_normal(5) * 0.1
    w20 = rng.standard_normal((3, 5)) * 0.5
    xs, xq = rng.standard_normal((8, 4)), rng.standard_normal((6, 4))
    ys, yq = rng.integers(0, 3, 8), rng.integers(0, 3, 6)
    grads = {}
    for lib, dev in ((nerve, device), (torch, "cpu")):
        Fn = lib.nn.functional
        w = lib.tensor(w0, device=dev, requires_grad=True)
        b = lib.tensor(b0, device=dev, requires_grad=True)
        w2 = lib.tensor(w20, device=dev, requires_grad=True)

        def model(x, w, b, w2, Fn=Fn):
            return Fn.linear(Fn.gelu(Fn.linear(x, w, b)), w2)

        params = [w, b, w2]
        inner = Fn.cross_entropy(model(lib.tensor(xs, device=dev), *params), lib.tensor(ys, device=dev))
        gs = lib.autograd.grad(inner, params, create_graph=True)
        fast = [p - 0.4 * g for p, g in zip(params, gs)]
        logits = model(lib.tensor(xq, device=dev), *fast)
        outer = Fn.cross_entropy(logits, lib.tensor(yq, device=dev)) \
            + Fn.mse_loss(Fn.log_softmax(logits, dim=1).exp(), lib.ones(6, 3, dtype=lib.float64, device=dev) / 3) \
            + Fn.nll_loss(Fn.log_softmax(logits, dim=1), lib.tensor(yq, device=dev), reduction="sum") * 0.1
        outer.backward()
        grads[lib.__name__] = [_np(p.grad) for p in params]
    for ours, theirs in zip(grads["nerve"], grads["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def _t(rng, *shape, low=None):
    a = rng.standard_normal(shape) if low is None else rng.uniform(low, low + 1.5, shape)
    return a


# each case: (function of nerve tensors, input arrays); second derivatives checked numerically
GRADGRAD_CASES = {
    "matmul_batched_broadcast": (lambda a, b: (a @ b).tanh(), [(2, 3, 4), (4, 2)]),
    "matmul_vector": (lambda a, b: (a @ b) * (b @ a[0]), [(3, 4), (4,)]),
    "linear": (lambda x, w, b: F.linear(x, w, b).sigmoid(), [(2, 3), (4, 3), (4,)]),
    "sum_mean_dims": (lambda x: (x.sum(1, keepdim=True) * x.mean((0, 2)).unsqueeze(-1)).exp(), [(2, 3, 2)]),
    "shapes": (lambda x: (x.reshape(3, 4).T.unsqueeze(0).permute(2, 0, 1).squeeze(1).flatten() ** 2),
               [(2, 6)]),
    "expand_broadcast": (lambda x, y: (x.expand(3, 4) * y) ** 2, [(1, 4), (3, 1)]),
    "indexing": (lambda x: x[1:, ::2] * x[0, :2] + x[nerve.tensor([0, 2, 2])][1:, 1:3] ** 2, [(3, 4)]),
    "cat_stack": (lambda x, y: nerve.cat([x, y * x], 0) * nerve.stack([y, x], 0).sum(0).repeat(2, 1), [(2, 3), (2, 3)]),
    "norms": (lambda x: x.norm(2, dim=1) * nerve.linalg.vector_norm(x, 2, dim=0).sum() + x.norm(), [(3, 2)]),
    "softmax_log_softmax": (lambda x: x.softmax(1) * x.log_softmax(0), [(3, 4)]),
    "logsumexp": (lambda x: x.logsumexp(dim=1) * x.logsumexp(dim=(0, 1)), [(3, 4)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, nerve.tensor([2, 0, 1]), label_smoothing=0.1,
                                                weight=nerve.tensor([1.0, 2.0, 0.5], dtype=nerve.float64)),
                      [(3, 3)]),
    "nll_mse": (lambda x, t: F.nll_loss(x.log_softmax(1), nerve.tensor([1, 0]), reduction="none")
                + F.mse_loss(x, t, reduction="none").sum(1), [(2, 3), (2, 3)]),
    "div_pow_tensor": (lambda a, b: a / b + a.abs() ** b, [(3,), (3,)]),
    "where_clamp_max": (lambda x, y: nerve.where(x > 0, x * y, y.exp()) + nerve.maximum(x, y) ** 2
                        + (x * y).clamp(-0.3, 0.3) * x, [(4,), (4,)]),
    "einsum_gather": (lambda x, y: nerve.einsum("ij,jk->ik", x, y).gather(1, nerve.tensor([[0], [1]])) ** 2,
                      [(2, 3), (3, 2)]),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD_CASES))
def test_gradgradcheck(name):
    fn, shapes = GRADGRAD_CASES[name]
    rng = np.random.default_rng(abs(hash(name)) % 2 ** 32)
    inputs = []
    for s in shapes:
        a = rng.standard_normal(s)
        if name == "div_pow_tensor":
            a = rng.uniform(0.5, 2.0, s)
        inputs.append(nerve.tensor(a, requires_grad=True))
    assert gradgradcheck(fn, inputs, atol=1e-6, rtol=1e-4)


def test_gradgradcheck_catches_a_wrong_double_backward(monkeypatch):
    from nerve import ops

    monkeypatch.setattr(ops.Tanh, "backward_t", lambda self, g: g * (1 - self.output(self.y)))
    x = nerve.tensor(np.linspace(-1, 1, 4), requires_grad=True)
    with pytest.raises(AssertionError, match=r"the gradients recorded with create_graph=True differ from "
                                             r"backward's"):
        gradgradcheck(lambda x: x.tanh(), [x])


def test_op_without_double_backward_raises_naming_it(device):
    x, xt = _pair([1.0, 2.0, 4.0], device)
    with pytest.raises(RuntimeError, match=r"create_graph=True: double backward of logcumsumexp "
                                           r"\(LogCumSumExpBackward0\) is not implemented in nerve"):
        grad(x.logcumsumexp(0).sum(), x, create_graph=True)
    # first order through the same op still works
    (g,) = grad(x.logcumsumexp(0).sum(), x)
    (gt,) = torch.autograd.grad(xt.logcumsumexp(0).sum(), xt)
    np.testing.assert_allclose(_np(g), gt.numpy(), rtol=1e-12)


def test_custom_function_backward_is_differentiable_and_once_differentiable_raises(device):
    class Cube(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    class CubeOnce(Cube):
        @staticmethod
        @nerve.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    x = nerve.tensor([1.0, -2.0], dtype=nerve.float64, device=device, requires_grad=True)
    (g,) = grad(Cube.apply(x).sum(), x, create_graph=True)
    (g2,) = grad(g.sum(), x)
    np.testing.assert_allclose(_np(g2), [6.0, -12.0])
    (g,) = grad(CubeOnce.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(_np(g), [3.0, 12.0])
    with pytest.raises(RuntimeError, match="marked with @once_differentiable"):
        grad(g.sum(), x)


def test_grad_outputs_that_require_grad_are_part_of_the_graph(device):
    x, xt = _pair([0.2, -0.7, 1.1], device)
    v, vt = _pair([1.0, 2.0, -1.0], device)
    (g,) = grad(x.exp() * x, x, grad_outputs=v, create_graph=True)
    (gt,) = torch.autograd.grad(xt.exp() * xt, xt, grad_outputs=vt, create_graph=True)
    gv, gx = grad((g * g).sum(), [v, x])
    gvt, gxt = torch.autograd.grad((gt * gt).sum(), [vt, xt])
    np.testing.assert_allclose(_np(gv), gvt.numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(gx), gxt.numpy(), rtol=1e-12)


def test_materialized_grads_of_unused_inputs_require_grad_under_create_graph(device):
    """torch gives ``zeros_like(input, requires_grad=create_graph)`` for an unused input, so the
    result can be differentiated again as the used ones can."""
    x, xt = _pair([0.5, -1.0], device)
    y, yt = _pair([2.0], device)
    gs = grad((x ** 3).sum(), [x, y], create_graph=True, materialize_grads=True)
    gst = torch.autograd.grad((xt ** 3).sum(), [xt, yt], create_graph=True, materialize_grads=True)
    assert [g.requires_grad for g in gs] == [g.requires_grad for g in gst] == [True, True]
    np.testing.assert_array_equal(_np(gs[1]), [0.0])
    h = grad(gs[0].sum() + gs[1].sum(), [x, y], allow_unused=True)
    ht = torch.autograd.grad(gst[0].sum() + gst[1].sum(), [xt, yt], allow_unused=True)
    np.testing.assert_allclose(_np(h[0]), ht[0].numpy())
    assert h[1] is None and ht[1] is None
    # first order: plain zeros, as torch's
    (_, z) = grad((x ** 3).sum(), [x, y], materialize_grads=True)
    assert not z.requires_grad


def test_functional_strict_mode_errors_as_torch():
    import nerve.autograd.functional as NF
    import torch.autograd.functional as TF

    cases = [("vjp", lambda lib: (lambda t: lib.ones(2))), ("jvp", lambda lib: (lambda t: lib.ones(2))),
             ("jacobian", lambda lib: (lambda t: lib.ones(2))),
             ("vjp", lambda lib: (lambda t, u: t * 2)), ("jvp", lambda lib: (lambda t, u: t * 2))]
    for name, make in cases:
        messages = []
        for lib, mod in ((nerve, NF), (torch, TF)):
            f = make(lib)
            args = (lib.ones(2), lib.ones(2)) if f.__code__.co_argcount == 2 else lib.ones(2)
            kw = {} if name == "jacobian" else {"v": (lib.ones(2), lib.ones(2)) if name == "jvp" and
                                                 isinstance(args, tuple) else lib.ones(2)}
            with pytest.raises(RuntimeError) as err:
                getattr(mod, name)(f, args, strict=True, **kw)
            messages.append(str(err.value))
        assert messages[0] == messages[1], (name, messages)
    out, j = NF.jvp(lambda t: t.sum() * 0 + nerve.ones(2), nerve.ones(2), nerve.ones(2), strict=True)
    assert j.tolist() == [0.0, 0.0]  # an output that requires grad: no error, as torch
