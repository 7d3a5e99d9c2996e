"""Losses against PyTorch (functional and module forms, values and gradients, float64 and float32),
numeric gradient checks of the fused ops, and their error messages."""

import numpy as np
import pytest

import nerve
import nerve.nn as nn
import nerve.nn.functional as NF
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=1e-4, atol=1e-6)}


def _pair(arr, dtype, grad=False):
    """The same data as a nerve and a torch tensor."""
    if arr.dtype.kind in "iu":
        return nerve.tensor(arr, dtype="int64"), torch.tensor(arr, dtype=torch.int64)
    return (nerve.tensor(arr, dtype=dtype, requires_grad=grad),
            torch.tensor(arr, dtype=getattr(torch, dtype), requires_grad=grad))


def _compare(n_out, t_out, n_in, t_in, dtype, seed=0):
    assert n_out.dtype.name == dtype
    assert tuple(n_out.shape) == tuple(t_out.shape)
    np.testing.assert_allclose(n_out.detach().numpy(), t_out.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)) + 1.5
    t_out.backward(torch.tensor(g, dtype=t_out.dtype))
    n_out.backward(nerve.tensor(g, dtype=dtype))
    for i, (nt, tt) in enumerate(zip(n_in, t_in)):
        if tt.requires_grad:
            assert nt.grad is not None, f"input {i} got no gradient"
            np.testing.assert_allclose(nt.grad.numpy(), tt.grad.numpy(), **TOL[dtype], err_msg=f"input {i}")


def _ce_inputs(shape_x, c, rng, ignore=None):
    x = rng.standard_normal(shape_x) * 3
    t = rng.integers(0, c, size=(shape_x[0],) + tuple(shape_x[2:]))
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return x, t


CE_OPTIONS = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(weight=True, reduction="none"),
    dict(ignore_index=2),
    dict(ignore_index=-100, ignored=True),
    dict(ignore_index=-1, ignored=True, weight=True),
    dict(label_smoothing=0.1),
    dict(label_smoothing=0.2, weight=True),
    dict(label_smoothing=0.3, weight=True, ignore_index=-100, ignored=True, reduction="sum"),
    dict(label_smoothing=0.15, ignore_index=-5, ignored=True, reduction="none"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(6, 5), (4, 5, 3), (3, 5, 2, 2), (5,)])
@pytest.mark.parametrize("opts", CE_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_cross_entropy_indices(opts, shape, dtype):
    opts = dict(opts)
    rng = np.random.default_rng(len(shape) * 100 + len(opts))
    c = 5
    ignored = opts.pop("ignored", False)
    ii = opts.get("ignore_index", -100)
    if len(shape) == 1:
        x = rng.standard_normal(shape)
        t = np.array(rng.integers(0, c))
    else:
        x, t = _ce_inputs(shape, c, rng, ignore=ii if ignored else None)
    kw = {k: v for k, v in opts.items() if k != "weight"}
    nx, tx = _pair(x, dtype, grad=True)
    nt, tt = _pair(t, dtype)
    if opts.get("weight"):
        w = rng.uniform(0.2, 2.0, size=c)
        nw, tw = _pair(w, dtype)
        kw_n, kw_t = dict(kw, weight=nw), dict(kw, weight=tw)
    else:
        kw_n = kw_t = kw
    _compare(NF.cross_entropy(nx, nt, **kw_n), TF.cross_entropy(tx, tt, **kw_t), [nx], [tx], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opts", [dict(), dict(reduction="sum"), dict(reduction="none"), dict(weight=True),
                                  dict(label_smoothing=0.2), dict(label_smoothing=0.1, weight=True)])
@pytest.mark.parametrize("shape", [(4, 5), (3, 5, 2)])
def test_cross_entropy_probabilities(opts, shape, dtype):
    opts = dict(opts)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    p = rng.uniform(size=shape)
    p /= p.sum(axis=1, keepdims=True)
    nx, tx = _pair(x, dtype, grad=True)
    npr, tpr = _pair(p, dtype, grad=True)
    kw_n, kw_t = dict(opts), dict(opts)
    if opts.pop("weight", None):
        w = rng.uniform(0.5, 2, size=shape[1])
        kw_n["weight"], kw_t["weight"] = _pair(w, dtype)
    _compare(NF.cross_entropy(nx, npr, **kw_n), TF.cross_entropy(tx, tpr, **kw_t), [nx, npr], [tx, tpr], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opts", [dict(), dict(reduction="sum"), dict(reduction="none"), dict(weight=True),
                                  dict(ignore_index=1), dict(weight=True, ignore_index=0, reduction="none")])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_nll_loss(opts, shape, dtype):
    opts = dict(opts)
    rng = np.random.default_rng(3)
    x, t = _ce_inputs(shape, 4, rng)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    nx, tx = _pair(logp, dtype, grad=True)
    nt, tt = _pair(t, dtype)
    kw_n, kw_t = dict(opts), dict(opts)
    if opts.pop("weight", None):
        kw_n.pop("weight"), kw_t.pop("weight")
        kw_n["weight"], kw_t["weight"] = _pair(rng.uniform(0.5, 2, size=4), dtype)
    _compare(NF.nll_loss(nx, nt, **kw_n), TF.nll_loss(tx, tt, **kw_t), [nx], [tx], dtype)


