"""nn + optim benchmarks: one epoch of the article's model and of a 784-128-10 MLP, PyTorch style."""

from __future__ import annotations

import importlib

from . import fashion_arrays, isolated, row, torch_or_none


def _epoch(lib, model_fn, opt_fn, x, y, steps, batch):
    lib.manual_seed(0)
    model = model_fn(lib.nn)
    opt = opt_fn(lib.optim, model.parameters())
    loss_fn = lib.nn.CrossEntropyLoss()

    def epoch():
        for i in range(steps):
            xb = x[i * batch:(i + 1) * batch]
            yb = y[i * batch:(i + 1) * batch]
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return epoch


def _article(nn):
    # the article's network without its final Softmax, so both libraries do the same work
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def _mlp(nn):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


CASES = {  # name, model, optimizer, goal
    "article": ("article model (Flatten, Linear 784-10), SGD", _article,
                lambda optim, p: optim.SGD(p, lr=0.5), "goal <= 0.5x"),
    "momentum": ("MLP 784-128-10, SGD momentum 0.9", _mlp,
                 lambda optim, p: optim.SGD(p, lr=0.05, momentum=0.9), "goal <= 0.6x"),
}


def epoch_for(case: str, lib: str, quick: bool):
    """One epoch of ``CASES[case]`` on ``lib`` ("nerve" or "torch"), for ``bench.isolated``."""
    _, model_fn, opt_fn, _ = CASES[case]
    batch = 64
    n = 6400 if quick else 60000
    xs, ys, _ = fashion_arrays(n)
    mod = importlib.import_module(lib)
    return _epoch(mod, model_fn, opt_fn, mod.from_numpy(xs), mod.from_numpy(ys), n // batch, batch)


def run(quick: bool = False) -> list[dict]:
    torch = torch_or_none()
    n = 6400 if quick else 60000
    source = fashion_arrays(n)[2]
    rows = []
    for case, (name, _, _, goal) in CASES.items():
        # each library in interpreters of its own, taking turns (see bench.isolated)
        t = isolated("nn", case, ["nerve"] + (["torch"] if torch else []),
                     rounds=2 if quick else 4, epochs=2 if quick else 3, quick=quick)
        rows.append(row(f"{name}, 1 epoch ({n} ex, batch 64)", t["nerve"], t.get("torch"), f"{goal}; {source}"))
    return rows
