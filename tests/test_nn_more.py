"""The smaller torch.nn layers and losses: padding, pixel/channel shuffle, GLU, adaptive 1-D pooling,
Softmax2d, distances, fold/unfold and the margin/NLL losses, against torch (values and gradients),
float64 numeric gradient checks, and torch's errors."""

import numpy as np
import pytest
from _torch_compare import compare

import nerve
import nerve.nn as nn
import nerve.nn.functional as NF
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _rng(seed=0):
    return np.random.default_rng(seed)


def _module_pair(name, *args, **kwargs):
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


# ---------------------------------------------------------------- padding

PAD_MODULES = [
    ("ZeroPad1d", (2,), (2, 3, 5)),
    ("ZeroPad1d", ((3, -1),), (3, 5)),
    ("ZeroPad2d", ((1, 2, 0, 3),), (2, 3, 4, 5)),
    ("ZeroPad3d", (1,), (1, 2, 3, 4, 2)),
    ("ConstantPad1d", ((1, 2), 3.5), (2, 3, 5)),
    ("ConstantPad2d", (2, -1.0), (3, 4, 5)),
    ("ConstantPad3d", ((1, 0, 2, 1, 0, 1), 0.5), (2, 2, 3, 4, 2)),
    ("ReflectionPad1d", ((3, 1),), (2, 3, 5)),
    ("ReflectionPad1d", (2,), (3, 4)),
    ("ReflectionPad2d", ((2, 1, 3, 0),), (2, 3, 4, 5)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 4, 2)),
    ("ReplicationPad1d", ((4, 2),), (2, 3, 5)),
    ("ReplicationPad2d", ((1, 3, 2, 0),), (3, 4, 5)),
    ("ReplicationPad3d", ((1, 0, 2, 1, 0, 3),), (1, 2, 3, 4, 2)),
    ("CircularPad1d", ((2, 3),), (2, 3, 5)),
    ("CircularPad2d", ((1, 2, 3, 1),), (2, 3, 4, 5)),
    ("CircularPad3d", (1,), (1, 2, 3, 4, 2)),
]


