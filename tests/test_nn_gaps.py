"""What PyTorch users call that nerve.nn lacked, against torch in the same run: module backward
hooks (full, pre and the deprecated kind)."""

import warnings

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _np(t):
    if t is None:
        return None
    # a copy: torch may accumulate into the very tensor a hook was given
    return t.detach().cpu().numpy().copy() if hasattr(t, "cpu") else np.array(t)


def _same(a, b, rtol=1e-5, atol=1e-6):
    """Equal nested records: tuples of arrays, None, strings, numbers."""
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), (a, b)
        for k in a:
            _same(a[k], b[k], rtol, atol)
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            _same(x, y, rtol, atol)
    elif a is None or isinstance(a, (str, int, bool, np.bool_)):
        assert a == b, (a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _node_name(t):
    return repr(t.grad_fn).split()[0].rsplit(".", 1)[-1]


def _grads(gs):
    return tuple(_np(g) for g in gs)


def _copy_weights(src, dst_lib, dst):
    for (n, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        with dst_lib.no_grad():
            q.copy_(dst_lib.tensor(_np(p)))


def _both(program, *args, tol=(1e-5, 1e-6)):
    """Run ``program(lib, *args)`` with torch and with nerve; their records must be equal (to ``tol``:
    rtol, atol)."""
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        rt = program(torch, *args)
    with warnings.catch_warnings(record=True) as wn:
        warnings.simplefilter("always")
        rn = program(nerve, *args)
    _same(rn, rt, *tol)
    kinds = lambda ws: sorted({(w.category.__name__, str(w.message)[:60]) for w in ws  # noqa: E731
                               if "backward hook" in str(w.message)})
    assert kinds(wn) == kinds(wt)
    return rn


# ---------------------------------------------------------------- module backward hooks

def _linear_program(lib, x):
    lib.manual_seed(0)
    m = lib.nn.Linear(3, 2)
    with lib.no_grad():
        m.weight.copy_(lib.tensor(np.arange(6.0).reshape(2, 3) / 7, dtype=lib.float32))
        m.bias.copy_(lib.tensor([0.5, -0.25]))
    log = []
    h = m.register_full_backward_hook(lambda mod, gi, go: log.append(("full", mod is m, _grads(gi), _grads(go))))
    m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", _grads(go))))
    xt = lib.tensor(x, requires_grad=True)
    out = m(xt)
    name = _node_name(out)
    (out * lib.tensor([[1.0, 2.0]])).sum().backward()
    h.remove()
    m(xt).sum().backward()
    return log, _np(xt.grad), _np(m.weight.grad), name


def test_full_backward_hook_on_linear():
    log, *_ = _both(_linear_program, _rng().standard_normal((4, 3)).astype(np.float32))
    assert [e[0] for e in log] == ["pre", "full", "pre"]  # removed: the full hook ran once


def _sequential_program(lib, x):
    m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
    for i, layer in enumerate([m[0], m[2]]):
        with lib.no_grad():
            layer.weight.copy_(lib.tensor(np.cos(np.arange(layer.weight.numel()) + i).reshape(layer.weight.shape),
                                          dtype=lib.float32))
            layer.bias.fill_(0.1 * i)
    log = []
    for name, mod in [("seq", m), ("l0", m[0]), ("tanh", m[1]), ("l2", m[2])]:
        mod.register_full_backward_hook(lambda mod, gi, go, name=name: log.append((name, _grads(gi), _grads(go))))
        mod.register_full_backward_pre_hook(lambda mod, go, name=name: log.append((name + " pre", _grads(go))))
    xt = lib.tensor(x, requires_grad=True)
    m(xt).pow(2).sum().backward()
    return log, _np(xt.grad), [_np(p.grad) for p in m.parameters()]


def test_full_backward_hooks_on_a_sequential_run_in_torchs_order():
    log, *_ = _both(_sequential_program, _rng(1).standard_normal((2, 3)).astype(np.float32))
    assert [e[0] for e in log] == ["seq pre", "l2 pre", "l2", "tanh pre", "tanh", "l0 pre", "l0", "seq"]


class _TwoInputs:
    """A module of two tensor inputs and a number, with three outputs (one not a tensor)."""

    @staticmethod
    def make(lib):
        class Two(lib.nn.Module):
            def forward(self, a, b, k=2.0):
                return a * b * k, a + 1, 3

        return Two()


def _two_inputs_program(lib, a, b, which, b_grad):
    m = _TwoInputs.make(lib)
    log = []
    m.register_full_backward_hook(lambda mod, gi, go: log.append(("full", _grads(gi), _grads(go))))
    m.register_full_backward_pre_hook(lambda mod, go: log.append(("pre", _grads(go))))
    at, bt = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=b_grad)
    out = m(at, bt, 0.5)
    loss = {"first": out[0].sum(), "second": out[1].sum(), "both": (out[0] * out[1]).sum()}[which]
    loss.backward()
    return log, _np(at.grad), _np(bt.grad), out[2]


@pytest.mark.parametrize("which", ["first", "second", "both"])
@pytest.mark.parametrize("b_grad", [True, False])
def test_full_backward_hook_with_two_inputs_and_unused_outputs(which, b_grad):
    rng = _rng(2)
    _both(_two_inputs_program, rng.standard_normal(3), rng.standard_normal(3), which, b_grad)


def _no_input_grad_program(lib, x):
    m = lib.nn.Linear(3, 2)
    log = []
    m.register_full_backward_hook(lambda mod, gi, go: log.append(("full", _grads(gi), tuple(g.shape for g in go))))
    m(lib.tensor(x)).sum().backward()
    return log


def test_full_backward_hook_when_the_input_needs_no_grad_fires_at_the_output_and_warns():
    log = _both(_no_input_grad_program, np.ones((2, 3), np.float32))
    assert log[0][1] == (None,)


def _modifying_program(lib, x):
    m = lib.nn.Sequential(lib.nn.Linear(3, 3), lib.nn.ReLU(), lib.nn.Linear(3, 1))
    torch_m = m
    for layer in (torch_m[0], torch_m[2]):
        with lib.no_grad():
            layer.weight.copy_(lib.tensor(np.sin(np.arange(layer.weight.numel())).reshape(layer.weight.shape),
                                          dtype=lib.float32))
            layer.bias.fill_(0.1)
    # gradient clipping per layer, and a pre-hook scaling the gradient of the output
    m[1].register_full_backward_hook(lambda mod, gi, go: (gi[0].clamp(-0.2, 0.2),))
    m[2].register_full_backward_pre_hook(lambda mod, go: (go[0] * 3,))
    # the same hook twice: it runs twice, the second time on what the first returned
    seen = []

    def double(mod, gi, go):
        seen.append(_np(gi[0]))
        return (gi[0] * 2,)

    m[0].register_full_backward_hook(double)
    m[0].register_full_backward_hook(double)
    xt = lib.tensor(x, requires_grad=True)
    m(xt).sum().backward()
    return seen, _np(xt.grad), [_np(p.grad) for p in m.parameters()]


def test_hooks_that_return_new_gradients_and_a_hook_registered_twice():
    seen, gx, _ = _both(_modifying_program, _rng(3).standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_allclose(seen[1], 2 * seen[0], rtol=1e-6)


def _prepend_program(lib):
    m = lib.nn.Tanh()
    order = []
    m.register_full_backward_hook(lambda *a: order.append("a"))
    m.register_full_backward_hook(lambda *a: order.append("b"), prepend=True)
    m.register_full_backward_pre_hook(lambda *a: order.append("pre a"))
    m.register_full_backward_pre_hook(lambda *a: order.append("pre b"), prepend=True)
    x = lib.ones(2, requires_grad=True)
    out = m(x)
    out.sum().backward()
    with lib.no_grad():
        m(x)  # no graph: nothing set up
    return order, _node_name(out)


def test_hook_order_prepend_and_grad_fn_name():
    order, name = _both(_prepend_program)
    assert order == ["pre b", "pre a", "b", "a"] and name == "BackwardHookFunctionBackward"


def _errors_program(lib):
    out = []
    m = lib.nn.Tanh()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    try:
        m(lib.ones(2, requires_grad=True)).sum().backward()
    except RuntimeError as e:
        out.append(str(e))
    try:
        m.register_backward_hook(lambda *a: None)
    except RuntimeError as e:
        out.append(str(e))
    m = lib.nn.Tanh()
    m.register_full_backward_pre_hook(lambda mod, go: (go[0], go[0]))
    try:
        m(lib.ones(2, requires_grad=True)).sum().backward()
    except RuntimeError as e:
        out.append(str(e))
    return out


def test_hook_errors_as_torchs():
    assert len(_both(_errors_program)) == 3


def _legacy_program(lib, x, make, from_op):
    m = make(lib)
    log = []
    m.register_backward_hook(lambda mod, gi, go: log.append((_grads(gi), _grads(go))))
    h = m.register_backward_hook(lambda mod, gi, go: (gi[0] * 0.5,))
    xt = lib.tensor(x, requires_grad=True)
    out = m(xt * 2 if from_op else xt)
    (out * out).sum().backward()
    h.remove()
    m(xt).sum().backward()
    return log, _np(xt.grad)


LEGACY = {
    "relu": lambda lib: lib.nn.ReLU(),
    "tanh": lambda lib: lib.nn.Tanh(),
    "sigmoid": lambda lib: lib.nn.Sigmoid(),
    "softplus": lambda lib: lib.nn.Softplus(),
}


@pytest.mark.parametrize("name", list(LEGACY))
@pytest.mark.parametrize("from_op", [True, False])
def test_legacy_backward_hook_on_one_op_modules(name, from_op):
    # from a leaf torch warns that the forward "contains multiple autograd Nodes"; from an op it does not
    _both(_legacy_program, _rng(4).standard_normal((2, 3)), LEGACY[name], from_op)


def test_module_without_hooks_takes_the_plain_path_and_pickles_with_hooks_removed():
    m = nerve.nn.Linear(2, 2)
    assert not m._forward_pre_hooks and not m._backward_hooks
    h = m.register_full_backward_hook(lambda *a: None)
    assert m._forward_pre_hooks.__class__ is not dict and bool(m._forward_pre_hooks) and len(m._forward_pre_hooks) == 0
    h.remove()
    assert not m._forward_pre_hooks
    import copy
    c = copy.deepcopy(m)
    c.register_full_backward_pre_hook(lambda *a: None)
    assert not m._forward_pre_hooks and c._forward_pre_hooks


# ---------------------------------------------------------------- max unpooling

def _unpool_program(lib, x, nd, kernel, stride, padding, sized):
    pool = getattr(lib.nn, f"MaxPool{nd}d")(kernel, stride, padding, return_indices=True)
    unpool = getattr(lib.nn, f"MaxUnpool{nd}d")(kernel, stride, padding)
    xt = lib.tensor(x, requires_grad=True)
    y, idx = pool(xt)
    yd = y.detach().requires_grad_()
    out = unpool(yd, idx, output_size=(xt.shape if x.ndim == nd + 2 else xt.shape[-nd:]) if sized else None)
    w = lib.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))
    (out * w).sum().backward()
    # the functional form, from the pooling's output itself (the gradient flows back to x)
    f = getattr(lib.nn.functional, f"max_unpool{nd}d")(y, idx, kernel, stride, padding,
                                                          output_size=list(xt.shape[-nd:]) if sized else None)
    (f * f).sum().backward()
    return _np(out), _np(yd.grad), _np(f), _np(xt.grad), repr(unpool), _np(idx)


