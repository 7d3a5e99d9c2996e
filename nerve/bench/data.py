"""Data-loading benchmarks.

- One epoch of ``DataLoader(FashionMNIST(root, download=True, transform=ToTensor()), batch_size=64,
  shuffle=True)`` against PyTorch's ``DataLoader`` over a ``TensorDataset`` of the same float32
  arrays (nerve serves each batch with one fancy index and one NumPy division; PyTorch indexes
  and stacks example by example). Goal: nerve at least 5x faster (ratio <= 0.2).
- An ``ImageFolder`` of generated 64x64 JPEGs through ``Resize + CenterCrop + ToTensor``,
  ``num_workers=2`` against ``num_workers=0`` (goal: at least 1.3x faster with 2 workers).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from . import interleaved, row, torch_or_none


def _fashion_rows(quick: bool) -> list[dict]:
    from ..utils.data import DataLoader
    from ..vision import datasets, transforms

    root = tempfile.mkdtemp(prefix="nerve-bench-fashion-")
    try:
        try:
            ds = datasets.FashionMNIST(root, train=not quick, download=True, transform=transforms.ToTensor())
        except Exception as e:  # no local copy and no network
            return [row("data: FashionMNIST epoch, bs 64, shuffle", float("nan"), None, f"skipped: {e}".splitlines()[0])]
        loader = DataLoader(ds, batch_size=64, shuffle=True)

        def nerve_epoch():
            for x, y in loader:
                pass

        fns = {"nerve": nerve_epoch}
        torch = torch_or_none()
        if torch is not None:
            x = torch.from_numpy(ds.data.numpy().astype(np.float32)[:, None] / np.float32(255))
            y = torch.from_numpy(ds.targets.numpy())
            tl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)

            def torch_epoch():
                for xb, yb in tl:
                    pass

            fns["torch"] = torch_epoch
        t = interleaved(fns, repeat=3 if quick else 5, warmup=1)
        n = len(ds)
        return [row(f"data: FashionMNIST epoch ({n} images), bs 64, shuffle, ToTensor", t["nerve"], t.get("torch"),
                    "torch: DataLoader(TensorDataset) of the same float32 arrays; goal ratio <= 0.2")]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _make_jpegs(root: str, n: int, size: int = 64, classes: int = 4) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        folder = os.path.join(root, f"class{i % classes}")
        os.makedirs(folder, exist_ok=True)
        f = rng.uniform(0.02, 0.2, 3)
        img = (127 + 120 * np.sin(xx[..., None] * f + yy[..., None] * f[::-1] + rng.uniform(0, 6, 3)))
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def _spin(n: int = 2_000_000) -> int:
    s = 0
    for k in range(n):
        s += k
    return s


def _parallel_ceiling() -> float:
    """How much faster two processes finish two units of pure-Python work than one process does, here
    and now: the most any 2-worker loader can gain on this machine (about 2 on two idle cores)."""
    import multiprocessing
    import time

    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    if ctx is None:
        return float("nan")
    t0 = time.perf_counter()
    _spin()
    _spin()
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    procs = [ctx.Process(target=_spin) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return serial / (time.perf_counter() - t0)


def _folder_rows(quick: bool) -> list[dict]:
    from ..utils.data import DataLoader
    from ..vision import datasets, transforms

    n = 400 if quick else 2000
    root = tempfile.mkdtemp(prefix="nerve-bench-jpegs-")
    try:
        _make_jpegs(root, n)
        tf = transforms.Compose([transforms.Resize(56), transforms.CenterCrop(48), transforms.ToTensor()])
        ds = datasets.ImageFolder(root, transform=tf)

        def epoch(workers):
            def run():
                for x, y in DataLoader(ds, batch_size=32, shuffle=False, num_workers=workers):
                    pass
            return run

        ceiling_before = _parallel_ceiling()
        t = interleaved({"w0": epoch(0), "w2": epoch(2)}, repeat=3, warmup=1)
        ceiling = (ceiling_before + _parallel_ceiling()) / 2
        speed = t["w0"] / t["w2"]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        return [row(f"data: ImageFolder {n} JPEGs 64x64, Resize+CenterCrop+ToTensor, num_workers=2", t["w2"], None,
                    f"num_workers=0: {t['w0']:.3f} s; workers speed-up {speed:.2f}x (goal >= 1.3x); "
                    f"this machine's 2-process ceiling now: {ceiling:.2f}x ({os.cpu_count()} cores, load {load:.1f})")]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(quick: bool = False) -> list[dict]:
    """The data benchmarks' rows."""
    return _fashion_rows(quick) + _folder_rows(quick)


if __name__ == "__main__":
    from . import format_table

    print(format_table(run(quick=False)))
