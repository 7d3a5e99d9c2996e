"""nerve.optim against torch.optim: same weights, same gradients, same parameters after 30 steps."""

import numpy as np
import pytest

import nerve
from nerve import optim

torch = pytest.importorskip("torch")

STEPS = 30
SHAPES = [(4, 3), (3,), (2, 2, 2)]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9))),  # 1 - beta1 > 0.5: lerp rounds the other way
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),  # AdamW's update
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.7, weight_decay=0.05, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2, eps=1e-8)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(lr=1.0, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01)),  # the first 5 steps are plain momentum, the rest rectified Adam
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1), maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.1, maximize=True)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=2.0, weight_decay=0.1, maximize=True)),
]


def _ids(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


def _data(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return weights, grads


def _nerve_params(weights):
    return [nerve.tensor(w, requires_grad=True) for w in weights]


def _torch_params(weights):
    return [torch.tensor(w, requires_grad=True) for w in weights]


def _run_nerve(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = nerve.tensor(g)
        opt.step()


def _run_torch(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g)
        opt.step()


def _assert_same(nerve_params, torch_params):
    for a, b in zip(nerve_params, torch_params):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)


def _to_nerve(obj):
    """A torch optimizer state dict with its tensors turned into nerve tensors."""
    if isinstance(obj, torch.Tensor):
        return nerve.tensor(obj.detach().numpy())
    if isinstance(obj, dict):
        return {k: _to_nerve(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_nerve(v) for v in obj]
    return obj


def _to_torch(obj):
    if isinstance(obj, nerve.Tensor):
        return torch.tensor(obj.detach().numpy())
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_torch(v) for v in obj]
    return obj


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_matches_torch(case):
    name, kw = case
    weights, grads = _data()
    np_, tp = _nerve_params(weights), _torch_params(weights)
    _run_nerve(getattr(optim, name)(np_, **kw), np_, grads)
    _run_torch(getattr(torch.optim, name)(tp, **kw), tp, grads)
    _assert_same(np_, tp)
    for p, w in zip(np_, weights):
        assert not np.allclose(p.detach().numpy(), w)  # it moved


SPLIT_CASES = [c for c in CASES if c[0] in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
                                             "NAdam", "RAdam")]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=_ids)
def test_updates_split_over_threads_match_torch(case, monkeypatch):
    # big parameters are updated in blocks on nerve's worker threads; make every one "big"
    from nerve import _threads

    monkeypatch.setattr(_threads, "ELEMENTWISE_SPLIT", 2)
    monkeypatch.setattr(_threads, "WORKERS", 3)
    calls = []
    real = _threads.run_chunks
    monkeypatch.setattr(_threads, "run_chunks", lambda n, fn, chunks: calls.append(len(chunks)) or real(n, fn, chunks))
    name, kw = case
    weights, grads = _data(seed=5)
    np_, tp = _nerve_params(weights), _torch_params(weights)
    _run_nerve(getattr(optim, name)(np_, **kw), np_, grads)
    _run_torch(getattr(torch.optim, name)(tp, **kw), tp, grads)
    _assert_same(np_, tp)
    assert calls and max(calls) == 3  # the (4, 3) weight went in three blocks


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_state_dict_round_trip_through_a_file(case, tmp_path):
    """Stop after 10 steps, save, load into a fresh optimizer, go on: same as never stopping."""
    name, kw = case
    weights, grads = _data(1)
    straight = _nerve_params(weights)
    _run_nerve(getattr(optim, name)(straight, **kw), straight, grads)

    first = _nerve_params(weights)
    opt = getattr(optim, name)(first, **kw)
    _run_nerve(opt, first, grads[:10])
    nerve.save({"optimizer": opt.state_dict(), "params": [p.detach() for p in first]}, tmp_path / "ckpt.nrv")
    del opt
    ckpt = nerve.load(tmp_path / "ckpt.nrv")
    resumed = [nerve.tensor(p.detach().numpy(), requires_grad=True) for p in ckpt["params"]]
    opt = getattr(optim, name)(resumed, **{k: v for k, v in kw.items() if k in ("nesterov", "momentum")})
    opt.load_state_dict(ckpt["optimizer"])
    assert opt.param_groups[0]["lr"] == kw.get("lr", opt.defaults["lr"])
    _run_nerve(opt, resumed, grads[10:])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_loads_torch_state_dict_and_torch_loads_ours(case):
    name, kw = case
    weights, grads = _data(2)
    tp = _torch_params(weights)
    topt = getattr(torch.optim, name)(tp, **kw)
    _run_torch(topt, tp, grads[:10])

    np_ = _nerve_params([p.detach().numpy().copy() for p in tp])
    opt = getattr(optim, name)(np_, **kw)
    opt.load_state_dict(_to_nerve(topt.state_dict()))
    assert set(opt.state.get(np_[0], {})) == set(topt.state.get(tp[0], {}))  # same state names as PyTorch

    # and PyTorch can load nerve's state dict (converted back to torch tensors)
    tp2 = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in np_]
    topt2 = getattr(torch.optim, name)(tp2, **kw)
    topt2.load_state_dict(_to_torch(opt.state_dict()))

    _run_torch(topt, tp, grads[10:])
    _run_nerve(opt, np_, grads[10:])
    _run_torch(topt2, tp2, grads[10:])
    _assert_same(np_, tp)
    _assert_same(np_, tp2)