UNPOOL_CASES = [
    (1, (2, 3, 9), 2, None, 0, False), (1, (3, 8), 3, 2, 1, True),
    (2, (2, 2, 5, 6), 2, None, 0, True), (2, (1, 7, 7), (3, 2), (2, 1), (1, 0), False),
    (2, (1, 1, 6, 6), 2, 2, 1, False),
    (3, (1, 2, 4, 5, 4), 2, None, 0, True), (3, (2, 5, 4, 6), (2, 1, 3), (1, 1, 2), (1, 0, 1), True),
]


@pytest.mark.parametrize("case", range(len(UNPOOL_CASES)))
def test_max_unpool_matches_torch(case):
    nd, shape, kernel, stride, padding, sized = UNPOOL_CASES[case]
    _both(_unpool_program, _rng(case).standard_normal(shape), nd, kernel, stride, padding, sized)


def test_max_unpool_gradcheck_and_double_backward():
    from nerve.autograd import gradcheck, gradgradcheck

    x = nerve.tensor(_rng(5).standard_normal((2, 2, 4, 6)))
    y, idx = nerve.nn.functional.max_pool2d(x, 2, return_indices=True)
    y = y.detach().requires_grad_()
    f = lambda v: nerve.nn.functional.max_unpool2d(v, idx, 2) ** 2  # noqa: E731
    assert gradcheck(f, [y]) and gradgradcheck(f, [y])


