"""Threads: ``nerve.set_num_threads`` / ``get_num_threads`` as in PyTorch, and nerve's own pool.

NumPy's matrix products run on the BLAS library its wheel bundles (OpenBLAS); that library
has its own thread pool. We find it among the loaded shared libraries and call its setter.

nerve splits its big CPU work itself (convolutions and pooling by images, big ReLUs, the largest
GEMMs by rows) over a pool of its own threads, as many as BLAS would use, with BLAS on one thread
meanwhile. OpenBLAS's idle threads spin for about 0.1 s after every multithreaded call, and on a
busy machine a call waits for a descheduled thread: measured on the shared 2-core VM, a
convolution's forward + backward took 1.6 s with 2 BLAS threads against 0.12 s with one. Python
threads that wait sleep, and NumPy releases the GIL in its GEMMs and copies. BLAS's own setting
is put back after every op, so the user's NumPy code is untouched.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads", "MKL_Set_Num_Threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads", "MKL_Get_Max_Threads")


def _blas_libraries() -> list:
    paths = []  # NumPy, imported above, has loaded its BLAS
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
    get = blas()[0]
    return int(get()) if get is not None else os.cpu_count() or 1


# ---------------------------------------------------------------- nerve's worker pool

WORKERS: int | None = None  # threads for nerve's CPU work; None: as many as BLAS uses
_blas_fns = None  # (get, set) of the BLAS thread count, found once
_executor = None  # (pid, threads, ThreadPoolExecutor)
_lock = threading.Lock()
_POOL_PREFIX = "nerve-worker"


def blas():
    """``(get, set)``: ctypes functions of the BLAS thread count, or ``(None, None)``."""
    global _blas_fns
    if _blas_fns is None:
        fns = (None, None)
        for lib in _blas_libraries():
            get, put = _find(lib, _GETTERS), _find(lib, _SETTERS)
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                fns = (get, put)
                break
        _blas_fns = fns
    return _blas_fns


def blas_core() -> str | None:
    """The CPU kernels OpenBLAS picked at run time (``Haswell``, ``SkylakeX``, ``Zen``...), or None
    (another BLAS). Figures from two machines that share a CPU name can differ by the kernels."""
    names = ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
             "openblas_get_corename")
    for lib in _blas_libraries():
        fn = _find(lib, names)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            name = fn()
            return name.decode() if name else None
    return None


# An elementwise update of at least this many elements (an optimizer's step of a big parameter,
# ``add_`` with ``alpha``) runs in blocks on nerve's threads, with BLAS on one thread.
ELEMENTWISE_SPLIT = 1 << 17


def workers() -> int:
    """How many threads nerve's CPU work runs on: ``WORKERS``, else BLAS's thread count."""
    if WORKERS is not None:
        return max(1, int(WORKERS))
    get = blas()[0]
    return max(1, int(get())) if get is not None else 1


def in_worker() -> bool:
    return threading.current_thread().name.startswith(_POOL_PREFIX)


def blocks(n: int, parts: int) -> list:
    """At most ``parts`` contiguous ranges ``(start, stop)`` of equal length covering ``range(n)``."""
    step = max(1, -(-n // max(1, min(parts, n))))
    return [(i, min(n, i + step)) for i in range(0, n, step)]


def _on_one_blas_thread(call):
    """``call()`` with BLAS on one thread, its own setting put back afterwards."""
    get, put = blas()
    if put is None:
        return call()
    before = int(get())
    if before == 1:
        return call()
    put(ctypes.c_int(1))
    try:
        return call()
    finally:
        put(ctypes.c_int(before))


def run_chunks(n_workers: int, fn, chunks) -> list:
    """``[fn(a, b) for a, b in chunks]``, on ``n_workers`` threads of one BLAS thread each.

    While the interpreter shuts down (an ``atexit`` handler, a ``__del__``) no thread can start
    and no pool takes work: the chunks not handed out run here, one after the other.
    """
    if n_workers < 2 or len(chunks) < 2 or in_worker():
        return [fn(a, b) for a, b in chunks]
    global _executor
    try:
        with _lock:
            if _executor is None or _executor[:2] != (os.getpid(), n_workers):  # new after a fork
                from concurrent.futures import ThreadPoolExecutor  # (imported here: 8 ms of logging and queues)

                _executor = (os.getpid(), n_workers,
                             ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix=_POOL_PREFIX))
            pool = _executor[2]
    except RuntimeError:  # "can't register atexit after shutdown"
        return [fn(a, b) for a, b in chunks]

    def call():
        futures = []
        try:
            for a, b in chunks:
                futures.append(pool.submit(fn, a, b))
        except RuntimeError:  # "cannot schedule new futures after shutdown"
            pass
        rest = [fn(a, b) for a, b in chunks[len(futures):]]
        return [f.result() for f in futures] + rest

    return _on_one_blas_thread(call)



def elementwise(body, arrays, *args) -> None:
    """``body(*arrays, *args)``, where ``body`` updates NumPy ``arrays`` (of one shape; None allowed)
    element by element (ufuncs with ``out=``, BLAS level-1 calls). From ``ELEMENTWISE_SPLIT``
    elements it runs on blocks of the flattened arrays over nerve's threads: NumPy and BLAS let go
    of the GIL, and such an update is memory-bound (PyTorch spreads its own over its threads too).
    """
    n = arrays[0].size
    w = workers() if n >= ELEMENTWISE_SPLIT else 1
    if w < 2 or in_worker() or not all(a is None or a.flags.c_contiguous for a in arrays):
        body(*arrays, *args)
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]  # views: each is contiguous
    run_chunks(w, lambda i, j: body(*(None if f is None else f[i:j] for f in flat), *args), blocks(n, w))

# A product of at least this many multiply-adds is split over nerve's threads; a smaller one is
# left to BLAS as it is set. Measured on the 2-core VM: a (64, 9216) @ (9216, 128) product took
# 1.6 ms split against 2.3 ms on BLAS's 2 threads, while for (64, 784) @ (784, 128) handing work
# to a thread cost more than it saved (0.35 ms split, 0.18 ms on BLAS's threads).
_SPLIT_MACS = 50_000_000
# A product smaller than this runs on one BLAS thread: BLAS's threads gain little there, and on
# a busy machine a call that waits for a descheduled BLAS thread stalls (a (128, 1600) @ (1600, 10)
# product in the keras convnet took 32 ms with 2 BLAS threads against 0.3 ms with one).
_SINGLE_MACS = 4_000_000
# Below this OpenBLAS itself runs one thread (it gives a product one thread per 262,144
# multiply-adds): asking it for one thread would only cost the two calls that set it.
_BLAS_SINGLE_MACS = 524_288
# A product whose inner dimension is this many times its larger outer one is split along it.
_SPLIT_K_RATIO = 8


def gemm(a, b):
    """``a @ b`` for 2-D NumPy arrays: a small product on one BLAS thread, a middle one on BLAS
    as it is set, a big one split over nerve's threads: by rows of ``a`` (each row block one
    single-threaded BLAS call writing its slice of the result), or, when the inner dimension is
    long and the result small, along the inner dimension (partial products added)."""
    m, k = a.shape
    n = b.shape[1]
    macs = m * k * n
    if macs < _BLAS_SINGLE_MACS:
        return a @ b
    if macs < _SINGLE_MACS:
        return _on_one_blas_thread(lambda: a @ b)
    if macs < _SPLIT_MACS or in_worker():
        return a @ b
    w = workers()
    if w < 2:
        return a @ b
    if k >= _SPLIT_K_RATIO * max(m, n):
        # a long inner dimension, as fc1's (64, 9216) @ (9216, 128): each thread multiplies a slice of
        # it and the (m, n) partial products are added. Measured on the 2-core Zen 4 VM: 1.14 ms
        # against 1.46 ms split by rows (each thread read all of b) and 1.59 ms on BLAS's 2 threads.
        parts = run_chunks(w, lambda k0, k1: a[:, k0:k1] @ b[k0:k1], blocks(k, w))
        out = parts[0]
        for p in parts[1:]:
            out += p
        return out
    if m < 16:
        return a @ b
    out = np.empty((m, n), dtype=np.result_type(a, b))

    def part(i0, i1):
        np.matmul(a[i0:i1], b, out=out[i0:i1])

    run_chunks(w, part, blocks(m, w))
    return out
