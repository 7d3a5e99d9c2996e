"""Datasets, as in ``torch.utils.data``: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``...

A dataset held in arrays (``TensorDataset``, ``Subset`` of one, ``MNIST``) also has
``__getitems__(indices)``, which serves a whole batch with one fancy index and returns a
``CollatedBatch``; the DataLoader calls it instead of ``__getitem__`` once per example.
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from typing import Generic, Iterable, Sequence, TypeVar

import numpy as np

from ...backend import move
from ...random import _permutation
from ...tensor import Tensor
from .collate import CollatedBatch

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "ChainDataset", "ConcatDataset", "Dataset", "IterableDataset", "StackDataset", "Subset",
    "TensorDataset", "random_split",
]


class Dataset(Generic[T_co]):
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__``.

    Optionally ``__getitems__(indices)`` returns a whole batch at once (a list of samples, or a
    ``CollatedBatch`` already collated); the DataLoader uses it when present.
    """

    def __getitem__(self, index) -> T_co:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A dataset that is a stream: subclasses define ``__iter__``. The DataLoader batches what it yields."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


def _indices_array(indices) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        idx = idx.astype(np.int64)
    return idx


class _SizeMismatchError(AssertionError, ValueError):
    """Tensors of different lengths: an AssertionError, as PyTorch raises (and a ValueError, as nerve did)."""


class TensorDataset(Dataset):
    """Examples are the rows of tensors that share their first dimension: ``dataset[i]`` is
    ``tuple(t[i] for t in tensors)``.

    Args:
        *tensors: tensors with the same size in dimension 0.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].size(0)
        for k, t in enumerate(tensors):
            if t.size(0) != n:
                raise _SizeMismatchError(
                    f"Size mismatch between tensors: tensor 0 has {n} rows in dimension 0 but "
                    f"tensor {k} has {t.size(0)}"
                )
        self.tensors = tuple(tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices) -> CollatedBatch:
        """The batch ``indices`` with one fancy index per tensor: ``[t[indices] for t in tensors]``."""
        idx = _indices_array(indices)
        out = []
        for t in self.tensors:
            if t.requires_grad:
                out.append(t[Tensor._make(move(idx, t._device), t._device)])
            else:
                out.append(Tensor._make(t._data[move(idx, t._device)], t._device))
        return CollatedBatch(out, len(idx))

    def _batches_from_memory(self) -> bool:
        return True

    def __len__(self) -> int:
        return self.tensors[0].size(0)


class StackDataset(Dataset):
    """Several datasets of equal length zipped: items are tuples (positional) or dicts (keywords)."""

    def __init__(self, *args: Dataset, **kwargs: Dataset):
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like input/output, but both types are given.")
        datasets = list(args) if args else list(kwargs.values())
        if not datasets:
            raise ValueError("At least one dataset should be passed")
        self._length = len(datasets[0])
        if any(len(d) != self._length for d in datasets):
            raise ValueError("Size mismatch between datasets")
        self.datasets = args if args else kwargs

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset):
    """Datasets one after the other.

    Args:
        datasets: the map-style datasets to join.
    """

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if k == 0 else self.cumulative_sizes[k - 1]
        return self.datasets[k][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after the other."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: the whole dataset.
        indices: positions in it.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices
        self._idx_array = None

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            if self._idx_array is None:
                self._idx_array = _indices_array(self.indices)
            return getitems(self._idx_array[_indices_array(indices)].tolist())
        return [self.dataset[self.indices[i]] for i in indices]

    def _batches_from_memory(self) -> bool:
        probe = getattr(self.dataset, "_batches_from_memory", None)
        return bool(probe()) if callable(probe) else False

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping ``Subset``s of the given sizes.

    Args:
        dataset: what to split.
        lengths: sizes that sum to ``len(dataset)``, or fractions that sum to 1 (each floored,
            then the remainder handed out one by one from the first split, as PyTorch does).
        generator: a ``nerve.Generator``; the global generator when None.

    Returns:
        one ``Subset`` per length.
    """
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    from ...backend import CPU

    perm = _permutation(n, CPU, generator).tolist()
    return [Subset(dataset, perm[end - length:end]) for end, length in zip(itertools.accumulate(lengths), lengths)]
