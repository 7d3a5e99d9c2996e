"""Double backward of convolutions, pooling and normalisation: against PyTorch and finite differences."""

import numpy as np
import pytest

import nerve
from nerve.autograd import grad, gradgradcheck

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy()


def _second_derivatives(lib, fn, arrays, need, device, third=False):
    """First gradients (recorded) of a nonlinear loss of ``fn``'s output, then the gradients of a
    nonlinear function of those (and, with ``third``, once more), as numpy arrays."""
    dev = device if lib is nerve else "cpu"
    ts = [lib.tensor(a, device=dev, requires_grad=r) for a, r in zip(arrays, need)]
    y = fn(lib, *ts)
    ins = [t for t in ts if t.requires_grad]
    gs = lib.autograd.grad((y * y.sin()).sum(), ins, create_graph=True)
    g2 = lib.autograd.grad(sum((g * g.tanh()).sum() for g in gs), ins, create_graph=third)
    out = list(gs) + list(g2)
    if third:
        out += lib.autograd.grad(sum((g * g).sum() for g in g2), ins)
    return [_np(t) for t in out]


def _compare(fn, arrays, device, need=None, third=False):
    need = need or [True] * len(arrays)
    ours = _second_derivatives(nerve, fn, arrays, need, device, third)
    theirs = _second_derivatives(torch, fn, arrays, need, device, third)
    for a, b in zip(ours, theirs):
        # a few elements come out of large cancelling sums: their error is relative to the largest
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(b).max()))


def _conv(nd, transposed=False, **kw):
    name = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"
    return lambda L, x, w, b=None: getattr(L.nn.functional, name)((x * 1.3).tanh(), w, b, **kw)


# name: (function, shapes of input, weight, bias)
CONV_CASES = {
    "2d": (_conv(2), [(2, 3, 6, 5), (4, 3, 3, 2), (4,)]),
    "2d_stride_pad": (_conv(2, stride=2, padding=1), [(2, 3, 7, 6), (4, 3, 3, 3), (4,)]),
    "2d_dilation_groups": (_conv(2, stride=(1, 2), padding=(2, 1), dilation=2, groups=3), [(2, 3, 7, 7), (6, 1, 2, 3)]),
    "2d_depthwise": (_conv(2, padding=1, groups=4), [(2, 4, 5, 5), (4, 1, 3, 3), (4,)]),
    "2d_same_even_kernel": (_conv(2, padding="same", dilation=(1, 3)), [(2, 2, 5, 6), (3, 2, 4, 2), (3,)]),
    "2d_wide_rows": (_conv(2, padding=1), [(2, 2, 12, 13), (3, 2, 3, 3)]),  # rows of 10 or more: the narrow im2col
    "2d_dcgan": (_conv(2, stride=2, padding=1), [(2, 3, 8, 8), (4, 3, 4, 4), (4,)]),
    "1d": (_conv(1, stride=2, padding=2, dilation=2, groups=2), [(2, 4, 11), (6, 2, 3), (6,)]),
    "1d_same": (_conv(1, padding="same"), [(2, 3, 7), (2, 3, 4)]),
    "1d_unbatched": (_conv(1, padding=1), [(3, 7), (2, 3, 3), (2,)]),
    "3d": (_conv(3, stride=(1, 2, 1), padding=1, groups=2), [(2, 4, 4, 5, 4), (2, 2, 2, 3, 2), (2,)]),
    "transpose2d": (_conv(2, True, stride=2, padding=1, output_padding=1), [(2, 4, 3, 4), (4, 3, 3, 3), (3,)]),
    "transpose2d_groups_dilation": (_conv(2, True, stride=1, output_padding=1, dilation=2, groups=2),
                                    [(2, 4, 3, 4), (4, 1, 2, 3)]),
    "transpose1d": (_conv(1, True, stride=3, padding=1, groups=2), [(2, 4, 5), (4, 3, 3), (6,)]),
    "transpose3d": (_conv(3, True, stride=2), [(1, 2, 2, 3, 2), (2, 2, 2, 2, 2), (2,)]),
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv_second_derivatives_match_torch(device, name):
    fn, shapes = CONV_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    _compare(fn, [rng.standard_normal(s) for s in shapes], device)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, True)], ids=["input_only", "weight_only"])
def test_conv_second_derivatives_for_input_or_weight_only(device, need):
    rng = np.random.default_rng(7)
    fn, shapes = CONV_CASES["2d_stride_pad"]
    _compare(fn, [rng.standard_normal(s) for s in shapes], device, need=list(need))


@pytest.mark.parametrize("name", ["2d_dilation_groups", "transpose1d"])  # torch has no third of output_padding
def test_conv_third_derivatives_match_torch(device, name):
    fn, shapes = CONV_CASES[name]
    rng = np.random.default_rng(8)
    _compare(fn, [rng.standard_normal(s) for s in shapes], device, third=True)