def test_state_dict_layout_is_pytorchs():
    weights, grads = _data()
    a, b, c = _nerve_params(weights)
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.1}], lr=0.01, amsgrad=True)
    _run_nerve(opt, [a, b, c], grads[:3])
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["lr"] == 0.01
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"]) == [0, 1, 2]
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert sd["state"][2]["step"] == 3
    assert isinstance(sd["state"][1]["exp_avg"], nerve.Tensor)
    assert sd["state"][1]["exp_avg"].shape == b.shape


def test_param_groups_with_their_own_options_match_torch():
    weights, grads = _data(3)
    np_, tp = _nerve_params(weights), _torch_params(weights)

    def groups(ps):
        return [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.5, "momentum": 0.0},
                {"params": [ps[2]], "lr": 0.01, "nesterov": True}]

    opt = optim.SGD(groups(np_), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(groups(tp), lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5, 0.01]
    assert opt.param_groups[2]["momentum"] == 0.9
    _run_nerve(opt, np_, grads[:15])
    _run_torch(topt, tp, grads[:15])
    for o in (opt, topt):  # what a user does by hand: change a group's lr between steps
        o.param_groups[0]["lr"] = 0.02
        o.param_groups[1]["lr"] *= 0.1
    _run_nerve(opt, np_, grads[15:])
    _run_torch(topt, tp, grads[15:])
    _assert_same(np_, tp)


def test_add_param_group_matches_torch():
    weights, grads = _data(4)
    np_, tp = _nerve_params(weights), _torch_params(weights)
    opt, topt = optim.Adam(np_[:2], lr=0.01), torch.optim.Adam(tp[:2], lr=0.01)
    _run_nerve(opt, np_, grads[:5])  # the third parameter has no optimizer yet: unchanged
    _run_torch(topt, tp, grads[:5])
    np.testing.assert_array_equal(np_[2].detach().numpy(), weights[2])
    opt.add_param_group({"params": np_[2], "lr": 0.1, "betas": (0.5, 0.9)})
    topt.add_param_group({"params": tp[2], "lr": 0.1, "betas": (0.5, 0.9)})
    assert opt.param_groups[1]["eps"] == 1e-8
    _run_nerve(opt, np_, grads[5:])
    _run_torch(topt, tp, grads[5:])
    _assert_same(np_, tp)


def test_named_parameters_are_accepted():
    weights, grads = _data()
    ps = _nerve_params(weights)
    opt = optim.SGD([("a", ps[0]), ("b", ps[1]), ("c", ps[2])], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["a", "b", "c"]
    assert opt.param_groups[0]["params"][1] is ps[1]
    _run_nerve(opt, ps, grads[:1])
    np.testing.assert_allclose(ps[0].detach().numpy(), weights[0] - 0.1 * grads[0][0])


def test_updates_in_place_in_the_parameters_dtype_and_leaves_grads_alone():
    rng = np.random.default_rng(5)
    for name, kw in CASES:
        ps = [nerve.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in SHAPES]
        arrays = [p._data for p in ps]
        opt = getattr(optim, name)(ps, **kw)
        for _ in range(3):
            for p in ps:
                p.grad = nerve.tensor(rng.standard_normal(p.shape).astype(np.float32))
            before = [p.grad.numpy().copy() for p in ps]
            opt.step()
            for p, arr, g in zip(ps, arrays, before):
                assert p._data is arr, name  # the same array, updated in place
                assert p.dtype == nerve.float32, name
                np.testing.assert_array_equal(p.grad.numpy(), g)  # the gradient is not written
        for state in opt.state.values():
            for v in state.values():
                if isinstance(v, nerve.Tensor):
                    assert v.dtype == nerve.float32, name


def test_float32_matches_torch_float32():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((5, 5)).astype(np.float32)
    gs = [rng.standard_normal((5, 5)).astype(np.float32) for _ in range(20)]
    p, tp = nerve.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    opt, topt = optim.Adam([p], lr=0.01, weight_decay=0.01), torch.optim.Adam([tp], lr=0.01, weight_decay=0.01)
    for g in gs:
        p.grad, tp.grad = nerve.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_hyperparameters_given_as_numpy_or_tensor_scalars_do_not_promote():
    p = nerve.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=np.float64(0.1), momentum=np.float64(0.5))
    opt.param_groups[0]["lr"] = nerve.tensor(0.5, dtype=nerve.float64)
    p.grad = nerve.ones(3)
    opt.step()
    assert p.dtype == nerve.float32
    np.testing.assert_allclose(p.detach().numpy(), 0.5)


def test_step_skips_parameters_without_grad_and_runs_the_closure():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    b = nerve.tensor([3.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == 5.0
    np.testing.assert_allclose(a.detach().numpy(), [0.0, 0.0])  # a - 0.5 * 2a
    np.testing.assert_array_equal(b.detach().numpy(), [3.0])
    assert b not in opt.state


def test_zero_grad():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    (a * 3).sum().backward()
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert a.grad is None


def test_trains_a_linear_regression():
    rng = np.random.default_rng(7)
    x = nerve.tensor(rng.standard_normal((64, 3)).astype(np.float32))
    true_w = np.array([[1.5], [-2.0], [0.5]], np.float32)
    y = x @ nerve.tensor(true_w)
    w = nerve.zeros(3, 1, requires_grad=True)
    bias = nerve.zeros(1, requires_grad=True)
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)), ("RMSprop", dict(lr=0.01, momentum=0.5)), ("Adagrad", dict(lr=0.5))]:
        w.data = nerve.zeros(3, 1)
        bias.data = nerve.zeros(1)
        opt = getattr(optim, name)([w, bias], **kw)
        for _ in range(200):
            opt.zero_grad()
            loss = ((x @ w + bias - y) ** 2).mean()
            loss.backward()
            opt.step()
        assert float(loss) < 1e-3, name
        np.testing.assert_allclose(w.detach().numpy(), true_w, atol=0.03)


