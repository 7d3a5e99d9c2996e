"""nerve.distributions against torch.distributions 2.13: log_prob, entropy, cdf/icdf, moments and KL
divergences with their gradients (float64), sample shapes and dtypes, sample statistics on 100k
draws, reproducibility under nerve.manual_seed, rsample gradients (float64 finite differences),
PyTorch's validation errors, a REINFORCE bandit that learns, and a VAE step matching torch's."""

import subprocess
import sys

import numpy as np
import pytest
from _torch_compare import to_np

import nerve
import nerve.distributions as ND
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(0)
TIGHT = dict(rtol=1e-9, atol=1e-10)
# gradients through digamma go through trigamma, whose series differ from torch's in the 9th-10th digit
TRIGAMMA = dict(rtol=1e-7, atol=1e-9)
B = (3, 4)  # the batch shape of most cases


def _randn(*shape):
    return RNG.standard_normal(shape)


def _pos(*shape, lo=0.5, hi=2.0):
    return RNG.uniform(lo, hi, shape)


def _spd(*shape):
    a = _randn(*shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _tril(*shape):
    n = shape[-1]
    return np.tril(_randn(*shape) * 0.3) + np.eye(n) * _pos(*shape[:-1])[..., None]


def _dirichlet(alpha, size):
    g = RNG.gamma(np.broadcast_to(alpha, size + alpha.shape))
    return g / g.sum(-1, keepdims=True)


# Each case: (constructor taking the library's distributions module and a dict of its tensors,
# the parameters as NumPy arrays (float ones get gradients), a value to score, or None).
def _cases():
    loc, scale, rate = _randn(*B), _pos(*B), _pos(*B)
    probs = RNG.uniform(0.05, 0.95, B)
    conc = _pos(2, 5, lo=0.6, hi=3.0)
    mvn_loc = _randn(2, 3)
    return {
        "Normal": (lambda D, p: D.Normal(p["loc"], p["scale"]), dict(loc=loc, scale=scale), _randn(2, *B)),
        "Normal-number-loc": (lambda D, p: D.Normal(0.5, p["scale"]), dict(scale=scale), _randn(2, *B)),
        "Laplace": (lambda D, p: D.Laplace(p["loc"], p["scale"]), dict(loc=loc, scale=scale), _randn(2, *B)),
        "Uniform": (lambda D, p: D.Uniform(p["low"], p["high"]), dict(low=loc, high=loc + scale),
                    loc + RNG.uniform(0, 1, (2, *B)) * scale),
        "Exponential": (lambda D, p: D.Exponential(p["rate"]), dict(rate=rate), _pos(2, *B, lo=0.0, hi=3.0)),
        "Gamma": (lambda D, p: D.Gamma(p["c"], p["rate"]), dict(c=_pos(*B, hi=4.0), rate=rate),
                  _pos(2, *B, lo=0.1, hi=4.0)),
        "Beta": (lambda D, p: D.Beta(p["a"], p["b"]), dict(a=_pos(*B, hi=4.0), b=_pos(*B, hi=4.0)),
                 RNG.uniform(0.02, 0.98, (2, *B))),
        "Dirichlet": (lambda D, p: D.Dirichlet(p["c"]), dict(c=conc), _dirichlet(conc, (3,))),
        "Poisson": (lambda D, p: D.Poisson(p["rate"]), dict(rate=_pos(*B, hi=6.0)),
                    RNG.integers(0, 8, (2, *B)).astype(np.float64)),
        "Binomial": (lambda D, p: D.Binomial(7, probs=p["probs"]), dict(probs=probs),
                     RNG.integers(0, 8, (2, *B)).astype(np.float64)),
        "Binomial-logits": (lambda D, p: D.Binomial(p["n"], logits=p["logits"]),
                            dict(n=np.array([[3], [9], [5]]), logits=_randn(*B)),
                            RNG.integers(0, 4, (2, *B)).astype(np.float64)),
        "Bernoulli": (lambda D, p: D.Bernoulli(p["probs"]), dict(probs=probs),
                      RNG.integers(0, 2, (2, *B)).astype(np.float64)),
        "Bernoulli-logits": (lambda D, p: D.Bernoulli(logits=p["logits"]), dict(logits=_randn(*B)),
                             RNG.integers(0, 2, (2, *B)).astype(np.float64)),
        "Categorical": (lambda D, p: D.Categorical(p["probs"]), dict(probs=_pos(*B)), RNG.integers(0, 4, (2, 3))),
        "Categorical-logits": (lambda D, p: D.Categorical(logits=p["logits"]), dict(logits=_randn(*B)),
                               RNG.integers(0, 4, (5, 1))),
        "OneHotCategorical": (lambda D, p: D.OneHotCategorical(logits=p["logits"]), dict(logits=_randn(*B)),
                              np.eye(4)[RNG.integers(0, 4, (2, 3))]),
        "MVN-covariance": (lambda D, p: D.MultivariateNormal(p["loc"], covariance_matrix=p["cov"]),
                           dict(loc=mvn_loc, cov=_spd(3, 3)), _randn(4, 2, 3)),
        "MVN-scale_tril": (lambda D, p: D.MultivariateNormal(p["loc"], scale_tril=p["L"]),
                           dict(loc=mvn_loc[0], L=_tril(2, 3, 3)), _randn(4, 1, 3)),
        "MVN-precision": (lambda D, p: D.MultivariateNormal(p["loc"], precision_matrix=p["P"]),
                          dict(loc=mvn_loc, P=_spd(2, 3, 3)), _randn(4, 2, 3)),
        "Independent-Normal": (lambda D, p: D.Independent(D.Normal(p["loc"], p["scale"]), 1),
                               dict(loc=loc, scale=scale), _randn(2, *B)),
    }


CASES = _cases()


def _make(name, requires_grad=True):
    """The case's nerve and torch distributions, their parameter tensors, and the value."""
    ctor, params, value = CASES[name]
    grad = lambda a: requires_grad and a.dtype.kind == "f"  # noqa: E731
    pn = {k: nerve.tensor(a, requires_grad=grad(a)) for k, a in params.items()}
    pt = {k: torch.tensor(a, requires_grad=grad(a)) for k, a in params.items()}
    return ctor(ND, pn), ctor(TD, pt), pn, pt, value


def _close(n, t, **tol):
    assert tuple(n.shape) == tuple(t.shape), (n.shape, t.shape)
    assert n.dtype.name == str(t.dtype).removeprefix("torch."), (n.dtype, t.dtype)
    np.testing.assert_allclose(to_np(n), t.detach().numpy(), **(tol or TIGHT))


def _grads_close(pn, pt, **tol):
    for k in pn:
        if pt[k].requires_grad:
            assert pn[k].grad is not None, f"no gradient for {k}"
            np.testing.assert_allclose(to_np(pn[k].grad), pt[k].grad.numpy(), err_msg=k, **(tol or TIGHT))


def _tol(name):
    return TRIGAMMA if any(f in name for f in ("Gamma", "Beta", "Dirichlet")) else TIGHT


def _value(v, lib):
    return nerve.tensor(v) if lib is nerve else torch.tensor(v)


# ---------------------------------------------------------------- values and gradients against torch


@pytest.mark.parametrize("name", list(CASES))
def test_log_prob_entropy_and_their_gradients_match_torch(name):
    dn, dt, pn, pt, value = _make(name)
    assert tuple(dn.batch_shape) == tuple(dt.batch_shape) and tuple(dn.event_shape) == tuple(dt.event_shape)
    ln, lt = dn.log_prob(_value(value, nerve)), dt.log_prob(_value(value, torch))
    _close(ln, lt)
    w = RNG.standard_normal(tuple(lt.shape))
    loss_n, loss_t = (ln * nerve.tensor(w)).sum(), (lt * torch.tensor(w)).sum()
    try:
        et = dt.entropy()
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            dn.entropy()
    else:
        en = dn.entropy()
        _close(en, et)
        w2 = RNG.standard_normal(tuple(et.shape))
        loss_n, loss_t = loss_n + (en * nerve.tensor(w2)).sum(), loss_t + (et * torch.tensor(w2)).sum()
    if any(p.requires_grad for p in pt.values()):
        loss_n.backward()
        loss_t.backward()
        _grads_close(pn, pt, **_tol(name))


@pytest.mark.parametrize("name", list(CASES))
def test_moments_and_mode_match_torch(name):
    dn, dt, *_ = _make(name, requires_grad=False)
    for attr in ("mean", "variance", "stddev", "mode"):
        try:
            t = getattr(dt, attr)
        except NotImplementedError:
            continue
        _close(getattr(dn, attr), t)


@pytest.mark.parametrize("name", ["Normal", "Laplace", "Uniform", "Exponential"])
def test_cdf_icdf_and_their_gradients_match_torch(name):
    dn, dt, pn, pt, value = _make(name)
    q = RNG.uniform(0.02, 0.98, (2, *B))
    cn, ct = dn.cdf(_value(value, nerve)), dt.cdf(_value(value, torch))
    inn, it = dn.icdf(nerve.tensor(q)), dt.icdf(torch.tensor(q))
    _close(cn, ct)
    _close(inn, it)
    np.testing.assert_allclose(to_np(dn.cdf(inn)), q, **TIGHT)
    w1, w2 = RNG.standard_normal(q.shape), RNG.standard_normal(q.shape)
    ((cn * nerve.tensor(w1)).sum() + (inn * nerve.tensor(w2)).sum()).backward()
    ((ct * torch.tensor(w1)).sum() + (it * torch.tensor(w2)).sum()).backward()
    _grads_close(pn, pt)


def test_enumerate_support_perplexity_and_expand_match_torch():
    for name in ("Bernoulli", "Categorical", "OneHotCategorical", "Binomial"):
        dn, dt, *_ = _make(name, requires_grad=False)
        for expand in (True, False):
            _close(dn.enumerate_support(expand), dt.enumerate_support(expand))
        _close(dn.perplexity(), dt.perplexity())
    for name in ("Normal", "Categorical", "Bernoulli-logits", "MVN-scale_tril", "Dirichlet", "Beta",
                 "Independent-Normal", "OneHotCategorical"):
        dn, dt, _, _, value = _make(name, requires_grad=False)
        value = value[:1]
        shape = (5,) + tuple(dt.batch_shape)
        en, et = dn.expand(shape), dt.expand(shape)
        assert tuple(en.batch_shape) == tuple(et.batch_shape) and type(en) is type(dn)
        _close(en.log_prob(_value(value, nerve)), et.log_prob(_value(value, torch)))
        assert tuple(en.sample((2,)).shape) == tuple(et.sample((2,)).shape)


# ---------------------------------------------------------------- KL divergences


def _kl_pairs():
    loc1, loc2, s1, s2 = _randn(*B), _randn(*B), _pos(*B), _pos(*B)
    r1, r2, c1, c2 = _pos(*B), _pos(*B), _pos(*B, hi=4.0), _pos(*B, hi=4.0)
    pr1, pr2 = RNG.uniform(0.05, 0.95, B), RNG.uniform(0.05, 0.95, B)
    lo1 = RNG.uniform(0.1, 0.3, B)
    return {
        "Normal-Normal": (lambda D, p: (D.Normal(p["a"], p["s"]), D.Normal(p["b"], p["t"])),
                          dict(a=loc1, s=s1, b=loc2, t=s2)),
        "Categorical-Categorical": (lambda D, p: (D.Categorical(p["p"]), D.Categorical(logits=p["l"])),
                                    dict(p=_pos(*B), l=_randn(*B))),
        "Categorical-zero-probs": (lambda D, p: (D.Categorical(p["p"]), D.Categorical(p["q"])),
                                   dict(p=np.array([[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]]),
                                        q=np.array([[0.5, 0.5, 0.0], [0.3, 0.3, 0.4]]))),
        "OneHot-OneHot": (lambda D, p: (D.OneHotCategorical(p["p"]), D.OneHotCategorical(p["q"])),
                          dict(p=_pos(*B), q=_pos(*B))),
        "Bernoulli-Bernoulli": (lambda D, p: (D.Bernoulli(p["p"]), D.Bernoulli(logits=p["l"])),
                                dict(p=pr1, l=_randn(*B))),
        "Bernoulli-edges": (lambda D, p: (D.Bernoulli(p["p"]), D.Bernoulli(p["q"])),
                            dict(p=np.array([0.0, 1.0, 0.3, 0.3]), q=np.array([0.5, 0.5, 0.0, 1.0]))),
        "Uniform-Uniform": (lambda D, p: (D.Uniform(p["a"], p["b"]), D.Uniform(p["c"], p["d"])),
                            dict(a=loc1, b=loc1 + s1, c=loc1 - np.abs(loc2) * (np.arange(4) != 0),
                                 d=loc1 + s1 + r1)),
        "MVN-MVN": (lambda D, p: (D.MultivariateNormal(p["a"], scale_tril=p["L"]),
                                  D.MultivariateNormal(p["b"], covariance_matrix=p["C"])),
                    dict(a=_randn(2, 3), L=_tril(2, 3, 3), b=_randn(3), C=_spd(3, 3))),
        "Independent-Independent": (lambda D, p: (D.Independent(D.Normal(p["a"], p["s"]), 1),
                                                  D.Independent(D.Normal(p["b"], p["t"]), 1)),
                                    dict(a=loc1, s=s1, b=loc2, t=s2)),
        "Laplace-Laplace": (lambda D, p: (D.Laplace(p["a"], p["s"]), D.Laplace(p["b"], p["t"])),
                            dict(a=loc1, s=s1, b=loc2, t=s2)),
        "Exponential-Exponential": (lambda D, p: (D.Exponential(p["a"]), D.Exponential(p["b"])), dict(a=r1, b=r2)),
        "Gamma-Gamma": (lambda D, p: (D.Gamma(p["a"], p["r"]), D.Gamma(p["b"], p["s"])),
                        dict(a=c1, r=r1, b=c2, s=r2)),
        "Beta-Beta": (lambda D, p: (D.Beta(p["a"], p["b"]), D.Beta(p["c"], p["d"])), dict(a=c1, b=c2, c=r1, d=r2)),
        "Dirichlet-Dirichlet": (lambda D, p: (D.Dirichlet(p["a"]), D.Dirichlet(p["b"])), dict(a=c1, b=r2)),
        "Poisson-Poisson": (lambda D, p: (D.Poisson(p["a"]), D.Poisson(p["b"])), dict(a=r1, b=r2)),
        "Binomial-Binomial": (lambda D, p: (D.Binomial(p["n"], p["p"]), D.Binomial(5, p["q"])),
                              dict(n=np.array([5.0, 7.0, 5.0, 6.0]), p=pr1[0], q=pr2[0])),
        "Normal-Laplace": (lambda D, p: (D.Normal(p["a"], p["s"]), D.Laplace(p["b"], p["t"])),
                           dict(a=loc1, s=s1, b=loc2, t=s2)),
        "Laplace-Normal": (lambda D, p: (D.Laplace(p["a"], p["s"]), D.Normal(p["b"], p["t"])),
                           dict(a=loc1, s=s1, b=loc2, t=s2)),
        "Uniform-Normal": (lambda D, p: (D.Uniform(p["a"], p["b"]), D.Normal(p["c"], p["s"])),
                           dict(a=loc1, b=loc1 + s1, c=loc2, s=s2)),
        "Uniform-Beta": (lambda D, p: (D.Uniform(p["lo"], p["hi"]), D.Beta(p["a"], p["b"])),
                         dict(lo=lo1, hi=lo1 + 0.5, a=c1, b=c2)),
        "Uniform-Gamma": (lambda D, p: (D.Uniform(p["lo"], p["hi"]), D.Gamma(p["a"], p["r"])),
                          dict(lo=lo1, hi=lo1 + s1, a=c1, r=r1)),
        "Uniform-Exponential": (lambda D, p: (D.Uniform(p["lo"], p["hi"]), D.Exponential(p["r"])),
                                dict(lo=lo1 - 0.2, hi=lo1 + s1, r=r1)),
        "Exponential-Gamma": (lambda D, p: (D.Exponential(p["r"]), D.Gamma(p["a"], p["s"])),
                              dict(r=r1, a=c1, s=r2)),
        "Exponential-Normal": (lambda D, p: (D.Exponential(p["r"]), D.Normal(p["a"], p["s"])),
                               dict(r=r1, a=loc1, s=s1)),
        "Gamma-Exponential": (lambda D, p: (D.Gamma(p["a"], p["r"]), D.Exponential(p["s"])),
                              dict(a=c1, r=r1, s=r2)),
        "Gamma-Normal": (lambda D, p: (D.Gamma(p["a"], p["r"]), D.Normal(p["b"], p["s"])),
                         dict(a=c1, r=r1, b=loc1, s=s1)),
        "Beta-Normal": (lambda D, p: (D.Beta(p["a"], p["b"]), D.Normal(p["c"], p["s"])),
                        dict(a=c1, b=c2, c=loc1, s=s1)),
        "Beta-Gamma": (lambda D, p: (D.Beta(p["a"], p["b"]), D.Gamma(p["c"], p["r"])), dict(a=c1, b=c2, c=r1, r=r2)),
        "Beta-Exponential": (lambda D, p: (D.Beta(p["a"], p["b"]), D.Exponential(p["r"])), dict(a=c1, b=c2, r=r1)),
        "Beta-Uniform": (lambda D, p: (D.Beta(p["a"], p["b"]), D.Uniform(p["lo"], p["hi"])),
                         dict(a=c1, b=c2, lo=lo1 - 0.2, hi=1.0 + lo1 * (np.arange(4) % 2))),
        "Bernoulli-Poisson": (lambda D, p: (D.Bernoulli(p["p"]), D.Poisson(p["r"])), dict(p=pr1, r=r1)),
        "Normal-Gamma(inf)": (lambda D, p: (D.Normal(p["a"], p["s"]), D.Gamma(p["b"], p["r"])),
                              dict(a=loc1, s=s1, b=c1, r=r1)),
        "Poisson-Bernoulli(inf)": (lambda D, p: (D.Poisson(p["r"]), D.Bernoulli(p["p"])), dict(r=r1, p=pr1)),
    }


KL_PAIRS = _kl_pairs()


@pytest.mark.parametrize("name", list(KL_PAIRS))
def test_kl_divergence_and_its_gradients_match_torch(name):
    ctor, params = KL_PAIRS[name]
    pn = {k: nerve.tensor(a, requires_grad=True) for k, a in params.items()}
    pt = {k: torch.tensor(a, requires_grad=True) for k, a in params.items()}
    kn, kt = ND.kl_divergence(*ctor(ND, pn)), TD.kl_divergence(*ctor(TD, pt))
    _close(kn, kt)
    w = RNG.standard_normal(tuple(kt.shape))
    if not kt.requires_grad:  # an infinite KL for every parameter
        assert not kn.requires_grad and np.all(np.isinf(to_np(kn)))
        return
    finite = np.isfinite(kt.detach().numpy())  # the gradient through inf entries is zero in both
    (kn[nerve.tensor(finite)] * nerve.tensor(w[finite])).sum().backward()
    (kt[torch.tensor(finite)] * torch.tensor(w[finite])).sum().backward()
    for k in pn:
        gt = pt[k].grad
        gn = pn[k].grad
        if gt is None:
            assert gn is None or not np.any(to_np(gn)), k
        else:
            np.testing.assert_allclose(to_np(gn), gt.numpy(), err_msg=k, **_tol(name))


def test_register_kl_dispatches_to_the_most_specific_pair_and_unregistered_pairs_raise():
    class MyNormal(ND.Normal):
        pass

    p, q = MyNormal(nerve.tensor([0.0]), nerve.tensor([1.0])), ND.Normal(nerve.tensor([1.0]), nerve.tensor([2.0]))
    base = ND.kl_divergence(p, q)  # the Normal-Normal form serves the subclass
    np.testing.assert_allclose(to_np(base), to_np(ND.kl_divergence(ND.Normal(0.0, 1.0), ND.Normal(1.0, 2.0)))[None])

    @ND.register_kl(MyNormal, ND.Normal)
    def _kl_mine(p, q):
        return nerve.zeros(p.batch_shape)

    assert to_np(ND.kl_divergence(p, q)).tolist() == [0.0]
    with pytest.raises(NotImplementedError) as ours:
        ND.kl_divergence(ND.Categorical(nerve.ones(3)), ND.Normal(0.0, 1.0))
    with pytest.raises(NotImplementedError) as theirs:
        TD.kl_divergence(TD.Categorical(torch.ones(3)), TD.Normal(0.0, 1.0))
    assert str(ours.value) == str(theirs.value)


# ---------------------------------------------------------------- sampling


SAMPLE_CASES = [n for n in CASES if not n.endswith(("-logits", "-number-loc"))] + ["Normal-number-loc"]


@pytest.mark.parametrize("name", SAMPLE_CASES)
def test_sample_and_rsample_shapes_and_dtypes_match_torch(name):
    dn, dt, *_ = _make(name)
    for shape in ((), (5,), (2, 3)):
        sn, st = dn.sample(shape), dt.sample(shape)
        assert tuple(sn.shape) == tuple(st.shape), (shape, sn.shape, st.shape)
        assert sn.dtype.name == str(st.dtype).removeprefix("torch.")
        assert not sn.requires_grad
        assert dn.has_rsample == (dt.has_rsample and name.split("-")[0] not in ("Gamma", "Beta", "Dirichlet"))
        if dn.has_rsample:
            rn = dn.rsample(shape)
            assert tuple(rn.shape) == tuple(st.shape) and rn.requires_grad


def test_float32_parameters_give_float32_draws_and_scores():
    for D in (ND.Normal(nerve.zeros(3), nerve.ones(3)), ND.Bernoulli(nerve.full((3,), 0.3)),
              ND.Gamma(nerve.ones(3), 2.0), ND.Poisson(nerve.ones(3))):
        s = D.sample((4,))
        assert s.dtype is nerve.float32 and D.log_prob(s).dtype is nerve.float32
    assert ND.Normal(0.0, 1.0).sample((2,)).dtype is nerve.float32  # numbers take the default dtype


N = 100_000


def _check_moments(draws, mean, var, event_dims=0):
    """The sample mean within 5 standard errors of ``mean``, the sample variance within 5% of ``var``."""
    x = to_np(draws).astype(np.float64)
    mean, var = np.broadcast_to(mean, x.shape[1:]), np.broadcast_to(var, x.shape[1:])
    se = np.sqrt(var / x.shape[0])
    assert np.all(np.abs(x.mean(0) - mean) <= 5 * se + 1e-12), (x.mean(0), mean, se)
    np.testing.assert_allclose(x.var(0), var, rtol=0.05, atol=1e-12)


@pytest.mark.parametrize("name, make", [
    ("Normal", lambda: ND.Normal(nerve.tensor([0.5, -2.0]), nerve.tensor([1.0, 0.3]))),
    ("Laplace", lambda: ND.Laplace(nerve.tensor([0.5, -2.0]), nerve.tensor([1.0, 0.3]))),
    ("Uniform", lambda: ND.Uniform(nerve.tensor([0.5, -2.0]), nerve.tensor([1.0, 3.0]))),
    ("Exponential", lambda: ND.Exponential(nerve.tensor([0.5, 4.0]))),
    ("Gamma", lambda: ND.Gamma(nerve.tensor([0.7, 5.0]), nerve.tensor([2.0, 0.5]))),
    ("Beta", lambda: ND.Beta(nerve.tensor([0.7, 5.0]), nerve.tensor([2.0, 0.5]))),
    ("Dirichlet", lambda: ND.Dirichlet(nerve.tensor([0.7, 2.0, 5.0]))),
    ("Poisson", lambda: ND.Poisson(nerve.tensor([0.3, 7.5]))),
    ("Binomial", lambda: ND.Binomial(nerve.tensor([4.0, 20.0]), nerve.tensor([0.8, 0.25]))),
    ("Bernoulli", lambda: ND.Bernoulli(logits=nerve.tensor([-2.0, 0.4]))),
    ("OneHotCategorical", lambda: ND.OneHotCategorical(nerve.tensor([0.1, 0.0, 0.6, 0.3]))),
    ("Independent", lambda: ND.Independent(ND.Normal(nerve.tensor([0.5, -2.0]), nerve.tensor([1.0, 0.3])), 1)),
])
def test_sample_mean_and_variance_on_100k_draws(name, make):
    d = make()
    _check_moments(d.sample((N,)), to_np(d.mean), to_np(d.variance))


def test_categorical_draws_follow_the_probabilities_and_never_pick_zero_probability_classes():
    p = np.array([[0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 0.0, 1.0], [0.25, 0.25, 0.25, 0.25]])
    s = to_np(ND.Categorical(nerve.tensor(p * 3.0)).sample((N,)))  # unnormalised weights are normalised
    assert s.shape == (N, 3) and s.dtype == np.int64
    for row in range(3):
        freq = np.bincount(s[:, row], minlength=4) / N
        se = np.sqrt(p[row] * (1 - p[row]) / N)
        assert np.all(np.abs(freq - p[row]) <= 5 * se), (row, freq)
        assert np.all(freq[p[row] == 0] == 0)


def test_multivariate_normal_draws_have_its_mean_and_covariance():
    C = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
    mu = np.array([1.0, -1.0, 0.5])
    d = ND.MultivariateNormal(nerve.tensor(mu), covariance_matrix=nerve.tensor(C))
    x = to_np(d.sample((N,)))
    assert np.all(np.abs(x.mean(0) - mu) <= 5 * np.sqrt(np.diag(C) / N))
    np.testing.assert_allclose(np.cov(x.T), C, atol=0.03)


def test_draws_are_reproducible_under_manual_seed():
    makers = [lambda: ND.Normal(nerve.zeros(3), nerve.ones(3)).rsample((4,)),
              lambda: ND.Categorical(logits=nerve.zeros(2, 5)).sample((6,)),
              lambda: ND.Bernoulli(nerve.full((3,), 0.5)).sample((4,)),
              lambda: ND.Gamma(nerve.ones(3), 1.0).sample((2,)),
              lambda: ND.Poisson(nerve.full((3,), 2.0)).sample((4,)),
              lambda: ND.MultivariateNormal(nerve.zeros(2), scale_tril=nerve.eye(2)).rsample((3,))]
    for make in makers:
        nerve.manual_seed(123)
        a = to_np(make())
        nerve.manual_seed(123)
        b = to_np(make())
        c = to_np(make())
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(b, c)
    nerve.manual_seed(5)
    eps = to_np(nerve.randn(4, 3))
    nerve.manual_seed(5)  # Normal's noise is exactly nerve.randn's stream
    np.testing.assert_array_equal(to_np(ND.Normal(nerve.zeros(3), nerve.ones(3)).rsample((4,))), eps)


def test_draws_and_scores_stay_on_the_parameters_device(device):
    loc, scale = nerve.tensor(_randn(3), device=device), nerve.tensor(_pos(3), device=device)
    probs = nerve.tensor(_pos(2, 3), device=device)
    dists = [ND.Normal(loc, scale), ND.Laplace(loc, scale), ND.Exponential(scale), ND.Uniform(loc, loc + scale),
             ND.Categorical(probs), ND.OneHotCategorical(probs), ND.Bernoulli(logits=loc), ND.Gamma(scale, scale),
             ND.Poisson(scale), ND.Dirichlet(probs), ND.MultivariateNormal(loc, scale_tril=nerve.diag(scale))]
    for d in dists:
        s = d.sample((4,))
        assert s.device == probs.device and d.log_prob(s).device == probs.device, type(d).__name__
    nerve.manual_seed(1)
    a = to_np(ND.Normal(loc, scale).rsample((2,)))
    nerve.manual_seed(1)
    np.testing.assert_array_equal(a, to_np(ND.Normal(loc, scale).rsample((2,))))


@pytest.mark.parametrize("name, make", [
    ("Normal", lambda a, b: ND.Normal(a, b)),
    ("Laplace", lambda a, b: ND.Laplace(a, b)),
    ("Uniform", lambda a, b: ND.Uniform(a, a + b)),
    ("Exponential", lambda a, b: ND.Exponential(b)),
    ("MVN-scale_tril", lambda a, b: ND.MultivariateNormal(a, scale_tril=(b[:, None] * nerve.eye(3)) + a.outer(a).tril(-1))),
    ("MVN-covariance", lambda a, b: ND.MultivariateNormal(a, covariance_matrix=nerve.diag(b) + a.outer(a) * 0.1)),
])
def test_rsample_is_differentiable_float64_numeric_check(name, make):
    a, b = nerve.tensor(_randn(3), requires_grad=True), nerve.tensor(_pos(3), requires_grad=True)

    def draw(a, b):
        nerve.manual_seed(7)  # the same noise for every evaluation
        return make(a, b).rsample((5,))

    assert gradcheck(draw, [a, b], eps=1e-6, atol=1e-7, rtol=1e-5)


def test_rsample_gradients_match_torch_given_the_same_noise():
    loc, scale = _randn(*B), _pos(*B)
    ln, sn = nerve.tensor(loc, requires_grad=True), nerve.tensor(scale, requires_grad=True)
    lt, st = torch.tensor(loc, requires_grad=True), torch.tensor(scale, requires_grad=True)
    nerve.manual_seed(3)
    zn = ND.Normal(ln, sn).rsample((2,))
    nerve.manual_seed(3)
    eps = to_np(ND.Normal(nerve.zeros(B, dtype=nerve.float64), nerve.ones(B, dtype=nerve.float64)).sample((2,)))
    zt = lt + torch.tensor(eps) * st  # torch's rsample with that noise
    _close(zn, zt)
    (zn.sin() * zn).sum().backward()
    (zt.sin() * zt).sum().backward()
    _grads_close(dict(l=ln, s=sn), dict(l=lt, s=st))


# ---------------------------------------------------------------- validation


def _raises_like(fn_nerve, fn_torch):
    """Both raise the same exception type with the same first line (torch. read as nerve.)."""
    with pytest.raises(Exception) as theirs:
        fn_torch()
    with pytest.raises(type(theirs.value)) as ours:
        fn_nerve()
    ours, theirs = str(ours.value).split("\n")[0], str(theirs.value).split("\n")[0].replace("torch.", "nerve.")
    assert ours == theirs, (ours, theirs)


@pytest.mark.parametrize("call", [
    lambda L, D: D.Normal(L.tensor([0.0, 1.0]), L.tensor([1.0, -1.0])),
    lambda L, D: D.Normal(0.0, 0.0),
    lambda L, D: D.Normal(L.tensor([float("nan")]), L.tensor([1.0])),
    lambda L, D: D.Categorical(L.tensor([0.5, -0.1, 0.6])),
    lambda L, D: D.Categorical(logits=L.tensor([0.5, float("nan")])),
    lambda L, D: D.Bernoulli(L.tensor([0.5, 1.5])),
    lambda L, D: D.Exponential(L.tensor([-1.0])),
    lambda L, D: D.Uniform(L.tensor([0.0, 1.0]), L.tensor([1.0, 0.5])),
    lambda L, D: D.Poisson(L.tensor([[-1.0, 2.0]])),
    lambda L, D: D.Gamma(L.tensor([1.0]), L.tensor([-2.0])),
    lambda L, D: D.Dirichlet(L.tensor([1.0, 0.0])),
    lambda L, D: D.Binomial(L.tensor([2.5]), L.tensor([0.5])),
    lambda L, D: D.MultivariateNormal(L.zeros(2), covariance_matrix=L.tensor([[1.0, 2.0], [2.0, 1.0]])),
    lambda L, D: D.MultivariateNormal(L.zeros(2), covariance_matrix=L.tensor([[1.0, 0.5], [0.0, 1.0]])),
    lambda L, D: D.MultivariateNormal(L.zeros(2), scale_tril=L.tensor([[1.0, 0.0], [0.5, -1.0]])),
    lambda L, D: D.Categorical(L.tensor([0.5, 0.5]), logits=L.tensor([0.0, 0.0])),
    lambda L, D: D.Categorical(L.tensor(0.5)),
    lambda L, D: D.MultivariateNormal(L.zeros(2)),
    lambda L, D: D.MultivariateNormal(L.zeros(2), scale_tril=L.ones(2)),
    lambda L, D: D.Independent(D.Normal(L.zeros(2), L.ones(2)), 2),
    # values outside the support, of the wrong shape, or not tensors
    lambda L, D: D.Exponential(L.tensor([1.0])).log_prob(L.tensor([-0.5])),
    lambda L, D: D.Categorical(L.ones(3)).log_prob(L.tensor([3])),
    lambda L, D: D.Bernoulli(L.tensor([0.3])).log_prob(L.tensor([0.5])),
    lambda L, D: D.Uniform(0.0, 1.0).log_prob(L.tensor([1.5])),
    lambda L, D: D.Poisson(L.tensor([1.0])).log_prob(L.tensor([1.5])),
    lambda L, D: D.Beta(L.tensor([1.0]), L.tensor([1.0])).log_prob(L.tensor([1.5])),
    lambda L, D: D.Dirichlet(L.ones(3)).log_prob(L.tensor([0.5, 0.5, 0.5])),
    lambda L, D: D.OneHotCategorical(L.ones(3)).log_prob(L.tensor([1.0, 1.0, 0.0])),
    lambda L, D: D.MultivariateNormal(L.zeros(3), L.eye(3)).log_prob(L.zeros(2)),
    lambda L, D: D.Normal(L.zeros(3), L.ones(3)).log_prob(L.zeros(2)),
    lambda L, D: D.Normal(0.0, 1.0).log_prob(0.5),
    lambda L, D: D.Binomial(L.tensor([2.0, 3.0]), L.tensor([0.5, 0.5])).entropy(),
])
def test_validation_raises_torchs_errors(call):
    _raises_like(lambda: call(nerve, ND), lambda: call(torch, TD))


def test_validation_can_be_turned_off_per_instance_and_by_default():
    ND.Normal(nerve.tensor([0.0]), nerve.tensor([-1.0]), validate_args=False)
    lp = ND.Exponential(nerve.tensor([1.0]), validate_args=False).log_prob(nerve.tensor([-0.5]))
    assert to_np(lp).tolist() == [0.5]
    try:
        ND.Distribution.set_default_validate_args(False)
        ND.Normal(0.0, -1.0)
        ND.Categorical(nerve.tensor([-1.0, 2.0])).log_prob(nerve.tensor(7))  # index 7 is past the end:
    except IndexError:  # unchecked, gather raises as torch's does
        pass
    finally:
        ND.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        ND.Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        ND.Distribution.set_default_validate_args("yes")


def test_support_and_arg_constraints_check_as_torch():
    C = ND.constraints
    x = nerve.tensor([-1.0, 0.0, 0.5, 1.0, 2.0, float("nan")])
    xt = torch.tensor(to_np(x))
    for name in ("real", "positive", "nonnegative", "unit_interval", "boolean", "nonnegative_integer",
                 "positive_integer"):
        np.testing.assert_array_equal(to_np(getattr(C, name).check(x)),
                                      getattr(TD.constraints, name).check(xt).numpy(), err_msg=name)
        assert repr(getattr(C, name)) == repr(getattr(TD.constraints, name))
    m = _randn(2, 3, 3)
    for name in ("lower_triangular", "lower_cholesky", "positive_definite", "symmetric", "square"):
        for a in (m, np.tril(np.abs(m)) + 0.1 * np.eye(3), _spd(2, 3, 3)):
            np.testing.assert_array_equal(to_np(getattr(C, name).check(nerve.tensor(a))),
                                          getattr(TD.constraints, name).check(torch.tensor(a)).numpy(), err_msg=name)
    s = RNG.uniform(0, 1, (4, 3))
    s[:2] /= s[:2].sum(-1, keepdims=True)
    np.testing.assert_array_equal(to_np(C.simplex.check(nerve.tensor(s))), TD.constraints.simplex.check(torch.tensor(s)))
    u = ND.Uniform(nerve.tensor([0.0, 1.0]), nerve.tensor([2.0, 3.0]))
    np.testing.assert_array_equal(to_np(u.support.check(nerve.tensor([1.0, 0.5]))), [True, False])
    assert ND.constraints.is_dependent(ND.Uniform.support) and ND.Categorical.support.is_discrete
    assert ND.Normal.arg_constraints["scale"] is C.positive and ND.Independent(u, 1).support.event_dim == 1


# ---------------------------------------------------------------- training with distributions


def test_reinforce_on_a_contextual_bandit_learns_the_better_arm():
    """pytorch/examples' reinforce.py in miniature: a policy network picks one of two arms from a
    one-hot context with Categorical(probs).sample(); the loss is -log_prob(action) * (reward - baseline)."""
    from nerve import nn, optim

    nerve.manual_seed(0)
    policy = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2), nn.Softmax(dim=-1))
    opt = optim.Adam(policy.parameters(), lr=0.02)
    best = nerve.tensor([1, 0])  # context 0 pays for arm 1, context 1 for arm 0
    contexts = nerve.eye(2)
    for _ in range(150):
        ctx = nerve.randint(0, 2, (32,))
        m = ND.Categorical(policy(contexts[ctx]))
        action = m.sample()
        reward = (action == best[ctx]).float() + 0.1 * nerve.randn(32)  # noisy reward
        loss = (-m.log_prob(action) * (reward - reward.mean())).mean() - 0.01 * m.entropy().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with nerve.no_grad():
        p = to_np(policy(contexts))
    assert p[0, 1] > 0.95 and p[1, 0] > 0.95, p


