"""Double backward of var/std, the binary and smooth-L1 losses, embedding, interpolate, attention, the
inverse trigonometric and other elementwise ops, products, diagonals, scatters and determinants:
second derivatives against PyTorch (float64, 1e-10) and finite differences (gradgradcheck)."""

import numpy as np
import pytest

import nerve
from nerve.autograd import gradgradcheck

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy()


def _idx(L, a, device="cpu"):
    return L.tensor(np.asarray(a), device=device) if L is nerve else L.tensor(np.asarray(a))


def _second_derivatives(lib, fn, arrays, need, device):
    """The recorded first gradients of a nonlinear loss of ``fn``'s output, and the gradients of a
    nonlinear function of those, as numpy arrays (zeros for a gradient that does not exist)."""
    dev = device if lib is nerve else "cpu"
    ts = [lib.tensor(a, device=dev, requires_grad=r) if r else lib.tensor(a, device=dev)
          for a, r in zip(arrays, need)]
    y = fn(lib, dev, *ts)
    ins = [t for t in ts if t.requires_grad]
    gs = lib.autograd.grad((y * y.sin()).sum(), ins, create_graph=True)
    live = [g for g in gs if g.requires_grad]
    g2 = [None] * len(ins)
    if live:
        g2 = lib.autograd.grad(sum((g * g.tanh()).sum() for g in live), ins, allow_unused=True)
    return [_np(t) for t in gs] + [np.zeros(t.shape) if g is None else _np(g) for t, g in zip(ins, g2)]


def _arrays(name, spec):
    rng = np.random.default_rng(sum(map(ord, name)))
    out = []
    for s in spec:
        if isinstance(s, np.ndarray):
            out.append(s.astype(np.float64))
        elif isinstance(s, tuple) and s and isinstance(s[0], str):  # ("u", low, high, shape)
            out.append(rng.uniform(s[1], s[2], s[3]))
        else:
            out.append(rng.standard_normal(s))
    return out


def _bce(reduction="mean", weight=False):
    def f(L, dev, x, t):
        w = L.tensor([[0.5, 2.0, 1.0]], dtype=L.float64, device=dev) if weight else None
        return L.nn.functional.binary_cross_entropy(x, t, weight=w, reduction=reduction)
    return f


def _bce_logits(reduction="mean", weight=False, pos_weight=False):
    def f(L, dev, x, t):
        w = L.tensor([[0.5, 2.0, 1.0]], dtype=L.float64, device=dev) if weight else None
        pw = L.tensor([3.0, 0.5, 1.5], dtype=L.float64, device=dev) if pos_weight else None
        return L.nn.functional.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction)
    return f


def _interp(**kw):
    return lambda L, dev, x: L.nn.functional.interpolate((x * 1.3).tanh(), **kw)


def _sdpa(mask=None, float_mask=False, **kw):
    """Attention of (q, k, v), with a bool mask (a fixed pattern) or a float mask (the fourth input)."""
    def f(L, dev, q, k, v, m=None):
        am = m
        if mask is not None:
            am = _idx(L, mask, dev)
        return L.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=am, **kw)
    return f


_ROW_MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, False]])


I_ROWS = np.array([[0, 2, 1], [2, 2, 0]])  # a scatter index along dim 0 of a (3, 3) tensor (with repeats)
I_UNIQUE = np.array([[0, 2, 1], [1, 0, 2]])  # no repeats in a column: scatter's writes do not collide

