"""nerve.utils.data against torch.utils.data: the same calls, compared on what comes out.

Each test runs one small program twice, once with ``torch`` and once with ``nerve`` (only the
module differs), and compares batch types, dtypes, shapes, values, order and errors.
"""

import collections
import warnings

import numpy as np
import pytest

import nerve
from nerve.utils import data as ndata

torch = pytest.importorskip("torch")
tdata = torch.utils.data

LIBS = [(torch, tdata), (nerve, ndata)]


def norm(x):
    """A comparable picture of a batch: container types, tensor dtypes, shapes and values."""
    if isinstance(x, (torch.Tensor, nerve.Tensor)):
        return ("tensor", str(x.dtype).split(".")[-1], tuple(x.shape), x.tolist())
    if isinstance(x, collections.abc.Mapping):
        return (type(x).__name__, {k: norm(v) for k, v in x.items()})
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [norm(v) for v in x])
    return (type(x).__name__, x)


def both(program):
    """``program(lib, data)`` with torch and with nerve: the two results, or the exceptions raised."""
    out = []
    for lib, data in LIBS:
        try:
            out.append(norm(program(lib, data)))
        except Exception as e:  # compared below
            out.append(e)
    return out


def same(program):
    theirs, ours = both(program)
    if isinstance(theirs, Exception):
        assert isinstance(ours, type(theirs)), f"torch raised {theirs!r}, nerve gave {ours!r}"
    else:
        assert ours == theirs


Point = collections.namedtuple("Point", "x label")


# ---------------------------------------------------------------- default_collate


@pytest.mark.parametrize("batch", [
    [1, 2.5],  # a float after an int: torch.tensor infers float32 (nerve used to cut it to int64)
    [True, 2],
    [2.5, 1],
    [1, 2, 3],
    [True, False],
])
def test_collate_python_numbers_infer_dtype_as_torch_tensor(batch):
    same(lambda lib, data: data.default_collate(batch))


def test_collate_tensors_of_different_dtypes_promote():
    same(lambda lib, data: data.default_collate([lib.tensor([1, 2]), lib.tensor([3.0, 4.0])]))
    same(lambda lib, data: data.default_collate([lib.tensor([1, 2], dtype=lib.int32), lib.tensor([True, False])]))


def test_collate_strings_in_tuple_samples_stay_a_tuple():
    # as PyTorch, a field of tuple (or namedtuple, or list) samples is the tuple zip() made
    same(lambda lib, data: data.default_collate([("ab", 1), ("cd", 2)]))
    same(lambda lib, data: data.default_collate([Point(np.ones(2), "a"), Point(np.zeros(2), "b")]))
    same(lambda lib, data: data.default_collate([["x", 1.5], ["y", 2.5]]))
    same(lambda lib, data: data.default_collate([{"s": "x"}, {"s": "y"}]))


def test_collate_numpy_arrays_of_different_dtypes_promote_as_tensors():
    same(lambda lib, data: data.default_collate([np.zeros(2, np.int32), np.ones(2, np.float32)]))  # float32
    same(lambda lib, data: data.default_collate([np.zeros(2, np.uint8), np.ones(2, np.int8)]))


def test_collate_numpy_array_then_tensor():
    same(lambda lib, data: data.default_collate([np.ones(2), lib.zeros(2, dtype=lib.float64)]))
    same(lambda lib, data: data.default_collate([lib.ones(2), np.ones(2)]))


# ---------------------------------------------------------------- datasets and the loader


def test_tensor_dataset_size_mismatch_is_an_assertion_error():
    same(lambda lib, data: data.TensorDataset(lib.zeros(3), lib.zeros(4)))
    with pytest.raises(ValueError, match="tensor 0 has 3 rows"):  # still what nerve raised before
        ndata.TensorDataset(nerve.zeros(3), nerve.zeros(4))


def _stream(data, n, reported):
    class Stream(data.IterableDataset):
        def __iter__(self):
            return iter(range(n))

        def __len__(self):
            return reported

    return Stream()


@pytest.mark.parametrize("batch_size,drop_last", [(2, False), (None, False), (2, True)])
def test_iterable_dataset_longer_than_its_len_warns(batch_size, drop_last):
    got = []
    for lib, data in LIBS:
        loader = data.DataLoader(_stream(data, 7, 3), batch_size=batch_size, drop_last=drop_last)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            n = len(loader)
            batches = [norm(b) for b in loader]
        said = [str(w.message).split("len(dataloader)), ")[1] for w in record if "IterableDataset" in str(w.message)]
        got.append((n, batches, said))
    assert got[0] == got[1]
    assert got[1][2] or drop_last  # (2, True) yields 3 batches for a reported 3: no warning