def test_nn_parameters(device):
    nn = pytest.importorskip("nerve.nn")
    rng = np.random.default_rng(8)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    p = nn.Parameter(nerve.tensor(w, device=device))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    g = rng.standard_normal((3, 2)).astype(np.float32)
    for _ in range(2):
        p.grad = nerve.tensor(g, device=device)
        opt.step()
    assert p.device == nerve.device(device)
    assert opt.state[p]["momentum_buffer"].device == nerve.device(device)
    np.testing.assert_allclose(p.detach().cpu().numpy(), w - 0.1 * g - 0.1 * 1.9 * g, rtol=1e-6)


def test_all_optimizers_on_device_match_cpu(device):
    rng = np.random.default_rng(9)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    gs = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(5)]
    for name, kw in CASES:
        out = []
        for dev in ("cpu", device):
            p = nerve.tensor(w, device=dev, requires_grad=True)
            opt = getattr(optim, name)([p], **kw)
            for g in gs:
                p.grad = nerve.tensor(g, device=dev)
                opt.step()
            out.append(p.detach().cpu().numpy())
        np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6, err_msg=name)


def test_errors():
    a = nerve.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.Adam([a], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = nerve.tensor([1.0])
    opt.step()
    b = nerve.zeros(2, 2, requires_grad=True)
    other = optim.SGD([b], lr=0.5, momentum=0.9)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.01
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(1,\) but the parameter has shape \(2, 2\)"):
        other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 0.5 and not other.state  # a failed load changes nothing
    with pytest.raises(ValueError, match="1 parameter groups but the optimizer has 2"):
        opt2 = optim.SGD([{"params": [a]}, {"params": [nerve.tensor([2.0], requires_grad=True)]}], lr=0.1)
        opt2.load_state_dict(opt.state_dict())


def test_repr():
    a = nerve.tensor([1.0], requires_grad=True)
    text = repr(optim.Adam([a], lr=0.01))
    assert text.startswith("Adam (") and "lr: 0.01" in text and "betas: (0.9, 0.999)" in text


def bytes_allocated_by_steps(name, kw, rng, steps=3) -> int:
    """The peak bytes ``steps`` steps of optimizer ``name`` allocate on a (128, 128) parameter after
    its first two (NumPy reports its buffers to tracemalloc); the parameter's own size is 131,072."""
    import tracemalloc

    p = nerve.tensor(rng.standard_normal((128, 128)), requires_grad=True)
    p.grad = nerve.tensor(rng.standard_normal((128, 128)))
    opt = getattr(optim, name)([p], **kw)
    opt.step()
    opt.step()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            opt.step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_steps_allocate_no_arrays():
    """After the first step, a step allocates no array."""
    rng = np.random.default_rng(10)
    for name, kw in CASES:
        extra = bytes_allocated_by_steps(name, kw, rng)
        limit = 128 * 128 * 8 // 2 if name == "Rprop" else 4096  # Rprop: boolean masks only
        assert extra < limit, (name, kw, extra)


def test_work_buffers_stay_the_size_of_the_largest_parameter():
    rng = np.random.default_rng(11)
    ps = [nerve.tensor(rng.standard_normal((n, n + 1)), requires_grad=True) for n in range(1, 40)]
    for p in ps:
        p.grad = nerve.tensor(rng.standard_normal(p.shape))
    opt = optim.Adam(ps, weight_decay=0.1)
    opt.step()
    largest = max(p._data.nbytes for p in ps)
    assert sum(b.nbytes for b in opt._scratch.values()) <= 3 * largest


def test_mismatched_gradients_are_errors():
    p = nerve.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"different size: the tensor has shape \(3,\), the grad \(4,\)"):
        p.grad = nerve.zeros(4)  # refused when assigned, as in PyTorch
    with pytest.raises(TypeError, match="Tensor or None but got grad of type float"):
        p.grad = 0.0
    opt = optim.SGD([p], lr=0.1)
    p.grad = nerve.zeros(3)
    p.grad.data = nerve.zeros(4)  # resized behind the assignment's check: step still refuses it
    with pytest.raises(RuntimeError, match=r"gradient of shape \(4,\).*parameter of shape \(3,\)"):
        opt.step()


