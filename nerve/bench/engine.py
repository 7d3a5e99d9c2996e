"""Engine benchmarks: a raw-tensor-op MLP epoch, the overhead of one small op, and import time."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np

from . import fashion_arrays, interleaved, isolated, row, torch_or_none


def _mlp_epoch(lib, x, y, steps, batch, dev=None, sync=None, dims=(784, 128, 10)):
    """One pass of a 784-128-10 MLP written with raw ops: x @ W1 + b1, relu, @ W2 + b2, log-softmax, NLL."""
    gen = np.random.default_rng(0)
    kw = {"device": dev} if dev else {}
    d_in, d_hidden, d_out = dims
    w1 = lib.tensor(gen.standard_normal((d_in, d_hidden)).astype(np.float32) * 0.05, requires_grad=True, **kw)
    b1 = lib.zeros(d_hidden, requires_grad=True, **kw)
    w2 = lib.tensor(gen.standard_normal((d_hidden, d_out)).astype(np.float32) * 0.05, requires_grad=True, **kw)
    b2 = lib.zeros(d_out, requires_grad=True, **kw)
    params = [w1, b1, w2, b2]
    rows = lib.arange(batch, **kw)

    def epoch():
        for i in range(steps):
            xb = x[i * batch:(i + 1) * batch]
            yb = y[i * batch:(i + 1) * batch]
            h = (xb @ w1 + b1).relu()
            z = h @ w2 + b2
            logp = z - z.logsumexp(dim=1, keepdim=True)
            loss = -logp[rows, yb].mean()
            loss.backward()
            with lib.no_grad():
                for p in params:
                    p -= 0.1 * p.grad
                    p.grad = None
        if sync:
            sync()
    return epoch


def _numpy_epoch(x, y, steps, batch, dims=(784, 128, 10)):
    """The same work written by hand in NumPy (the floor the engine's overhead sits on)."""
    gen = np.random.default_rng(0)
    d_in, d_hidden, d_out = dims
    w1 = gen.standard_normal((d_in, d_hidden)).astype(np.float32) * 0.05
    b1 = np.zeros(d_hidden, np.float32)
    w2 = gen.standard_normal((d_hidden, d_out)).astype(np.float32) * 0.05
    b2 = np.zeros(d_out, np.float32)
    rows = np.arange(batch)

    def epoch():
        for i in range(steps):
            xb = x[i * batch:(i + 1) * batch]
            yb = y[i * batch:(i + 1) * batch]
            a = xb @ w1 + b1
            mask = a > 0
            h = a * mask
            z = h @ w2 + b2
            m = z.max(1, keepdims=True)
            e = np.exp(z - m)
            s = e.sum(1, keepdims=True)
            p = e / s
            g = p
            g[rows, yb] -= 1
            g /= batch
            gw2 = h.T @ g
            gb2 = g.sum(0)
            gh = (g @ w2.T) * mask
            gw1 = xb.T @ gh
            gb1 = gh.sum(0)
            for w, gw in ((w1, gw1), (b1, gb1), (w2, gw2), (b2, gb2)):
                w -= np.float32(0.1) * gw
    return epoch


def epoch_for(case: str, lib: str, quick: bool):
    """The timed function of ``case`` for ``lib`` ("nerve", "torch" or "numpy"), for
    ``bench.isolated``: one epoch of the raw-op MLP."""
    assert case == "raw_mlp", case
    batch = 64
    n = 6400 if quick else 60000
    xs, ys, _ = fashion_arrays(n)
    xs = xs.reshape(n, 784)
    if lib == "numpy":
        return _numpy_epoch(xs, ys, n // batch, batch)
    mod = importlib.import_module(lib)
    return _mlp_epoch(mod, mod.from_numpy(xs), mod.from_numpy(ys), n // batch, batch)


def run(quick: bool = False) -> list[dict]:
    import os

    import nerve

    torch = torch_or_none()
    if os.environ.get("NERVE_BENCH_DEVICE") == "cuda":  # the GPU check: GPU rows only
        return _gpu_rows(nerve, torch, quick)
    n = 6400 if quick else 60000
    source = fashion_arrays(n)[2]
    rng = np.random.default_rng(1)
    # each library in interpreters of its own, taking turns (see bench.isolated)
    t = isolated("engine", "raw_mlp", ["nerve", "numpy"] + (["torch"] if torch else []),
                 rounds=2 if quick else 4, epochs=2 if quick else 3, quick=quick)
    ts = t.get("torch")
    rows = [
        row(f"MLP 784-128-10 raw ops, 1 epoch ({n} ex, batch 64)", t["nerve"], ts, f"goal <= 0.6x; {source}"),
        row("  same work in hand-written NumPy", t["numpy"], ts, "the floor"),
    ]

    # the engine's own cost: the same step with matrices too small for the products to matter,
    # on one thread (steadier than the epoch on a shared machine: it moves by well under 1 us)
    rows.append(_overhead_row(nerve, torch))

    # overhead of one small op
    a_np = rng.random((64, 128), dtype=np.float32)
    na, nb = nerve.from_numpy(a_np), nerve.from_numpy(a_np.copy())
    reps = 2000

    def loop(a, b):
        def f():
            for _ in range(reps):
                a + b
        return f

    small = {"nerve": loop(na, nb)}
    if torch:
        small["torch"] = loop(torch.from_numpy(a_np), torch.from_numpy(a_np.copy()))
    small["numpy"] = loop(a_np, a_np.copy())
    t2 = interleaved(small, repeat=5)
    rows.append(row("one small op (64x128 add), per call", t2["nerve"] / reps,
                    t2["torch"] / reps if torch else None, f"numpy {t2['numpy'] / reps * 1e6:.1f} us"))

    # start-up: import time in fresh interpreters
    rows.append(_import_row(torch is not None))
    if nerve.cuda.is_available():
        rows += _gpu_rows(nerve, torch, quick)
    return rows


def _overhead_row(nerve, torch) -> dict:
    """The raw-op MLP step with 64x16 inputs and a 16-unit hidden layer, one BLAS/torch thread: what
    nerve's engine adds over hand-written NumPy, where the big benchmark's products do not hide it."""
    dims, steps, batch = (16, 16, 10), 200, 64
    rng = np.random.default_rng(2)
    xs = rng.random((steps * batch, dims[0]), dtype=np.float32)
    ys = rng.integers(0, dims[2], steps * batch)
    fns = {"nerve": _mlp_epoch(nerve, nerve.from_numpy(xs), nerve.from_numpy(ys), steps, batch, dims=dims),
           "numpy": _numpy_epoch(xs, ys, steps, batch, dims=dims)}
    if torch:
        fns["torch"] = _mlp_epoch(torch, torch.from_numpy(xs), torch.from_numpy(ys), steps, batch, dims=dims)
    before = nerve.get_num_threads(), (torch.get_num_threads() if torch else None)
    nerve.set_num_threads(1)
    if torch:
        torch.set_num_threads(1)
    try:
        t = {k: v / steps for k, v in interleaved(fns, repeat=7).items()}
    finally:
        nerve.set_num_threads(before[0])
        if torch:
            torch.set_num_threads(before[1])
    return row("raw-op MLP step, 64x16 @ 16x16 (the engine's own cost), one thread", t["nerve"], t.get("torch"),
               f"hand NumPy {t['numpy'] * 1e6:.1f} us")


def _import_times(modules, repeat: int = 5) -> dict:
    """``{module: median seconds of `import module` in a fresh interpreter}``, the modules' runs
    interleaved (the order turns every round) so that a slow moment of the machine does not fall
    on one of them only."""
    import os

    # as an installed package runs: with its bytecode cached (pip compiles it on install)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def once(module):
        code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        return float(out.stdout.strip())

    for m in modules:  # warm the file cache and write the bytecode
        once(m)
    times = {m: [] for m in modules}
    for r in range(repeat):
        for m in modules[r % len(modules):] + modules[:r % len(modules)]:
            times[m].append(once(m))
    return {m: sorted(v)[len(v) // 2] for m, v in times.items()}


def _import_row(have_torch: bool) -> dict:
    t = _import_times(["numpy", "nerve"], repeat=7)
    t_np, t_nerve = t["numpy"], t["nerve"]
    t_torch = _import_times(["torch"], 3)["torch"] if have_torch else None
    note = f"import numpy {t_np * 1e3:.0f} ms; nerve/numpy {t_nerve / t_np:.2f}x (goal <= 1.5x)"
    return row("import time", t_nerve, t_torch, note)


def _gpu_rows(nerve, torch, quick):
    batch, n = 64, (6400 if quick else 60000)
    steps = n // batch
    xs, ys, _ = fashion_arrays(n)  # the data the CPU rows train on
    xs = xs.reshape(n, 784)
    rng = np.random.default_rng(1)
    fns = {}
    xn, yn = nerve.tensor(xs, device="cuda"), nerve.tensor(ys, device="cuda")
    fns["nerve"] = _mlp_epoch(nerve, xn, yn, steps, batch, dev="cuda", sync=nerve.cuda.synchronize)
    if torch is not None and torch.cuda.is_available():
        xt, yt = torch.tensor(xs, device="cuda"), torch.tensor(ys, device="cuda")
        fns["torch"] = _mlp_epoch(torch, xt, yt, steps, batch, dev="cuda", sync=torch.cuda.synchronize)
    t = interleaved(fns, repeat=3)
    rows = [row(f"GPU: MLP raw ops, 1 epoch ({n} ex, batch 64)", t["nerve"], t.get("torch"), "CuPy vs torch CUDA")]
    a = rng.random((64, 128), dtype=np.float32)
    reps = 2000

    def loop(x, y, sync):
        def f():
            for _ in range(reps):
                x + y
            sync()
        return f

    small = {"nerve": loop(nerve.tensor(a, device="cuda"), nerve.tensor(a, device="cuda"), nerve.cuda.synchronize)}
    if torch is not None and torch.cuda.is_available():
        small["torch"] = loop(torch.tensor(a, device="cuda"), torch.tensor(a, device="cuda"), torch.cuda.synchronize)
    t2 = interleaved(small, repeat=5)
    rows.append(row("GPU: one small op (64x128 add), per call", t2["nerve"] / reps,
                    t2["torch"] / reps if "torch" in t2 else None, "launch overhead"))
    return rows