def _unpool_errors(lib):
    F = lib.nn.functional
    y, i = F.max_pool2d(lib.tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2, return_indices=True)
    out = []
    for call in [lambda: F.max_unpool2d(y, i, 2, output_size=(9, 9)),
                 lambda: F.max_unpool2d(y, i, 2, output_size=(1, 2, 3)),
                 lambda: F.max_unpool2d(y, i + 20, 2),
                 lambda: F.max_unpool2d(y, i.float(), 2),
                 lambda: F.max_unpool2d(y, i[..., :1], 2)]:
        try:
            call()
            out.append("no error")
        except (RuntimeError, ValueError) as e:
            msg = str(e)  # (which invalid index torch names depends on its loop order)
            out.append(type(e).__name__ + ": " + (msg.split(":")[0] if "invalid max index" in msg else msg))
    return out


def test_max_unpool_errors_as_torchs():
    _both(_unpool_errors)


# ---------------------------------------------------------------- RReLU

def _rrelu_eval_program(lib, x, lower, upper, inplace):
    m = lib.nn.RReLU(lower, upper, inplace).eval()
    xt = lib.tensor(x, requires_grad=True)
    out = m(xt * 1.0)
    (out * out).sum().backward()
    f = lib.nn.functional.rrelu(xt.detach(), lower, upper)  # training=False by default
    return _np(out), _np(xt.grad), _np(f), repr(m)


@pytest.mark.parametrize("lower,upper,inplace", [(1 / 8, 1 / 3, False), (0.05, 0.5, True), (0.2, 0.2, False)])
def test_rrelu_eval_mode_matches_torch_exactly(lower, upper, inplace):
    _both(_rrelu_eval_program, _rng(6).standard_normal((3, 4, 5)).astype(np.float32), lower, upper, inplace)


def _rrelu_train_program(lib, x, lower, upper):
    lib.manual_seed(0)
    m = lib.nn.RReLU(lower, upper)
    xt = lib.tensor(x, requires_grad=True)
    out = m(xt)
    out.sum().backward()
    y, g = _np(out), _np(xt.grad)
    neg = x <= 0
    slope = y[neg] / x[neg]
    return dict(pos_unchanged=bool(np.array_equal(y[~neg], x[~neg])), pos_grad_one=bool((g[~neg] == 1).all()),
                grad_is_slope=bool(np.allclose(g[neg], slope, rtol=1e-5)),
                in_range=bool(slope.min() >= lower - 1e-6 and slope.max() <= upper + 1e-6),
                mean=slope.mean(), std=slope.std(), distinct=len(np.unique(slope)) > 0.9 * slope.size)


