"""``Tensor``: an n-dimensional array on a device, with automatic differentiation."""

from __future__ import annotations

import builtins
import collections
import functools
import numbers
import operator as _operator
from typing import Any

import numpy as np

from . import _tensor_str, ops
from . import dtypes as _dt
from .backend import CPU, aligned_start, device, device_of, is_array, move
from .dtypes import dtype

_py_slice = builtins.slice
_ndarray = np.ndarray
_SCALAR_TYPES = (int, float, bool)
_FAST_SCALARS = frozenset((int, float))  # exact types: bool and NumPy scalars take the full path
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}

MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])
SortResult = collections.namedtuple("sort", ["values", "indices"])
TopkResult = collections.namedtuple("topk", ["values", "indices"])
MedianResult = collections.namedtuple("median", ["values", "indices"])
KthvalueResult = collections.namedtuple("kthvalue", ["values", "indices"])
CummaxResult = collections.namedtuple("cummax", ["values", "indices"])
CumminResult = collections.namedtuple("cummin", ["values", "indices"])
AminmaxResult = collections.namedtuple("aminmax", ["min", "max"])
NanmedianResult = collections.namedtuple("nanmedian", ["values", "indices"])
SlogdetResult = collections.namedtuple("slogdet", ["sign", "logabsdet"])
HistogramResult = collections.namedtuple("histogram", ["hist", "bin_edges"])
FrexpResult = collections.namedtuple("frexp", ["mantissa", "exponent"])


class Size(tuple):
    """The shape of a tensor: a tuple that prints as ``nerve.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"nerve.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


def _as_scalar(x):
    """Python scalar for NumPy scalars (so they promote like Python numbers)."""
    if isinstance(x, np.generic):
        return x.item()
    return x


def _axis(dim, ndim):
    """Normalise a ``dim`` argument to None, an int, or a sorted tuple of ints (non-negative)."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        if len(dim) == 0:
            return None
        axes = tuple(sorted(_one_axis(d, ndim) for d in dim))
        for a, b in zip(axes, axes[1:]):
            if a == b:
                raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
    else:
        axes = _one_axis(dim, ndim)
    return None if ndim == 0 else axes  # a 0-d tensor takes dim 0 or -1 (as torch): all of it


def _one_axis(d, ndim):
    d = int(d)
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n


