"""nerve.utils.data: datasets, samplers, collate and the DataLoader."""

import collections
import subprocess
import sys

import numpy as np
import pytest

import nerve
from nerve.utils.data import (
    BatchSampler,
    CollatedBatch,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)


class Squares(Dataset):
    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "y": i * i, "name": f"s{i}"}


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_import_is_light():
    code = "import sys, nerve.utils.data; bad = [m for m in ('PIL', 'nerve.vision', 'torch') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- collate


def test_default_collate_numbers_and_structures():
    b = default_collate([(1, 2.5, True, "a"), (3, 4.5, False, "b")])
    assert isinstance(b, list) and len(b) == 4  # a tuple sample gives a list, as PyTorch
    assert b[0].dtype == nerve.int64 and b[0].tolist() == [1, 3]
    assert b[1].dtype == nerve.float64 and b[1].tolist() == [2.5, 4.5]
    assert b[2].dtype == nerve.bool and b[2].tolist() == [True, False]
    assert b[3] == ("a", "b")  # the tuple zip() made, as PyTorch
    d = default_collate([{"a": np.ones((2, 2), np.float32), "b": [1, 2]}, {"a": np.zeros((2, 2), np.float32), "b": [3, 4]}])
    assert d["a"].shape == (2, 2, 2) and d["a"].dtype == nerve.float32
    assert [t.tolist() for t in d["b"]] == [[1, 3], [2, 4]]
    t = default_collate([nerve.tensor([1.0, 2.0]), nerve.tensor([3.0, 4.0])])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    s = default_collate([np.float32(1.5), np.float32(2.5)])
    assert s.dtype == nerve.float32
    Point = collections.namedtuple("Point", "x y")
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([nerve.zeros(3), nerve.zeros(4)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])


def test_default_collate_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as tc

    samples = [(np.arange(4, dtype=np.float32) + i, i, float(i) / 2) for i in range(3)]
    ours, theirs = default_collate(samples), tc(samples)
    for a, b in zip(ours, theirs):
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert isinstance(theirs, list) and isinstance(ours, list)
    del torch


def test_default_convert():
    out = default_convert((np.ones(2), 3, "s"))
    assert isinstance(out[0], nerve.Tensor) and out[1] == 3 and out[2] == "s"


# ---------------------------------------------------------------- datasets


def test_tensor_dataset_and_size_mismatch_message():
    x, y = nerve.randn(5, 2), nerve.arange(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    a, b = ds[2]
    assert b.item() == 2 and a.tolist() == x[2].tolist()
    with pytest.raises(ValueError, match="tensor 0 has 5 rows .* tensor 1 has 4"):
        TensorDataset(x, nerve.arange(4))


def test_tensor_dataset_getitems_is_one_fancy_index():
    x, y = nerve.randn(6, 3), nerve.arange(6)
    batch = TensorDataset(x, y).__getitems__([4, 0, 2])
    assert isinstance(batch, CollatedBatch) and len(batch) == 3
    xs, ys = batch.batch
    assert ys.tolist() == [4, 0, 2]
    np.testing.assert_array_equal(xs.numpy(), x.numpy()[[4, 0, 2]])
    # as a Sequence of samples (what a custom collate_fn receives)
    s0 = batch[0]
    assert s0[1].item() == 4 and s0[0].tolist() == x[4].tolist()


def test_subset_concat_random_split():
    base = TensorDataset(nerve.arange(10))
    sub = Subset(base, [9, 3, 5])
    assert len(sub) == 3 and sub[0][0].item() == 9
    got = sub.__getitems__([2, 0])
    assert got.batch[0].tolist() == [5, 9]
    cat = ConcatDataset([sub, Subset(base, [0, 1])])
    assert len(cat) == 5 and cat[3][0].item() == 0 and cat[-1][0].item() == 1
    assert cat.cumulative_sizes == [3, 5]
    with pytest.raises(ValueError, match="absolute value of index"):
        cat[-6]
    # fractions as PyTorch rounds them: floor each, then hand out the remainder round-robin
    parts = random_split(range(10), [0.33, 0.33, 0.34], generator=nerve.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [4, 3, 3]
    assert sorted(sum((list(p.indices) for p in parts), [])) == list(range(10))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])
    a = random_split(range(10), [5, 5], generator=nerve.Generator().manual_seed(7))
    b = random_split(range(10), [5, 5], generator=nerve.Generator().manual_seed(7))
    assert a[0].indices == b[0].indices


