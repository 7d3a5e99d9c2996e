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


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet, as ``torch.nn.UninitializedParameter``: lazy modules
    hold these until their first call, when ``materialize(shape)`` turns each into a ``Parameter``
    in place (the same object, so an optimizer made before that call still updates it).

    Args:
        requires_grad: as ``Parameter``'s.
        device, dtype: where and in what dtype it will be materialised.
    """

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None) -> None:
        from ..creation import empty

        super().__init__(empty(0, device=device, dtype=dtype), requires_grad)

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the parameter ``shape`` (uninitialised values) and make it a plain ``Parameter``."""
        from ..creation import empty

        t = empty(*shape, device=device if device is not None else self._device,
                  dtype=dtype if dtype is not None else self.dtype)
        self._data, self._device = t._data, t._device
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
            "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call "
            "`forward` to initialize the parameters before accessing their attributes."
        )

    def _refuse(self, what: str):
        raise ValueError(
            f"Attempted to use an uninitialized parameter in {what}. This error happens when you are using a "
            f"`LazyModule` or explicitly manipulating `nerve.nn.parameter.{type(self).__name__}` objects. When using "
            "LazyModules Call `forward` with a dummy batch to initialize the parameters before calling nerve functions"
        )

    def numel(self):
        self._refuse("numel")

    def dim(self):
        self._refuse("dim")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__


def is_lazy(param) -> bool:
    """Whether ``param`` is an ``UninitializedParameter``."""
    return isinstance(param, UninitializedParameter)
