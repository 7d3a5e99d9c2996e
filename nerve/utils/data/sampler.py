"""Samplers: the order in which the DataLoader visits a dataset (as ``torch.utils.data.sampler``).

Random samplers draw from ``generator`` when given, else from nerve's global generator, so
``nerve.manual_seed`` makes shuffling reproducible.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

from ...backend import CPU
from ...random import _rng
from ...tensor import Tensor

__all__ = [
    "BatchSampler", "RandomSampler", "Sampler", "SequentialSampler", "SubsetRandomSampler",
    "WeightedRandomSampler",
]


class Sampler:
    """Base class: subclasses define ``__iter__`` over indices (and usually ``__len__``)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError



class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def _epoch_indices(self):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the dataset (or ``num_samples`` draws with replacement).

    Args:
        data_source: the dataset.
        replacement: draw with replacement.
        num_samples: how many indices per epoch (default: the dataset's length).
        generator: a ``nerve.Generator``; the global one when None.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or isinstance(self.num_samples, bool) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _epoch_indices(self):
        n = len(self.data_source)
        rng = _rng(self.generator, CPU)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(self.num_samples // n)]
        parts.append(rng.permutation(n)[: self.num_samples % n])
        return np.concatenate(parts).astype(np.int64, copy=False)

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a random order each epoch."""

    def __init__(self, indices: Sequence[int], generator=None):
        self.indices = indices
        self.generator = generator

    def _epoch_indices(self):
        perm = _rng(self.generator, CPU).permutation(len(self.indices))
        return np.asarray(self.indices, dtype=np.int64)[perm]

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``.

    Args:
        weights: one non-negative weight per index (need not sum to 1).
        num_samples: how many to draw.
        replacement: draw with replacement (else each index at most once).
        generator: a ``nerve.Generator``; the global one when None.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (weights must be finite, non-negative, with a positive sum)")
        if not replacement and num_samples > len(w):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        self._w = w
        self.weights = Tensor._make(w, CPU)  # a float64 tensor, as PyTorch's
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def _epoch_indices(self):
        rng = _rng(self.generator, CPU)
        w = self._w
        if self.replacement:
            return rng.choice(len(w), size=self.num_samples, replace=True, p=w / w.sum()).astype(np.int64)
        # without replacement, as torch.multinomial: the indices of weight 0 come last, once the others are drawn
        nonzero = np.flatnonzero(w)
        k = min(self.num_samples, len(nonzero))
        first = rng.choice(nonzero, size=k, replace=False, p=w[nonzero] / w[nonzero].sum())
        rest = rng.permutation(np.flatnonzero(w == 0))[: self.num_samples - k]
        return np.concatenate([first, rest]).astype(np.int64)

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    Args:
        sampler: any iterable of indices.
        batch_size: indices per batch (a positive int).
        drop_last: drop the last batch when it is short.
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def _iter_arrays(self) -> Iterator[np.ndarray]:
        """Batches as int64 arrays, cut from one array per epoch when the sampler offers one."""
        if not _has_epoch_indices(self.sampler):
            for batch in self:
                yield np.asarray(batch, dtype=np.int64)
            return
        idx = self.sampler._epoch_indices()
        b = self.batch_size
        stop = len(idx) - len(idx) % b if self.drop_last else len(idx)
        for start in range(0, stop, b):
            yield idx[start:start + b]

    def __iter__(self) -> Iterator[list[int]]:
        if _has_epoch_indices(self.sampler):
            for arr in self._iter_arrays():
                yield arr.tolist()
            return
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


def _has_epoch_indices(sampler) -> bool:
    """True when ``sampler`` iterates as one of ours (a subclass overriding ``__iter__`` is respected)."""
    return getattr(type(sampler), "__iter__", None) in _FAST_ITERS


_FAST_ITERS = {
    SequentialSampler.__iter__, RandomSampler.__iter__, SubsetRandomSampler.__iter__,
    WeightedRandomSampler.__iter__,
}
