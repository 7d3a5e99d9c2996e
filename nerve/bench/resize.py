"""Decoder-side benchmarks: conv_transpose2d, interpolate and group_norm, forward + backward.

float32 on the CPU, the same inputs for both libraries; each timed call runs the op and
backpropagates its sum.
"""

from __future__ import annotations

import numpy as np

from . import interleaved, row, torch_or_none


def _op(lib, fn, arrays):
    ts = [lib.tensor(a, requires_grad=True) for a in arrays]

    def run():
        fn(lib.nn.functional, *ts).sum().backward()
    return run


CASES = [
    ("conv_transpose2d fwd+bwd x(32, 64, 16, 16) w(64, 32, 4, 4) stride 2 pad 1",
     lambda F, x, w, b: F.conv_transpose2d(x, w, b, 2, 1),
     [(32, 64, 16, 16), (64, 32, 4, 4), (32,)], "im2col pieces of conv.py, chunks of images on worker threads"),
    ("conv_transpose2d fwd+bwd x(16, 32, 32, 32) w(32, 16, 3, 3) stride 2 pad 1 out_pad 1",
     lambda F, x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1),
     [(16, 32, 32, 32), (32, 16, 3, 3), (16,)], ""),
    ("interpolate bilinear x2 fwd+bwd (32, 64, 32, 32)",
     lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear"),
     [(32, 64, 32, 32)], "one weight matrix per axis"),
    ("interpolate nearest x2 fwd+bwd (32, 64, 32, 32)",
     lambda F, x: F.interpolate(x, scale_factor=2),
     [(32, 64, 32, 32)], "gather forward, one-hot matrix backward"),
    ("group_norm 8 groups fwd+bwd (32, 64, 32, 32)",
     lambda F, x, w, b: F.group_norm(x, 8, w, b),
     [(32, 64, 32, 32), (64,), (64,)], ""),
]


def run(quick: bool = False) -> list[dict]:
    import nerve

    torch = torch_or_none()
    rng = np.random.default_rng(0)
    rows = []
    for name, fn, shapes, note in CASES:
        if quick:  # a quarter of the batch; the parameters keep their shapes
            shapes = [(shapes[0][0] // 4,) + shapes[0][1:]] + shapes[1:]
        arrays = [(rng.standard_normal(s) * (0.1 if i else 1)).astype(np.float32) for i, s in enumerate(shapes)]
        fns = {"nerve": _op(nerve, fn, arrays)}
        if torch:
            fns["torch"] = _op(torch, fn, arrays)
        t = interleaved(fns, repeat=3 if quick else 7)
        rows.append(row(name + (" (quick: batch / 4)" if quick else ""), t["nerve"], t.get("torch"), note))
    return rows