def test_step_hooks():
    p = nerve.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", float(p.detach()))))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", float(p.detach()))))
    p.grad = nerve.tensor([1.0])
    opt.step()
    pre.remove()
    opt.step()
    assert calls == [("pre", 1.0), ("post", 0.5), ("post", 0.0)]


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("AdamW", dict(lr=0.01))])
def test_training_an_mlp_matches_torch_step_by_step(name, kw):
    """The same script on both libraries: model, loss, optimizer and scheduler; same losses."""
    nn = pytest.importorskip("nerve.nn")
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((32, 5)), rng.standard_normal((32, 2))

    def train(lib, model):
        opt = getattr(lib.optim, name)(model.parameters(), **kw)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=kw["lr"], total_steps=25)
        xb, yb = lib.tensor(x), lib.tensor(y)
        losses = []
        for _ in range(25):
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        return losses

    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)).double()
    nmodel = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2)).double()
    nmodel.load_state_dict({k: nerve.tensor(v.numpy()) for k, v in tmodel.state_dict().items()})
    want, got = train(torch, tmodel), train(nerve, nmodel)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    assert got[-1] < 0.75 * got[0]


def test_pytorch_implementation_hints_are_accepted():
    a = nerve.tensor([1.0], requires_grad=True)
    optim.AdamW([a], lr=0.1, fused=True, foreach=False, capturable=False)
    optim.SGD([a], lr=0.1, foreach=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'moment'"):
        optim.SGD([a], lr=0.1, moment=0.9)
    with pytest.raises(NotImplementedError, match="not differentiable"):
        optim.Adam([a], differentiable=True)


@pytest.mark.parametrize("kw", [
    dict(lr=1, max_iter=5),
    dict(lr=0.5, max_iter=4, history_size=2),
    dict(lr=1, max_iter=6, line_search_fn="strong_wolfe"),
    dict(lr=1, max_iter=10, history_size=3, line_search_fn="strong_wolfe"),
])
def test_lbfgs_matches_torch(kw):
    rng = np.random.default_rng(13)
    A, b = rng.standard_normal((12, 6)), rng.standard_normal(12)
    w0, v0 = rng.standard_normal(6) * 0.5, rng.standard_normal(1)

    def run(lib, param):
        w, v = param(w0), param(v0)
        A_, b_ = lib.tensor(A), lib.tensor(b)
        opt = lib.optim.LBFGS([w, v], **kw)

        def closure():
            opt.zero_grad()
            r = A_ @ w + v - b_
            loss = (r * r).sum() + 0.1 * (w**4).sum()
            loss.backward()
            return loss

        losses = [opt.step(closure).item() for _ in range(3)]
        return losses, w.detach().numpy(), v.detach().numpy(), opt.state[w]["func_evals"]

    got = run(nerve, lambda a: nerve.tensor(a, requires_grad=True))
    want = run(torch, lambda a: torch.tensor(a, requires_grad=True))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-7, atol=1e-9)
    assert got[3] == want[3]
    assert got[0][-1] < got[0][0]