def test_rrelu_training_draws_uniform_slopes_as_torch():
    x = _rng(7).standard_normal(20000).astype(np.float32)
    lower, upper = 0.1, 0.4
    rt, rn = (_rrelu_train_program(lib, x, lower, upper) for lib in (torch, nerve))
    flags = ["pos_unchanged", "pos_grad_one", "grad_is_slope", "in_range", "distinct"]
    assert [rn[k] for k in flags] == [rt[k] for k in flags] == [True] * 5
    # uniform on [0.1, 0.4]: mean 0.25, std 0.3 / sqrt(12) = 0.0866; both within sampling error of torch's
    assert abs(rn["mean"] - rt["mean"]) < 0.006 and abs(rn["std"] - rt["std"]) < 0.004


# ---------------------------------------------------------------- FeatureAlphaDropout

def _feature_alpha_program(lib, x, p, training):
    lib.manual_seed(1)
    m = lib.nn.FeatureAlphaDropout(p)
    m.train(training)
    xt = lib.tensor(x, requires_grad=True)
    out = m(xt)
    (out * 2).sum().backward()
    y, g = _np(out), _np(xt.grad)
    if not training:
        return y, g, repr(m)
    n, c = x.shape[:2]
    planes, xs, gs = y.reshape(n * c, -1), x.reshape(n * c, -1), g.reshape(n * c, -1)
    dropped = np.array([np.all(r == r[0]) for r in planes])  # a dropped channel is one constant
    kept = ~dropped
    # kept channels are a * x + b with one a and b for all
    a = (planes[kept][:, 1] - planes[kept][:, 0]) / (xs[kept][:, 1] - xs[kept][:, 0])
    b = planes[kept][:, 0] - a * xs[kept][:, 0]
    a, b = np.median(a), np.median(b)
    fits = np.allclose(planes[kept], a * xs[kept] + b, rtol=1e-5, atol=1e-5)
    return dict(const=np.unique(planes[dropped][:, 0]).round(5), a=a.round(5), b=b.round(5), fits=fits, grad_kept=np.unique(gs[kept].round(5)),
                grad_dropped=np.unique(gs[dropped]), kept=kept.mean(), repr=repr(m))


def test_feature_alpha_dropout_eval_is_identity_as_torch():
    _both(_feature_alpha_program, _rng(8).standard_normal((2, 3, 4)).astype(np.float32), 0.3, False)


def test_feature_alpha_dropout_training_drops_whole_channels_as_torch():
    x = _rng(9).standard_normal((40, 50, 3, 2)).astype(np.float32)
    rt, rn = (_feature_alpha_program(lib, x, 0.3, True) for lib in (torch, nerve))
    assert abs(rn.pop("kept") - rt.pop("kept")) < 0.04  # 2000 channels, kept with probability 0.7
    assert rt["fits"] and len(rt["const"]) == 1
    _same(rn, rt)


def _feature_alpha_errors(lib):
    out = []
    for call in [lambda: lib.nn.functional.feature_alpha_dropout(lib.ones(3), 0.5, True),
                 lambda: lib.nn.FeatureAlphaDropout(1.5)]:
        try:
            call()
        except (RuntimeError, ValueError) as e:
            out.append(f"{type(e).__name__}: {e}")
    out.append(_np(lib.nn.functional.feature_alpha_dropout(lib.ones(2, 3), 1.0, True)))
    return out


def test_feature_alpha_dropout_errors_and_p_one():
    _both(_feature_alpha_errors)


# ---------------------------------------------------------------- TripletMarginWithDistanceLoss

def _triplet_program(lib, a, p, n, distance, swap, reduction, margin):
    F = lib.nn.functional
    dist = {"default": None, "cosine": lambda x, y: 1.0 - F.cosine_similarity(x, y),
            "l1": lib.nn.PairwiseDistance(p=1)}[distance]
    loss = lib.nn.TripletMarginWithDistanceLoss(distance_function=dist, margin=margin, swap=swap,
                                                reduction=reduction)
    ts = [lib.tensor(v, requires_grad=True) for v in (a, p, n)]
    out = loss(*ts)
    out.sum().backward()
    f = F.triplet_margin_with_distance_loss(*ts, distance_function=dist, margin=margin, swap=swap,
                                            reduction=reduction)
    return _np(out), [_np(t.grad) for t in ts], _np(f), repr(loss) if distance != "cosine" else ""


@pytest.mark.parametrize("distance", ["default", "cosine", "l1"])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_margin_with_distance_loss_matches_torch(distance, swap, reduction):
    rng = _rng(10)
    a, p, n = (rng.standard_normal((6, 5)) for _ in range(3))
    _both(_triplet_program, a, p, n, distance, swap, reduction, 1.5)


def _triplet_errors(lib):
    out = []
    F = lib.nn.functional
    for call in [lambda: lib.nn.TripletMarginWithDistanceLoss(margin=0),
                 lambda: F.triplet_margin_with_distance_loss(lib.ones(2, 3), lib.ones(2, 3), lib.ones(3), margin=1.0),
                 lambda: F.triplet_margin_with_distance_loss(lib.ones(2, 3), lib.ones(2, 3), lib.ones(2, 3),
                                                             reduction="avg")]:
        try:
            call()
        except (RuntimeError, ValueError) as e:
            out.append(f"{type(e).__name__}: {e}")
    return out


def test_triplet_margin_with_distance_loss_errors():
    assert len(_both(_triplet_errors)) == 3


# ---------------------------------------------------------------- parametrizations.spectral_norm