class Tensor:
    """A multi-dimensional array with autograd, on the CPU (NumPy) or the GPU (CuPy).

    Build tensors with ``nerve.tensor(data)`` and the factory functions; the
    constructor ``Tensor(data)`` makes a float32 tensor as ``torch.Tensor`` does.
    """

    # _view (set only on views: basic indexing, reshape, permute): (base tensor, op, its argument),
    # so that an in-place op that records the graph reaches the base; read with getattr
    __slots__ = ("_data", "_device", "requires_grad", "_grad", "grad_fn", "_hooks", "_view", "__weakref__")
    _is_fn = False
    __array_priority__ = 1000

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        if len(args) == 1 and not isinstance(args[0], int):
            data = args[0]
            if isinstance(data, Tensor):
                arr = data._data
                dev = data._device
            else:
                dev = device_of(data) if is_array(data) else CPU  # a CuPy array stays on its GPU
                arr = data if is_array(data) else np.asarray(data)
                if not is_array(data) or arr.dtype.kind in "iub" or arr.dtype == np.float64:
                    arr = arr.astype(_dt.get_default_dtype().np)
        else:
            arr = np.empty(_size(args), dtype=_dt.get_default_dtype().np)
            dev = CPU
        if dtype is not None:
            arr = arr.astype(_dt.to_dtype(dtype).np, copy=False)
        if device is not None:
            dev = globals()["device"](device)
            arr = move(arr, dev)
        self._data = arr
        self._device = dev
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self.grad_fn = None
        self._hooks = None
        self._view = None

    @staticmethod
    def _make(data, dev) -> "Tensor":
        if data.__class__ is not _ndarray and isinstance(data, np.generic):
            data = np.asarray(data)  # NumPy's scalar for a 0-d result: keep an array (in-place ops, .numpy())
        t = object.__new__(Tensor)
        t._data = data
        t._device = dev
        t.requires_grad = False
        t._grad = None
        t.grad_fn = None
        t._hooks = None
        t._view = None
        return t

    def _wrap(self, data) -> "Tensor":
        return Tensor._make(data, self._device)

    # ------------------------------------------------------------ attributes

    @property
    def data(self) -> "Tensor":
        """The same storage, detached from the graph (as ``torch.Tensor.data``); as in PyTorch,
        backward does not see in-place changes made through it (``detach()``'s are checked)."""
        t = Tensor._make(self._data, self._device)
        t._view = _DATA_ALIAS
        return t

    @data.setter
    def data(self, value) -> None:
        if isinstance(value, Tensor):
            self._data = value._data
            self._device = value._device
        else:
            self._data = move(np.asarray(value) if not is_array(value) else value, self._device)

    def _set_grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: the tensor has shape {tuple(self.shape)}, "
                    f"the grad {tuple(value.shape)}"
                )
            if value._device is not self._device:
                raise RuntimeError(
                    f"assigned grad has data located on a different device: the tensor is on {self._device}, "
                    f"the grad on {value._device}"
                )
        self._grad = value

    # the getter is a C callable: read every step by optimizers and hand-written updates, it
    # then costs no Python frame
    grad = property(_operator.attrgetter("_grad"), _set_grad,
                    doc="The gradient ``backward`` accumulated into this tensor; None until there is one.")

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    @property
    def dtype(self) -> dtype:
        return _dt.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> device:
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> "Tensor":
        return self.transpose(-2, -1)

    def dim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None):
        """The shape, or the size of one dimension."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_one_axis(dim, self.ndim)]

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    __hash__ = object.__hash__  # by identity, as PyTorch's (``==`` is elementwise); no Python frame

    # ------------------------------------------------------------ conversions

    def numpy(self, force: bool = False) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU)."""
        if self.requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        if self._device.type != "cpu" and not force:
            raise TypeError(
                f"can't convert {self._device} tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first."
            )
        return move(self._data, CPU)

    def __array__(self, dtype=None, copy=None):
        arr = move(self._data, CPU)
        return arr if dtype is None else arr.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy's ufuncs on tensors, as PyTorch allows them. ``ndarray + tensor``, ``array < tensor``
        and the like run as the tensor's own operator (so they record the graph); any other ufunc
        (``np.exp(t)``, ``np.isnan(t)``, ``np.add.reduce(t)``) runs on the tensors' arrays, on
        their device, and gives back tensors. That needs tensors outside the graph: a ufunc
        cannot record it."""
        if method == "__call__" and len(inputs) == 2 and not kwargs:
            names = _UFUNC_OPERATORS.get(ufunc)
            if names is not None:
                a, b = inputs
                return getattr(a, names[0])(b) if isinstance(a, Tensor) else getattr(b, names[1])(a)
        return _ufunc_on_arrays(ufunc, method, inputs, kwargs)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item() if self._device.type == "cpu" else move(self._data, CPU).item()

    def tolist(self):
        return move(self._data, CPU).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous"
            )
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        """As PyTorch: a 0-d tensor formats as its number (``f"{loss}"`` gives ``2.3026``, ``f"{loss:.2f}"``
        ``2.30``); any other prints as ``str`` and takes no format spec."""
        if self._data.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string passed to Tensor.__format__: {spec!r} (only a 0-d tensor "
                            "takes a format spec; format t.item() or t.tolist() instead)")
        return repr(self)

    def to(self, *args, **kwargs) -> "Tensor":
        """Move and/or cast: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``."""
        layout = kwargs.get("memory_format")
        dev, dt, copy = parse_to_args(args, kwargs)
        out = self
        if dt is not None and dt.np != self._data.dtype:
            if dt.np.kind == "f":
                out = ops.Cast.apply(out, dtype=dt.np)
            else:  # an integer or bool result has no gradient: outside the graph, as in torch
                out = Tensor._make(out._data.astype(dt.np), out._device)
        if dev is not None:
            if dev is not out._device:
                out = _ToDevice.apply(out, target=dev)
        if copy and out is self:
            out = self.clone()
        if layout is not None and layout.perm is not None:
            out = out.contiguous(memory_format=layout)
        return out

    def cpu(self) -> "Tensor":
        return self.to(CPU)

    def cuda(self, device_id: int | None = None, non_blocking: bool = False) -> "Tensor":
        return self.to(device("cuda", device_id))

    def type(self, dtype=None):
        """Without arguments, the type name (``'nerve.FloatTensor'``); with a dtype, a cast."""
        if dtype is None:
            names = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
                     "bool": "Bool", "uint8": "Byte", "float16": "Half", "int16": "Short", "int8": "Char"}
            prefix = "nerve.cuda." if self.is_cuda else "nerve."
            return f"{prefix}{names[self.dtype.name]}Tensor"
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            rev = {"Float": "float32", "Double": "float64", "Long": "int64", "Int": "int32",
                   "Bool": "bool", "Byte": "uint8", "Half": "float16"}
            dtype = rev[dtype.rsplit(".", 1)[-1][: -len("Tensor")]]
        return self.to(dtype=dtype)

    def float(self) -> "Tensor":
        return self.to(dtype=_dt.float32)

    def double(self) -> "Tensor":
        return self.to(dtype=_dt.float64)

    def half(self) -> "Tensor":
        return self.to(dtype=_dt.float16)

    def long(self) -> "Tensor":
        return self.to(dtype=_dt.int64)

    def int(self) -> "Tensor":
        return self.to(dtype=_dt.int32)

    def bool(self) -> "Tensor":
        return self.to(dtype=_dt.bool_)

    def byte(self) -> "Tensor":
        return self.to(dtype=_dt.uint8)

    def detach(self) -> "Tensor":
        """A tensor sharing this data, cut off from the graph."""
        return Tensor._make(self._data, self._device)

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self.requires_grad = False
        return self

    def clone(self) -> "Tensor":
        return ops.Contiguous.apply(self)

    def contiguous(self, memory_format=None) -> "Tensor":
        """This tensor if its memory is in the asked order, else a copy that is. ``memory_format``:
        C order (the default), or ``nerve.channels_last`` (NHWC in memory, still indexed NCHW)."""
        perm = _memory_perm(memory_format, self._data.ndim)
        if perm is None:
            return self if self._data.flags.c_contiguous else ops.Contiguous.apply(self)
        return self if self.is_contiguous(memory_format) else ops.Contiguous.apply(self, perm=perm)

    def is_contiguous(self, memory_format=None) -> bool:
        perm = _memory_perm(memory_format, self._data.ndim)
        a = self._data
        return bool((a if perm is None else a.transpose(perm)).flags.c_contiguous)

    def view_as(self, other: "Tensor") -> "Tensor":
        return self.reshape(other.shape)

    def expand_as(self, other: "Tensor") -> "Tensor":
        return self.expand(other.shape)

    def reshape_as(self, other: "Tensor") -> "Tensor":
        return self.reshape(other.shape)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(dtype=other.dtype)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from .creation import tensor

        return tensor(data, dtype=dtype or self.dtype, device=device or self._device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from .creation import zeros

        return zeros(*size, dtype=dtype or self.dtype, device=device or self._device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from .creation import ones

        return ones(*size, dtype=dtype or self.dtype, device=device or self._device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False) -> "Tensor":
        from .creation import full

        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self._device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    # ------------------------------------------------------------ autograd

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; use detach() for a non-leaf"
            )
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients, got {self.dtype}"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        import weakref

        if self.grad_fn is not None:
            self.grad_fn._retain = weakref.ref(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            self._hooks = (self._hooks or []) + [hook]
        else:
            fn = self.grad_fn
            fn._hooks = (fn._hooks or []) + [hook]
        return _HookHandle(self, hook)

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf this tensor depends on.

        Args:
            gradient: d(loss)/d(self), needed when ``self`` has more than one element.
            retain_graph: keep the graph so backward can run through it again (default:
                ``create_graph``).
            create_graph: record the backward itself, so the gradients (tensors with a
                ``grad_fn``) can be differentiated again; ops without a double backward raise.
            inputs: the tensors (leaves or not) whose ``.grad`` receives the gradient; the
                others are left as they are (default: every leaf).
        """
        if inputs is not None:
            self._backward_into(inputs, gradient, retain_graph, create_graph)
            return
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; this tensor has shape "
                    f"{tuple(self.shape)}: pass backward(gradient=...) with a tensor of that shape"
                )
            g = _ones_like(self._data, self._device)
        else:
            g = gradient._data if isinstance(gradient, Tensor) else self._device.xp.asarray(gradient)
            if g.shape != self._data.shape:
                raise RuntimeError(
                    f"backward: gradient has shape {tuple(g.shape)} but the tensor has shape {tuple(self.shape)}"
                )
            g = g.astype(self._data.dtype, copy=False)
        if create_graph:
            if not (isinstance(gradient, Tensor) and gradient._data is g):
                gradient = Tensor._make(g, self._device)
            _autograd.run_backward_graph(self, gradient, retain_graph is None or bool(retain_graph))
            return
        _autograd.run_backward(self, g, bool(retain_graph))

    def _backward_into(self, inputs, gradient, retain_graph, create_graph) -> None:
        """``backward(inputs=...)``: the gradients of ``inputs`` alone, accumulated into their ``.grad``."""
        ins = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        if not ins:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        if gradient is not None and not isinstance(gradient, Tensor):
            gradient = Tensor._make(self._device.xp.asarray(gradient, dtype=self._data.dtype), self._device)
        if gradient is not None and tuple(gradient.shape) != tuple(self.shape):
            raise RuntimeError(f"backward: gradient has shape {tuple(gradient.shape)} but the tensor has shape "
                               f"{tuple(self.shape)}")
        grads = _autograd.grad(self, ins, gradient, retain_graph=retain_graph, create_graph=create_graph,
                               allow_unused=True)
        for t, g in zip(ins, grads):
            fn = t.grad_fn
            if g is None or (fn is not None and fn._retain is not None and fn._retain() is t):
                continue  # (a non-leaf that retains its gradient got it on the way, as in torch)
            if t._grad is None:
                # its own copy, as torch's accumulation: grad() may hand one array to several inputs
                # (an add's two operands), and the caller's gradient itself to a leaf
                t._grad = g.clone() if create_graph else Tensor._make(g._data.copy(), g._device)
            elif create_graph:
                t._grad = t._grad + g
            else:
                t._grad._data += g._data

    # ------------------------------------------------------------ printing

    def __repr__(self) -> str:
        """PyTorch's print of a tensor (see ``nerve/_tensor_str.py``)."""
        arr = move(self._data, CPU)
        prefix = "tensor("
        suffixes = []
        if self._device.type != "cpu":
            suffixes.append(f"device='{self._device}'")
        default = _dt.get_default_dtype().np
        if arr.size == 0:
            if arr.ndim != 1:
                suffixes.append(f"size={tuple(arr.shape)}")
            if arr.dtype != default:
                suffixes.append(f"dtype={self.dtype}")
            body = "[]"
        else:
            if not _tensor_str.EDGEITEMS:  # set_printoptions(edgeitems=0): no values, so the size
                suffixes.append(f"size={tuple(arr.shape)}")
            if arr.dtype not in (default, np.dtype(np.int64), np.dtype(np.bool_)):
                suffixes.append(f"dtype={self.dtype}")
            body = _tensor_str.values_str(arr, len(prefix))
        if self.grad_fn is not None:
            suffixes.append(f"grad_fn=<{self.grad_fn.node_name}>")
        elif self.requires_grad:
            suffixes.append("requires_grad=True")
        return _tensor_str.add_suffixes(prefix + body, suffixes, len(prefix))

    __str__ = __repr__

    # ------------------------------------------------------------ pickling and copying

    def __reduce_ex__(self, protocol):
        return (_rebuild, (type(self), move(self._data, CPU), str(self._device), self.requires_grad,
                           getattr(self, "__dict__", None)))

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol"
            )
        new = object.__new__(type(self))
        new._data = self._data.copy()
        new._device = self._device
        new.requires_grad = self.requires_grad
        new.grad = None if self.grad is None else self.grad.__deepcopy__(memo)
        new.grad_fn = None
        new._hooks = None
        new._view = None
        if hasattr(self, "__dict__"):
            import copy

            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        memo[id(self)] = new
        return new

    # ------------------------------------------------------------ arithmetic

    def _coerce(self, other):
        """Prepare ``other`` for a binary op: a tensor or Python number, dtypes promoted."""
        a = self
        if isinstance(other, Tensor):
            if other._data.dtype == a._data.dtype:
                return a, other
            target = _dt.result_type(a, other).np
            if a._data.dtype != target:
                a = a.to(dtype=target)
            if other._data.dtype != target:
                other = other.to(dtype=target)
            return a, other
        if isinstance(other, np.generic):
            other = other.item()
        if isinstance(other, _SCALAR_TYPES):
            k = a._data.dtype.kind
            if k == "f":
                return a, other
            if isinstance(other, float) or (k == "b" and not isinstance(other, bool)):
                target = _dt.result_type(a, other).np
                return a.to(dtype=target), other
            return a, other
        if isinstance(other, (list, tuple)) or is_array(other):
            from .creation import tensor

            return a._coerce(tensor(other, device=a._device))
        if hasattr(other, "__nerve_tensor__"):  # a wrapper that stands for a tensor (a Keras Variable)
            return a._coerce(other.__nerve_tensor__())
        if isinstance(other, complex):
            raise TypeError(f"{_dt.NO_COMPLEX} (got {other!r})")
        raise TypeError(f"unsupported operand type for a tensor op: {type(other).__name__}")

    def _plain_scalar(self, other) -> bool:
        """True when ``other`` is a Python int or float and this float tensor records no graph:
        the op needs no promotion and no ``Function``, only the array op."""
        return other.__class__ in _FAST_SCALARS and self._data.dtype.kind == "f" and not (
            self.requires_grad and _autograd._enabled
        )

    def __add__(self, other):
        if isinstance(other, Tensor) and other._data.dtype == self._data.dtype:  # nothing to promote
            if _autograd._enabled and (self.requires_grad or other.requires_grad):
                return ops.Add().run((self, other))  # recording: straight to the op (apply's work, written out)
            return _same_dtype(self, other, _operator.add, ops.Add)
        if self._plain_scalar(other):
            return Tensor._make(self._data + other, self._device)
        a, b = self._coerce(other)
        return ops.Add.apply(a, b)

    def __radd__(self, other):
        if self._plain_scalar(other):
            return Tensor._make(other + self._data, self._device)
        a, b = self._coerce(other)
        return ops.Add.apply(a, b)  # the tensor first, as PyTorch's graph has it (addition commutes)

    def __sub__(self, other):
        if isinstance(other, Tensor) and other._data.dtype == self._data.dtype:  # nothing to promote
            if _autograd._enabled and (self.requires_grad or other.requires_grad):
                return ops.Sub().run((self, other))  # recording: straight to the op
            return _same_dtype(self, other, _operator.sub, ops.Sub)
        if self._plain_scalar(other):
            return Tensor._make(self._data - other, self._device)
        a, b = self._coerce(other)
        return ops.Sub.apply(a, b)

    def __rsub__(self, other):
        if self._plain_scalar(other):
            return Tensor._make(other - self._data, self._device)
        a, b = self._coerce(other)
        if isinstance(b, Tensor):
            return ops.Sub.apply(b, a)
        return ops.Sub.apply(b, a, rsub=True)  # PyTorch's rsub: one node, one edge

    def __mul__(self, other):
        if isinstance(other, Tensor) and other._data.dtype == self._data.dtype:  # nothing to promote
            if _autograd._enabled and (self.requires_grad or other.requires_grad):
                return ops.Mul().run((self, other))  # recording: straight to the op
            return _same_dtype(self, other, _operator.mul, ops.Mul)
        if self._plain_scalar(other):
            return Tensor._make(self._data * other, self._device)
        a, b = self._coerce(other)
        return ops.Mul.apply(a, b)

    def __rmul__(self, other):
        if self._plain_scalar(other):
            return Tensor._make(other * self._data, self._device)
        a, b = self._coerce(other)
        return ops.Mul.apply(a, b)  # the tensor first, as PyTorch's graph has it (multiplication commutes)

    def __truediv__(self, other):
        a, b = self._coerce(other)
        if a._data.dtype.kind != "f":
            a = a.to(dtype=_dt.get_default_dtype())
            a, b = a._coerce(b)
        return ops.Div.apply(a, b)

    def __rtruediv__(self, other):
        a, b = self._coerce(other)
        if a._data.dtype.kind != "f":
            a = a.to(dtype=_dt.get_default_dtype())
            a, b = a._coerce(b)
        return ops.Div.apply(b, a)

    def __floordiv__(self, other):
        return self.div(other, rounding_mode="floor")

    def __rfloordiv__(self, other):
        a, b = self._coerce(other)
        return _constant(b, a).div(a, rounding_mode="floor")

    def __mod__(self, other):
        """``self % other`` with the sign of the divisor (Python's and ``torch.remainder``'s)."""
        a, b = self._coerce(other)
        if _integer_division(a, _raw(b, a), "remainder"):
            return a._wrap(a._device.xp.remainder(a._data, _raw(b, a)))
        return ops.Remainder.apply(a, b)

    def __rmod__(self, other):
        a, b = self._coerce(other)
        return _constant(b, a) % a

    def __pow__(self, other):
        a, b = self._coerce(other)
        return ops.Pow.apply(a, b)

    def __rpow__(self, other):
        a, b = self._coerce(other)
        return ops.Pow.apply(b, a)

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            if not hasattr(other, "__nerve_tensor__"):  # a wrapper that stands for a tensor (a Keras Variable)
                raise TypeError(f"matmul: expected a Tensor, got {type(other).__name__}")
            other = other.__nerve_tensor__()
        if other._data.dtype == self._data.dtype:
            return ops.MatMul().run((self, other))  # (apply's work, written out)
        raise _mixed_matmul("matmul", self, other)  # as PyTorch: a product never promotes

    def __rmatmul__(self, other):
        from .creation import tensor

        return tensor(other, device=self._device).__matmul__(self)

    def __neg__(self):
        return ops.Neg().run((self,))  # (apply's work, written out)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.Abs.apply(self)

    def __invert__(self):
        return self._wrap(~self._data)

    def __and__(self, other):
        return self._bitwise(other, "bitwise_and", "bitwise_and")

    def __or__(self, other):
        return self._bitwise(other, "bitwise_or", "bitwise_or")

    def __xor__(self, other):
        return self._bitwise(other, "bitwise_xor", "bitwise_xor")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __lshift__(self, other):
        return self._bitwise(other, "left_shift", "lshift")

    def __rshift__(self, other):
        return self._bitwise(other, "right_shift", "rshift")

    def __rlshift__(self, other):
        a, b = self._coerce(other)
        return _constant(b, a)._bitwise(a, "left_shift", "lshift")

    def __rrshift__(self, other):
        a, b = self._coerce(other)
        return _constant(b, a)._bitwise(a, "right_shift", "rshift")

    def add(self, other, *, alpha=1):
        """``self + alpha * other``, as ``torch.add``."""
        return self.__add__(other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        """``self - alpha * other``, as ``torch.sub``."""
        return self.__sub__(other if alpha == 1 else other * alpha)

    subtract = sub
    mul = __mul__
    multiply = __mul__
    def div(self, other, *, rounding_mode=None):
        """``self / other``, as ``torch.div``. ``rounding_mode='floor'`` or ``'trunc'`` rounds the
        quotient down or toward zero; integer tensors then stay integer. A rounded quotient is
        outside the graph (PyTorch gives it a zero gradient)."""
        if rounding_mode is None:
            return self.__truediv__(other)
        if rounding_mode not in ("floor", "trunc"):
            raise ValueError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
            )
        a, b = self._coerce(other)
        x, y = a._data, _raw(b, a)
        if _integer_division(a, y, "div_" + rounding_mode):
            q = a._device.xp.floor_divide(x, y)
            if rounding_mode == "trunc":  # floor rounds a negative quotient down: step back up
                q = q + ((q * y != x) & ((x < 0) != (y < 0)))
            return a._wrap(a._device.xp.asarray(q, dtype=x.dtype) if q.dtype != x.dtype else q)
        return ops.RoundedDiv.apply(a, b, mode=rounding_mode)

    divide = div
    true_divide = __truediv__
    pow = __pow__
    matmul = __matmul__
    neg = __neg__
    negative = __neg__
    abs = __abs__
    remainder = __mod__
    floor_divide = __floordiv__

    def mm(self, other):
        if isinstance(other, Tensor) and other._data.dtype != self._data.dtype:
            raise _mixed_matmul("mm", self, other)
        _matrices("mm", (self, "self must be a matrix"), (other, "mat2 must be a matrix"), ndim=2)
        return self @ other

    def bmm(self, other):
        if isinstance(other, Tensor) and other._data.dtype != self._data.dtype:
            raise _mixed_matmul("bmm", self, other)
        _matrices("bmm", (self, "batch1 must be a 3D tensor"), (other, "batch2 must be a 3D tensor"), ndim=3)
        return self @ other

    def dot(self, other):
        if isinstance(other, Tensor) and other._data.dtype != self._data.dtype:
            raise _mixed_matmul("dot", self, other)
        if isinstance(other, Tensor) and (self.ndim != 1 or other.ndim != 1):
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        return self @ other

    # comparisons (no gradient)
    def _cmp(self, other, op):
        return self._wrap(op(self._data, _raw(other, self)))

    def __eq__(self, other):  # type: ignore[override]
        if other is None:
            return False
        return self._cmp(other, lambda a, b: a == b)

    def __ne__(self, other):  # type: ignore[override]
        if other is None:
            return True
        return self._cmp(other, lambda a, b: a != b)

    def __lt__(self, other):
        return self._cmp(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._cmp(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._cmp(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._cmp(other, lambda a, b: a >= b)

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__
    less = __lt__
    greater = __gt__

    def equal(self, other: "Tensor") -> bool:
        return self.shape == other.shape and bool((self._data == other._data).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
        return bool(self._device.xp.allclose(self._data, _raw(other, self), rtol=rtol, atol=atol, equal_nan=equal_nan))

    def isclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False) -> "Tensor":
        return self._wrap(self._device.xp.isclose(self._data, _raw(other, self), rtol=rtol, atol=atol, equal_nan=equal_nan))

    # ------------------------------------------------------------ in-place

    def _inplace(self, result: "Tensor") -> "Tensor":
        """``_inplace_graph``, with ``retain_grad`` following the tensor: its ``.grad`` is then for
        the value after the op, as PyTorch's (a hook registered before keeps the value before's)."""
        old = self.grad_fn
        keep = old is not None and old._retain is not None and old._retain() is self
        self._inplace_graph(result)
        if keep and self.grad_fn is not old:
            old._retain = None
            self.retain_grad()
        return self

    def _inplace_graph(self, result: "Tensor") -> "Tensor":
        """Make ``self`` hold ``result`` (computed out of place, with its graph).

        When ``self`` is a view of another tensor (basic indexing, reshape, permute, made while
        recording), the new values are written into that tensor too, differentiably, as PyTorch's
        in-place ops on views do; ``self`` then views the updated tensor again."""
        if self.grad_fn is None and self.requires_grad:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        if result._data.dtype != self._data.dtype:
            raise RuntimeError(
                f"result type {_dt.from_numpy_dtype(result._data.dtype)} can't be cast to the "
                f"desired output type {self.dtype}"
            )
        if result._data.shape != self._data.shape:  # an in-place op cannot broadcast its target
            raise RuntimeError(f"output with shape {list(self._data.shape)} doesn't match the broadcast shape "
                               f"{list(result._data.shape)}")
        if not getattr(self._data.flags, "writeable", True) and _expanded(self._data):
            raise _readonly(self._data)  # an expanded tensor, as PyTorch refuses it (the result is rebound)
        view = getattr(self, "_view", None)
        if view is not None and view is not _DATA_ALIAS:
            base, op, arg = view
            if base.grad_fn is None and base.requires_grad:
                raise RuntimeError(
                    "a view of a leaf Variable that requires grad is being used in an in-place operation."
                )
            if op == "index":
                base[arg] = result
                new = base[arg]
            elif op == "reshape":
                base._inplace(result.reshape(base._data.shape))
                new = base.reshape(arg)
            elif op == "diagonal":  # written back through the positions it views
                offset, a, b = arg
                k = result._data.shape[-1]
                idx = [slice(None)] * base.ndim
                idx[a] = np.arange(k) + max(-offset, 0)
                idx[b] = np.arange(k) + max(offset, 0)
                # NumPy puts the indexed axis where a and b were when they are neighbours, else first
                pos = min(a, b) if abs(a - b) == 1 else 0
                base[tuple(idx)] = result.movedim(-1, pos) if result.ndim > 1 else result
                new = base.diagonal(offset, a, b)
            else:  # permute
                base._inplace(result.permute(*np.argsort(arg).tolist()))
                new = base.permute(*arg)
            self._data, self.grad_fn, self.requires_grad = new._data, new.grad_fn, new.requires_grad
            self._view = getattr(new, "_view", None)
            return self
        self._data = result._data
        self.grad_fn = result.grad_fn
        self.requires_grad = result.requires_grad
        return self

    def _needs_graph(self, other=None) -> bool:
        return _autograd._enabled and (
            self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
        )

    def _binary_inplace(self, other, iop, name, method):
        """``self op= other``: ``iop`` is the array's in-place operator, ``name`` the ufunc's name."""
        if not _autograd._enabled and isinstance(other, Tensor) and other._data.dtype == self._data.dtype \
                and other._device is self._device:  # an update under no_grad, as an SGD step by hand
            try:  # (the writeable check only on failure: this path runs in every hand-written update)
                iop(self._data, other._data)  # the array's own in-place op: the ufunc with out=
            except ValueError:
                if getattr(self._data.flags, "writeable", True):
                    raise _shape_error(self, other) from None
                raise _readonly(self._data) from None
            _noted(self)
            return self
        if self._needs_graph(other):
            return self._inplace(method(self, other))
        npop = getattr(self._device.xp, name)
        b = _raw(other, self)
        if isinstance(b, bool):
            kind = "b"
        elif isinstance(b, int):
            kind = "i"
        elif isinstance(b, float):
            kind = "f"
        else:
            kind = b.dtype.kind
        if _KIND_RANK[kind] > _KIND_RANK[self._data.dtype.kind]:
            name = {"f": "Float", "i": "Long", "u": "Long"}.get(kind, "Bool")
            raise RuntimeError(f"result type {name} can't be cast to the desired output type {self.dtype}")
        _check_writeable(self._data)
        try:
            npop(self._data, b, out=self._data, casting="unsafe")
        except ValueError:
            raise _shape_error(self, other) from None
        _noted(self)
        return self

    def __iadd__(self, other):
        return self._binary_inplace(other, _operator.iadd, "add", Tensor.__add__)

    def __isub__(self, other):
        return self._binary_inplace(other, _operator.isub, "subtract", Tensor.__sub__)

    def __imul__(self, other):
        return self._binary_inplace(other, _operator.imul, "multiply", Tensor.__mul__)

    def __itruediv__(self, other):
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"result type Float can't be cast to the desired output type {_torch_name(self)}")
        return self._binary_inplace(other, _operator.itruediv, "true_divide", Tensor.__truediv__)

    def add_(self, other, alpha=None):
        if alpha is not None:
            if _axpy(self, other, alpha, 1.0):
                return self
            other = other * alpha
        return self.__iadd__(other)

    def sub_(self, other, alpha=None):
        if alpha is not None:
            if _axpy(self, other, alpha, -1.0):
                return self
            other = other * alpha
        return self.__isub__(other)

    def mul_(self, other):
        return self.__imul__(other)

    def div_(self, other, *, rounding_mode=None):
        if rounding_mode is None:
            return self.__itruediv__(other)
        result = self.div(other, rounding_mode=rounding_mode)
        if _KIND_RANK[result._data.dtype.kind] > _KIND_RANK[self._data.dtype.kind]:
            raise RuntimeError(f"result type {result.dtype} can't be cast to the desired output type {self.dtype}")
        return self._write(result, other)

    def pow_(self, other):
        return self._unary_inplace(lambda t: t ** other)

    def addcmul_(self, t1, t2, value=1):
        return self.add_(t1 * t2 * value)

    def addcdiv_(self, t1, t2, value=1):
        return self.add_(t1 / t2 * value)

    def lerp_(self, end, weight):
        return self.add_((end - self) * weight)

    def _unary_inplace(self, fn):
        if self._needs_graph():
            return self._inplace(fn(self))
        out = fn(self.detach())
        if _KIND_RANK[out._data.dtype.kind] > _KIND_RANK[self._data.dtype.kind]:  # exp_ of an int tensor
            raise RuntimeError(f"result type {_torch_name(out)} can't be cast to the desired output type "
                               f"{_torch_name(self)}")
        try:
            self._data[...] = out._data
        except ValueError:
            raise _shape_error(self, out) from None
        _noted(self)
        return self

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        _check_writeable(self._data, "fill_")
        if self._needs_graph(value):
            return self._inplace(self * 0 + value)
        self._data[...] = _raw(value, self)
        _noted(self)
        return self

    def copy_(self, src, non_blocking: bool = False):
        """Copy ``src`` into this tensor (broadcasting, casting, across devices)."""
        if not isinstance(src, Tensor):
            from .creation import tensor

            src = tensor(src)
        if self._needs_graph(src):
            moved = src.to(self._device).to(self.dtype)
            return self._inplace(moved.expand(self.shape) + self * 0)
        arr = move(src._data, self._device)
        _check_writeable(self._data)
        if self._data.dtype.kind == "b" and arr.dtype.kind != "b":
            arr = arr != 0  # (NumPy refuses to cast numbers to bool in an assignment; torch casts)
        try:
            self._data[...] = arr
        except ValueError:
            raise RuntimeError(
                f"copy_: the size of the source {tuple(src.shape)} does not match the destination "
                f"{tuple(self.shape)} and cannot be broadcast to it"
            ) from None
        _noted(self)
        return self

    def clamp_(self, min=None, max=None):
        return self._unary_inplace(lambda t: t.clamp(min, max))

    clip_ = clamp_

    def relu_(self):
        return self._unary_inplace(lambda t: t.relu())

    def exp_(self):
        return self._unary_inplace(lambda t: t.exp())

    def sqrt_(self):
        return self._unary_inplace(lambda t: t.sqrt())

    def neg_(self):
        return self._unary_inplace(lambda t: -t)

    def abs_(self):
        return self._unary_inplace(lambda t: t.abs())

    def masked_fill_(self, mask, value):
        return self._unary_inplace(lambda t: t.masked_fill(mask, value))

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None):
        from .random import _uniform

        with _no_grad():
            self._data[...] = _uniform(self.shape, a, b, self._data.dtype, self._device, generator)
        _noted(self)
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None):
        from .random import _normal

        with _no_grad():
            self._data[...] = _normal(self.shape, mean, std, self._data.dtype, self._device, generator)
        _noted(self)
        return self

    def bernoulli_(self, p: float = 0.5, generator=None):
        from .random import _uniform

        with _no_grad():
            u = _uniform(self.shape, 0.0, 1.0, np.float32, self._device, generator)
            self._data[...] = u < p
        _noted(self)
        return self

    def __setitem__(self, index, value):
        steps = _ints_first(index, self.ndim)
        if steps is not None:  # into the view the integers select (its writes reach self)
            self[steps[0]][steps[1]] = value
            return
        idx, _ = _index(index, self._device)
        if self._needs_graph(value):
            v = value
            if isinstance(v, Tensor) and v._data.dtype != self._data.dtype:
                v = v.to(dtype=self.dtype)
            self._inplace(ops.SetItem.apply(self, v, index=idx))
            return
        v = _raw(value, self)
        _check_writeable(self._data, "item assignment")
        try:
            self._data[idx] = v
        except ValueError as e:
            raise RuntimeError(f"setitem: {e} (tensor shape {tuple(self.shape)})") from None
        _noted(self)

    # ------------------------------------------------------------ elementwise math

    def exp(self):
        return ops.Exp().run((self._floating(),))

    def log(self):
        return ops.Log().run((self._floating(),))

    def log1p(self):
        return ops.Log1p.apply(self._floating())

    def log2(self):
        return self.log() * (1.0 / np.log(2.0))

    def log10(self):
        return self.log() * (1.0 / np.log(10.0))

    def expm1(self):
        return self.exp() - 1

    def sqrt(self):
        return ops.Sqrt().run((self._floating(),))

    def rsqrt(self):
        return 1 / self.sqrt()

    def square(self):
        return self * self

    def reciprocal(self):
        return 1 / self

    def sin(self):
        return ops.Sin.apply(self._floating())

    def cos(self):
        return ops.Cos.apply(self._floating())

    def tan(self):
        return self.sin() / self.cos()

    def tanh(self):
        return ops.Tanh().run((self._floating(),))

    def sigmoid(self):
        return ops.Sigmoid().run((self._floating(),))

    def relu(self):  # the common activations run their op without Function.apply (a Python call less)
        return ops.Relu().run((self,))

    def softmax(self, dim: int, dtype=None):
        from .nn import functional as F

        return F.softmax(self, dim=dim, dtype=dtype)

    def log_softmax(self, dim: int, dtype=None):
        from .nn import functional as F

        return F.log_softmax(self, dim=dim, dtype=dtype)

    # the step functions record a node with a zero gradient, as PyTorch's (FloorBackward0, ...)
    def sign(self):
        if self._data.dtype.kind == "b":  # NumPy has no sign of bools; the values are their own
            return self.clone()
        out = ops.Stepwise.apply(self, fn="sign")
        if out._data.dtype.kind == "f" and self._device.xp.isnan(out._data).any():
            out._data[self._device.xp.isnan(out._data)] = 0  # torch: the sign of nan is 0
        return out

    def floor(self):
        return ops.Stepwise.apply(self, fn="floor")

    def ceil(self):
        return ops.Stepwise.apply(self, fn="ceil")

    def round(self, decimals: int = 0):
        if decimals == 0:
            return ops.Stepwise.apply(self, fn="round")
        return ops.Stepwise.apply(self, fn="round", args=(decimals,))

    def trunc(self):
        return ops.Stepwise.apply(self, fn="trunc")

    def clamp(self, min=None, max=None):
        """Limit values to [min, max]; either bound may be a number, a tensor or None."""
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = out.maximum(min if isinstance(min, Tensor) else self.new_tensor(min))
            if max is not None:
                out = out.minimum(max if isinstance(max, Tensor) else self.new_tensor(max))
            return out
        if min is None and max is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        x = self._floating() if isinstance(min, float) or isinstance(max, float) else self  # int to float32, not 64
        return ops.Clamp.apply(x, min=_as_scalar(min), max=_as_scalar(max))

    clip = clamp

    def maximum(self, other):
        a, b = self._coerce(other if isinstance(other, Tensor) else self.new_tensor(other))
        return ops.Maximum.apply(a, b)

    def minimum(self, other):
        a, b = self._coerce(other if isinstance(other, Tensor) else self.new_tensor(other))
        return ops.Minimum.apply(a, b)

    def where(self, condition, other):
        from .functions import where

        return where(condition, self, other)

    def masked_fill(self, mask, value):
        """``value`` where ``mask`` holds, else ``self``; in this tensor's dtype, as torch (the value is
        cast to it: 1.5 fills an integer tensor with 1)."""
        from .functions import where

        if isinstance(value, Tensor):
            if value.ndim:
                raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                                   f"with {value.ndim} dimension(s).")
            if value._data.dtype != self._data.dtype:
                value = value.to(dtype=self.dtype)
        elif self._data.dtype.kind in "iub" and not isinstance(value, bool):
            value = (builtins.bool if self._data.dtype.kind == "b" else builtins.int)(value)
        return where(mask, value, self)

    def isnan(self):
        return self._wrap(self._device.xp.isnan(self._data))

    def isinf(self):
        return self._wrap(self._device.xp.isinf(self._data))

    def isfinite(self):
        return self._wrap(self._device.xp.isfinite(self._data))

    def logical_not(self):
        return self._wrap(self._device.xp.logical_not(self._data))

    def logical_and(self, other):
        return self._wrap(self._device.xp.logical_and(self._data, _raw(other, self)))

    def logical_or(self, other):
        return self._wrap(self._device.xp.logical_or(self._data, _raw(other, self)))

    def _floating(self):
        return self if self._data.dtype.kind == "f" else self.to(dtype=_dt.get_default_dtype())

    # ------------------------------------------------------------ reductions

    # sum, mean and logsumexp take NumPy's axis/keepdims themselves (numpy_aliases would wrap them
    # in one more Python call: these three sit in most losses)

    def sum(self, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
        """Sum over ``dim`` (an int, a tuple, or all dims)."""
        if axis is not None or keepdims is not None:
            dim, keepdim = _dim_aliases("sum", dim, keepdim, axis, keepdims)
        ax = _axis(dim, self.ndim)
        if dtype is not None:
            out_dt = _dt.to_dtype(dtype).np
        elif self._data.dtype.kind in "iub":
            out_dt = np.int64
        else:
            out_dt = None
        return ops.Sum.apply(self, axis=ax, keepdims=keepdim, dtype=out_dt)

    def mean(self, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
        if axis is not None or keepdims is not None:
            dim, keepdim = _dim_aliases("mean", dim, keepdim, axis, keepdims)
        x = self if dtype is None else self.to(dtype=dtype)
        if x._data.dtype.kind != "f":
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating point "
                f"or complex dtype. Got: {x.dtype}"
            )
        fn = ops.Mean()  # (Function.apply's work, written out: the last op of most losses)
        fn.axis = None if dim is None else _axis(dim, x._data.ndim)
        fn.keepdims = keepdim
        return fn.run((x,))

    def var(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        if isinstance(dim, bool):  # var(unbiased) positional form
            correction, dim = int(dim), None
        return ops.Var.apply(self._floating(), axis=_axis(dim, self.ndim), keepdims=keepdim,
                             correction=correction)

    def std(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        return ops.Sqrt.apply(self.var(dim, unbiased, keepdim, correction=correction), zero_at_zero=True)

    def prod(self, dim=None, keepdim: bool = False, dtype=None):
        x = self if dtype is None else self.to(dtype=dtype)
        if x._data.dtype.kind in "iub":  # as sum: int64 (NumPy would give uint64 for uint8)
            x = x.to(dtype=_dt.int64)
        return ops.Prod.apply(x, axis=_axis(dim, self.ndim) if dim is not None else None, keepdims=keepdim)

    def amax(self, dim=None, keepdim: bool = False):
        ax = _nonempty(self, "amax", _axis(dim, self.ndim))
        return ops.Amax.apply(self, axis=ax, keepdims=keepdim, op="max")

    def amin(self, dim=None, keepdim: bool = False):
        ax = _nonempty(self, "amin", _axis(dim, self.ndim))
        return ops.Amax.apply(self, axis=ax, keepdims=keepdim, op="min")

    def _maxmin(self, op, dim, keepdim):
        if isinstance(dim, Tensor):
            return self.maximum(dim) if op == "max" else self.minimum(dim)
        if dim is None:
            if self._data.size == 0:
                raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0")
            return ops.Amax.apply(self, axis=None, keepdims=False, op=op, whole=True)
        ax = _one_axis(dim, self.ndim)
        if not self.ndim:  # dim 0 or -1 of a 0-d tensor: the tensor itself, at index 0
            values, arg = self.reshape(1)._maxmin(op, 0, False)
            return (MaxResult if op == "max" else MinResult)(values.reshape(()), arg.reshape(()))
        _nonempty(self, op, ax)
        values = ops.MaxDim.apply(self, axis=ax, keepdims=keepdim, op=op)
        arg = self._data.argmax(axis=ax) if op == "max" else self._data.argmin(axis=ax)
        if keepdim:
            arg = self._device.xp.expand_dims(arg, ax)
        cls = MaxResult if op == "max" else MinResult
        return cls(values, self._wrap(arg.astype(np.int64, copy=False)))

    def max(self, dim=None, keepdim: bool = False):
        """The largest value; with ``dim``, a ``(values, indices)`` pair; with a tensor, ``maximum``."""
        return self._maxmin("max", dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        return self._maxmin("min", dim, keepdim)

    def _arg(self, op: str, dim, keepdim: bool):
        """Index of the max/min (first one on ties), over everything or along ``dim`` (int64)."""
        xp = self._device.xp
        if dim is None:
            if self._data.size == 0:
                raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
            out = xp.asarray(getattr(self._data, op)())
            if keepdim:
                out = out.reshape((1,) * self.ndim)
        else:
            ax = _nonempty(self, op, _one_axis(dim, self.ndim))
            out = getattr(self._data, op)(axis=ax) if self.ndim else xp.asarray(0)
            if keepdim and self.ndim:
                out = xp.expand_dims(out, ax)
        return self._wrap(out.astype(np.int64, copy=False))

    def argmax(self, dim=None, keepdim: bool = False):
        return self._arg("argmax", dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        return self._arg("argmin", dim, keepdim)

    def logsumexp(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        if axis is not None or keepdims is not None or dim is None:
            dim, keepdim = _dim_aliases("logsumexp", dim, keepdim, axis, keepdims)
            if dim is None:
                raise TypeError("logsumexp(): argument 'dim' must be tuple of ints, not NoneType")
        x = self if self._data.dtype.kind == "f" else self._floating()
        fn = ops.LogSumExp()  # (Function.apply's work, written out: this op sits in many losses)
        nd = x._data.ndim
        fn.axis = dim % nd if dim.__class__ is int and -nd <= dim < nd else _axis(dim, nd)
        fn.keepdims = keepdim
        return fn.run((x,))

    def norm(self, p=2, dim=None, keepdim: bool = False):
        if p == 2 or p == "fro":
            return ops.Sqrt.apply((self * self).sum(dim, keepdim), zero_at_zero=True)
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == float("inf"):
            return self.abs().amax(dim, keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def all(self, dim=None, keepdim: bool = False):
        return self._wrap(self._device.xp.asarray(self._data.all(axis=_axis(dim, self.ndim), keepdims=keepdim)))

    def any(self, dim=None, keepdim: bool = False):
        return self._wrap(self._device.xp.asarray(self._data.any(axis=_axis(dim, self.ndim), keepdims=keepdim)))

    def count_nonzero(self, dim=None):
        return self._wrap(self._device.xp.asarray((self._data != 0).sum(axis=_axis(dim, self.ndim))).astype(np.int64))

    def cumsum(self, dim: int, *, dtype=None):
        from .functions import cumsum

        return cumsum(self, dim, dtype=dtype)

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False):
        """Sorted values and their indices along ``dim``; always stable (equal values keep
        their order), so ``stable`` is accepted and changes nothing."""
        xp = self._device.xp
        ax = _one_axis(dim, self.ndim)
        if not self.ndim:
            s = self.reshape(1).sort(ax, descending)
            return SortResult(s.values.reshape(()), s.indices.reshape(()))
        if descending:  # not an ascending sort of -x: -x wraps for uint8 and keeps nan last (torch: first)
            flipped = xp.argsort(xp.flip(self._data, ax), axis=ax, kind="stable")
            idx = (self._data.shape[ax] - 1) - xp.flip(flipped, ax)  # equal values keep their order
        else:
            idx = xp.argsort(self._data, axis=ax, kind="stable")
        return SortResult(self.gather(ax, self._wrap(idx)), self._wrap(idx.astype(np.int64)))

    def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False):
        return self.sort(dim, descending).indices  # (sort is always stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        if not self.ndim:  # a 0-d tensor is its own top 1
            s = self.reshape(1).topk(k, 0, largest, sorted)
            return TopkResult(s.values.reshape(()), s.indices.reshape(()))
        if not 0 <= k <= self._data.shape[_one_axis(dim, self.ndim)]:
            raise RuntimeError("selected index k out of range")
        s = self.sort(dim, descending=largest)
        return TopkResult(s.values.narrow(dim, 0, k), s.indices.narrow(dim, 0, k))

    def gather(self, dim: int, index: "Tensor"):
        """Pick values along ``dim`` by ``index`` (differentiable in ``self``)."""
        from .functions import gather

        return gather(self, dim, index)

    def nonzero(self, as_tuple: bool = False):
        if not self.ndim:  # (NumPy refuses a 0-d array) as torch: one row of no coordinates if nonzero
            return self.reshape(1).nonzero(as_tuple) if as_tuple else self._wrap(
                self._device.xp.zeros((int(self._data != 0), 0), np.int64))
        nz = self._device.xp.nonzero(self._data)
        if as_tuple:
            return tuple(self._wrap(n.astype(np.int64)) for n in nz)
        return self._wrap(self._device.xp.stack(nz, axis=1).astype(np.int64))

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
        """The distinct values (or, along ``dim``, slices), sorted; with ``return_inverse`` where each
        element (slice) of ``self`` went, with ``return_counts`` how often each occurs."""
        x = self._data
        axis = None if dim is None else _one_axis(dim, self.ndim)
        if axis is not None and self.ndim == 0:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        u, inverse, counts = self._device.xp.unique(x, return_inverse=True, return_counts=True, axis=axis)
        out = [self._wrap(u)]
        if return_inverse:
            out.append(self._wrap(inverse.reshape(x.shape if axis is None else -1).astype(np.int64)))
        if return_counts:
            out.append(self._wrap(counts.astype(np.int64)))
        return out[0] if len(out) == 1 else tuple(out)

    # ------------------------------------------------------------ shapes

    def reshape(self, *shape):
        shape = _size(shape)
        if shape == self._data.shape:
            return self
        try:
            out = ops.Reshape.apply(self, shape=shape)
            if out._data.base is not None and self._device.xp.may_share_memory(out._data, self._data):
                out._view = (self, "reshape", shape)  # a view (a reshape NumPy cannot view is a copy)
            return out
        except RuntimeError:
            raise RuntimeError(
                f"shape '{list(shape)}' is invalid for input of size {self._data.size}"
            ) from None

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _one_axis(start_dim, self.ndim), _one_axis(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shp = self._data.shape
        n = 1
        for d in shp[s : e + 1]:
            n *= d
        return self.reshape(shp[:s] + (n,) + shp[e + 1 :])

    def unflatten(self, dim: int, sizes):
        d = _one_axis(dim, self.ndim)
        shp = self._data.shape
        return self.reshape(shp[:d] + tuple(sizes) + shp[d + 1 :])

    def ravel(self):
        return self.reshape(-1)

    def squeeze(self, dim=None):
        shp = self._data.shape
        if dim is None:
            new = tuple(s for s in shp if s != 1)
        else:
            dims = {_one_axis(d, self.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
            new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
        # PyTorch's node for each form: squeeze(), squeeze(dim), squeeze(dims)
        return self.reshape(new)._named(self, f"SqueezeBackward{0 if dim is None else 2 if isinstance(dim, (tuple, list)) else 1}")

    def unsqueeze(self, dim: int):
        d = _one_axis(dim, self.ndim + 1)
        shp = self._data.shape
        return self.reshape(shp[:d] + (1,) + shp[d:])._named(self, "UnsqueezeBackward0")

    def _named(self, source, node_name: str):
        """This tensor, made from ``source`` by a view op, with its node named as PyTorch names that op's."""
        if self is not source and self.grad_fn is not None:
            self.grad_fn.torch_name = node_name
        return self

    def permute(self, *dims):
        dims = tuple(_one_axis(d, self.ndim) for d in _size(dims))
        if len(dims) != self.ndim or len(set(dims)) != self.ndim:
            raise RuntimeError(
                f"permute: dims {list(dims)} must be a permutation of the {self.ndim} dimensions"
            )
        out = ops.Permute.apply(self, dims=dims)
        out._view = (self, "permute", dims)  # always a view: an in-place op on it reaches self
        return out

    def transpose(self, dim0: int, dim1: int):
        n = self.ndim
        if n < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self
        perm = list(range(n))
        a, b = _one_axis(dim0, n), _one_axis(dim1, n)
        perm[a], perm[b] = perm[b], perm[a]
        return self.permute(*perm)._named(self, "TransposeBackward0")

    swapaxes = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, -1)._named(self, "TBackward0") if self.ndim == 2 else self

    def expand(self, *sizes):
        sizes = _size(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise RuntimeError(
                f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
                f"the number of dimensions in the tensor ({self.ndim})"
            )
        shape = tuple(
            (self._data.shape[i - lead] if s == -1 else s) for i, s in enumerate(sizes)
        )
        return ops.Expand.apply(self, shape=shape)

    def repeat(self, *sizes):
        reps = _size(sizes)
        if len(reps) < self.ndim:  # (NumPy's tile would pad them with ones)
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                               "of tensor")
        return ops.Repeat.apply(self, reps=reps)

    def tile(self, *dims):
        """Repeat along each axis (as ``repeat``, with missing leading counts taken as 1)."""
        dims = _size(dims)
        return self.repeat(*((1,) * (self.ndim - len(dims)) + dims))

    def repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
        """Repeat each element ``repeats`` times along ``dim`` (the flattened tensor when None);
        ``repeats`` is an int or one count per element. Without ``repeats``, this tensor holds the
        counts and the result repeats their indices (``[2, 1]`` gives ``[0, 0, 1]``)."""
        if repeats is None:
            from .creation import arange

            return arange(self._data.size, device=self._device).repeat_interleave(self)
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else _one_axis(dim, self.ndim)
        n = x.shape[d]
        counts = repeats._data if isinstance(repeats, Tensor) else repeats
        counts = np.asarray(move(counts, CPU) if is_array(counts) else counts)
        if counts.ndim and counts.shape != (n,):
            raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                               f"{counts.shape[0]} and input.size({d}) = {n}")
        if (counts < 0).any():
            raise RuntimeError("repeats can not be negative")
        idx = np.repeat(np.arange(n), counts)
        return x.index_select(d, Tensor._make(self._device.xp.asarray(idx), self._device))

    def tril(self, diagonal: int = 0):
        """The lower triangle of the last two axes (above the ``diagonal``-th diagonal set to 0)."""
        if self.ndim < 2:
            raise RuntimeError("tril: input tensor must have at least 2 dimensions")
        return ops.Tri.apply(self, k=int(diagonal), upper=False)

    def triu(self, diagonal: int = 0):
        """The upper triangle of the last two axes (below the ``diagonal``-th diagonal set to 0)."""
        if self.ndim < 2:
            raise RuntimeError("triu: input tensor must have at least 2 dimensions")
        return ops.Tri.apply(self, k=int(diagonal), upper=True)

    def roll(self, shifts, dims=None):
        """Shift elements along ``dims`` by ``shifts``, wrapping around (the flattened tensor when
        ``dims`` is None)."""
        if dims is None:
            if not isinstance(shifts, int):
                shifts = tuple(shifts)
                if len(shifts) != 1:
                    raise RuntimeError("roll: shifts must be one int when dims is not given")
                shifts = shifts[0]
            return ops.Roll.apply(self.reshape(-1), shifts=int(shifts), axis=0).reshape(self.shape)
        shifts = (shifts,) if isinstance(shifts, int) else tuple(int(s) for s in shifts)
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts) != len(dims):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims: {len(dims)}")
        return ops.Roll.apply(self, shifts=shifts, axis=tuple(_one_axis(d, self.ndim) for d in dims))

    def flip(self, *dims):
        """The elements in reverse order along ``dims`` (a tuple, or the dims as arguments)."""
        if len(dims) == 1:
            dims = dims[0]
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        return ops.Flip.apply(self, axis=tuple(_one_axis(d, self.ndim) for d in dims))

    def narrow(self, dim: int, start: int, length: int):
        if not self.ndim:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        d = _one_axis(dim, self.ndim)
        size = self._data.shape[d]
        start, length = int(start), int(length)
        if not -size <= start <= size:
            raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        start = start + size if start < 0 else start
        if start + length > size:  # a slice would clip silently
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
        idx = [_py_slice(None)] * self.ndim
        idx[d] = _py_slice(start, start + length)
        return self[tuple(idx)]

    def split(self, split_size_or_sections, dim: int = 0):
        from .functions import split

        return split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        from .functions import chunk

        return chunk(self, chunks, dim)

    def unbind(self, dim: int = 0):
        d = _one_axis(dim, self.ndim)
        return tuple(self.select(d, i) for i in range(self._data.shape[d]))

    def select(self, dim: int, index: int):
        d = _one_axis(dim, self.ndim)
        idx = [_py_slice(None)] * self.ndim
        idx[d] = index
        return self[tuple(idx)]

    def __getitem__(self, index):
        if index.__class__ is _py_slice and not (self.requires_grad and _autograd._enabled):
            # a basic slice of a tensor outside the graph (a minibatch of a dataset): a view
            out = Tensor._make(self._data[index], self._device)
            out._view = (self, "index", index)
            return out
        if index.__class__ is tuple:
            steps = _ints_first(index, self.ndim)
            if steps is not None:
                return self[steps[0]][steps[1]]
        idx, advanced = _index(index, self._device)
        fn = ops.GetItem()  # (Function.apply's work, written out)
        fn.index = idx
        fn.advanced = advanced
        out = fn.run((self,))
        if not advanced:  # a view: an in-place op on it that records the graph reaches self
            out._view = (self, "index", idx)
        return out

    def index_select(self, dim: int, index: "Tensor"):
        d = _one_axis(dim, self.ndim)
        idx = [_py_slice(None)] * self.ndim
        idx[d] = index
        return self[tuple(idx)]

    # ------------------------------------------------------------ scatter, index_add (PyTorch's names)

    def _index_arg(self, name: str, index, vector: bool = False):
        """The index array of a scatter-like op, checked as PyTorch checks it."""
        if not isinstance(index, Tensor):
            raise TypeError(f"{name}(): index must be a Tensor, got {type(index).__name__}")
        if index._device is not self._device:
            raise RuntimeError(f"{name}(): index is on {index._device} but self is on {self._device}")
        if index._data.dtype not in (np.int64, np.int32):
            got = f" but got: {_torch_name(index)}" if vector else ""
            raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index{got}")
        return index._data

    @staticmethod
    def _out_of_range(idx, low: int, size: int):
        """The index in ``idx`` outside [low, size) that PyTorch names (its smallest when that is below
        ``low``, else its largest), or None when all are inside. One min and one max: one transfer each."""
        if idx.size == 0:
            return None
        lo, hi = int(idx.min()), int(idx.max())
        if lo < low:
            return lo
        return hi if hi >= size else None

    @staticmethod
    def _check_bounds(idx, size: int, dim: int) -> None:
        bad = Tensor._out_of_range(idx, 0, size)
        if bad is not None:
            raise RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {size}")

    def _scatter_checks(self, name, dim, index, src):
        d = _one_axis(dim, self.ndim)
        idx = self._index_arg(name, index)
        if idx.ndim == 0 and self.ndim == 1:  # PyTorch counts a 0-d index as 1-d: y.scatter_(0, tensor(3), value=1)
            idx = idx.reshape(1)
        if idx.ndim != self.ndim:
            raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
        if isinstance(src, Tensor):
            if src.ndim != self.ndim:
                raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
            if src._data.dtype != self._data.dtype:
                raise RuntimeError(f"{name.split('_')[0]}(): Expected self.dtype to be equal to src.dtype")
        too_big = builtins.any(i > s for k, (i, s) in enumerate(zip(idx.shape, self._data.shape)) if k != d)
        if isinstance(src, Tensor):
            too_big = too_big or builtins.any(i > s for i, s in zip(idx.shape, src._data.shape))
        if too_big:
            tail = f" and to be no larger size than src {list(src.shape)}" if isinstance(src, Tensor) else ""
            raise RuntimeError(f"Expected index {list(idx.shape)} to be no larger than self {list(self.shape)} "
                               f"apart from dimension {d}{tail}")
        self._check_bounds(idx, self._data.shape[d], d)
        return d, idx

    def _write(self, result: "Tensor", other=None) -> "Tensor":
        """Make an in-place op's out-of-place ``result`` this tensor's value."""
        if self._needs_graph(other):
            return self._inplace(result)
        if result._data.shape != self._data.shape:  # an in-place op cannot broadcast its target
            raise _shape_error(self, result)
        self._data[...] = result._data
        _noted(self)
        return self

    def scatter(self, dim: int, index: "Tensor", src=None, *, value=None, reduce=None) -> "Tensor":
        """A copy with ``src`` (a tensor, or the number ``value``) written at ``index`` along ``dim``:
        ``out[i][index[i][j]] = src[i][j]`` for dim 1. ``reduce='add'`` or ``'multiply'`` combines
        instead of overwriting (not differentiable, as in PyTorch)."""
        if src is None:
            src = value
        if src is None:
            raise TypeError("scatter() missing the src tensor or value")
        if reduce is not None and reduce not in ("add", "multiply"):
            raise RuntimeError("reduce argument must be either add or multiply.")
        d, idx = self._scatter_checks("scatter", dim, index, src)
        if not isinstance(src, Tensor):
            src = _as_scalar(src)
            src = src.item() if isinstance(src, Tensor) else src
        return ops.Scatter.apply(self, src, index=idx, axis=d, reduce=reduce)

    def scatter_(self, dim: int, index: "Tensor", src=None, *, value=None, reduce=None) -> "Tensor":
        return self._write(self.scatter(dim, index, src, value=value, reduce=reduce), src)

    def scatter_add(self, dim: int, index: "Tensor", src: "Tensor") -> "Tensor":
        """A copy with ``src`` added at ``index`` along ``dim`` (repeated indices add up)."""
        d, idx = self._scatter_checks("scatter_add", dim, index, src)
        return ops.ScatterAdd.apply(self, src, index=idx, axis=d)

    def scatter_add_(self, dim: int, index: "Tensor", src: "Tensor") -> "Tensor":
        return self._write(self.scatter_add(dim, index, src), src)

    def scatter_reduce(self, dim: int, index: "Tensor", src: "Tensor", reduce: str, *,
                       include_self: bool = True) -> "Tensor":
        """A copy with ``src`` reduced into it at ``index`` along ``dim``; ``reduce`` is ``'sum'``,
        ``'prod'``, ``'mean'``, ``'amax'`` or ``'amin'``; ``include_self=False`` leaves this
        tensor's values out where something lands."""
        if reduce not in ("sum", "prod", "mean", "amax", "amin"):
            raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
        d, idx = self._scatter_checks("scatter_reduce", dim, index, src)
        return ops.ScatterReduce.apply(self, src, index=idx, axis=d, reduce=reduce, include_self=bool(include_self))

    def scatter_reduce_(self, dim: int, index: "Tensor", src: "Tensor", reduce: str, *,
                        include_self: bool = True) -> "Tensor":
        return self._write(self.scatter_reduce(dim, index, src, reduce, include_self=include_self), src)

    def index_add(self, dim: int, index: "Tensor", source: "Tensor", *, alpha=1) -> "Tensor":
        """A copy with ``alpha * source`` added at ``index`` along ``dim`` (``out[index[j]] +=
        alpha * source[j]`` for dim 0; repeated indices add up)."""
        d = _one_axis(dim, self.ndim)
        idx = self._index_arg("index_add_", index, vector=True)
        if idx.ndim > 1:
            raise IndexError(f"index_add_(): Index is supposed to be a vector, but got dim: {idx.ndim} with type: "
                             f"{_torch_name(index)} and size: {list(index.shape)}")
        idx = idx.reshape(-1)
        if source._data.dtype != self._data.dtype:
            raise RuntimeError(f"index_add_(): self ({_torch_name(self)}) and source ({_torch_name(source)}) "
                               "must have the same scalar type")
        src_shape = source._data.shape if source.ndim else (1,)
        n = src_shape[d] if d < len(src_shape) else 1
        if idx.size != n:
            raise RuntimeError(f"index_add_(): Number of indices ({idx.size}) should be equal to source.size(dim): "
                               f"({n}), for dim: {d}")
        if source.ndim != self.ndim or builtins.any(
                a != b for k, (a, b) in enumerate(zip(self._data.shape, source._data.shape)) if k != d):
            raise RuntimeError("source tensor shape must match self tensor shape, excluding the specified dimension. "
                               f"Got self.shape = {list(self.shape)} source.shape = {list(source.shape)}")
        self._check_bounds(idx, self._data.shape[d], d)
        return ops.IndexAdd.apply(self, source, index=idx, axis=d, alpha=_as_scalar(alpha))

    def index_add_(self, dim: int, index: "Tensor", source: "Tensor", *, alpha=1) -> "Tensor":
        return self._write(self.index_add(dim, index, source, alpha=alpha), source)

    def index_reduce(self, dim: int, index: "Tensor", source: "Tensor", reduce: str, *,
                     include_self: bool = True) -> "Tensor":
        """``source``'s slices reduced into this tensor's at ``index`` along ``dim``: ``reduce`` is
        ``'prod'``, ``'mean'``, ``'amax'`` or ``'amin'`` (``scatter_reduce`` with the index spread
        over the other dims)."""
        if reduce not in ("prod", "mean", "amax", "amin"):
            raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
        d = _one_axis(dim, self.ndim)
        idx = self._index_arg("index_reduce_", index, vector=True).reshape(-1)
        if source._data.dtype != self._data.dtype:
            raise RuntimeError(f"index_reduce_(): self ({_torch_name(self)}) and source ({_torch_name(source)}) "
                               "must have the same scalar type")
        if source.ndim != self.ndim or source.shape[d] != idx.size or builtins.any(
                a != b for k, (a, b) in enumerate(zip(self._data.shape, source._data.shape)) if k != d):
            raise RuntimeError("index_reduce_(): source shape must match self shape apart from dim, with one slice "
                               f"per index; got self {list(self.shape)}, source {list(source.shape)}, "
                               f"{idx.size} indices")
        view = [1] * self.ndim
        view[d] = idx.size
        full = self._device.xp.broadcast_to(idx.reshape(view), source._data.shape)
        return self.scatter_reduce(d, self._wrap(full), source, reduce, include_self=include_self)

    def index_reduce_(self, dim: int, index: "Tensor", source: "Tensor", reduce: str, *,
                      include_self: bool = True) -> "Tensor":
        return self._write(self.index_reduce(dim, index, source, reduce, include_self=include_self), source)

    # ------------------------------------------------------------ products with an added term

    def _scaled_sum(self, prod: "Tensor", beta, alpha, name: str) -> "Tensor":
        """``beta * self + alpha * prod``; with ``beta == 0`` this tensor is ignored (NaN too)."""
        if tuple(np.broadcast_shapes(tuple(self.shape), tuple(prod.shape))) != tuple(prod.shape):
            raise RuntimeError(f"{name}: the input of shape {list(self.shape)} cannot be broadcast to the "
                               f"product's shape {list(prod.shape)}")
        if alpha != 1:
            prod = prod * alpha
        if beta == 0:
            if not self._needs_graph():
                return prod
            from .functions import where

            # PyTorch gives the ignored input a zero gradient
            return prod + where(self._wrap(self._device.xp.ones(self._data.shape, bool)), 0.0, self)
        return prod + (self if beta == 1 else self * beta)

    def addmm(self, mat1: "Tensor", mat2: "Tensor", *, beta=1, alpha=1) -> "Tensor":
        """``beta * self + alpha * (mat1 @ mat2)``."""
        for nm, m in (("mat1", mat1), ("mat2", mat2)):
            if m.ndim != 2:
                raise RuntimeError(f"{nm} must be a matrix, got {m.ndim}-D tensor")
        if mat1._data.dtype != mat2._data.dtype:
            raise _mixed_matmul("addmm", mat1, mat2)
        if mat1.shape[1] != mat2.shape[0]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x{mat1.shape[1]} and "
                               f"{mat2.shape[0]}x{mat2.shape[1]})")
        return self._scaled_sum(mat1 @ mat2, beta, alpha, "addmm")

    def baddbmm(self, batch1: "Tensor", batch2: "Tensor", *, beta=1, alpha=1) -> "Tensor":
        """``beta * self + alpha * (batch1 @ batch2)`` for batches of matrices."""
        for nm, m in (("batch1", batch1), ("batch2", batch2)):
            if m.ndim != 3:
                raise RuntimeError(f"{nm} must be a 3D tensor")
        if batch1._data.dtype != batch2._data.dtype:
            raise _mixed_matmul("baddbmm", batch1, batch2)
        if batch1.shape[0] != batch2.shape[0] or batch1.shape[2] != batch2.shape[1]:
            raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                               f"[{batch1.shape[0]}, {batch1.shape[2]}] but got: [{batch2.shape[0]}, {batch2.shape[1]}].")
        return self._scaled_sum(batch1 @ batch2, beta, alpha, "baddbmm")

    def addbmm(self, batch1: "Tensor", batch2: "Tensor", *, beta=1, alpha=1) -> "Tensor":
        """``beta * self + alpha * sum_b(batch1[b] @ batch2[b])``."""
        for nm, m in (("batch1", batch1), ("batch2", batch2)):
            if m.ndim != 3:
                raise RuntimeError(f"{nm} must be a 3D tensor")
        if batch1._data.dtype != batch2._data.dtype:
            raise _mixed_matmul("addbmm", batch1, batch2)
        return self._scaled_sum((batch1 @ batch2).sum(0), beta, alpha, "addbmm")

    def addmv(self, mat: "Tensor", vec: "Tensor", *, beta=1, alpha=1) -> "Tensor":
        """``beta * self + alpha * (mat @ vec)``."""
        if mat.ndim != 2 or vec.ndim != 1:
            raise RuntimeError(f"vector + matrix @ vector expected, got {self.ndim}, {mat.ndim}, {vec.ndim}")
        if mat.shape[1] != vec.shape[0]:
            raise RuntimeError(f"size mismatch, got input ({self.shape[0] if self.ndim else 1}), "
                               f"mat ({mat.shape[0]}x{mat.shape[1]}), vec ({vec.shape[0]})")
        if mat._data.dtype != vec._data.dtype:
            raise _mixed_matmul("addmv", mat, vec)
        return self._scaled_sum(mat @ vec, beta, alpha, "addmv")

    def addr(self, vec1: "Tensor", vec2: "Tensor", *, beta=1, alpha=1) -> "Tensor":
        """``beta * self + alpha * outer(vec1, vec2)``."""
        return self._scaled_sum(vec1.outer(vec2), beta, alpha, "addr")

    def outer(self, vec2: "Tensor") -> "Tensor":
        """The outer product of two vectors."""
        if self.ndim != 1 or vec2.ndim != 1:
            raise RuntimeError(f"outer: expected 1-D tensors, got {self.ndim}-D and {vec2.ndim}-D")
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    ger = outer

    # ------------------------------------------------------------ diagonals and axes

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> "Tensor":
        """The ``offset``-th diagonal of the ``(dim1, dim2)`` planes, as the last axis: a view, and an
        in-place op on it reaches this tensor, values and gradients."""
        a, b = _one_axis(dim1, self.ndim), _one_axis(dim2, self.ndim)
        if a == b:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        out = ops.Diagonal.apply(self, offset=int(offset), axis1=a, axis2=b)
        out._view = (self, "diagonal", (int(offset), a, b))
        return out

    def diag(self, diagonal: int = 0) -> "Tensor":
        """A 1-D tensor on the ``diagonal``-th diagonal of a square matrix; of a matrix, that diagonal."""
        if self.ndim == 1:
            return ops.DiagEmbed.apply(self, offset=int(diagonal))
        if self.ndim == 2:
            return self.diagonal(diagonal)
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> "Tensor":
        """Matrices with the last axis on their ``offset``-th diagonal, in the planes ``(dim1, dim2)``
        of the result (one more axis than this tensor)."""
        nd = self.ndim + 1
        a, b = _one_axis(dim1, nd), _one_axis(dim2, nd)
        if a == b:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        out = ops.DiagEmbed.apply(self if self.ndim else self.reshape(1), offset=int(offset))
        return out.movedim((-2, -1), (a, b)) if (a, b) != (nd - 2, nd - 1) else out

    def trace(self) -> "Tensor":
        """The sum of the main diagonal of a matrix."""
        if self.ndim != 2:
            raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {self.ndim}")
        return self.diagonal().sum()

    def movedim(self, source, destination) -> "Tensor":
        """Move the axes ``source`` to the positions ``destination``; the rest keep their order."""
        src = [source] if isinstance(source, int) else list(source)
        dst = [destination] if isinstance(destination, int) else list(destination)
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain "
                               f"the same number of dims as destination ({dst} dims)")
        src = [_one_axis(s, self.ndim) for s in src]
        dst = [_one_axis(s, self.ndim) for s in dst]
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise RuntimeError(f"movedim: repeated dim in source ({src}) or destination ({dst})")
        rest = [i for i in range(self.ndim) if i not in src]
        perm = [None] * self.ndim
        for s, t in zip(src, dst):
            perm[t] = s
        it = iter(rest)
        perm = [p if p is not None else next(it) for p in perm]
        return self.permute(*perm) if perm != list(range(self.ndim)) else self

    moveaxis = movedim

    def rot90(self, k: int = 1, dims=(0, 1)) -> "Tensor":
        """Rotate by 90 degrees ``k`` times in the plane ``dims``, from the first axis towards the second."""
        dims = list(dims)
        if len(dims) != 2:
            raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
        if self.ndim < 2:
            raise RuntimeError(f"expected total dims >= 2, but got total dims = {self.ndim}")
        a, b = _one_axis(dims[0], self.ndim), _one_axis(dims[1], self.ndim)
        if a == b:
            raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
        k %= 4
        if k == 1:
            return self.flip([b]).transpose(a, b)
        if k == 2:
            return self.flip([a, b])
        if k == 3:
            return self.flip([a]).transpose(a, b)
        return self.clone()

    def take_along_dim(self, indices: "Tensor", dim=None) -> "Tensor":
        """Values at ``indices`` along ``dim`` (the flattened tensor when None); other dims broadcast."""
        idx = self._index_arg("take_along_dim", indices)
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        d = _one_axis(dim, self.ndim)
        if indices.ndim != self.ndim:
            raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of "
                               f"dimensions, but got {self.ndim} dimensions for input, and {indices.ndim} "
                               "dimensions for indices")
        shape = list(np.broadcast_shapes(tuple(s for k, s in enumerate(self.shape) if k != d),
                                         tuple(s for k, s in enumerate(indices.shape) if k != d)))
        x_shape = shape[:d] + [self.shape[d]] + shape[d:]
        i_shape = shape[:d] + [indices.shape[d]] + shape[d:]
        x = self if tuple(self.shape) == tuple(x_shape) else self.expand(*x_shape)
        i = Tensor._make(self._device.xp.broadcast_to(idx, i_shape), self._device)
        self._check_bounds(idx, self.shape[d], d)
        return x.gather(d, i)

    def masked_select(self, mask: "Tensor") -> "Tensor":
        """The elements where ``mask`` (broadcast with this tensor) is True, as a 1-D tensor."""
        if mask._data.dtype.kind != "b":
            raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {_torch_name(mask)}")
        shape = tuple(np.broadcast_shapes(tuple(self.shape), tuple(mask.shape)))
        x = self if tuple(self.shape) == shape else self.expand(*shape)
        m = mask._data if tuple(mask.shape) == shape else self._device.xp.broadcast_to(mask._data, shape)
        return x[Tensor._make(m, self._device)]

    # ------------------------------------------------------------ more elementwise math

    def _binary_float(self, other):
        """Both operands of a float op, promoted to one floating dtype."""
        a, b = self._coerce(other if isinstance(other, Tensor) else _as_scalar(other))
        b = _constant(b, a)  # (after the promotion: 2.5 with an integer tensor stays 2.5)
        if a._data.dtype.kind != "f":
            a, b = a.to(dtype=_dt.get_default_dtype()), b.to(dtype=_dt.get_default_dtype())
        return a, b

    def atan2(self, other) -> "Tensor":
        """The angle of the point (other, self), in (-pi, pi]."""
        a, b = self._binary_float(other)
        return ops.Atan2.apply(a, b)

    arctan2 = atan2

    def hypot(self, other) -> "Tensor":
        """``sqrt(self**2 + other**2)`` without overflow in the squares."""
        a, b = self._binary_float(other)
        return ops.Hypot.apply(a, b)

    def fmod(self, other) -> "Tensor":
        """C's remainder: the result has the sign of ``self`` (``remainder`` takes the divisor's)."""
        a, b = self._coerce(other)
        raw = _raw(b, a)
        if _integer_division(a, raw, "fmod"):
            return a._wrap(self._device.xp.fmod(a._data, raw))
        return ops.Fmod.apply(a, b)

    def frac(self) -> "Tensor":
        """The fractional part, ``self - trunc(self)`` (gradient 1)."""
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"\"frac_cpu\" not implemented for '{_torch_name(self)}'")
        return self - self.trunc().detach()

    def lerp(self, end: "Tensor", weight) -> "Tensor":
        """``self + weight * (end - self)``."""
        if isinstance(weight, Tensor) and weight._data.dtype != self._data.dtype:
            names = {"float32": "float", "float64": "double", "float16": "half"}
            raise RuntimeError(f"expected dtype {names.get(self.dtype.name, self.dtype.name)} for `weight` but got "
                               f"dtype {names.get(weight.dtype.name, weight.dtype.name)}")
        return self + weight * (end - self)

    def nan_to_num(self, nan: float = 0.0, posinf=None, neginf=None) -> "Tensor":
        """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (the dtype's largest and
        lowest values by default); the gradient passes only where the input was finite."""
        if self._data.dtype.kind != "f":
            return self.clone()
        info = np.finfo(self._data.dtype)
        posinf = float(info.max) if posinf is None else posinf
        neginf = float(info.min) if neginf is None else neginf
        xp = self._device.xp
        fill = xp.where(xp.isnan(self._data), nan, xp.where(self._data > 0, posinf, neginf)).astype(self._data.dtype)
        from .functions import where

        return where(self.isfinite(), self, self._wrap(fill))

    def erf(self) -> "Tensor":
        """The error function (W. J. Cody's rational approximations; float64 error near 1e-16)."""
        return ops.Erf.apply(self._floating(), complement=0)

    def erfc(self) -> "Tensor":
        """``1 - erf(self)``, accurate where it is tiny (large inputs)."""
        return ops.Erf.apply(self._floating(), complement=1)

    def _bitwise(self, other, fn, name):
        """An integer op of two operands (``fn``: the array module's), promoted as PyTorch's binary
        ops; floats are refused as PyTorch refuses them."""
        a, b = self._coerce(other)
        if a._data.dtype.kind == "f":
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_torch_name(a)}'")
        return a._wrap(getattr(a._device.xp, fn)(a._data, _raw(b, a)))

    def bitwise_left_shift(self, other) -> "Tensor":
        return self << other

    def bitwise_right_shift(self, other) -> "Tensor":
        return self >> other

    def bitwise_and(self, other) -> "Tensor":
        return self._bitwise(other, "bitwise_and", "bitwise_and")

    def bitwise_or(self, other) -> "Tensor":
        return self._bitwise(other, "bitwise_or", "bitwise_or")

    def bitwise_xor(self, other) -> "Tensor":
        return self._bitwise(other, "bitwise_xor", "bitwise_xor")

    def bitwise_not(self) -> "Tensor":
        if self._data.dtype.kind not in "iub":
            raise RuntimeError("\"bitwise_not_cpu\" not implemented for 'Float'")
        return self._wrap(self._device.xp.invert(self._data))

    # ------------------------------------------------------------ scans, order statistics

    def cumprod(self, dim: int, *, dtype=None) -> "Tensor":
        """The cumulative product along ``dim`` (integer and bool inputs give int64)."""
        x = self
        if dtype is not None:
            x = x.to(dtype=dtype)
        elif x._data.dtype.kind in "iub":
            x = x.to(dtype=_dt.int64)
        d = _one_axis(dim, max(self.ndim, 1))
        return ops.CumProd.apply(x.reshape(1), axis=0).reshape(()) if not self.ndim else ops.CumProd.apply(x, axis=d)

    def diff(self, n: int = 1, dim: int = -1, prepend=None, append=None) -> "Tensor":
        """The ``n``-th forward difference along ``dim``, after ``prepend`` / ``append`` are joined."""
        from .functions import cat

        if self.ndim == 0:
            raise RuntimeError("diff expects input to be at least one-dimensional")
        d = _one_axis(dim, self.ndim)
        parts = [p for p in (prepend, self, append) if p is not None]
        x = cat(parts, d) if len(parts) > 1 else self
        for _ in range(n):
            m = x.shape[d]
            if m == 0:
                break
            a, b = x.narrow(d, 1, m - 1), x.narrow(d, 0, m - 1)
            x = a ^ b if x._data.dtype.kind == "b" else a - b
        return x

    def _picked(self, x, d: int, pick, keepdim: bool, cls):
        """``cls(values, indices)`` of ``x`` at the positions ``pick`` (one per slice, kept axis ``d``)."""
        values = x.gather(d, self._wrap(pick))
        idx = pick.astype(np.int64)
        if not keepdim or not self.ndim:
            values, idx = values.squeeze(d), self._device.xp.squeeze(idx, d)
        return cls(values, self._wrap(idx))

    def _order_stat(self, k_of_n, dim, keepdim, cls, name):
        """The value of rank ``k_of_n(n)`` (0-based) along ``dim`` and its index; NaN ranks last and,
        as in PyTorch's median, a slice holding NaN gives NaN."""
        d = _one_axis(dim, self.ndim) if self.ndim else 0
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        k = k_of_n(n)
        xp = self._device.xp
        order = xp.argsort(x._data, axis=d, kind="stable")
        pick = xp.take(order, xp.asarray([k]), axis=d)
        if x._data.dtype.kind == "f" and name == "median":
            nan = xp.isnan(x._data)
            has = nan.any(axis=d, keepdims=True)
            pick = xp.where(has, xp.expand_dims(xp.argmax(nan, axis=d), d), pick)
        return self._picked(x, d, pick, keepdim, cls)

    def median(self, dim=None, keepdim: bool = False):
        """The lower median: of everything (a tensor) or along ``dim`` (values and indices)."""
        if dim is None:
            if self._data.size == 0:
                return self._wrap(self._device.xp.asarray(np.nan, self._data.dtype))
            return self.reshape(-1)._order_stat(lambda n: (n - 1) // 2, 0, False, MedianResult, "median").values
        return self._order_stat(lambda n: (n - 1) // 2, dim, keepdim, MedianResult, "median")

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        """The ``k``-th smallest value along ``dim`` (1-based) and its index."""
        n = self.shape[_one_axis(dim, self.ndim)] if self.ndim else 1
        if not 1 <= k <= n:
            raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim}")
        return self._order_stat(lambda n: k - 1, dim, keepdim, KthvalueResult, "kthvalue")

    def quantile(self, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> "Tensor":
        """The ``q``-quantiles (a number or a 1-D tensor in [0, 1]) of everything or along ``dim``;
        between two data points as ``interpolation`` says (linear, lower, higher, midpoint, nearest).
        A slice holding NaN gives NaN. With a 1-D ``q`` the quantiles are the first axis."""
        return self._quantile(q, dim, keepdim, interpolation, "quantile")

    def nanquantile(self, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> "Tensor":
        """``quantile`` of the values that are not NaN (NaN where a slice has none)."""
        return self._quantile(q, dim, keepdim, interpolation, "nanquantile")

    def _quantile(self, q, dim, keepdim, interpolation, name):
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
        if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
            raise RuntimeError(f"{name}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
                               f"Found '{interpolation}'")
        xp = self._device.xp
        scalar_q = not isinstance(q, Tensor) or q.ndim == 0
        qs = np.atleast_1d(np.asarray(move(q._data, CPU) if isinstance(q, Tensor) else q, dtype=np.float64))
        if qs.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
        if qs.size and (qs.min() < 0 or qs.max() > 1):
            raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {q if scalar_q else qs.tolist()}")
        if dim is None:
            x, d = self.reshape(-1), 0
        else:
            x, d = self, _one_axis(dim, self.ndim)
        x = x if x.ndim else x.reshape(1)
        n = x.shape[d]
        s = x.sort(d).values.movedim(d, -1)  # NaN sorts last
        nan = xp.isnan(s._data)
        # the positions, per slice: a slice's count leaves its NaN out for nanquantile
        count = (n - nan.sum(-1, keepdims=True)) if name == "nanquantile" else n
        pos = xp.asarray(qs) * (xp.asarray(count, dtype=np.float64) - 1)
        lo, hi = xp.floor(pos), xp.ceil(pos)
        frac = pos - lo
        if interpolation == "lower":
            hi, frac = lo, frac * 0
        elif interpolation == "higher":
            lo, frac = hi, frac * 0
        elif interpolation == "nearest":
            lo = hi = xp.round(pos)
            frac = frac * 0
        elif interpolation == "midpoint":
            frac = xp.where(hi > lo, 0.5, 0.0)
        shape = s.shape[:-1] + (len(qs),)

        def at(i):
            i = xp.broadcast_to(xp.clip(i, 0, builtins.max(n - 1, 0)).astype(np.int64), shape)
            return s.gather(-1, Tensor._make(i, self._device))

        a, b = at(lo), at(hi)
        out = a + (b - a) * Tensor._make(xp.broadcast_to(frac, shape).astype(self._data.dtype), self._device)
        if name == "quantile" and bool(nan.any()):  # a slice holding NaN ends with one
            from .functions import where

            out = where(Tensor._make(xp.broadcast_to(nan[..., -1:], out.shape), self._device), float("nan"), out)
        if keepdim:
            if dim is None:
                out = out.reshape((1,) * self.ndim + (len(qs),))
            else:
                out = out.unsqueeze(-2).movedim(-2, d)  # the reduced axis back in place, size 1
        out = out.movedim(-1, 0)
        return out[0] if scalar_q else out

    def nanmedian(self, dim=None, keepdim: bool = False):
        """The lower median of the values that are not NaN: of everything, or along ``dim`` (values
        and indices)."""
        if dim is None:
            return self.reshape(-1).nanmedian(0).values
        d = _one_axis(dim, self.ndim) if self.ndim else 0
        x = self if self.ndim else self.reshape(1)
        xp = self._device.xp
        order = xp.argsort(x._data, axis=d, kind="stable")  # NaN last
        valid = (~xp.isnan(x._data)).sum(axis=d, keepdims=True) if x.is_floating_point() else x.shape[d]
        k = xp.maximum((xp.asarray(valid) - 1) // 2, 0)
        pick = xp.take_along_axis(order, xp.broadcast_to(k, order.shape[:d] + (1,) + order.shape[d + 1:]), axis=d)
        return self._picked(x, d, pick, keepdim, NanmedianResult)

    def histc(self, bins: int = 100, min=0, max=0) -> "Tensor":
        """A histogram of ``bins`` equal bins over [min, max] (the data's range when both are 0);
        values outside are left out. The dtype is this tensor's."""
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"\"histogram_cpu\" not implemented for '{_torch_name(self)}'")
        xp = self._device.xp
        x = self._data.reshape(-1)
        lo, hi = builtins.float(min), builtins.float(max)
        if lo == hi and x.size:
            lo, hi = builtins.float(x.min()), builtins.float(x.max())
        if lo == hi:
            lo, hi = lo - 1, hi + 1
        if lo > hi:
            raise RuntimeError("torch.histc: max must be larger than min")
        inside = (x >= lo) & (x <= hi)
        b = ((x[inside].astype(np.float64) - lo) * bins / (hi - lo)).astype(np.int64)
        b = xp.minimum(b, bins - 1)  # the top edge falls in the last bin
        return self._wrap(xp.bincount(b, minlength=bins).astype(self._data.dtype))

    def bincount(self, weights=None, minlength: int = 0) -> "Tensor":
        """How often each value 0..max occurs in this 1-D non-negative integer tensor (or the sum of
        ``weights`` there)."""
        x = self._data
        if x.dtype.kind == "f":
            raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_torch_name(self)}'")
        if x.ndim != 1 or (x.size and int(x.min()) < 0):
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        xp = self._device.xp
        if weights is None:
            return self._wrap(xp.bincount(x, minlength=minlength).astype(np.int64))
        if weights.shape != self.shape:
            raise RuntimeError("weights should be 1-d and have the same length as input")
        w = weights._data
        out = xp.bincount(x, weights=w, minlength=minlength)  # float64
        return self._wrap(out.astype(np.float32) if w.dtype == np.float32 else out)

    def kron(self, other: "Tensor") -> "Tensor":
        from .functions import kron

        return kron(self, other)

    def cross(self, other: "Tensor", dim=None) -> "Tensor":
        from .functions import cross

        return cross(self, other, dim)

    def dist(self, other: "Tensor", p=2) -> "Tensor":
        from .functions import dist

        return dist(self, other, p)

    # ------------------------------------------------------------ inverse trigonometric, hyperbolic, special

    def asin(self) -> "Tensor":
        return ops.Asin.apply(self._floating())

    def acos(self) -> "Tensor":
        return ops.Acos.apply(self._floating())

    def atan(self) -> "Tensor":
        return ops.Atan.apply(self._floating())

    def sinh(self) -> "Tensor":
        return ops.Sinh.apply(self._floating())

    def cosh(self) -> "Tensor":
        return ops.Cosh.apply(self._floating())

    def asinh(self) -> "Tensor":
        return ops.Asinh.apply(self._floating())

    def acosh(self) -> "Tensor":
        return ops.Acosh.apply(self._floating())

    def atanh(self) -> "Tensor":
        return ops.Atanh.apply(self._floating())

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def lgamma(self) -> "Tensor":
        """``log|Gamma(x)|`` (Stirling's series after the recurrence; reflection below 1/2)."""
        return ops.Polygamma.apply(self._floating(), n=-1)

    def digamma(self) -> "Tensor":
        """The derivative of ``lgamma`` (-inf at 0, NaN at negative integers, as PyTorch)."""
        return ops.Polygamma.apply(self._floating(), n=0)

    def polygamma(self, n: int) -> "Tensor":
        """The ``n``-th derivative of ``digamma``."""
        if n < 0:
            raise RuntimeError("polygamma(n, x) does not support negative n.")
        return ops.Polygamma.apply(self._floating(), n=int(n))

    def mvlgamma(self, p: int) -> "Tensor":
        """The multivariate log-gamma of dimension ``p``."""
        if p < 1:
            raise RuntimeError("p has to be greater than or equal to 1")
        x = self._floating()
        if bool((x._data <= (p - 1) / 2).any()):
            raise RuntimeError(f"All elements must be greater than (p-1)/2 = {(p - 1) / 2}")
        out = x.lgamma()
        for j in range(1, p):
            out = out + (x - j / 2).lgamma()
        return out + p * (p - 1) / 4 * builtins.float(np.log(np.pi))

    def erfinv(self) -> "Tensor":
        """The inverse of ``erf`` on (-1, 1) (±inf at ±1, NaN outside)."""
        return ops.Erfinv.apply(self._floating())

    def exp2(self) -> "Tensor":
        return (self._floating() * float(np.log(2.0))).exp()

    def deg2rad(self) -> "Tensor":
        return self._floating() * (np.pi / 180)

    def rad2deg(self) -> "Tensor":
        return self._floating() * (180 / np.pi)

    def sinc(self) -> "Tensor":
        """``sin(pi x) / (pi x)``, 1 at 0."""
        from .functions import where

        x = self._floating()
        zero = x == 0
        safe = where(zero, 1.0, x) * np.pi
        return where(zero, 1.0, safe.sin() / safe)

    def logit(self, eps=None) -> "Tensor":
        """``log(p / (1 - p))``, with ``p`` clamped to [eps, 1 - eps] when ``eps`` is given."""
        x = self._floating()
        if eps is not None:
            x = x.clamp(eps, 1 - eps)
        return (x / (1 - x)).log()

    def xlogy(self, other) -> "Tensor":
        """``self * log(other)``, 0 where ``self`` is 0 (unless ``other`` is NaN)."""
        from .functions import where

        a, b = self._binary_float(other)
        # as PyTorch: the gradient of self is log(other) even where self is 0 (0 where other <= 0)
        safe = (a == 0) & ((b <= 0) | b.isinf())
        return a * where(safe, 1.0, b).log()

    def logaddexp(self, other) -> "Tensor":
        """``log(exp(self) + exp(other))`` without overflow."""
        a, b = self._binary_float(other)
        return ops.LogAddExp.apply(a, b)

    def float_power(self, exponent) -> "Tensor":
        """``self ** exponent`` in float64."""
        e = exponent.double() if isinstance(exponent, Tensor) else builtins.float(exponent)
        return self.double() ** e

    def copysign(self, other) -> "Tensor":
        """``|self|`` with the sign of ``other`` (a sign bit: -0.0 counts as negative)."""
        x, o = self._binary_float(other)  # promoted as torch's binary ops (bool with float16 is float16)
        xp = self._device.xp
        return x.abs() * self._wrap(xp.where(xp.signbit(o._data), -1.0, 1.0).astype(x._data.dtype))

    def signbit(self) -> "Tensor":
        return self._wrap(self._device.xp.signbit(self._data))

    def heaviside(self, values: "Tensor") -> "Tensor":
        """0 where ``self < 0``, 1 where ``self > 0``, ``values`` where it is 0."""
        a, b = self._coerce(values)
        return self._wrap(self._device.xp.heaviside(a._data, _raw(b, a)))

    def sgn(self) -> "Tensor":
        return self.sign()

    def positive(self) -> "Tensor":
        return self

    def square_(self) -> "Tensor":
        return self._unary_inplace(lambda t: t * t)

    def logical_xor(self, other) -> "Tensor":
        return self._wrap(self._device.xp.logical_xor(self._data, _raw(other, self)))

    def clamp_min(self, min) -> "Tensor":
        return self.clamp(min=min)

    def clamp_max(self, max) -> "Tensor":
        return self.clamp(max=max)

    def nansum(self, dim=None, keepdim: bool = False, *, dtype=None) -> "Tensor":
        """The sum with NaN counted as zero."""
        from .functions import where

        x = where(self.isnan(), 0.0, self) if self.is_floating_point() else self
        return x.sum(dim, keepdim, dtype=dtype)

    def nanmean(self, dim=None, keepdim: bool = False, *, dtype=None) -> "Tensor":
        """The mean of the values that are not NaN."""
        x = self if dtype is None else self.to(dtype=dtype)
        if not x.is_floating_point():
            raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got {_torch_name(x)}")
        count = (~x.isnan()).to(dtype=x.dtype).sum(dim, keepdim)
        return x.nansum(dim, keepdim) / count

    def aminmax(self, *, dim=None, keepdim: bool = False):
        """``(min, max)`` over everything or along ``dim``."""
        return AminmaxResult(self.amin(dim, keepdim), self.amax(dim, keepdim))

    def _cumext(self, dim, op, cls):
        d = _one_axis(dim, max(self.ndim, 1))
        x = self if self.ndim else self.reshape(1)
        idx = ops.scan_argext(self._device.xp, x._data, d, op)
        values = x.gather(d, self._wrap(idx))
        idx = idx.astype(np.int64)
        if not self.ndim:
            return cls(values.reshape(()), self._wrap(idx.reshape(())))
        return cls(values, self._wrap(idx))

    def cummax(self, dim: int):
        """The running maximum along ``dim`` and where it was reached (the last index on ties)."""
        return self._cumext(dim, "max", CummaxResult)

    def cummin(self, dim: int):
        """The running minimum along ``dim`` and where it was reached (the last index on ties)."""
        return self._cumext(dim, "min", CumminResult)

    def msort(self) -> "Tensor":
        return self.sort(0).values

    def argwhere(self) -> "Tensor":
        return self.nonzero()

    def flipud(self) -> "Tensor":
        return self.flip([0])

    def fliplr(self) -> "Tensor":
        if self.ndim < 2:
            raise RuntimeError("Input must be >= 2-d.")
        return self.flip([1])

    def take(self, index: "Tensor") -> "Tensor":
        """Elements of the flattened tensor at ``index`` (the result has ``index``'s shape)."""
        idx = self._index_arg("take", index)
        n = self._data.size
        bad = self._out_of_range(idx, -n, n)
        if bad is not None:
            raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
        return self.reshape(-1)[index]

    def _index_vector(self, name: str, dim: int, index: "Tensor"):
        d = _one_axis(dim, self.ndim)
        idx = self._index_arg(name, index, vector=True)
        if idx.ndim > 1:
            raise IndexError(f"{name}(): Index is supposed to be a vector")
        idx = idx.reshape(-1)
        n = self.shape[d]
        if name == "index_fill_":  # PyTorch's index_fill counts negative indices from the end
            bad = self._out_of_range(idx, -n, n)
            if bad is not None:
                raise IndexError(f"index {bad} is out of bounds for dimension {d} with size {n}")
            idx = idx % builtins.max(n, 1)
        elif (bad := self._out_of_range(idx, 0, n)) is not None:
            raise IndexError(f"{name}(): index {bad} is out of bounds for dimension {d} with size {n}")
        return d, (_py_slice(None),) * d + (idx,)

    def index_fill(self, dim: int, index: "Tensor", value) -> "Tensor":
        """A copy with the slices at ``index`` along ``dim`` set to ``value``."""
        d, key = self._index_vector("index_fill_", dim, index)
        v = value if isinstance(value, Tensor) else _as_scalar(value)
        if isinstance(v, Tensor):
            if v.ndim:
                raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                                   f"{v.ndim} dimension(s).")
            v = v.to(dtype=self.dtype)
        return ops.SetItem.apply(self, v, index=key)

    def index_fill_(self, dim: int, index: "Tensor", value) -> "Tensor":
        return self._write(self.index_fill(dim, index, value), value)

    def index_copy(self, dim: int, index: "Tensor", source: "Tensor") -> "Tensor":
        """A copy with ``source``'s slices written at ``index`` along ``dim``."""
        d, key = self._index_vector("index_copy_", dim, index)
        if source._data.dtype != self._data.dtype:
            raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                               f"{_torch_name(self)} and (source) {_torch_name(source)}")
        n = key[-1].size
        want = tuple(self.shape[:d]) + (n,) + tuple(self.shape[d + 1:])
        if tuple(source.shape) != want:
            raise RuntimeError(f"index_copy_(): Source/destination tensor must have same slice shapes. Destination "
                               f"slice shape: {list(want)} and source slice shape: {list(source.shape)}")
        return ops.SetItem.apply(self, source, index=key)

    def index_copy_(self, dim: int, index: "Tensor", source: "Tensor") -> "Tensor":
        return self._write(self.index_copy(dim, index, source), source)

    def logcumsumexp(self, dim: int) -> "Tensor":
        """``log(cumsum(exp(self)))`` along ``dim``, computed without overflow."""
        d = _one_axis(dim, max(self.ndim, 1))
        if not self.ndim:
            return ops.LogCumSumExp.apply(self._floating().reshape(1), axis=0).reshape(())
        return ops.LogCumSumExp.apply(self._floating(), axis=d)

    def index_put(self, indices, values, accumulate: bool = False) -> "Tensor":
        """A copy with ``values`` at ``self[indices]`` (a tuple of index tensors), added there when
        ``accumulate`` (repeated indices then add up)."""
        if not isinstance(indices, (tuple, list)):
            raise TypeError("index_put(): indices must be a tuple of tensors")
        idx, _ = _index(tuple(indices), self._device)
        v = values if isinstance(values, Tensor) else self.new_tensor(values)
        if v._data.dtype != self._data.dtype:
            raise RuntimeError(f"Index put requires the source and destination dtypes match, got {_torch_name(self)} "
                               f"for the destination and {_torch_name(v)} for the source.")
        return ops.IndexPut.apply(self, v, index=idx, accumulate=bool(accumulate))

    def index_put_(self, indices, values, accumulate: bool = False) -> "Tensor":
        return self._write(self.index_put(indices, values, accumulate), values)

    def masked_scatter(self, mask: "Tensor", source: "Tensor") -> "Tensor":
        """A copy with the elements of ``source``, in order, written where ``mask`` is True."""
        if mask._data.dtype.kind != "b":
            raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {_torch_name(mask)}")
        xp = self._device.xp
        m = xp.broadcast_to(mask._data, self._data.shape)
        where_ = xp.nonzero(m)
        count = int(where_[0].size) if where_ else int(bool(m))
        if source.numel() < count:
            raise RuntimeError("masked_scatter: expected source to have at least as many elements as ones in mask")
        picked = source.reshape(-1)[:count] if source.numel() > count else source.reshape(-1)
        return ops.SetItem.apply(self, picked.to(dtype=self.dtype), index=where_ if where_ else m)

    def masked_scatter_(self, mask: "Tensor", source: "Tensor") -> "Tensor":
        return self._write(self.masked_scatter(mask, source), source)

    # ------------------------------------------------------------ views, splits and small conveniences

    def broadcast_to(self, *size) -> "Tensor":
        return self.expand(*_size(size))

    def swapdims(self, dim0: int, dim1: int) -> "Tensor":
        return self.transpose(dim0, dim1)

    def unfold(self, dimension: int, size: int, step: int) -> "Tensor":
        """Every slice of ``size`` elements along ``dimension``, ``step`` apart: that dimension counts
        the windows and a new last dimension holds each one."""
        d = _one_axis(dimension, self.ndim) if self.ndim else 0
        x = self if self.ndim else self.reshape(1)
        n = x.shape[d]
        if size > n:
            raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
        if step <= 0:
            raise RuntimeError(f"step is {step} but must be > 0")
        count = (n - size) // step + 1
        xp = self._device.xp
        idx = (xp.arange(count)[:, None] * step + xp.arange(size)[None, :]).reshape(-1)
        out = x.index_select(d, self._wrap(idx))
        shape = tuple(x.shape[:d]) + (count, size) + tuple(x.shape[d + 1:])
        out = out.reshape(shape).movedim(d + 1, -1)
        return out if self.ndim else out.reshape(count, size)

    def tensor_split(self, indices_or_sections, dim: int = 0):
        """Split into ``n`` nearly equal pieces (the first ``size % n`` one longer) or at the listed
        indices, as ``numpy.array_split``."""
        d = _one_axis(dim, self.ndim)
        n = self.shape[d]
        if isinstance(indices_or_sections, Tensor):
            indices_or_sections = indices_or_sections.tolist()
        if isinstance(indices_or_sections, int):
            k = indices_or_sections
            if k <= 0:
                raise RuntimeError(f"number of sections must be larger than 0, got {k}")
            sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
            bounds = [0]
            for sz in sizes:
                bounds.append(bounds[-1] + sz)
        else:
            bounds = [0] + [builtins.min(builtins.max(int(i) if i >= 0 else int(i) + n, 0), n)
                            for i in indices_or_sections] + [n]
        return tuple(self.narrow(d, a, builtins.max(b - a, 0)) for a, b in zip(bounds[:-1], bounds[1:]))

    def _hvd_split(self, sections, dim, name, min_dims):
        if self.ndim < min_dims:
            raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} dimension, but got a tensor "
                               f"with {self.ndim} dimensions!")
        if isinstance(sections, int) and self.shape[dim] % sections:
            raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the size of the "
                               f"dimension {self.shape[dim]} is not divisible by the split_size {sections}!")
        return self.tensor_split(sections, dim)

    def hsplit(self, sections):
        return self._hvd_split(sections, 0 if self.ndim == 1 else 1, "hsplit", 1)

    def vsplit(self, sections):
        return self._hvd_split(sections, 0, "vsplit", 2)

    def dsplit(self, sections):
        return self._hvd_split(sections, 2, "dsplit", 3)

    def split_with_sizes(self, split_sizes, dim: int = 0):
        return self.split(list(split_sizes), dim)

    def narrow_copy(self, dim: int, start: int, length: int) -> "Tensor":
        return self.narrow(dim, start, length).clone()

    def addcmul(self, tensor1: "Tensor", tensor2: "Tensor", *, value=1) -> "Tensor":
        """``self + value * tensor1 * tensor2``."""
        return self + tensor1 * tensor2 * value

    def addcdiv(self, tensor1: "Tensor", tensor2: "Tensor", *, value=1) -> "Tensor":
        """``self + value * tensor1 / tensor2``."""
        return self + tensor1 / tensor2 * value

    def sum_to_size(self, *size) -> "Tensor":
        """Sum the broadcast dimensions away so the result has ``size``."""
        size = _size(size)
        lead = self.ndim - len(size)
        if lead < 0 or builtins.any(s not in (1, t) for s, t in zip(size, self.shape[lead:])):
            raise RuntimeError(f"size {{{', '.join(map(str, size))}}} is not expandable to size "
                               f"{{{', '.join(map(str, self.shape))}}}.")
        out = self.sum(tuple(range(lead))) if lead else self
        dims = tuple(i for i, (s, t) in enumerate(zip(size, out.shape)) if s == 1 and t != 1)
        return out.sum(dims, keepdim=True) if dims else out

    def renorm(self, p, dim: int, maxnorm) -> "Tensor":
        """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to it."""
        d = _one_axis(dim, self.ndim)
        others = tuple(i for i in range(self.ndim) if i != d)
        norm = self.abs().pow(p).sum(others, keepdim=True).pow(1.0 / p) if others else self.abs()
        from .functions import where

        factor = where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
        return self * factor

    def unique_consecutive(self, return_inverse: bool = False, return_counts: bool = False, dim=None):
        """Drop each element equal to the one before it (of the flattened tensor)."""
        if dim is not None:
            raise NotImplementedError("unique_consecutive(dim=...) is not supported by nerve; flatten first")
        xp = self._device.xp
        x = self._data.reshape(-1)
        first = xp.ones(x.shape, bool)
        if x.size:
            first[1:] = x[1:] != x[:-1]
        out = [self._wrap(x[first])]
        if return_inverse:
            out.append(self._wrap((xp.cumsum(first) - 1).astype(np.int64).reshape(self._data.shape)))
        if return_counts:
            starts = xp.nonzero(first)[0]
            out.append(self._wrap(xp.diff(xp.concatenate([starts, xp.asarray([x.size])])).astype(np.int64)))
        return out[0] if len(out) == 1 else tuple(out)

    def data_ptr(self) -> int:
        """The address of this tensor's first element."""
        a = self._data
        return int(a.ctypes.data) if isinstance(a, np.ndarray) else int(a.data.ptr)

    def storage_offset(self) -> int:
        """How many elements this tensor starts after the start of the array it views."""
        a, base = self._data, self._data
        while getattr(base, "base", None) is not None and is_array(base.base):
            base = base.base
        if base is a:
            return 0
        start = a.ctypes.data - aligned_start(base) if isinstance(a, np.ndarray) else a.data.ptr - base.data.ptr
        return int(start) // a.itemsize

    def put(self, index: "Tensor", source: "Tensor", accumulate: bool = False) -> "Tensor":
        """A copy with ``source`` written (or added) at ``index`` of the flattened tensor."""
        idx = self._index_arg("put", index).reshape(-1)
        n = self._data.size
        bad = self._out_of_range(idx, -n, n)
        if bad is not None:
            raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
        if source.numel() != idx.size:
            raise RuntimeError(f"put_(): Expected source and index to have the same number of elements, but got "
                               f"source.numel() = {source.numel()}, index.numel() = {idx.size}")
        flat = self.reshape(-1).index_put((self._wrap(idx),), source.reshape(-1), accumulate)
        return flat.reshape(self.shape)

    def put_(self, index: "Tensor", source: "Tensor", accumulate: bool = False) -> "Tensor":
        return self._write(self.put(index, source, accumulate), source)

    def histogram(self, bins=100, *, range=None, weight=None, density: bool = False):
        """``(hist, bin_edges)``: ``bins`` equal bins over ``range`` (the data's by default) or the
        given edges, as ``numpy.histogram`` (the last bin includes its right edge)."""
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the same dtype, "
                               f"but got input {self.dtype.name}")
        xp = self._device.xp
        edges = bins._data if isinstance(bins, Tensor) else int(bins)
        w = None if weight is None else weight._data
        hist, out_edges = xp.histogram(self._data.reshape(-1), bins=edges, range=range,
                                       weights=None if w is None else w.reshape(-1), density=density)
        dt = self._data.dtype
        return HistogramResult(self._wrap(hist.astype(dt)), self._wrap(xp.asarray(out_edges).astype(dt)))

    def frexp(self):
        """``(mantissa, exponent)`` with ``self = mantissa * 2**exponent`` and ``0.5 <= |mantissa| < 1``."""
        m, e = self._device.xp.frexp(self._data)
        return FrexpResult(self._wrap(m), self._wrap(e.astype(np.int32)))

    def ldexp(self, other) -> "Tensor":
        """``self * 2**other``."""
        return self * (2.0 ** (other.to(dtype=_dt.float32) if isinstance(other, Tensor) and
                              other._data.dtype.kind != "f" else other))

    def gcd(self, other) -> "Tensor":
        return self._wrap(self._device.xp.gcd(self._data, _raw(other, self)))

    def lcm(self, other) -> "Tensor":
        return self._wrap(self._device.xp.lcm(self._data, _raw(other, self)))

    def nextafter(self, other) -> "Tensor":
        return self._wrap(self._device.xp.nextafter(self._data, _raw(other, self)))

    def stride(self, dim=None):
        """Steps in elements between neighbours along each dimension (of this tensor's array)."""
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_one_axis(dim, self.ndim)]

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    @property
    def itemsize(self) -> int:
        return int(self._data.itemsize)

    def pin_memory(self, device=None) -> "Tensor":
        """This tensor (nerve has no page-locked memory; the GPU copy works the same)."""
        return self

    def is_pinned(self, device=None) -> bool:
        return False

    def share_memory_(self) -> "Tensor":
        return self

    def _shape_inplace(self, view_of) -> "Tensor":
        """Make ``self`` the view ``view_of(self)`` (squeeze_, t_, ...), in place: only the shape
        changes, nothing is written, and a view of another tensor stays a view of it (through a
        stand-in for ``self`` as it was, so that a later in-place op still reaches the base)."""
        graph = self._needs_graph()
        if graph and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        old = Tensor._make(self._data, self._device)
        old.requires_grad, old.grad_fn = self.requires_grad, self.grad_fn
        view = getattr(self, "_view", None)
        if view is not None:
            old._view = view
        new = view_of(old)
        self._data, self._view = new._data, getattr(new, "_view", None)
        if graph:
            self.grad_fn, self.requires_grad = new.grad_fn, new.requires_grad
        return self

    def squeeze_(self, dim=None) -> "Tensor":
        return self._shape_inplace(lambda t: t.squeeze(dim))

    def unsqueeze_(self, dim: int) -> "Tensor":
        return self._shape_inplace(lambda t: t.unsqueeze(dim))

    def t_(self) -> "Tensor":
        return self._shape_inplace(lambda t: t.t())

    def transpose_(self, dim0: int, dim1: int) -> "Tensor":
        return self._shape_inplace(lambda t: t.transpose(dim0, dim1))

    swapdims_ = transpose_
    swapaxes_ = transpose_

    # ------------------------------------------------------------ inverse, determinants, powers

    def _square_matrices(self, name: str) -> "Tensor":
        if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
            raise RuntimeError(f"{name}: A must be batches of square matrices, but they are "
                               f"{self.shape[-2] if self.ndim > 1 else 1} by {self.shape[-1] if self.ndim else 1} "
                               "matrices")
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {_torch_name(self)}")
        return self

    def inverse(self) -> "Tensor":
        """The inverse of (batches of) square matrices."""
        return ops.Inverse.apply(self._square_matrices("linalg.inv"))

    def det(self) -> "Tensor":
        """The determinant of (batches of) square matrices (differentiable when singular, too)."""
        return ops.Det.apply(self._square_matrices("linalg.det"))

    def slogdet(self):
        """``(sign, log|det|)`` of (batches of) square matrices; the log is differentiable."""
        x = self._square_matrices("linalg.slogdet")
        logabs = ops.LogAbsDet.apply(x)
        sign = self._device.xp.linalg.slogdet(x._data)[0].astype(x._data.dtype, copy=False)
        return SlogdetResult(self._wrap(sign), logabs)

    def logdet(self) -> "Tensor":
        """``log(det)``: NaN for a negative determinant, -inf for a singular matrix."""
        from .functions import where

        sign, logabs = self.slogdet()
        return where(sign < 0, float("nan"), logabs)

    def matrix_power(self, n: int) -> "Tensor":
        """The ``n``-th power of square matrices (the inverse's for negative ``n``, identity for 0)."""
        x = self._square_matrices("linalg.matrix_power") if n < 0 else self
        if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
            self._square_matrices("linalg.matrix_power")
        if n == 0:
            from .creation import eye

            ident = eye(self.shape[-1], dtype=self.dtype, device=self._device).expand(*self.shape).clone()
            if not self._needs_graph():
                return ident
            from .functions import where

            # PyTorch gives the input a zero gradient
            return where(self._wrap(self._device.xp.ones(self._data.shape, bool)), ident, self)
        if n < 0:
            x, n = x.inverse(), -n
        result, base = None, x
        while n:
            if n & 1:
                result = base if result is None else result @ base
            n >>= 1
            if n:
                base = base @ base
        return result

    # ------------------------------------------------------------ decompositions (nerve/linalg.py)

    def svd(self, some: bool = True, compute_uv: bool = True):
        """``(U, S, V)`` with ``self = U diag(S) V^T``, as ``torch.svd`` (V, not V^H: see ``nerve.linalg.svd``)."""
        from .linalg import _svd_legacy

        return _svd_legacy(self, some, compute_uv)

    def qr(self, some: bool = True):
        """``(Q, R)``: the reduced QR factorization (the complete one with ``some=False``)."""
        from .linalg import _qr_legacy

        return _qr_legacy(self, some)

    def cholesky(self, upper: bool = False) -> "Tensor":
        """The lower Cholesky factor (upper with ``upper``), as ``torch.cholesky``."""
        from .linalg import _cholesky_legacy

        return _cholesky_legacy(self, upper)

    def pinverse(self, rcond: float = 1e-15) -> "Tensor":
        """The pseudo-inverse (singular values below ``rcond`` times the largest dropped)."""
        from .linalg import pinv

        return pinv(self, rcond)

    def matrix_exp(self) -> "Tensor":
        """The matrix exponential of square matrices."""
        from .linalg import matrix_exp

        return matrix_exp(self)

    def fill_diagonal_(self, fill_value, wrap: bool = False) -> "Tensor":
        """Fill the main diagonal in place (all dims equal, or a matrix); with ``wrap``, a tall
        matrix's diagonal starts again below every square block (as NumPy's fill_diagonal)."""
        if self.ndim < 2:
            raise RuntimeError("dimensions must larger than 1")
        shape = self._data.shape
        if self.ndim > 2 and len(set(shape)) != 1:
            raise RuntimeError("all dimensions of input must be of equal length")
        xp = self._device.xp
        if self.ndim == 2:
            step = shape[1] + 1
            end = self._data.size if wrap or shape[0] <= shape[1] else shape[1] * shape[1]
        else:
            step = 1 + builtins.sum(int(np.prod(shape[:k])) for k in range(1, self.ndim))
            end = self._data.size
        coords = xp.unravel_index(xp.arange(0, end, step), shape)
        v = _as_scalar(fill_value)
        v = v.to(dtype=self.dtype) if isinstance(v, Tensor) else v
        return self._write(ops.SetItem.apply(self, v, index=coords), v)

    def cov(self, *, correction: int = 1, fweights=None, aweights=None) -> "Tensor":
        from .functions import cov

        return cov(self, correction=correction, fweights=fweights, aweights=aweights)

    def corrcoef(self) -> "Tensor":
        from .functions import corrcoef

        return corrcoef(self)


