"""Batch norm and channel dropout against PyTorch: values, gradients, running statistics over several
steps, evaluation mode, gradient checks, errors."""

import numpy as np
import pytest
from _torch_compare import compare, to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 7), (4, 3, 5, 6)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_functional_matches_torch(shape, training, affine, device):
    rng = np.random.default_rng(0)
    c = shape[1]
    arrays = [rng.standard_normal(shape) * 2 + 1]
    if affine:
        arrays += [rng.standard_normal(c), rng.standard_normal(c)]
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
    nstats = [nerve.tensor(a, device=device) for a in (rm, rv)]
    tstats = [torch.tensor(a) for a in (rm, rv)]

    def run(mod, stats):
        return lambda x, *wb: mod.batch_norm(x, *stats, *wb, training=training, momentum=0.3, eps=1e-4)

    compare(torch, run(F, nstats), run(TF, tstats), arrays, [True] * len(arrays), device)
    for a, b in zip(nstats, tstats):
        np.testing.assert_allclose(to_np(a), b.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training, device):
    rng = np.random.default_rng(1)
    x, w, b = (nerve.tensor(a, device=device, requires_grad=True)
               for a in (rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(2), rng.standard_normal(2)))
    rm, rv = nerve.zeros(2, dtype=nerve.float64, device=device), nerve.ones(2, dtype=nerve.float64, device=device)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.0), [x, w, b])


@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (4, 3, 5, 5)), ("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 6))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_module_over_several_steps(cls, shape, momentum, device):
    m = getattr(nn, cls)(3, momentum=momentum).double().to(device)
    t = getattr(torch.nn, cls)(3, momentum=momentum).double()
    assert _repr_like_torch(m, t)
    assert [k for k in m.state_dict()] == [k for k in t.state_dict()]
    rng = np.random.default_rng(2)
    with nerve.no_grad():
        m.weight.copy_(nerve.tensor(rng.standard_normal(3), device=device))
    with torch.no_grad():
        t.weight.copy_(torch.tensor(to_np(m.weight)))
    for step in range(4):
        x = rng.standard_normal(shape) * (step + 1) + step
        compare(torch, m, t, [x], [True], device)
        np.testing.assert_allclose(to_np(m.weight.grad), t.weight.grad.numpy(), rtol=1e-9, atol=1e-10)
        m.zero_grad()
        t.zero_grad()
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(to_np(m.state_dict()[k]), v.numpy(), rtol=1e-12, atol=1e-14, err_msg=k)
    assert int(m.num_batches_tracked.item()) == 4
    m.eval()
    t.eval()
    compare(torch, m, t, [rng.standard_normal(shape)], [True], device)
    assert int(m.num_batches_tracked.item()) == 4  # eval mode leaves the statistics alone


@pytest.mark.parametrize("affine,track", [(False, True), (True, False), (False, False)])
def test_batchnorm_options(affine, track, device):
    m = nn.BatchNorm2d(3, affine=affine, track_running_stats=track).double().to(device)
    t = torch.nn.BatchNorm2d(3, affine=affine, track_running_stats=track).double()
    assert _repr_like_torch(m, t)
    assert len(list(m.parameters())) == (2 if affine else 0)
    rng = np.random.default_rng(3)
    for train in (True, False):
        m.train(train)
        t.train(train)
        compare(torch, m, t, [rng.standard_normal((4, 3, 3, 3)) + 2], [True], device)
    if not track:
        assert m.running_mean is None and m.num_batches_tracked is None


def test_batchnorm_float32_and_state_dict(device):
    m = nn.BatchNorm2d(4).to(device)
    x = nerve.randn(8, 4, 3, 3, device=device) * 3 + 1
    y = m(x)
    assert y.dtype == m.running_mean.dtype == nerve.float32
    assert m.num_batches_tracked.dtype == nerve.int64
    m2 = nn.BatchNorm2d(4).to(device)
    m2.load_state_dict(m.state_dict())
    m.eval()
    m2.eval()
    np.testing.assert_allclose(to_np(m(x)), to_np(m2(x)), rtol=1e-6)
    m.reset_running_stats()
    assert float(m.running_var.sum().item()) == 4.0 and int(m.num_batches_tracked.item()) == 0


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(nerve.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(nerve.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(nerve.randn(1, 3))
    with pytest.raises(RuntimeError, match="running_mean and running_var must be defined in evaluation mode"):
        F.batch_norm(nerve.randn(2, 3), None, None, training=False)
    with pytest.raises(RuntimeError, match="weight should contain 3 elements not 4"):
        F.batch_norm(nerve.randn(2, 3), None, None, nerve.ones(4), training=True)


def test_dropout2d_zeroes_whole_channels(device):
    nerve.manual_seed(0)
    m = nn.Dropout2d(0.4)
    assert repr(m) == repr(torch.nn.Dropout2d(0.4))
    x = nerve.ones(64, 32, 3, 3, device=device, requires_grad=True)
    y = m(x)
    v = to_np(y)
    per_channel = v.reshape(64, 32, 9)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # each channel all kept or all dropped
    assert set(np.unique(v)) <= {0.0, np.float32(1 / 0.6)}
    assert abs((per_channel[..., 0] == 0).mean() - 0.4) < 0.05
    y.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), v)
    m.eval()
    assert m(x) is x
    assert tuple(F.dropout2d(nerve.ones(3, 4, 4, device=device), 0.5).shape) == (3, 4, 4)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.dropout2d(x, 1.5)


def _repr_like_torch(m, t) -> bool:
    """nerve prints torch 2.13's repr; torch before 2.13 leaves ``bias=`` out of BatchNorm's."""
    ours, theirs = repr(m), repr(t)
    if "bias=" not in theirs:
        ours = ours.replace(", bias=True", "").replace(", bias=False", "")
    return ours == theirs
