"""nerve.optim.swa_utils against torch.optim.swa_utils."""

import warnings

import numpy as np
import pytest

import nerve
from nerve import optim

torch = pytest.importorskip("torch")
nn = pytest.importorskip("nerve.nn")


def _pair():
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(),
                                 torch.nn.Linear(6, 2)).double()
    nmodel = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)).double()
    nmodel.load_state_dict({k: nerve.tensor(v.numpy()) for k, v in tmodel.state_dict().items()})
    return nmodel, tmodel


def _perturb(nmodel, tmodel, rng):
    """Give both models the same new weights (as if training had moved them)."""
    with torch.no_grad():
        for (_, tp), (_, np_) in zip(tmodel.named_parameters(), nmodel.named_parameters()):
            new = tp.detach().numpy() + rng.standard_normal(tuple(tp.shape))
            tp.copy_(torch.tensor(new))
            np_.data = nerve.tensor(new)


def _assert_same_state(navg, tavg):
    nsd, tsd = navg.state_dict(), tavg.state_dict()
    assert list(nsd) == list(tsd)
    for k in tsd:
        np.testing.assert_allclose(nsd[k].numpy(), tsd[k].numpy(), rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("kind", ["swa", "ema", "ema_multi", "buffers"])
def test_averaged_model_matches_torch(kind):
    nmodel, tmodel = _pair()
    kw_n, kw_t = {}, {}
    if kind == "ema":
        kw_n["avg_fn"], kw_t["avg_fn"] = optim.swa_utils.get_ema_avg_fn(0.9), torch.optim.swa_utils.get_ema_avg_fn(0.9)
    elif kind == "ema_multi":
        kw_n["multi_avg_fn"] = optim.swa_utils.get_ema_multi_avg_fn(0.8)
        kw_t["multi_avg_fn"] = torch.optim.swa_utils.get_ema_multi_avg_fn(0.8)
    elif kind == "buffers":
        kw_n["use_buffers"] = kw_t["use_buffers"] = True
    navg = optim.swa_utils.AveragedModel(nmodel, **kw_n)
    tavg = torch.optim.swa_utils.AveragedModel(tmodel, **kw_t)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4))
    for _ in range(5):
        _perturb(nmodel, tmodel, rng)
        nmodel(nerve.tensor(x))  # moves the BatchNorm running stats
        tmodel(torch.tensor(x))
        navg.update_parameters(nmodel)
        tavg.update_parameters(tmodel)
    assert int(navg.n_averaged) == 5
    _assert_same_state(navg, tavg)
    navg.eval()
    tavg.eval()
    np.testing.assert_allclose(navg(nerve.tensor(x)).detach().numpy(), tavg(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10)


def test_update_bn_matches_torch():
    nmodel, tmodel = _pair()
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((5, 4)) * 3 + 1 for _ in range(4)]
    optim.swa_utils.update_bn([(nerve.tensor(b), 0) for b in batches], nmodel)
    torch.optim.swa_utils.update_bn([(torch.tensor(b), 0) for b in batches], tmodel)
    _assert_same_state(nmodel, tmodel)
    assert nmodel.training and nmodel[1].momentum == tmodel[1].momentum == 0.1


@pytest.mark.parametrize("kw", [dict(swa_lr=0.05), dict(swa_lr=[0.01, 0.005], anneal_epochs=4, anneal_strategy="linear"),
                                dict(swa_lr=0.02, anneal_epochs=0)])
def test_swalr_matches_torch(kw):
    def groups(lib):
        return [{"params": [lib.zeros(2, requires_grad=True)]}, {"params": [lib.zeros(1, requires_grad=True)], "lr": 0.02}]

    nopt, topt = optim.SGD(groups(nerve), lr=0.1), torch.optim.SGD(groups(torch), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns, ts = optim.swa_utils.SWALR(nopt, **kw), torch.optim.swa_utils.SWALR(topt, **kw)
        got, want = [], []
        for _ in range(15):
            nopt.step()
            topt.step()
            ns.step()
            ts.step()
            got.append(ns.get_last_lr())
            want.append(ts.get_last_lr())
    np.testing.assert_allclose(got, want, rtol=1e-12)