SN_LAYERS = {
    "linear": (lambda lib: lib.nn.Linear(5, 4), (3, 5), {}),
    "conv": (lambda lib: lib.nn.Conv2d(2, 3, 3), (2, 2, 5, 5), dict(n_power_iterations=2)),
    "conv_transpose": (lambda lib: lib.nn.ConvTranspose2d(3, 2, 2), (1, 3, 3, 3), {}),
    "linear_dim1": (lambda lib: lib.nn.Linear(3, 6), (2, 3), dict(dim=1, eps=1e-6)),
    "bias": (lambda lib: lib.nn.Linear(3, 4), (2, 3), dict(name="bias")),
}


def _spectral_program(lib, layer, x, state):
    make, _, kwargs = SN_LAYERS[layer]
    m = lib.nn.utils.parametrizations.spectral_norm(make(lib), **kwargs)
    keys = sorted(m.state_dict())
    m.load_state_dict({k: lib.tensor(v) for k, v in state.items()})  # torch's weights and u, v
    opt = lib.optim.SGD(m.parameters(), lr=0.1)
    record = [keys]
    xt = lib.tensor(x)
    for _ in range(3):
        out = m(xt)
        opt.zero_grad()
        (out * out).mean().backward()
        opt.step()
        record.append((_np(out), [_np(p.grad) for p in m.parameters()],
                       {k: _np(v) for k, v in m.state_dict().items()}))
    m.eval()
    name = kwargs.get("name", "weight")
    w1, w2 = getattr(m, name), getattr(m, name)  # eval: no power iteration, the same weight
    record.append((_np(m(xt)), _np(w1), _np(w2)))
    record.append(repr(m).replace("torch.nn.utils.parametrize.", "").replace("nerve.nn.utils.parametrize.", ""))
    return record


@pytest.mark.parametrize("layer", list(SN_LAYERS))
def test_spectral_norm_parametrization_matches_torch(layer):
    make, shape, kwargs = SN_LAYERS[layer]
    torch.manual_seed(0)
    ref = torch.nn.utils.parametrizations.spectral_norm(make(torch), **kwargs)
    state = {k: _np(v) for k, v in ref.state_dict().items()}
    _both(_spectral_program, layer, _rng(11).standard_normal(shape).astype(np.float32), state)


def test_spectral_norm_estimates_the_largest_singular_value():
    m = nerve.nn.utils.parametrizations.spectral_norm(nerve.nn.Linear(6, 5))
    w = _np(m.parametrizations.weight.original)
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    np.testing.assert_allclose(_np(m.weight), w / sigma, rtol=1e-4, atol=1e-6)


def _spectral_errors(lib):
    out = []
    P = lib.nn.utils.parametrizations
    for call in [lambda: P.spectral_norm(lib.nn.Linear(2, 2), n_power_iterations=0),
                 lambda: P.spectral_norm(lib.nn.Linear(2, 2), dim=2),
                 lambda: P.spectral_norm(lib.nn.ReLU())]:
        try:
            call()
        except (IndexError, ValueError) as e:
            out.append(f"{type(e).__name__}: {e}")
    return out


def test_spectral_norm_errors():
    assert len(_both(_spectral_errors)) == 3


# ---------------------------------------------------------------- parametrizations.orthogonal

ORTH_CASES = [(fm, shape, True) for fm in ("matrix_exp", "cayley", "householder", None)
              for shape in ((4, 4), (3, 5), (5, 3))] + [("householder", s, False) for s in ((4, 4), (3, 5), (5, 3))] + [("matrix_exp", (4, 4), False), ("cayley", (3, 5), False)]


def _orthogonal_program(lib, case, x, state, q):
    orthogonal_map, (fan_in, fan_out), trivial = ORTH_CASES[case]
    m = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(fan_in, fan_out), orthogonal_map=orthogonal_map,
                                                 use_trivialization=trivial)
    keys = sorted(m.state_dict())
    m.load_state_dict({k: lib.tensor(v) for k, v in state.items()})  # torch's original (and base)
    opt = lib.optim.SGD(m.parameters(), lr=0.2)
    record = [keys]
    xt = lib.tensor(x)
    for _ in range(3):
        out = m(xt)
        opt.zero_grad()
        (out.sin() * out).sum().backward()
        opt.step()
        w = _np(m.weight)
        small = w if w.shape[0] >= w.shape[1] else w.T
        record.append((_np(out), [_np(p.grad) for p in m.parameters()], w,
                       bool(np.allclose(small.T @ small, np.eye(small.shape[1]), atol=1e-5))))
    if trivial:  # assigning an orthogonal matrix: the weight becomes it
        with lib.no_grad():
            m.weight = lib.tensor(q)
        record.append(_np(m.weight))
    return record


@pytest.mark.parametrize("case", range(len(ORTH_CASES)))
def test_orthogonal_parametrization_matches_torch(case):
    orthogonal_map, (fan_in, fan_out), trivial = ORTH_CASES[case]
    torch.manual_seed(case)
    ref = torch.nn.utils.parametrizations.orthogonal(torch.nn.Linear(fan_in, fan_out),
                                                     orthogonal_map=orthogonal_map, use_trivialization=trivial)
    state = {k: _np(v) for k, v in ref.state_dict().items()}
    rng = _rng(12)
    q = np.linalg.qr(rng.standard_normal((max(fan_in, fan_out), min(fan_in, fan_out))))[0].astype(np.float32)
    q = q if fan_out >= fan_in else q.T
    # (float32 matrix exponentials and solves: torch's LAPACK calls and nerve's round differently)
    record = _both(_orthogonal_program, case, rng.standard_normal((2, fan_in)).astype(np.float32), state, q,
                   tol=(2e-4, 2e-5))
    assert all(r[3] for r in record[1:4])  # stays orthogonal through training


