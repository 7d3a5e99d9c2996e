"""The lazy layers (LazyConv*, LazyConvTranspose*, LazyBatchNorm*, LazyInstanceNorm*, with
LazyLinear in a model) and LazyModuleMixin, against torch: reprs and state-dict keys before and
after the first call, the class each becomes, their initialisation, forward and gradients from
copied weights, state-dict loading, dtype and device before the first call, optimizers, errors."""

import re
import warnings

import numpy as np
import pytest
from _torch_compare import TOL, to_np, torch_before

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.nn.modules.lazy import LazyModuleMixin

torch = pytest.importorskip("torch")


def same_repr(torch, ours, theirs) -> bool:
    """``repr(ours) == repr(theirs)``, as torch 2.13 prints modules: older torch (the GPU machine's)
    leaves the norm layers' ``bias=`` argument out of their repr, and only theirs."""
    a = repr(ours)
    if torch_before(torch, 2, 13):
        a = "\n".join(re.sub(r", bias=(True|False)", "", line) if "Norm" in line else line for line in a.split("\n"))
    return a == repr(theirs)


def _rng(seed=0):
    return np.random.default_rng(seed)


# (class, args, kwargs, input shape); options spread over the classes
CASES = [
    ("LazyConv1d", (4, 3), {}, (2, 3, 9)),
    ("LazyConv2d", (4, 3), dict(padding=1, groups=2, padding_mode="reflect"), (2, 6, 7, 7)),
    ("LazyConv3d", (2, 2), dict(stride=2, bias=False), (1, 3, 5, 5, 5)),
    ("LazyConvTranspose1d", (4, 3), dict(stride=2, dilation=2), (2, 3, 6)),
    ("LazyConvTranspose2d", (4, 3), dict(stride=2, output_padding=1, groups=2), (2, 4, 4, 4)),
    ("LazyConvTranspose3d", (2, 2), dict(bias=False), (1, 3, 3, 3, 3)),
    ("LazyBatchNorm1d", (), {}, (6, 3)),
    ("LazyBatchNorm2d", (), dict(affine=False, momentum=None), (4, 3, 5, 5)),
    # the norms' bias= came with torch 2.13 (the GPU machine may have an older one)
    ("LazyBatchNorm3d", (), dict(track_running_stats=False, **({} if torch_before(torch, 2, 13) else {"bias": False})),
     (2, 3, 3, 3, 3)),
    ("LazyInstanceNorm1d", (), {}, (2, 3, 7)),
    ("LazyInstanceNorm2d", (), dict(track_running_stats=False), (2, 3, 5, 5)),
    ("LazyInstanceNorm3d", (), dict(affine=False), (2, 3, 3, 3, 3)),
]
IDS = [c[0] + ("-" + ",".join(c[2]) if c[2] else "") for c in CASES]


