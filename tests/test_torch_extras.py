"""Smaller PyTorch modules and switches scripts use: testing.assert_close, memory formats."""

import re

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("case", [
    ("T([1., 2., 3.])", "T([1., 2.5, 3.])", {}),
    ("T([1., 2.])", "T([1., 2., 3.])", {}),
    ("T([1., 2.])", "T([1., 2.], dtype=L.float64)", {}),
    ("1.0", "1.5", {}),
    ("[T(1.), T([2.])]", "[T(1.), T([3.])]", {}),
    ("{'a': T(1.)}", "{'a': T(2.)}", {}),
    ("T([float('nan')])", "T([float('nan')])", {}),
    ("T([1, 2])", "T([1, 3])", {}),
    ("T([1., 2.])", "T([1., 3.])", {"msg": "custom"}),
    ("T([True])", "T([False])", {}),
    ("T([[1., 2.], [3., 4.]])", "T([[1., 2.], [3., 4.01]])", {"rtol": 1e-3, "atol": 0.0}),
])
def test_assert_close_fails_as_torch_with_its_message(case):
    actual, expected, kw = case

    def message(lib):
        env = {"T": lib.tensor, "L": lib}
        with pytest.raises(AssertionError) as err:
            lib.testing.assert_close(eval(actual, env), eval(expected, env), **kw)
        text = str(err.value).replace("torch.", "nerve.")
        # torch computes a float32 ratio in float32 (0.20000000298...), nerve in float64 (0.2)
        return re.sub(r"\d+\.\d+(e-?\d+)?", lambda m: f"{float(m.group()):.5g}", text)

    assert message(nerve) == message(torch)


@pytest.mark.parametrize("case", [
    ("T([1.])", "T([1. + 1e-7])", {}),
    ("T([float('nan')])", "T([float('nan')])", {"equal_nan": True}),
    ("T([1., 2.])", "T([1., 2.], dtype=L.float64)", {"check_dtype": False}),
    ("T([1.])", "T([1.1])", {"rtol": 0.2, "atol": 0.0}),
    ("[1, (2.0, T([3]))]", "[1, (2.0, T([3]))]", {}),
    ("T([float('inf')])", "T([float('inf')])", {}),
])
def test_assert_close_passes_where_torch_does(case):
    actual, expected, kw = case
    for lib in (torch, nerve):
        env = {"T": lib.tensor, "L": lib}
        lib.testing.assert_close(eval(actual, env), eval(expected, env), **kw)


def test_assert_close_argument_errors():
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol' must be either specified or omitted, but got no atol"):
        nerve.testing.assert_close(nerve.ones(1), nerve.ones(1), rtol=0.1)
    with pytest.raises(TypeError, match="No comparison pair was able to handle inputs"):
        nerve.testing.assert_close(nerve.ones(1), 1.0)


