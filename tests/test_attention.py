"""scaled_dot_product_attention, MultiheadAttention and the Transformer encoder, against PyTorch."""

import copy
import math

import numpy as np
import pytest
from _torch_compare import to_np

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = dict(rtol=1e-9, atol=1e-10)


def _pair(a, device="cpu", grad=True):
    """The same float64 array as a nerve tensor and a torch tensor."""
    return (nerve.tensor(a, device=device, requires_grad=grad and a.dtype.kind == "f"),
            torch.tensor(a, requires_grad=grad and a.dtype.kind == "f"))


def _backward(yn, yt, seed=1):
    w = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    (yn * nerve.tensor(w, device=yn.device)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()


def _close(a, b, tol=TOL, msg=""):
    np.testing.assert_allclose(to_np(a), b.detach().numpy(), err_msg=msg, **tol)


def _load(nerve_module, torch_module, device="cpu"):
    nerve_module.load_state_dict({k: nerve.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()})
    return nerve_module.to(device)


# ------------------------------------------------------------------ scaled_dot_product_attention

rng = np.random.default_rng(0)
M_BOOL = rng.random((4, 6)) > 0.4
M_BOOL[:, 0] = True
M_FLOAT = rng.standard_normal((2, 1, 4, 6))

SDPA_CASES = [
    dict(shapes=((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5))),
    dict(shapes=((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)), is_causal=True),
    dict(shapes=((2, 3, 6, 8), (2, 3, 4, 8), (2, 3, 4, 8)), is_causal=True),  # L > S
    dict(shapes=((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)), scale=0.3),
    dict(shapes=((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)), mask=M_BOOL),
    dict(shapes=((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)), mask=M_FLOAT),
    dict(shapes=((2, 3, 4, 8), (1, 3, 6, 8), (2, 1, 6, 5)), mask=M_BOOL[None]),  # batch dims broadcast
    dict(shapes=((5, 7), (3, 7), (3, 2))),  # 2-D: no batch dims
    dict(shapes=((2, 4, 3, 8), (2, 2, 5, 8), (2, 2, 5, 8)), enable_gqa=True),
]


@pytest.mark.parametrize("case", SDPA_CASES, ids=range(len(SDPA_CASES)))
def test_sdpa_matches_torch(case, device):
    r = np.random.default_rng(3)
    arrays = [r.standard_normal(s) for s in case["shapes"]]
    pairs = [_pair(a, device) for a in arrays]
    kw = {k: v for k, v in case.items() if k in ("is_causal", "scale", "enable_gqa")}
    mn = mt = None
    if "mask" in case:
        mn, mt = _pair(case["mask"], device, grad=False)
    yn = F.scaled_dot_product_attention(*[p[0] for p in pairs], attn_mask=mn, **kw)
    yt = TF.scaled_dot_product_attention(*[p[1] for p in pairs], attn_mask=mt, **kw)
    assert tuple(yn.shape) == tuple(yt.shape)
    _close(yn, yt)
    _backward(yn, yt)
    for i, (a, b) in enumerate(pairs):
        _close(a.grad, b.grad, msg=f"gradient of input {i}")


def test_sdpa_float_mask_gets_a_gradient():
    r = np.random.default_rng(4)
    pairs = [_pair(r.standard_normal(s)) for s in ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5), (3, 1, 6))]
    yn = F.scaled_dot_product_attention(*[p[0] for p in pairs[:3]], attn_mask=pairs[3][0])
    yt = TF.scaled_dot_product_attention(*[p[1] for p in pairs[:3]], attn_mask=pairs[3][1])
    _backward(yn, yt)
    _close(pairs[3][0].grad, pairs[3][1].grad)


