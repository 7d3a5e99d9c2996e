"""Recurrent benchmarks: LSTM, GRU and RNN forward + backward over a whole sequence.

float32 on the CPU; both libraries get the same inputs and weights. nerve does the input products
of all steps as one GEMM per layer and direction and runs the time loop as one op with its own
backward through time; PyTorch runs its native CPU kernels.
"""

from __future__ import annotations

import numpy as np

from . import interleaved, row, torch_or_none


def _model(lib, cls, state, x, **kw):
    m = getattr(lib.nn, cls)(x.shape[-1], kw.pop("hidden"), **kw)
    m.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    xt = lib.tensor(x, requires_grad=True)

    def run():
        m(xt)[0].sum().backward()
    return run


def run(quick: bool = False) -> list[dict]:
    import nerve

    torch = torch_or_none()
    rng = np.random.default_rng(0)
    rows = []
    cases = [("LSTM", 50, 32, 64, 128, 2), ("GRU", 50, 32, 64, 128, 2), ("RNN", 50, 32, 64, 128, 2),
             ("LSTM", 100, 8, 16, 32, 1)]
    if not quick:
        cases.append(("LSTM", 100, 64, 128, 256, 2))
    for cls, L, N, I, H, layers in cases:
        x = rng.standard_normal((L, N, I)).astype(np.float32)
        kw = {"hidden": H, "num_layers": layers}
        ref = getattr(nerve.nn, cls)(I, H, num_layers=layers)
        state = {k: v.numpy() for k, v in ref.state_dict().items()}
        fns = {"nerve": _model(nerve, cls, state, x, **dict(kw))}
        if torch:
            fns["torch"] = _model(torch, cls, state, x, **dict(kw))
        t = interleaved(fns, repeat=3 if quick else 7)
        rows.append(row(f"{cls} fwd+bwd (seq {L}, batch {N}, in {I}, hidden {H}, {layers} layer(s))",
                        t["nerve"], t.get("torch"), "input GEMM per layer; time loop one op with its own BPTT"))
    return rows