# ---------------------------------------------------------------- IterableDataset in worker processes


def _numbers(data, n, shard):
    """range(n) as a stream; with ``shard``, each worker yields every num_workers-th number."""

    class Numbers(data.IterableDataset):
        def __iter__(self):
            info = data.get_worker_info()
            if info is None or not shard:
                return iter(range(n))
            return iter(range(info.id, n, info.num_workers))

    return Numbers()


@pytest.mark.parametrize("n,shard,batch_size,drop_last,persistent", [
    (7, False, 3, False, False),  # every worker iterates its own copy: each batch twice
    (10, True, 2, False, False),  # shards: worker 0's batch, worker 1's, worker 0's, ...
    (11, True, 2, True, False),
    (9, True, 4, False, True),  # one worker runs out first: the other's batches follow
    (5, True, None, False, True),
])
def test_iterable_dataset_with_workers(n, shard, batch_size, drop_last, persistent):
    # nerve used to ignore num_workers for an IterableDataset (no copies, no get_worker_info())
    def program(lib, data):
        loader = data.DataLoader(_numbers(data, n, shard), batch_size=batch_size, drop_last=drop_last,
                                 num_workers=2, persistent_workers=persistent)
        return [list(loader), list(loader)]

    same(program)


def test_iterable_dataset_worker_info_and_thread_workers():
    def program(lib, data):
        class Who(data.IterableDataset):
            def __iter__(self):
                info = data.get_worker_info()
                yield info.id, info.num_workers, type(info.dataset).__name__, info.seed - info.id

        out = list(data.DataLoader(Who(), batch_size=None, num_workers=2))
        assert out[0][3] == out[1][3]  # seed = base_seed + worker id
        return [o[:3] for o in out]

    same(program)
    threads = ndata.DataLoader(_numbers(ndata, 7, True), batch_size=2, num_workers=2, multiprocessing_context="thread")
    processes = tdata.DataLoader(_numbers(tdata, 7, True), batch_size=2, num_workers=2)
    assert [norm(b) for b in threads] == [norm(b) for b in processes]


def test_iterable_dataset_error_in_a_worker():
    def program(lib, data, num_workers):
        class Broken(data.IterableDataset):
            def __iter__(self):
                yield 1
                raise KeyError("no such record")

        return list(data.DataLoader(Broken(), batch_size=2, num_workers=num_workers))

    # torch without workers here (its loader takes 10 s to shut its workers down after this error)
    with pytest.raises(Exception) as theirs:
        program(torch, tdata, 0)
    with pytest.raises(Exception) as ours:
        program(nerve, ndata, 2)
    theirs, ours = theirs.value, ours.value
    assert type(ours) is type(theirs) is KeyError
    text = str(ours) + "".join(getattr(ours, "__notes__", []))
    assert "no such record" in text and "in DataLoader worker process 0" in text and "Traceback" in text


# ---------------------------------------------------------------- samplers


def test_weighted_sampler_without_replacement_draws_zero_weights_last():
    # torch.multinomial draws the indices of weight 0 once the others are used up (nerve raised)
    def program(lib, data):
        lib.manual_seed(0)
        draws = [list(data.WeightedRandomSampler([1.0, 0.0, 2.0, 0.0], 3, replacement=False)) for _ in range(5)]
        return [(sorted(d[:2]), d[2] in (1, 3)) for d in draws]

    same(program)
    same(lambda lib, data: list(data.WeightedRandomSampler([1.0, 0.0], 3, replacement=False)))
    same(lambda lib, data: data.WeightedRandomSampler([1, 2], 4).weights)  # a float64 tensor


# ---------------------------------------------------------------- custom collate_fn


@pytest.mark.parametrize("num_workers", [0, 2])
def test_custom_collate_gets_the_list_of_samples_of_a_tensor_dataset(num_workers):
    # nerve handed a custom collate_fn its in-memory batch (a CollatedBatch), not a list of tuples
    def program(lib, data):
        ds = data.TensorDataset(lib.arange(5), lib.arange(5.0) / 2)
        sub = data.Subset(ds, [4, 0, 2])
        keep = list(data.DataLoader(ds, batch_size=2, num_workers=num_workers, collate_fn=lambda b: b))

        def by_label(batch):
            batch.sort(key=lambda s: -float(s[1]))  # list methods, as on PyTorch's list of samples
            return batch

        return keep, list(data.DataLoader(sub, batch_size=3, collate_fn=by_label))

    same(program)