def _pair(name, args, kwargs):
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def _state_repr(sd):
    return [(k, repr(v) if "Uninitialized" in type(v).__name__ else tuple(v.shape)) for k, v in sd.items()]


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_lazy_layer_becomes_its_plain_class_and_computes_as_torch(device, name, args, kwargs, shape):
    m, tm = _pair(name, args, kwargs)
    # dtype and device are set before the first call, as torch's docs ask
    m.to(device).double()
    tm.double()
    assert same_repr(torch, m, tm) and re.match(rf"{name}\(0, ", repr(m))
    assert _state_repr(m.state_dict()) == _state_repr(tm.state_dict())
    assert m.has_uninitialized_params() == tm.has_uninitialized_params()

    x = _rng().standard_normal(shape)
    y, ty = m(nerve.tensor(x, device=device)), tm(torch.tensor(x))
    plain = name[len("Lazy"):]
    assert type(m) is getattr(nn, plain) and type(tm) is getattr(torch.nn, plain)
    assert same_repr(torch, m, tm) and not repr(m).startswith(f"{plain}(0,")
    assert _state_repr(m.state_dict()) == _state_repr(tm.state_dict())
    assert not hasattr(m, "has_uninitialized_params")  # a plain layer now, as torch's
    assert y.shape == ty.shape
    for n, p in m.named_parameters():
        assert type(p) is nn.Parameter and p.dtype == nerve.float64 and p.device.type == device, n
    for n, b in m.named_buffers():
        assert type(b) is nerve.Tensor and b.device.type == device, n

    # initialised as the plain layer: deterministic for the norms, U(-1/sqrt(fan_in), ...) for convolutions
    tstate = tm.state_dict()
    if "Conv" in name:
        w = to_np(m.weight)
        fan_in = w.shape[1] * np.prod(w.shape[2:])
        bound = 1 / np.sqrt(fan_in)
        assert bound / 2 < np.abs(w).max() <= bound
        if m.bias is not None:
            assert np.abs(to_np(m.bias)).max() <= bound
    else:
        for k, v in m.state_dict().items():  # ones, zeros and the running statistics after one batch
            np.testing.assert_allclose(to_np(v), tstate[k].numpy(), err_msg=k, **TOL["float64"])

    # from torch's weights: outputs, gradients and running statistics agree
    m.load_state_dict(tstate)
    x2 = _rng(1).standard_normal(shape)
    xn = nerve.tensor(x2, device=device, requires_grad=True)
    xt = torch.tensor(x2, requires_grad=True)
    y, ty = m(xn), tm(xt)
    np.testing.assert_allclose(to_np(y), ty.detach().numpy(), **TOL["float64"])
    w = _rng(2).standard_normal(tuple(ty.shape))
    (y * nerve.tensor(w, device=device)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(to_np(xn.grad), xt.grad.numpy(), **TOL["float64"])
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in m.named_parameters()] == list(tparams)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(to_np(p.grad), tparams[n].grad.numpy(), err_msg=n, **TOL["float64"])
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(to_np(m.state_dict()[k]), v.numpy(), err_msg=k, **TOL["float64"])


@pytest.mark.parametrize("name,args,shape", [
    ("LazyConv1d", (4, 3), (3, 8)),
    ("LazyConv2d", (4, 3), (3, 6, 6)),
    ("LazyConv3d", (2, 2), (3, 4, 4, 4)),
    ("LazyConvTranspose1d", (4, 3), (3, 5)),
    ("LazyConvTranspose2d", (4, 3), (3, 4, 4)),
    ("LazyConvTranspose3d", (2, 2), (3, 3, 3, 3)),
])
def test_lazy_convolutions_read_in_channels_off_an_unbatched_input(device, name, args, shape):
    m, tm = _pair(name, args, {})
    m.to(device).double()
    tm.double()
    x = _rng().standard_normal(shape)
    m(nerve.tensor(x, device=device))
    tm(torch.tensor(x))
    assert m.in_channels == tm.in_channels == 3 and same_repr(torch, m, tm)
    m.load_state_dict(tm.state_dict())
    np.testing.assert_allclose(to_np(m(nerve.tensor(x, device=device))), tm(torch.tensor(x)).detach().numpy(),
                               **TOL["float64"])


@pytest.mark.parametrize("name,shape", [("LazyInstanceNorm1d", (3, 7)), ("LazyInstanceNorm2d", (3, 4, 5)),
                                        ("LazyInstanceNorm3d", (3, 2, 3, 4))])
def test_lazy_instance_norm_reads_the_channels_of_an_unbatched_input(device, name, shape):
    # torch 2.13 reads dim 1 (a spatial dim here) and then refuses the input; nerve reads dim 0
    m = getattr(nn, name)().to(device).double()
    x = _rng().standard_normal(shape)
    y = m(nerve.tensor(x, device=device))
    assert m.num_features == 3 and m.weight.shape == (3,) and m.running_mean.shape == (3,)
    tm = getattr(torch.nn, name[4:])(3, affine=True, track_running_stats=True).double()
    np.testing.assert_allclose(to_np(y), tm(torch.tensor(x)).detach().numpy(), **TOL["float64"])
    np.testing.assert_allclose(to_np(m.running_var), tm.running_var.numpy(), **TOL["float64"])
    with pytest.raises(ValueError, match="expected input's size at dim=0 to match num_features"):
        getattr(torch.nn, name)()(torch.tensor(x))


