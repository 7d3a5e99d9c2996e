"""nerve.nn modules: layers against torch.nn with copied weights, Module behaviour (state dicts,
loading, repr, hooks, devices and dtypes, containers), default initialisation, nn.init and nn.utils."""

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import nerve
import nerve.nn as nn
from nerve.nn import init

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=1e-4, atol=1e-5)}


def _copy_weights(n_mod, t_mod):
    n_mod.load_state_dict({k: v.detach().numpy() for k, v in t_mod.state_dict().items()})


def _check_layer(n_mod, t_mod, x, dtype, int_input=False):
    """Same weights, same input: same output, input gradient and parameter gradients."""
    t_mod = t_mod.to(getattr(torch, dtype))
    n_mod = n_mod.to(getattr(nerve, dtype))
    _copy_weights(n_mod, t_mod)
    if int_input:
        tx, nx = torch.tensor(x), nerve.tensor(x)
    else:
        tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        nx = nerve.tensor(x, dtype=dtype, requires_grad=True)
    t_out, n_out = t_mod(tx), n_mod(nx)
    assert n_out.dtype.name == dtype
    np.testing.assert_allclose(n_out.detach().numpy(), t_out.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(1).standard_normal(tuple(t_out.shape))
    t_out.backward(torch.tensor(g, dtype=t_out.dtype))
    n_out.backward(nerve.tensor(g, dtype=n_out.dtype))
    if not int_input:
        np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), **TOL[dtype])
    t_params = dict(t_mod.named_parameters())
    n_params = dict(n_mod.named_parameters())
    assert list(n_params) == list(t_params)
    for k, tp in t_params.items():
        if tp.grad is None:
            assert n_params[k].grad is None
        else:
            np.testing.assert_allclose(n_params[k].grad.numpy(), tp.grad.numpy(), **TOL[dtype], err_msg=k)


