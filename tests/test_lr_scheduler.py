"""nerve.optim.lr_scheduler against torch.optim.lr_scheduler: the same lr (and momentum) sequences."""

import math
import warnings

import numpy as np
import pytest

import nerve
from nerve import optim
from nerve.optim import lr_scheduler as nsched

torch = pytest.importorskip("torch")
tsched = torch.optim.lr_scheduler

STEPS = 40


def _optimizers(kind="SGD", **kw):
    """The same two-group optimizer in nerve and in torch (a 0.1 group and a 0.02 group)."""
    def groups(lib):
        a = lib.zeros(2, requires_grad=True)
        b = lib.zeros(3, requires_grad=True)
        return [{"params": [a]}, {"params": [b], "lr": 0.02}]

    return (getattr(optim, kind)(groups(nerve), lr=0.1, **kw),
            getattr(torch.optim, kind)(groups(torch), lr=0.1, **kw))


def _sequence(opt, sched, steps=STEPS, metrics=None, extra=()):
    """lrs (and extra group entries) after construction and after each of ``steps`` steps."""
    def record():
        row = [g["lr"] for g in opt.param_groups] + list(sched.get_last_lr())
        for key in extra:
            row += [g[key][0] if key == "betas" else g[key] for g in opt.param_groups]
        return row

    out = [record()]
    for i in range(steps):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[i])
        out.append(record())
    return np.array(out, dtype=np.float64)


def _compare(make, steps=STEPS, kind="SGD", opt_kw=None, metrics=None, extra=()):
    opt_kw = opt_kw or {}
    nopt, topt = _optimizers(kind, **opt_kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _sequence(nopt, make(nsched, nopt), steps, metrics, extra)
        want = _sequence(topt, make(tsched, topt), steps, metrics, extra)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    return got


def test_step_lr():
    got = _compare(lambda s, o: s.StepLR(o, step_size=5, gamma=0.5))
    assert got[4, 0] == 0.1 and got[5, 0] == 0.05 and got[10, 1] == 0.005


def test_multi_step_lr_with_a_repeated_milestone():
    got = _compare(lambda s, o: s.MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3))
    assert math.isclose(got[8, 0], 0.1 * 0.3**3)


def test_exponential_lr():
    got = _compare(lambda s, o: s.ExponentialLR(o, gamma=0.9))
    assert math.isclose(got[STEPS, 0], 0.1 * 0.9**STEPS)


@pytest.mark.parametrize("T_max, eta_min", [(10, 0.001), (7, 0.0), (40, 0.05)])
def test_cosine_annealing_lr_including_past_t_max(T_max, eta_min):
    got = _compare(lambda s, o: s.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min))
    assert math.isclose(got[T_max, 0], eta_min, abs_tol=1e-12)


def test_lambda_lr_one_and_per_group():
    _compare(lambda s, o: s.LambdaLR(o, lambda epoch: 0.95**epoch))
    _compare(lambda s, o: s.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: e % 3 + 1]))


METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.89999, 0.92, 0.8, 0.8, 0.8, 0.8, 0.8, 0.81, 0.7, 0.7,
           0.71, 0.72, 0.69, 0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.45, 0.4, 0.3, 0.3, 0.3,
           0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]


@pytest.mark.parametrize("kw", [
    dict(),
    dict(patience=2),
    dict(patience=1, factor=0.5, cooldown=2, threshold=0.05),
    dict(patience=0, threshold_mode="abs", threshold=0.01, min_lr=[0.01, 0.005]),
    dict(patience=1, factor=0.5, min_lr=0.004),
])
def test_reduce_lr_on_plateau_min(kw):
    _compare(lambda s, o: s.ReduceLROnPlateau(o, **kw), metrics=METRICS)


@pytest.mark.parametrize("kw", [dict(mode="max", patience=1), dict(mode="max", threshold_mode="abs", threshold=0.02,
                                                                   patience=0, cooldown=1)])
def test_reduce_lr_on_plateau_max(kw):
    _compare(lambda s, o: s.ReduceLROnPlateau(o, **kw), metrics=[-m for m in METRICS])


def test_reduce_lr_on_plateau_takes_tensors_and_validates():
    nopt, _ = _optimizers()
    sched = nsched.ReduceLROnPlateau(nopt, patience=0)
    sched.step(nerve.tensor(1.0))
    sched.step(nerve.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.002])
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        nsched.ReduceLROnPlateau(nopt, factor=1.0)
    with pytest.raises(ValueError, match="mode middle is unknown"):
        nsched.ReduceLROnPlateau(nopt, mode="middle")