REGRESSION = {
    "mse": (lambda F, a, b: F.mse_loss(a, b), None),
    "mse_sum": (lambda F, a, b: F.mse_loss(a, b, reduction="sum"), None),
    "mse_none": (lambda F, a, b: F.mse_loss(a, b, reduction="none"), None),
    "l1": (lambda F, a, b: F.l1_loss(a, b), None),
    "l1_none": (lambda F, a, b: F.l1_loss(a, b, reduction="none"), None),
    "smooth_l1": (lambda F, a, b: F.smooth_l1_loss(a, b), None),
    "smooth_l1_beta": (lambda F, a, b: F.smooth_l1_loss(a, b, beta=0.5, reduction="sum"), None),
    "smooth_l1_beta0": (lambda F, a, b: F.smooth_l1_loss(a, b, beta=0.0), None),
    "huber": (lambda F, a, b: F.huber_loss(a, b, delta=0.7), None),
    "bce": (lambda F, a, b: F.binary_cross_entropy(a, b), "prob"),
    "bce_none": (lambda F, a, b: F.binary_cross_entropy(a, b, reduction="none"), "prob"),
    "bce_logits": (lambda F, a, b: F.binary_cross_entropy_with_logits(a, b), "target01"),
    "bce_logits_sum": (lambda F, a, b: F.binary_cross_entropy_with_logits(a, b, reduction="sum"), "target01"),
    "kl_div": (lambda F, a, b: F.kl_div(a, b, reduction="batchmean"), "logprob"),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_elementwise_losses(name, dtype):
    fn, kind = REGRESSION[name]
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 3)) * 2
    b = rng.standard_normal((4, 3)) * 2
    if kind == "prob":
        a, b = rng.uniform(0.02, 0.98, (4, 3)), rng.uniform(0, 1, (4, 3))
    elif kind == "target01":
        b = rng.uniform(0, 1, (4, 3))
    elif kind == "logprob":
        a = np.log(rng.dirichlet(np.ones(3), 4))
        b = rng.dirichlet(np.ones(3), 4)
    na, ta = _pair(a, dtype, grad=True)
    nb, tb = _pair(b, dtype, grad=True)
    _compare(fn(NF, na, nb), fn(TF, ta, tb), [na, nb], [ta, tb], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bce_weights(dtype):
    rng = np.random.default_rng(5)
    p, y = rng.uniform(0.05, 0.95, (5, 3)), rng.uniform(0, 1, (5, 3))
    w = rng.uniform(0.5, 2, (3,))
    x = rng.standard_normal((5, 3)) * 4
    pw = rng.uniform(0.5, 3, (3,))
    n_p, t_p = _pair(p, dtype, grad=True)
    n_y, t_y = _pair(y, dtype)
    n_w, t_w = _pair(w, dtype)
    _compare(NF.binary_cross_entropy(n_p, n_y, weight=n_w), TF.binary_cross_entropy(t_p, t_y, weight=t_w),
             [n_p], [t_p], dtype)
    n_x, t_x = _pair(x, dtype, grad=True)
    n_y2, t_y2 = _pair(y, dtype, grad=True)
    n_pw, t_pw = _pair(pw, dtype)
    _compare(NF.binary_cross_entropy_with_logits(n_x, n_y2, weight=n_w, pos_weight=n_pw, reduction="none"),
             TF.binary_cross_entropy_with_logits(t_x, t_y2, weight=t_w, pos_weight=t_pw, reduction="none"),
             [n_x, n_y2], [t_x, t_y2], dtype)


def test_modules_match_functional():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4))
    t = rng.integers(0, 4, 6)
    w = rng.uniform(0.5, 2, 4)
    pairs = [
        (nn.CrossEntropyLoss(weight=nerve.tensor(w), label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1), x, t),
        (nn.NLLLoss(reduction="sum"), torch.nn.NLLLoss(reduction="sum"), x, t),
        (nn.MSELoss(), torch.nn.MSELoss(), x, x[::-1].copy()),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), x, x[::-1].copy()),
        (nn.SmoothL1Loss(beta=0.3), torch.nn.SmoothL1Loss(beta=0.3), x, x[::-1].copy()),
        (nn.HuberLoss(delta=2.0), torch.nn.HuberLoss(delta=2.0), x, x[::-1].copy()),
        (nn.BCELoss(), torch.nn.BCELoss(), 1 / (1 + np.exp(-x)), (x > 0).astype(float)),
        (nn.BCEWithLogitsLoss(pos_weight=nerve.tensor(w)), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w)),
         x, (x > 0).astype(float)),
    ]
    for n_mod, t_mod, a, b in pairs:
        na, ta = _pair(a, "float64", grad=True)
        nb, tb = _pair(b, "float64")
        _compare(n_mod(na, nb), t_mod(ta, tb), [na], [ta], "float64")
        assert repr(n_mod).replace("nerve", "torch") == repr(t_mod)