def test_sdpa_fully_masked_rows_give_zeros_as_torch():
    r = np.random.default_rng(5)
    pairs = [_pair(r.standard_normal(s)) for s in ((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4))]
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    for m in (mask, np.where(mask, 0.0, -np.inf)):
        mn, mt = _pair(m, grad=False)
        yn = F.scaled_dot_product_attention(*[p[0] for p in pairs], attn_mask=mn)
        yt = TF.scaled_dot_product_attention(*[p[1] for p in pairs], attn_mask=mt)
        _close(yn, yt)
        assert np.all(to_np(yn)[:, :, 1] == 0)
        for p in pairs:
            p[0].grad = p[1].grad = None
        _backward(yn, yt)
        for a, b in pairs:
            _close(a.grad, b.grad)


def test_sdpa_gradcheck():
    r = np.random.default_rng(6)
    q, k, v = (nerve.tensor(r.standard_normal(s), requires_grad=True) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    bias = nerve.tensor(r.standard_normal((3, 5)), requires_grad=True)
    assert gradcheck(lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b, scale=0.7),
                     (q, k, v, bias), atol=1e-7, rtol=1e-6)
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v),
                     atol=1e-7, rtol=1e-6)


def test_sdpa_equals_the_composite():
    r = np.random.default_rng(7)
    q, k, v = (nerve.tensor(r.standard_normal(s), requires_grad=True) for s in ((2, 4, 8), (2, 6, 8), (2, 6, 3)))
    fused = F.scaled_dot_product_attention(q, k, v)
    composite = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1) @ v
    np.testing.assert_allclose(to_np(fused), to_np(composite), rtol=1e-12, atol=1e-13)


def test_sdpa_dropout_statistics():
    nerve.manual_seed(0)
    q = nerve.zeros(1, 1, 2000, 4)  # uniform weights 1/S on every row
    k = nerve.zeros(1, 1, 10, 4)
    v = nerve.ones(1, 1, 10, 1, requires_grad=True)
    y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    # each output is (number kept / 10) * 2: mean 1
    assert abs(float(y.mean()) - 1.0) < 0.05
    assert set(np.round(to_np(y).ravel() * 5).astype(int)) <= set(range(11))
    y.sum().backward()
    assert abs(float(v.grad.sum()) / 2000 - 1.0) < 0.05
    y0 = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    np.testing.assert_allclose(to_np(y0), 1.0, rtol=1e-6)


def test_sdpa_errors():
    q, k, v = nerve.randn(2, 4, 8), nerve.randn(2, 6, 8), nerve.randn(2, 6, 5)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=nerve.ones(4, 6, dtype=nerve.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="same embedding size E"):
        F.scaled_dot_product_attention(q, nerve.randn(2, 6, 7), v)
    with pytest.raises(RuntimeError, match="same sequence length S"):
        F.scaled_dot_product_attention(q, k, nerve.randn(2, 5, 5))
    with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=nerve.zeros(4, 6, dtype=nerve.int64))
    with pytest.raises(RuntimeError, match="at least 2 dimensional"):
        F.scaled_dot_product_attention(nerve.randn(8), nerve.randn(8), nerve.randn(8))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(RuntimeError, match="must be divisible by the number of key heads"):
        F.scaled_dot_product_attention(nerve.randn(1, 3, 4, 8), nerve.randn(1, 2, 6, 8), nerve.randn(1, 2, 6, 8),
                                       enable_gqa=True)


# ------------------------------------------------------------------ MultiheadAttention


def _mha_pair(device="cpu", **kw):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(dtype=torch.float64, **kw)
    if kw.get("bias", True):  # torch starts the biases at 0: make them matter
        with torch.no_grad():
            tm.in_proj_bias.normal_()
            tm.out_proj.bias.normal_()
    nm = _load(nn.MultiheadAttention(dtype=nerve.float64, **kw), tm, device)
    return nm, tm


