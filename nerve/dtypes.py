"""dtypes as PyTorch names them, and PyTorch's type-promotion rules."""

from __future__ import annotations

import numpy as np


class dtype:
    """A tensor element type such as ``nerve.float32``; ``.np`` is the NumPy dtype."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_kind")

    def __init__(self, name: str, npdtype, kind: int):
        self.name = name
        self.np = np.dtype(npdtype)
        self._kind = kind  # 0 bool, 1 integer, 2 floating
        self.is_floating_point = kind == 2
        self.is_signed = self.np.kind in "if"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"nerve.{self.name}"

    def __reduce__(self):
        return (to_dtype, (self.name,))


class memory_format:
    """How a tensor's elements lie in memory (``nerve.channels_last``, ...), as PyTorch names it."""

    __slots__ = ("name", "perm")

    def __init__(self, name: str, perm):
        self.name = name
        self.perm = perm  # the axes in memory order (None: C order / keep what is there)

    def __repr__(self) -> str:
        return f"nerve.{self.name}"


contiguous_format = memory_format("contiguous_format", None)
preserve_format = memory_format("preserve_format", None)
channels_last = memory_format("channels_last", (0, 2, 3, 1))
channels_last_3d = memory_format("channels_last_3d", (0, 2, 3, 4, 1))


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_FROM_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update(
    {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32,
     "short": int16, "bool_": bool_, "torch.float32": float32}
)

_default_float = float32


def get_default_dtype() -> dtype:
    """The dtype of floating-point tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(d) -> None:
    """Set the default floating-point dtype (float32 or float64)."""
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"default dtype must be a floating-point dtype, got {d}")
    _default_float = d


# PyTorch has complex dtypes (a float tensor times 1j is complex); nerve has none
NO_COMPLEX = "complex numbers are not supported: nerve has no complex dtype"


def from_numpy_dtype(npdtype) -> dtype:
    """The nerve dtype of a NumPy dtype."""
    try:
        return _FROM_NP[npdtype]
    except KeyError:
        d = _FROM_NP.get(np.dtype(npdtype))
        if d is None:
            if np.dtype(npdtype).kind == "c":
                raise TypeError(f"{NO_COMPLEX} (got a NumPy array of {np.dtype(npdtype)})") from None
            raise TypeError(
                f"unsupported dtype {np.dtype(npdtype)}: nerve supports "
                + ", ".join(x.name for x in ALL)
            ) from None
        return d


def to_dtype(d) -> dtype:
    """Turn a nerve dtype, NumPy dtype, Python type or name into a nerve dtype."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return float64
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str):
        hit = _BY_NAME.get(d.removeprefix("nerve.").removeprefix("torch."))
        if hit is not None:
            return hit
    try:
        return from_numpy_dtype(np.dtype(d))
    except TypeError:
        raise TypeError(f"cannot interpret {d!r} as a dtype") from None


def promote(a: dtype, b: dtype) -> dtype:
    """Result dtype of two tensors of the same priority (PyTorch's rule)."""
    if a is b:
        return a
    if a._kind != b._kind:
        return a if a._kind > b._kind else b
    return from_numpy_dtype(np.promote_types(a.np, b.np))


def can_cast(from_, to) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` into ``to`` (as ``torch.can_cast``): never
    down a category (floating into integer, integer or floating into bool)."""
    return to_dtype(from_)._kind <= to_dtype(to)._kind


def scalar_dtype(x) -> dtype:
    """The dtype a Python scalar takes on its own (bool, int64, default float)."""
    if isinstance(x, (bool, np.bool_)):
        return bool_
    if isinstance(x, (int, np.integer)):
        return int64
    if isinstance(x, (float, np.floating)):
        return _default_float
    if isinstance(x, (complex, np.complexfloating)):
        raise TypeError(f"{NO_COMPLEX} (got {x!r})")
    raise TypeError(f"unsupported scalar {x!r} of type {type(x).__name__}")


def result_type(*operands) -> dtype:
    """PyTorch's promotion: tensors with dims outrank 0-d tensors, which outrank scalars.

    A lower-priority operand changes the result only when its category (bool < integer
    < floating) is higher; so ``float32 tensor * 2.5`` stays float32 and
    ``int64 tensor * 2.5`` becomes the default float dtype.
    """
    groups: list = [None, None, None]
    for x in operands:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            g = 0 if x.ndim > 0 else 1
        else:
            d, g = scalar_dtype(x), 2
        groups[g] = d if groups[g] is None else promote(groups[g], d)
    out = None
    for d in groups:
        if d is None:
            continue
        if out is None or d._kind > out._kind:
            out = d
    return out


class finfo:
    """Limits of a floating-point dtype, as ``torch.finfo``: ``eps``, ``max``, ``min``, ``tiny``
    (``smallest_normal``), ``resolution``, ``bits``, ``dtype``."""

    def __init__(self, type=None):
        d = get_default_dtype() if type is None else to_dtype(type)
        if not d.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type, got {d}")
        info = np.finfo(d.np)
        self.bits, self.dtype = int(info.bits), d.name
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -int(info.precision)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, eps={self.eps}, "
                f"smallest_normal={self.tiny}, tiny={self.tiny}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, as ``torch.iinfo``: ``max``, ``min``, ``bits``, ``dtype``."""

    def __init__(self, type):
        d = to_dtype(type)
        if d.is_floating_point or d.np.kind == "b":
            raise TypeError(f"torch.iinfo() requires an integer input type, got {d}")
        info = np.iinfo(d.np)
        self.bits, self.dtype = int(info.bits), d.name
        self.max, self.min = int(info.max), int(info.min)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def promote_types(type1, type2) -> dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to without losing their kind, as
    ``torch.promote_types`` (``uint8`` and ``int8`` give ``int16``; an integer and a float the float)."""
    return promote(to_dtype(type1), to_dtype(type2))