def test_neither_affine_nor_tracking_leaves_num_features_zero_as_torch():
    m, tm = nn.LazyInstanceNorm2d(affine=False, track_running_stats=False), torch.nn.LazyInstanceNorm2d(
        affine=False, track_running_stats=False)
    assert not m.has_uninitialized_params() and m.state_dict() == {} and tm.state_dict() == {}
    x = _rng().standard_normal((2, 3, 4, 4))
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        y = m(nerve.tensor(x))
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        ty = tm(torch.tensor(x))
    assert type(m) is nn.InstanceNorm2d and same_repr(torch, m, tm) and m.num_features == 0
    np.testing.assert_allclose(to_np(y), ty.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lazy,plain,in_size,shape", [
    ("LazyConv2d", ("Conv2d", (2, 4, 3)), 2, (1, 2, 5, 5)),
    ("LazyConvTranspose1d", ("ConvTranspose1d", (2, 4, 3)), 2, (1, 2, 5)),
    ("LazyBatchNorm1d", ("BatchNorm1d", (5,)), 5, (3, 5)),
    ("LazyInstanceNorm2d", ("InstanceNorm2d", (5, 1e-5, 0.1, True, True)), 5, (2, 5, 3, 3)),
])
def test_a_lazy_layer_loads_shapes_from_a_state_dict(device, lazy, plain, in_size, shape):
    args = (4, 3) if "Conv" in lazy else ()
    m, tm = _pair(lazy, args, {})
    t = getattr(torch.nn, plain[0])(*plain[1]).double()
    if "Norm" in lazy:  # statistics worth loading
        t(torch.randn(*shape, dtype=torch.float64))
    m.to(device).double()
    tm.double()
    assert m.load_state_dict(t.state_dict()).missing_keys == []
    tm.load_state_dict(t.state_dict())
    # shapes loaded, the class still lazy until the first call (as torch)
    assert type(m).__name__ == type(tm).__name__ == lazy and same_repr(torch, m, tm)
    assert _state_repr(m.state_dict()) == _state_repr(tm.state_dict())
    x = _rng().standard_normal(shape)
    y = m(nerve.tensor(x, device=device))
    np.testing.assert_allclose(to_np(y), t(torch.tensor(x)).detach().numpy(), **TOL["float64"])
    # nerve then knows the size (torch's LazyLinear does; its conv and norm layers print 0)
    assert type(m).__name__ == plain[0] and same_repr(torch, m, t)

    again = getattr(nn, lazy)(*args).double()
    again.load_state_dict(t.state_dict())
    attr = "in_channels" if "Conv" in lazy else "num_features"
    wrong = list(shape)
    wrong[1] += 1
    with pytest.raises(AssertionError, match=f"The {attr} inferred from input: {in_size + 1} is not equal to "
                                             f"{attr} from self.weight: {in_size}"):
        again(nerve.zeros(*wrong, dtype=nerve.float64))


def test_uninitialized_state_dicts_load_into_lazy_layers_only():
    m = nn.LazyBatchNorm2d()
    m.load_state_dict(torch.nn.LazyBatchNorm2d().state_dict())  # torch's uninitialised tensors
    m.load_state_dict(nn.LazyBatchNorm2d().state_dict())
    assert m.has_uninitialized_params() and repr(m.running_mean) == "<UninitializedBuffer>"
    message = "Can't access the shape of an uninitialized parameter or buffer"
    with pytest.raises(RuntimeError, match=message):
        nn.BatchNorm2d(3).load_state_dict(nn.LazyBatchNorm2d().state_dict())
    with pytest.raises(RuntimeError, match=message):
        torch.nn.BatchNorm2d(3).load_state_dict(torch.nn.LazyBatchNorm2d().state_dict())


def test_small_lazy_model_trains_one_sgd_step_as_torch(device):
    def model(mod):
        return mod.Sequential(mod.LazyConv2d(4, 3, padding=1), mod.LazyBatchNorm2d(), mod.ReLU(), mod.Flatten(),
                              mod.LazyLinear(3))

    m, tm = model(nn), model(torch.nn)
    m.to(device).double()
    tm.double()
    rng = _rng()
    x, target = rng.standard_normal((5, 2, 6, 6)), rng.integers(0, 3, 5)
    m(nerve.tensor(x, device=device))  # the dry run
    tm(torch.tensor(x))
    assert same_repr(torch, m, tm)
    m.load_state_dict(tm.state_dict())
    opt = nerve.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    loss = F.cross_entropy(m(nerve.tensor(x, device=device)), nerve.tensor(target, device=device))
    tloss = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(target))
    np.testing.assert_allclose(loss.item(), tloss.item(), **TOL["float64"])
    opt.zero_grad()
    topt.zero_grad()
    loss.backward()
    tloss.backward()
    opt.step()
    topt.step()
    tstate = tm.state_dict()
    for k, v in m.state_dict().items():
        np.testing.assert_allclose(to_np(v), tstate[k].numpy(), err_msg=k, **TOL["float64"])