MHA_CASES = [
    dict(mod={}, call={}),
    dict(mod={}, call=dict(need_weights=False)),
    dict(mod={}, call=dict(average_attn_weights=False)),
    dict(mod=dict(batch_first=True), call={}),
    dict(mod=dict(batch_first=True), call=dict(kpm=True, need_weights=False)),
    dict(mod={}, call=dict(kpm=True, mask="bool")),
    dict(mod={}, call=dict(kpm=True, mask="float", need_weights=False)),
    dict(mod={}, call=dict(mask="float3d", average_attn_weights=False)),
    dict(mod={}, call=dict(mask="causal", is_causal=True, need_weights=False)),
    dict(mod=dict(kdim=5, vdim=3), call=dict(cross=True)),
    dict(mod={}, call=dict(cross=True, kpm=True)),
    dict(mod=dict(bias=False), call={}),
    dict(mod=dict(add_bias_kv=True), call=dict(kpm=True, mask="bool")),
    dict(mod=dict(add_zero_attn=True), call=dict(kpm=True, need_weights=False)),
    dict(mod=dict(add_bias_kv=True, add_zero_attn=True, kdim=5, vdim=3), call=dict(cross=True, mask="float")),
]


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("case", MHA_CASES, ids=range(len(MHA_CASES)))
@pytest.mark.parametrize("batched", [True, False])
def test_multihead_attention_matches_torch(case, batched, device):
    E, H, N, L, S = 8, 2, 3, 4, 6
    mod, call = case["mod"], dict(case["call"])
    nm, tm = _mha_pair(device, embed_dim=E, num_heads=H, **mod)
    r = np.random.default_rng(8)
    bf = mod.get("batch_first", False)
    lead_q = ((N, L) if bf else (L, N)) if batched else (L,)
    cross = call.pop("cross", False)
    lead_k = ((N, S) if bf else (S, N)) if batched else (S,)
    x = _pair(r.standard_normal(lead_q + (E,)), device)
    if cross:
        k = _pair(r.standard_normal(lead_k + (mod.get("kdim", E),)), device)
        v = _pair(r.standard_normal(lead_k + (mod.get("vdim", E),)), device)
        S_ = S
    else:
        k = v = x
        S_ = L
    kw_n, kw_t = {}, {}
    if call.pop("kpm", False):
        pad = np.zeros((N, S_), dtype=bool)
        pad[0, -2:] = True
        pad[2, -1] = True
        pad = pad if batched else pad[0]
        kw_n["key_padding_mask"], kw_t["key_padding_mask"] = _pair(pad, device, grad=False)
    mask = call.pop("mask", None)
    if mask is not None:
        if mask == "bool":
            m = r.random((L, S_)) < 0.3
            m[:, 0] = False
        elif mask == "float":
            m = r.standard_normal((L, S_))
        elif mask == "float3d":
            m = r.standard_normal(((N if batched else 1) * H, L, S_))
        else:
            m = np.triu(np.full((L, S_), -np.inf), 1)
        kw_n["attn_mask"], kw_t["attn_mask"] = _pair(m, device, grad=False)
    on, wn = nm(x[0], k[0], v[0], **kw_n, **call)
    ot, wt = tm(x[1], k[1], v[1], **kw_t, **call)
    assert tuple(on.shape) == tuple(ot.shape)
    _close(on, ot)
    if call.get("need_weights", True):
        assert tuple(wn.shape) == tuple(wt.shape)
        _close(wn, wt)
        out_n, out_t = on + wn.sum() * 0.5, ot + wt.sum() * 0.5  # backprop through the weights too
    else:
        assert wn is None and wt is None
        out_n, out_t = on, ot
    _backward(out_n, out_t)
    for name, p in tm.named_parameters():
        _close(nm.get_parameter(name).grad, p.grad, msg=name)
    for a, b in {id(t[0]): t for t in (x, k, v)}.values():
        _close(a.grad, b.grad)


