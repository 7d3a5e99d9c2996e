"""nerve's benchmark suite: each benchmark times nerve and PyTorch side by side in one run.

Run it with ``nerve bench`` or ``python -m nerve.bench [--quick] [--only NAME ...]``. Each module
here has ``run(quick: bool) -> list[dict]`` returning rows ``{"name", "nerve_s", "torch_s",
"ratio", "note"}``; ratio is nerve's time over PyTorch's (below 1 means nerve is faster).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

SUITES = ["engine", "nn", "data", "cnn", "keras", "optim", "attention", "resize", "rnn"]


def timeit(fn, repeat: int = 5, warmup: int = 1, sync=None) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs (seconds)."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(fns: dict, repeat: int = 5, warmup: int = 1) -> dict:
    """Median times of several functions run in turns, so machine noise hits them alike.

    The order turns by one every round (A B C, B C A, C A B, ...), so no function always runs
    right after the same other one (one library's idle threads or cache state would otherwise
    always fall on the same neighbour).
    """
    for _ in range(warmup):
        for f in fns.values():
            f()
    names = list(fns)
    times: dict = {k: [] for k in fns}
    for r in range(repeat):
        s = r % len(names)
        for k in names[s:] + names[:s]:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def isolated(suite: str, case: str, libs: list, rounds: int = 3, epochs: int = 3, quick: bool = False) -> dict:
    """Times of one benchmark, each library in fresh interpreters that take turns.

    ``nerve.bench.<suite>.epoch_for(case, lib, quick)`` builds the timed function in each
    interpreter (``lib`` is "nerve", "torch" or "numpy"); it runs once untimed, then ``epochs``
    times; the libraries take turns ``rounds`` times (the order turning each round). The result
    for each library is its best interpreter's median: the shared VM has minutes when its two
    cores run at about half speed (two-thread products wait), and one interpreter may fall into
    them while the other library's does not.

    Why not one process: measured on the 2-core VM, PyTorch's epoch of the raw-op MLP took 440 ms
    in a process of its own, and 500-540 ms in most processes where nerve's and NumPy's epochs
    had been built too (440-470 ms when PyTorch's model was built first), while nerve's took the
    same either way. Pauses between the runs (so no library's idle threads still spin) did not
    change it; the cause was not found. A script a user runs has one library in it.
    """
    times: dict = {k: [] for k in libs}
    for r in range(rounds):
        s = r % len(libs)
        for lib in libs[s:] + libs[:s]:
            cmd = [sys.executable, "-m", "nerve.bench._isolated", suite, case, lib, str(epochs), str(int(quick))]
            done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            if done.returncode:
                raise RuntimeError(f"benchmark {suite}.{case} on {lib} failed:\n{done.stderr[-2000:]}")
            times[lib].append(statistics.median(json.loads(done.stdout.strip().splitlines()[-1])))
    return {k: min(v) for k, v in times.items()}


def fashion_arrays(n: int):
    """``(x, y, source)``: the first ``n`` Fashion-MNIST training images as float32 in [0, 1],
    shape (n, 1, 28, 28), and their int64 labels, read from Debian's ``dataset-fashion-mnist``.

    Without that package, a learnable stand-in of the same shapes: uniform pixels labelled by a
    fixed random linear teacher. (Random labels would make the training steps diverge, which
    changes what the steps cost and is no training anyone runs.)
    """
    import os

    import numpy as np

    from ..vision.datasets.download import DEBIAN_FASHION_MNIST
    from ..vision.datasets.idx import read_idx

    images = os.path.join(DEBIAN_FASHION_MNIST, "train-images-idx3-ubyte.gz")
    labels = os.path.join(DEBIAN_FASHION_MNIST, "train-labels-idx1-ubyte.gz")
    if os.path.exists(images) and os.path.exists(labels):
        x = read_idx(images)[:n].astype(np.float32) / 255.0
        y = read_idx(labels)[:n].astype(np.int64)
        if len(x) == n:
            return x.reshape(n, 1, 28, 28), y, "Fashion-MNIST"
    rng = np.random.default_rng(1)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    teacher = rng.standard_normal((784, 10)).astype(np.float32)
    y = ((x.reshape(n, 784) - 0.5) @ teacher).argmax(1).astype(np.int64)  # about 10% per class
    return x, y, "synthetic (no Fashion-MNIST found)"


def row(name: str, nerve_s: float, torch_s: float | None, note: str = "") -> dict:
    """One result row; ratio = nerve / torch."""
    return {
        "name": name,
        "nerve_s": nerve_s,
        "torch_s": torch_s,
        "ratio": (nerve_s / torch_s) if torch_s else None,
        "note": note,
    }


def torch_or_none():
    """PyTorch if installed (benchmarks compare against it), else None."""
    try:
        import torch

        return torch
    except ImportError:
        return None


def machine() -> str:
    """CPU, cores, Python, NumPy and BLAS: the line every figure is reported with."""
    import os
    import platform

    import numpy as np

    cpu = platform.processor() or platform.machine()
    info: dict = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "flags") and key not in info:
                    info[key] = value.strip()
                if not line.strip():  # the first processor's block is enough
                    break
    except OSError:
        pass
    cpu = info.get("model name", cpu)
    # a name such as "AMD EPYC" covers generations whose kernels differ (AVX-512 or not): the
    # family, model and vector width say which one the figures come from
    detail = [f"family {info['cpu family']} model {info['model']}"] if "cpu family" in info and "model" in info else []
    if "avx512f" in info.get("flags", "").split():
        detail.append("AVX-512")
    if detail:
        cpu += f" ({', '.join(detail)})"
    blas = "unknown BLAS"
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name')} {b.get('version')}"
    except Exception:
        pass
    from .._threads import blas_core

    core = blas_core()
    if core:
        blas += f", {core} kernels"
    torch = torch_or_none()
    tv = f", torch {torch.__version__}" if torch else ""
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__} ({blas}){tv}")


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    out = ["| benchmark | nerve | PyTorch | nerve / PyTorch | note |", "|---|---|---|---|---|"]
    for r in rows:
        def fmt(s):
            if s is None:
                return "-"
            if r.get("unit"):  # rows that measure something other than time (memory: "MB")
                return f"{s:.0f} {r['unit']}"
            if s < 1e-3:
                return f"{s * 1e6:.1f} us"
            return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "-"
        out.append(f"| {r['name']} | {fmt(r['nerve_s'])} | {fmt(r['torch_s'])} | {ratio} | {r.get('note', '')} |")
    return "\n".join(out)