from . import autograd as _autograd  # noqa: E402

_autograd.Tensor = Tensor


def _expanded(arr) -> bool:
    """Whether several elements of ``arr`` share memory (an ``expand``ed tensor's array)."""
    return any(st == 0 and n > 1 for st, n in zip(arr.strides, arr.shape))


def _check_writeable(arr, op: str | None = None) -> None:
    """Raise ``_readonly``'s error when NumPy will not write into ``arr``."""
    if not getattr(arr.flags, "writeable", True):
        raise _readonly(arr, op)


def _readonly(arr, op: str | None = None) -> RuntimeError:
    """The error for an in-place write into memory NumPy will not write: an expanded tensor's (one
    element seen at several places) as PyTorch words it, else a read-only array's. ``op``: a write
    PyTorch lets through to the expanded tensor's source (``fill_``, item assignment), which nerve
    cannot do."""
    expanded = _expanded(arr)
    if expanded and op:
        return RuntimeError(f"{op}: nerve cannot write into an expanded tensor (several of its elements share "
                            "memory; PyTorch writes through to the tensor it was expanded from): write into "
                            "that tensor, or clone() this one first")
    if expanded:
        return RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a single memory "
            "location. Please clone() the tensor before performing the operation."
        )
    return RuntimeError("the tensor's memory is read-only (a NumPy array that is not writeable, as from_numpy "
                        "of one): clone() it before writing into it")


