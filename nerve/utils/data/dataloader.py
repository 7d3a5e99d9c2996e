"""``DataLoader``: batches from a dataset, as ``torch.utils.data.DataLoader``.

Two things differ from PyTorch inside (never in what comes out):

- A dataset with ``__getitems__`` gets the whole batch's indices at once. When it returns a
  ``CollatedBatch`` (a batch it already built with one fancy index, e.g. ``TensorDataset``,
  ``MNIST``) and the loader uses ``default_collate``, that batch is used as it is: no
  per-example Python. A custom ``collate_fn`` still receives the list of samples (``dataset[i]``).
- ``num_workers > 0`` loads batches in worker processes started with ``fork`` (where the platform
  has it; PyTorch's default on Linux), so the dataset is inherited, not pickled. Passing
  ``multiprocessing_context="thread"`` (or a platform without ``fork``) uses a pool of threads
  instead. Batches come back in sampler order, so with deterministic transforms they equal
  those of ``num_workers=0``; each worker seeds nerve's generator with ``base_seed + worker_id``,
  where ``base_seed`` is drawn from the loader's generator at each epoch's start, as in PyTorch.
  With an ``IterableDataset`` each worker iterates its own copy (shard it with
  ``get_worker_info()``), and the batches are taken from the workers in turn, as in PyTorch.
  A dataset that builds whole batches from arrays in memory (``TensorDataset``, ``MNIST`` with a
  batchable transform) is served in the calling thread even then (unless ``worker_init_fn`` is
  given): a worker would only add copying.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import pickle
import random as _pyrandom
import threading
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as _FutureTimeout
from typing import Callable

import numpy as np

from ...backend import CPU
from ...random import _integers, manual_seed
from .collate import CollatedBatch, default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, _has_epoch_indices

__all__ = ["DataLoader", "get_worker_info"]

WorkerInfo = collections.namedtuple("WorkerInfo", ["id", "num_workers", "seed", "dataset"])
_worker = threading.local()


def get_worker_info():
    """In a loader worker: ``WorkerInfo(id, num_workers, seed, dataset)``; elsewhere None."""
    return getattr(_worker, "info", None)


def _fetch(dataset, collate_fn, auto_collation: bool, indices):
    """One batch (or one example, without auto-batching) for ``indices``."""
    if not auto_collation:
        return collate_fn(dataset[indices])
    if not isinstance(indices, list):
        indices = indices.tolist()
    getitems = getattr(dataset, "__getitems__", None)
    if getitems is not None:
        data = getitems(indices)
    else:
        data = [dataset[i] for i in indices]
    if isinstance(data, CollatedBatch):
        if collate_fn is default_collate:
            return data.batch
        data = [dataset[i] for i in indices]  # a custom collate_fn gets the samples themselves, as in PyTorch
    return collate_fn(data)


def _iterable_batches(it, batch_size, drop_last: bool, collate_fn):
    """Batches of what the iterator ``it`` yields (each item alone when ``batch_size`` is None)."""
    if batch_size is None:
        for x in it:
            yield collate_fn(x)
        return
    while True:
        chunk = list(itertools.islice(it, batch_size))
        if not chunk or (drop_last and len(chunk) < batch_size):
            return
        yield collate_fn(chunk)


# Tasks for a worker of an IterableDataset: its next batch (or _End), and "start a new epoch".
_NEXT, _RESET = "next", "reset"


class _End:
    """A worker's answer when its copy of an IterableDataset is exhausted."""


def _init_worker(wid, dataset, collate_fn, auto_collation, worker_init_fn, num_workers, base_seed, seed_rngs,
                 batching=None):
    """Runs first in each worker (process or thread): WorkerInfo, seeds, then worker_init_fn.

    ``batching`` is ``(batch_size, drop_last)`` for an IterableDataset, of which each worker
    iterates its own copy (as in PyTorch); None for a map-style dataset.
    """
    seed = base_seed + wid
    _worker.info = WorkerInfo(wid, num_workers, seed, dataset)
    if seed_rngs:  # a worker process owns its generators: seed them as PyTorch does
        manual_seed(seed)
        _pyrandom.seed(seed)
        np.random.seed(seed % 2**32)
    _worker.job = (dataset, collate_fn, auto_collation, batching)
    _worker.stream = None
    if worker_init_fn is not None:
        worker_init_fn(wid)


def _start_worker(*init_args):
    """``_init_worker``; an error there (e.g. in worker_init_fn) is kept and raised by the first task,
    so that it reaches the main process as PyTorch's does."""
    _worker.init_error = None
    try:
        _init_worker(*init_args)
    except Exception as e:
        _worker.init_error = e