def test_loss_state_dict_keys_match_torch():
    w = np.ones(3)
    assert list(nn.CrossEntropyLoss(weight=nerve.tensor(w)).state_dict()) == list(
        torch.nn.CrossEntropyLoss(weight=torch.tensor(w)).state_dict())
    assert list(nn.BCEWithLogitsLoss(pos_weight=nerve.tensor(w)).state_dict()) == list(
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w)).state_dict())


# ---------------------------------------------------------------- numeric gradient checks


@pytest.mark.parametrize("kw", [dict(), dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2),
                                dict(weight=True, label_smoothing=0.3), dict(ignore_index=1, weight=True)])
def test_cross_entropy_gradcheck(kw):
    kw = dict(kw)
    if kw.pop("weight", None):
        kw["weight"] = nerve.tensor([0.5, 1.5, 2.0, 1.0], dtype=nerve.float64)
    x = nerve.randn(5, 4, dtype=nerve.float64, requires_grad=True)
    t = nerve.tensor([0, 1, 3, 1, 2])
    assert gradcheck(lambda x: NF.cross_entropy(x, t, **kw), [x])


def test_cross_entropy_kdim_gradcheck():
    x = nerve.randn(2, 3, 2, 2, dtype=nerve.float64, requires_grad=True)
    t = nerve.tensor([[[0, 1], [2, 2]], [[1, 0], [0, 2]]])
    assert gradcheck(lambda x: NF.cross_entropy(x, t, label_smoothing=0.1), [x])


