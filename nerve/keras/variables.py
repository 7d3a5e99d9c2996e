"""``Variable``: a named weight of a Keras layer, holding a nerve ``Parameter``.

The parameter (``variable.value``) is what nerve's functional ops and optimizers see; the
Variable adds what Keras users reach for: ``name``, ``path``, ``trainable``, ``numpy()``,
``assign()``.

A weight may be stored in the core's layout rather than Keras's (``perm``): a Dense kernel is
(in, out) to Keras but kept as the (out, in) weight ``F.linear`` takes, a Conv2D kernel
(kh, kw, in, out) kept as (out, in, kh, kw). ``shape``, ``numpy()``, ``assign()`` and so
``get_weights`` / ``set_weights`` and saved files all speak Keras's layout; only ``value`` (the
core's parameter) is permuted, so no layer transposes a weight on each call.
"""

from __future__ import annotations

import numpy as np

import nerve
from nerve.backend import copy_aligned, move, to_numpy
from nerve.nn.parameter import Parameter

from . import backend


class Variable:
    """A layer weight: ``shape``, ``dtype``, ``trainable``, ``value`` (the nerve Parameter).

    Args:
        initializer: an array of the right shape, or an initializer (name, object or callable
            taking ``(shape, dtype)``).
        shape: the weight's shape (taken from the array when one is given).
        dtype: ``'float32'`` unless told.
        trainable: whether fit's optimizer updates it.
        name: the weight's name (``kernel``, ``bias``, ...).
    """

    def __init__(self, initializer, shape=None, dtype=None, trainable: bool = True, name: str = "variable",
                 perm=None, constraint=None):
        from . import initializers

        dtype = backend.standardize_dtype(dtype)
        if callable(initializer) or isinstance(initializer, (str, dict)):  # a dict: an initializer's config
            init = initializers.get(initializer)
            arr = np.asarray(init(tuple(shape), dtype=dtype), dtype=dtype)
        else:
            src = initializer
            if isinstance(src, nerve.Tensor):
                src = to_numpy(src._data)
            elif hasattr(src, "numpy"):
                src = src.numpy()
            arr = np.asarray(src, dtype=dtype)
        self.name = name
        self.path = name
        self.constraint = constraint
        self._trainable = bool(trainable)
        self._shape = tuple(arr.shape)
        self._perm = tuple(perm) if perm is not None else None
        self._inv = tuple(np.argsort(self._perm)) if perm is not None else None
        if perm is not None:
            arr = np.ascontiguousarray(arr.transpose(self._perm))
        floating = arr.dtype.kind == "f"
        # the variable's own storage (np.asarray may share the caller's array), aligned as a new tensor's
        self.value = Parameter(move(copy_aligned(arr), backend.device()), requires_grad=self._trainable and floating)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self.value.requires_grad = self._trainable and self.value.is_floating_point()

    @property
    def constraint(self):
        """The projection the optimizer applies after each update of this variable (Keras's), or None."""
        return self._constraint

    @constraint.setter
    def constraint(self, value) -> None:
        if value is not None and not callable(value):
            raise ValueError("Invalid value for attribute `constraint`. Expected a callable (such as a "
                             f"`keras.constraints.Constraint` instance) or `None`. Received: constraint={value}")
        self._constraint = value

    @property
    def shape(self) -> tuple:
        return self._shape

    @property
    def dtype(self) -> str:
        return backend.standardize_dtype(self.value.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the current value, in Keras's layout."""
        arr = to_numpy(self.value._data)  # a host copy also for weights on the GPU
        if self._inv is not None:
            # a copy always: ascontiguousarray hands back a view when the transpose is contiguous
            # already (a Dense(1) kernel), and training would then change the "copy"
            return np.array(arr.transpose(self._inv), order="C", copy=True)
        return np.array(arr, copy=True)

    def assign(self, value) -> "Variable":
        """Overwrite the value in place (same shape), keeping the parameter the optimizer holds."""
        arr = to_numpy(value._data) if isinstance(value, nerve.Tensor) else np.asarray(value)
        if tuple(arr.shape) != self.shape:
            raise ValueError(
                f"The shape of the target variable and the shape of the target value in "
                f"`variable.assign(value)` must match. variable.shape={self.shape}, "
                f"Received: value.shape={tuple(arr.shape)}. Target variable: {self!r}"
            )
        if self._perm is not None:
            arr = arr.transpose(self._perm)
        self.value._data[...] = move(arr.astype(self.value._data.dtype, copy=False), self.value.device)
        return self

    def assign_add(self, value) -> "Variable":
        """Add ``value`` to the weight in place (``total.assign_add(ops.sum(x, axis=0))``)."""
        return self.assign(self.numpy() + _host(value))

    def assign_sub(self, value) -> "Variable":
        """Subtract ``value`` from the weight in place."""
        return self.assign(self.numpy() - _host(value))

    def __nerve_tensor__(self) -> nerve.Tensor:
        """The weight as a tensor in Keras's layout, in the graph (gradients reach ``value``).

        Tensor ops take a Variable through this (``ops.matmul(x, self.w) + self.b``), as Keras's
        variables stand for their value in any op."""
        return self.value if self._inv is None else self.value.permute(*self._inv)

    def __neg__(self):
        return -self.__nerve_tensor__()

    def __abs__(self):
        return abs(self.__nerve_tensor__())

    def __getitem__(self, index):
        return self.__nerve_tensor__()[index]

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"


def _host(value) -> np.ndarray:
    if isinstance(value, Variable):
        return value.numpy()
    return to_numpy(value._data) if isinstance(value, nerve.Tensor) else np.asarray(value)


def _binary(name: str):
    def op(self, other):
        other = other.__nerve_tensor__() if isinstance(other, Variable) else other
        return getattr(self.__nerve_tensor__(), name)(other)

    op.__name__ = name
    return op


# Arithmetic on a Variable is arithmetic on its value, as Keras's variables allow (``==`` stays
# identity, so a layer's weights can be looked up in lists).
for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__floordiv__", "__rfloordiv__", "__pow__", "__rpow__", "__mod__",
              "__lt__", "__le__", "__gt__", "__ge__"):
    setattr(Variable, _name, _binary(_name))


def _matmul(self, other):  # ops.matmul: Keras promotes two dtypes where the core's product does not
    from .ops import matmul

    return matmul(self, other)


def _rmatmul(self, other):
    from .ops import matmul

    return matmul(other, self)


Variable.__matmul__, Variable.__rmatmul__ = _matmul, _rmatmul