def _work(task):
    """One task in a worker: a batch for a list of indices, or the next batch of its stream."""
    if _worker.init_error is not None:
        raise _worker.init_error
    dataset, collate_fn, auto_collation, batching = _worker.job
    if isinstance(task, str) and task == _RESET:
        _worker.stream = None
        return None
    if isinstance(task, str):  # _NEXT
        if _worker.stream is None:  # made after worker_init_fn, as PyTorch
            _worker.stream = _iterable_batches(iter(dataset), *batching, collate_fn)
        return next(_worker.stream, _End())
    return _fetch(dataset, collate_fn, auto_collation, task)


def _widen(conn) -> None:
    """Let a result pipe hold a whole batch, so that sending one takes one write, not many round trips."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size") as f:
            size = min(int(f.read()), 16 << 20)
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (ImportError, OSError, AttributeError, ValueError):
        pass


def _process_loop(tasks, conn, init_args):
    """A worker process: receive index lists, send back ``(ok, batch or exception)``, in order."""
    try:
        _start_worker(*init_args)
        while True:
            indices = tasks.recv()
            if indices is None:
                return
            if isinstance(indices, str) and indices == _RESET:
                if _worker.init_error is None:
                    _work(indices)
                continue
            try:
                out = (True, _work(indices))
            except Exception as e:  # handed to the main process, raised there
                out = (False, _picklable(e, init_args[0]))
            try:
                _send(conn, out)
            except (pickle.PicklingError, TypeError, AttributeError) as e:  # nothing was sent yet
                _send(conn, (False, RuntimeError(
                    f"DataLoader worker process {init_args[0]} could not send its batch to the main process "
                    f"(it does not pickle): {e}")))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return


def _send(conn, obj) -> None:
    """Pickle ``obj`` with its arrays out of band and send them as raw bytes: pickling a large array
    in band costs milliseconds, a raw send a memory copy."""
    buffers = []
    meta = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    conn.send((meta, [r.nbytes for r in raws]))
    for r in raws:
        conn.send_bytes(r)


def _recv(conn):
    meta, sizes = conn.recv()
    buffers = []
    for n in sizes:
        buf = np.empty(n, dtype=np.uint8)
        if n:
            conn.recv_bytes_into(buf)
        else:
            conn.recv_bytes()
        buffers.append(buf)
    return pickle.loads(meta, buffers=buffers)


def _picklable(e, wid):
    """The exception to re-raise in the main process: the original (with the worker's traceback as a
    note) when it pickles, else a RuntimeError carrying its traceback."""
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    try:
        if hasattr(e, "add_note"):
            e.add_note(f"Caught {type(e).__name__} in DataLoader worker process {wid}.\nOriginal {tb}")
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"Caught {type(e).__name__} in DataLoader worker process {wid}.\nOriginal {tb}")


class _ProcessWorkers:
    """``num_workers`` processes; batch j goes to worker j % num_workers (or the one named), and
    results come back in order."""

    def __init__(self, ctx, num_workers, make_args):
        self.procs, self.conns, self.tasks = [], [], []
        for wid in range(num_workers):
            task_r, task_w = ctx.Pipe(duplex=False)
            result_r, result_w = ctx.Pipe(duplex=False)
            _widen(result_w)
            p = ctx.Process(target=_process_loop, args=(task_r, result_w, make_args(wid)), daemon=True)
            p.start()
            task_r.close()
            result_w.close()
            self.procs.append(p)
            self.conns.append(result_r)
            self.tasks.append(task_w)
        self.outstanding = [0] * num_workers
        self.owner = {}

    def submit(self, j, indices, w=None):
        w = j % len(self.conns) if w is None else w
        self.tasks[w].send(indices)
        if not (isinstance(indices, str) and indices == _RESET):
            self.outstanding[w] += 1
            self.owner[j] = w

    def get(self, j, timeout):
        w = self.owner.pop(j)
        conn = self.conns[w]
        if timeout and not conn.poll(timeout):
            raise RuntimeError(f"DataLoader timed out after {timeout} seconds")
        try:
            ok, value = _recv(conn)
        except EOFError:
            raise RuntimeError(f"DataLoader worker (pid {self.procs[w].pid}) exited unexpectedly") from None
        self.outstanding[w] -= 1
        if not ok:
            raise value
        return value

    def drain(self):
        """Read and drop results still on their way (an epoch left early), so the next one starts clean."""
        for w, n in enumerate(self.outstanding):
            for _ in range(n):
                try:
                    _recv(self.conns[w])
                except (EOFError, OSError):
                    break
            self.outstanding[w] = 0
        self.owner.clear()

    def shutdown(self):
        for task in self.tasks:
            try:
                task.send(None)
            except OSError:
                pass
            task.close()
        for conn in self.conns:
            conn.close()
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join()


class _ThreadWorkers:
    """The same interface on threads (``multiprocessing_context="thread"``), one per worker."""

    def __init__(self, num_workers, make_args):
        self.pools = [ThreadPoolExecutor(1, thread_name_prefix="nerve-loader", initializer=_start_worker,
                                         initargs=make_args(wid)) for wid in range(num_workers)]
        self.futures = {}

    def submit(self, j, indices, w=None):
        future = self.pools[j % len(self.pools) if w is None else w].submit(_work, indices)
        if not (isinstance(indices, str) and indices == _RESET):
            self.futures[j] = future

    def get(self, j, timeout):
        try:
            return self.futures.pop(j).result(timeout=timeout or None)
        except _FutureTimeout:
            raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None

    def drain(self):
        for f in self.futures.values():
            f.cancel()
        for f in self.futures.values():
            if not f.cancelled():
                try:
                    f.result()
                except Exception:
                    pass
        self.futures.clear()

    def shutdown(self):
        self.drain()
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)


_THREADS = ("thread", "threads", "threading")  # multiprocessing_context names for thread workers


class _LoaderIter:
    """An epoch's batches: an iterator that also has ``len()``, as PyTorch's loader iterators."""

    __slots__ = ("_batches", "_loader")

    def __init__(self, batches, loader):
        self._batches = batches
        self._loader = loader

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)

    def close(self) -> None:
        """Stop early: shut the epoch's workers down now."""
        self._batches.close()


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__``, ``__len__``) or an ``IterableDataset``.
        batch_size: examples per batch; None turns automatic batching off.
        shuffle: a new random order each epoch (from ``generator``, or the global generator that
            ``nerve.manual_seed`` seeds).
        sampler: the order of indices (exclusive with ``shuffle``).
        batch_sampler: yields lists of indices (exclusive with batch_size, shuffle, sampler, drop_last).
        num_workers: worker processes (or threads) that load batches in parallel (0: in the calling thread).
        collate_fn: merges a list of samples into a batch (``default_collate``).
        pin_memory: accepted for compatibility (no effect: host memory needs no pinning here).
        drop_last: drop the last, short batch.
        timeout: seconds to wait for a worker's batch (0: forever).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker as it starts.
        multiprocessing_context: ``None`` (fork where available, else threads), a start method name
            or context, or ``"thread"`` for a thread pool.
        generator: a ``nerve.Generator`` for shuffling.
        prefetch_factor: batches loaded ahead per worker (default 2 with workers).
        persistent_workers: keep the worker threads between epochs.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None, generator=None,
                 *, prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={num_workers}")
            if isinstance(multiprocessing_context, str) and multiprocessing_context.lower() not in _THREADS:
                valid = multiprocessing.get_all_start_methods()
                if multiprocessing_context not in valid:
                    raise ValueError(
                        f"multiprocessing_context option should specify a valid start method in {valid!r} "
                        f"(or 'thread' for nerve's thread workers), but got "
                        f"multiprocessing_context={multiprocessing_context!r}")
                multiprocessing_context = multiprocessing.get_context(multiprocessing_context)  # as PyTorch
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.generator = generator

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and self._iterable:
            if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
                raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._pool = None
        self._IterableDataset_len_called = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    # ------------------------------------------------------------ fetching

    def _fetch(self, indices):
        return _fetch(self.dataset, self.collate_fn, self._auto_collation, indices)

    def _index_stream(self):
        if self._auto_collation and isinstance(self.batch_sampler, BatchSampler) and _has_epoch_indices(
                self.batch_sampler.sampler):
            return self.batch_sampler._iter_arrays()
        return iter(self._index_sampler)

    def _iter_iterable(self):
        reported = self._IterableDataset_len_called
        if self.num_workers > 0:
            batches = self._iter_workers()
        else:
            batches = _iterable_batches(iter(self.dataset), self.batch_size, self.drop_last, self.collate_fn)
        for count, batch in enumerate(batches, 1):
            if reported is not None and count > reported:  # as PyTorch (which counts batches too)
                warnings.warn(f"Length of IterableDataset {self.dataset} was reported to be {reported} "
                              f"(when accessing len(dataloader)), but {count} samples have been fetched. ")
            yield batch

    def _use_processes(self) -> bool:
        ctx = self.multiprocessing_context
        if isinstance(ctx, str) and ctx.lower() in _THREADS:
            return False
        if ctx is None:
            return "fork" in multiprocessing.get_all_start_methods()
        return True

    def _make_workers(self, base_seed: int):
        def make_args(wid):
            return (wid, self.dataset, self.collate_fn, self._auto_collation, self.worker_init_fn,
                    self.num_workers, base_seed, processes, batching)

        batching = (self.batch_size, self.drop_last) if self._iterable else None
        processes = self._use_processes()
        if not processes:
            return _ThreadWorkers(self.num_workers, make_args)
        ctx = self.multiprocessing_context
        if ctx is None or isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx or "fork")
        return _ProcessWorkers(ctx, self.num_workers, make_args)

    def _iter_workers(self):
        base_seed = int(_integers(0, 2**62, (), CPU, self.generator))  # drawn first, as PyTorch
        workers = self._pool if self.persistent_workers else None
        if workers is None:
            workers = self._make_workers(base_seed)
            if self.persistent_workers:
                self._pool = workers
        elif self._iterable:  # each worker starts its copy of the dataset over
            for w in range(self.num_workers):
                workers.submit(None, _RESET, w)
        ahead = max(1, self.num_workers * self.prefetch_factor)
        if self._iterable:
            yield from self._stream_workers(workers, ahead)
        else:
            yield from self._map_workers(workers, self._index_stream(), ahead)

    def _stream_workers(self, workers, ahead):
        """An IterableDataset's batches from its copies in the workers, taken in turn (as PyTorch:
        worker 0's first batch, worker 1's first, ..., then each one's second), skipping a worker
        once its copy is exhausted."""
        active = [True] * self.num_workers
        turn = itertools.cycle(range(self.num_workers))
        owner = {}

        def next_worker():
            for _ in range(self.num_workers):
                w = next(turn)
                if active[w]:
                    return w
            return None

        sent = received = 0
        try:
            while sent < ahead and (w := next_worker()) is not None:
                workers.submit(sent, _NEXT, w)
                owner[sent] = w
                sent += 1
            while received < sent:
                batch = workers.get(received, self.timeout)
                if isinstance(batch, _End):
                    active[owner[received]] = False
                del owner[received]
                received += 1
                if (w := next_worker()) is not None:
                    workers.submit(sent, _NEXT, w)
                    owner[sent] = w
                    sent += 1
                if not isinstance(batch, _End):
                    yield batch
        finally:
            self._end_epoch(workers)

    def _map_workers(self, workers, stream, ahead):
        sent = received = 0
        try:
            for indices in itertools.islice(stream, ahead):
                workers.submit(sent, indices)
                sent += 1
            while received < sent:
                batch = workers.get(received, self.timeout)
                received += 1
                for indices in itertools.islice(stream, 1):
                    workers.submit(sent, indices)
                    sent += 1
                yield batch
        finally:
            self._end_epoch(workers)

    def _end_epoch(self, workers) -> None:
        """After an epoch (or an iteration stopped early): persistent workers wait for the next one
        with nothing left in flight; the others stop."""
        if self.persistent_workers:
            workers.drain()
        else:
            workers.shutdown()

    def _iter_single(self):
        _integers(0, 2**62, (), CPU, self.generator)  # the base seed PyTorch draws: same stream as with workers
        for indices in self._index_stream():
            yield self._fetch(indices)

    def __iter__(self):
        if self._iterable:
            return _LoaderIter(self._iter_iterable(), self)
        if self.num_workers > 0 and not self._served_from_memory():
            return _LoaderIter(self._iter_workers(), self)
        return _LoaderIter(self._iter_single(), self)

    def _served_from_memory(self) -> bool:
        """True when the dataset builds whole batches from arrays in memory (one fancy index each):
        then workers would only add copying, so batches are made in the calling thread."""
        if self.worker_init_fn is not None or not self._auto_collation or self.collate_fn is not default_collate:
            return False
        probe = getattr(self.dataset, "_batches_from_memory", None)
        return bool(probe()) if callable(probe) else False

    def __del__(self):
        workers = getattr(self, "_pool", None)
        if workers is not None:
            try:
                workers.shutdown()
            except Exception:
                pass

    def __repr__(self) -> str:
        return f"<nerve.utils.data.DataLoader batch_size={self.batch_size} num_workers={self.num_workers}>"