def test_an_optimizer_made_before_the_dry_run_updates_the_materialised_parameters():
    # torch accepts an optimizer over uninitialised parameters: they are materialised in place
    m, tm = nn.LazyConv1d(3, 2), torch.nn.LazyConv1d(3, 2)
    m.double()
    tm.double()
    opt = nerve.optim.SGD(m.parameters(), lr=0.5, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.5, momentum=0.9)
    opt.step()  # no gradients yet: nothing to do
    topt.step()
    x = _rng().standard_normal((2, 4, 6))
    tm(torch.tensor(x))
    m(nerve.tensor(x))
    m.load_state_dict(tm.state_dict())
    for _ in range(2):
        for mod, o, xx in ((m, opt, nerve.tensor(x)), (tm, topt, torch.tensor(x))):
            o.zero_grad()
            (mod(xx) ** 2).mean().backward()
            o.step()
    assert opt.param_groups[0]["params"][0] is m.weight and m.weight.shape == (3, 4, 2)
    np.testing.assert_allclose(to_np(m.weight), tm.weight.detach().numpy(), **TOL["float64"])
    np.testing.assert_allclose(to_np(m.bias), tm.bias.detach().numpy(), **TOL["float64"])


def test_dtype_and_device_set_before_the_first_call(device):
    m = nn.LazyBatchNorm1d(dtype=nerve.float64).to(device).float()
    assert repr(m.running_mean) == "<UninitializedBuffer>" and m.num_batches_tracked.dtype == nerve.int64
    m(nerve.randn(4, 3, device=device))
    for t in (m.weight, m.bias, m.running_mean, m.running_var):
        assert t.dtype == nerve.float32 and t.device.type == device and t.shape == (3,)
    assert m.num_batches_tracked.dtype == nerve.int64 and m.num_batches_tracked.item() == 1
    c = nn.LazyConvTranspose2d(2, 3, device=device, dtype=nerve.float64)
    c(nerve.randn(1, 5, 4, 4, device=device, dtype=nerve.float64))
    assert c.weight.shape == (5, 2, 3, 3) and c.weight.dtype == nerve.float64 and c.weight.device.type == device