def test_multihead_attention_parameters_and_init():
    nerve.manual_seed(0)
    m = nn.MultiheadAttention(12, 3)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {"in_proj_weight": (36, 12), "in_proj_bias": (36,), "out_proj.weight": (12, 12),
                      "out_proj.bias": (12,)}
    assert m.q_proj_weight is None and m.bias_k is None and m.head_dim == 4 and m._qkv_same_embed_dim
    bound = math.sqrt(6 / (36 + 12))  # xavier_uniform_ over the whole (3E, E) matrix
    w = to_np(m.in_proj_weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert not to_np(m.in_proj_bias).any() and not to_np(m.out_proj.bias).any()
    m2 = nn.MultiheadAttention(12, 3, kdim=5, vdim=7, add_bias_kv=True, bias=False)
    t2 = torch.nn.MultiheadAttention(12, 3, kdim=5, vdim=7, add_bias_kv=True, bias=False)
    assert {k: tuple(v.shape) for k, v in m2.state_dict().items()} == {
        k: tuple(v.shape) for k, v in t2.state_dict().items()}
    assert list(m2.state_dict()) == list(t2.state_dict())


def test_multihead_attention_errors():
    m = nn.MultiheadAttention(8, 2)
    x = nerve.randn(4, 3, 8)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="must be greater than 0"):
        nn.MultiheadAttention(0, 2)
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 8, but got 6"):
        m(nerve.randn(4, 3, 6), x, x)
    with pytest.raises(AssertionError, match=r"kdim=8 and vdim=8, but got key \(5, 3, 6\)"):
        m(x, nerve.randn(5, 3, 6), nerve.randn(5, 3, 6))
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D"):
        m(x, nerve.randn(4, 8), nerve.randn(4, 8))
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D"):
        m(nerve.randn(8), nerve.randn(8), nerve.randn(8))
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is \(4, 5\), but should be \(4, 4\)"):
        m(x, x, x, attn_mask=nerve.zeros(4, 5))
    with pytest.raises(RuntimeError, match=r"The shape of the 3D attn_mask is \(2, 4, 4\), but should be \(6, 4, 4\)"):
        m(x, x, x, attn_mask=nerve.zeros(2, 4, 4))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="do not match value's"):
        m(x, nerve.randn(5, 3, 8), nerve.randn(6, 3, 8))


def test_multihead_attention_need_weights_nan_on_all_masked_rows_as_torch():
    nm, tm = _mha_pair(embed_dim=4, num_heads=1)
    x = np.random.default_rng(9).standard_normal((3, 1, 4))
    pad = np.ones((1, 3), dtype=bool)
    for need in (True, False):
        on, _ = nm(*[nerve.tensor(x)] * 3, key_padding_mask=nerve.tensor(pad), need_weights=need)
        ot, _ = tm(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(pad), need_weights=need)
        np.testing.assert_allclose(to_np(on), ot.detach().numpy(), **TOL)  # NaN with weights, else the bias


# ------------------------------------------------------------------ Transformer encoder


def _encoder_layer_pair(device="cpu", **kw):
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(dtype=torch.float64, **kw).eval()
    with torch.no_grad():
        for name, p in tl.named_parameters():
            if "norm" in name or name.endswith("in_proj_bias") or name.endswith("out_proj.bias"):
                p.add_(torch.randn_like(p) * 0.3)  # LayerNorm starts at 1/0, the attention biases at 0
    nl = _load(nn.TransformerEncoderLayer(dtype=nerve.float64, **kw), tl, device).eval()
    return nl, tl


ENC_CASES = [
    dict(mod={}, call={}),
    dict(mod=dict(norm_first=True), call=dict(kpm=True)),
    dict(mod=dict(activation="gelu"), call=dict(mask="causal", is_causal=True)),
    dict(mod=dict(activation="gelu", norm_first=True, batch_first=True), call=dict(kpm=True, mask="bool")),
    dict(mod=dict(batch_first=True, bias=False), call=dict(mask="float")),
]


