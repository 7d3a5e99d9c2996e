"""CNN benchmarks: a training step of the pytorch/examples MNIST network, and its peak memory.

The network is pytorch/examples' MNIST CNN (Conv2d 1-32-3, ReLU, Conv2d 32-64-3, ReLU, max_pool2d 2,
Dropout, flatten, Linear 9216-128, ReLU, Dropout, Linear 128-10, log_softmax, nll_loss) with its
dropout off (p=0), trained with SGD and momentum at batch 64. Times are per step, each library
in interpreters of its own that take turns (``bench.isolated``; on the GPU, interleaved in one
process). Peak memory is each library's training loop in a fresh
process of its own (its VmHWM high-water mark), so neither pays for the other's imports. With a GPU (or
``NERVE_BENCH_DEVICE=cuda``) the step is also timed on CuPy against PyTorch CUDA, synchronising
before every clock read.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from . import interleaved, isolated, row, torch_or_none

BATCH = 64


def make_net(nn):
    """The pytorch/examples MNIST network for a library's ``nn`` (dropout p=0: off)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.0)
            self.dropout2 = nn.Dropout(0.0)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            F = nn.functional
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = x.flatten(1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def _steps(lib, xs, ys, steps, device="cpu", sync=None):
    lib.manual_seed(0)
    model = make_net(lib.nn).to(device)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    nb = xs.shape[0] // BATCH

    def run():
        for i in range(steps):
            j = i % nb
            out = model(xs[j * BATCH:(j + 1) * BATCH])
            loss = lib.nn.functional.nll_loss(out, ys[j * BATCH:(j + 1) * BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if sync:
            sync()
    return run


def _data(n=BATCH * 8):
    rng = np.random.default_rng(0)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def epoch_for(case: str, lib: str, quick: bool):
    """The CNN's training steps on ``lib`` ("nerve" or "torch"), for ``bench.isolated``."""
    import importlib

    assert case == "steps", case
    mod = importlib.import_module(lib)
    xs, ys = _data()
    return _steps(mod, mod.from_numpy(xs), mod.from_numpy(ys), 3 if quick else 5)


def _cpu_rows(nerve, torch, quick):
    steps = 3 if quick else 5
    # each library in interpreters of its own, taking turns (see bench.isolated): in one process
    # PyTorch's spinning OpenMP threads cost nerve's step after it 2-5 ms (0.99-1.08x against
    # 0.94-0.96x a process each, measured 2026-11-27)
    t = isolated("cnn", "steps", ["nerve"] + (["torch"] if torch else []), rounds=2 if quick else 4,
                 epochs=3 if quick else 5, quick=quick)
    per = {k: v / steps for k, v in t.items()}
    rows = [row("MNIST CNN train step, batch 64, SGD momentum, dropout off (CPU)", per["nerve"], per.get("torch"),
                "goal <= 1.0x")]
    if not quick:
        rows.append(_memory_row(torch is not None))
    return rows


def _gpu_rows(nerve, torch, quick):
    xs, ys = _data()
    steps = 10 if quick else 30
    fns = {"nerve": _steps(nerve, nerve.tensor(xs, device="cuda"), nerve.tensor(ys, device="cuda"), steps,
                           "cuda", nerve.cuda.synchronize)}
    if torch is not None and torch.cuda.is_available():
        fns["torch"] = _steps(torch, torch.tensor(xs, device="cuda"), torch.tensor(ys, device="cuda"), steps,
                              "cuda", torch.cuda.synchronize)
    t = interleaved(fns, repeat=3 if quick else 5, warmup=1)
    per = {k: v / steps for k, v in t.items()}
    return [row("MNIST CNN train step, batch 64, SGD momentum (GPU: CuPy vs PyTorch CUDA)", per["nerve"],
                per.get("torch"), "")]


_CHILD = r"""
import resource, sys
import numpy as np


def peak_kb():
    # VmHWM is this process's own high-water mark; ru_maxrss would carry the parent's over exec
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


lib_name, steps = sys.argv[1], int(sys.argv[2])
if lib_name == "torch":
    import torch as lib
else:
    import nerve as lib
import_kb = peak_kb()
if steps:
    exec(MAKE_NET)
    nn = lib.nn
    lib.manual_seed(0)
    model = make_net(nn)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = lib.from_numpy(rng.random((64, 1, 28, 28), dtype=np.float32))
    y = lib.from_numpy(rng.integers(0, 10, 64))
    for _ in range(steps):
        loss = nn.functional.nll_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
print(import_kb, peak_kb())
"""


def peak_rss_mb(lib_name: str, steps: int = 20) -> tuple[float, float]:
    """(after import, peak) resident memory in MB of a fresh process training ``steps`` steps."""
    import inspect

    src = inspect.getsource(make_net)
    code = f"MAKE_NET = {src!r}\n" + _CHILD
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code, lib_name, str(steps)], capture_output=True, text=True,
                         env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"memory child for {lib_name} failed:\n{out.stderr[-2000:]}")
    imp, peak = (int(v) / 1024 for v in out.stdout.split()[-2:])
    return imp, peak


def _memory_row(with_torch: bool) -> dict:
    n_imp, n_peak = peak_rss_mb("nerve")
    r = row("MNIST CNN training loop, peak RSS (fresh process each)", n_peak, None, "")
    note = f"nerve {n_peak:.0f} MB (import {n_imp:.0f} MB)"
    if with_torch:
        t_imp, t_peak = peak_rss_mb("torch")
        r = row("MNIST CNN training loop, peak RSS (fresh process each)", n_peak, t_peak, "")
        note += f"; torch {t_peak:.0f} MB (import {t_imp:.0f} MB); goal <= 1.5x"
    r["note"] = note
    r["unit"] = "MB"
    return r


def run(quick: bool = False) -> list[dict]:
    import nerve

    torch = torch_or_none()
    if os.environ.get("NERVE_BENCH_DEVICE") == "cuda":  # the GPU check: GPU rows only
        return _gpu_rows(nerve, torch, quick)
    rows = _cpu_rows(nerve, torch, quick)
    if nerve.cuda.is_available():
        rows += _gpu_rows(nerve, torch, quick)
    return rows