@pytest.mark.parametrize("name,args,shape", PAD_MODULES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(PAD_MODULES)])
def test_padding_modules(device, name, args, shape):
    m, tm = _module_pair(name, *args)
    assert repr(m) == repr(tm)
    yn, yt = compare(torch, m, tm, [_rng().standard_normal(shape)], [True], device=device)
    assert yn.shape == yt.shape


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_pad_gradcheck(mode):
    x = nerve.randn(2, 3, 4, 5, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(lambda t: NF.pad(t, (2, 1, 3, 1), mode=mode), [x])


def test_padding_errors():
    with pytest.raises(RuntimeError, match=r"Padding size should be less than the corresponding input dimension, "
                                           r"but got: padding \(3, 0\) at dimension 2 of input \[1, 2, 3\]"):
        nn.ReflectionPad1d((3, 0))(nerve.randn(1, 2, 3))
    with pytest.raises(NotImplementedError, match="Padding size 4 is not supported for 2D input tensor"):
        nn.ReflectionPad2d(2)(nerve.randn(3, 4))
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D input tensor"):
        nn.ReplicationPad1d(2)(nerve.randn(3))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times"):
        nn.ZeroPad2d(2)(nerve.randn(3))
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        nn.CircularPad1d((4, 0))(nerve.randn(1, 2, 3))
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.CircularPad2d(1)(nerve.randn(3, 4))


# ---------------------------------------------------------------- shuffles, GLU, Softmax2d, pooling, distances

LAYERS = [
    ("PixelShuffle", (2,), [(2, 12, 3, 4)]),
    ("PixelShuffle", (3,), [(9, 2, 2)]),
    ("PixelShuffle", (2,), [(2, 3, 8, 2, 3)]),
    ("PixelUnshuffle", (2,), [(2, 3, 4, 6)]),
    ("PixelUnshuffle", (3,), [(2, 1, 2, 6, 3)]),
    ("ChannelShuffle", (3,), [(2, 6, 3, 2)]),
    ("ChannelShuffle", (2,), [(2, 4, 5)]),
    ("GLU", (), [(3, 4, 6)]),
    ("GLU", (1,), [(3, 4, 5)]),
    ("Softmax2d", (), [(2, 3, 4, 5)]),
    ("Softmax2d", (), [(3, 4, 5)]),
    ("AdaptiveAvgPool1d", (3,), [(2, 3, 7)]),
    ("AdaptiveAvgPool1d", (4,), [(3, 10)]),
    ("AdaptiveAvgPool1d", (1,), [(2, 3, 5)]),
    ("AdaptiveMaxPool1d", (3,), [(2, 3, 7)]),
    ("AdaptiveMaxPool1d", (4,), [(3, 10)]),
    ("CosineSimilarity", (), [(4, 5), (4, 5)]),
    ("CosineSimilarity", (2, 1e-6), [(3, 4, 5), (1, 4, 5)]),
    ("PairwiseDistance", (), [(4, 5), (4, 5)]),
    ("PairwiseDistance", (1.0, 1e-3, True), [(4, 5), (5,)]),
    ("PairwiseDistance", (3.0,), [(2, 4, 5), (4, 5)]),
    ("PairwiseDistance", (float("inf"),), [(4, 5), (4, 5)]),
    ("PairwiseDistance", (), [(5,), (5,)]),
    ("Unfold", (2,), [(2, 3, 4, 5)]),
    ("Unfold", ((2, 3), 2, 1, (2, 1)), [(2, 3, 6, 7)]),
    ("Unfold", (3, 1, 2, 2), [(3, 5, 4)]),
    ("Fold", ((4, 5), 2), [(2, 12, 12)]),
    ("Fold", ((6, 7), (2, 3), 2, 1, (2, 1)), [(2, 18, 15)]),
    ("Fold", (5, 3, 1, 1, 2), [(18, 9)]),
]


@pytest.mark.parametrize("name,args,shapes", LAYERS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAYERS)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layers(device, name, args, shapes, dtype):
    m, tm = _module_pair(name, *args)
    assert repr(m) == repr(tm)
    rng = _rng()
    yn, yt = compare(torch, m, tm, [rng.standard_normal(s) for s in shapes], [True] * len(shapes), device=device,
                     dtype=dtype)
    assert yn.shape == yt.shape and yn.dtype == yt.dtype


def test_adaptive_max_pool1d_indices(device):
    x = _rng().standard_normal((2, 3, 7))
    y, i = NF.adaptive_max_pool1d(nerve.tensor(x, device=device), 3, return_indices=True)
    ty, ti = TF.adaptive_max_pool1d(torch.tensor(x), 3, return_indices=True)
    np.testing.assert_array_equal(i.cpu().numpy(), ti.numpy())
    np.testing.assert_allclose(y.cpu().numpy(), ty.numpy())


def test_pixel_shuffle_roundtrip():
    x = nerve.randn(2, 8, 3, 5)
    np.testing.assert_array_equal(NF.pixel_unshuffle(NF.pixel_shuffle(x, 2), 2).numpy(), x.numpy())


def test_fold_is_unfold_adjoint_and_gradcheck():
    geo = dict(kernel_size=(2, 3), dilation=(1, 2), padding=(1, 2), stride=(2, 1))
    x = nerve.randn(2, 3, 5, 6, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(lambda t: NF.unfold(t, **geo), [x])
    cols = NF.unfold(x, **geo).detach()
    c = nerve.randn(*cols.shape, dtype=nerve.float64, requires_grad=True)
    assert gradcheck(lambda t: NF.fold(t, (5, 6), **geo), [c])
    # <unfold(x), c> == <x, fold(c)>
    a = float((NF.unfold(x, **geo) * c).sum())
    b = float((x * NF.fold(c, (5, 6), **geo)).sum())
    assert abs(a - b) < 1e-9 * max(1.0, abs(a))


def test_layer_errors():
    with pytest.raises(RuntimeError, match=r"divisible by the square of upscale_factor, but input.size\(-3\)=3 "
                                           r"is not divisible by 4"):
        nn.PixelShuffle(2)(nerve.randn(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="at least 3 dimensions, but got input with 2 dimension"):
        NF.pixel_shuffle(nerve.randn(4, 2), 2)
    with pytest.raises(RuntimeError, match="expects a positive upscale_factor, but got 0"):
        NF.pixel_shuffle(nerve.randn(4, 2, 2), 0)
    with pytest.raises(RuntimeError, match=r"expects height to be divisible by downscale_factor, but input.size\(-2\)=3"):
        nn.PixelUnshuffle(2)(nerve.randn(1, 3, 3, 2))
    with pytest.raises(RuntimeError, match="Got 3 channels and 2 groups"):
        nn.ChannelShuffle(2)(nerve.randn(1, 3, 3, 2))
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        NF.glu(nerve.randn(3, 3))
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        nn.Softmax2d()(nerve.randn(4, 2))
    with pytest.raises(RuntimeError, match="Expected 2 to 3 dimensions, but got 1-dimensional tensor"):
        NF.adaptive_avg_pool1d(nerve.randn(4), 2)
    with pytest.raises(RuntimeError, match=r"calculated shape of the array of sliding blocks as \(-1, 0\)"):
        NF.unfold(nerve.randn(1, 2, 3, 4), 5)
    with pytest.raises(RuntimeError, match="stride should be greater than zero"):
        NF.unfold(nerve.randn(1, 2, 3, 4), 2, stride=0)
    with pytest.raises(RuntimeError, match="It is expected kernel_size equals to 2, but got size 3"):
        NF.unfold(nerve.randn(1, 2, 3, 4), (2, 2, 2))
    with pytest.raises(RuntimeError, match=r"divisible by the product of kernel_size, but got input.size\(1\)=11"):
        NF.fold(nerve.randn(1, 11, 6), (3, 4), 2)
    with pytest.raises(RuntimeError, match=r"sliding blocks 2 \* 3 = 6, but got input.size\(2\)=5"):
        NF.fold(nerve.randn(1, 12, 5), (3, 4), 2)


# ---------------------------------------------------------------- losses


def _sign(rng, *shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _loss_cases():
    """name -> (module args, kwargs, input makers, which inputs need a gradient)."""
    n = lambda *s: lambda r: r.standard_normal(s)  # noqa: E731
    sign = lambda *s: lambda r: _sign(r, *s)  # noqa: E731
    return {
        "MarginRankingLoss": ((), {"margin": 0.3}, [n(6), n(6), sign(6)], [True, True, False]),
        "HingeEmbeddingLoss": ((), {"margin": 0.8}, [n(4, 5), sign(4, 5)], [True, False]),
        "SoftMarginLoss": ((), {}, [n(4, 5), sign(4, 5)], [True, False]),
        "MultiLabelSoftMarginLoss": ((), {}, [n(4, 5), lambda r: (r.random((4, 5)) < 0.5) * 1.0], [True, False]),
        "MultiLabelSoftMarginLoss-weight": ((), {"weight": "w5"}, [n(4, 5), lambda r: r.random((4, 5))],
                                            [True, False]),
        "CosineEmbeddingLoss": ((), {"margin": 0.2}, [n(6, 4), n(6, 4), sign(6)], [True, True, False]),
        "TripletMarginLoss": ((), {"margin": 2.0}, [n(5, 4), n(5, 4), n(5, 4)], [True, True, True]),
        "TripletMarginLoss-p1-swap": ((), {"p": 1.0, "swap": True, "eps": 1e-3}, [n(5, 4), n(5, 4), n(5, 4)],
                                      [True, True, True]),
        "PoissonNLLLoss": ((), {}, [n(4, 5), lambda r: r.poisson(2.0, (4, 5)) * 1.0], [True, False]),
        "PoissonNLLLoss-rate-full": ((), {"log_input": False, "full": True},
                                     [lambda r: r.random((4, 5)) + 0.1, lambda r: r.poisson(2.0, (4, 5)) * 1.0],
                                     [True, False]),
        "GaussianNLLLoss": ((), {}, [n(4, 5), n(4, 5), lambda r: r.random((4, 5)) + 0.1], [True, True, True]),
        "GaussianNLLLoss-full-short-var": ((), {"full": True}, [n(4, 5), n(4, 5), lambda r: r.random(4) + 0.1],
                                           [True, False, True]),
        "GaussianNLLLoss-one-dim-var": ((), {"eps": 0.2}, [n(4, 3, 5), n(4, 3, 5), lambda r: r.random((4, 1, 5))],
                                        [True, False, True]),
        "MultiMarginLoss": ((), {}, [n(6, 4), lambda r: r.integers(0, 4, 6)], [True, False]),
        "MultiMarginLoss-p2-weight": ((), {"p": 2, "margin": 0.7, "weight": "w4"},
                                      [n(6, 4), lambda r: r.integers(0, 4, 6)], [True, False]),
        "MultiLabelMarginLoss": ((), {}, [n(3, 4), lambda r: np.array([[3, 0, -1, 1], [1, 2, 3, -1], [-1, 0, 1, 2]])],
                                 [True, False]),
    }


LOSS_CASES = _loss_cases()


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(device, case, reduction):
    args, kwargs, makers, grads = LOSS_CASES[case]
    rng = _rng(1)
    arrays = [m(rng) for m in makers]
    nk, tk = dict(kwargs, reduction=reduction), dict(kwargs, reduction=reduction)
    for key, v in kwargs.items():
        if isinstance(v, str):  # a per-class weight
            w = rng.random(int(v[1:])) + 0.5
            nk[key], tk[key] = nerve.tensor(w, device=device), torch.tensor(w)
    name = case.split("-")[0]
    m, tm = getattr(nn, name)(*args, **nk), getattr(torch.nn, name)(*args, **tk)
    yn, yt = compare(torch, m, tm, arrays, grads, device=device)
    assert yn.shape == yt.shape
    if not any(isinstance(v, str) for v in kwargs.values()):  # float32 in float32 (weights are float64 here)
        yn, yt = compare(torch, m, tm, arrays, grads, device=device, dtype="float32")
        assert yn.dtype == np.float32


@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss", "triplet_margin_loss",
                                  "cosine_embedding_loss", "margin_ranking_loss", "multilabel_soft_margin_loss"])
def test_losses_single_sample(name):
    rng = _rng(2)
    x = rng.standard_normal(5)
    args = {
        "multi_margin_loss": [x, np.array(2)],
        "multilabel_margin_loss": [x, np.array([4, 1, -1, 0, 0])],
        "triplet_margin_loss": [x, rng.standard_normal(5), rng.standard_normal(5)],
        "cosine_embedding_loss": [x, rng.standard_normal(5), np.array(-1.0)],
        "margin_ranking_loss": [x, rng.standard_normal(5), _sign(rng, 5)],
        "multilabel_soft_margin_loss": [x, (rng.random(5) < 0.5) * 1.0],
    }[name]
    grads = [a.dtype.kind == "f" and i != len(args) - 1 for i, a in enumerate(args)]
    if name == "triplet_margin_loss":
        grads = [True] * 3
    for reduction in ("none", "sum"):
        yn, yt = compare(torch, lambda *t: getattr(NF, name)(*t, reduction=reduction),
                         lambda *t: getattr(TF, name)(*t, reduction=reduction), args, grads)
        assert yn.shape == yt.shape


def test_losses_gradcheck():
    x = nerve.randn(4, 5, dtype=nerve.float64, requires_grad=True)
    v = (nerve.rand(4, 5, dtype=nerve.float64) + 0.1).requires_grad_()
    t = nerve.randn(4, 5, dtype=nerve.float64)
    cls = nerve.tensor([0, 4, 2, 2])
    assert gradcheck(lambda a, b: NF.gaussian_nll_loss(a, t, b, full=True), [x, v])
    assert gradcheck(lambda a: NF.multi_margin_loss(a, cls, p=2), [x])
    assert gradcheck(lambda a: NF.soft_margin_loss(a, t.sign()), [x])


def test_legacy_reduction_and_float_var():
    x, t = nerve.randn(4, 5), nerve.randn(4, 5).sign()
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        out = NF.soft_margin_loss(x, t, reduce=False)
    assert tuple(out.shape) == (4, 5)
    assert nn.HingeEmbeddingLoss(size_average=False).reduction == "sum"
    y = NF.gaussian_nll_loss(x, t, 0.5)
    ty = TF.gaussian_nll_loss(torch.tensor(x.numpy()), torch.tensor(t.numpy()), 0.5)
    np.testing.assert_allclose(float(y), float(ty), rtol=1e-5)


def test_loss_errors():
    x = nerve.randn(4, 3)
    with pytest.raises(ValueError, match="x is not a valid value for reduction"):
        NF.soft_margin_loss(x, x, reduction="x")
    with pytest.raises(ValueError, match="x is not valid"):
        NF.gaussian_nll_loss(x, x, nerve.ones(4, 3), reduction="x")
    with pytest.raises(ValueError, match="var is of incorrect size"):
        NF.gaussian_nll_loss(x, x, nerve.ones(4, 2))
    with pytest.raises(ValueError, match="var has negative entry"):
        nn.GaussianNLLLoss()(x, x, -nerve.ones(4, 3))
    with pytest.raises(RuntimeError, match="All input tensors should have same dimension"):
        nn.MarginRankingLoss()(nerve.randn(3), nerve.randn(3), nerve.randn(3, 1))
    with pytest.raises(RuntimeError, match="anchor 2D, positive 2D, and negative 1D inputs"):
        NF.triplet_margin_loss(x, x, nerve.randn(3))
    with pytest.raises(ValueError, match="margin must be greater than 0, got 0"):
        NF.triplet_margin_loss(x, x, x, margin=0)
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater than 0"):
        nn.TripletMarginLoss(margin=-1)
    with pytest.raises(RuntimeError, match="target out of range"):
        NF.multi_margin_loss(x, nerve.tensor([0, 1, 2, 3]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[4\], but got \[3\]"):
        NF.multi_margin_loss(x, nerve.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(RuntimeError, match=r"inconsistent weight size, expected 3 but got \[2\]"):
        NF.multi_margin_loss(x, nerve.tensor([0, 1, 2, 1]), weight=nerve.ones(2))
    with pytest.raises(RuntimeError, match="argument #2 'target' is out of range"):
        NF.multilabel_margin_loss(x, nerve.tensor([[0, 1, -1], [2, -1, 0], [3, 0, -1], [0, 1, 2]]))
    with pytest.raises(RuntimeError, match=r"inconsistent target size: \[2, 3\] for input of size: \[4, 3\]"):
        NF.multilabel_margin_loss(x, nerve.tensor([[0, 1, -1], [2, -1, 0]]))
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected, multi-target not supported"):
        NF.cosine_embedding_loss(x, x, nerve.ones(4, 1))