def test_loader_iterator_has_len():
    def program(lib, data):
        it = iter(data.DataLoader(list(range(5)), batch_size=2))
        return len(it), next(it), len(it), list(it)

    same(program)


def _split_range(worker_id):
    """The documented pattern: worker_init_fn narrows its worker's copy of the dataset."""
    import math

    info = tdata.get_worker_info() or ndata.get_worker_info()  # whichever loader runs this worker
    ds = info.dataset
    per_worker = int(math.ceil((ds.end - ds.start) / float(info.num_workers)))
    ds.start = ds.start + worker_id * per_worker
    ds.end = min(ds.start + per_worker, ds.end)


def test_iterable_dataset_worker_init_fn_configures_each_copy():
    def program(lib, data):
        class Span(data.IterableDataset):
            def __init__(self, start, end):
                self.start, self.end = start, end

            def __iter__(self):
                return iter(range(self.start, self.end))

        ds = Span(3, 10)
        loader = data.DataLoader(ds, num_workers=2, worker_init_fn=_split_range, batch_size=2)
        return list(loader), (ds.start, ds.end)  # the main process's dataset is untouched

    same(program)


def _failing_init(worker_id):
    raise ValueError("worker_init_fn failed")


@pytest.mark.parametrize("iterable", [False, True])
def test_worker_init_fn_error_reaches_the_main_process(iterable):
    # nerve's worker process died and the loader said only "exited unexpectedly" (a RuntimeError)
    def program(lib, data):
        ds = _numbers(data, 4, False) if iterable else list(range(4))
        return list(data.DataLoader(ds, batch_size=2, num_workers=1, worker_init_fn=_failing_init))

    theirs, ours = both(program)
    assert type(ours) is type(theirs) is ValueError
    text = str(ours) + "".join(getattr(ours, "__notes__", []))
    assert "worker_init_fn failed" in text and "in DataLoader worker process 0" in text
    with pytest.raises(ValueError, match="worker_init_fn failed"):
        list(ndata.DataLoader(list(range(4)), batch_size=2, num_workers=2, worker_init_fn=_failing_init,
                              multiprocessing_context="thread"))


def test_multiprocessing_context_is_checked():
    # nerve accepted any name, and a context without workers, silently
    same(lambda lib, data: data.DataLoader(list(range(4)), num_workers=1, multiprocessing_context="bogus"))
    same(lambda lib, data: data.DataLoader(list(range(4)), multiprocessing_context="fork"))
    same(lambda lib, data: type(data.DataLoader(list(range(4)), num_workers=1,
                                                multiprocessing_context="fork").multiprocessing_context).__name__)
    same(lambda lib, data: list(data.DataLoader(list(range(4)), batch_size=3, num_workers=1,
                                                multiprocessing_context="fork")))


# ---------------------------------------------------------------- random configurations


def test_random_loader_configurations():
    import random

    draw = random.Random(0)
    for _ in range(60):
        n, batch_size, drop_last = draw.randint(0, 7), draw.choice([None, 1, 2, 3, 8]), draw.random() < 0.5
        kind, sampler = draw.choice(["list", "tensors", "numpy", "stream"]), draw.choice([None, "seq", "list", "dist"])

        def program(lib, data):
            if kind == "list":
                ds = [(i, i / 3, f"s{i}") for i in range(n)]
            elif kind == "tensors":
                ds = data.TensorDataset(lib.arange(n), lib.arange(n) * 2.0)
            elif kind == "numpy":
                ds = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
            else:
                ds = _stream(data, n, n)
            kwargs = {}
            if sampler == "seq":
                kwargs["sampler"] = data.SequentialSampler(range(n))
            elif sampler == "list":
                kwargs["sampler"] = list(range(n))[::-1]
            elif sampler == "dist":
                kwargs["sampler"] = data.DistributedSampler(range(n), num_replicas=2, rank=1, shuffle=False,
                                                            drop_last=drop_last)
            loader = data.DataLoader(ds, batch_size=batch_size, drop_last=drop_last, **kwargs)
            return len(loader), list(loader), list(loader)

        same(program)