def test_nll_and_bce_gradcheck():
    x = nerve.randn(5, 4, dtype=nerve.float64, requires_grad=True)
    t = nerve.tensor([0, 1, 3, 1, 2])
    assert gradcheck(lambda x: NF.nll_loss(x, t, ignore_index=3), [x])
    z = nerve.randn(3, 4, dtype=nerve.float64, requires_grad=True)
    y = nerve.rand(3, 4, dtype=nerve.float64, requires_grad=True)
    pw = nerve.tensor([1.0, 2.0, 0.5, 3.0], dtype=nerve.float64)
    assert gradcheck(lambda z, y: NF.binary_cross_entropy_with_logits(z, y, pos_weight=pw), [z, y])
    p = (nerve.rand(3, 4, dtype=nerve.float64) * 0.8 + 0.1).requires_grad_()
    assert gradcheck(lambda p, y: NF.binary_cross_entropy(p, y), [p, y])
    d = nerve.randn(3, 4, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(lambda d, y: NF.smooth_l1_loss(d, y, beta=0.4), [d, y])


def test_cross_entropy_matches_composite():
    """The fused op against log_softmax followed by picking the target."""
    x = nerve.randn(8, 6, requires_grad=True)
    t = nerve.randint(0, 6, (8,))
    fused = NF.cross_entropy(x, t)
    fused.backward()
    g_fused = x.grad.numpy().copy()
    x.grad = None
    comp = -(NF.log_softmax(x, 1) * NF.one_hot(t, 6).float()).sum(1).mean()
    comp.backward()
    np.testing.assert_allclose(fused.item(), comp.item(), rtol=1e-6)
    np.testing.assert_allclose(g_fused, x.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_cross_entropy_stable_and_float32():
    x = nerve.tensor([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 1.0]], requires_grad=True)
    loss = NF.cross_entropy(x, nerve.tensor([0, 2]))
    assert loss.dtype == nerve.float32
    np.testing.assert_allclose(loss.item(), (0.0 + 499.0) / 2, rtol=1e-6)
    loss.backward()
    assert x.grad.dtype == nerve.float32
    assert np.isfinite(x.grad.numpy()).all()


# ---------------------------------------------------------------- errors


def test_target_out_of_bounds_names_it():
    x = nerve.randn(3, 10)
    with pytest.raises(IndexError, match="Target 12 is out of bounds for 10 classes"):
        NF.cross_entropy(x, nerve.tensor([1, 12, 3]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds for 10 classes"):
        NF.cross_entropy(x, nerve.tensor([1, -1, 3]))
    with pytest.raises(IndexError, match="Target 10 is out of bounds"):
        NF.nll_loss(x, nerve.tensor([10, 0, 0]))
    with pytest.raises(IndexError, match="Target 10 is out of bounds"):
        nn.CrossEntropyLoss()(x, nerve.tensor([10, 0, 0]))
    # the ignore index itself is fine
    NF.cross_entropy(x, nerve.tensor([1, -100, 3]))


def test_loss_shape_and_option_errors():
    x = nerve.randn(3, 4)
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        NF.cross_entropy(x, nerve.tensor([1, 2]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        NF.cross_entropy(x, nerve.tensor([1, 2, 0]), reduction="avg")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):  # as torch
        NF.cross_entropy(x, nerve.tensor([1, 2, 0]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4 classes"):
        NF.cross_entropy(x, nerve.tensor([1, 2, 0]), weight=nerve.ones(3))
    with pytest.raises(ValueError, match="Target size .* must be the same as input size"):
        NF.binary_cross_entropy_with_logits(x, nerve.rand(3, 1))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        NF.binary_cross_entropy(x * 5, nerve.rand(3, 4))
    with pytest.warns(UserWarning, match="different to the input size"):
        NF.mse_loss(nerve.randn(3, 1), nerve.randn(3))


def test_all_ignored_mean_is_nan_like_torch():
    x = np.random.default_rng(0).standard_normal((2, 3))
    t = np.array([-100, -100])
    with np.errstate(all="ignore"):
        n = NF.cross_entropy(nerve.tensor(x), nerve.tensor(t)).item()
    tv = TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item()
    assert np.isnan(n) and np.isnan(tv)


@pytest.mark.parametrize("opts", CE_OPTIONS[:6] + CE_OPTIONS[8:11], ids=lambda o: ",".join(map(str, o)) or "default")
def test_losses_same_on_every_device(opts, device):
    opts = dict(opts)
    rng = np.random.default_rng(4)
    ignored = opts.pop("ignored", False)
    x, t = _ce_inputs((6, 5, 2), 5, rng, ignore=opts.get("ignore_index", -100) if ignored else None)
    w = rng.uniform(0.2, 2.0, size=5)
    results = []
    for dev in ("cpu", device):
        nx = nerve.tensor(x, device=dev, requires_grad=True)
        kw = dict(opts)
        if kw.pop("weight", None):
            kw["weight"] = nerve.tensor(w, device=dev)
        loss = NF.cross_entropy(nx, nerve.tensor(t, device=dev), **kw)
        other = (NF.binary_cross_entropy_with_logits(nx, (nx > 0).float().detach())
                 + NF.mse_loss(nx, nx.detach() * 0.5) + NF.smooth_l1_loss(nx, nx.detach() * 0))
        (loss.sum() + other).backward()
        results.append((loss.detach().cpu().numpy(), nx.grad.cpu().numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_cross_entropy_one_hot_path(monkeypatch):
    """The GPU's one-hot picking, run through NumPy, gives what fancy indexing gives."""
    import nerve.nn.functional.loss as loss_mod

    rng = np.random.default_rng(9)
    x, t = _ce_inputs((7, 5), 5, rng, ignore=-100)
    w = nerve.tensor(rng.uniform(0.5, 2, 5))
    results = []
    for force in (False, True):
        if force:
            monkeypatch.setattr(loss_mod, "np", object())
        out = []
        for kw in (dict(), dict(weight=w), dict(label_smoothing=0.2, weight=w), dict(reduction="none")):
            nx = nerve.tensor(x, requires_grad=True)
            loss = NF.cross_entropy(nx, nerve.tensor(t), **kw)
            loss.sum().backward()
            out += [loss.detach().numpy(), nx.grad.numpy()]
        results.append(out)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_cross_entropy_gradient_of_logits_in_another_memory_layout():
    # logits that are a transposed view (as a channels-major conv's output flattened) give a
    # gradient in that layout: the target's entries must still be subtracted from it
    rng = np.random.default_rng(0)
    a = rng.standard_normal((10, 6))
    y = rng.integers(0, 10, 6)
    ours = nerve.tensor(a, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    nerve.nn.functional.cross_entropy(ours.t(), nerve.tensor(y)).backward()
    torch.nn.functional.cross_entropy(theirs.t(), torch.tensor(y)).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-15)