def _orthogonal_errors(lib):
    out = []
    P = lib.nn.utils.parametrizations
    for call in [lambda: P.orthogonal(lib.nn.Linear(2, 2), orthogonal_map="qr"),
                 lambda: P.orthogonal(lib.nn.LayerNorm(3)),
                 lambda: P.orthogonal(lib.nn.ReLU())]:
        try:
            call()
        except (ValueError, NotImplementedError) as e:
            out.append(f"{type(e).__name__}: {e}")
    m = P.orthogonal(lib.nn.Linear(2, 3), use_trivialization=False)
    try:
        m.weight = lib.ones(2, 3)
    except ValueError as e:
        out.append(str(e).replace("torch.Size", "").replace("nerve.Size", ""))
    return out


def test_orthogonal_errors():
    assert len(_both(_orthogonal_errors)) == 4


# ---------------------------------------------------------------- grid_sample: bicubic and volumes

def _grid_case(seed, nd):
    rng = _rng(100 + seed)
    n, c = rng.integers(1, 3), rng.integers(1, 3)
    sizes = tuple(int(v) for v in rng.integers(1, 6, nd))
    out = tuple(int(v) for v in rng.integers(1, 4, nd))
    return rng.standard_normal((n, c, *sizes)), rng.uniform(-1.4, 1.4, (n, *out, nd))


GRID_MODES = [(m, p, a) for m in ("bicubic",) for p in ("zeros", "border", "reflection") for a in (True, False)]
VOLUME_MODES = [(m, p, a) for m in ("bilinear", "nearest") for p in ("zeros", "border", "reflection")
                for a in (True, False)]


@pytest.mark.parametrize("case", range(len(GRID_MODES)))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_sample_bicubic_matches_torch(case, dtype):
    from _torch_compare import compare

    mode, padding, align = GRID_MODES[case]
    x, grid = _grid_case(case, 2)
    compare(torch, lambda a, g: nerve.nn.functional.grid_sample(a, g, mode, padding, align),
            lambda a, g: torch.nn.functional.grid_sample(a, g, mode, padding, align), [x, grid], [True, True],
            dtype=dtype)


@pytest.mark.parametrize("case", range(len(VOLUME_MODES)))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_sample_volumes_match_torch(case, dtype):
    from _torch_compare import compare

    mode, padding, align = VOLUME_MODES[case]
    x, grid = _grid_case(case, 3)
    compare(torch, lambda a, g: nerve.nn.functional.grid_sample(a, g, mode, padding, align),
            lambda a, g: torch.nn.functional.grid_sample(a, g, mode, padding, align), [x, grid], [True, True],
            dtype=dtype)


@pytest.mark.parametrize("mode,nd", [("bicubic", 2), ("bilinear", 3)])
def test_grid_sample_new_modes_gradcheck(mode, nd):
    from nerve.autograd import gradcheck

    x, grid = _grid_case(7, nd)
    xt, gt = nerve.tensor(x, requires_grad=True), nerve.tensor(grid * 0.9, requires_grad=True)
    for padding in ("zeros", "border", "reflection"):
        assert gradcheck(lambda a, b: nerve.nn.functional.grid_sample(a, b, mode, padding, False), [xt, gt])


def _affine3d_program(lib, theta, x, align):
    F = lib.nn.functional
    th = lib.tensor(theta, requires_grad=True)
    grid = F.affine_grid(th, list(x.shape), align_corners=align)
    xt = lib.tensor(x, requires_grad=True)
    out = F.grid_sample(xt, grid, align_corners=align)
    (out * out).sum().backward()
    return _np(grid), _np(out), _np(th.grad), _np(xt.grad), _node_name(out)


@pytest.mark.parametrize("align", [True, False])
def test_affine_grid_3d_spatial_transformer_matches_torch(align):
    rng = _rng(13)
    theta = np.eye(3, 4)[None] + 0.2 * rng.standard_normal((2, 3, 4))
    _both(_affine3d_program, theta, rng.standard_normal((2, 2, 3, 4, 5)), align, tol=(1e-9, 1e-10))


def _affine3d_errors(lib):
    F = lib.nn.functional
    out = []
    for call in [lambda: F.affine_grid(lib.zeros(2, 2, 3), (2, 1, 3, 4, 5), False),
                 lambda: F.affine_grid(lib.zeros(2, 3, 4), (3, 1, 3, 4, 5), False),
                 lambda: F.grid_sample(lib.zeros(1, 1, 2, 2, 2), lib.zeros(1, 1, 1, 1, 3), "bicubic",
                                       align_corners=False)]:
        try:
            call()
        except (RuntimeError, ValueError) as e:
            out.append(f"{type(e).__name__}: {e}".replace("torch.Size", "Size").replace("nerve.Size", "Size"))
    return out


def test_affine_grid_3d_and_volume_errors():
    assert len(_both(_affine3d_errors)) == 3


# ---------------------------------------------------------------- backward hooks in use

