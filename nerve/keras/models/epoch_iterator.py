"""Epochs over a ``keras.utils.PyDataset`` or a Python generator, walked as Keras 3 walks them.

An ``EpochIterator`` yields one epoch's ``(x, y, sample_weight)`` batches each time it is
iterated. Its bookkeeping follows Keras 3's ``EpochIterator`` step for step, because scripts
(and their ``on_epoch_end`` hooks) see it:

* with ``steps_per_epoch``, a pass through the data goes on across epochs: ``steps_per_epoch=3``
  on 5 batches gives batches 0-2, then 3-4 (and the "ran out of data" warning), then 0-2 again;
  a generator gives its next ``steps_per_epoch`` batches each epoch;
* without it, each epoch is one whole pass (a new shuffled order when ``fit(shuffle=True)``,
  drawn with Python's ``random`` as Keras does, so ``keras.utils.set_random_seed`` fixes it);
* ``start`` is what ``fit`` / ``evaluate`` do first: on the first call after ``compile`` (or
  while the model has no weights) one batch is taken, between ``on_epoch_begin`` and
  ``on_epoch_end``, to build the model; then the iterator is reset, which calls
  ``on_epoch_end`` once more (Keras's ``reset``). Validation data is reset before each pass;
* a generator's first two batches are looked at when it is first used (to check them) and kept:
  every new pass serves them again before the rest of the generator (Keras's
  ``peek_and_restore``), which is what a new validation pass or an epoch after the generator ran
  out sees.

With ``workers > 1`` (or ``use_multiprocessing``) a PyDataset's batches are fetched ahead on
threads, in the same order; nothing fetched ahead outlives an epoch (its indices are fetched
again after the next ``on_epoch_begin``), so the batches are those of ``workers=1``.
"""

from __future__ import annotations

import collections
import collections.abc
import concurrent.futures
import itertools
import random
import warnings

import numpy as np

import nerve

from ..utils.py_dataset import PyDataset