@pytest.mark.parametrize("case", ENC_CASES, ids=range(len(ENC_CASES)))
def test_transformer_encoder_layer_matches_torch(case, device):
    d, H, N, S = 8, 2, 3, 5
    mod, call = case["mod"], dict(case["call"])
    nl, tl = _encoder_layer_pair(device, d_model=d, nhead=H, dim_feedforward=16, **mod)
    r = np.random.default_rng(10)
    x = _pair(r.standard_normal((N, S, d) if mod.get("batch_first") else (S, N, d)), device)
    kw_n, kw_t = {}, {}
    if call.pop("kpm", False):
        pad = np.zeros((N, S), dtype=bool)
        pad[1, -2:] = True
        kw_n["src_key_padding_mask"], kw_t["src_key_padding_mask"] = _pair(pad, device, grad=False)
    mask = call.pop("mask", None)
    if mask == "bool":
        m = r.random((S, S)) < 0.3
        np.fill_diagonal(m, False)
    elif mask == "float":
        m = r.standard_normal((S, S))
    elif mask == "causal":
        m = to_np(nn.modules.transformer.generate_square_subsequent_mask(S, dtype=nerve.float64))
        np.testing.assert_array_equal(m, torch.nn.Transformer.generate_square_subsequent_mask(S).numpy())
    if mask is not None:
        kw_n["src_mask"], kw_t["src_mask"] = _pair(m, device, grad=False)
    yn, yt = nl(x[0], **kw_n, **call), tl(x[1], **kw_t, **call)
    _close(yn, yt)
    _backward(yn, yt)
    for name, p in tl.named_parameters():
        _close(nl.get_parameter(name).grad, p.grad, msg=name)
    _close(x[0].grad, x[1].grad)


def test_transformer_encoder_matches_torch(device):
    nl, tl = _encoder_layer_pair(device, d_model=8, nhead=4, dim_feedforward=12, batch_first=True)
    te = torch.nn.TransformerEncoder(tl, 3, norm=torch.nn.LayerNorm(8, dtype=torch.float64),
                                     enable_nested_tensor=False).eval()
    with torch.no_grad():
        for p in te.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # the copies differ from each other
    ne = nn.TransformerEncoder(nl, 3, norm=nn.LayerNorm(8, dtype=nerve.float64), enable_nested_tensor=False)
    assert list(ne.state_dict()) == list(te.state_dict())
    assert ne.layers[0] is not ne.layers[1] and ne.layers[0].linear1.weight is not ne.layers[1].linear1.weight
    _load(ne, te, device).eval()
    r = np.random.default_rng(11)
    x = _pair(r.standard_normal((2, 6, 8)), device)
    pad = np.zeros((2, 6), dtype=bool)
    pad[0, 4:] = True
    pn, pt = _pair(pad, device, grad=False)
    yn, yt = ne(x[0], src_key_padding_mask=pn), te(x[1], src_key_padding_mask=pt)
    _close(yn, yt)
    _backward(yn, yt)
    for name, p in te.named_parameters():
        _close(ne.get_parameter(name).grad, p.grad, msg=name)
    _close(x[0].grad, x[1].grad)


def test_transformer_encoder_layer_unbatched_and_training_mode():
    nl, tl = _encoder_layer_pair(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0)
    x = np.random.default_rng(12).standard_normal((5, 8))
    _close(nl.train()(nerve.tensor(x)), tl.train()(torch.tensor(x)))
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    nerve.manual_seed(1)
    a = to_np(layer(nerve.tensor(x, dtype=nerve.float32)))
    nerve.manual_seed(2)
    b = to_np(layer(nerve.tensor(x, dtype=nerve.float32)))
    assert not np.allclose(a, b)  # dropout active in training
    layer.eval()
    np.testing.assert_array_equal(to_np(layer(nerve.tensor(x, dtype=nerve.float32))),
                                  to_np(layer(nerve.tensor(x, dtype=nerve.float32))))