@pytest.mark.parametrize("kind, kw", [
    ("SGD", dict(max_lr=1.0, total_steps=STEPS)),
    ("SGD", dict(max_lr=[1.0, 0.3], total_steps=STEPS, anneal_strategy="linear", pct_start=0.25)),
    ("SGD", dict(max_lr=0.5, epochs=4, steps_per_epoch=10, three_phase=True, div_factor=10.0,
                 final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
    ("SGD", dict(max_lr=0.5, total_steps=STEPS, cycle_momentum=False)),
    ("Adam", dict(max_lr=0.01, total_steps=STEPS)),
    ("AdamW", dict(max_lr=[0.01, 0.02], total_steps=STEPS, three_phase=True, anneal_strategy="linear")),
    ("RMSprop", dict(max_lr=0.01, total_steps=STEPS)),
])
def test_one_cycle_lr_and_momentum(kind, kw):
    opt_kw = {"momentum": 0.9} if kind in ("SGD", "RMSprop") else {}
    extra = () if not kw.get("cycle_momentum", True) else ("momentum",) if kind in ("SGD", "RMSprop") else ("betas",)
    got = _compare(lambda s, o: s.OneCycleLR(o, **kw), kind=kind, opt_kw=opt_kw, extra=extra)
    max_lr = kw["max_lr"] if isinstance(kw["max_lr"], float) else kw["max_lr"][0]
    assert got[:, 0].max() == pytest.approx(max_lr)


def test_one_cycle_lr_errors():
    nopt, _ = _optimizers()
    sched = nsched.OneCycleLR(nopt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        nopt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        sched.step()
    with pytest.raises(ValueError, match="either total_steps OR"):
        nsched.OneCycleLR(nopt, max_lr=0.1)
    nopt2 = optim.Adagrad([nerve.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        nsched.OneCycleLR(nopt2, max_lr=0.1, total_steps=10)


@pytest.mark.parametrize("make, metric", [
    (lambda o: nsched.StepLR(o, 3, 0.5), False),
    (lambda o: nsched.MultiStepLR(o, [2, 5, 5, 9]), False),
    (lambda o: nsched.CosineAnnealingLR(o, 6, 0.001), False),
    (lambda o: nsched.LambdaLR(o, lambda e: 0.9**e), False),
    (lambda o: nsched.OneCycleLR(o, 0.5, total_steps=30, three_phase=True), False),
    (lambda o: nsched.ReduceLROnPlateau(o, patience=1, cooldown=1), True),
], ids=["step", "multistep", "cosine", "lambda", "onecycle", "plateau"])
def test_state_dict_round_trip_through_a_file(make, metric, tmp_path):
    """Save scheduler and optimizer after 12 steps, restore into fresh ones: the same lrs follow."""
    def run(opt, sched, steps, start):
        out = []
        for i in range(start, start + steps):
            opt.step()
            sched.step(METRICS[i]) if metric else sched.step()
            out.append([g["lr"] for g in opt.param_groups] + [g.get("momentum", 0) for g in opt.param_groups])
        return out

    straight_opt, _ = _optimizers(momentum=0.9)
    straight = run(straight_opt, make(straight_opt), 25, 0)

    opt, _ = _optimizers(momentum=0.9)
    sched = make(opt)
    first = run(opt, sched, 12, 0)
    nerve.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "s.nrv")
    ckpt = nerve.load(tmp_path / "s.nrv")
    opt2, _ = _optimizers(momentum=0.9)
    sched2 = make(opt2)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    assert first + run(opt2, sched2, 13, 12) == straight


def test_step_with_an_epoch_uses_the_closed_form():
    nopt, topt = _optimizers()
    ns, ts = nsched.StepLR(nopt, 4, 0.5), tsched.StepLR(topt, 4, 0.5)
    nopt.step()
    topt.step()
    with pytest.warns(UserWarning, match="deprecated"):
        ns.step(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts.step(9)
    assert ns.get_last_lr() == ts.get_last_lr() == pytest.approx([0.025, 0.005])


def test_resuming_needs_initial_lr():
    nopt, _ = _optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        nsched.StepLR(nopt, 3, last_epoch=5)
    nsched.StepLR(nopt, 3)
    assert [g["initial_lr"] for g in nopt.param_groups] == [0.1, 0.02]
    sched = nsched.StepLR(nopt, 3, last_epoch=5)  # resumes: epoch 6 is a multiple of 3
    assert sched.last_epoch == 6 and sched.get_last_lr() == pytest.approx([0.01, 0.002])
    with pytest.raises(TypeError, match="is not an Optimizer"):
        nsched.StepLR(object(), 3)


# ---------------------------------------------------------------- the other torch schedulers


def test_multiplicative_lr():
    _compare(lambda s, o: s.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 1.0))


@pytest.mark.parametrize("kw", [dict(), dict(factor=0.5, total_iters=8)])
def test_constant_lr(kw):
    _compare(lambda s, o: s.ConstantLR(o, **kw))


@pytest.mark.parametrize("kw", [dict(), dict(start_factor=0.1, end_factor=0.5, total_iters=12)])
def test_linear_lr(kw):
    _compare(lambda s, o: s.LinearLR(o, **kw))


@pytest.mark.parametrize("kw", [dict(), dict(total_iters=30, power=2.0)])
def test_polynomial_lr(kw):
    _compare(lambda s, o: s.PolynomialLR(o, **kw))


@pytest.mark.parametrize("kw", [dict(T_0=7), dict(T_0=3, T_mult=2, eta_min=0.001)])
def test_cosine_annealing_warm_restarts(kw):
    _compare(lambda s, o: s.CosineAnnealingWarmRestarts(o, **kw))


def test_cosine_annealing_warm_restarts_with_fractional_epochs():
    nopt, topt = _optimizers()
    ns = nsched.CosineAnnealingWarmRestarts(nopt, T_0=3, T_mult=2)
    ts = tsched.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=2)
    for epoch in np.arange(0, 12, 0.25):
        ns.step(float(epoch))
        ts.step(float(epoch))
        assert ns.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)


def test_sequential_lr_warmup_then_cosine():
    def make(s, o):
        return s.SequentialLR(o, [s.LinearLR(o, start_factor=0.1, total_iters=5), s.CosineAnnealingLR(o, T_max=20),
                                  s.ExponentialLR(o, gamma=0.9)], milestones=[5, 25])
    _compare(make)


def test_chained_scheduler():
    def make(s, o):
        return s.ChainedScheduler([s.ConstantLR(o, factor=0.5, total_iters=4), s.ExponentialLR(o, gamma=0.9)])
    _compare(make)


def test_composite_state_dict_round_trip(tmp_path):
    def make(o):
        return nsched.SequentialLR(o, [nsched.LinearLR(o, total_iters=4), nsched.StepLR(o, 3)], milestones=[4])

    opt, _ = _optimizers()
    sched = make(opt)
    for _ in range(6):
        opt.step()
        sched.step()
    nerve.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "seq.nrv")
    want = []
    for _ in range(5):
        opt.step()
        sched.step()
        want.append(sched.get_last_lr())
    opt2, _ = _optimizers()
    sched2 = make(opt2)
    ckpt = nerve.load(tmp_path / "seq.nrv")
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    got = []
    for _ in range(5):
        opt2.step()
        sched2.step()
        got.append(sched2.get_last_lr())
    assert got == want


def test_warns_when_stepped_before_the_optimizer():
    nopt, _ = _optimizers()
    sched = nsched.StepLR(nopt, 3)
    with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step\(\)"):
        sched.step()
    nopt, _ = _optimizers()
    sched = nsched.StepLR(nopt, 3)
    nopt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


@pytest.mark.parametrize("kind, kw", [
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("SGD", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2")),
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.97)),
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, scale_fn=lambda x: 1 / x, scale_mode="cycle")),
    ("Adam", dict(base_lr=0.001, max_lr=0.01, step_size_up=6, base_momentum=0.85, max_momentum=0.95)),
    ("SGD", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, cycle_momentum=False)),
])
def test_cyclic_lr(kind, kw):
    opt_kw = {"momentum": 0.9} if kind == "SGD" else {}
    extra = () if not kw.get("cycle_momentum", True) else ("momentum",) if kind == "SGD" else ("betas",)
    _compare(lambda s, o: s.CyclicLR(o, **kw), kind=kind, opt_kw=opt_kw, extra=extra)


