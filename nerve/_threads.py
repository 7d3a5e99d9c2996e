"""Threads of NumPy's BLAS: ``nerve.set_num_threads`` / ``get_num_threads`` as in PyTorch.

NumPy's matrix products run on the BLAS library its wheel bundles (OpenBLAS); that library
has its own thread pool. We find it among the loaded shared libraries and call its setter.
"""

from __future__ import annotations

import ctypes
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads", "MKL_Set_Num_Threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads", "MKL_Get_Max_Threads")


def _blas_libraries() -> list:
    import numpy  # noqa: F401  (loads the BLAS)

    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(" ", 1)[-1].strip()
                name = os.path.basename(path).lower()
                if path.startswith("/") and ("openblas" in name or "libmkl_rt" in name) and path not in paths:
                    paths.append(path)
    except OSError:
        return []
    libs = []
    for p in paths:
        try:
            libs.append(ctypes.CDLL(p))
        except OSError:
            pass
    return libs


def _find(lib, names):
    for n in names:
        fn = getattr(lib, n, None)
        if fn is not None:
            return fn
    return None


def set_num_threads(n: int) -> None:
    """Set how many threads NumPy's BLAS uses for matrix products (as ``torch.set_num_threads``).

    Args:
        n: a positive number of threads.
    """
    if int(n) < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n}")
    for lib in _blas_libraries():
        fn = _find(lib, _SETTERS)
        if fn is not None:
            fn(ctypes.c_int(int(n)))


def get_num_threads() -> int:
    """How many threads NumPy's BLAS uses (the CPU count when it cannot be asked)."""
    for lib in _blas_libraries():
        fn = _find(lib, _GETTERS)
        if fn is not None:
            fn.restype = ctypes.c_int
            return int(fn())
    return os.cpu_count() or 1