def test_policy_gradient_loss_and_gradients_match_torch_from_the_same_weights_and_actions():
    from nerve import nn

    net_n = nn.Linear(4, 3).double()
    net_t = torch.nn.Linear(4, 3).double()
    net_t.load_state_dict({k: torch.tensor(to_np(v)) for k, v in net_n.state_dict().items()})
    x, ret = _randn(8, 4), _randn(8)
    mn = ND.Categorical(logits=net_n(nerve.tensor(x)))
    action = mn.sample()
    mt = TD.Categorical(logits=net_t(torch.tensor(x)))
    at = torch.tensor(to_np(action))
    ln = -(mn.log_prob(action) * nerve.tensor(ret)).sum() - 0.1 * mn.entropy().sum()
    lt = -(mt.log_prob(at) * torch.tensor(ret)).sum() - 0.1 * mt.entropy().sum()
    _close(ln, lt)
    ln.backward()
    lt.backward()
    for (k, pn), (_, pt) in zip(net_n.named_parameters(), net_t.named_parameters()):
        np.testing.assert_allclose(to_np(pn.grad), pt.grad.numpy(), err_msg=k, **TIGHT)


def test_vae_step_matches_torch_given_the_same_weights_and_noise():
    """pytorch/examples' VAE step: encoder -> (mu, logvar), z = q.rsample(), decoder, BCE reconstruction
    plus KL(q || N(0, 1)) with Independent Normals; loss and every gradient as torch's."""
    from nerve import nn

    enc_n, dec_n = nn.Linear(6, 4).double(), nn.Linear(2, 6).double()
    enc_t, dec_t = torch.nn.Linear(6, 4).double(), torch.nn.Linear(2, 6).double()
    for src, dst in ((enc_n, enc_t), (dec_n, dec_t)):
        dst.load_state_dict({k: torch.tensor(to_np(v)) for k, v in src.state_dict().items()})
    x = RNG.uniform(0, 1, (5, 6))

    def step(lib, D, enc, dec, noise=None):
        h = enc(lib.tensor(x))
        mu, logvar = h[:, :2], h[:, 2:]
        std = (0.5 * logvar).exp()
        q = D.Independent(D.Normal(mu, std), 1)
        z = q.rsample() if noise is None else mu + std * lib.tensor(noise)
        recon = dec(z).sigmoid()
        bce = -(lib.tensor(x) * recon.log() + (1 - lib.tensor(x)) * (1 - recon).log()).sum()
        prior = D.Independent(D.Normal(lib.zeros_like(mu), lib.ones_like(std)), 1)
        return bce + D.kl_divergence(q, prior).sum(), q.log_prob(z)

    nerve.manual_seed(11)
    ln, lpn = step(nerve, ND, enc_n, dec_n)
    nerve.manual_seed(11)  # the very noise rsample drew, from a N(0, 1) of the same shape and dtype
    noise = to_np(ND.Normal(nerve.zeros(5, 2, dtype=nerve.float64), nerve.ones(5, 2, dtype=nerve.float64)).sample())
    lt, lpt = step(torch, TD, enc_t, dec_t, noise)
    _close(ln, lt)
    _close(lpn, lpt)
    ln.backward()
    lt.backward()
    for mod_n, mod_t in ((enc_n, enc_t), (dec_n, dec_t)):
        for (k, pn), (_, pt) in zip(mod_n.named_parameters(), mod_t.named_parameters()):
            np.testing.assert_allclose(to_np(pn.grad), pt.grad.numpy(), err_msg=k, **TIGHT)


def test_import_nerve_does_not_load_distributions_and_the_attribute_does():
    code = ("import sys, nerve; assert 'nerve.distributions' not in sys.modules; "
            "d = nerve.distributions.Normal(0.0, 1.0); print(type(d).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "nerve.distributions.normal", out.stdout + out.stderr
