"""Padding layers: Zero/Constant/Reflection/Replication/CircularPad 1d, 2d and 3d over ``F.pad``."""

from __future__ import annotations

from .. import functional as F
from .module import Module


def _padding(padding, n: int) -> tuple:
    """An int pads every side; otherwise a (left, right, top, bottom, ...) tuple of 2n ints."""
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    return tuple(padding)


class _ConstantPadNd(Module):
    def __init__(self, padding, value: float, n: int):
        super().__init__()
        self.padding = _padding(padding, n)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``: ``padding`` is an int or (left, right)."""

    def __init__(self, padding, value: float):
        super().__init__(padding, value, 1)


class ConstantPad2d(_ConstantPadNd):
    """Pad the last 2 dims with ``value``: ``padding`` is an int or (left, right, top, bottom)."""

    def __init__(self, padding, value: float):
        super().__init__(padding, value, 2)


class ConstantPad3d(_ConstantPadNd):
    """Pad the last 3 dims with ``value``: an int or (left, right, top, bottom, front, back)."""

    def __init__(self, padding, value: float):
        super().__init__(padding, value, 3)


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last 2 dims with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last 3 dims with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ModePadNd(Module):
    mode = "reflect"
    n = 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(padding, self.n)

    def forward(self, input):
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_ModePadNd):
    """Pad the last dim with its reflection (the edge not repeated); each amount < the dim's size."""


class ReflectionPad2d(_ModePadNd):
    """Pad the last 2 dims with their reflection."""

    n = 2


class ReflectionPad3d(_ModePadNd):
    """Pad the last 3 dims with their reflection."""

    n = 3


class ReplicationPad1d(_ModePadNd):
    """Pad the last dim by repeating its edge value."""

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Pad the last 2 dims by repeating their edge values."""

    n = 2


class ReplicationPad3d(ReplicationPad1d):
    """Pad the last 3 dims by repeating their edge values."""

    n = 3


class CircularPad1d(_ModePadNd):
    """Pad the last dim by wrapping around (periodic boundary)."""

    mode = "circular"

    def forward(self, input):
        if input.ndim not in (self.n + 1, self.n + 2):
            raise ValueError(f"expected {self.n + 1}D or {self.n + 2}D input (got {input.ndim}D input)")
        return F.pad(input, self.padding, self.mode)


class CircularPad2d(CircularPad1d):
    """Pad the last 2 dims by wrapping around."""

    n = 2


class CircularPad3d(CircularPad1d):
    """Pad the last 3 dims by wrapping around."""

    n = 3
