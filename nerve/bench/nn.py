"""nn + optim benchmarks: one epoch of the article's model and of a 784-128-10 MLP, PyTorch style."""

from __future__ import annotations

from . import fashion_arrays, interleaved, row, torch_or_none


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


def run(quick: bool = False) -> list[dict]:
    import nerve

    torch = torch_or_none()
    batch = 64
    n = 6400 if quick else 60000
    steps = n // batch
    xs, ys, source = fashion_arrays(n)
    cases = [
        ("article model (Flatten, Linear 784-10), SGD", _article, lambda optim, p: optim.SGD(p, lr=0.5), "goal <= 0.5x"),
        ("MLP 784-128-10, SGD momentum 0.9", _mlp, lambda optim, p: optim.SGD(p, lr=0.05, momentum=0.9), "goal <= 0.6x"),
    ]
    rows = []
    for name, model_fn, opt_fn, goal in cases:
        fns = {"nerve": _epoch(nerve, model_fn, opt_fn, nerve.from_numpy(xs), nerve.from_numpy(ys), steps, batch)}
        if torch:
            fns["torch"] = _epoch(torch, model_fn, opt_fn, torch.from_numpy(xs), torch.from_numpy(ys), steps, batch)
        t = interleaved(fns, repeat=2 if quick else 6)
        rows.append(row(f"{name}, 1 epoch ({n} ex, batch 64)", t["nerve"], t.get("torch"), f"{goal}; {source}"))
    return rows