def _fn(name, *args, square=True, **kw):
    def f(L, x, *params):
        x = x * x if square else x
        return getattr(L.nn.functional, name)(x, *args, *params, **kw)
    return f


NORM_POOL_CASES = {
    "layer_norm_affine": (lambda L, x, w, b: L.nn.functional.layer_norm(x, (3, 4), w, b), [(2, 3, 3, 4), (3, 4), (3, 4)]),
    "layer_norm_plain": (lambda L, x: L.nn.functional.layer_norm(x.tanh(), (4,)), [(3, 5, 4)]),
    "layer_norm_whole": (lambda L, x, w: L.nn.functional.layer_norm(x, (3, 4), w), [(3, 4), (3, 4)]),
    "group_norm": (lambda L, x, w, b: L.nn.functional.group_norm(x, 2, w, b), [(2, 4, 3, 2), (4,), (4,)]),
    "group_norm_plain": (lambda L, x: L.nn.functional.group_norm(x * x, 3), [(2, 6, 5)]),
    "instance_norm": (lambda L, x, w, b: L.nn.functional.instance_norm(x, weight=w, bias=b), [(2, 3, 4, 3), (3,), (3,)]),
    "batch_norm_train": (lambda L, x, w, b: L.nn.functional.batch_norm(x, None, None, w, b, training=True),
                         [(4, 3, 2, 2), (3,), (3,)]),
    "batch_norm_train_plain": (lambda L, x: L.nn.functional.batch_norm(x.tanh(), None, None, training=True), [(5, 3)]),
    "batch_norm_eval": (lambda L, x, w, b: L.nn.functional.batch_norm(
        x, L.tensor([0.3, -0.2, 0.1], dtype=L.float64), L.tensor([0.5, 1.5, 2.0], dtype=L.float64), w, b),
        [(4, 3, 2, 2), (3,), (3,)]),
    "max_pool2d": (_fn("max_pool2d", 2), [(2, 3, 4, 6)]),
    "max_pool2d_overlap_pad": (_fn("max_pool2d", 3, 2, 1), [(2, 2, 5, 6)]),
    "max_pool2d_dilation_ceil": (_fn("max_pool2d", 2, 2, 0, 2, True), [(1, 2, 7, 6)]),
    "max_pool1d": (_fn("max_pool1d", 3, 2, 1), [(2, 3, 8)]),
    "max_pool3d": (_fn("max_pool3d", 2, (1, 2, 2)), [(1, 2, 3, 4, 4)]),
    "adaptive_max_pool2d": (_fn("adaptive_max_pool2d", (2, 3)), [(2, 2, 5, 7)]),
    "avg_pool2d": (_fn("avg_pool2d", 2), [(2, 3, 4, 6)]),
    "avg_pool2d_pad_no_count": (_fn("avg_pool2d", 3, 2, 1, count_include_pad=False), [(2, 2, 5, 6)]),
    "avg_pool2d_ceil_divisor": (_fn("avg_pool2d", 3, 2, 1, True, divisor_override=5), [(1, 2, 6, 7)]),
    "avg_pool1d": (_fn("avg_pool1d", 3, 1, 1), [(2, 3, 6)]),
    "avg_pool3d": (_fn("avg_pool3d", 2), [(1, 2, 4, 4, 2)]),
    "adaptive_avg_pool2d": (_fn("adaptive_avg_pool2d", (2, 3)), [(2, 2, 5, 7)]),
    "pad_constant_and_crop": (_fn("pad", (1, -1, 2, 0), value=0.5), [(2, 3, 4)]),
    "local_response_norm": (_fn("local_response_norm", 3), [(2, 4, 3)]),
    "pad_reflect": (_fn("pad", (2, 1, 1, 2), mode="reflect"), [(1, 2, 4, 3)]),
    "pad_replicate_circular": (lambda L, x: L.nn.functional.pad(L.nn.functional.pad(x * x, (2, 1), mode="replicate"),
                                                                 (1, 2), mode="circular"), [(2, 2, 4)]),
}


@pytest.mark.parametrize("name", sorted(NORM_POOL_CASES))
def test_norm_and_pool_second_derivatives_match_torch(device, name):
    fn, shapes = NORM_POOL_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    _compare(fn, [rng.standard_normal(s) for s in shapes], device)


def _nerve_fn(fn):
    return lambda *ts: fn(nerve, *ts)


