"""``nerve info``: what nerve runs on here (version, devices, array libraries, BLAS)."""

from __future__ import annotations

import platform
import sys


def _blas() -> str:
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
    except TypeError:  # numpy < 1.25 only prints
        return "see numpy.show_config()"
    deps = (config or {}).get("Build Dependencies", {})
    parts = []
    for key in ("blas", "lapack"):
        d = deps.get(key) or {}
        if d.get("name"):
            version = d.get("version")
            parts.append(f"{key} {d['name']}" + (f" {version}" if version and version != "unknown" else ""))
    return ", ".join(parts) or "unknown"


def _threads() -> str | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    pools = [f"{p.get('internal_api')} {p.get('num_threads')} threads" for p in threadpool_info()
             if p.get("user_api") == "blas"]
    return ", ".join(pools) or None


def info_lines() -> list[tuple[str, str]]:
    """(label, value) pairs describing this installation."""
    import numpy as np

    import nerve
    from nerve import backend

    rows = [
        ("nerve", f"{nerve.__version__} ({nerve.__file__.rsplit('/', 2)[0]})"),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", f"{platform.platform()}, {platform.machine()}"),
        ("numpy", np.__version__),
        ("blas", _blas()),
    ]
    from nerve._threads import blas_core

    core = blas_core()
    if core:
        rows.append(("blas kernels", core))
    threads = _threads()
    if threads:
        rows.append(("blas threads", threads))
    try:
        cp = backend.cupy_module()
        rows.append(("cupy", cp.__version__))
    except Exception as e:  # not installed, or no usable CUDA
        reason = getattr(backend, "_cupy_error", None) or " ".join(str(e).split())
        rows.append(("cupy", "not installed (pip install 'nerve[gpu]')" if reason.startswith("ModuleNotFoundError")
                     else f"not usable ({reason[:200]})"))
        cp = None
    devices = ["cpu"]
    if cp is not None and nerve.cuda.is_available():
        for i in range(nerve.cuda.device_count()):
            devices.append(f"cuda:{i} {nerve.cuda.get_device_name(i)}")
    rows.append(("cuda available", str(nerve.cuda.is_available())))
    rows.append(("devices", "; ".join(devices)))
    from importlib import metadata

    for name in ("torch", "keras", "matplotlib", "pillow"):  # versions only: importing torch takes seconds
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows


def info_command() -> int:
    """Print the installation facts, one per line."""
    rows = info_lines()
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0