def test_channels_last_layout_keeps_values_and_gradients():
    data = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    x = nerve.tensor(data, requires_grad=True)
    y = x.contiguous(memory_format=nerve.channels_last)
    t = torch.tensor(data).contiguous(memory_format=torch.channels_last)
    assert y.is_contiguous(memory_format=nerve.channels_last) and not y.is_contiguous()
    assert t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
    assert [s // 4 for s in y._data.strides] == list(t.stride())  # NHWC in memory, indexed NCHW
    np.testing.assert_array_equal(y.detach().numpy(), data)
    (y * nerve.arange(5.0)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(np.arange(5.0), data.shape))
    z = nerve.tensor(data).to(memory_format=nerve.channels_last)
    assert z.is_contiguous(memory_format=nerve.channels_last) and z.contiguous().is_contiguous()
    conv = nerve.nn.Conv2d(3, 2, 3)
    np.testing.assert_allclose(conv(z).detach().numpy(), conv(nerve.tensor(data)).detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last format"):
        nerve.ones(2, 3).contiguous(memory_format=nerve.channels_last)
    assert repr(nerve.channels_last) == "nerve.channels_last" and nerve.ones(2, 2).is_contiguous(nerve.contiguous_format)


def _mlp(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(6, 16), lib.nn.Tanh(), lib.nn.Linear(16, 16), lib.nn.ReLU(),
                             lib.nn.Linear(16, 3))


def _copy_weights(src, dst):
    dst.load_state_dict({k: nerve.tensor(v.detach().numpy()) for k, v in src.state_dict().items()})


@pytest.mark.parametrize("how", ["checkpoint", "sequential"])
def test_checkpoint_gives_torchs_values_and_gradients_without_keeping_the_inner_graph(how):
    tm, nm = _mlp(torch), _mlp(nerve)
    _copy_weights(tm, nm)
    data = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    xt, xn = torch.tensor(data, requires_grad=True), nerve.tensor(data, requires_grad=True)
    if how == "checkpoint":
        yt = torch.utils.checkpoint.checkpoint(tm, xt, use_reentrant=False)
        yn = nerve.utils.checkpoint.checkpoint(nm, xn, use_reentrant=False)
        assert yn.grad_fn.name == "checkpoint" and len(yn.grad_fn.parents) == 1  # nothing inside is kept
    else:
        yt = torch.utils.checkpoint.checkpoint_sequential(tm, 2, xt, use_reentrant=False)
        yn = nerve.utils.checkpoint.checkpoint_sequential(nm, 2, xn, use_reentrant=False)
    np.testing.assert_allclose(yn.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    (yt ** 2).sum().backward()
    (yn ** 2).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for (name, pt), pn in zip(tm.named_parameters(), nm.parameters()):
        np.testing.assert_allclose(pn.grad.numpy(), pt.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_checkpoint_replays_dropout_and_reaches_parameters_when_the_input_needs_no_grad():
    model = nerve.nn.Sequential(nerve.nn.Linear(8, 32), nerve.nn.Dropout(0.5), nerve.nn.Linear(32, 1))
    x = nerve.randn(16, 8)
    nerve.manual_seed(3)
    model(x).sum().backward()
    plain = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    nerve.manual_seed(3)
    out = nerve.utils.checkpoint.checkpoint(model, x)
    out.sum().backward()
    for want, p in zip(plain, model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-6)
    with nerve.no_grad():
        assert nerve.utils.checkpoint.checkpoint(model, x).grad_fn is None


def test_detect_anomaly_names_the_op_that_made_a_nan_and_where_it_ran():
    x = nerve.tensor([0.0, 1.0], requires_grad=True)
    with nerve.autograd.detect_anomaly():
        y = x.sqrt()  # d sqrt(x) at 0 is inf; times the 0 gradient of mul below: NaN
        loss = (y * nerve.tensor([0.0, 1.0])).sum()
        with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward0' returned nan values in its 0th output"
                                               r"(.|\n)*y = x.sqrt\(\)"):
            loss.backward()
    assert not nerve.autograd.is_anomaly_enabled()
    nerve.autograd.set_detect_anomaly(True)
    try:
        assert nerve.autograd.is_anomaly_enabled()
    finally:
        nerve.autograd.set_detect_anomaly(False)
    # off: the same backward runs through and leaves the NaN in the gradient, as PyTorch
    x.grad = None
    (x.sqrt() * nerve.tensor([0.0, 1.0])).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


@pytest.mark.parametrize("fn,args", [
    ("expit", ([-2.0, 0.5, 3.0],)), ("logit", ([0.2, 0.5, 0.9],)), ("erf", ([-1.0, 0.3],)),
    ("erfc", ([-1.0, 2.5],)), ("erfinv", ([-0.5, 0.9],)), ("gammaln", ([0.5, 3.0, 7.5],)),
    ("digamma", ([0.5, 3.0],)), ("psi", ([1.5],)), ("xlogy", ([0.0, 2.0], [0.5, 3.0])),
    ("xlog1py", ([0.0, 2.0], [0.5, 3.0])), ("entr", ([0.0, 0.5, 2.0],)), ("ndtr", ([-3.0, 0.0, 1.5],)),
    ("log_ndtr", ([-10.0, 0.0, 2.0],)), ("ndtri", ([0.1, 0.5, 0.975],)), ("expm1", ([1e-5, 1.0],)),
    ("exp2", ([3.0],)), ("sinc", ([0.0, 0.5],)), ("log1p", ([1e-6, 2.0],)),
    ("multigammaln", ([2.5, 3.0], 2)), ("polygamma", (1, [0.5, 2.0])),
])
def test_special_functions_match_torch_values_and_gradients(fn, args):
    def run(lib):
        ts = [lib.tensor(a, dtype=lib.float64, requires_grad=True) if isinstance(a, list) else a for a in args]
        out = getattr(lib.special, fn)(*ts)
        out.sum().backward()
        return out.detach().numpy(), [t.grad.numpy() for t in ts if not isinstance(t, int)]

    (vn, gn), (vt, gt) = run(nerve), run(torch)
    np.testing.assert_allclose(vn, vt, rtol=1e-7, atol=1e-12)
    for a, b in zip(gn, gt):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)


def test_special_softmaxes_and_jit_pass_through():
    x = np.random.default_rng(0).standard_normal((3, 4))
    for fn in ("softmax", "log_softmax"):
        np.testing.assert_allclose(getattr(nerve.special, fn)(nerve.tensor(x), 1).numpy(),
                                   getattr(torch.special, fn)(torch.tensor(x), 1).numpy(), rtol=1e-12)
    model = nerve.nn.Linear(2, 2)
    assert nerve.jit.script(model) is model and nerve.jit.trace(model, nerve.ones(1, 2)) is model
    with pytest.raises(NotImplementedError, match="nerve.save\\(model.state_dict\\(\\), path\\)"):
        nerve.jit.save(model, "m.pt")