_noted = _autograd.note_tensor_write  # an in-place write outside the graph (backward checks saved arrays)
# add_/sub_ with alpha on at least this many elements run as one BLAS axpy (_blas.SGD_MIN_SIZE)
_AXPY_MIN = 1 << 16


def _axpy(target: Tensor, other, alpha, sign: float) -> bool:
    """``target += sign * alpha * other`` in one BLAS ``axpy`` pass, for ``add_``/``sub_`` with
    ``alpha`` on big float arrays that record no graph: one pass instead of NumPy's two, and one
    rounding, as PyTorch's kernel (a fused multiply-add). False where it does not apply (then the
    caller's NumPy code runs, errors included)."""
    if other.__class__ is not Tensor or alpha.__class__ not in _FAST_SCALARS:
        return False
    t, a = target._data, other._data
    if t.__class__ is not _ndarray or a.__class__ is not _ndarray or t.size < _AXPY_MIN or t.dtype != a.dtype \
            or t.shape != a.shape or (_autograd._enabled and (target.requires_grad or other.requires_grad)):
        return False
    k = t.dtype.type(sign * alpha) if t.dtype.kind == "f" else None
    if k is None or k == 0 or not np.isfinite(k) or not t.flags.writeable \
            or (t is not a and np.may_share_memory(t, a)):
        return False  # (a zero factor: BLAS would skip the array, dropping its NaNs and infs)
    from . import _blas  # (ctypes and the BLAS symbols: on first use, not at import)

    if not _blas.add_scaled(float(k), a, t):
        return False
    _noted(target)
    return True