def test_errors_as_torch():
    def same_error(make, call, exc, message):
        for mod, tensor in ((nn, nerve.zeros), (torch.nn, torch.zeros)):
            with pytest.raises(exc, match=message):
                call(make(mod), tensor)

    same_error(lambda mod: mod.LazyConv2d(4, 3), lambda m, z: m(z(3)),
               RuntimeError, re.escape("Expected 3D (unbatched) or 4D (batched) input to LazyConv2d, but got "
                                       "input of size: ") + r"(nerve|torch)\.Size\(\[3\]\)")
    same_error(lambda mod: mod.LazyConvTranspose3d(4, 3), lambda m, z: m(z(1, 2, 3)),
               RuntimeError, "Expected 4D \\(unbatched\\) or 5D \\(batched\\) input to LazyConvTranspose3d")
    same_error(lambda mod: mod.LazyConv2d(4, 3, groups=2), lambda m, z: m(z(1, 3, 5, 5)),
               ValueError, "in_channels must be divisible by groups")
    same_error(lambda mod: mod.LazyBatchNorm2d(), lambda m, z: m(z(2, 3, 4)),
               ValueError, re.escape("expected 4D input (got 3D input)"))
    same_error(lambda mod: mod.LazyInstanceNorm1d(), lambda m, z: m(z(2, 3, 4, 5)),
               ValueError, re.escape("expected 2D or 3D input (got 4D input)"))
    same_error(lambda mod: mod, lambda mod, z: mod.LazyConvTranspose2d(3, 3, padding_mode="reflect"),
               ValueError, 'Only "zeros" padding mode is supported for LazyConvTranspose2d')
    same_error(lambda mod: mod, lambda mod, z: mod.LazyConv2d(3, 3, groups=0),
               ValueError, "groups must be a positive integer")
    same_error(lambda mod: mod.LazyConv1d(3, 2), lambda m, z: sum(p.numel() for p in m.parameters()),
               ValueError, "Attempted to use an uninitialized parameter in .*numel")
    same_error(lambda mod: mod.LazyBatchNorm1d(), lambda m, z: m.running_mean.shape,
               RuntimeError, "Can't access the shape of an uninitialized parameter or buffer")
    same_error(lambda mod: mod.LazyConv1d(3, 2), lambda m, z: mod_utils(m).parameters_to_vector(m.parameters()),
               ValueError, "Attempted to use an uninitialized parameter in .*(view|reshape)")
    same_error(lambda mod: mod.LazyBatchNorm1d(), lambda m, z: m.running_mean.zero_(),
               ValueError, "Attempted to use an uninitialized parameter in .*zero_")
    same_error(lambda mod: mod.LazyLinear(3), lambda m, z: init_of(m).xavier_uniform_(m.weight),
               ValueError, "Attempted to use an uninitialized parameter in .*dim")
    same_error(lambda mod: mod.LazyLinear(3), lambda m, z: init_of(m).zeros_(m.weight),
               ValueError, "Attempted to use an uninitialized parameter")
    # a wrong rank leaves nerve's layer lazy (torch's becomes a BatchNorm2d with 4 features first)
    m = nn.LazyBatchNorm2d()
    with pytest.raises(ValueError):
        m(nerve.zeros(2, 4, 3))
    assert type(m) is nn.LazyBatchNorm2d and m.has_uninitialized_params()
    # nerve checks out_channels against groups when the layer is made (torch at the first call)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.LazyConv2d(3, 3, groups=2)


def mod_utils(m):
    return nn.utils if isinstance(m, nn.Module) else torch.nn.utils


def init_of(m):
    return nn.init if isinstance(m, nn.Module) else torch.nn.init


def test_lazy_module_mixin_for_a_layer_of_ones_own():
    def build(mod, params, init):
        class LazyScale(LazyModuleMixin if mod is nn else torch.nn.modules.lazy.LazyModuleMixin, mod.Module):
            def __init__(self):
                super().__init__()
                self.scale = params.UninitializedParameter()

            def initialize_parameters(self, x):
                if self.has_uninitialized_params():
                    self.scale.materialize(x.shape[-1:])
                    init.ones_(self.scale)

            def forward(self, x):
                return x * self.scale

        class Unfinished(LazyModuleMixin if mod is nn else torch.nn.modules.lazy.LazyModuleMixin, mod.Module):
            def __init__(self):
                super().__init__()
                self.w = params.UninitializedParameter()

        class Forgetful(Unfinished):
            def initialize_parameters(self, x):
                pass

        return LazyScale, Unfinished, Forgetful

    for mod, params, init, tensor in ((nn, nn.parameter, nn.init, nerve.ones),
                                      (torch.nn, torch.nn.parameter, torch.nn.init, torch.ones)):
        LazyScale, Unfinished, Forgetful = build(mod, params, init)
        m = LazyScale()
        assert m.has_uninitialized_params() and list(m.state_dict()) == ["scale"]
        y = m(tensor(2, 5))
        assert tuple(y.shape) == (2, 5) and type(m) is LazyScale  # no cls_to_become: the class stays
        assert not m.has_uninitialized_params() and tuple(m.scale.shape) == (5,)
        m(tensor(2, 5))  # the hook is gone: no second initialisation
        with pytest.raises(NotImplementedError, match="initialize_parameters is not implemented for Unfinished"):
            Unfinished()(tensor(1))
        with pytest.raises(RuntimeError, match="module Forgetful has not been fully initialized"):
            Forgetful()(tensor(1))


def test_uninitialized_buffer_is_public_as_torch():
    b = nn.UninitializedBuffer(dtype=nerve.float64)
    assert repr(b) == repr(torch.nn.UninitializedBuffer()) == "<UninitializedBuffer>"
    assert nn.parameter.is_lazy(b) and not b.requires_grad
    b.materialize((2, 3))
    assert type(b) is nerve.Tensor and b.shape == (2, 3) and b.dtype == nerve.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.UninitializedParameter().requires_grad
