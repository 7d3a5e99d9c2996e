"""Array backends and devices: NumPy on the CPU, CuPy on the GPU.

This is the only module in nerve that imports CuPy. Everything else asks a
device for its array module (``device.xp``) and writes code once for both.
"""

from __future__ import annotations

import importlib
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
            except (ValueError, TypeError):
                return False
        return self is other

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


def _parse_device(spec, index):
    if isinstance(spec, int):
        return "cuda", spec
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {spec!r}")
    kind, _, rest = spec.partition(":")
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


def to_numpy(array) -> np.ndarray:
    """A NumPy view or copy of any backend array."""
    return move(array, CPU)


def scatter_add(xp, target, index, values) -> None:
    """``target[index] += values`` with repeated indices adding up (in place)."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        importlib.import_module("cupyx").scatter_add(target, index, values)


def is_array(x) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(x, np.ndarray) or (_cupy is not None and isinstance(x, _cupy.ndarray))