# name: (function of (lib, device, *tensors), input specs[, which inputs require grad])
CASES = {
    # var / std
    "var_dim": (lambda L, d, x: x.var(1) * x.std(0).sum(), [(3, 4)]),
    "var_all_keepdim_correction0": (lambda L, d, x: x.var(correction=0) + x.std(1, keepdim=True) * x, [(3, 4)]),
    "var_tuple_dims": (lambda L, d, x: x.var((0, 2)) + x.std(), [(2, 3, 2)]),
    # losses
    "bce_mean": (_bce(), [("u", 0.1, 0.9, (2, 3)), ("u", 0, 1, (2, 3))]),
    "bce_sum_weight": (_bce("sum", weight=True), [("u", 0.1, 0.9, (2, 3)), ("u", 0, 1, (2, 3))]),
    "bce_none": (_bce("none"), [("u", 0.1, 0.9, (2, 3)), ("u", 0, 1, (2, 3))]),
    "bce_input_only": (_bce(), [("u", 0.1, 0.9, (2, 3)), ("u", 0, 1, (2, 3))], [True, False]),
    "bce_logits_mean": (_bce_logits(), [(2, 3), ("u", 0, 1, (2, 3))]),
    "bce_logits_none": (_bce_logits("none"), [(2, 3), ("u", 0, 1, (2, 3))]),
    "bce_logits_sum_weight_pos_weight": (_bce_logits("sum", weight=True, pos_weight=True), [(2, 3), ("u", 0, 1, (2, 3))]),
    "bce_logits_pos_weight_mean": (_bce_logits(pos_weight=True), [(2, 3), ("u", 0, 1, (2, 3))]),
    "smooth_l1": (lambda L, d, x, t: L.nn.functional.smooth_l1_loss(x * 2, t), [(2, 4), (2, 4)]),
    "smooth_l1_beta_sum": (lambda L, d, x, t: L.nn.functional.smooth_l1_loss(x, t, beta=0.5, reduction="sum"),
                           [(2, 4), (2, 4)]),
    "smooth_l1_beta0_none": (lambda L, d, x, t: L.nn.functional.smooth_l1_loss(x, t, beta=0.0, reduction="none") * x,
                             [(2, 4), (2, 4)]),
    "huber": (lambda L, d, x, t: L.nn.functional.huber_loss(x * 2, t, delta=0.7, reduction="none"), [(2, 4), (2, 4)]),
    "smooth_l1_number_target": (lambda L, d, x: L.nn.functional.smooth_l1_loss(x, L.zeros_like(x)) * x.sum(), [(2, 3)]),
    # embedding
    "embedding": (lambda L, d, w: L.nn.functional.embedding(_idx(L, [[0, 3, 1], [3, 3, 2]], d), w), [(4, 3)]),
    "embedding_padding_idx": (lambda L, d, w: L.nn.functional.embedding(_idx(L, [[0, 3, 1], [1, 3, 2]], d), w,
                                                                        padding_idx=1) ** 2, [(4, 3)]),
    # interpolate
    "nearest_2d": (_interp(scale_factor=2), [(1, 2, 2, 3)]),
    "nearest_2d_size": (_interp(size=(3, 5)), [(1, 2, 2, 3)]),
    "nearest_1d": (_interp(size=7, mode="nearest"), [(2, 1, 3)]),
    "nearest_exact_2d": (_interp(size=(3, 4), mode="nearest-exact"), [(1, 1, 4, 3)]),
    "bilinear": (_interp(scale_factor=2, mode="bilinear"), [(1, 2, 2, 3)]),
    "bilinear_align_corners": (_interp(size=(3, 5), mode="bilinear", align_corners=True), [(1, 2, 3, 3)]),
    "bicubic": (_interp(size=(4, 3), mode="bicubic"), [(1, 1, 3, 3)]),
    "linear": (_interp(size=5, mode="linear"), [(1, 2, 3)]),
    "trilinear": (_interp(size=(2, 3, 2), mode="trilinear"), [(1, 1, 2, 2, 2)]),
    "area": (_interp(size=(2, 2), mode="area"), [(1, 1, 4, 3)]),
    "bilinear_antialias": (_interp(size=(2, 3), mode="bilinear", antialias=True), [(1, 1, 4, 5)]),
    # attention
    "sdpa": (_sdpa(), [(2, 3, 4), (2, 4, 4), (2, 4, 3)]),
    "sdpa_heads": (_sdpa(), [(1, 2, 3, 2), (1, 2, 4, 2), (1, 2, 4, 2)]),
    "sdpa_broadcast_batch": (_sdpa(), [(2, 3, 2), (1, 4, 2), (1, 4, 2)]),
    "sdpa_bool_mask_scale": (_sdpa(mask=_ROW_MASK, scale=0.7), [(2, 3, 2), (2, 4, 2), (2, 4, 2)]),
    "sdpa_causal": (_sdpa(is_causal=True), [(2, 3, 2), (2, 3, 2), (2, 3, 3)]),
    "sdpa_float_mask": (_sdpa(), [(2, 3, 2), (2, 4, 2), (2, 4, 2), (3, 4)]),
    "sdpa_dropout_p0": (_sdpa(dropout_p=0.0), [(3, 2), (4, 2), (4, 2)]),
    "sdpa_value_only": (_sdpa(), [(2, 3, 2), (2, 4, 2), (2, 4, 2)], [False, False, True]),
    "sdpa_query_key_only": (_sdpa(), [(2, 3, 2), (2, 4, 2), (2, 4, 2)], [True, True, False]),
    # elementwise
    "logaddexp": (lambda L, d, a, b: L.logaddexp(a * 2, b) + L.logaddexp2(b, a), [(5,), (5,)]),
    "atan2": (lambda L, d, a, b: L.atan2(a, b), [(5,), (5,)]),
    "hypot": (lambda L, d, a, b: L.hypot(a, b), [(5,), (5,)]),
    "asin_acos_atanh": (lambda L, d, x: x.asin() * x.acos() + x.atanh(), [("u", -0.8, 0.8, (5,))]),
    "asinh": (lambda L, d, x: x.asinh() * x, [(5,)]),
    "acosh": (lambda L, d, x: x.acosh() * x, [("u", 1.2, 3.0, (5,))]),
    "fmod": (lambda L, d, a, b: L.fmod(a * 3, b) * a, [(6,), ("u", 0.5, 1.5, (6,))]),
    "fmax_fmin": (lambda L, d, a, b: L.fmax(a, b) * L.fmin(a * 2, b), [(6,), (6,)]),
    "erfinv": (lambda L, d, x: x.erfinv(), [("u", -0.9, 0.9, (5,))]),
    "lgamma_digamma_polygamma": (lambda L, d, x: x.lgamma() + x.digamma() * L.polygamma(1, x), [("u", 0.5, 3.0, (5,))]),
    # products
    "prod_dim": (lambda L, d, x: x.prod(1), [(3, 4)]),
    "prod_all": (lambda L, d, x: x.prod() * x, [(2, 3)]),
    "prod_keepdim_zero": (lambda L, d, x: x.prod(0, keepdim=True), [np.array([[0.0, 1.5, 0.0], [1.2, 0.0, 0.0],
                                                                              [-0.7, 2.0, 0.3]])]),
    "prod_all_zero": (lambda L, d, x: x.prod(), [np.array([[0.5, 0.0, -1.3], [1.1, 0.9, 2.0]])]),
    "cumprod": (lambda L, d, x: x.cumprod(1), [(2, 4)]),
    "cumprod_zeros": (lambda L, d, x: x.cumprod(0), [np.array([[0.5, 0.0, 1.2], [0.0, 1.5, -0.8], [2.0, 0.0, 0.0],
                                                               [0.7, 1.1, 1.3]])]),
    # diagonals
    "diagonal": (lambda L, d, x: x.diagonal(1, 0, 2) ** 2 + x.diagonal(-1, 2, 1).sum(), [(3, 2, 4)]),
    "diag_trace": (lambda L, d, x: x.diag() * x.trace(), [(3, 3)]),
    "diag_embed": (lambda L, d, v: (L.diag_embed(v * v, offset=-1) + L.diag_embed(v, 1, 2, 1)).sum(0) * L.diag(v[0], 1),
                   [(2, 3)]),
    # scatter and index_add
    "index_add": (lambda L, d, x, s: x.index_add(1, _idx(L, [2, 0, 2], d), s * s, alpha=0.5), [(2, 3), (2, 3)]),
    "scatter": (lambda L, d, x, s: x.scatter(0, _idx(L, I_UNIQUE, d), s * x[:1].sum()), [(3, 3), (2, 3)]),
    "scatter_value": (lambda L, d, x: x.scatter(1, _idx(L, [[1], [0]], d), 0.5) * x, [(2, 3)]),
    "scatter_add": (lambda L, d, x, s: x.scatter_add(0, _idx(L, I_ROWS, d), s) * x, [(3, 3), (2, 3)]),
    "scatter_reduce_sum": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s * s, "sum"), [(3, 3), (2, 3)]),
    "scatter_reduce_mean": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s * x[0, 0], "mean"),
                            [(3, 3), (2, 3)]),
    "scatter_reduce_mean_exclude": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s, "mean",
                                                                        include_self=False) * x, [(3, 3), (2, 3)]),
    "scatter_reduce_amax": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s, "amax") * x, [(3, 3), (2, 3)]),
    "scatter_reduce_amin_exclude": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s, "amin",
                                                                        include_self=False), [(3, 3), (2, 3)]),
    "scatter_reduce_prod": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s, "prod"),
                            [("u", 0.5, 2.0, (3, 3)), ("u", 0.5, 2.0, (2, 3))]),
    "scatter_reduce_prod_exclude": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s, "prod",
                                                                        include_self=False),
                                    [("u", 0.5, 2.0, (3, 3)), ("u", 0.5, 2.0, (2, 3))]),
    # determinants
    "det": (lambda L, d, a: L.linalg.det(a)[:, None, None] * a, [(2, 3, 3)]),
    "slogdet_logdet": (lambda L, d, a: L.linalg.slogdet(a)[1] + (a @ a.mT + L.eye(3, dtype=L.float64, device=d)).logdet(),
                       [(2, 3, 3)]),
}

