"""``Parameter``: a tensor that a ``Module`` registers as one of its weights."""

from __future__ import annotations

import numpy as np

from ..backend import CPU, device_of, is_array
from ..dtypes import get_default_dtype
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and that modules collect in ``parameters()``.

    Args:
        data: a tensor (its storage is shared, as in PyTorch) or array-like; empty when None.
        requires_grad: whether the optimizer should get a gradient for it.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            arr, dev = np.empty(0, dtype=get_default_dtype().np), CPU
        elif isinstance(data, Tensor):
            arr, dev = data._data, data._device
        else:
            arr = data if is_array(data) else np.asarray(data, dtype=get_default_dtype().np)
            dev = device_of(arr)
        if requires_grad and arr.dtype.kind != "f":
            raise RuntimeError(
                f"Only Tensors of floating point dtype can require gradients (got {arr.dtype})"
            )
        self._data = arr
        self._device = dev
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self.grad_fn = None
        self._hooks = None

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a module attribute."""

    def __init__(self, data=None, *, persistent: bool = True):
        t = data if isinstance(data, Tensor) else Tensor(np.empty(0, dtype=get_default_dtype().np) if data is None else data)
        self._data, self._device = t._data, t._device
        self.requires_grad = False
        self._grad = None
        self.grad_fn = None
        self._hooks = None
        self.persistent = persistent
