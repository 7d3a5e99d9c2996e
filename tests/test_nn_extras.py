"""affine_grid / grid_sample (with a small Spatial Transformer trained against torch's),
LocalResponseNorm, gumbel_softmax, EmbeddingBag, LazyLinear, weight_norm (both APIs),
spectral_norm and parametrize, against torch: values, gradients, float64 numeric gradient
checks, state dicts, reprs and torch's errors."""

import itertools
import warnings

import numpy as np
import pytest
from _torch_compare import TOL, compare, to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _rng(seed=0):
    return np.random.default_rng(seed)


def _t(a, device="cpu", requires_grad=False):
    return nerve.tensor(a, device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------- grid_sample and affine_grid

GRID_CASES = list(itertools.product(["bilinear", "nearest"], ["zeros", "border", "reflection"], [True, False]))


@pytest.mark.parametrize("mode,padding_mode,align_corners", GRID_CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_sample_matches_torch(device, mode, padding_mode, align_corners, dtype):
    rng = _rng(GRID_CASES.index((mode, padding_mode, align_corners)))
    n, c, h, w = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 7), rng.integers(1, 7)
    ho, wo = rng.integers(1, 6), rng.integers(1, 6)
    x = rng.standard_normal((n, c, h, w))
    grid = rng.uniform(-1.4, 1.4, (n, ho, wo, 2))  # some points fall outside the input
    compare(torch, lambda a, g: F.grid_sample(a, g, mode, padding_mode, align_corners),
            lambda a, g: TF.grid_sample(a, g, mode, padding_mode, align_corners),
            [x, grid], [True, True], device, dtype)


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [True, False])
def test_grid_sample_gradcheck(device, padding_mode, align_corners):
    rng = _rng(3)
    x = _t(rng.standard_normal((2, 2, 4, 5)), device, True)
    g = _t(rng.uniform(-1.3, 1.3, (2, 3, 4, 2)), device, True)
    assert gradcheck(lambda a, b: F.grid_sample(a, b, "bilinear", padding_mode, align_corners), [x, g])
    assert gradcheck(lambda a: F.grid_sample(a, g.detach(), "nearest", padding_mode, align_corners), [x])


def test_grid_sample_nearest_gives_the_grid_a_zero_gradient():
    g = nerve.zeros(1, 2, 2, 2, requires_grad=True)
    F.grid_sample(nerve.randn(1, 1, 3, 3), g, "nearest", align_corners=False).sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), 0)


def test_grid_sample_identity_grid_reproduces_the_input():
    x = nerve.randn(2, 3, 4, 5)
    eye = nerve.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(2, 2, 3)
    for ac in (True, False):
        y = F.grid_sample(x, F.affine_grid(eye, (2, 3, 4, 5), ac), align_corners=ac)
        np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-6)


@pytest.mark.parametrize("size", [(2, 3, 5, 4), (3, 1, 1, 6), (1, 2, 7, 1), (2, 1, 1, 1)])
@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_affine_grid_matches_torch(device, size, align_corners, dtype):
    theta = _rng(1).standard_normal((size[0], 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit-size grids with align_corners warn, in torch too
        compare(torch, lambda t: F.affine_grid(t, size, align_corners), lambda t: TF.affine_grid(t, size, align_corners),
                [theta], [True], device, dtype)


def test_affine_grid_gradcheck(device):
    theta = _t(_rng(2).standard_normal((2, 2, 3)), device, True)
    assert gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 4), False), [theta])


