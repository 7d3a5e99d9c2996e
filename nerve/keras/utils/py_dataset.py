"""``keras.utils.PyDataset`` (also ``keras.utils.Sequence``): batches computed in Python code.

A subclass writes ``__len__`` (the number of batches) and ``__getitem__(idx)`` (batch ``idx``:
``(x, y)``, ``(x, y, sample_weight)``, or ``x`` / ``(x,)`` alone for ``predict``), and may write
``on_epoch_begin`` / ``on_epoch_end``; ``fit`` / ``evaluate`` / ``predict`` take it as ``x``.
How ``fit`` walks it (batch order, shuffling, the epoch hooks, fetching ahead on threads) is in
``nerve/keras/models/epoch_iterator.py``.
"""

from __future__ import annotations

import itertools
import warnings


class PyDataset:
    """Base class for a dataset of batches written in Python, as Keras 3's.

    ``__getitem__(idx)`` returns a whole batch (not one example) and ``__len__`` the number of
    batches; a dataset without ``__len__`` overrides the ``num_batches`` property instead
    (``None`` for an endless one, then ``fit`` needs ``steps_per_epoch``).

    Args:
        workers: threads that fetch batches ahead of training (``fit`` / ``evaluate`` /
            ``predict`` still receive them in index order). 1 fetches each batch when it is needed.
        use_multiprocessing: accepted for Keras's scripts; nerve always uses threads (the
            batches are the same, only how they are fetched differs), so ``True`` fetches on
            ``workers`` threads, as ``workers > 1`` does.
        max_queue_size: how many batches may be fetched ahead (10).

    Example::

        class Batches(keras.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, idx):
                lo = idx * self.batch_size
                return self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self) -> None:
        defaults = {"_workers": 1, "_use_multiprocessing": False, "_max_queue_size": 10}
        missing = [name for name in defaults if not hasattr(self, name)]
        for name in missing:
            setattr(self, name, defaults[name])
        if missing:
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor. "
                "`**kwargs` can include `workers`, `use_multiprocessing`, `max_queue_size`. Do not pass "
                "these arguments to `fit()`, as they will be ignored.",
                stacklevel=3,
            )

    @property
    def workers(self) -> int:
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value) -> None:
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position ``index``."""
        raise NotImplementedError

    def __iter__(self):
        # iterating by hand walks the batches in order, in this thread (no workers)
        try:
            n = self.num_batches
        except NotImplementedError:
            n = None
        for index in itertools.count() if n is None else range(n):
            yield self[index]

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``), or ``None`` for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n@property\ndef num_batches(self):\n  return ..."
        )

    def on_epoch_begin(self) -> None:
        """Called at the beginning of every epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch."""


Sequence = PyDataset  # Keras 3 exports the same class under both names
