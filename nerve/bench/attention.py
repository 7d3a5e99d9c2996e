"""Attention benchmarks: scaled_dot_product_attention and a Transformer encoder layer, forward + backward.

float32 on the CPU; both libraries get the same inputs and weights. The encoder layer runs in
training mode with dropout 0, so PyTorch takes its regular (not the inference fast) path.
"""

from __future__ import annotations

import numpy as np

from . import interleaved, row, torch_or_none


def _sdpa(lib, arrays):
    q, k, v = (lib.tensor(a, requires_grad=True) for a in arrays)
    F = lib.nn.functional

    def run():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
    return run


def _encoder(lib, x, state, d, nhead, ff):
    layer = lib.nn.TransformerEncoderLayer(d, nhead, ff, dropout=0.0, batch_first=True)
    layer.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    xt = lib.tensor(x, requires_grad=True)

    def run():
        layer(xt).sum().backward()
    return run


def _mha(lib, x, state, need_weights):
    m = lib.nn.MultiheadAttention(x.shape[-1], 8, batch_first=True)
    m.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    xt = lib.tensor(x, requires_grad=True)

    def run():
        m(xt, xt, xt, need_weights=need_weights)[0].sum().backward()
    return run


def run(quick: bool = False) -> list[dict]:
    import nerve

    torch = torch_or_none()
    rng = np.random.default_rng(0)
    rows = []
    N, H, L, E = (4, 8, 128, 64) if quick else (8, 8, 256, 64)
    arrays = [rng.standard_normal((N, H, L, E)).astype(np.float32) for _ in range(3)]
    fns = {"nerve": _sdpa(nerve, arrays)}
    if torch:
        fns["torch"] = _sdpa(torch, arrays)
    t = interleaved(fns, repeat=3 if quick else 7)
    rows.append(row(f"sdpa causal fwd+bwd ({N}, {H}, {L}, {E})", t["nerve"], t.get("torch"),
                    "one fused op: the kept probabilities serve backward"))

    x = rng.standard_normal((8 if quick else 16, 128, 256)).astype(np.float32)
    state = {k: v.numpy() for k, v in nerve.nn.MultiheadAttention(256, 8).state_dict().items()}
    for need in (True, False):
        fns = {"nerve": _mha(nerve, x, state, need)}
        if torch:
            fns["torch"] = _mha(torch, x, state, need)
        t = interleaved(fns, repeat=3 if quick else 7)
        rows.append(row(f"MultiheadAttention fwd+bwd (E=256, 8 heads, batch {x.shape[0]}x128), "
                        f"need_weights={need}", t["nerve"], t.get("torch"),
                        "self-attention: one input projection; weights: probabilities op + matmul"))

    d, nhead, ff, S, B = 256, 8, 1024, 64, 16
    ref = nerve.nn.TransformerEncoderLayer(d, nhead, ff, dropout=0.0, batch_first=True)
    state = {k: v.numpy() for k, v in ref.state_dict().items()}
    x = rng.standard_normal((B, S, d)).astype(np.float32)
    fns = {"nerve": _encoder(nerve, x, state, d, nhead, ff)}
    if torch:
        fns["torch"] = _encoder(torch, x, state, d, nhead, ff)
    t = interleaved(fns, repeat=3 if quick else 7)
    rows.append(row(f"TransformerEncoderLayer fwd+bwd (d={d}, {nhead} heads, ff={ff}, batch {B}x{S})",
                    t["nerve"], t.get("torch"), "post-norm, relu, dropout 0"))
    return rows
