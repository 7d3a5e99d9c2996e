"""Turning what ``fit`` / ``evaluate`` / ``predict`` are given into batches.

NumPy arrays and nerve tensors (or lists / dicts of them, for several inputs) are cut into
batches by indexing with a shuffled permutation once per epoch: one gather (``take``) per batch,
moved to the device once. Anything else iterable (a nerve ``DataLoader``, a dataset from
``image_dataset_from_directory``) is taken as a stream of ready batches ``(x, y)`` or
``(x, y, sample_weight)``. A ``keras.utils.PyDataset`` or a Python generator is walked as Keras 3
walks it, by ``epoch_iterator.py``.
"""

from __future__ import annotations

import math

import numpy as np

import nerve
from nerve.backend import move
from nerve.random import _permutation

from ..layers.layer import flatten, map_structure
from ..utils.py_dataset import PyDataset
from . import epoch_iterator, per_output

_CPU = nerve.device("cpu")


def is_array(x) -> bool:
    return isinstance(x, (np.ndarray, nerve.Tensor)) or nerve.backend.is_array(x)


def _is_arrays(x) -> bool:
    if x is None:
        return True
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and all(is_array(v) or isinstance(v, (list, tuple)) and _is_arrays(v) for v in x)
    if isinstance(x, dict):
        return all(is_array(v) for v in x.values())
    return is_array(x)


def _raw(x):
    """The backing array of a tensor (on its device), or a NumPy view of anything array-like."""
    if isinstance(x, nerve.Tensor):
        return x.detach()._data
    if nerve.backend.is_array(x):
        return x
    return np.asarray(x)


def _rows(x) -> int:
    return int(x.shape[0])


def train_validation_split(arrays, validation_split: float):
    """Split arrays into (train, validation), the validation being the LAST fraction (as Keras)."""
    leaves = [a for a in flatten(arrays) if a is not None]
    n = _rows(leaves[0])
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it into a validation "
            f"and training set as specified by `validation_split={validation_split}`. Either provide more "
            "data, or a different value for the `validation_split` argument."
        )
    train = map_structure(lambda a: None if a is None else a[:split_at], arrays)
    val = map_structure(lambda a: None if a is None else a[split_at:], arrays)
    return train, val


class _Passes:
    """An epoch of a data source as Keras's EpochIterator walks one: a whole pass over the data, or
    with ``steps_per_epoch`` that many batches, going on where the last epoch stopped in the pass;
    a pass that ends mid-epoch ends that epoch (with Keras's warning), and the next epoch starts a
    new pass. Subclasses give ``_one_pass()``, ``num_batches`` (None when unknown) and
    ``steps_per_epoch``."""

    _pass, _seen = None, 0

    def reset(self) -> None:
        """Start the next epoch on a new pass (Keras resets before each validation)."""
        self._pass, self._seen = None, 0

    def __iter__(self):
        return self._one_pass() if not self.steps_per_epoch else self._steps()

    def _steps(self):
        if self._pass is None:
            self._pass, self._seen = iter(self._one_pass()), 0
        for _ in range(self.steps_per_epoch):
            if self.num_batches is not None and self._seen >= self.num_batches:
                epoch_iterator._ran_out()
                break
            item = next(self._pass, _END)
            if item is _END:  # a source of unknown length ran out: now its length is known
                self.num_batches = self._seen
                epoch_iterator._ran_out()
                self._pass = None
                return
            self._seen += 1
            yield item
        if self.num_batches is not None and self._seen >= self.num_batches:
            self._pass = None


_END = object()