def test_random_split_lengths_match_torch():
    torch = pytest.importorskip("torch")
    for n, fr in [(10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]), (101, [0.8, 0.1, 0.1])]:
        ours = [len(p) for p in random_split(range(n), fr)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fr)]
        assert ours == theirs


# ---------------------------------------------------------------- samplers


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    nerve.manual_seed(3)
    a = list(RandomSampler(range(20)))
    nerve.manual_seed(3)
    b = list(RandomSampler(range(20)))
    assert a == b and sorted(a) == list(range(20)) and a != list(range(20))
    r = list(RandomSampler(range(5), replacement=True, num_samples=50))
    assert len(r) == 50 and set(r) <= set(range(5))
    assert len(list(RandomSampler(range(5), num_samples=12))) == 12
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(5), num_samples=0)
    s = list(SubsetRandomSampler([10, 11, 12]))
    assert sorted(s) == [10, 11, 12]
    w = list(WeightedRandomSampler([0.0, 0.0, 1.0], 5))
    assert w == [2] * 5
    w2 = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False))
    assert sorted(w2) == [0, 1, 2, 3]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(SequentialSampler(range(7)), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, True)) == 2 and len(BatchSampler(range(7), 3, False)) == 3
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)


def test_generator_makes_sampler_reproducible():
    g1 = nerve.Generator().manual_seed(5)
    g2 = nerve.Generator().manual_seed(5)
    assert list(RandomSampler(range(30), generator=g1)) == list(RandomSampler(range(30), generator=g2))


# ---------------------------------------------------------------- loader


