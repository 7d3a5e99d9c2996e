"""New tensors start on a 64-byte boundary, as PyTorch's CPU tensors do (backend.empty_aligned).

The alignment matters for arrays written in place at every step (parameters, optimizer state):
an update whose stores straddle cache lines runs up to twice as slow. These tests check where
nerve allocates aligned memory, and that nothing else about those tensors changed: values,
dtypes, copies versus shared memory, ``storage_offset``.
"""

import numpy as np
import pytest

import nerve
from nerve import backend, nn

BIG = (64, 100)  # 25,600 bytes in float32: above the 4 KB from which arrays are aligned


def _addr(t) -> int:
    return t._data.ctypes.data


def _misaligned(shape, dtype=np.float32, offset=16):
    """A C-contiguous array that starts ``offset`` bytes past a 64-byte boundary."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(n + 128, np.uint8)
    start = -raw.ctypes.data % 64 + offset
    return raw[start:start + n].view(dtype).reshape(shape)


@pytest.mark.parametrize("make", [
    lambda: nerve.zeros(*BIG), lambda: nerve.ones(BIG), lambda: nerve.empty(BIG), lambda: nerve.full(BIG, 2.5),
    lambda: nerve.rand(*BIG), lambda: nerve.randn(BIG), lambda: nerve.arange(10_000),
    lambda: nerve.zeros_like(nerve.ones(3, 5000)), lambda: nerve.eye(100), lambda: nerve.randint(0, 9, BIG),
    lambda: nerve.tensor(_misaligned(BIG)), lambda: nerve.tensor(_misaligned(BIG, np.float64), dtype=nerve.float32),
    lambda: nerve.tensor(np.arange(20_000, dtype=np.float32)[::2]), lambda: nerve.tensor([[0.5] * 2000] * 4),
    lambda: nerve.tensor(nerve.from_numpy(_misaligned(BIG))), lambda: nerve.from_numpy(_misaligned(BIG)).clone(),
], ids=["zeros", "ones", "empty", "full", "rand", "randn", "arange", "zeros_like", "eye", "randint",
        "tensor", "tensor-cast", "tensor-strided", "tensor-list", "tensor-of-tensor", "clone"])
def test_factories_allocate_aligned(make):
    t = make()
    assert _addr(t) % 64 == 0
    assert t.storage_offset() == 0
    assert t._data.flags.c_contiguous and t._data.flags.writeable


def test_tensor_copies_and_casts_as_before():
    src = _misaligned((50, 40), np.float64, offset=48)
    src[...] = np.random.default_rng(0).standard_normal(src.shape)
    t = nerve.tensor(src)
    assert t.dtype == nerve.float64 and _addr(t) % 64 == 0
    np.testing.assert_array_equal(t.numpy(), src)
    src[0, 0] = 123.0  # a copy: the tensor does not follow the source
    assert t[0, 0].item() != 123.0
    t32 = nerve.tensor(src, dtype=nerve.float32)
    np.testing.assert_array_equal(t32.numpy(), src.astype(np.float32))
    ti = nerve.tensor(np.full((40, 40), 2.7), dtype=nerve.int64)  # casting as astype: truncation
    assert ti.dtype == nerve.int64 and int(ti[0, 0]) == 2


def test_from_numpy_still_shares_memory():
    src = _misaligned(BIG)
    t = nerve.from_numpy(src)
    assert _addr(t) == src.ctypes.data  # not moved to an aligned copy
    src[0, 0] = 7.0
    assert t[0, 0].item() == 7.0


def test_small_tensors_left_to_numpy():
    t = nerve.zeros(10)
    assert t._data.base is None and t._data.flags.owndata


def test_full_fills_as_numpy_full():
    np.testing.assert_array_equal(nerve.full((3000,), 7).numpy(), np.full(3000, 7))
    assert nerve.full((3000,), 7).dtype == nerve.int64
    np.testing.assert_array_equal(nerve.full((2000,), True).numpy(), np.ones(2000, bool))


def test_storage_offset_of_views_counts_from_the_aligned_start():
    t = nerve.zeros(100, 64)
    assert t[3:].storage_offset() == 3 * 64
    assert t[:, 5].storage_offset() == 5
    assert t.view(-1)[10:].storage_offset() == 10


def test_parameters_and_optimizer_state_are_aligned():
    lin = nn.Linear(300, 100)
    assert _addr(lin.weight) % 64 == 0
    x = nerve.randn(8, 300)
    for opt in (nerve.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9), nerve.optim.Adam(lin.parameters())):
        lin.zero_grad()
        lin(x).square().mean().backward()
        opt.step()
        state = opt.state[lin.weight]
        arrays = [v for v in state.values() if isinstance(v, (nerve.Tensor, np.ndarray))]
        assert arrays, state.keys()
        for v in arrays:
            a = v._data if isinstance(v, nerve.Tensor) else v
            if a.nbytes >= 4096:
                assert a.ctypes.data % 64 == 0


def test_sgd_momentum_matches_torch_with_aligned_state():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((200, 30))
    grads = [rng.standard_normal((200, 30)) for _ in range(5)]
    pn, pt = nerve.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    on = nerve.optim.SGD([pn], lr=0.05, momentum=0.9, nesterov=True)
    ot = torch.optim.SGD([pt], lr=0.05, momentum=0.9, nesterov=True)
    for g in grads:
        pn.grad, pt.grad = nerve.tensor(g), torch.tensor(g)
        on.step()
        ot.step()
    np.testing.assert_allclose(pn.detach().numpy(), pt.detach().numpy(), rtol=0, atol=1e-12)


def test_keras_variable_owns_aligned_storage():
    from nerve import keras

    init = _misaligned((100, 40))
    init[...] = 1.0
    v = keras.Variable(init)
    assert v.value._data.ctypes.data % 64 == 0
    init[...] = 5.0  # the variable has its own copy
    assert float(np.asarray(v.numpy())[0, 0]) == 1.0


def test_copy_aligned_casts_like_astype():
    a = _misaligned((70, 70), np.float64)
    a[...] = np.linspace(-3, 3, a.size).reshape(a.shape)
    for dt in (np.float32, np.int32, np.int64, np.bool_):
        out = backend.copy_aligned(a, dt)
        assert out.ctypes.data % 64 == 0 and out.dtype == dt
        np.testing.assert_array_equal(out, a.astype(dt))