_DATA_ALIAS = _autograd.DATA_ALIAS


def _inplace_variant(name):
    def method(self, *args, **kwargs):
        result = getattr(self, name)(*args, **kwargs)
        if result._data.dtype != self._data.dtype:
            raise RuntimeError(f"result type {_torch_name(result)} can't be cast to the desired output type "
                               f"{_torch_name(self)}")
        other = next((a for a in args if isinstance(a, Tensor)), None)
        return self._write(result, other)

    method.__name__ = name + "_"
    method.__doc__ = f"In-place ``{name}``."
    return method


for _name in ("erf erfc erfinv asin acos atan sinh cosh asinh acosh atanh arcsin arccos arctan arcsinh arccosh "
              "arctanh exp2 deg2rad rad2deg sinc logit xlogy logaddexp float_power copysign atan2 arctan2 hypot "
              "fmod frac nan_to_num cumprod lerp clamp_min clamp_max bitwise_and bitwise_or bitwise_xor bitwise_not "
              "bitwise_left_shift bitwise_right_shift "
              "logical_xor sgn log log1p log2 log10 sin cos tan tanh sigmoid floor ceil round trunc sign reciprocal "
              "rsqrt expm1 square triu tril logical_and logical_or logical_not addcmul addcdiv renorm lgamma digamma "
              "polygamma mvlgamma ldexp gcd lcm nextafter").split():
    if hasattr(Tensor, _name) and not hasattr(Tensor, _name + "_"):
        setattr(Tensor, _name + "_", _inplace_variant(_name))