def test_loader_batches_and_drop_last():
    ds = TensorDataset(nerve.arange(10).float(), nerve.arange(10))
    dl = DataLoader(ds, batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert isinstance(batches[0], list)
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and len(list(dl)) == 2


def test_loader_collates_dicts_and_strings():
    b = next(iter(DataLoader(Squares(), batch_size=3)))
    assert b["x"].shape == (3, 3) and b["y"].tolist() == [0, 1, 4] and b["name"] == ["s0", "s1", "s2"]
    assert b["y"].dtype == nerve.int64


def test_loader_shuffle_follows_manual_seed():
    ds = TensorDataset(nerve.arange(50))
    nerve.manual_seed(11)
    a = [b[0].tolist() for b in DataLoader(ds, batch_size=8, shuffle=True)]
    nerve.manual_seed(11)
    b = [b[0].tolist() for b in DataLoader(ds, batch_size=8, shuffle=True)]
    assert a == b
    assert sorted(sum(a, [])) == list(range(50)) and sum(a, []) != list(range(50))
    g = nerve.Generator().manual_seed(2)
    c = [x[0].tolist() for x in DataLoader(ds, batch_size=8, shuffle=True, generator=g)]
    g.manual_seed(2)
    d = [x[0].tolist() for x in DataLoader(ds, batch_size=8, shuffle=True, generator=g)]
    assert c == d


def test_loader_sampler_and_batch_sampler():
    ds = TensorDataset(nerve.arange(10))
    got = [b[0].tolist() for b in DataLoader(ds, batch_size=2, sampler=[9, 8, 7, 1])]
    assert got == [[9, 8], [7, 1]]
    got = [b[0].tolist() for b in DataLoader(ds, batch_sampler=[[0, 5], [2]])]
    assert got == [[0, 5], [2]]


def test_loader_custom_collate_gets_samples_from_getitems():
    ds = TensorDataset(nerve.arange(6), nerve.arange(6) * 10)
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return [int(s[1]) for s in samples]

    out = list(DataLoader(ds, batch_size=4, collate_fn=collate))
    assert out == [[0, 10, 20, 30], [40, 50]] and seen == [4, 2]


def test_loader_without_batching():
    ds = Squares(3)
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 3 and isinstance(items[1]["x"], nerve.Tensor) and items[1]["y"] == 1


def test_iterable_dataset():
    dl = DataLoader(Stream(7), batch_size=3)
    assert [b.tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(dl) == 3
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)


class Slow(Dataset):
    def __len__(self):
        return 37

    def __getitem__(self, i):
        return np.full((2, 2), i, dtype=np.float32), i


def test_workers_give_the_same_batches_in_order():
    a = [(x.numpy().copy(), y.tolist()) for x, y in DataLoader(Slow(), batch_size=5)]
    b = [(x.numpy().copy(), y.tolist()) for x, y in DataLoader(Slow(), batch_size=5, num_workers=2)]
    t = [(x.numpy().copy(), y.tolist()) for x, y in DataLoader(Slow(), batch_size=5, num_workers=2,
                                                               multiprocessing_context="thread")]
    assert len(a) == len(b) == len(t) == 8
    for (xa, ya), (xb, yb), (xt, yt) in zip(a, b, t):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(xa, xt)
        assert ya == yb == yt
    nerve.manual_seed(4)
    c = [y.tolist() for _, y in DataLoader(Slow(), batch_size=5, shuffle=True, num_workers=2, persistent_workers=True)]
    nerve.manual_seed(4)
    d = [y.tolist() for _, y in DataLoader(Slow(), batch_size=5, shuffle=True)]
    assert c == d


_INIT = {}


def _record_init(wid):
    _INIT["id"] = wid


class Probe(Dataset):
    """Each item says which worker made it and whether worker_init_fn ran there."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return info.id, info.num_workers, _INIT.get("id", -1), nerve.rand(1).item()


@pytest.mark.parametrize("context", [None, "thread"])
def test_worker_init_fn_and_info(context):
    _INIT.clear()
    out = list(DataLoader(Probe(), batch_size=2, num_workers=2, worker_init_fn=_record_init,
                          multiprocessing_context=context))
    ids, nums, inits, _ = (sum((b[k].tolist() for b in out), []) for k in range(4))
    assert set(ids) <= {0, 1} and nums == [2] * 8
    if context is None:  # processes: each worker's own init ran in it
        assert inits == ids
    assert get_worker_info() is None


def test_worker_processes_are_seeded_per_epoch():
    nerve.manual_seed(0)
    a = sum((b[3].tolist() for b in DataLoader(Probe(), batch_size=2, num_workers=2)), [])
    assert len(set(a)) == 8  # the two workers do not repeat each other's random streams
    nerve.manual_seed(0)
    b = sum((b[3].tolist() for b in DataLoader(Probe(), batch_size=2, num_workers=2)), [])
    assert a == b  # batch j always goes to worker j % num_workers, seeded base_seed + worker_id


def test_loader_on_device(device):
    x = nerve.randn(10, 3, device=device)
    y = nerve.arange(10, device=device)
    xb, yb = next(iter(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)))
    assert xb.device == x.device and yb.device == y.device and xb.shape == (4, 3)
    stacked = default_collate([x[0], x[1]])
    assert stacked.device == x.device and stacked.shape == (2, 3)
    from nerve.vision import transforms as T

    img = nerve.rand(3, 8, 8, device=device)
    out = T.Compose([T.CenterCrop(4), T.Normalize([0.5] * 3, [0.25] * 3), T.RandomHorizontalFlip(1.0)])(img)
    assert out.device == img.device and out.shape == (3, 4, 4)
    want = (img.cpu().numpy()[:, 2:6, 2:6][:, :, ::-1] - 0.5) / 0.25
    np.testing.assert_allclose(out.cpu().numpy(), want, rtol=1e-6)
    batch = nerve.rand(6, 1, 4, 4, device=device)
    flipped = T.RandomHorizontalFlip(1.0).batch(batch)
    assert flipped.device == batch.device
    np.testing.assert_array_equal(flipped.cpu().numpy(), batch.cpu().numpy()[..., ::-1])
    up = T.Resize((8, 8))(img)
    assert up.device == img.device and up.shape == (3, 8, 8)


def test_worker_errors_propagate():
    class Bad(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise KeyError(f"bad item {i}")

    with pytest.raises(KeyError, match="bad item") as e:
        list(DataLoader(Bad(), batch_size=2, num_workers=2))
    assert "in DataLoader worker process" in "".join(getattr(e.value, "__notes__", ["in DataLoader worker process"]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size should be a positive integer value, but got batch_size=0"),
    (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=4), "batch_sampler option is mutually exclusive with batch_size"),
    (dict(batch_sampler=[[0]], shuffle=True), "batch_sampler option is mutually exclusive"),
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
])
def test_loader_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(TensorDataset(nerve.arange(4)), **kwargs)


def test_pin_memory_accepted():
    b = next(iter(DataLoader(TensorDataset(nerve.arange(4)), batch_size=2, pin_memory=True)))
    assert b[0].tolist() == [0, 1]


def test_in_memory_datasets_need_no_workers():
    ds = TensorDataset(nerve.arange(20).float(), nerve.arange(20))
    fast = DataLoader(ds, batch_size=4, num_workers=2)
    assert fast._served_from_memory() and Subset(ds, [1, 2])._batches_from_memory()
    assert [b[1].tolist() for b in fast] == [b[1].tolist() for b in DataLoader(ds, batch_size=4)]
    assert not DataLoader(ds, batch_size=4, num_workers=2, worker_init_fn=print)._served_from_memory()
    assert not DataLoader(ds, batch_size=4, num_workers=2, collate_fn=lambda s: s)._served_from_memory()


class Unpicklable(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"f": (lambda: i)}


def test_unpicklable_batch_from_a_worker_is_a_clear_error():
    with pytest.raises(RuntimeError, match="could not send its batch"):
        list(DataLoader(Unpicklable(), batch_size=2, num_workers=2, collate_fn=lambda s: s))


def test_distributed_sampler_splits_like_pytorch():
    from nerve.utils.data import DistributedSampler

    ds = list(range(10))
    parts = [list(DistributedSampler(ds, num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]  # padded with the start, as PyTorch
    cut = [list(DistributedSampler(ds, num_replicas=3, rank=r, shuffle=False, drop_last=True)) for r in range(3)]
    assert cut == [[0, 3, 6], [1, 4, 7], [2, 5, 8]] and len(DistributedSampler(ds, 3, 0, drop_last=True)) == 3
    s0, s1 = DistributedSampler(ds, 2, 0, seed=5), DistributedSampler(ds, 2, 1, seed=5)
    first = sorted(list(s0) + list(s1))
    assert first == list(range(10))
    e0 = list(s0)
    s0.set_epoch(1)
    assert list(s0) != e0
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(ds, num_replicas=2, rank=3)
    torch = pytest.importorskip("torch")
    for n, reps, drop in ((10, 3, False), (10, 3, True), (7, 4, False)):
        for r in range(reps):
            theirs = torch.utils.data.distributed.DistributedSampler(list(range(n)), reps, r, shuffle=False, drop_last=drop)
            assert list(DistributedSampler(list(range(n)), reps, r, shuffle=False, drop_last=drop)) == list(theirs)
    loader = DataLoader(TensorDataset(nerve.arange(10)), batch_size=2, sampler=DistributedSampler(ds, 2, 1, shuffle=False))
    assert [b[0].tolist() for b in loader] == [[1, 3], [5, 7], [9]]


def test_stack_and_chain_datasets():
    from nerve.utils.data import ChainDataset, StackDataset

    s = StackDataset(range(3), [10, 11, 12])
    assert len(s) == 3 and s[1] == (1, 11)
    d = StackDataset(a=range(3), b=[10, 11, 12])
    assert d[2] == {"a": 2, "b": 12}
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(range(3), range(4))
    chain = Stream(2) + Stream(3)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 0, 1, 2] and len(chain) == 5
    assert [b.tolist() for b in DataLoader(chain, batch_size=2)] == [[0, 1], [0, 1], [2]]