# small shapes: gradgradcheck perturbs every element, each time running a create_graph backward
GRADGRAD_CASES = {
    "conv2d": (CONV_CASES["2d_stride_pad"][0], [(1, 2, 4, 4), (2, 2, 3, 3), (2,)]),
    "conv2d_groups_dilation_same": (_conv(2, padding="same", dilation=(2, 1), groups=2), [(1, 2, 4, 3), (2, 1, 2, 2)]),
    "conv1d": (_conv(1, stride=2, padding=1), [(2, 2, 5), (2, 2, 3), (2,)]),
    "conv3d": (_conv(3, padding=(0, 1, 0)), [(1, 1, 3, 2, 3), (2, 1, 2, 2, 2)]),
    "conv_transpose2d": (_conv(2, True, stride=2, output_padding=1), [(1, 2, 2, 2), (2, 1, 2, 2), (1,)]),
    "layer_norm": (NORM_POOL_CASES["layer_norm_affine"][0], [(2, 3, 4), (3, 4), (3, 4)]),
    "layer_norm_bias_only": (lambda L, x, b: L.nn.functional.layer_norm(x, (4,), None, b), [(3, 4), (4,)]),
    "group_norm": (NORM_POOL_CASES["group_norm"][0], [(2, 4, 3), (4,), (4,)]),
    "batch_norm_train": (NORM_POOL_CASES["batch_norm_train"][0], [(3, 3, 2), (3,), (3,)]),
    "batch_norm_eval": (NORM_POOL_CASES["batch_norm_eval"][0], [(2, 3, 2), (3,), (3,)]),
    "max_pool2d": (NORM_POOL_CASES["max_pool2d_overlap_pad"][0], [(1, 2, 4, 5)]),
    "adaptive_max_pool2d": (NORM_POOL_CASES["adaptive_max_pool2d"][0], [(1, 2, 4, 5)]),
    "avg_pool2d": (NORM_POOL_CASES["avg_pool2d_pad_no_count"][0], [(1, 2, 4, 5)]),
    "pad_constant_and_crop": (NORM_POOL_CASES["pad_constant_and_crop"][0], [(2, 3, 4)]),
    "pad_reflect": (NORM_POOL_CASES["pad_reflect"][0], [(1, 1, 3, 3)]),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD_CASES))
def test_gradgradcheck(name):
    fn, shapes = GRADGRAD_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    inputs = [nerve.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradgradcheck(_nerve_fn(fn), inputs, atol=1e-6, rtol=1e-4)


def _critic(lib, norm: bool):
    nn = lib.nn
    layers = [nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2)]
    layers += [nn.Conv2d(4, 6, 4, 2, 1)] + ([nn.LayerNorm([6, 2, 2])] if norm else []) + [nn.LeakyReLU(0.2)]
    layers += [nn.Flatten(), nn.Linear(24, 1)]
    return nn.Sequential(*layers).double()


@pytest.mark.parametrize("norm", [False, True], ids=["plain", "layer_norm"])
def test_dcgan_wgan_gp_step_matches_torch(device, norm):
    """WGAN-GP on a DCGAN-style critic: the parameters' gradients of the loss with the gradient
    penalty, whose input gradients are recorded through the convolutions."""
    d = _critic(nerve, norm).to(device)
    dt = _critic(torch, norm)
    with torch.no_grad():
        for p, q in zip(d.parameters(), dt.parameters()):
            q.copy_(torch.from_numpy(_np(p)))
    rng = np.random.default_rng(9)
    real, fake = rng.standard_normal((5, 3, 8, 8)), rng.standard_normal((5, 3, 8, 8))
    eps = rng.random((5, 1, 1, 1))
    grads = {}
    for lib, net, dev in ((nerve, d, device), (torch, dt, "cpu")):
        r, f = lib.tensor(real, device=dev), lib.tensor(fake, device=dev)
        e = lib.tensor(eps, device=dev)
        x = (e * r + (1 - e) * f).requires_grad_(True)
        (g,) = lib.autograd.grad(net(x).sum(), x, create_graph=True)
        penalty = ((g.reshape(5, -1).norm(2, dim=1) - 1) ** 2).mean()
        loss = net(f).mean() - net(r).mean() + 10 * penalty
        loss.backward()
        grads[lib.__name__] = [_np(p.grad) for p in net.parameters()]
    assert len(grads["nerve"]) == len(grads["torch"])
    for ours, theirs in zip(grads["nerve"], grads["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_ops_still_without_double_backward_raise(device):
    x = nerve.tensor(np.linspace(0.5, 2.0, 24).reshape(1, 2, 3, 4), device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"create_graph=True: double backward of im2col \(Im2ColBackward0\)"):
        grad((nerve.nn.functional.unfold(x, 2) ** 2).sum(), x, create_graph=True)


def test_max_pool_double_backward_where_a_window_holds_only_minus_inf():
    """A padded window of -inf alone names a padding position as its maximum: create_graph's
    gradient leaves it out as first-order backward does, instead of adding at a wrapped index.
    (torch gives such a window's gradient to its first element inside the input; nerve's first
    order gives it none: a known difference, docs/HIGHER_ORDER.md.)"""
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 2:, 2:] = np.arange(4.0).reshape(2, 2)
    t = nerve.tensor(x, requires_grad=True)
    nerve.nn.functional.max_pool2d(t, 3, 2, padding=1).sum().backward()
    s = nerve.tensor(x, requires_grad=True)
    g, = grad(nerve.nn.functional.max_pool2d(s, 3, 2, padding=1).sum(), s, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), t.grad.numpy())
    assert t.grad.numpy().sum() == 1.0
