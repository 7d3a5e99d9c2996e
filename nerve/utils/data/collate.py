"""Turning a list of samples into a batch: ``default_collate`` and ``default_convert`` (as PyTorch's).

Also ``CollatedBatch``: what a dataset's ``__getitems__`` may return when it has already built
the whole batch with one fancy index (the vectorised path). It is a ``Sequence`` of the samples,
so a custom ``collate_fn`` still receives "a list of samples" as in PyTorch; ``default_collate``
simply hands back the batch it holds, with no per-example Python.
"""

from __future__ import annotations

import collections.abc
import copy

import numpy as np

from ...backend import CPU, is_array
from ...tensor import Tensor

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)
_STRING_KINDS = "SaUO"


class CollatedBatch(collections.abc.Sequence):
    """A batch already collated by a dataset's ``__getitems__`` (the vectorised fast path).

    Args:
        batch: the collated structure, as ``default_collate`` would return it (e.g. ``[images, labels]``).
        length: the number of samples in it.

    Indexing it gives sample ``i`` (a tuple for a list/tuple batch), so it can stand for the
    list of samples PyTorch's ``__getitems__`` returns.
    """

    __slots__ = ("batch", "_length")

    def __init__(self, batch, length: int):
        self.batch = batch
        self._length = int(length)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._length))]
        if not -self._length <= i < self._length:
            raise IndexError(f"index {i} out of range for a batch of {self._length}")
        return _take(self.batch, i % self._length)

    def __repr__(self) -> str:
        return f"CollatedBatch(length={self._length})"


def _take(batch, i):
    if isinstance(batch, collections.abc.Mapping):
        return {k: _take(v, i) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return tuple(_take(v, i) for v in batch)
    if isinstance(batch, Tensor):
        return batch[i]
    if is_array(batch):
        return batch[i]
    return batch[i]


def _wrap(array) -> Tensor:
    return Tensor._make(array, CPU)


def _stack_tensors(batch):
    first = batch[0]
    shape = first._data.shape
    for k, t in enumerate(batch):
        if not isinstance(t, Tensor):
            raise TypeError(default_collate_err_msg_format.format(type(t)))
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(t._data.shape)} at entry {k}"
            )
    if any(t.requires_grad or t.dtype != first.dtype for t in batch):  # stack promotes mixed dtypes
        from ...functions import stack

        return stack(list(batch), 0)
    dev = first._device
    if any(t._device is not dev for t in batch):
        raise RuntimeError("default_collate: all tensors in a batch must be on the same device")
    return Tensor._make(dev.xp.stack([t._data for t in batch]), dev)


def default_collate(batch):
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Tensors are stacked on a new first dimension; NumPy arrays become stacked tensors; Python
    ints give an int64 tensor, floats a float64 tensor, bools a bool tensor; strings stay a list;
    dicts, named tuples and sequences are collated field by field (a tuple sample gives a list).

    Args:
        batch: a sequence of samples (or a ``CollatedBatch``, returned as it is).

    Returns:
        the batched structure.
    """
    if isinstance(batch, CollatedBatch):
        return batch.batch
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    elem_type = type(elem)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in _STRING_KINDS:
            raise TypeError(default_collate_err_msg_format.format(elem.dtype))
        if not all(isinstance(a, np.ndarray) and a.dtype == elem.dtype for a in batch):
            # as PyTorch: each one as a tensor, stacked with tensor type promotion
            from ...creation import as_tensor

            return _stack_tensors([a if isinstance(a, Tensor) else as_tensor(a) for a in batch])
        shape = elem.shape
        for k, a in enumerate(batch):
            if a.shape != shape:
                got = list(a.shape) if hasattr(a, "shape") else type(a).__name__
                raise RuntimeError(
                    f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                    f"and {got} at entry {k}"
                )
        return _wrap(np.stack(batch))
    if is_array(elem):  # a CuPy array
        from ...backend import device_of

        dev = device_of(elem)
        return Tensor._make(dev.xp.stack(batch), dev)
    if isinstance(elem, np.generic):
        if elem.dtype.kind in _STRING_KINDS:
            return batch
        return _wrap(np.asarray(batch))
    if isinstance(elem, float):
        return _wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):  # bools too, as torch.tensor(batch): a float among ints gives float32
        kinds = {type(b) for b in batch}
        if kinds == {int}:
            return _wrap(np.asarray(batch, dtype=np.int64))
        if kinds == {bool}:
            return _wrap(np.asarray(batch, dtype=np.bool_))
        from ...creation import tensor

        return tensor(list(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(collated)
                return clone
            return elem_type(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))  # each field's samples as a tuple (strings stay one), as PyTorch
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]  # as PyTorch: tuples give lists
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, s in enumerate(transposed):
                    clone[i] = default_collate(s)
                return clone
            return elem_type([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def default_convert(data):
    """Convert NumPy arrays (and NumPy scalars) inside ``data`` to tensors, leaving the rest.

    The collate function the DataLoader uses when automatic batching is off (``batch_size=None``).
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype.kind in _STRING_KINDS:
            return data
        return _wrap(data)
    if isinstance(data, np.generic):
        if data.dtype.kind in _STRING_KINDS:
            return data
        return _wrap(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({k: default_convert(v) for k, v in data.items()})
                return clone
            return type(data)({k: default_convert(v) for k, v in data.items()})
        except TypeError:
            return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
