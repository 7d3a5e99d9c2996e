"""autocast, GradScaler, compile and matmul precision: PyTorch's mixed-precision scripts run as written."""

import warnings

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")


def _train(lib, scaler_cls, steps=8, growth_interval=3, inf_at=(4,)):
    """A small regression trained with a GradScaler; gradients of some steps are poisoned with inf."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 1)).astype(np.float32)
    x = lib.tensor(rng.standard_normal((16, 3)).astype(np.float32))
    y = lib.tensor(rng.standard_normal((16, 1)).astype(np.float32))
    w = lib.tensor(w0, requires_grad=True)
    opt = lib.optim.SGD([w], lr=0.05, momentum=0.9)
    scaler = scaler_cls("cpu", init_scale=1024.0, growth_interval=growth_interval)
    scales, stepped = [], []
    for i in range(steps):
        opt.zero_grad()
        # torch's CPU autocast really computes in bfloat16; nerve's runs float32 (compare with that)
        with lib.autocast("cpu", enabled=lib is nerve):
            loss = ((x @ w - y) ** 2).mean()
        scaler.scale(loss).backward()
        if i in inf_at:
            with lib.no_grad():
                w.grad[0, 0] = float("inf")
        scaler.unscale_(opt)
        lib.nn.utils.clip_grad_norm_([w], 10.0)
        stepped.append(scaler.step(opt) is not None or i not in inf_at)
        scaler.update()
        scales.append(scaler.get_scale())
    return w.detach().numpy(), scales, scaler.state_dict()


def test_grad_scaler_matches_torch_scales_skips_and_weights():
    wn, sn, dn = _train(nerve, nerve.amp.GradScaler)
    wt, st, dt = _train(torch, torch.amp.GradScaler)
    np.testing.assert_allclose(wn, wt, rtol=1e-5, atol=1e-6)
    assert sn == st  # halved at the inf step, doubled after each run of 3 clean steps
    assert sn[2] == 2048.0 and sn[4] == 1024.0 and dn == dt


def test_grad_scaler_gradients_are_the_true_ones_after_unscale():
    w = nerve.tensor([1.0, -2.0], requires_grad=True)
    opt = nerve.optim.SGD([w], lr=0.1)
    scaler = nerve.amp.GradScaler("cpu")
    scaled = scaler.scale((w * w).sum())
    assert scaled.item() == pytest.approx(5.0 * 65536)
    scaled.backward()
    assert w.grad.tolist() == [2.0 * 65536, -4.0 * 65536]
    scaler.unscale_(opt)
    assert w.grad.tolist() == [2.0, -4.0]
    with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this optimizer since the last update"):
        scaler.unscale_(opt)


def test_grad_scaler_errors_and_disabled_pass_through():
    opt = nerve.optim.SGD([nerve.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(RuntimeError, match="did not use scaler.scale"):
        nerve.amp.GradScaler("cpu").step(opt)
    with pytest.raises(ValueError, match="growth factor"):
        nerve.amp.GradScaler("cpu", growth_factor=1.0)
    off = nerve.amp.GradScaler("cpu", enabled=False)
    t = nerve.ones(2)
    assert off.scale(t) is t and off.get_scale() == 1.0 and off.state_dict() == {}


@pytest.mark.skipif(nerve.cuda.is_available(), reason="checks the no-GPU fallback")
def test_cuda_grad_scaler_without_a_gpu_turns_itself_off_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scaler = nerve.cuda.amp.GradScaler()
    assert not scaler.is_enabled()
    assert any("CUDA is not available" in str(w.message) for w in caught)


def test_autocast_context_and_decorator_leave_results_in_float32():
    a = nerve.ones(2, 2)
    with nerve.autocast("cpu", dtype=nerve.float16) as ac:
        assert nerve.is_autocast_enabled("cpu") and ac.enabled
        out = a @ a
    assert not nerve.is_autocast_enabled("cpu")
    assert out.dtype is nerve.float32

    @nerve.cuda.amp.autocast()
    def f(x):
        return nerve.is_autocast_enabled("cuda"), x * 2

    on, y = f(a)
    assert on and not nerve.is_autocast_enabled("cuda") and y.dtype is nerve.float32
    with nerve.autocast("cpu", enabled=False):
        assert not nerve.is_autocast_enabled("cpu")
    with pytest.raises(RuntimeError, match="device_type 'cpu' or 'cuda'"):
        nerve.autocast("cpux")


def test_compile_returns_the_model_itself_and_works_as_a_decorator():
    model = nerve.nn.Linear(3, 2)
    assert nerve.compile(model) is model and nerve.compile(model, mode="max-autotune") is model

    @nerve.compile
    def f(x):
        return x + 1

    @nerve.compile(fullgraph=True)
    def g(x):
        return x * 3

    assert f(1) == 2 and g(2) == 6


def test_float32_matmul_precision_is_checked_and_remembered():
    assert nerve.get_float32_matmul_precision() == "highest"
    nerve.set_float32_matmul_precision("high")
    try:
        assert nerve.get_float32_matmul_precision() == "high"
        with pytest.raises(ValueError, match="not one of 'highest', 'high', or 'medium'"):
            nerve.set_float32_matmul_precision("fast")
    finally:
        nerve.set_float32_matmul_precision("highest")
