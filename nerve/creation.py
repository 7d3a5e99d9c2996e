"""Factory functions: ``tensor``, ``zeros``, ``ones``, ``rand``, ``arange``, ... (as in PyTorch)."""

from __future__ import annotations

import numpy as np

from . import dtypes as _dt
from .autograd import own_storage
from .backend import CPU, DEFAULT, aligned, copy_aligned, full_aligned, is_array, move
from .backend import device as _device
from .random import _integers, _normal, _permutation, _uniform
from .tensor import _TORCH_NAMES, Tensor, _size, _torch_name


def _finish(arr, dev, requires_grad) -> Tensor:
    # a new tensor's storage starts on a 64-byte boundary, as PyTorch's (backend.empty_aligned);
    # arr is the factory's own array, so an aligned copy (only where it is not) shares nothing
    t = Tensor._make(aligned(arr), dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def set_default_device(device) -> None:
    """Make factory functions (``zeros``, ``randn``, ``tensor``, ...) create tensors on ``device``
    when they are given none, as ``torch.set_default_device``; ``None`` goes back to the CPU.

    Tensors made from other tensors (``zeros_like``, ``tensor(t)``) and ``from_numpy`` keep
    their source's device, as in PyTorch. ``with nerve.device(...):`` sets it for a block.
    """
    DEFAULT[0] = CPU if device is None else _device(device)


def get_default_device():
    """The device factory functions use when given none (``set_default_device``)."""
    return DEFAULT[0]


def _dev(d):
    return DEFAULT[0] if d is None else _device(d)


def _native(arr) -> None:
    """Refuse a NumPy array of the other byte order (``'>f8'`` on a little-endian machine), as
    PyTorch does, rather than read its bytes as something else."""
    if not arr.dtype.isnative:
        raise ValueError(
            "given numpy array has byte order different from the native byte order. Conversion between "
            "byte orders is currently not supported; convert it first, e.g. arr.astype(arr.dtype.newbyteorder('='))"
        )


def _infer_np_dtype(arr) -> np.dtype:
    k = arr.dtype.kind
    if k == "f":
        return arr.dtype if arr.dtype in (np.float64, np.float16, np.float32) else np.dtype(np.float32)
    if k == "b":
        return np.dtype(np.bool_)
    if k in "iu":
        return arr.dtype if arr.dtype in (np.int32, np.int64, np.uint8, np.int16, np.int8) else np.dtype(np.int64)
    if k == "c":
        raise TypeError(f"{_dt.NO_COMPLEX} (got data of dtype {arr.dtype})")
    raise TypeError(f"can't make a tensor from data of dtype {arr.dtype}")


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from a list, number, NumPy/CuPy array or tensor, copying the data.

    Args:
        data: nested lists/tuples of numbers, a scalar, an array, or a tensor.
        dtype: the element type; inferred when None (Python floats give float32).
        device: ``'cpu'`` or ``'cuda'``.
        requires_grad: record operations on it for backward.
    """
    if isinstance(data, Tensor):
        arr = data._data
        src = data._device
    elif is_array(data):
        _native(data)
        arr = data
        src = DEFAULT[0] if isinstance(data, np.ndarray) else None
    else:
        if isinstance(data, (list, tuple)) and data and any(isinstance(x, Tensor) for x in _flat(data)):
            data = _tensors_to_lists(data)
        arr = np.array(data)
        src = DEFAULT[0]
        if arr.dtype == object:
            raise TypeError(f"can't make a tensor from {type(data).__name__}: values must be numbers of one shape")
        if arr.dtype.kind == "f" and dtype is None:
            arr = arr.astype(_dt.get_default_dtype().np)
        elif arr.dtype.kind == "U" or arr.dtype.kind == "S":
            raise TypeError("can't make a tensor from strings")
    dt = _dt.to_dtype(dtype).np if dtype is not None else _infer_np_dtype(arr)
    if arr is data or isinstance(data, Tensor):  # the caller's array: copied (and cast) once, aligned
        arr = copy_aligned(arr, dt)
    elif arr.dtype != dt:
        arr = arr.astype(dt)
    dev = _dev(device) if device is not None else (src if src is not None else _array_device(arr))
    arr = move(arr, dev)
    return _finish(arr, dev, requires_grad)


def _array_device(arr):
    from .backend import device_of

    return device_of(arr)


def _flat(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _tensors_to_lists(xs):
    if isinstance(xs, Tensor):  # a one-element tensor in a list is a number there, as in PyTorch
        return xs.item() if xs._data.size == 1 else xs.tolist()
    if isinstance(xs, (list, tuple)):
        return [_tensors_to_lists(x) for x in xs]
    return xs


as_tensor = tensor


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _native(array)
    _dt.from_numpy_dtype(array.dtype)
    # a view of its own: the in-place checks count each from_numpy tensor as one storage, as
    # PyTorch gives each its own version counter (two of one array do not see each other's writes)
    view = array.view()
    own_storage(view)
    return Tensor._make(view, CPU)


def _factory_dtype(dtype):
    return (_dt.to_dtype(dtype) if dtype is not None else _dt.get_default_dtype()).np


def _make_filled(size, value, dtype, device, requires_grad):
    dev = _dev(device)
    return _finish(full_aligned(dev.xp, _size(size), value, _factory_dtype(dtype)), dev, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; sizes as ints or one tuple."""
    dev = _dev(device)
    return _finish(full_aligned(dev.xp, _size(size), 0, _factory_dtype(dtype)), dev, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones; sizes as ints or one tuple."""
    dev = _dev(device)
    return _finish(full_aligned(dev.xp, _size(size), 1, _factory_dtype(dtype)), dev, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (zeros here, so runs are reproducible)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``; the dtype follows the value when not given."""
    if dtype is None:
        dtype = _dt.scalar_dtype(fill_value.item() if isinstance(fill_value, Tensor) else fill_value)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _make_filled((size,) if isinstance(size, int) else size, fill_value, dtype, device, requires_grad)


def _like(t: Tensor, dtype, device):
    return (dtype if dtype is not None else t.dtype), (device if device is not None else t.device)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros_like(t, dtype, device, requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    dev = _dev(device)
    return _finish(_uniform(_size(size), 0.0, 1.0, _factory_dtype(dtype), dev, generator), dev, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    dev = _dev(device)
    return _finish(_normal(_size(size), 0.0, 1.0, _factory_dtype(dtype), dev, generator), dev, requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high); ``randint(high, size)`` also works."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing its size argument, e.g. randint(0, 10, (3,))")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    dev = _dev(device)
    arr = _integers(low, high, _size((size,) if isinstance(size, int) else size), dev, generator)
    if dtype is not None:
        arr = arr.astype(_dt.to_dtype(dtype).np)
    return _finish(arr, dev, requires_grad)


def rand_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return rand(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return randn(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randint_like(t: Tensor, low, high=None, dtype=None, device=None) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return randint(low, high, t.shape, dtype=dt, device=dev)


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    dev = _dev(device)
    arr = _permutation(n, dev, generator)
    if dtype is not None:
        arr = arr.astype(_dt.to_dtype(dtype).np)
    return _finish(arr, dev, False)


def normal(mean, std, size=None, generator=None, dtype=None, device=None) -> Tensor:
    """Normal samples with the given mean and std (numbers, or tensors of one shape)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        return randn(like.shape, generator=generator, dtype=like.dtype, device=like.device) * std + mean
    dev = _dev(device)
    return _finish(_normal(_size((size,) if isinstance(size, int) else size), mean, std,
                           _factory_dtype(dtype), dev, generator), dev, False)


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """0/1 samples in ``input``'s shape and dtype: with the probabilities ``input`` itself, or with
    ``p`` (a number, or a tensor broadcast to ``input``) when given, as ``torch.bernoulli``."""
    if p is None:
        if input._data.dtype.kind != "f":
            raise NotImplementedError(f"\"bernoulli_tensor_cpu_p_\" not implemented for '{_torch_name(input)}'")
        probs = input._data
        if probs.size and not bool(((probs >= 0) & (probs <= 1)).all()):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    elif isinstance(p, Tensor):
        probs = move(p._data, input.device)
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")
        probs = p
    draw_dtype = input._data.dtype if input._data.dtype.kind == "f" else np.float32
    u = _uniform(input.shape, 0.0, 1.0, draw_dtype, input.device, generator)
    return Tensor._make((u < probs).astype(input._data.dtype), input.device)


def multinomial(probs: Tensor, num_samples: int, replacement: bool = False, generator=None) -> Tensor:
    """Sample indices by the (unnormalised) weights in each row of ``probs``."""
    from .random import _rng

    if probs._data.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {_torch_name(probs)}")
    if probs.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > probs.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    p = np.asarray(move(probs._data, CPU), dtype=np.float64)
    if not (np.isfinite(p) & (p >= 0)).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (p.reshape(-1, p.shape[-1]).sum(-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rows = p.reshape(-1, p.shape[-1])
    rng = _rng(generator, CPU)
    if replacement:
        out = np.stack([rng.choice(rows.shape[1], num_samples, replace=True, p=r / r.sum()) for r in rows])
    else:  # as PyTorch: the first num_samples of an exponential race (categories of weight 0 last, in order)
        with np.errstate(divide="ignore"):
            keys = rng.standard_exponential(rows.shape) / rows
        out = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    out = out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64)
    return Tensor._make(move(out, probs.device), probs.device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless a float is given."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        dtype = _dt.get_default_dtype() if any(isinstance(v, float) for v in vals) else _dt.int64
    dev = _dev(device)
    arr = dev.xp.arange(*vals, dtype=_dt.to_dtype(dtype).np)
    return _finish(arr, dev, requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    dev = _dev(device)
    dt = np.dtype(_factory_dtype(dtype))
    if dev.xp is np and steps > 1 and dt.kind in "fiu":
        arr = _torch_linspace(start, end, int(steps), dt)
    else:
        arr = dev.xp.linspace(start, end, steps, dtype=np.float64).astype(dt)
    return _finish(arr, dev, requires_grad)


def _torch_linspace(start, end, steps: int, dt) -> np.ndarray:
    """PyTorch's linspace, value for value: the step ``(end - start) / (steps - 1)``, the first half
    counted up from ``start`` and the second down from ``end``, each value ``start + i * step``
    rounded once (a fused multiply-add; a wider float stands in). Floats compute in their own dtype
    (float16's values in float32, as PyTorch's); integers from the truncated ends, in float64,
    truncated."""
    if dt.kind == "f":  # (float16: the ends and the step in float16, the values in float32)
        op = np.dtype(np.float32) if dt.itemsize < 4 else dt
        start_d, end_d = dt.type(start), dt.type(end)
        step = (end_d - start_d) / dt.type(steps - 1)
    else:
        op = np.dtype(np.float64)
        start_d, end_d = op.type(int(start)), op.type(int(end))
        step = (end_d - start_d) / op.type(steps - 1)
    wide = op.type if dt.itemsize < 4 else np.float64 if op.itemsize < 8 else np.longdouble
    i = np.arange(steps)
    half = steps // 2
    out = np.empty(steps, op)
    out[:half] = (wide(start_d) + wide(step) * i[:half].astype(wide)).astype(op)
    out[half:] = (wide(end_d) - wide(step) * (steps - 1 - i[half:]).astype(wide)).astype(op)
    return out.astype(dt) if dt.kind == "f" else np.trunc(out).astype(dt)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None) -> Tensor:
    dev = _dev(device)
    arr = dev.xp.logspace(start, end, steps, base=base).astype(_factory_dtype(dtype))
    return _finish(arr, dev, False)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    dev = _dev(device)
    return _finish(dev.xp.eye(n, m, dtype=_factory_dtype(dtype)), dev, requires_grad)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=None) -> Tensor:
    """``obj`` as a tensor, as ``torch.asarray``: a tensor or a NumPy array is shared, not copied,
    when ``dtype`` and ``device`` allow it (``copy=True`` always copies; ``copy=False`` never does,
    and raises when it would have to); lists and numbers are copied. ``requires_grad`` left out
    keeps a tensor's (its graph too)."""
    want_dt = None if dtype is None else _dt.to_dtype(dtype)
    want_dev = None if device is None else _device(device)
    if isinstance(obj, np.generic) or not (isinstance(obj, Tensor) or is_array(obj)) and hasattr(obj, "__array__"):
        obj = np.asarray(obj)
    if isinstance(obj, Tensor):
        dt, dev, what = want_dt or obj.dtype, want_dev or obj.device, "tensor"
        src_dt, src_dev = obj.dtype, obj.device
    elif is_array(obj):
        _native(obj)
        src_dt, src_dev, what = _dt.from_numpy_dtype(obj.dtype), _array_device(obj), "tensor"  # torch's words
        dt, dev = want_dt or src_dt, want_dev or (DEFAULT[0] if isinstance(obj, np.ndarray) else src_dev)
    else:
        if copy is False:
            raise ValueError("can't alias arbitrary sequence into a tensor.")
        out = tensor(obj, dtype=want_dt, device=want_dev)
        return out.requires_grad_(True) if requires_grad else out
    if copy is False and dt is not src_dt:
        raise ValueError(f"can't alias {what} with dtype '{_TORCH_NAMES.get(src_dt.name)}' into dtype "
                         f"'{_TORCH_NAMES.get(dt.name)}'.")
    if copy is False and dev is not src_dev:
        raise ValueError(f"can't alias {what} on device '{src_dev}' into device '{dev}'.")
    if isinstance(obj, Tensor):
        out = obj.to(device=dev, dtype=dt)
        if copy and out is obj:
            out = obj.clone()
    else:
        arr = obj.astype(dt.np) if dt is not src_dt else (obj.copy() if copy else obj)
        out = Tensor._make(move(arr, dev), dev)
    if requires_grad and not out.requires_grad:
        out.requires_grad_(True)
    elif requires_grad is False and out.requires_grad:
        out = out.detach()
    return out


def scalar_tensor(s, *, dtype=None, layout=None, device=None, pin_memory=None, requires_grad: bool = False) -> Tensor:
    """A 0-d tensor holding ``s``, of the default float dtype unless ``dtype`` says otherwise."""
    value = s.item() if isinstance(s, Tensor) else s
    return full((), value, dtype=dtype if dtype is not None else _dt.get_default_dtype(), device=device,
                requires_grad=requires_grad)
