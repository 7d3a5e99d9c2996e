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
        self._view = None

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
        self._view = None
        self.persistent = persistent


NO_SHAPE_YET = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
    "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call "
    "`forward` to initialize the parameters before accessing their attributes."
)


class _Uninitialized:
    """What ``UninitializedParameter`` and ``UninitializedBuffer`` share, as torch's
    ``UninitializedTensorMixin``: no shape until ``materialize``, and a clear error on use."""

    __slots__ = ()  # no __dict__ of its own, so a buffer can become a plain Tensor in place
    cls_to_become: type

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the tensor ``shape`` (uninitialised values) and make it a ``cls_to_become`` in place."""
        from ..creation import empty

        t = empty(*shape, device=device if device is not None else self._device,
                  dtype=dtype if dtype is not None else self.dtype)
        self._data, self._device = t._data, t._device
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(NO_SHAPE_YET)

    def _refuse(self, what: str):
        raise ValueError(
            f"Attempted to use an uninitialized parameter in {what}. This error happens when you are using a "
            f"`LazyModule` or explicitly manipulating `nerve.nn.parameter.{type(self).__name__}` objects. When using "
            "LazyModules Call `forward` with a dummy batch to initialize the parameters before calling nerve functions"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__


def _refusing(name: str):
    def method(self, *args, **kwargs):
        self._refuse(name)

    method.__name__ = name
    return method


# what would silently do nothing or give an empty result on a tensor without a shape (torch
# refuses every op on one; nerve refuses these, where a user is likely to meet them)
for _name in ("numel", "dim", "view", "reshape", "flatten", "zero_", "fill_", "copy_"):
    setattr(_Uninitialized, _name, _refusing(_name))


class UninitializedParameter(_Uninitialized, Parameter):
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


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer whose shape is not known yet, as ``torch.nn.UninitializedBuffer`` (a lazy batch
    norm's running statistics): ``materialize(shape)`` makes it a plain ``Tensor`` in place.

    Args:
        requires_grad: as a tensor's.
        device, dtype: where and in what dtype it will be materialised.
        persistent: kept for torch's signature; a module registers the buffer as persistent.
    """

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None, persistent: bool = True) -> None:
        from ..creation import empty

        t = empty(0, device=device, dtype=dtype)
        self._data, self._device = t._data, t._device
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self.grad_fn = None
        self._hooks = None
        self._view = None


def is_lazy(param) -> bool:
    """Whether ``param`` is an ``UninitializedParameter`` or an ``UninitializedBuffer``."""
    return isinstance(param, _Uninitialized)


def is_uninitialized(value) -> bool:
    """Whether ``value`` is a tensor without a shape yet: nerve's (``is_lazy``) or torch's, as a
    torch lazy module's ``state_dict`` holds them."""
    return is_lazy(value) or type(value).__name__ in ("UninitializedParameter", "UninitializedBuffer")
