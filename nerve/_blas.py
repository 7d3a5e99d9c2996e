"""BLAS level-1 updates (``axpy``, ``axpby``) for the optimizers' big in-place updates, and for
``Tensor.add_``/``sub_`` with ``alpha`` (:func:`add_scaled`).

An update such as SGD momentum's ``buf = m * buf + g; p -= lr * buf`` is memory-bound: in NumPy
each ufunc is one more pass over the parameter-sized arrays (``m * buf`` written, then ``+= g``,
then ``lr * buf`` into a work array, then ``p -=`` it). OpenBLAS's ``axpby`` (``y = a*x + b*y``)
and ``axpy`` (``y += a*x``) do each of those pairs in one pass. Measured on the 2-core VM on
1M float32 elements: 218 us for the two BLAS calls against 427 us for the four NumPy passes.

Threads: an update of up to ``Optimizer.elementwise``'s split size (131,072 elements) runs on
OpenBLAS's own threads, as the GEMMs of the same training step do; a bigger one is split over
nerve's threads by ``elementwise``, with OpenBLAS on one thread meanwhile
(``_threads.run_chunks``): on OpenBLAS's own threads a 1M-element axpby + axpy took 7.8 ms
instead of 0.2 ms whenever the busy VM descheduled one of them.

Only NumPy's bundled OpenBLAS is used, through its explicitly 64-bit-integer symbols
(``scipy_cblas_saxpy64_`` ...), so the element count never overflows the integer type. Anything
else (another BLAS, a NumPy without those symbols, CuPy arrays, strided arrays, float16) gets
``None`` from :func:`kernels` and takes the optimizer's NumPy code.
"""

from __future__ import annotations

import ctypes

import numpy as np

from . import _threads

# Arrays of at least this many elements are updated with BLAS; smaller ones with NumPy, where the
# ctypes calls cost more than the passes they save. Measured on the 2-core VM (steps of 4 float32
# parameters, SGD momentum / Adam, interleaved): no gain at 131,072 or 200,000 elements, 14% / 13%
# less time at 262,144, 20% / 7% at 1,048,576.
MIN_SIZE = 1 << 18
# SGD's own threshold, lower: inside a training epoch, where the arrays are no longer in cache,
# its two BLAS passes on OpenBLAS's threads beat NumPy's four. The 784-128-10 MLP with SGD
# momentum (a 100,352-element weight) took 0-8% less time an epoch, 4% at the median, over nine
# runs interleaved in one process (on one BLAS thread: 0-5%, and slower when the VM was busy). Adam's update, which keeps NumPy passes between its BLAS calls, took 2% longer
# there in a quiet run and 20% longer in a busy one: it keeps MIN_SIZE.
SGD_MIN_SIZE = 1 << 16

_I64, _P = ctypes.c_int64, ctypes.c_void_p
_kernels: dict | None = None


def _load() -> dict:
    out = {}
    for lib in _threads._blas_libraries():
        for char, dtype, scalar in (("s", np.float32, ctypes.c_float), ("d", np.float64, ctypes.c_double)):
            axpy = getattr(lib, f"scipy_cblas_{char}axpy64_", None)
            axpby = getattr(lib, f"scipy_cblas_{char}axpby64_", None)
            if axpy is None or axpby is None or np.dtype(dtype) in out:
                continue
            axpy.argtypes = (_I64, scalar, _P, _I64, _P, _I64)
            axpy.restype = None
            axpby.argtypes = (_I64, scalar, _P, _I64, scalar, _P, _I64)
            axpby.restype = None
            out[np.dtype(dtype)] = _Kernels(axpy, axpby)
    return out


class _Kernels:
    """``axpy(a, x, y)``: ``y += a * x``; ``axpby(a, x, b, y)``: ``y = a * x + b * y`` (in place).

    The arrays must be C-contiguous NumPy arrays of one size and of the dtype these were found for.
    """

    __slots__ = ("_axpy", "_axpby")

    def __init__(self, axpy, axpby):
        self._axpy, self._axpby = axpy, axpby

    def axpy(self, a: float, x: np.ndarray, y: np.ndarray) -> None:
        self._axpy(y.size, a, x.ctypes.data, 1, y.ctypes.data, 1)

    def axpby(self, a: float, x: np.ndarray, b: float, y: np.ndarray) -> None:
        self._axpby(y.size, a, x.ctypes.data, 1, b, y.ctypes.data, 1)


def kernels(*arrays, min_size: int | None = None) -> _Kernels | None:
    """The BLAS kernels for ``arrays`` (NumPy, C-contiguous, one float32 or float64 dtype, at
    least ``min_size`` elements, ``MIN_SIZE`` by default), or None: then the caller runs its
    NumPy code."""
    global _kernels
    a = arrays[0]
    if type(a) is not np.ndarray or a.size < (MIN_SIZE if min_size is None else min_size):
        return None
    if _kernels is None:
        _kernels = _load()
    k = _kernels.get(a.dtype)
    if k is None:
        return None
    for x in arrays:
        if type(x) is not np.ndarray or x.dtype != a.dtype or x.size != a.size or not x.flags.c_contiguous:
            return None
    return k


def add_scaled(a: float, x, y) -> bool:
    """``y += a * x`` in one pass (``add_``/``sub_`` with ``alpha``), on the threads the optimizers'
    SGD step uses (``_threads.elementwise``). False, and nothing written, where BLAS can not take
    these arrays (``kernels``)."""
    k = kernels(x, y, min_size=SGD_MIN_SIZE)
    if k is None:
        return False
    _threads.elementwise(lambda xs, ys: k.axpy(a, xs, ys), (x, y))
    return True
