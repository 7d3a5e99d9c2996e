"""Optimizer and checkpoint benchmarks: one optimizer step on fixed gradients, save and load.

The step rows time ``optimizer.step()`` alone (gradients preset), so they measure the update's
own cost: in place, with reused work buffers, against PyTorch's default (single-tensor on the CPU).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from . import interleaved, row, torch_or_none

MLP = [(128, 784), (128,), (10, 128), (10,)]
WIDE = [(1024, 1024), (1024,)] * 4


def _stepper(lib, optim_name, kw, shapes, steps):
    rng = np.random.default_rng(0)
    params = [lib.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]
    for p in params:
        p.grad = lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32))
    opt = getattr(lib.optim, optim_name)(params, **kw)

    def run():
        for _ in range(steps):
            opt.step()
    return run


def _checkpoint(lib, shapes, folder):
    rng = np.random.default_rng(1)
    sd = {f"layer{i}.weight": lib.tensor(rng.standard_normal(s).astype(np.float32)) for i, s in enumerate(shapes)}
    path = os.path.join(folder, f"ckpt-{lib.__name__}")

    def run():
        lib.save(sd, path)
        lib.load(path, weights_only=True)
    return run


def run(quick: bool = False) -> list[dict]:
    import nerve

    torch = torch_or_none()
    steps = 20 if quick else 200
    rows = []
    cases = [
        ("SGD momentum 0.9", "SGD", dict(lr=0.01, momentum=0.9)),
        ("Adam", "Adam", dict(lr=1e-3)),
        ("AdamW", "AdamW", dict(lr=1e-3)),
        ("RMSprop", "RMSprop", dict(lr=1e-3)),
    ]
    for shapes, label in ((MLP, "784-128-10 MLP"), (WIDE, "4x 1024x1024 layers")):
        for title, name, kw in cases:
            fns = {"nerve": _stepper(nerve, name, kw, shapes, steps)}
            if torch:
                fns["torch"] = _stepper(torch, name, kw, shapes, steps)
            t = interleaved(fns, repeat=3 if quick else 5)
            rows.append(row(f"{title} step, {label}", t["nerve"] / steps, t["torch"] / steps if torch else None,
                            "one optimizer.step(), gradients preset"))
    with tempfile.TemporaryDirectory() as folder:
        shapes = [(1024, 1024)] * (2 if quick else 16)
        fns = {"nerve": _checkpoint(nerve, shapes, folder)}
        if torch:
            fns["torch"] = _checkpoint(torch, shapes, folder)
        t = interleaved(fns, repeat=2 if quick else 3)
        mb = sum(np.prod(s) for s in shapes) * 4 / 1e6
        rows.append(row(f"save + load a {mb:.0f} MB state dict", t["nerve"], t.get("torch"),
                        "nerve: safetensors layout, fsync'd atomic write; torch: zip/pickle"))
    return rows