def _gradcam_program(lib, x, w):
    lib.manual_seed(0)
    conv = lib.nn.Conv2d(2, 3, 3, padding=1)
    model = lib.nn.Sequential(conv, lib.nn.ReLU(), lib.nn.AdaptiveAvgPool2d(1), lib.nn.Flatten(), lib.nn.Linear(3, 4))
    with lib.no_grad():
        for p, v in zip(model.parameters(), w):
            p.copy_(lib.tensor(v))
    saved = {}
    conv.register_forward_hook(lambda mod, args, out: saved.__setitem__("act", out.detach()))
    conv.register_full_backward_hook(lambda mod, gi, go: saved.__setitem__("grad", go[0].detach()))
    logits = model(lib.tensor(x))
    logits[:, 1].sum().backward()
    weights = saved["grad"].mean(dim=(2, 3), keepdim=True)
    cam = lib.relu((weights * saved["act"]).sum(dim=1))
    return _np(cam), _np(saved["grad"])


def test_grad_cam_with_a_full_backward_hook_matches_torch():
    rng = _rng(14)
    torch.manual_seed(0)
    shapes = [tuple(p.shape) for p in torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Linear(3, 4)).parameters()]
    w = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    _both(_gradcam_program, rng.standard_normal((2, 2, 6, 6)).astype(np.float32), w)


def _double_backward_program(lib):
    m = lib.nn.Tanh()
    log = []
    m.register_full_backward_hook(lambda mod, gi, go: log.append((_grads(gi), _grads(go))))
    x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    g, = lib.autograd.grad(m(x * 2).sum(), x, create_graph=True)
    g.sum().backward()
    return log, _np(g), _np(x.grad)


def test_backward_hooks_under_autograd_grad_and_create_graph():
    _both(_double_backward_program)


# ---------------------------------------------------------------- in-place activations, *_with_indices

INPLACE = [("leaky_relu_", (0.2,)), ("elu_", (0.7,)), ("selu_", ()), ("celu_", (1.3,)), ("hardtanh_", (-0.5, 0.8)),
           ("threshold_", (0.1, -2.0)), ("rrelu_", (0.1, 0.3))]


def _inplace_program(lib, name, args, x):
    xt = lib.tensor(x)
    out = getattr(lib.nn.functional, name)(xt, *args)
    return _np(out), _np(xt), out is xt


@pytest.mark.parametrize("name,args", INPLACE)
def test_in_place_activations_match_torch(name, args):
    _both(_inplace_program, name, args, _rng(15).standard_normal((3, 4)).astype(np.float32))


def _with_indices_program(lib, x):
    F = lib.nn.functional
    res = [F.max_pool1d_with_indices(lib.tensor(x[0]), 2), F.max_pool2d_with_indices(lib.tensor(x), 2, 1),
           F.max_pool3d_with_indices(lib.tensor(x[None]), 2), F.adaptive_max_pool1d_with_indices(lib.tensor(x[0]), 3),
           F.adaptive_max_pool2d_with_indices(lib.tensor(x), (2, 3)),
           F.adaptive_max_pool3d_with_indices(lib.tensor(x[None]), 2)]
    return [(_np(v), _np(i)) for v, i in res]


def test_pooling_with_indices_forms_match_torch():
    _both(_with_indices_program, _rng(16).standard_normal((2, 3, 6, 6)).astype(np.float32))


# ---------------------------------------------------------------- Module.set_submodule, Module.to_empty

def _set_submodule_program(lib):
    nn = lib.nn
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    out = []
    for args in [("", nn.ReLU()), ("0", 3), ("1.x", nn.Tanh(), True), ("2.x", nn.Tanh()), ("0.weight", nn.Tanh())]:
        try:
            m.set_submodule(*args)
            out.append("ok")
        except (ValueError, AttributeError) as e:
            out.append(f"{type(e).__name__}: {e}".replace("torch.nn", "nn").replace("nerve.nn", "nn"))
    m.set_submodule("1.0", nn.Tanh())
    m.set_submodule("1.new", nn.Tanh())
    m.set_submodule("0", nn.Linear(2, 5), strict=True)
    out.append(repr(m))
    return out


def test_set_submodule_matches_torch():
    _both(_set_submodule_program)


def _to_empty_program(lib):
    nn = lib.nn
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    w = m[0].weight
    m.to_empty(device="cpu")
    own = nn.Linear(2, 2)
    before = _np(own.weight)
    own.to_empty(device="cpu", recurse=False)
    out = [(n, tuple(p.shape), str(p.dtype).split(".")[-1], p.requires_grad, type(p).__name__)
           for n, p in m.state_dict(keep_vars=True).items()]
    m[0].reset_parameters()  # usable again once initialised
    y = m(lib.ones(2, 3))
    return out, m[0].weight is w, tuple(y.shape), tuple(own.weight.shape), before.shape


def test_to_empty_matches_torch():
    _both(_to_empty_program)


# ---------------------------------------------------------------- state_dict hooks

def _state_dict_hooks_program(lib):
    nn = lib.nn
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1)))
    log = []
    m[1].register_state_dict_pre_hook(lambda mod, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))

    def post(mod, sd, prefix, meta):
        log.append(("post", prefix, sorted(sd), meta.get("version")))
        sd[prefix + "note"] = lib.tensor(1.0)  # in place

    h = m[1][0].register_state_dict_post_hook(post)
    keys = sorted(m.state_dict())
    h.remove()
    m[1][0].register_state_dict_post_hook(lambda *a: 3)
    try:
        m.state_dict()
    except RuntimeError as e:
        log.append(str(e))
    # the private form may return a new dict
    m2 = nn.Linear(2, 2)
    m2._register_state_dict_hook(lambda mod, sd, prefix, meta: {k.upper(): v for k, v in sd.items()})
    return log, keys, sorted(m2.state_dict())