# ---------------------------------------------------------------- more of PyTorch's tensor API
# One block (absolute, is_cpu, get_device, the in-place comparisons, fmax/fmin, mv/inner/vdot, mode,
# the in-place samplers, register_post_accumulate_grad_hook, ...): the methods are written on
# _MoreTensorAPI and copied onto Tensor below.

ModeResult = collections.namedtuple("mode", ["values", "indices"])

# C's names of the dtypes, as PyTorch's sampler errors print them
_C_TYPES = {"uint8": "unsigned char", "int8": "signed char", "int16": "short int", "int32": "int",
            "int64": "long int", "bool": "bool"}


def _num(x) -> str:
    """A number as C++ prints it in PyTorch's messages (``-1``, ``0.5``)."""
    return f"{x:g}" if isinstance(x, numbers.Real) else str(x)


class _MoreTensorAPI:
    """PyTorch's tensor methods added together; every attribute is copied onto ``Tensor``."""

    # ------------------------------------------------ attributes and small conveniences

    def absolute(self) -> "Tensor":
        return self.abs()

    def absolute_(self) -> "Tensor":
        return self.abs_()

    def ndimension(self) -> int:
        return self._data.ndim

    @property
    def is_cpu(self) -> bool:
        return self._device.type == "cpu"

    def get_device(self) -> int:
        """-1 on the CPU, the GPU's index on CUDA."""
        return -1 if self._device.type == "cpu" else self._device.index

    def short(self) -> "Tensor":
        return self.to(dtype=_dt.int16)

    def char(self) -> "Tensor":
        return self.to(dtype=_dt.int8)

    def is_signed(self) -> bool:
        return self.dtype.is_signed

    def is_complex(self) -> bool:
        return False  # nerve has no complex dtypes

    def is_inference(self) -> bool:
        return False

    def is_nonzero(self) -> bool:
        n = self._data.size
        if n == 0:
            raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
        if n > 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item() != 0)

    def is_same_size(self, other: "Tensor") -> bool:
        return self._data.shape == other._data.shape

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf tensor whose ``retain_grad()`` keeps its gradient in ``.grad``."""
        fn = self.grad_fn
        ref = None if fn is None else fn._retain
        return ref is not None and ref() is self

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` in backward once this leaf's gradient has been accumulated in ``.grad``
        (an optimizer step per parameter, as PyTorch's tutorials do); returns a handle to remove it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        marker = _autograd.PostAccumulateHook(hook)
        self._hooks = (self._hooks or []) + [marker]
        return _HookHandle(self, marker)

    # ------------------------------------------------ comparisons and arithmetic under more names

    greater_equal = Tensor.__ge__
    less_equal = Tensor.__le__
    not_equal = Tensor.__ne__
    multiply_ = Tensor.mul_
    subtract_ = Tensor.sub_
    divide_ = Tensor.div_
    negative_ = Tensor.neg_
    fix = Tensor.trunc
    fix_ = Tensor.trunc_

    def true_divide_(self, other) -> "Tensor":
        return self.__itruediv__(other)

    def cumsum_(self, dim: int, *, dtype=None) -> "Tensor":
        if self._data.dtype.kind == "b":
            raise NotImplementedError("\"cumsum_out_cpu\" not implemented for 'Bool'")
        x = self if dtype is None else self.to(dtype=dtype)
        result = x.cumsum(dim)
        if result._data.dtype != self._data.dtype:  # an integer sum stays in this tensor's dtype
            result = result.to(dtype=self.dtype)
        return self._write(result)

    # ------------------------------------------------ elementwise

    def _other_tensor(self, other) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        from .creation import tensor

        return tensor(_as_scalar(other), device=self._device)

    def fmax(self, other) -> "Tensor":
        """The larger of two values, ignoring NaN (NaN only where both are)."""
        a, b = self._coerce(self._other_tensor(other))
        return ops.FMax.apply(a, b, op="max")

    def fmin(self, other) -> "Tensor":
        """The smaller of two values, ignoring NaN (NaN only where both are)."""
        a, b = self._coerce(self._other_tensor(other))
        return ops.FMax.apply(a, b, op="min")

    def isposinf(self) -> "Tensor":
        if self._data.dtype.kind != "f":
            return self._wrap(self._device.xp.zeros(self._data.shape, bool))
        return self._wrap(self._data == np.inf)

    def isneginf(self) -> "Tensor":
        if self._data.dtype.kind != "f":
            return self._wrap(self._device.xp.zeros(self._data.shape, bool))
        return self._wrap(self._data == -np.inf)

    def isreal(self) -> "Tensor":
        return self._wrap(self._device.xp.ones(self._data.shape, bool))  # no complex dtypes

    def logaddexp2(self, other) -> "Tensor":
        """``log2(2**self + 2**other)`` without overflow."""
        a, b = self._binary_float(other)
        ln2 = builtins.float(np.log(2.0))
        return ops.LogAddExp.apply(a * ln2, b * ln2) * (1.0 / ln2)

    def hardshrink(self, lambd=0.5) -> "Tensor":
        from .nn.functional import hardshrink

        return hardshrink(self, lambd)

    def prelu(self, weight: "Tensor") -> "Tensor":
        from .nn.functional import prelu

        return prelu(self, weight)

    # ------------------------------------------------ products

    def mv(self, vec: "Tensor") -> "Tensor":
        """The product of this matrix and the vector ``vec``."""
        if self.ndim != 2 or vec.ndim != 1:
            raise RuntimeError(f"vector + matrix @ vector expected, got 1, {self.ndim}, {vec.ndim}")
        r, c = self._data.shape
        if c != vec.shape[0]:
            raise RuntimeError(f"size mismatch, got input ({r}), mat ({r}x{c}), vec ({vec.shape[0]})")
        if vec._data.dtype != self._data.dtype:
            raise RuntimeError(f"addmv input tensors must have the same dtype, but got {_torch_name(vec)}, "
                               f"{_torch_name(self)}, and {_torch_name(vec)}")
        return self @ vec

    def inner(self, other: "Tensor") -> "Tensor":
        """The sum of products over the last dimensions (a product with a 0-d tensor)."""
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        if self._data.shape[-1] != other._data.shape[-1]:
            raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                               f"{list(self.shape)} and {list(other.shape)}")
        if self._data.dtype != other._data.dtype:
            raise RuntimeError("both inputs should have same dtype")
        from .functions import tensordot

        return tensordot(self, other, ([-1], [-1]))

    def vdot(self, other: "Tensor") -> "Tensor":
        """The dot product of two 1-D tensors (no conjugate: nerve has no complex dtypes)."""
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors")
        n, m = self._data.shape[0], other._data.shape[0]
        if n != m:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
                               f"number of elements, but got {n} and {m} elements respectively")
        if self._data.dtype != other._data.dtype:
            raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {_torch_name(self)} and "
                               f"{_torch_name(other)}")
        return self @ other

    def diagflat(self, offset: int = 0) -> "Tensor":
        """A matrix with the flattened tensor on its ``offset``-th diagonal."""
        return self.reshape(-1).diag(offset)

    # ------------------------------------------------ mode

    def mode(self, dim: int = -1, keepdim: bool = False):
        """The most frequent value along ``dim`` (the smallest of those tied) and the index of its
        last occurrence, as PyTorch's ``(values, indices)``."""
        d = _one_axis(dim, self.ndim) if self.ndim else 0
        x = self if self.ndim else self.reshape(1)
        n = x._data.shape[d]
        if n == 0:
            raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
        xp = self._device.xp
        a = xp.moveaxis(x._data, d, -1).reshape(-1, n)
        order = xp.argsort(a, axis=1, kind="stable")
        s = xp.take_along_axis(a, order, axis=1)
        start = xp.ones(s.shape, bool)
        start[:, 1:] = s[:, 1:] != s[:, :-1]
        run = xp.cumsum(start.reshape(-1)) - 1  # every run of equal values in every row, numbered
        count = xp.bincount(run)[run].reshape(s.shape)
        rows = xp.arange(s.shape[0])
        first = xp.argmax(count, axis=1)  # the start of the smallest most frequent value (sorted rows)
        pick = order[rows, first + count[rows, first] - 1]  # its last occurrence: the sort is stable
        shape = x._data.shape[:d] + (1,) + x._data.shape[d + 1:]
        return self._picked(x, d, pick.reshape(shape), keepdim, ModeResult)

    # ------------------------------------------------ sampling

    def bernoulli(self, p=None, *, generator=None) -> "Tensor":
        """0/1 samples in this tensor's shape and dtype, with probabilities this tensor (or ``p``)."""
        from .creation import bernoulli

        return bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator=None) -> "Tensor":
        """Indices drawn by the (unnormalised) weights in each row."""
        from .creation import multinomial

        return multinomial(self, num_samples, replacement, generator=generator)

    def _set_values(self, values) -> "Tensor":
        """Write ``values`` (an array: samples, comparison results) into this tensor in place, as
        PyTorch's in-place samplers and comparisons do: a tensor in the graph stays there, with a
        zero gradient."""
        values = values.astype(self._data.dtype, copy=False)
        if self.requires_grad and _autograd._enabled:
            from .functions import where

            everywhere = self._wrap(self._device.xp.ones(self._data.shape, bool))
            return self._inplace(where(everywhere, self._wrap(values), self))
        self._data[...] = values
        _noted(self)
        return self

    def _continuous(self, what: str) -> None:
        if self._data.dtype.kind != "f":
            name = _C_TYPES[self.dtype.name] if what == "Cauchy" else _torch_name(self)
            raise RuntimeError(f"{what} distribution is a continuous probability distribution. dtype must be a "
                               f"floating point but you specified {name}")

    def _uniform01(self, generator):
        from .random import _uniform

        return _uniform(self._data.shape, 0.0, 1.0, np.float64, self._device, generator)

    def random_(self, *args, generator=None, **kwargs) -> "Tensor":
        """Integers drawn uniformly: ``random_(to)`` from [0, to), ``random_(from, to)`` from
        [from, to); with no upper bound, up to the dtype's largest value (2**mantissa for floats,
        so that every value is exact)."""
        from .random import _integers

        if len(args) > 2 or set(kwargs) - {"from", "to"} or (len(args) == 1 and "from" in kwargs) \
                or (len(args) == 2 and kwargs):
            raise TypeError("random_() takes random_(to), random_(from, to) or random_(from=..., to=...)")
        if len(args) == 2:
            low, high = args
        elif len(args) == 1:
            low, high = (args[0], kwargs["to"]) if "to" in kwargs else (0, args[0])
        else:
            low, high = kwargs.get("from", 0), kwargs.get("to")
        low = _operator.index(low)
        high = None if high is None else _operator.index(high)
        dt = self._data.dtype
        if dt.kind == "f":
            top = 2 ** {2: 11, 4: 24, 8: 53}[dt.itemsize]
            bottom = -top
        elif dt.kind == "b":
            bottom, top = 0, 1
        else:
            info = np.iinfo(dt)
            bottom, top = int(info.min), int(info.max)
        if high is not None and low >= high:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        if dt.kind != "f":
            ctype = _C_TYPES[self.dtype.name]
            if not bottom <= low <= top:
                raise RuntimeError(f"from is out of bounds for {ctype}")
            if high is not None and not bottom <= high - 1 <= top:
                raise RuntimeError(f"to - 1 is out of bounds for {ctype}")
        values = _integers(low, top + 1 if high is None else high, self._data.shape, self._device, generator)
        return self._set_values(values)

    def exponential_(self, lambd: float = 1.0, *, generator=None) -> "Tensor":
        """Samples of the exponential distribution of rate ``lambd`` (mean 1 / lambd)."""
        self._continuous("Exponential")
        if not lambd > 0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_num(lambd)}")
        return self._set_values(-self._device.xp.log1p(-self._uniform01(generator)) / lambd)

    def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None) -> "Tensor":
        """Samples of ``exp(N(mean, std**2))``."""
        from .random import _normal

        if self._data.dtype.kind != "f":
            raise NotImplementedError(f"\"log_normal_cpu\" not implemented for '{_torch_name(self)}'")
        if not std > 0:
            raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_num(std)}")
        z = _normal(self._data.shape, mean, std, np.float64, self._device, generator)
        return self._set_values(self._device.xp.exp(z))

    def geometric_(self, p: float, *, generator=None) -> "Tensor":
        """Samples of the geometric distribution: the number of trials up to the first success of
        probability ``p`` (1, 2, ...)."""
        if not 0 < p < 1:
            raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_num(p)}")
        xp = self._device.xp
        u = self._uniform01(generator)
        return self._set_values(xp.floor(xp.log1p(-u) / np.log1p(-p)) + 1)

    def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> "Tensor":
        """Samples of the Cauchy distribution with this ``median`` and scale ``sigma``."""
        self._continuous("Cauchy")
        if not sigma > 0:
            raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={_num(sigma)}")
        return self._set_values(median + sigma * self._device.xp.tan(np.pi * (self._uniform01(generator) - 0.5)))


