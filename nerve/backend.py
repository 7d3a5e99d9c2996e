"""Array backends and devices: NumPy on the CPU, CuPy on the GPU.

This is the only module in nerve that imports CuPy. Everything else asks a
device for its array module (``device.xp``) and writes code once for both.
"""

from __future__ import annotations

import importlib
import math
import weakref
from typing import Any

import numpy as np

_cupy: Any = None
_cupy_error: str | None = None


def cupy_module():
    """Return the ``cupy`` module, importing it on first use.

    Raises:
        RuntimeError: CuPy is not installed or no GPU can be used.
    """
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            cp = importlib.import_module("cupy")
            if cp.cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError("no CUDA device found")
            _cupy = cp
        except Exception as e:  # ImportError, CUDA driver errors
            _cupy_error = f"{type(e).__name__}: {e}"
    if _cupy is None:
        raise RuntimeError(
            "CUDA is not available: nerve runs on the GPU through CuPy "
            "(pip install 'nerve[gpu]' or a cupy-cudaXXx wheel matching your CUDA). "
            f"Reason: {_cupy_error}"
        )
    return _cupy


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        cupy_module()
        return True
    except RuntimeError:
        return False


def cuda_device_count() -> int:
    """Number of GPUs CuPy can see (0 without CuPy)."""
    return cupy_module().cuda.runtime.getDeviceCount() if cuda_available() else 0


class device:
    """Where a tensor lives: ``device('cpu')``, ``device('cuda')``, ``device('cuda:1')``.

    Devices are interned, so ``a.device is b.device`` holds for equal devices.
    """

    __slots__ = ("type", "index", "_xp")
    _cache: dict = {}

    def __new__(cls, type: "str | device" = "cpu", index: int | None = None):
        if isinstance(type, device):
            return type
        key = (type, index)
        hit = cls._cache.get(key)
        if hit is not None:
            return hit
        kind, idx = _parse_device(type, index)
        canon = cls._cache.get((kind, idx))
        if canon is None:
            canon = object.__new__(cls)
            canon.type, canon.index, canon._xp = kind, idx, None
            cls._cache[(kind, idx)] = canon
        cls._cache[key] = canon
        return canon

    @property
    def xp(self):
        """The array module of this device: ``numpy`` or ``cupy``."""
        if self._xp is None:
            self._xp = np if self.type == "cpu" else cupy_module()
        return self._xp

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, TypeError, NotImplementedError):
                return False
        return self is other

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))

    def __enter__(self) -> "device":
        """``with device('cpu'):`` makes factory functions, and the layers built with them, put their
        tensors on this device inside the block (as ``with torch.device(...)``); the default
        before the block comes back when it ends."""
        _entered.append(DEFAULT[0])
        DEFAULT[0] = self
        return self

    def __exit__(self, *exc) -> None:
        DEFAULT[0] = _entered.pop()


def _parse_device(spec, index):
    if isinstance(spec, int):
        return "cuda", spec
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {spec!r}")
    kind, _, rest = spec.partition(":")
    if kind == "meta":
        raise NotImplementedError(
            "nerve has no 'meta' device (tensors with a shape but no data): build the model on 'cpu'. "
            "To load a checkpoint without extra copies, nerve.load(path, mmap=True) maps the file's "
            "tensors into memory and model.load_state_dict(state_dict, assign=True) takes them as the "
            "model's parameters"
        )
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    if rest:
        if not rest.isdigit():
            raise ValueError(f"bad device index in {spec!r}")
        if index is not None:
            raise ValueError(f"device {spec!r} already has an index; got index={index} too")
        index = int(rest)
    if kind == "cpu":
        return "cpu", None
    return "cuda", 0 if index is None else index


CPU = device("cpu")
DEFAULT = [CPU]  # where factory functions put a tensor when given no device (nerve.set_default_device)
_entered: list = []  # the defaults before each ``with device(...)`` block now open, innermost last


def device_of(array) -> device:
    """The device an array lives on."""
    if isinstance(array, np.ndarray) or _cupy is None:
        return CPU
    if isinstance(array, _cupy.ndarray):
        return device("cuda", array.device.id)
    return CPU