class ArrayData(_Passes):
    """Batches of in-memory arrays, reshuffled each epoch."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, steps=None):
        self.x = map_structure(_raw, x)
        self.y = None if y is None else map_structure(_raw, y)
        self.sw = None if sample_weight is None else map_structure(lambda a: None if a is None else _raw(a), sample_weight)
        sizes_x = [_rows(a) for a in flatten(self.x)]
        sizes_y = [] if self.y is None else [_rows(a) for a in flatten(self.y)]
        sizes_sw = [] if self.sw is None else [_rows(a) for a in flatten(self.sw) if a is not None]
        if len(set(sizes_x + sizes_y + sizes_sw)) > 1:
            msg = "Data cardinality is ambiguous. Make sure all arrays contain the same number of samples."
            msg += "'x' sizes: " + ", ".join(str(s) for s in sizes_x) + "\n"
            if sizes_y:
                msg += "'y' sizes: " + ", ".join(str(s) for s in sizes_y) + "\n"
            if sizes_sw:
                msg += "'sample_weight' sizes: " + ", ".join(str(s) for s in sizes_sw) + "\n"
            raise ValueError(msg)
        self.num_samples = sizes_x[0]
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.num_batches = math.ceil(self.num_samples / self.batch_size)
        self.steps_per_epoch = steps
        self.steps = steps if steps else self.num_batches
        self._pass, self._seen = None, 0


    def first_x(self):
        return map_structure(lambda a: a[: self.batch_size], self.x)

    def _one_pass(self):
        n, bs = self.num_samples, self.batch_size
        order = _permutation(n, _CPU) if self.shuffle else None
        x, y, sw = self.x, self.y, self.sw
        if order is not None and type(x) is np.ndarray and (y is None or type(y) is np.ndarray) and sw is None:
            # the common case: one input, one target, in memory. take() is NumPy's fast gather of
            # whole rows (x[idx] goes through the general fancy-indexing path: twice the work)
            for step in range(self.num_batches):
                idx = order[step * bs:(step + 1) * bs]
                yield x.take(idx, axis=0), None if y is None else y.take(idx, axis=0), None
            return
        for step in range(self.num_batches):
            lo, hi = step * bs, min((step + 1) * bs, n)
            if order is None:
                take = lambda a, lo=lo, hi=hi: a[lo:hi]  # noqa: E731  (a view, no copy)
            else:
                idx = order[lo:hi]
                take = lambda a, idx=idx: a.take(idx, axis=0) if isinstance(a, np.ndarray) else a[move(idx, nerve.backend.device_of(a))]  # noqa: E731
            yield (map_structure(take, self.x), None if self.y is None else map_structure(take, self.y),
                   None if self.sw is None else map_structure(lambda a: None if a is None else take(a), self.sw))


def _split_item(item):
    if isinstance(item, (list, tuple)):
        if len(item) == 2:
            return item[0], item[1], None
        if len(item) == 3:
            return item[0], item[1], item[2]
        if len(item) == 1:
            return item[0], None, None
    if isinstance(item, dict) and "x" in item:
        return item["x"], item.get("y"), item.get("sample_weight")
    return item, None, None


class IterableData(_Passes):
    """Ready-made batches from a DataLoader, a dataset of batches, or any re-iterable of them."""

    def __init__(self, data, steps=None):
        self.data = data
        try:
            n = len(data)
        except TypeError:
            n = None
        self.num_batches = n
        self.steps_per_epoch = steps
        self.steps = steps or n
        self._first = None

    def first_x(self):
        if self._first is None:
            self._first = _split_item(next(iter(self.data)))[0]
        return self._first

    def _one_pass(self):
        for item in self.data:
            yield _split_item(item)


def make(x, y=None, sample_weight=None, batch_size=None, shuffle=False, steps=None, what="x", class_weight=None):
    """An ArrayData, an IterableData, or (a PyDataset or a generator) an EpochIterator for what a
    fit / evaluate / predict call was given. ``batch_size`` is ignored for data already in batches
    (as Keras)."""
    if x is None:
        raise ValueError(f"Expected `{what}` to be provided. Received: None")
    if _is_arrays(x):
        per_output.check_sample_weight(y, sample_weight)
        return ArrayData(x, y, sample_weight, batch_size or 32, shuffle, steps)
    if isinstance(x, PyDataset) or epoch_iterator.is_one_shot(x):
        return epoch_iterator.make(x, steps, shuffle, class_weight, y, sample_weight)
    if y is not None:
        raise ValueError("`y` argument is not supported when using a dataset or a DataLoader as input: "
                         "the batches carry the targets.")
    if class_weight is not None:
        raise ValueError("`class_weight` is only supported for a single output given as an array `y`, or for a "
                         "PyDataset.")
    return IterableData(x, steps)


def to_device(structure, dev):
    """Put every array of a batch on ``dev`` as nerve tensors (a no-op for tensors already there)."""
    if type(structure) is np.ndarray and dev.type == "cpu":  # the common case, without the walk
        arr = structure.astype(np.float32) if structure.dtype == np.float64 else structure
        return nerve.Tensor._make(arr, dev)

    def conv(a):
        if a is None or isinstance(a, (str, bytes)):
            return a
        if isinstance(a, nerve.Tensor):
            return a if a.device == dev else a.to(dev)
        arr = a if nerve.backend.is_array(a) else np.asarray(a)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return nerve.Tensor._make(move(arr, dev), dev)

    return map_structure(conv, structure)