# PyTorch cannot differentiate these twice (a src larger than the index); nerve's are checked numerically
NERVE_ONLY = {
    "scatter_larger_src": (lambda L, d, x, s: x.scatter(0, _idx(L, I_UNIQUE, d), s * s), [(3, 3), (3, 4)]),
    "scatter_add_larger_src": (lambda L, d, x, s: x.scatter_add(1, _idx(L, I_ROWS.T, d), s * s), [(3, 3), (4, 3)]),
    "scatter_reduce_mean_larger_src": (lambda L, d, x, s: x.scatter_reduce(0, _idx(L, I_ROWS, d), s * x[0, 0], "mean"),
                                       [(3, 3), (3, 4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_match_torch(device, name):
    fn, spec, *need = CASES[name]
    arrays = _arrays(name, spec)
    need = need[0] if need else [True] * len(arrays)
    ours = _second_derivatives(nerve, fn, arrays, need, device)
    with torch.nn.attention.sdpa_kernel([torch.nn.attention.SDPBackend.MATH]):  # the one torch differentiates twice
        theirs = _second_derivatives(torch, fn, arrays, need, device)
    # torch's trigamma is accurate to about 5e-10 (nerve's to 2e-16, against mpmath)
    rtol = 1e-8 if "gamma" in name else 1e-10
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12 * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("name", sorted(CASES) + sorted(NERVE_ONLY))
def test_gradgradcheck(name):
    fn, spec, *need = CASES[name] if name in CASES else NERVE_ONLY[name]
    arrays = _arrays(name, spec)
    need = need[0] if need else [True] * len(arrays)
    inputs = [nerve.tensor(a, requires_grad=r) for a, r in zip(arrays, need)]
    assert gradgradcheck(lambda *ts: fn(nerve, "cpu", *ts), inputs, atol=1e-6, rtol=1e-4)


def _compare(fn, arrays, device, need=None):
    need = need or [True] * len(arrays)
    ours = _second_derivatives(nerve, fn, arrays, need, device)
    theirs = _second_derivatives(torch, fn, arrays, need, device)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("mask", [None, "bool", "float"])
def test_attention_probs_and_batched_matmul_match_torch(device, mask):
    """``attention_probs`` and ``BatchedMatMul`` (MultiheadAttention's need_weights path) against the
    same softmax and product written with torch's ops."""
    from nerve.nn.functional.attention import BatchedMatMul, attention_probs

    rng = np.random.default_rng(11)
    arrays = [rng.standard_normal(s) for s in ((2, 3, 2), (2, 4, 2), (2, 4, 3), (3, 4))]
    need = [True, True, True, mask == "float"]

    def fn(L, dev, q, k, v, m):
        am = (_idx(L, _ROW_MASK, dev) if mask == "bool" else m) if mask else None
        if L is nerve:
            return BatchedMatMul.apply(attention_probs(q, k, am, scale=0.6), v)
        s = q @ k.mT * 0.6
        s = s.masked_fill(~am, -float("inf")) if mask == "bool" else s + am if mask == "float" else s
        return s.softmax(-1) @ v

    _compare(fn, arrays, device, need)
    inputs = [nerve.tensor(a, requires_grad=r) for a, r in zip(arrays, need)]
    assert gradgradcheck(lambda *ts: fn(nerve, "cpu", *ts), inputs, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_second_derivatives_match_torch(device, need_weights):
    """A gradient penalty through ``nn.MultiheadAttention`` (attention_probs and BatchedMatMul with
    ``need_weights``, scaled_dot_product_attention without): the parameters' gradients of the squared
    input gradient."""
    rng = np.random.default_rng(12)
    x0 = rng.standard_normal((2, 3, 4))
    grads, weights = {}, {}
    for lib, dev in ((nerve, device), (torch, "cpu")):
        lib.manual_seed(0)
        mha = lib.nn.MultiheadAttention(4, 2, batch_first=True).double().to(dev)
        if lib is torch:  # nerve's initial weights
            mha.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
        else:
            weights = {k: _np(v) for k, v in mha.state_dict().items()}  # nerve runs first
        x = lib.tensor(x0, device=dev, requires_grad=True)
        with torch.nn.attention.sdpa_kernel([torch.nn.attention.SDPBackend.MATH]):
            out, w = mha(x, x, x, need_weights=need_weights, average_attn_weights=False)
        loss = out.tanh().sum() + ((w * w).sum() if need_weights else 0)
        (g,) = lib.autograd.grad(loss, x, create_graph=True)
        (g * g).sum().backward()
        grads[lib.__name__] = [_np(x.grad)] + [_np(p.grad) for p in mha.parameters()]
    for a, b in zip(grads["nerve"], grads["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_sdpa_with_dropout_gradgradcheck():
    """Dropout on the attention weights: the same mask in every call (the seed set inside)."""
    rng = np.random.default_rng(13)
    inputs = [nerve.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 3, 2), (2, 4, 2), (2, 4, 2))]

    def fn(q, k, v):
        nerve.manual_seed(5)
        return nerve.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    assert gradgradcheck(fn, inputs, atol=1e-6, rtol=1e-4)


def test_dropout2d_second_derivatives_match_torch(device):
    x0 = np.random.default_rng(14).uniform(0.5, 1.5, (2, 4, 2, 2))
    nerve.manual_seed(3)
    mask = _np(nerve.nn.functional.dropout2d(nerve.tensor(x0, device=device), 0.5)) / x0
    assert sorted(set(np.round(mask.ravel(), 12))) == [0.0, 2.0]  # some channels dropped, some kept

    def fn(L, dev, x):
        if L is nerve:
            nerve.manual_seed(3)
            return L.nn.functional.dropout2d(x, 0.5) * x
        return x * L.tensor(mask) * x

    _compare(fn, [x0], device)
    assert gradgradcheck(lambda x: fn(nerve, "cpu", x), [nerve.tensor(x0, requires_grad=True)], atol=1e-6, rtol=1e-4)

    def fn3(x):  # dropout3d: the same op, on (N, C, D, H, W)
        nerve.manual_seed(4)
        return nerve.nn.functional.dropout3d(x, 0.5) * x

    assert gradgradcheck(fn3, [nerve.tensor(x0.reshape(2, 4, 2, 2, 1), requires_grad=True)], atol=1e-6, rtol=1e-4)


def test_to_device_is_differentiable_twice(device):
    from nerve.tensor import _ToDevice

    x0 = np.array([0.3, -1.2, 0.8])
    x = nerve.tensor(x0, requires_grad=True)
    (g,) = nerve.autograd.grad((_ToDevice.apply(x, target=nerve.device(device)) ** 3).sum(), x, create_graph=True)
    assert g.device == x.device
    (g2,) = nerve.autograd.grad((g * g).sum(), x)
    np.testing.assert_allclose(_np(g2), 2 * 3 * x0 ** 2 * 6 * x0, rtol=1e-12)  # d/dx of (3x^2)^2


@pytest.mark.parametrize("case", ["det_singular", "scatter_reduce_prod_zero"])
def test_cases_without_double_backward_raise_naming_the_op(case):
    x = nerve.tensor([[1.0, 2.0], [2.0, 4.0]] if case == "det_singular" else [[1.0, 0.0], [2.0, 3.0]],
                     dtype=nerve.float64, requires_grad=True)
    if case == "det_singular":
        y, node = x.det(), "det \\(DetBackward0\\)"
    else:
        y, node = x.scatter_reduce(0, nerve.tensor([[1, 0]]), x[:1] * 2, "prod"), "scatterreduce"
    (g1,) = nerve.autograd.grad(y.sum(), x, retain_graph=True)  # the first order works
    assert np.isfinite(_np(g1)).all()
    with pytest.raises(RuntimeError, match=f"create_graph=True: double backward of {node}"):
        nerve.autograd.grad(y.sum(), x, create_graph=True)


def test_third_derivatives_of_var_prod_and_cumprod_with_a_zero_match_torch():
    x0 = np.array([[0.0, 1.5, -0.7], [0.4, 2.0, 1.1]])
    out = {}
    for lib in (nerve, torch):
        x = lib.tensor(x0, requires_grad=True)
        y = x.prod(1).sum() + (x.var(0) * x[0]).sum() + (x.cumprod(1) * x).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (g2,) = lib.autograd.grad((g * g).sum(), x, create_graph=True)
        (g3,) = lib.autograd.grad((g2 * g2.sin()).sum(), x)
        out[lib.__name__] = [_np(t) for t in (g, g2, g3)]
    for a, b in zip(out["nerve"], out["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