LAYERS = {
    "linear": (lambda m: m.Linear(5, 3), (4, 5)),
    "linear_nobias": (lambda m: m.Linear(5, 3, bias=False), (4, 5)),
    "linear_3d": (lambda m: m.Linear(5, 3), (2, 4, 5)),
    "identity": (lambda m: m.Identity(54, unused=1), (2, 3)),
    "flatten": (lambda m: m.Flatten(), (2, 3, 4)),
    "flatten_range": (lambda m: m.Flatten(0, 1), (2, 3, 4)),
    "unflatten": (lambda m: m.Unflatten(1, (2, 3)), (4, 6)),
    "relu": (lambda m: m.ReLU(), (4, 5)),
    "leaky_relu": (lambda m: m.LeakyReLU(0.1), (4, 5)),
    "gelu": (lambda m: m.GELU(), (4, 5)),
    "gelu_tanh": (lambda m: m.GELU(approximate="tanh"), (4, 5)),
    "elu": (lambda m: m.ELU(0.5), (4, 5)),
    "sigmoid": (lambda m: m.Sigmoid(), (4, 5)),
    "tanh": (lambda m: m.Tanh(), (4, 5)),
    "softmax": (lambda m: m.Softmax(dim=1), (4, 5)),
    "log_softmax": (lambda m: m.LogSoftmax(dim=-1), (4, 5)),
    "softplus": (lambda m: m.Softplus(beta=2), (4, 5)),
    "silu": (lambda m: m.SiLU(), (4, 5)),
    "mish": (lambda m: m.Mish(), (4, 5)),
    "prelu": (lambda m: m.PReLU(3, init=0.1), (4, 3, 2)),
    "dropout_eval": (lambda m: m.Dropout(0.4).eval(), (4, 5)),
    "layer_norm": (lambda m: m.LayerNorm(5), (3, 4, 5)),
    "layer_norm_2d": (lambda m: m.LayerNorm([4, 5], eps=1e-3), (3, 4, 5)),
    "layer_norm_nobias": (lambda m: m.LayerNorm(5, bias=False), (3, 5)),
    "layer_norm_noaffine": (lambda m: m.LayerNorm(5, elementwise_affine=False), (3, 5)),
    "bilinear_seq": (lambda m: m.Sequential(m.Linear(5, 6), m.Tanh(), m.Linear(6, 2)), (3, 5)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_torch(name, dtype):
    make, shape = LAYERS[name]
    t_mod, n_mod = make(tnn), make(nn)
    x = np.random.default_rng(0).standard_normal(shape) * 2
    _check_layer(n_mod, t_mod, x, dtype)
    older_layer_norm = name.startswith("layer_norm") and "bias=" not in repr(t_mod)  # torch < 2.13 omits it
    if (n_mod.extra_repr() or not list(n_mod.children())) and not older_layer_norm:
        assert repr(n_mod) == repr(t_mod)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_matches_torch(dtype):
    idx = np.random.default_rng(0).integers(0, 7, (3, 4))
    _check_layer(nn.Embedding(7, 3, padding_idx=1), tnn.Embedding(7, 3, padding_idx=1), idx, dtype, int_input=True)
    assert repr(nn.Embedding(7, 3, padding_idx=1)) == repr(tnn.Embedding(7, 3, padding_idx=1))


def test_bilinear_matches_torch():
    t_mod, n_mod = tnn.Bilinear(3, 4, 2).double(), nn.Bilinear(3, 4, 2).double()
    _copy_weights(n_mod, t_mod)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(n_mod(nerve.tensor(a), nerve.tensor(b)).detach().numpy(),
                               t_mod(torch.tensor(a), torch.tensor(b)).detach().numpy(), rtol=1e-10)
    assert repr(n_mod) == repr(t_mod)


def test_embedding_padding_and_pretrained():
    e = nn.Embedding(5, 3, padding_idx=-1)
    assert e.padding_idx == 4
    np.testing.assert_array_equal(e.weight.detach().numpy()[4], 0)
    w = nerve.randn(4, 2)
    pre = nn.Embedding.from_pretrained(w)
    assert not pre.weight.requires_grad
    np.testing.assert_array_equal(pre(nerve.tensor([3, 0])).numpy(), w.numpy()[[3, 0]])
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad


def test_dropout_module_train_and_eval():
    d = nn.Dropout(0.5)
    x = nerve.ones(100, 100)
    assert d.training
    y = d(x).numpy()
    assert 0.4 < (y == 0).mean() < 0.6
    d.eval()
    assert d(x) is x
    assert repr(d) == repr(tnn.Dropout(0.5))


# ---------------------------------------------------------------- state dicts


def _net(lib):
    """The same architecture built with nerve.nn (lib=nerve) or torch.nn (lib=torch)."""
    m = lib.nn

    class Net(m.Module):
        def __init__(self):
            super().__init__()
            self.embed = m.Embedding(10, 4)
            self.blocks = m.ModuleList([m.Linear(4, 4) for _ in range(2)])
            self.heads = m.ModuleDict({"a": m.Linear(4, 2), "b": m.Sequential(m.LayerNorm(4), m.Linear(4, 3))})
            self.register_buffer("steps", lib.zeros(()))
            self.register_buffer("scratch", lib.zeros(3), persistent=False)
            self.scale = m.Parameter(lib.ones(1))
            self.seq = m.Sequential(OrderedDict(fc=m.Linear(4, 4), act=m.ReLU()))

        def forward(self, idx):
            h = self.embed(idx)
            for b in self.blocks:
                h = b(h).relu()
            h = self.seq(h)
            return self.heads["a"](h) * self.scale, self.heads["b"](h)

    return Net()


def test_state_dict_keys_and_order_match_torch():
    n, t = _net(nerve), _net(torch)
    assert list(n.state_dict()) == list(t.state_dict())
    assert [k for k, _ in n.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert [k for k, _ in n.named_buffers()] == [k for k, _ in t.named_buffers()]
    assert [k for k, _ in n.named_modules()] == [k for k, _ in t.named_modules()]
    assert [k for k, _ in n.named_children()] == [k for k, _ in t.named_children()]
    for k, v in n.state_dict().items():
        assert tuple(v.shape) == tuple(t.state_dict()[k].shape), k
    if "bias=" in repr(tnn.LayerNorm(1)):  # torch < 2.13 leaves bias out of LayerNorm's repr
        assert repr(n) == repr(t)


def test_state_dict_values_share_storage_and_are_detached():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    assert not sd["weight"].requires_grad
    sd["weight"][0, 0] = 42.0
    assert lin.weight[0, 0].item() == 42.0
    assert lin.state_dict(keep_vars=True)["weight"] is lin.weight


def test_load_torch_weights_then_same_outputs():
    n, t = _net(nerve), _net(torch)
    res = n.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    idx = np.array([[1, 2, 3], [4, 5, 9]])
    for a, b in zip(n(nerve.tensor(idx)), t(torch.tensor(idx))):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    # torch tensors and nerve tensors load too
    n2 = _net(nerve)
    n2.load_state_dict(t.state_dict())
    n3 = _net(nerve)
    n3.load_state_dict(n2.state_dict())
    np.testing.assert_array_equal(n3.embed.weight.detach().numpy(), t.embed.weight.detach().numpy())


def _snapshot(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def test_load_state_dict_errors_name_keys_and_shapes():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    good = {k: np.ones(tuple(v.shape), dtype=np.float32) for k, v in model.state_dict().items()}
    before = _snapshot(model)

    missing = dict(good)
    del missing["2.bias"]
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(missing)
    assert str(e.value) == ('Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in state_dict: "2.bias". ')

    extra = dict(good, **{"3.weight": np.zeros(2)})
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "3.weight"'):
        model.load_state_dict(extra)

    wrong = dict(good, **{"2.weight": np.zeros((2, 4), dtype=np.float32)})
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(wrong)
    assert ("size mismatch for 2.weight: copying a param with shape nerve.Size([2, 4]) from checkpoint, "
            "the shape in current model is nerve.Size([2, 3]).") in str(e.value)

    # the same messages as PyTorch's, with torch. for nerve.
    t_model = tnn.Sequential(tnn.Linear(4, 3), tnn.ReLU(), tnn.Linear(3, 2))
    both = dict(wrong, **{"9.x": np.zeros(1)})
    del both["0.bias"]
    with pytest.raises(RuntimeError) as en:
        model.load_state_dict(both)
    with pytest.raises(RuntimeError) as et:
        t_model.load_state_dict({k: torch.tensor(v) for k, v in both.items()})
    assert str(en.value).replace("nerve.", "torch.") == str(et.value)

    # every failed load above changed nothing, although the valid keys came first
    after = _snapshot(model)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_failed_load_changes_nothing_even_with_non_strict():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    before = _snapshot(model)
    bad = {"0.weight": np.zeros((3, 4)), "0.bias": np.zeros(3), "1.weight": np.zeros((5, 5)), "1.bias": np.zeros(2)}
    with pytest.raises(RuntimeError, match="size mismatch for 1.weight"):
        model.load_state_dict(bad, strict=False)
    after = _snapshot(model)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_load_non_strict_returns_keys_and_casts():
    model = nn.Linear(3, 2)
    w_id = id(model.weight)
    res = model.load_state_dict({"weight": np.arange(6.0).reshape(2, 3), "junk": np.zeros(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["junk"]
    assert model.weight.dtype == nerve.float32 and id(model.weight) == w_id
    np.testing.assert_array_equal(model.weight.detach().numpy(), np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        model.load_state_dict([1, 2])


def test_load_state_dict_assign():
    model = nn.Linear(3, 2)
    w = nerve.randn(2, 3)
    model.load_state_dict({"weight": w, "bias": nerve.zeros(2)}, assign=True)
    assert isinstance(model.weight, nn.Parameter) and model.weight.requires_grad
    np.testing.assert_array_equal(model.weight.detach().numpy(), w.numpy())


# ---------------------------------------------------------------- repr


def test_repr_matches_torch_for_article_model():
    def build(m):
        return m.Sequential(m.Flatten(), m.Linear(784, 10), m.ReLU(), m.Linear(10, 10), m.Softmax(dim=1))

    assert repr(build(nn)) == repr(build(tnn))
    assert repr(build(nn)) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=10, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=10, out_features=10, bias=True)\n"
        "  (4): Softmax(dim=1)\n"
        ")"
    )
    assert repr(nn.Softmax()) == repr(tnn.Softmax()) == "Softmax(dim=None)"


def test_layer_norm_repr():
    assert repr(nn.LayerNorm((3, 4))) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True, bias=True)"
    assert repr(nn.LayerNorm(3, bias=False)) == "LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=False)"


def test_repr_of_other_layers_match_torch():
    pairs = [
        lambda m: m.ModuleList([m.Linear(2, 2), m.Linear(2, 2), m.Linear(2, 2), m.ReLU()]),
        lambda m: m.ModuleList([]),
        lambda m: m.ModuleDict({"x": m.ReLU(inplace=True), "y": m.LeakyReLU(0.2)}),
        lambda m: m.Sequential(m.ELU(), m.Dropout(0.3), m.Unflatten(1, (2, 5)), m.Identity()),
        lambda m: m.Sequential(m.Sequential(m.Linear(1, 1)), m.GELU(approximate="tanh"), m.Tanh()),
        lambda m: m.Softplus(beta=2.0, threshold=10.0),
        lambda m: m.CrossEntropyLoss(),
    ]
    for build in pairs:
        assert repr(build(nn)) == repr(build(tnn))


# ---------------------------------------------------------------- Module behaviour


def test_parameters_named_and_shared():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert [k for k, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [k for k, _ in model.named_parameters(prefix="net")] == ["net.0.weight", "net.0.bias"]
    assert list(model.parameters(recurse=False)) == []
    assert len(list(model.named_parameters(remove_duplicate=False))) == 4
    assert list(model.children()) == [shared, model[1]]
    assert len(list(model.modules())) == 3


def test_train_eval_requires_grad_zero_grad():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(), nn.Sequential(nn.Dropout()))
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train("yes")
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    model.requires_grad_()
    model(nerve.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all((p.grad.numpy() == 0).all() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_dtype_keeps_parameter_identity_and_integer_buffers():
    m = nn.Linear(3, 2)
    m.register_buffer("count", nerve.tensor(3))
    params = list(m.parameters())
    m(nerve.randn(1, 3)).sum().backward()
    assert m.double() is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert m.weight.dtype == nerve.float64 and m.weight.grad.dtype == nerve.float64
    assert m.count.dtype == nerve.int64
    assert m.to(nerve.float32).weight.dtype == nerve.float32
    assert m.half().weight.dtype == nerve.float16
    assert m.float().to("cpu").weight.dtype == nerve.float32
    assert m.to(nerve.zeros(1, dtype=nerve.float64)).bias.dtype == nerve.float64
    assert m.cpu().weight.device.type == "cpu"
    with pytest.raises(TypeError, match="floating point"):
        m.to(nerve.int64)


@pytest.mark.skipif(not nerve.cuda.is_available(), reason="needs a CUDA GPU")
def test_to_cuda_and_back():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).cuda()
    assert all(p.device.type == "cuda" for p in m.parameters())
    out = m(nerve.randn(5, 3, device="cuda"))
    nn.functional.cross_entropy(out, nerve.tensor([0, 1, 1, 0, 1], device="cuda")).backward()
    assert m[0].weight.grad.device.type == "cuda"
    m.cpu()
    assert all(p.device.type == "cpu" for p in m.parameters())


def test_registration_rules_and_errors():
    m = nn.Module()
    m.w = nn.Parameter(nerve.ones(2))
    assert list(m.state_dict()) == ["w"]
    with pytest.raises(TypeError, match="cannot assign 'nerve.FloatTensor' as parameter 'w'"):
        m.w = nerve.ones(2)
    m.w = None
    assert m.w is None and list(m.state_dict()) == []
    m.register_buffer("b", nerve.zeros(3))
    m.b = nerve.ones(3)  # a tensor assigned to a buffer name stays a buffer
    assert list(m.state_dict()) == ["b"]
    with pytest.raises(KeyError, match="attribute 'b' already exists"):
        m.register_parameter("b", nn.Parameter(nerve.ones(1)))
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", nerve.ones(1))
    with pytest.raises(TypeError, match="cannot assign 'list' object to buffer"):
        m.register_buffer("c", [1, 2])
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    m.sub = nn.Linear(1, 1)
    del m.sub
    assert "sub" not in dict(m.named_children())
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        m.nothing

    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


def test_parameter():
    p = nn.Parameter(nerve.tensor([1.0, 2.0]))
    assert p.requires_grad and isinstance(p, nerve.Tensor)
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert repr(p) == repr(tnn.Parameter(torch.tensor([1.0, 2.0])))
    assert not nn.Parameter(nerve.ones(1), requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    assert type(p * 2) is nerve.Tensor
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(nerve.tensor([1, 2]))


def test_apply_get_submodule_and_hooks():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    names = []
    model.apply(lambda m: names.append(type(m).__name__))
    assert names == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]
    assert model.get_submodule("1.1") is model[1][1]
    assert model.get_parameter("1.1.bias") is model[1][1].bias
    with pytest.raises(AttributeError, match="has no attribute `7`"):
        model.get_submodule("1.7")

    calls = []
    h1 = model[0].register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = model.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    x = nerve.randn(3, 2)
    out = model(x)
    expected = model[1](model[0].bias.expand(3, 2)) + 1
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    assert calls == [(3, 1)]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(model(x).detach().numpy(), model[1](model[0](x)).detach().numpy())
    assert calls == [(3, 1)]

    seen = {}

    def kw_hook(mod, args, kwargs, out):
        seen.update(kwargs)

    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    s = Scale()
    with s.register_forward_hook(kw_hook, with_kwargs=True):
        s(x, factor=2.0)
    assert seen == {"factor": 2.0}


def test_sequential_container_ops():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3)]
    s = nn.Sequential(*layers)
    assert len(s) == 3 and s[0] is layers[0] and s[-1] is layers[2]
    assert list(s) == layers
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub._modules) == ["1", "2"]
    with pytest.raises(IndexError):
        s[3]
    s.append(nn.Tanh())
    assert len(s) == 4 and isinstance(s[3], nn.Tanh)
    s.insert(1, nn.Identity())
    assert [type(m).__name__ for m in s] == ["Linear", "Identity", "ReLU", "Linear", "Tanh"]
    assert list(s._modules) == ["0", "1", "2", "3", "4"]
    del s[1]
    assert [type(m).__name__ for m in s] == ["Linear", "ReLU", "Linear", "Tanh"]
    assert list(s._modules) == ["0", "1", "2", "3"]
    s.extend([nn.Sigmoid()])
    assert len(s) == 5
    s[4] = nn.ReLU()
    assert isinstance(s[4], nn.ReLU)
    od = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(od.state_dict()) == ["fc.weight", "fc.bias"] and od.fc is od[0]
    assert len(s + od) == 7


def test_module_list_dict_parameter_list():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "ReLU", "Tanh"]
    assert isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 3
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2"]
    md = nn.ModuleDict({"a": nn.Linear(1, 2)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    assert md.pop("b").__class__ is nn.ReLU
    pl = nn.ParameterList([nerve.ones(2), nn.Parameter(nerve.zeros(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    assert len(list(pl.parameters())) == 2
    t_pl = tnn.ParameterList([torch.ones(2), tnn.Parameter(torch.zeros(3))])
    assert list(pl.state_dict()) == list(t_pl.state_dict())
    assert repr(pl).replace("nerve", "torch") == repr(t_pl)


# ---------------------------------------------------------------- initialisation


def test_default_init_statistics():
    nerve.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = lin.weight.detach().numpy()
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    b = lin.bias.detach().numpy()
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    emb = nn.Embedding(1000, 50).weight.detach().numpy()
    assert abs(emb.mean()) < 0.02 and abs(emb.std() - 1) < 0.02
    ln = nn.LayerNorm(7)
    assert (ln.weight.detach().numpy() == 1).all() and (ln.bias.detach().numpy() == 0).all()
    # the same seed gives the same model
    nerve.manual_seed(3)
    a = nn.Linear(5, 5).weight.detach().numpy()
    nerve.manual_seed(3)
    np.testing.assert_array_equal(a, nn.Linear(5, 5).weight.detach().numpy())


def test_init_functions():
    nerve.manual_seed(0)
    for nl, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                      ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)]:
        assert init.calculate_gain(nl, param) == pytest.approx(tnn.init.calculate_gain(nl, param))
    for shape in [(3, 4), (8, 4, 3, 3), (5, 2, 7)]:
        assert init._calculate_fan_in_and_fan_out(nerve.empty(*shape)) == \
            tnn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(nerve.empty(3))
    t = nerve.empty(200, 300)
    fan_in, fan_out = 300, 200
    checks = [
        (lambda: init.xavier_uniform_(t), math.sqrt(2 / (fan_in + fan_out))),
        (lambda: init.xavier_normal_(t, gain=2.0), 2 * math.sqrt(2 / (fan_in + fan_out))),
        (lambda: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / fan_in)),
        (lambda: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / fan_out)),
        (lambda: init.normal_(t, 0.0, 0.3), 0.3),
        (lambda: init.uniform_(t, -1, 1), 1 / math.sqrt(3)),
    ]
    for fill, std in checks:
        out = fill()
        assert out is t
        assert abs(t.numpy().std() - std) < 0.02 * std
    init.trunc_normal_(t, std=1.0, a=-0.5, b=1.0)
    v = t.numpy()
    assert v.min() >= -0.5 and v.max() <= 1.0 and v.min() < -0.49 and v.max() > 0.99
    assert (init.constant_(t, 0.25).numpy() == 0.25).all()
    assert (init.zeros_(t).numpy() == 0).all() and (init.ones_(t).numpy() == 1).all()
    np.testing.assert_array_equal(init.eye_(nerve.empty(3, 4)).numpy(), np.eye(3, 4))
    q = init.orthogonal_(nerve.empty(4, 6)).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-5)
    p = nn.Parameter(nerve.empty(3, 3))
    init.kaiming_uniform_(p)  # in place on a leaf that requires grad
    assert p.requires_grad and p.grad_fn is None


# ---------------------------------------------------------------- utils


def _grads_pair(rng):
    shapes = [(3, 4), (4,), (2, 2)]
    grads = [rng.standard_normal(s) * 3 for s in shapes]
    n_params = [nn.Parameter(nerve.zeros(*s, dtype=nerve.float64)) for s in shapes]
    t_params = [tnn.Parameter(torch.zeros(*s, dtype=torch.float64)) for s in shapes]
    for g, n, t in zip(grads, n_params, t_params):
        n.grad = nerve.tensor(g)
        t.grad = torch.tensor(g)
    return n_params, t_params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [1.0, 1000.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    n_params, t_params = _grads_pair(np.random.default_rng(0))
    n_total = nn.utils.clip_grad_norm_(n_params, max_norm, norm_type=norm_type)
    t_total = tnn.utils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(n_total.item(), t_total.item(), rtol=1e-12)
    for n, t in zip(n_params, t_params):
        np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_clip_grad_errors_value_and_vectors():
    p = nn.Parameter(nerve.ones(3))
    p.grad = nerve.tensor([1.0, float("inf"), 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    n_params, t_params = _grads_pair(np.random.default_rng(1))
    nn.utils.clip_grad_value_(n_params, 0.5)
    tnn.utils.clip_grad_value_(t_params, 0.5)
    for n, t in zip(n_params, t_params):
        np.testing.assert_array_equal(n.grad.numpy(), t.grad.numpy())
    model = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert tuple(vec.shape) == (8,)
    np.testing.assert_array_equal(vec.detach().numpy()[:6], model.weight.detach().numpy().reshape(-1))
    nn.utils.vector_to_parameters(nerve.arange(8.0), model.parameters())
    np.testing.assert_array_equal(model.bias.detach().numpy(), [6.0, 7.0])


def test_call_fast_path_has_no_overhead_surprises():
    """Calling a module is calling forward when there are no hooks; hooks added later are honoured."""
    lin = nn.Linear(2, 2)
    x = nerve.randn(1, 2)
    np.testing.assert_array_equal(lin(x).detach().numpy(), lin.forward(x).detach().numpy())
    h = lin.register_forward_hook(lambda m, a, o: o * 0)
    assert (lin(x).detach().numpy() == 0).all()
    h.remove()
    assert not lin._forward_hooks


def test_softmax_module_without_dim_warns():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = nn.Softmax()(nerve.randn(2, 3))
    assert any("Implicit dimension choice for softmax" in str(x.message) for x in w)
    np.testing.assert_allclose(out.numpy().sum(1), 1, rtol=1e-6)


def test_training_step_on_every_device(device):
    """A model moved with .to(device) trains there and loads/saves state across devices."""
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.GELU(), nn.LayerNorm(8), nn.Dropout(0.1),
                          nn.Linear(8, 3))
    cpu_state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    model.to(device)
    assert all(p.device.type == device for p in model.parameters())
    x = nerve.randn(4, 3, 4, device=device)
    y = nerve.tensor([0, 2, 1, 2], device=device)
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y)
    loss.backward()
    assert all(p.grad.device.type == device for p in model.parameters())
    nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    model.load_state_dict(cpu_state)  # numpy arrays go to the parameters' device
    assert all(p.device.type == device for p in model.parameters())
    np.testing.assert_array_equal(model[1].weight.detach().cpu().numpy(), cpu_state["1.weight"])