def test_grid_errors_and_warnings():
    x, g = nerve.randn(2, 3, 4, 5), nerve.zeros(2, 6, 7, 2)
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        F.grid_sample(x, g)
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has changed"):
        F.affine_grid(nerve.zeros(2, 2, 3), (2, 3, 4, 5))
    with pytest.warns(UserWarning, match="affine_grid behavior has changed for unit-size grids"):
        F.affine_grid(nerve.zeros(2, 2, 3), (2, 3, 1, 5), align_corners=True)
    with pytest.raises(RuntimeError, match=r"expected grid and input to have same batch size, but got input with "
                                           r"sizes \[2, 3, 4, 5\] and grid with sizes \[3, 6, 7, 2\]"):
        F.grid_sample(x, nerve.zeros(3, 6, 7, 2), align_corners=False)
    with pytest.raises(RuntimeError, match=r"expected grid to have size 2 in last dimension, but got grid with "
                                           r"sizes \[2, 6, 7, 3\]"):
        F.grid_sample(x, nerve.zeros(2, 6, 7, 3), align_corners=False)
    with pytest.raises(RuntimeError, match="expected 4D input and grid with same number of dimensions"):
        F.grid_sample(x, nerve.zeros(2, 6, 7, 1, 2), align_corners=False)
    with pytest.raises(RuntimeError, match="expected input to have non-empty spatial dimensions, but input has "
                                           r"sizes \[2, 3, 0, 5\] with dimension 2 being empty"):
        F.grid_sample(nerve.zeros(2, 3, 0, 5), g, align_corners=False)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        F.grid_sample(x, g.double(), align_corners=False)
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'cubic'"):
        F.grid_sample(x, g, "cubic", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border', or 'reflection', but "
                                         "got: 'wrap'"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D input"):  # (tests/test_nn_gaps.py)
        F.grid_sample(nerve.zeros(1, 1, 2, 2, 2), nerve.zeros(1, 1, 1, 1, 3), "bicubic", align_corners=False)
    with pytest.raises(ValueError, match=r"Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                                         r"\(2, 3, 4, 5\). Got nerve.Size\(\[2, 2, 4\]\)."):
        F.affine_grid(nerve.zeros(2, 2, 4), (2, 3, 4, 5), False)
    with pytest.raises(NotImplementedError, match=r"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine "
                                                  r"transforms, respectively. Got size \(2, 3, 4\)."):
        F.affine_grid(nerve.zeros(2, 2, 3), (2, 3, 4), False)
    with pytest.raises(ValueError, match=r"Expected non-zero, positive output size. Got \(2, 3, 0, 5\)"):
        F.affine_grid(nerve.zeros(2, 2, 3), (2, 3, 0, 5), False)
    with pytest.raises(ValueError, match="Expected theta to have floating point type, but got nerve.int64"):
        F.affine_grid(nerve.zeros(2, 2, 3, dtype=nerve.int64), (2, 3, 4, 5), False)


def _stn(lib):
    """The Spatial Transformer Networks tutorial's model, shrunk to 1 x 16 x 16 inputs."""
    tnn = lib.nn

    class STN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tnn.Conv2d(1, 4, kernel_size=3)
            self.fc = tnn.Linear(4 * 7 * 7, 3)
            self.localization = tnn.Sequential(tnn.Conv2d(1, 4, kernel_size=5), tnn.MaxPool2d(2, stride=2),
                                               tnn.ReLU(True))
            self.fc_loc = tnn.Sequential(tnn.Linear(4 * 6 * 6, 8), tnn.ReLU(True), tnn.Linear(8, 3 * 2))
            self.fc_loc[2].weight.data.zero_()
            self.fc_loc[2].bias.data.copy_(lib.tensor([1, 0, 0, 0, 1, 0], dtype=lib.float64))

        def stn(self, x):
            xs = self.localization(x).view(-1, 4 * 6 * 6)
            theta = self.fc_loc(xs).view(-1, 2, 3)
            grid = lib.nn.functional.affine_grid(theta, x.size(), align_corners=False)
            return lib.nn.functional.grid_sample(x, grid, align_corners=False)

        def forward(self, x):
            x = self.stn(x)
            x = lib.nn.functional.max_pool2d(lib.nn.functional.relu(self.conv(x)), 2)
            return lib.nn.functional.log_softmax(self.fc(x.flatten(1)), dim=1)

    return STN().double()


def test_spatial_transformer_trains_as_torch():
    rng = _rng(5)
    x, y = rng.standard_normal((6, 1, 16, 16)), rng.integers(0, 3, 6)
    tm = _stn(torch)
    m = _stn(nerve)
    m.load_state_dict(tm.state_dict())
    # plain SGD, written out for torch: torch.optim's first step imports torch._dynamo (seconds)
    opt = nerve.optim.SGD(m.parameters(), lr=0.1)
    losses, tlosses = [], []
    for _ in range(4):
        loss = F.nll_loss(m(_t(x)), _t(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        tloss = TF.nll_loss(tm(torch.tensor(x)), torch.tensor(y))
        tm.zero_grad()
        tloss.backward()
        with torch.no_grad():
            for p in tm.parameters():
                p -= 0.1 * p.grad
        tlosses.append(tloss.item())
    np.testing.assert_allclose(losses, tlosses, rtol=1e-9)
    # the transform moved away from the identity, the same way
    np.testing.assert_allclose(to_np(m.fc_loc[2].weight), tm.fc_loc[2].weight.detach().numpy(), rtol=1e-7, atol=1e-10)
    assert np.abs(tm.fc_loc[2].weight.detach().numpy()).max() > 0


# ---------------------------------------------------------------- local response norm


@pytest.mark.parametrize("shape,size", [((2, 7, 5), 3), ((2, 6, 3, 4), 5), ((2, 6, 3, 4), 2), ((1, 5, 2, 2, 3), 4),
                                        ((3, 4, 6), 1), ((2, 3, 4), 8)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_local_response_norm_matches_torch(device, shape, size, dtype):
    m, tm = nn.LocalResponseNorm(size, 1e-2, 0.6, 1.5), torch.nn.LocalResponseNorm(size, 1e-2, 0.6, 1.5)
    compare(torch, m, tm, [_rng().standard_normal(shape) * 3], [True], device, dtype)


def test_local_response_norm_gradcheck_repr_and_errors(device):
    x = nerve.randn(2, 5, 3, 2, dtype=nerve.float64, device=device, requires_grad=True)
    assert gradcheck(lambda t: F.local_response_norm(t, 3, alpha=0.1, beta=0.75, k=1.0), [x])
    assert repr(nn.LocalResponseNorm(2)) == repr(torch.nn.LocalResponseNorm(2))
    assert repr(nn.LocalResponseNorm(3, 1e-3, 0.5, 2)) == repr(torch.nn.LocalResponseNorm(3, 1e-3, 0.5, 2))
    with pytest.raises(ValueError, match=r"Expected 3D or higher dimensionality\s+input \(got 2 dimensions\)"):
        F.local_response_norm(nerve.randn(2, 3), 2)


# ---------------------------------------------------------------- gumbel softmax


def _noise_of(y_soft, logits, tau):
    """Gumbel noise that gives ``y_soft`` (up to a constant per row, which softmax ignores)."""
    return tau * np.log(y_soft) - logits


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_gumbel_softmax_gradient_matches_torch_on_the_same_noise(hard, tau):
    rng = _rng(7)
    logits, w = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    nerve.manual_seed(3)
    soft = F.gumbel_softmax(_t(logits), tau=tau).numpy()
    nerve.manual_seed(3)  # the same draw again, now hard or soft as asked
    ln = _t(logits, requires_grad=True)
    y = F.gumbel_softmax(ln, tau=tau, hard=hard)
    (y * _t(w)).sum().backward()
    lt = torch.tensor(logits, requires_grad=True)
    ty_soft = ((lt + torch.tensor(_noise_of(soft, logits, tau))) / tau).softmax(-1)
    ty = ty_soft
    if hard:
        index = ty_soft.max(-1, keepdim=True)[1]
        ty = torch.zeros_like(lt).scatter_(-1, index, 1.0) - ty_soft.detach() + ty_soft
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL["float64"])
    np.testing.assert_allclose(ln.grad.numpy(), lt.grad.numpy(), **TOL["float64"])


def test_gumbel_softmax_statistics_and_hard_structure():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    ln = _t(np.tile(logits, (20000, 1)), requires_grad=True)
    nerve.manual_seed(11)
    soft = F.gumbel_softmax(ln, tau=0.7)
    np.testing.assert_allclose(soft.detach().numpy().sum(-1), 1, rtol=1e-12)
    nerve.manual_seed(11)
    hard = F.gumbel_softmax(ln, tau=0.7, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) == {0.0, 1.0} and (h.sum(-1) == 1).all()
    np.testing.assert_array_equal(h.argmax(-1), soft.detach().numpy().argmax(-1))
    # Gumbel-max: the argmax is distributed as softmax(logits), whatever tau
    np.testing.assert_allclose(h.mean(0), [0.1, 0.2, 0.3, 0.4], atol=0.015)
    # straight-through: the hard sample's gradient is the soft sample's
    w = _t(_rng(1).standard_normal(h.shape))
    (hard * w).sum().backward()
    g_hard = ln.grad.numpy().copy()
    ln.grad = None
    (soft * w).sum().backward()
    np.testing.assert_allclose(g_hard, ln.grad.numpy(), rtol=1e-12)
    t_hard = TF.gumbel_softmax(torch.tensor(np.tile(logits, (20000, 1))), tau=0.7, hard=True)
    np.testing.assert_allclose(t_hard.mean(0).numpy(), h.mean(0), atol=0.025)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect."):
        F.gumbel_softmax(ln, eps=1e-5)


def test_gumbel_softmax_dim_and_generator_reproducibility():
    x = nerve.randn(3, 5, 2)
    nerve.manual_seed(4)
    a = F.gumbel_softmax(x, dim=1, hard=True)
    nerve.manual_seed(4)
    b = F.gumbel_softmax(x, dim=1, hard=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy().sum(1), 1)


# ---------------------------------------------------------------- embedding bag

INPUT_1D = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0, 3])
OFFSETS = np.array([0, 2, 2, 5, 8])  # one empty bag


def _bag_case(kind):
    if kind == "2d":
        return INPUT_1D[:10].reshape(2, 5), None, False
    if kind == "offsets":
        return INPUT_1D, OFFSETS, False
    return INPUT_1D, np.append(OFFSETS, len(INPUT_1D)), True  # include_last_offset


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("kind", ["2d", "offsets", "last_offset"])
@pytest.mark.parametrize("padding_idx", [None, 4, 0])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_bag_matches_torch(device, mode, kind, padding_idx, dtype):
    inp, offsets, last = _bag_case(kind)
    rng = _rng(2)
    arrays = [rng.standard_normal((10, 3)), inp] + ([] if offsets is None else [offsets])
    kw = dict(mode=mode, include_last_offset=last, padding_idx=padding_idx)
    compare(torch, lambda w, i, *o: F.embedding_bag(i, w, *o, **kw), lambda w, i, *o: TF.embedding_bag(i, w, *o, **kw),
            arrays, [True, False] + [False] * (offsets is not None), device, dtype)


@pytest.mark.parametrize("kind", ["2d", "offsets", "last_offset"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_per_sample_weights_match_torch(device, kind, padding_idx):
    inp, offsets, last = _bag_case(kind)
    rng = _rng(4)
    arrays = [rng.standard_normal((10, 3)), rng.standard_normal(inp.shape), inp] + (
        [] if offsets is None else [offsets])
    kw = dict(mode="sum", include_last_offset=last, padding_idx=padding_idx)
    compare(torch, lambda w, p, i, *o: F.embedding_bag(i, w, *o, per_sample_weights=p, **kw),
            lambda w, p, i, *o: TF.embedding_bag(i, w, *o, per_sample_weights=p, **kw),
            arrays, [True, True, False] + [False] * (offsets is not None), device)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq(mode):
    # torch's CPU embedding_bag divides by the wrong counts here (rows after a repeated index get
    # that index's count), so the reference is its documented meaning, built from F.embedding
    idx, offsets = np.array([3, 1, 2, 2, 4, 4, 4, 5]), np.array([0, 2, 5])
    w = _rng(1).standard_normal((7, 3))
    wn, wt = _t(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.embedding_bag(_t(idx), wn, _t(offsets), mode=mode, scale_grad_by_freq=True).sum().backward()
    rows = TF.embedding(torch.tensor(idx), wt, scale_grad_by_freq=True)
    bags = [rows[a:b] for a, b in zip(offsets, list(offsets[1:]) + [len(idx)])]
    torch.stack([r.sum(0) if mode == "sum" else r.mean(0) for r in bags]).sum().backward()
    np.testing.assert_allclose(wn.grad.numpy(), wt.grad.numpy(), rtol=1e-12)


def test_embedding_bag_gradcheck(device):
    w = nerve.randn(10, 3, dtype=nerve.float64, device=device, requires_grad=True)
    p = nerve.randn(11, dtype=nerve.float64, device=device, requires_grad=True)
    i, o = _t(INPUT_1D, device), _t(OFFSETS, device)
    for mode in ("sum", "mean", "max"):
        assert gradcheck(lambda t: F.embedding_bag(i, t, o, mode=mode, padding_idx=4), [w])
    assert gradcheck(lambda t, q: F.embedding_bag(i, t, o, mode="sum", per_sample_weights=q), [w, p])


def test_embedding_bag_module_repr_init_state_dict_and_from_pretrained(device):
    for kw in ({}, {"mode": "sum", "padding_idx": 0, "max_norm": 1.0}, {"mode": "max", "norm_type": 1.0},
               {"scale_grad_by_freq": True, "padding_idx": -1}):
        m, tm = nn.EmbeddingBag(10, 3, **kw), torch.nn.EmbeddingBag(10, 3, **kw)
        assert repr(m) == repr(tm)
        assert m.padding_idx == tm.padding_idx
    m = nn.EmbeddingBag(1000, 8, padding_idx=3)
    w = m.weight.detach().numpy()
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (1000, 8)
    assert (w[3] == 0).all() and abs(w.std() - 1) < 0.05  # N(0, 1)
    tm = torch.nn.EmbeddingBag(10, 3, mode="max")
    m = nn.EmbeddingBag(10, 3, mode="max").to(device)
    m.load_state_dict(tm.state_dict())
    i, o = INPUT_1D, OFFSETS
    np.testing.assert_allclose(to_np(m(_t(i, device), _t(o, device))), tm(torch.tensor(i), torch.tensor(o)).detach(),
                               rtol=1e-6)
    pre = nn.EmbeddingBag.from_pretrained(nerve.tensor([[1, 2.3, 3], [4, 5.1, 6.3]]))
    np.testing.assert_allclose(pre(nerve.tensor([[1, 0]])).numpy(), [[2.5, 3.7, 4.65]], rtol=1e-6)
    assert not pre.weight.requires_grad
    assert nn.EmbeddingBag.from_pretrained(nerve.ones(2, 3), freeze=False).weight.requires_grad


def test_embedding_bag_max_norm_renormalises_the_rows_used():
    w = np.full((5, 2), 3.0)
    m, tm = nn.EmbeddingBag.from_pretrained(_t(w), max_norm=1.0), torch.nn.EmbeddingBag.from_pretrained(
        torch.tensor(w), max_norm=1.0)
    i = np.array([[0, 2]])
    np.testing.assert_allclose(m(_t(i)).numpy(), tm(torch.tensor(i)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(m.weight.detach().numpy(), tm.weight.detach().numpy(), rtol=1e-6)


def test_embedding_bag_errors():
    e = nn.EmbeddingBag(10, 3)
    with pytest.raises(ValueError, match="if input is 2D, then offsets has to be None"):
        e(nerve.tensor([[1, 2], [3, 4]]), nerve.tensor([0, 1]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        e(nerve.tensor([1, 2, 3, 4]))
    with pytest.raises(ValueError, match="^offsets has to be a 1D Tensor$"):
        e(nerve.tensor([1, 2, 3, 4]), nerve.tensor([[0, 1]]))
    with pytest.raises(RuntimeError, match="offsets\\[0\\] has to be 0, i.e., the first sequence in the mini-batch "
                                           "has to start from position 0. However, got 1"):
        e(nerve.tensor([1, 2, 3, 4]), nerve.tensor([1, 2]))
    with pytest.raises(RuntimeError, match=r"offsets\[-1\] can not be greater than input's length 4 but got "
                                           r"offsets\[-1\] of 5"):
        e(nerve.tensor([1, 2, 3, 4]), nerve.tensor([0, 5]))
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum' "
                                                  r"\(got mode='mean'\)"):
        e(nerve.tensor([1, 2, 3, 4]), nerve.tensor([0, 2]), per_sample_weights=nerve.rand(4))
    with pytest.raises(ValueError, match=r"If per_sample_weights \(nerve.Size\(\[3\]\)\) is not None, then it must "
                                         r"have the same shape as the input \(nerve.Size\(\[4\]\)\)"):
        nn.EmbeddingBag(10, 3, mode="sum")(nerve.tensor([1, 2, 3, 4]), nerve.tensor([0, 2]),
                                           per_sample_weights=nerve.rand(3))
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        nn.EmbeddingBag(10, 3, mode="foo")(nerve.tensor([1, 2]), nerve.tensor([0]))
    with pytest.raises(ValueError, match="max mode does not support scaling the gradient by the frequency"):
        nn.EmbeddingBag(10, 3, mode="max", scale_grad_by_freq=True)(nerve.tensor([1, 2]), nerve.tensor([0]))
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices' to have one of the following "
                                           "scalar types: Long, Int; but got nerve.FloatTensor instead"):
        e(nerve.tensor([1.0, 2.0]), nerve.tensor([0]))
    with pytest.raises(RuntimeError, match="index 14 is out of range"):
        e(nerve.tensor([1, 14]), nerve.tensor([0]))
    with pytest.raises(ValueError, match="input has to be 1D or 2D Tensor, but got Tensor of dimension 3"):
        e(nerve.zeros(1, 2, 2, dtype=nerve.int64))
    for bad in (10, -11):
        with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
            nn.EmbeddingBag(10, 3, padding_idx=bad)


# ---------------------------------------------------------------- LazyLinear


def test_lazy_linear_materialises_at_the_first_call_and_becomes_a_linear(device):
    m, tm = nn.LazyLinear(4), torch.nn.LazyLinear(4)
    assert repr(m) == repr(tm) == "LazyLinear(in_features=0, out_features=4, bias=True)"
    assert repr(m.weight) == repr(tm.weight) == "<UninitializedParameter>"
    assert isinstance(m.weight, nn.UninitializedParameter) and m.has_uninitialized_params()
    assert list(m.state_dict()) == ["weight", "bias"] and repr(m.state_dict()["bias"]) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter or buffer"):
        m.weight.shape
    with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter in numel"):
        m.weight.numel()
    m.to(device)
    weight = m.weight
    y = m(nerve.randn(3, 2, 7, device=device))
    assert y.shape == (3, 2, 4) and type(m) is nn.Linear and type(m.weight) is nn.Parameter
    assert m.weight is weight  # materialised in place
    assert repr(m) == "Linear(in_features=7, out_features=4, bias=True)"
    bound = 1 / np.sqrt(7)  # Linear's initialisation
    assert np.abs(to_np(m.weight)).max() <= bound and np.abs(to_np(m.bias)).max() <= bound
    assert np.abs(to_np(m.weight)).max() > bound / 2
    assert repr(nn.LazyLinear(3, bias=False)) == repr(torch.nn.LazyLinear(3, bias=False))
    assert nn.LazyLinear(3, bias=False).bias is None
    d = nn.LazyLinear(2, dtype=nerve.float64)
    d(nerve.randn(1, 5, dtype=nerve.float64))
    assert d.weight.dtype == nerve.float64 and d.weight.shape == (2, 5)


def test_lazy_linear_optimizer_before_or_after_the_first_call():
    x = nerve.randn(8, 5)
    for before in (True, False):
        m = nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.LazyLinear(1))
        opt = nerve.optim.Adam(m.parameters(), lr=0.05) if before else None
        m(x)
        opt = opt or nerve.optim.Adam(m.parameters(), lr=0.05)
        losses = []
        for _ in range(5):
            loss = (m(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0]
        assert opt.state[m[0].weight]["exp_avg"].shape == (6, 5)


def test_lazy_linear_loads_torch_state_dicts(device):
    t = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).double()
    m = nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.LazyLinear(2)).to(device).double()
    assert m.load_state_dict(t.state_dict()).missing_keys == []
    assert m[0].weight.shape == (3, 5)
    x = _rng().standard_normal((4, 5))
    np.testing.assert_allclose(to_np(m(_t(x, device))), t(torch.tensor(x)).detach().numpy(), **TOL["float64"])
    assert repr(m) == repr(t)


# ---------------------------------------------------------------- weight norm, spectral norm, parametrize


def _pair(name, *args):
    m, tm = getattr(nn, name)(*args).double(), getattr(torch.nn, name)(*args).double()
    m.load_state_dict(tm.state_dict())
    return m, tm


MODULES = [("Linear", (4, 3), (2, 4)), ("Conv2d", (2, 3, 3), (2, 2, 5, 5)), ("ConvTranspose2d", (2, 3, 3), (1, 2, 4, 4))]


def _check_forward_backward(m, tm, shape, names, device="cpu", steps=1):
    x = _rng(9).standard_normal(shape)
    for _ in range(steps):
        y, ty = m(_t(x, device)), tm(torch.tensor(x))
        np.testing.assert_allclose(to_np(y), ty.detach().numpy(), **TOL["float64"])
        y.sum().backward()
        ty.sum().backward()
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        if name in names:
            np.testing.assert_allclose(to_np(p.grad), tparams[name].grad.numpy(), err_msg=name, **TOL["float64"])


@pytest.mark.parametrize("name,args,shape", MODULES)
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_old_api_matches_torch(device, name, args, shape, dim):
    m, tm = _pair(name, *args)
    with pytest.warns(FutureWarning, match="`torch.nn.utils.weight_norm` is deprecated"):
        nn.utils.weight_norm(m, dim=dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.utils.weight_norm(tm, dim=dim)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert m.weight_g.shape == tm.weight_g.shape
    with torch.no_grad():
        tm.weight_g.mul_(1.5)  # torch's g and v, loaded, give torch's weight
    m.load_state_dict(tm.state_dict())
    m.to(device)
    _check_forward_backward(m, tm, shape, {"weight_g", "weight_v", "bias"}, device)
    nn.utils.remove_weight_norm(m)
    torch.nn.utils.remove_weight_norm(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    np.testing.assert_allclose(to_np(m.weight), tm.weight.detach().numpy(), **TOL["float64"])
    assert isinstance(m.weight, nn.Parameter)


@pytest.mark.parametrize("name,args,shape", MODULES)
@pytest.mark.parametrize("dim", [0, None])
def test_parametrizations_weight_norm_matches_torch(device, name, args, shape, dim):
    m, tm = _pair(name, *args)
    nn.utils.parametrizations.weight_norm(m, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(tm, dim=dim)
    assert list(m.state_dict()) == list(tm.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    assert repr(m) == repr(tm) and type(m).__name__ == f"Parametrized{name}"
    m.load_state_dict(tm.state_dict())
    m.to(device)
    _check_forward_backward(m, tm, shape, {"parametrizations.weight.original0", "parametrizations.weight.original1"},
                            device)


def test_parametrizations_weight_norm_loads_old_api_state_dicts():
    old = nn.Linear(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn.utils.weight_norm(old)
    new = nn.utils.parametrizations.weight_norm(nn.Linear(4, 3))
    new.load_state_dict(old.state_dict())
    np.testing.assert_allclose(new.weight.detach().numpy(), old.weight.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("name,args,shape", MODULES + [("ConvTranspose3d", (2, 3, 2), (1, 2, 3, 3, 3))])
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_spectral_norm_matches_torch_after_copying_u_and_v(device, name, args, shape, n_power_iterations):
    m, tm = _pair(name, *args)
    nn.utils.spectral_norm(m, n_power_iterations=n_power_iterations)
    torch.nn.utils.spectral_norm(tm, n_power_iterations=n_power_iterations)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert [n for n, _ in m.named_buffers()] == ["weight_u", "weight_v"]
    u = to_np(m.weight_u)
    assert u.shape == tuple(tm.weight_u.shape) and abs(np.linalg.norm(u) - 1) < 1e-12
    m.load_state_dict(tm.state_dict())  # torch's u and v: the power iterations then run alike
    m.to(device)
    _check_forward_backward(m, tm, shape, {"weight_orig", "bias"}, device, steps=3)
    np.testing.assert_allclose(to_np(m.weight_u), tm.weight_u.numpy(), **TOL["float64"])
    m.eval()
    tm.eval()
    u_before = to_np(m.weight_u).copy()
    _check_forward_backward(m, tm, shape, set(), device)
    np.testing.assert_array_equal(to_np(m.weight_u), u_before)  # no power iteration in eval mode
    nn.utils.remove_spectral_norm(m)
    torch.nn.utils.remove_spectral_norm(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    np.testing.assert_allclose(to_np(m.weight), tm.weight.detach().numpy(), **TOL["float64"])


def test_spectral_norm_normalises_the_largest_singular_value():
    m = nn.utils.spectral_norm(nn.Linear(6, 5).double(), n_power_iterations=30)
    m(nerve.randn(1, 6, dtype=nerve.float64))
    assert abs(np.linalg.svd(m.weight.detach().numpy(), compute_uv=False)[0] - 1) < 1e-8


def test_weight_and_spectral_norm_errors():
    m = nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn.utils.weight_norm(m)
        with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks on the same parameter weight"):
            nn.utils.weight_norm(m)
        with pytest.raises(ValueError, match="The module passed to `WeightNorm` can't have uninitialized parameters"):
            nn.utils.weight_norm(nn.LazyLinear(3))
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found in Linear"):
        nn.utils.remove_weight_norm(m, "bias")
    s = nn.utils.spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the same parameter weight"):
        nn.utils.spectral_norm(s)
    with pytest.raises(ValueError, match="spectral_norm of 'bias' not found in Linear"):
        nn.utils.remove_spectral_norm(s, "bias")
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive, but got n_power_iterations=0"):
        nn.utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="`SpectralNorm` cannot be applied as parameter `bias` is None"):
        nn.utils.spectral_norm(nn.Linear(3, 2, bias=False), "bias")


def _symmetric(lib):
    class Symmetric(lib.nn.Module):  # the parametrizations tutorial's first example
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

        def right_inverse(self, A):
            return A.triu()

    return Symmetric()


def test_register_parametrization_as_torch():
    parametrize, tparametrize = nn.utils.parametrize, torch.nn.utils.parametrize
    m, tm = _pair("Linear", 3, 3)
    parametrize.register_parametrization(m, "weight", _symmetric(nerve))
    tparametrize.register_parametrization(tm, "weight", _symmetric(torch))
    w = m.weight.detach().numpy()
    np.testing.assert_allclose(w, w.T)
    np.testing.assert_allclose(w, tm.weight.detach().numpy(), **TOL["float64"])
    assert list(m.state_dict()) == list(tm.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert repr(m).replace("_symmetric.<locals>.", "") == repr(tm).replace("_symmetric.<locals>.", "")
    assert parametrize.is_parametrized(m) and parametrize.is_parametrized(m, "weight")
    assert not parametrize.is_parametrized(m, "bias")
    assert parametrize.type_before_parametrizations(m) is nn.Linear
    _check_forward_backward(m, tm, (2, 3), {"parametrizations.weight.original", "bias"})
    # assigning goes through right_inverse
    a = _rng().standard_normal((3, 3))
    m.weight = _t(a + a.T)
    np.testing.assert_allclose(m.weight.detach().numpy(), a + a.T)
    with parametrize.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and list(m.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(m.weight.detach().numpy(), a + a.T)


def test_parametrization_errors():
    parametrize = nn.utils.parametrize
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element with name "
                                         "'kernel'"):
        parametrize.register_parametrization(nn.Linear(3, 3), "kernel", _symmetric(nerve))

    class Shrink(nn.Module):
        def forward(self, x):
            return x[:2]

    with pytest.raises(ValueError, match="may not change the shape of the tensor, unless `unsafe` flag is enabled"):
        parametrize.register_parametrization(nn.Linear(3, 3), "weight", Shrink())
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(nn.Linear(3, 3), "weight")
    m = nn.utils.parametrizations.weight_norm(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and list(m.state_dict()) == ["bias", "weight"]