def test_lbfgs_state_dict_round_trip(tmp_path):
    rng = np.random.default_rng(14)
    A, b = nerve.tensor(rng.standard_normal((8, 4))), nerve.tensor(rng.standard_normal(8))
    w0 = rng.standard_normal(4)

    def make(w):
        opt = optim.LBFGS([w], max_iter=3, history_size=4, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = (((A @ w - b) ** 2).sum() + (w**4).sum())
            loss.backward()
            return loss
        return opt, closure

    w = nerve.tensor(w0, requires_grad=True)
    opt, closure = make(w)
    for _ in range(4):
        opt.step(closure)

    w2 = nerve.tensor(w0, requires_grad=True)
    opt2, closure2 = make(w2)
    for _ in range(2):
        opt2.step(closure2)
    nerve.save({"opt": opt2.state_dict(), "w": w2.detach()}, tmp_path / "lbfgs.nrv")
    ckpt = nerve.load(tmp_path / "lbfgs.nrv")
    w3 = nerve.tensor(ckpt["w"].numpy(), requires_grad=True)
    opt3, closure3 = make(w3)
    opt3.load_state_dict(ckpt["opt"])
    for _ in range(2):
        opt3.step(closure3)
    np.testing.assert_array_equal(w3.detach().numpy(), w.detach().numpy())