def test_cyclic_lr_state_dict_round_trip(tmp_path):
    opt, _ = _optimizers(momentum=0.9)
    sched = nsched.CyclicLR(opt, 0.01, 0.1, step_size_up=3, mode="triangular2")
    for _ in range(7):
        opt.step()
        sched.step()
    nerve.save({"s": sched.state_dict(), "o": opt.state_dict()}, tmp_path / "c.nrv")
    opt2, _ = _optimizers(momentum=0.9)
    sched2 = nsched.CyclicLR(opt2, 0.01, 0.1, step_size_up=3, mode="triangular2")
    ckpt = nerve.load(tmp_path / "c.nrv")
    opt2.load_state_dict(ckpt["o"])
    sched2.load_state_dict(ckpt["s"])
    for _ in range(10):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
        assert opt.param_groups[0]["momentum"] == opt2.param_groups[0]["momentum"]


@pytest.mark.parametrize("make", [
    lambda s, o: s.StepLR(o, 3, 0.5, last_epoch=7),
    lambda s, o: s.ExponentialLR(o, 0.9, last_epoch=7),
    lambda s, o: s.CosineAnnealingLR(o, 10, 0.001, last_epoch=7),
    lambda s, o: s.LinearLR(o, 0.2, total_iters=10, last_epoch=7),
    lambda s, o: s.PolynomialLR(o, total_iters=20, power=2.0, last_epoch=7),
    lambda s, o: s.LambdaLR(o, lambda e: 1 / (e + 1), last_epoch=7),
], ids=["step", "exponential", "cosine", "linear", "polynomial", "lambda"])
def test_resuming_with_last_epoch_matches_torch(make):
    nopt, topt = _optimizers()
    for opt in (nopt, topt):
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _sequence(nopt, make(nsched, nopt), 15)
        want = _sequence(topt, make(tsched, topt), 15)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
