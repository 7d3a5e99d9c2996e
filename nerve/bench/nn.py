"""nn + optim benchmarks: one epoch of the article's model and of a 784-128-10 MLP, PyTorch style."""

from __future__ import annotations

import importlib

import numpy as np

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


def _numpy_epoch(case, x, y, steps, batch):
    """The same step written by hand in NumPy, in PyTorch's layout (weights (out, in), PyTorch's
    initial distribution): the floor under any engine built on NumPy's products."""
    gen = np.random.default_rng(0)
    dims = (784, 10) if case == "article" else (784, 128, 10)
    params = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1 / np.sqrt(fan_in)
        params += [gen.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                   gen.uniform(-bound, bound, fan_out).astype(np.float32)]
    lr, momentum = (0.5, 0.0) if case == "article" else (0.05, 0.9)
    bufs = [None] * len(params)
    rows = np.arange(batch)
    x = x.reshape(len(x), -1)

    def epoch():
        for i in range(steps):
            xb = x[i * batch:(i + 1) * batch]
            yb = y[i * batch:(i + 1) * batch]
            if case == "article":
                w, b = params
                z = xb @ w.T
                z += b
            else:
                w1, b1, w2, b2 = params
                a = xb @ w1.T
                a += b1
                h = np.maximum(a, 0)
                z = h @ w2.T
                z += b2
            # cross-entropy: log-softmax and the mean of the targets' negative log-probabilities
            z -= z.max(1, keepdims=True)
            e = np.exp(z)
            s = e.sum(1, keepdims=True)
            loss = np.log(s).mean() - z[rows, yb].mean()  # noqa: F841 (computed, as each library does)
            g = e / s
            g[rows, yb] -= 1
            g /= batch
            if case == "article":
                grads = (g.T @ xb, g.sum(0))
            else:
                gh = g @ w2
                gh *= a > 0
                grads = (gh.T @ xb, gh.sum(0), g.T @ h, g.sum(0))
            for j, (p, gp) in enumerate(zip(params, grads)):
                if momentum:
                    if bufs[j] is None:
                        bufs[j] = gp.copy()
                    else:
                        bufs[j] *= momentum
                        bufs[j] += gp
                    gp = bufs[j]
                p -= lr * gp
    return epoch


CASES = {  # name, model, optimizer, goal
    "article": ("article model (Flatten, Linear 784-10), SGD", _article,
                lambda optim, p: optim.SGD(p, lr=0.5), "goal <= 0.5x"),
    "momentum": ("MLP 784-128-10, SGD momentum 0.9", _mlp,
                 lambda optim, p: optim.SGD(p, lr=0.05, momentum=0.9), "goal <= 0.6x"),
}


def epoch_for(case: str, lib: str, quick: bool):
    """One epoch of ``CASES[case]`` on ``lib`` ("nerve", "torch" or "numpy"), for ``bench.isolated``."""
    _, model_fn, opt_fn, _ = CASES[case]
    batch = 64
    n = 6400 if quick else 60000
    xs, ys, _ = fashion_arrays(n)
    if lib == "numpy":
        return _numpy_epoch(case, xs, ys, n // batch, batch)
    mod = importlib.import_module(lib)
    return _epoch(mod, model_fn, opt_fn, mod.from_numpy(xs), mod.from_numpy(ys), n // batch, batch)


def run(quick: bool = False) -> list[dict]:
    torch = torch_or_none()
    n = 6400 if quick else 60000
    source = fashion_arrays(n)[2]
    rows = []
    for case, (name, _, _, goal) in CASES.items():
        # each library in interpreters of its own, taking turns (see bench.isolated)
        t = isolated("nn", case, ["nerve", "numpy"] + (["torch"] if torch else []),
                     rounds=2 if quick else 4, epochs=2 if quick else 3, quick=quick)
        rows.append(row(f"{name}, 1 epoch ({n} ex, batch 64)", t["nerve"], t.get("torch"), f"{goal}; {source}"))
        rows.append(row("  same work in hand-written NumPy (PyTorch's layout)", t["numpy"], t.get("torch"), "the floor"))
    return rows