def test_state_dict_pre_and_post_hooks_match_torch():
    _both(_state_dict_hooks_program)


def _load_post_hooks_program(lib):
    nn = lib.nn
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1)))
    src = {k: lib.ones(v.shape) for k, v in m.state_dict().items()}
    log = []
    m.register_load_state_dict_post_hook(lambda mod, keys: log.append(("outer", list(keys.missing_keys),
                                                                       list(keys.unexpected_keys))))
    m[1][0].register_load_state_dict_post_hook(lambda mod, keys: log.append(("inner", _np(mod.weight).tolist())))
    log.append(str(m.load_state_dict(dict(src, extra=lib.ones(1)), strict=False)))
    partial = {k: v for k, v in src.items() if k != "0.bias"}
    try:
        m.load_state_dict(partial)
    except RuntimeError as e:
        log.append(str(e))

    def forgive(mod, keys):  # clearing the missing keys makes the strict load pass
        keys.missing_keys.clear()

    m.register_load_state_dict_post_hook(forgive)
    log.append(str(m.load_state_dict(partial)))
    m.register_load_state_dict_post_hook(lambda mod, keys: 1)
    try:
        m.load_state_dict(src)
    except AssertionError as e:
        log.append(str(e))
    return log


def test_load_state_dict_post_hooks_match_torch():
    _both(_load_post_hooks_program)


# ---------------------------------------------------------------- FractionalMaxPool2d / 3d

FRACTIONAL_CASES = [(2, (2, 3, 9, 11), 2, dict(output_size=(5, 4))), (2, (3, 10, 10), (3, 2), dict(output_ratio=(0.5, 0.7))),
                    (2, (1, 1, 7, 7), 3, dict(output_size=5)), (3, (1, 2, 6, 7, 8), 2, dict(output_size=(3, 4, 5))),
                    (3, (2, 5, 6, 5), (1, 2, 2), dict(output_ratio=(0.5, 0.5, 0.6)))]


def _fractional_program(lib, case, x, samples):
    nd, _, k, kw = FRACTIONAL_CASES[case]
    xt = lib.tensor(x, requires_grad=True)
    f = getattr(lib.nn.functional, f"fractional_max_pool{nd}d")
    y, idx = f(xt, k, return_indices=True, _random_samples=lib.tensor(samples), **kw)
    (y * y).sum().backward()
    m = getattr(lib.nn, f"FractionalMaxPool{nd}d")(k, return_indices=False, _random_samples=lib.tensor(samples), **kw)
    # drawn samples: other windows, but the same sizes, and each value is the input's at its index
    lib.manual_seed(0)
    y2, idx2 = getattr(lib.nn, f"FractionalMaxPool{nd}d")(k, return_indices=True, **kw)(xt)
    flat = x.reshape(*x.shape[:-nd], -1)
    consistent = np.array_equal(np.take_along_axis(flat, _np(idx2).reshape(*idx2.shape[:-nd], -1), -1),
                                _np(y2).reshape(*y2.shape[:-nd], -1))
    return _np(y), _np(idx), _np(xt.grad), _np(m(xt)), repr(m), tuple(y2.shape), consistent


@pytest.mark.parametrize("case", range(len(FRACTIONAL_CASES)))
def test_fractional_max_pool_matches_torch_for_given_samples(case):
    nd, shape, _, _ = FRACTIONAL_CASES[case]
    rng = _rng(17 + case)
    nb = 1 if len(shape) == nd + 1 else shape[0]
    samples = rng.random((nb, shape[-nd - 1], nd)).astype(np.float32)
    out = _both(_fractional_program, case, rng.standard_normal(shape).astype(np.float32), samples)
    assert out[-1] is True


def _fractional_errors(lib):
    out = []
    for call in [lambda: lib.nn.FractionalMaxPool2d(2), lambda: lib.nn.FractionalMaxPool2d(2, 3, 0.5),
                 lambda: lib.nn.FractionalMaxPool2d(2, output_ratio=1.5),
                 lambda: lib.nn.functional.fractional_max_pool2d(lib.ones(1, 1, 4, 4), 2)]:
        try:
            call()
        except ValueError as e:
            out.append(str(e))
    return out


def test_fractional_max_pool_errors():
    assert len(_both(_fractional_errors)) == 4


def _nll2d_program(lib, x, t):
    loss = lib.nn.NLLLoss2d(weight=lib.tensor([1.0, 2.0, 0.5]), ignore_index=1)
    xt = lib.tensor(x, requires_grad=True)
    out = loss(lib.log_softmax(xt, dim=1), lib.tensor(t))
    out.backward()
    return _np(out), _np(xt.grad), repr(loss), isinstance(loss, lib.nn.NLLLoss)


def test_nll_loss_2d_matches_torch():
    rng = _rng(18)
    _both(_nll2d_program, rng.standard_normal((2, 3, 4, 5)).astype(np.float32), rng.integers(0, 3, (2, 4, 5)))