def move(array, dev: device):
    """Copy ``array`` to ``dev`` (no copy if it is already there)."""
    if dev.type == "cpu":
        if isinstance(array, np.ndarray):
            return array
        return array.get() if _cupy is not None and isinstance(array, _cupy.ndarray) else np.asarray(array)
    cp = cupy_module()
    with cp.cuda.Device(dev.index):
        return cp.asarray(array)


# ---------------------------------------------------------------- aligned CPU memory

# Arrays that live long and are written in place (parameters, optimizer state) start on a 64-byte
# boundary, as every CPU tensor does in PyTorch (its allocator's alignment): a whole cache line and
# a whole AVX-512 vector. malloc gives NumPy 16-byte alignment, and an in-place update whose stores
# straddle cache lines is much slower: measured on the 2-core Zen 4 VM, ``w -= 0.1 * g`` on a
# (784, 128) float32 weight took 26 us with ``w`` on a 64-byte boundary and 53-54 us 16 or 48 bytes
# past one, and the raw-op MLP benchmark's epoch 233-236 ms against 264-267 ms (hand NumPy).
ALIGNMENT = 64
# smaller arrays are left to NumPy: the aligned allocation costs about 2 us
_ALIGN_MIN_BYTES = 4096
# the raw byte buffers under aligned arrays, by id: ``storage_offset`` counts from their aligned start
_ALIGNED_ROOTS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def empty_aligned(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` starting on a 64-byte boundary (when it is 4 KB or more)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < _ALIGN_MIN_BYTES or dtype.kind not in "biufc":
        return np.empty(shape, dtype)
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    _ALIGNED_ROOTS[id(raw)] = raw
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def aligned_start(root: np.ndarray) -> int:
    """The address where ``root``'s own elements start: past the padding of an aligned buffer."""
    addr = root.ctypes.data
    if _ALIGNED_ROOTS.get(id(root)) is root:
        addr += -addr % ALIGNMENT
    return addr


def copy_aligned(array, dtype=None):
    """A C-order copy of ``array`` (cast to ``dtype`` if given), 64-byte aligned on the CPU."""
    if not isinstance(array, np.ndarray):
        return array.astype(dtype, order="C") if dtype is not None else array.copy()
    out = empty_aligned(array.shape, array.dtype if dtype is None else dtype)
    np.copyto(out, array, casting="unsafe")
    return out


def aligned(array):
    """``array`` itself when it is aligned (or small, or not a NumPy array), else an aligned copy.
    For arrays that nothing else holds yet: a copy does not keep sharing memory."""
    if (array.__class__ is not np.ndarray or array.nbytes < _ALIGN_MIN_BYTES
            or array.ctypes.data % ALIGNMENT == 0 or not array.flags.c_contiguous):
        return array
    return copy_aligned(array)


def full_aligned(xp, shape, value, dtype):
    """``xp.full(shape, value, dtype)``, aligned on the CPU."""
    if xp is not np:
        return xp.full(shape, value, dtype=dtype)
    out = empty_aligned(shape, dtype)
    np.copyto(out, value, casting="unsafe")  # as np.full fills
    return out


def zeros_like_aligned(xp, array):
    """``xp.zeros_like(array)`` (C order), aligned on the CPU: optimizer state updated in place."""
    return full_aligned(xp, array.shape, 0, array.dtype)


def to_numpy(array) -> np.ndarray:
    """A NumPy view or copy of any backend array."""
    return move(array, CPU)


def cupyx_errstate(**kwargs):
    """``cupyx.errstate(**kwargs)`` (only this module names CuPy)."""
    return importlib.import_module("cupyx").errstate(**kwargs)


def scatter_add(xp, target, index, values) -> None:
    """``target[index] += values`` with repeated indices adding up (in place).

    On NumPy, ``np.add.at`` except where ``_scatter_add_fast`` has a quicker way (an integer
    array index of at least ``_FAST_MIN`` updated elements)."""
    if xp is np:
        if not _scatter_add_fast(target, index, values):
            np.add.at(target, index, values)
    else:
        importlib.import_module("cupyx").scatter_add(target, index, values)


# Thresholds measured with NumPy 2.4.6 and OpenBLAS on 2 cores (timings in the commit message):
# below _FAST_MIN updated elements np.add.at is as quick as the ~15 us of building the offsets
# (or the one-hot matrix); the one-hot product beats the flat offsets up to _ONE_HOT_ROWS[0]
# target rows of 4 to 15 elements, or _ONE_HOT_ROWS[1] rows of 16 or more (rows of 1 to 3:
# never), and loses from about 48 to 65 rows on.
_FAST_MIN = 2048
_ONE_HOT_ROWS = (16, 32)


def _scatter_add_fast(target, index, values) -> bool:
    """``np.add.at(target, index, values)`` done faster, for ``index`` an integer array (any
    shape, on the first axis) or a tuple of full slices ``:`` followed by integer arrays and
    ints (adjacent advanced indices); negative entries are wrapped as NumPy does. Two ways:

    * flat offsets: ``np.add.at`` on a 1-D view of ``target``'s memory with one element offset
      per updated element. That is NumPy's fast 1-D loop, where ``np.add.at`` on rows (a target
      with trailing dims, as embedding and ``x[idx]`` gradients have) or on a tuple of arrays
      runs a general loop 2 to 4 times slower. The same additions reach each element in the
      same order, so the result is bit for bit that of ``np.add.at``.
    * one-hot product: for a float target with few rows, ``onehot(index) @ values`` through
      BLAS, added to the rows the index hits (same sums up to float rounding). Where the
      product is not finite (an inf or nan in ``values``, which the zeros of the one-hot
      matrix would spread to every row) the flat offsets are used instead.

    Returns True when done. Returns False, having written nothing, for anything else
    (booleans, other slices, an out-of-range index, values that do not broadcast, fewer than
    ``_FAST_MIN`` updated elements, a 1-D target with a 1-D index, which ``np.add.at`` already
    runs fast, a target with a negative or zero stride): the caller then runs ``np.add.at``,
    errors included. (A small update of a 1-D target by a 2-D index runs ``np.add.at`` here,
    with the values broadcast first, to keep clear of a NumPy bug; see below.)
    """
    if not isinstance(target, np.ndarray) or not isinstance(values, np.ndarray) or not target.ndim:
        return False
    shape, nd = target.shape, target.ndim
    if isinstance(index, tuple) and len(index) == 1 and isinstance(index[0], np.ndarray):
        index = index[0]  # the same index
    if isinstance(index, np.ndarray):  # the common case: an index on the first axis
        if index.dtype.kind not in "iu":
            return False
        if nd == 1 and index.ndim > 1 and values.ndim and values.shape != index.shape:
            # np.add.at (NumPy 2.4) adds garbage for a 1-D target, a 2-D index and values
            # shaped as the index's last dim: broadcast the values first
            try:
                values = np.broadcast_to(values, index.shape)
            except ValueError:
                return False
            if index.size < _FAST_MIN:
                np.add.at(target, index, values)
                return True
        if index.size * math.prod(shape[1:]) < _FAST_MIN or (nd == 1 and index.ndim == 1):
            return False  # small, or np.add.at's own fast 1-D loop
        k, adv, bshape = 0, (index,), index.shape
    elif isinstance(index, tuple):
        k = 0  # leading full slices
        while k < len(index) and isinstance(index[k], slice) and index[k] == slice(None):
            k += 1
        adv = index[k:]
        if not adv or k + len(adv) > nd:
            return False
        shapes = []
        for a in adv:
            if isinstance(a, np.ndarray):
                if a.dtype.kind not in "iu":
                    return False
                shapes.append(a.shape)
            elif isinstance(a, bool) or not isinstance(a, (int, np.integer)):
                return False
        if not shapes:
            return False
        if shapes.count(shapes[0]) == len(shapes):
            bshape = shapes[0]
        else:
            try:
                bshape = np.broadcast_shapes(*shapes)
            except ValueError:
                return False
    else:
        return False
    m = len(adv)
    out_shape = shape[:k] + bshape + shape[k + m:]
    if math.prod(out_shape) < _FAST_MIN or not target.flags.writeable:
        return False
    if values.shape != out_shape:
        try:
            values = np.broadcast_to(values, out_shape)
        except ValueError:
            return False
    isz = target.itemsize
    steps = []
    for n, s in zip(shape, target.strides):
        if n == 1:
            steps.append(0)
        elif s <= 0 or s % isz:
            return False
        else:
            steps.append(s // isz)
    wrapped = []
    for d, a in enumerate(adv):
        n = shape[k + d]
        if isinstance(a, np.ndarray):
            lo, hi = a.min(), a.max()
            if lo < -n or hi >= n:
                return False
            a = a.astype(np.intp, copy=False)
            if lo < 0:
                a = np.where(a < 0, a + n, a)
        elif not -n <= a < n:
            return False
        else:
            a = int(a) % n
        wrapped.append(a)
    if k == 0 and m == 1 and nd > 1 and _scatter_add_one_hot(target, wrapped[0], values):
        return True
    # the flat offset of every updated element, laid out as target[index] is
    off = 0
    for d, a in enumerate(wrapped):
        e = steps[k + d]
        off = off + (a * e if e != 1 else a)
    if off.shape != bshape:
        off = np.broadcast_to(off, bshape)
    if k:
        off = np.add.outer(_grid(shape[:k], steps[:k]), off)
    if k + m < nd:
        off = np.add.outer(off, _grid(shape[k + m:], steps[k + m:]))
    if target.flags.c_contiguous:
        flat = target.reshape(-1)
    else:
        span = sum((n - 1) * e for n, e in zip(shape, steps)) + 1
        flat = np.lib.stride_tricks.as_strided(target, shape=(span,), strides=(isz,))
    np.add.at(flat, off.reshape(-1), values.reshape(-1))
    return True


def _scatter_add_one_hot(target, index, values) -> bool:
    """``target[index] += values`` for ``index`` in range on the first axis, as the product of a
    (rows, len(index)) one-hot matrix and the values through BLAS, where the target has few rows
    (``_ONE_HOT_ROWS``) and is float32 or float64 like the values. False where it does not apply
    or the product is not finite (then nothing is written)."""
    rows, width = target.shape[0], math.prod(target.shape[1:])
    if (target.dtype.char not in "fd" or values.dtype != target.dtype or width < 4
            or rows > _ONE_HOT_ROWS[width >= 16]):
        return False
    index = index.reshape(-1)
    one_hot = (index == np.arange(rows)[:, None]).astype(target.dtype)
    with np.errstate(all="ignore"):  # 0 * inf in the product: handed to the flat offsets below
        sums = one_hot @ values.reshape(index.size, width)
    if not np.isfinite(sums).all():
        return False
    hit = np.zeros(rows, bool)  # rows the index misses stay as they are (-0.0 included)
    hit[index] = True
    sums = sums.reshape(target.shape)
    if hit.all():
        target += sums
    else:
        target[hit] += sums[hit]
    return True


def _grid(shape, steps):
    """The flat offsets of a block of axes of ``shape`` with element ``steps``, in C order."""
    if len(shape) == 1:
        return np.arange(shape[0]) * steps[0] if steps[0] != 1 else np.arange(shape[0])
    if list(steps) == _c_steps(shape):
        return np.arange(math.prod(shape)).reshape(shape)
    off = np.zeros((), np.intp)
    for n, e in zip(shape, steps):
        off = np.add.outer(off, np.arange(n) * e)
    return off


def _c_steps(shape):
    """The element steps of a C-contiguous array of ``shape`` (0 along axes of length 1)."""
    steps, e = [], 1
    for n in reversed(shape):
        steps.append(e if n > 1 else 0)
        e *= n
    return steps[::-1]


def is_array(x) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(x, np.ndarray) or (_cupy is not None and isinstance(x, _cupy.ndarray))