def test_transformer_encoder_learns_a_toy_task():
    """One encoder layer + mean pooling learns whether a sequence holds more 1s than 2s (token counts)."""
    nerve.manual_seed(0)
    r = np.random.default_rng(0)
    n, S = 512, 9
    tokens = r.integers(0, 3, size=(n, S))
    labels = ((tokens == 1).sum(1) > (tokens == 2).sum(1)).astype(np.int64)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(3, 16)
            self.enc = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 1)
            self.head = nn.Linear(16, 2)

        def forward(self, t):
            return self.head(self.enc(self.emb(t)).mean(dim=1))

    net = Net()
    opt = nerve.optim.Adam(net.parameters(), lr=3e-3)
    x, y = nerve.tensor(tokens), nerve.tensor(labels)
    for _ in range(6):
        for i in range(0, n, 64):
            loss = F.cross_entropy(net(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with nerve.no_grad():
        acc = float((net(x).argmax(dim=1) == y).float().mean())
    assert acc > 0.9, acc


def test_deepcopy_of_a_layer_is_independent():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    twin = copy.deepcopy(layer)
    with nerve.no_grad():
        twin.linear1.weight.add_(1.0)
    assert not np.allclose(to_np(layer.linear1.weight), to_np(twin.linear1.weight))


# ------------------------------------------------------------------ Transformer decoder and the whole model


def _noisy(module, scale=0.3):
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or "proj_bias" in name or "out_proj.bias" in name:
                p.add_(torch.randn_like(p) * scale)  # LayerNorm starts at 1/0, the attention biases at 0
    return module


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_decoder_layer_matches_torch(norm_first, device):
    d, N, T, S = 8, 2, 4, 6
    torch.manual_seed(0)
    tl = _noisy(torch.nn.TransformerDecoderLayer(d, 2, 16, activation="gelu", norm_first=norm_first,
                                                 dtype=torch.float64)).eval()
    nl = nn.TransformerDecoderLayer(d, 2, 16, activation="gelu", norm_first=norm_first, dtype=nerve.float64)
    assert list(nl.state_dict()) == list(tl.state_dict())
    _load(nl, tl, device).eval()
    r = np.random.default_rng(13)
    tgt, mem = _pair(r.standard_normal((T, N, d)), device), _pair(r.standard_normal((S, N, d)), device)
    causal = _pair(np.triu(np.full((T, T), -np.inf), 1), device, grad=False)
    pad = np.zeros((N, S), dtype=bool)
    pad[1, -3:] = True
    mpad = _pair(pad, device, grad=False)
    yn = nl(tgt[0], mem[0], tgt_mask=causal[0], memory_key_padding_mask=mpad[0], tgt_is_causal=True)
    yt = tl(tgt[1], mem[1], tgt_mask=causal[1], memory_key_padding_mask=mpad[1], tgt_is_causal=True)
    _close(yn, yt)
    _backward(yn, yt)
    for name, p in tl.named_parameters():
        _close(nl.get_parameter(name).grad, p.grad, msg=name)
    _close(tgt[0].grad, tgt[1].grad)
    _close(mem[0].grad, mem[1].grad)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_transformer_matches_torch(device):
    torch.manual_seed(0)
    tt = _noisy(torch.nn.Transformer(8, 2, 2, 2, 16, batch_first=True, dtype=torch.float64)).eval()
    nt = nn.Transformer(8, 2, 2, 2, 16, batch_first=True, dtype=nerve.float64)
    assert list(nt.state_dict()) == list(tt.state_dict())
    bound = math.sqrt(6 / (8 + 16))  # every matrix xavier-uniform
    assert bound * 0.8 < np.abs(to_np(nt.decoder.layers[1].linear1.weight)).max() <= bound
    _load(nt, tt, device).eval()
    r = np.random.default_rng(14)
    src, tgt = _pair(r.standard_normal((2, 6, 8)), device), _pair(r.standard_normal((2, 4, 8)), device)
    m = nn.Transformer.generate_square_subsequent_mask(4, device=device, dtype=nerve.float64)
    mt = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    pad = np.zeros((2, 6), dtype=bool)
    pad[0, -2:] = True
    pn, pt = _pair(pad, device, grad=False)
    yn = nt(src[0], tgt[0], tgt_mask=m, src_key_padding_mask=pn, memory_key_padding_mask=pn, tgt_is_causal=True)
    yt = tt(src[1], tgt[1], tgt_mask=mt, src_key_padding_mask=pt, memory_key_padding_mask=pt, tgt_is_causal=True)
    _close(yn, yt)
    _backward(yn, yt)
    for name, p in tt.named_parameters():
        _close(nt.get_parameter(name).grad, p.grad, msg=name)
    _close(src[0].grad, src[1].grad)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        nt(src[0], nerve.randn(3, 4, 8, dtype=nerve.float64, device=device))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        nt(src[0], nerve.randn(2, 4, 6, dtype=nerve.float64, device=device))


def test_multihead_attention_dropout_applies_to_the_returned_weights():
    m = nn.MultiheadAttention(4, 1, dropout=0.5)
    x = nerve.randn(50, 1, 4)
    _, w = m(x, x, x)
    w = to_np(w)
    assert (w == 0).mean() > 0.3  # torch returns the weights after dropout
    np.testing.assert_allclose(w.sum(-1).mean(), 1.0, atol=0.15)
    m.eval()
    _, w = m(x, x, x)
    np.testing.assert_allclose(to_np(w).sum(-1), 1.0, rtol=1e-5)


def test_encoder_layer_float32_stays_float32_and_matches_torch():
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=True).eval()
    nl = _load(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=True), tl).eval()
    x = np.random.default_rng(15).standard_normal((3, 7, 16)).astype(np.float32)
    pad = np.zeros((3, 7), dtype=bool)
    pad[1, 5:] = True
    causal = np.triu(np.ones((7, 7), dtype=bool), 1)
    xn, xt = _pair(x)
    yn = nl(xn, src_mask=nerve.tensor(causal), src_key_padding_mask=nerve.tensor(pad))
    yt = tl(xt, src_mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(pad))
    assert yn.dtype == nerve.float32
    _close(yn, yt, tol=dict(rtol=1e-4, atol=1e-5))
    _backward(yn, yt)
    assert xn.grad.dtype == nerve.float32 and all(p.grad.dtype == nerve.float32 for p in nl.parameters())
    _close(xn.grad, xt.grad, tol=dict(rtol=1e-4, atol=1e-5))


@pytest.mark.parametrize("mod", [dict(add_bias_kv=True), dict(add_zero_attn=True),
                                 dict(add_bias_kv=True, add_zero_attn=True)])
@pytest.mark.parametrize("L", [1, 4])
def test_multihead_attention_is_causal_hint_with_extra_keys_as_torch(mod, L):
    # without weights or a padding mask torch drops attn_mask for a top-left causal mask over all the keys,
    # the appended bias_k / zero key included
    nm, tm = _mha_pair(embed_dim=8, num_heads=2, **mod)
    x = np.random.default_rng(16).standard_normal((L, 2, 8))
    causal = np.triu(np.ones((L, L), dtype=bool), 1)
    xn, xt = _pair(x)
    yn, _ = nm(xn, xn, xn, attn_mask=nerve.tensor(causal), is_causal=True, need_weights=False)
    yt, _ = tm(xt, xt, xt, attn_mask=torch.tensor(causal), is_causal=True, need_weights=False)
    _close(yn, yt)
    _backward(yn, yt)
    _close(xn.grad, xt.grad)
    for name, p in tm.named_parameters():
        _close(nm.get_parameter(name).grad, p.grad, msg=name)
