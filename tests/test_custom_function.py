"""PyTorch-style custom autograd Functions: several outputs, non-differentiable outputs,
materialized gradients, the setup_context form and once_differentiable, against torch 2.13."""

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


def _define(lib):
    """The same Functions written once for either library, as a user of PyTorch writes them."""
    from importlib import import_module

    once_differentiable = import_module(lib.__name__ + ".autograd.function").once_differentiable

    class SumAndProduct(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a + b, a * b

        @staticmethod
        def backward(ctx, g_sum, g_prod):
            a, b = ctx.saved_tensors
            return g_sum + g_prod * b, g_sum + g_prod * a

    class SortWithIndices(lib.autograd.Function):  # indices: an output without a gradient
        @staticmethod
        def forward(ctx, x):
            values, idx = x.sort(dim=-1)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return values, idx

        @staticmethod
        @once_differentiable
        def backward(ctx, g, g_idx):
            (idx,) = ctx.saved_tensors
            out = lib.zeros_like(g)
            out.scatter_(-1, idx, g)
            return out

    class Seen(lib.autograd.Function):  # records what backward received
        received = []

        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3, 7

        @staticmethod
        def backward(ctx, g1, g2, g3):
            Seen.received.append(tuple(None if g is None else g.detach().numpy().copy() for g in (g1, g2, g3)))
            g = (g1 * 2 if g1 is not None else 0) + (g2 * 3 if g2 is not None else 0)
            return g, None

    class Cube(lib.autograd.Function):  # PyTorch 2's form: forward without ctx, then setup_context
        @staticmethod
        def forward(x):
            return x ** 3, 3 * x ** 2

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0], output[1])

        @staticmethod
        def backward(ctx, g, g_dx):
            x, dx = ctx.saved_tensors
            return g * dx + g_dx * 6 * x

    return SumAndProduct, SortWithIndices, Seen, Cube


def _pair(shape, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(2)]


@pytest.mark.parametrize("lib", [torch, nerve], ids=["torch", "nerve"])
def test_the_functions_define_the_same_way_in_both_libraries(lib):
    assert len(_define(lib)) == 4


def test_two_outputs_used_together_give_torchs_gradients():
    a, b = _pair((3, 4), 0)
    results = []
    for lib in (torch, nerve):
        SumAndProduct = _define(lib)[0]
        x, y = (lib.tensor(v, requires_grad=True) for v in (a, b))
        s, p = SumAndProduct.apply(x, y)
        (s.sin().sum() + (p * p).mean()).backward()
        results.append((s.detach().numpy(), p.detach().numpy(), x.grad.numpy(), y.grad.numpy(),
                        s.requires_grad, p.requires_grad, type(s.grad_fn).__name__ if lib is nerve else None))
    for ours, theirs in zip(results[1][:4], results[0][:4]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert results[1][4:6] == (True, True)


def test_one_output_used_and_the_other_materialized_as_zeros():
    a, b = _pair((5,), 1)
    grads = []
    for lib in (torch, nerve):
        SumAndProduct = _define(lib)[0]
        x, y = (lib.tensor(v, requires_grad=True) for v in (a, b))
        _, p = SumAndProduct.apply(x, y)
        p.sum().backward()
        grads.append((x.grad.numpy(), y.grad.numpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-12)


@pytest.mark.parametrize("materialize", [True, False])
def test_what_backward_receives_for_unused_and_non_tensor_outputs(materialize):
    (a,) = _pair((2, 3), 2)[:1]
    received = []
    for lib in (torch, nerve):
        Seen = _define(lib)[2]
        x = lib.tensor(a, requires_grad=True)
        o1, o2, seven = Seen.apply(x, materialize)
        assert seven == 7
        o2.sum().backward()
        received.append((Seen.received[-1], x.grad.numpy()))
    (t1, t2, t3), tgrad = received[0]
    (n1, n2, n3), ngrad = received[1]
    assert (n1 is None) == (t1 is None) and (n3 is None) == (t3 is None)
    if t1 is not None:
        np.testing.assert_array_equal(n1, t1)
    np.testing.assert_array_equal(n2, t2)
    np.testing.assert_allclose(ngrad, tgrad)


def test_marked_non_differentiable_output_and_once_differentiable_backward():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 6))
    w = rng.standard_normal((4, 6))
    out = []
    for lib in (torch, nerve):
        SortWithIndices = _define(lib)[1]
        x = lib.tensor(a, requires_grad=True)
        values, idx = SortWithIndices.apply(x)
        assert values.requires_grad and not idx.requires_grad
        assert idx.dtype == lib.int64
        (values * lib.tensor(w)).sum().backward()
        out.append((values.detach().numpy(), idx.numpy(), x.grad.numpy()))
    for ours, theirs in zip(out[1], out[0]):
        np.testing.assert_array_equal(ours, theirs)


def test_setup_context_form_and_a_numeric_gradient_check():
    (a,) = _pair((3, 2), 4)[:1]
    grads = []
    for lib in (torch, nerve):
        Cube = _define(lib)[3]
        x = lib.tensor(a, requires_grad=True)
        y, dy = Cube.apply(x)
        (y.sum() + dy.square().sum()).backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
    Cube = _define(nerve)[3]
    assert nerve.autograd.gradcheck(lambda t: Cube.apply(t)[0] + Cube.apply(t)[1],
                                    (nerve.tensor(a, requires_grad=True),))


def test_outputs_feed_later_ops_and_autograd_grad_and_hooks():
    a, b = _pair((4,), 5)
    SumAndProduct = _define(nerve)[0]
    x, y = (nerve.tensor(v, requires_grad=True) for v in (a, b))
    s, p = SumAndProduct.apply(x, y)
    seen = []
    p.register_hook(lambda g: seen.append(g.numpy().copy()))
    s.retain_grad()
    gx, = nerve.autograd.grad((s * p).sum(), x, retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), p.detach().numpy() + s.detach().numpy() * b, rtol=1e-12)
    (s * p).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), p.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(seen[-1], s.detach().numpy(), rtol=1e-12)
    assert "SumAndProductBackward" in repr(s)


def test_wrong_number_of_gradients_and_wrong_return_are_errors():
    class Bad(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            return g1, g2

    s, p = Bad.apply(nerve.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError, match="incorrect number of gradients \\(expected 1, got 2\\)"):
        (s + p).sum().backward()

    class NotATensor(nerve.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return [x]

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="must return a tensor or a tuple"):
        NotATensor.apply(nerve.ones(2, requires_grad=True))