_END = object()  # what EpochIterator._next gives once the data ran out

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` function "
           "when building your dataset.")


def _ran_out() -> None:
    warnings.warn(RAN_OUT, stacklevel=4)


def unpack(batch):
    """``(x, y, sample_weight)`` of a batch as Keras unpacks it: a tuple of 1 to 3, else ``x`` alone."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) in (1, 2, 3):
        return batch + (None,) * (3 - len(batch))
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found: {batch}")


def class_weight_to_sample_weights(y, class_weight) -> np.ndarray:
    """Per-example float32 weights ``class_weight[class]`` (1 for a class not listed), as Keras's:
    the class is the label, the argmax of a one-hot row, or the rounded value of a (n, 1) column."""
    labels = nerve.backend.to_numpy(y._data) if isinstance(y, nerve.Tensor) else nerve.backend.to_numpy(y)
    labels = np.asarray(labels)
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels.squeeze(-1)
    labels = np.round(labels).astype("int32").reshape(-1)
    return np.array([class_weight.get(int(c), 1.0) for c in labels], dtype="float32")


class _Prefetch:
    """``dataset[i]`` for ``indices`` in order, fetched up to ``ahead`` at a time on ``workers`` threads."""

    def __init__(self, dataset, indices, workers: int, ahead: int):
        self.dataset, self.indices = dataset, iter(indices)
        self.workers, self.ahead = max(1, int(workers)), max(1, int(ahead))
        self.pool = None
        self.pending = collections.deque()  # (index, future), in order

    def __iter__(self):
        return self

    def __next__(self):
        self._fill()
        if not self.pending:
            raise StopIteration
        _, future = self.pending.popleft()
        self._fill()
        return future.result()

    def _fill(self) -> None:
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="PyDataset")
        while len(self.pending) < self.ahead:
            i = next(self.indices, None)
            if i is None:
                return
            self.pending.append((i, self.pool.submit(self.dataset.__getitem__, i)))

    def pause(self) -> None:
        """Drop what was fetched ahead; those indices are fetched again on the next ``next``."""
        if not self.pending:
            return
        for _, future in self.pending:
            future.cancel()
        concurrent.futures.wait([f for _, f in self.pending])
        self.indices = itertools.chain([i for i, _ in self.pending], self.indices)
        self.pending.clear()

    def close(self) -> None:
        self.pause()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


class PyDatasetSource:
    """A PyDataset's passes: its indices in order (or shuffled), batches standardized as Keras's."""

    def __init__(self, dataset: PyDataset, shuffle: bool = False, class_weight=None):
        self.dataset, self.shuffle, self.class_weight = dataset, shuffle, class_weight
        workers, multi = dataset.workers, dataset.use_multiprocessing
        self.workers = workers if workers > 1 or (workers > 0 and multi) else 0

    @property
    def num_batches(self):
        return self.dataset.num_batches

    def prepare(self) -> None:
        pass

    def _indices(self):
        n = self.dataset.num_batches
        if n is None:
            yield from itertools.count()
            return
        order = list(range(n))
        if self.shuffle:
            random.shuffle(order)  # drawn when the pass starts, as Keras
        yield from order

    def new_pass(self, prefetch=True):
        if self.workers and prefetch:
            batches = _Prefetch(self.dataset, self._indices(), self.workers, self.dataset.max_queue_size)
        else:
            batches = (self.dataset[i] for i in self._indices())
        return _Standardized(batches, self._standardize)

    def _standardize(self, batch):
        if isinstance(batch, dict):
            return batch, None, None
        if isinstance(batch, (np.ndarray, nerve.Tensor)):
            batch = (batch,)
        if isinstance(batch, list):
            batch = tuple(batch)
        if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
            raise ValueError(
                "PyDataset.__getitem__() must return a tuple or a dict. If a tuple, it must be ordered either "
                "(input,) or (inputs, targets) or (inputs, targets, sample_weights). "
                f"Received: {str(batch)[:100]}... of type {type(batch)}"
            )
        if self.class_weight is not None:
            if len(batch) == 3:
                raise ValueError("You cannot specify `class_weight` and `sample_weight` at the same time.")
            if len(batch) == 1:
                raise ValueError("`class_weight` needs targets to weigh, but PyDataset.__getitem__() returned "
                                 "inputs only; return (inputs, targets).")
            batch = batch + (class_weight_to_sample_weights(batch[1], self.class_weight),)
        return unpack(batch)

    def on_epoch_begin(self) -> None:
        self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


class GeneratorSource:
    """A Python generator (or other one-shot iterator): one stream, its first two batches kept."""

    num_batches = None

    def __init__(self, generator):
        self.generator = generator
        self.first = None

    def prepare(self) -> None:
        if self.first is not None:
            return
        self.first = list(itertools.islice(self.generator, 2))
        if not self.first:
            raise ValueError("When passing a Python generator to a Keras model, the generator must yield at least "
                             "one batch. Received an empty generator.")
        if not isinstance(self.first[0], tuple):
            raise ValueError("When passing a Python generator to a Keras model, the generator must return a tuple, "
                             "either (input,) or (inputs, targets) or (inputs, targets, sample_weights). "
                             f"Received: {self.first[0]}")

    def new_pass(self, prefetch=True):
        self.prepare()
        return _Standardized(itertools.chain(self.first, self.generator), unpack)

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


class _Standardized:
    """An iterator of batches passed through ``fn``; ``pause`` / ``close`` reach a prefetcher."""

    def __init__(self, batches, fn):
        self.batches, self.fn = batches, fn

    def __iter__(self):
        return self

    def __next__(self):
        return self.fn(next(self.batches))

    def pause(self) -> None:
        if isinstance(self.batches, _Prefetch):
            self.batches.pause()

    def close(self) -> None:
        if isinstance(self.batches, _Prefetch):
            self.batches.close()
        elif hasattr(self.batches, "close") and not isinstance(self.batches, itertools.chain):
            self.batches.close()


class EpochIterator:
    """Epochs of ``(x, y, sample_weight)`` batches from a PyDataset or generator source.

    Args:
        source: a ``PyDatasetSource`` or ``GeneratorSource``.
        steps: ``steps_per_epoch`` (or ``steps`` / ``validation_steps``); None walks whole passes.
    """

    def __init__(self, source, steps=None):
        self.source = source
        self.steps_per_epoch = steps
        source.prepare()
        self._num = source.num_batches
        self._it = None
        self._seen = 0

    @property
    def steps(self):
        """The steps per epoch the callbacks are told (None when unknown)."""
        return self.steps_per_epoch or self._num

    def first_x(self):
        raise TypeError("a PyDataset or generator is started with `start`, not `first_x`")

    def start(self, peek: bool):
        """What ``fit`` / ``evaluate`` do first: take one batch to build the model when ``peek``,
        then reset. Returns that batch's ``x`` (None without ``peek``)."""
        first = None
        if peek:
            epoch = self._epoch(prefetch=False)  # one batch is wanted: nothing to fetch ahead
            batch = next(epoch, None)
            if batch is None:
                kind = "PyDataset" if isinstance(self.source, PyDatasetSource) else "generator"
                raise ValueError(f"The {kind} gave no batch: at least one is needed to build the model and its "
                                 "metrics.")
            first = batch[0]
        self.reset()
        return first

    def reset(self) -> None:
        """Start over (the next epoch begins a new pass); calls the source's ``on_epoch_end``."""
        self._drop()
        self._num = self.source.num_batches
        self._seen = 0
        self.source.on_epoch_end()

    def close(self) -> None:
        """Stop the threads that fetch ahead, if any."""
        self._drop()

    def _drop(self) -> None:
        if self._it is not None:
            self._it.close()
            self._it = None

    def _new_pass(self, prefetch=True) -> None:
        self._drop()
        self._it = self.source.new_pass(prefetch)
        self._seen = 0

    def _exhausted(self) -> None:
        if self._num is None:
            self._num = self._seen
        _ran_out()
        self._drop()
        self.source.on_epoch_end()

    def _next(self):
        """The next batch of the pass, or ``_END`` once the data ran out (then the epoch is over)."""
        self._seen += 1
        try:
            return next(self._it)
        except StopIteration:
            self._exhausted()
            return _END

    def __iter__(self):
        return self._epoch()

    def _epoch(self, prefetch=True):
        self.source.on_epoch_begin()
        steps = self.steps_per_epoch or self._num or -1
        if steps > 0:
            if self._it is None or self.steps_per_epoch is None:
                self._new_pass(prefetch)
            for _ in range(steps):
                if self._num and self._seen >= self._num:
                    if self.steps_per_epoch:
                        _ran_out()
                    break
                batch = self._next()
                if batch is _END:
                    return
                yield batch
            if self._it is not None:
                self._it.pause()
            if self._num and self._seen >= self._num:
                self._new_pass()
        else:
            # an unknown length and no steps: read until the data runs out (forever if it never does)
            self._new_pass(prefetch)
            while (batch := self._next()) is not _END:
                yield batch
            return
        self.source.on_epoch_end()


def is_one_shot(x) -> bool:
    """A generator or other iterator that is its own iterator (it can be walked once). Asked of the
    type, not by calling ``iter(x)``: that would start a torch DataLoader's worker processes."""
    return isinstance(x, collections.abc.Iterator)


def make(x, steps=None, shuffle=False, class_weight=None, y=None, sample_weight=None):
    """An EpochIterator for a PyDataset or a one-shot iterator, with Keras's argument checks."""
    kind = "PyDataset" if isinstance(x, PyDataset) else "generator"
    if y is not None:
        raise ValueError(f"When providing `x` as a {kind}, `y` should not be passed. Instead, the targets should be "
                         f"included as part of the {kind}.")
    if sample_weight is not None:
        raise ValueError(f"When providing `x` as a {kind}, `sample_weights` should not be passed. Instead, the "
                         f"sample weights should be included as part of the {kind}.")
    if kind == "PyDataset":
        if shuffle and getattr(x, "num_batches", None) is None:
            warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was provided as an "
                          "infinite PyDataset. The PyDataset is expected to already be shuffled.", stacklevel=4)
        return EpochIterator(PyDatasetSource(x, shuffle, class_weight), steps)
    if class_weight is not None:
        raise ValueError(f"Argument `class_weight` is not supported for Python generator inputs. "
                         f"Received: class_weight={class_weight}")
    if shuffle:
        warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was provided as a "
                      "generator. The generator is expected to yield already-shuffled data.", stacklevel=4)
    return EpochIterator(GeneratorSource(x), steps)