for _name, _attr in list(vars(_MoreTensorAPI).items()):
    if not _name.startswith("__"):
        setattr(Tensor, _name, _attr)


def _compare_inplace(name):
    def method(self, other):
        """In-place comparison: 1 where it holds, 0 elsewhere, in this tensor's dtype (zero gradient)."""
        result = getattr(self, name)(other)
        if result._data.shape != self._data.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(result.shape)}")
        return self._set_values(result._data)

    return method


for _name, _op in (("eq", "__eq__"), ("ne", "__ne__"), ("lt", "__lt__"), ("le", "__le__"), ("gt", "__gt__"),
                   ("ge", "__ge__"), ("greater", "__gt__"), ("greater_equal", "__ge__"), ("less", "__lt__"),
                   ("less_equal", "__le__"), ("not_equal", "__ne__")):
    setattr(Tensor, _name + "_", _compare_inplace(_op))
    getattr(Tensor, _name + "_").__name__ = _name + "_"

for _name in ("floor_divide", "remainder"):
    setattr(Tensor, _name + "_", _inplace_variant(_name))

# ``x //= y`` and the like write into x as in torch (without these Python makes a new tensor, so a
# view or another name of x keeps the old values)
for _op, _name in (("__ipow__", "pow_"), ("__ifloordiv__", "floor_divide_"), ("__imod__", "remainder_"),
                   ("__iand__", "bitwise_and_"), ("__ior__", "bitwise_or_"), ("__ixor__", "bitwise_xor_"),
                   ("__ilshift__", "bitwise_left_shift_"), ("__irshift__", "bitwise_right_shift_")):
    setattr(Tensor, _op, getattr(Tensor, _name))

_NUMPY_NAMES = {"axis": "dim", "keepdims": "keepdim"}


def numpy_aliases(fn):
    """``fn`` taking NumPy's ``axis`` and ``keepdims`` for its ``dim`` and ``keepdim``, as every
    PyTorch function and method with a ``dim`` does (``x.sum(axis=0)``, ``torch.cat(ts, axis=1)``)."""
    def call(*args, **kwargs):
        if kwargs and ("axis" in kwargs or "keepdims" in kwargs):
            for alias, name in _NUMPY_NAMES.items():
                if alias in kwargs:
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}() got both '{name}' and its alias '{alias}'")
                    kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    return functools.wraps(fn)(call)


def _dim_aliases(name: str, dim, keepdim, axis, keepdims):
    """``(dim, keepdim)`` from a method's own ``dim``/``keepdim`` and NumPy's ``axis``/``keepdims``
    (what ``numpy_aliases`` does, for the methods that take the aliases themselves)."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}() got both 'dim' and its alias 'axis'")
        dim = axis
    if keepdims is not None:
        if keepdim:
            raise TypeError(f"{name}() got both 'keepdim' and its alias 'keepdims'")
        keepdim = keepdims
    return dim, keepdim


def _takes_dim(fn) -> bool:
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return ("dim" in names or "keepdim" in names) and "axis" not in names


for _name, _fn in list(Tensor.__dict__.items()):
    if _takes_dim(_fn):
        setattr(Tensor, _name, numpy_aliases(_fn))

# ---------------------------------------------------------------- helpers


class _ToDevice(ops.Function):
    def forward(self, xp, x):
        from .backend import device_of

        self.source = device_of(x)
        return move(x, self.target)

    def backward(self, xp, g):
        return move(g, self.source)

    def backward_t(self, g):
        return _ToDevice.apply(g, target=self.source)

    def run(self, inputs):
        # the output lives on the target device, unlike every other op
        (x,) = inputs
        from . import autograd

        out = Tensor._make(move(x._data, self.target), self.target)
        self.source = x._device
        if x.requires_grad and autograd._enabled:
            self.parents = (x.grad_fn if x.grad_fn is not None else x,)
            self.in_meta = ((x._data.shape, x._data.dtype),)
            self.device = self.target
            self.seq = autograd._next_seq()
            out.requires_grad = True
            out.grad_fn = self
        return out


class _HookHandle:
    def __init__(self, tensor, hook):
        self.tensor, self.hook = tensor, hook

    def remove(self) -> None:
        t = self.tensor
        if t.grad_fn is None and t._hooks:
            t._hooks = [h for h in t._hooks if h is not self.hook]
        elif t.grad_fn is not None:
            t.grad_fn._hooks = [h for h in (t.grad_fn._hooks or []) if h is not self.hook]


def _memory_perm(layout, ndim: int):
    """The memory order of axes a ``memory_format`` asks for; None for C order."""
    if layout is None or layout.perm is None:
        return None
    if len(layout.perm) != ndim:
        raise RuntimeError(f"required rank {len(layout.perm)} tensor to use {layout.name} format, got rank {ndim}")
    return layout.perm


def parse_to_args(args, kwargs, allow_copy: bool = True):
    """What a ``to(...)`` call asks for: ``(device or None, dtype or None, copy)``.

    Accepts ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)`` and the
    ``device=``, ``dtype=``, ``non_blocking=``, ``memory_format=`` (and ``copy=``) keywords, as
    ``Tensor.to`` and ``Module.to`` in PyTorch.
    """
    dev, dt = kwargs.pop("device", None), kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False) if allow_copy else False
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dev, dt = a._device, a.dtype
        elif isinstance(a, (dtype, type, np.dtype)):
            dt = a
        elif isinstance(a, str) and a.removeprefix("nerve.").removeprefix("torch.") in _dt._BY_NAME:
            dt = a
        elif isinstance(a, (str, device, int)):
            dev = a
        elif a is not None:
            raise TypeError(f"to() got an unexpected argument {a!r}")
    return (None if dev is None else device(dev)), (None if dt is None else _dt.to_dtype(dt)), copy


_ONES: dict = {}


def _ones_like(a, dev):
    """A fresh array of ones shaped as ``a`` (the seed of backward): a copy of a kept one on NumPy."""
    if dev.type != "cpu" or a.size != 1:
        return dev.xp.ones(a.shape, dtype=a.dtype)
    key = (a.shape, a.dtype)
    one = _ONES.get(key)
    if one is None:
        one = _ONES[key] = np.ones(a.shape, dtype=a.dtype)
    return one.copy()


def _no_grad():
    from .autograd import no_grad

    return no_grad()


def _same_dtype(a: Tensor, b: Tensor, array_op, fn) -> Tensor:
    """``array_op`` of two tensors of one dtype as the op ``fn``. When nothing records the graph
    and they share a device, the array op alone does (inference, an update under no_grad); a
    shape mismatch still gets the op's own error."""
    if a._device is b._device and not ((a.requires_grad or b.requires_grad) and _autograd._enabled):
        try:
            return Tensor._make(array_op(a._data, b._data), a._device)
        except ValueError:
            pass
    return fn.apply(a, b)


# NumPy's binary ufuncs that are a tensor operator: (the method when a tensor is the first
# operand, the method of the second operand when the first is an array or a number)
_UFUNC_OPERATORS = {
    np.add: ("__add__", "__radd__"), np.subtract: ("__sub__", "__rsub__"),
    np.multiply: ("__mul__", "__rmul__"), np.true_divide: ("__truediv__", "__rtruediv__"),
    np.floor_divide: ("__floordiv__", "__rfloordiv__"), np.power: ("__pow__", "__rpow__"),
    np.matmul: ("__matmul__", "__rmatmul__"),
    np.less: ("__lt__", "__gt__"), np.less_equal: ("__le__", "__ge__"),
    np.greater: ("__gt__", "__lt__"), np.greater_equal: ("__ge__", "__le__"),
    np.equal: ("__eq__", "__eq__"), np.not_equal: ("__ne__", "__ne__"),
}


def _ufunc_on_arrays(ufunc, method, inputs, kwargs):
    """``ufunc`` (or its ``method``: reduce, accumulate, outer, at) on the arrays of tensor
    operands; array results come back as tensors on the operands' device."""
    dev = None
    name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"

    def raw(x, writes=False):
        nonlocal dev
        if not isinstance(x, Tensor):
            return x
        if x.requires_grad:
            raise RuntimeError(
                f"numpy.{name}: a NumPy ufunc cannot record the graph of a tensor that requires grad; "
                "use nerve's own op (for example nerve.exp(t)) or call it on t.detach()"
            )
        if dev is not None and x._device != dev:
            raise RuntimeError(f"numpy.{name}: expected all tensors on the same device, got {dev} and {x._device}")
        dev = x._device
        return x._data

    arrays = [raw(x) for x in inputs]
    outs = kwargs.get("out")
    if outs is not None:
        outs = outs if isinstance(outs, tuple) else (outs,)
        kwargs = dict(kwargs, out=tuple(raw(o) for o in outs))
    result = getattr(ufunc, method)(*arrays, **kwargs)
    if outs is not None:  # what was written into is handed back (the tensor itself for a tensor)
        return outs[0] if len(outs) == 1 else outs
    if dev is None:
        dev = CPU

    def wrap(r):
        return Tensor._make(r, dev) if is_array(r) or isinstance(r, np.generic) else r

    return tuple(wrap(r) for r in result) if isinstance(result, tuple) else wrap(result)


def _raw(x, like: Tensor):
    """The array (or Python number) behind ``x``, checked to be on ``like``'s device."""
    if isinstance(x, Tensor):
        if x._device is not like._device:
            raise RuntimeError(
                f"expected all tensors on the same device, got {like._device} and {x._device}"
            )
        return x._data
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (list, tuple)):
        return like._device.xp.asarray(x)
    if is_array(x):
        return move(x, like._device)
    return x


def _nonempty(x: Tensor, op: str, axis):
    """``axis`` (None, an int or a tuple), after raising torch's IndexError where a max- or min-like
    reduction would run over a dim of size 0 (NumPy's error names no dim)."""
    if x._data.size == 0:
        if axis is None:  # (a 0-d tensor is never empty: this is a reduction of everything)
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        for a in axis if isinstance(axis, tuple) else (axis,):
            if x._data.shape[a] == 0:
                raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size.")
    return axis


def _shape_error(target: Tensor, other) -> RuntimeError:
    """torch's error for an in-place op whose other operand does not fit its target's shape."""
    a, b = tuple(target.shape), tuple(getattr(other, "shape", ()))
    try:
        return RuntimeError(f"output with shape {list(a)} doesn't match the broadcast shape "
                            f"{list(np.broadcast_shapes(a, b))}")
    except ValueError:
        d = next(i for i in range(1, min(len(a), len(b)) + 1) if 1 != a[-i] != b[-i] != 1)
        return RuntimeError(f"The size of tensor a ({a[-d]}) must match the size of tensor b ({b[-d]}) at "
                            f"non-singleton dimension {len(a) - d}")


def _matrices(name: str, *operands, ndim: int) -> None:
    """torch's error where an operand of mm (bmm) is not ``ndim``-D (``@`` would take it anyway)."""
    for t, message in operands:
        if isinstance(t, Tensor) and t.ndim != ndim:
            raise RuntimeError(message)


def _constant(x, like: Tensor) -> Tensor:
    """``x`` as a tensor of ``like``'s dtype and device (a number on the left of ``//`` or ``%``)."""
    return x if isinstance(x, Tensor) else like.new_tensor(x)


def _integer_division(a: Tensor, y, name: str) -> bool:
    """Whether ``a`` (promoted already) and the divisor ``y`` (an array or a number) divide as
    integers. As PyTorch: a bool dividend is refused, and so is an integer divisor of 0 (NumPy
    would give 0 with a warning)."""
    kind = a._data.dtype.kind
    if kind not in "iub" or isinstance(y, float) or getattr(y, "dtype", a._data.dtype).kind not in "iub":
        return False
    if kind == "b":
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for 'Bool'")
    if a._data.size and ((y == 0).any() if hasattr(y, "any") else y == 0):
        raise RuntimeError("ZeroDivisionError")  # as torch words it (an empty tensor divides by anything)
    return True


def _size(args) -> tuple:
    """Sizes given as ints, a tuple/list, or a Size; returns a tuple of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    out = []
    for a in args:
        if isinstance(a, Tensor):
            a = a.item()
        if not isinstance(a, numbers.Integral):
            raise TypeError(f"sizes must be integers, got {a!r} of type {type(a).__name__}")
        out.append(int(a))
    return tuple(out)


def _ints_first(index, ndim: int):
    """For an index that mixes integers with tensors, lists or masks: (the integers alone, the rest),
    to apply one after the other, as PyTorch does (NumPy counts an integer among arrays as one more
    array, which moves the dims: ``x[0, :, idx]`` has shape ``(n, len(idx))`` in PyTorch, ``(len(idx),
    n)`` in NumPy). None when the index has no such mix."""
    if index.__class__ is not tuple:
        return None
    ints = advanced = False
    for it in index:
        if isinstance(it, (int, np.integer)) and not isinstance(it, (bool, np.bool_)):
            ints = True
        elif it is not None and it is not Ellipsis and not isinstance(it, (_py_slice, bool)):
            advanced = True
    if not (ints and advanced):
        return None

    def width(it):  # the dims of the tensor an item consumes: a mask all of its own
        if it is None:
            return 0
        arr = it._data if isinstance(it, Tensor) else np.asarray(it) if isinstance(it, (list, np.ndarray)) else None
        return arr.ndim if arr is not None and arr.dtype.kind == "b" else 1

    first, rest = [], []
    for it in index:
        if it is Ellipsis:
            n = ndim - builtins.sum(width(o) for o in index if o is not Ellipsis)
            first += [_py_slice(None)] * n
            rest.append(it)
        elif isinstance(it, (int, np.integer)) and not isinstance(it, (bool, np.bool_)):
            first.append(it)
        else:
            first += [_py_slice(None)] * width(it)
            rest.append(it)
    return tuple(first), tuple(rest)


def _index(index, dev) -> tuple[Any, bool]:
    """Turn a Python index (with tensors, lists, masks) into one NumPy/CuPy understands."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    advanced = False
    for it in items:
        if isinstance(it, Tensor):
            if it._device is not dev:
                raise RuntimeError(
                    f"indices should be on the same device as the indexed tensor ({dev}), got {it._device}"
                )
            arr = it._data
            if arr.dtype.kind not in "iub":
                raise IndexError(
                    f"tensors used as indices must be long, int, byte or bool tensors, got {it.dtype}"
                )
            it = arr
        elif isinstance(it, (list, np.ndarray)) and not isinstance(it, tuple):
            it = move(np.asarray(it), dev)
        elif isinstance(it, np.generic):
            it = it.item()
        if it.__class__ is np.ndarray or is_array(it):
            if it.dtype.kind == "b":
                # a mask: scatter_add needs integer coordinates, and so does an empty mask
                advanced = True
                out.extend(it.nonzero())
                continue
            advanced = True
        out.append(it)
    return (tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0]), advanced


_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
                "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _mixed_matmul(name: str, a: "Tensor", b: "Tensor") -> RuntimeError:
    """The error of a matrix product of two dtypes: PyTorch's products do not promote."""
    return RuntimeError(
        f"{name}: expected both operands to have the same dtype, but got {a.dtype} and {b.dtype} "
        f"({_torch_name(a)} != {_torch_name(b)}); convert one of them with .to(dtype) "
        "(e.g. .float() or .double())"
    )


def _torch_name(t: "Tensor") -> str:
    """PyTorch's name of a tensor's dtype in its error messages (Float, Long, ...)."""
    return _TORCH_NAMES.get(t.dtype.name, t.dtype.name)


def _rebuild(cls, arr, dev, requires_grad, state):
    t = object.__new__(cls)
    t._data = move(arr, device(dev))
    t._device = device(dev)
    t.requires_grad = requires_grad
    t._grad = None
    t.grad_fn = None
    t._hooks = None
    t._view = None
    if state:
        t.__dict__.update(state)
    return t
