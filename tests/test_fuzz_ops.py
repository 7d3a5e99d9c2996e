"""Tensor ops where a differential fuzz against PyTorch found nerve differing: each case runs the
same program on torch and on nerve (only the module differs) and compares values, dtypes, shapes,
``requires_grad``, gradients, or the type of the error raised.

Integer division and remainder (gradients, exact floor division, division by zero), ``pow``'s
gradients at a zero base or exponent, dtypes of casts, scans and reductions, unique / argsort
arguments, descending sorts, sign, einsum's repeated letters, bit operators, float ops of a number,
reductions of 0-d and empty tensors, narrow / topk ranges, std and norm at 0, indexing that mixes
integers with tensors, in-place operators, masked_fill, shape arguments; and seeded fuzzes of
indexing and of binary ops over dtypes, shapes and Python numbers.
"""

import warnings

import numpy as np
import pytest

import nerve

torch = pytest.importorskip("torch")

LIBS = (torch, nerve)


def _np(t):
    return t.detach().numpy(force=True) if isinstance(t, torch.Tensor) else t.detach().numpy()


def _run(fn, *arrays, grad=True, backward=True):
    """``fn(lib, *tensors)`` on torch and nerve, the float inputs requiring a gradient when ``grad``;
    backpropagates a fixed random weighting of the float outputs. Returns, per library, the
    outputs and the inputs' gradients (or the type of the error raised)."""
    got = []
    for lib in LIBS:
        ts = [lib.tensor(a, requires_grad=grad and a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
              for a in arrays]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # torch is silent about inf, nan and 0-division
                out = fn(lib, *ts)
        except Exception as e:  # noqa: BLE001 - the error's type is what is compared
            got.append(type(e))
            continue
        outs = out if isinstance(out, (tuple, list)) else (out,)
        loss = None
        rng = np.random.default_rng(0)
        for o in outs:
            if isinstance(o, lib.Tensor) and o.requires_grad:
                w = lib.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype)
                with warnings.catch_warnings():  # (the loss of an output with inf and -inf is nan)
                    warnings.simplefilter("ignore", RuntimeWarning)
                    term = (o * w).sum()
                loss = term if loss is None else loss + term
        grads = [None if not isinstance(t, lib.Tensor) or t.grad is None else _np(t.grad) for t in ts]
        if loss is not None and backward:
            try:
                loss.backward()
                grads = [None if not isinstance(t, lib.Tensor) or t.grad is None else _np(t.grad) for t in ts]
            except RuntimeError:  # torch has no derivative for some ops (number // tensor): not compared
                grads = None
        got.append(([(str(o.dtype).split(".")[-1], tuple(o.shape), o.requires_grad, _np(o))
                     if isinstance(o, lib.Tensor) else o for o in outs], grads))
    return got


def _same(fn, *arrays, grad=True, backward=True, rtol=1e-6, atol=1e-6):
    """Assert that ``_run`` gives torch's outputs, gradients, or error type on nerve."""
    theirs, ours = _run(fn, *arrays, grad=grad, backward=backward)
    if isinstance(theirs, type) or isinstance(ours, type):
        assert ours is theirs or isinstance(ours, type) and isinstance(theirs, type) and issubclass(ours, theirs), (
            f"torch: {theirs}, nerve: {ours}")
        return
    for t, n in zip(theirs[0], ours[0]):
        if isinstance(t, tuple):
            assert n[:3] == t[:3], f"dtype, shape, requires_grad: torch {t[:3]}, nerve {n[:3]}"
            np.testing.assert_allclose(n[3], t[3], rtol=rtol, atol=atol, equal_nan=True)
        else:
            assert n == t
    if theirs[1] is None:
        return
    for i, (t, n) in enumerate(zip(theirs[1], ours[1])):
        assert (t is None) == (n is None), f"gradient of input {i}: torch {t}, nerve {n}"
        if t is not None:
            np.testing.assert_allclose(n, t, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"gradient of input {i}")


# ---------------------------------------------------------------- 1. division and remainder

FLOATS = np.array([1.0, -7.5, 5.25, -0.5, 3.0, 0.3])
DIVISORS = np.array([0.1, 2.0, -1.5, 0.25, -3.0, 0.1])


@pytest.mark.parametrize("op, backward", [
    (lambda L, a, b: a % b, True), (lambda L, a, b: L.remainder(a, b), True), (lambda L, a, b: a.remainder(2.5), True),
    (lambda L, a, b: L.fmod(a, b), True), (lambda L, a, b: L.div(a, b, rounding_mode="floor"), True),
    (lambda L, a, b: L.div(a, b, rounding_mode="trunc"), True),
    # PyTorch records these but has no derivative for them: compared up to requires_grad
    (lambda L, a, b: a // b, False), (lambda L, a, b: L.floor_divide(a, -0.7), False),
    (lambda L, a, b: 7 // b, False), (lambda L, a, b: 2.5 % b, False),
])
def test_remainder_and_rounded_division_of_floats_as_torch(op, backward):
    """``%`` passes its gradient on (1 to the dividend, ``-floor(a / b)`` to the divisor); rounded
    quotients are in the graph with a zero gradient; ``1.0 // 0.1`` is 9 as in Python, not 10."""
    _same(op, FLOATS, DIVISORS, backward=backward)


@pytest.mark.parametrize("op", [
    lambda L, a, b: a % b, lambda L, a, b: a // b, lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    lambda L, a, b: L.fmod(a, b), lambda L, a, b: -7 % b, lambda L, a, b: 7 // b, lambda L, a, b: a % 0,
    lambda L, a, b: a // False, lambda L, a, b: a % b.clamp(max=0), lambda L, a, b: (a > 0) % (b > 0),
    lambda L, a, b: (a > 0) // (b > 0), lambda L, a, b: a % 2.5,
])
def test_integer_division_and_remainder_as_torch(op):
    """Integers stay integers with Python's signs; a divisor of 0 raises (NumPy would give 0 with a
    warning); bool tensors are refused."""
    _same(op, np.array([7, -7, 5, -5, 0, 3]), np.array([2, 2, -3, -3, 4, 1]))
    _same(op, np.zeros(0, np.int64), np.zeros(0, np.int64))  # nothing to divide: no error


# ---------------------------------------------------------------- 2. pow's gradients


@pytest.mark.parametrize("op", [
    lambda L, a, b: a ** b, lambda L, a, b: L.pow(a, b), lambda L, a, b: 0.0 ** b, lambda L, a, b: 2 ** b,
    lambda L, a, b: a ** 0, lambda L, a, b: L.float_power(a, b),
])
def test_pow_gradient_at_a_zero_base_or_exponent_as_torch(op):
    """As PyTorch defines them: the exponent's gradient is 0 where ``0 ** b`` with ``b >= 0`` (not
    ``0 * log 0`` = nan) and the base's is 0 where the exponent is 0."""
    _same(op, np.array([0.0, 0.0, 2.0, 0.0, 1.5, -1.0]), np.array([0.0, 2.0, 1.5, -1.0, 0.0, 2.0]))


def test_pow_gradient_at_zero_with_create_graph_as_torch():
    """The same zeros from the differentiable backward (create_graph); second derivatives are
    compared where the base is not 0 (there PyTorch's own are nan)."""
    got = []
    for lib in LIBS:
        x = lib.tensor([0.0, 2.0, 0.0], requires_grad=True)
        p = lib.tensor([0.0, 1.5, 3.0], requires_grad=True)
        (gp,) = lib.autograd.grad((x ** p).sum(), p, create_graph=True)
        gp.sum().backward()
        got.append((_np(gp), _np(x.grad)[1], _np(p.grad)[1]))
    for t, n in zip(*got):
        np.testing.assert_allclose(n, t, rtol=1e-6)


# ---------------------------------------------------------------- 3. dtypes of casts, scans and reductions


@pytest.mark.parametrize("op", [
    lambda L, x: x.to(L.int64), lambda L, x: x.long(), lambda L, x: x.bool(), lambda L, x: x.int() * 2,
    lambda L, x: x.to(L.float64) * x.half(),
])
def test_a_cast_to_an_integer_leaves_the_graph_as_torch(op):
    """An integer or bool result has no gradient: torch gives it ``requires_grad=False``."""
    _same(op, np.array([1.5, -2.5, 0.0]))


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.bool_, np.float32])
@pytest.mark.parametrize("op", [
    lambda L, x: x.prod(), lambda L, x: x.prod(1), lambda L, x: x.cumsum(0), lambda L, x: L.cumsum(x, -1),
    lambda L, x: x.cumprod(1), lambda L, x: x.cumsum(1, dtype=L.float64), lambda L, x: L.cumsum(x, 0, dtype=L.int32),
    lambda L, x: x.sum(0), lambda L, x: x.clamp(max=0.5), lambda L, x: L.clamp(x, min=1.5, max=3),
    lambda L, x: x.clamp(min=2),
])
def test_scans_reductions_and_clamp_keep_torchs_dtypes(op, dtype):
    """Integer products and running sums are int64 (NumPy gives uint64 for uint8, keeps int32 in a
    cumsum); ``cumsum`` takes ``dtype=``; an integer tensor clamped to a float bound is float32."""
    x = np.array([[3, 200, 7], [1, 0, 2]]).astype(dtype)
    _same(op, x, grad=False)


@pytest.mark.parametrize("kw", [
    {}, {"return_inverse": True}, {"return_counts": True}, {"return_inverse": True, "return_counts": True},
    {"dim": 0, "return_inverse": True, "return_counts": True}, {"dim": -1, "return_inverse": True},
])
def test_unique_takes_torchs_arguments(kw):
    for fn in (lambda L, x: L.unique(x, **kw), lambda L, x: x.unique(**kw)):
        _same(fn, np.array([[1, 2, 1], [1, 2, 1], [0, 5, 0]]))


def test_argsort_takes_stable_as_torch():
    x = np.array([3, 1, 3, 1, 2, 3])
    _same(lambda L, x: x.argsort(stable=True, descending=True), x)
    _same(lambda L, x: L.argsort(x, dim=0, stable=True), x)


# ---------------------------------------------------------------- 4. sorting, sign, einsum's diagonals

NAN = float("nan")


@pytest.mark.parametrize("x", [
    np.array([0, 1, 200, 1, 7], dtype=np.uint8), np.array([5, -2 ** 63, 0, 5]), np.array([3.0, NAN, 1.0, 3.0, -np.inf]),
    np.array([[2.0, NAN, 2.0], [1.0, 0.0, 1.0]]), np.array([True, False, True]), np.array(2.5),
])
@pytest.mark.parametrize("op", [
    lambda L, x: x.sort(descending=True), lambda L, x: x.sort(), lambda L, x: L.sort(x, dim=0, descending=True, stable=True),
    lambda L, x: x.argsort(descending=True), lambda L, x: x.topk(1).values if x.dtype != L.bool else x.sort(),  # (tied indices: unspecified)
    lambda L, x: x.msort() if x.dim() else x,
])
def test_descending_sorts_as_torch(x, op):
    """Descending: uint8 does not wrap (-x did), the smallest int64 stays last, nan comes first,
    equal values keep their order; a 0-d tensor sorts to itself."""
    _same(op, x)


@pytest.mark.parametrize("x", [np.array([NAN, -1.5, 0.0, -0.0, 2.0]), np.array([True, False]), np.array([-3, 0, 4])])
def test_sign_as_torch(x):
    """The sign of nan is 0 and a bool tensor's sign is itself, as torch."""
    _same(lambda L, x: x.sign(), x)
    _same(lambda L, x: L.sgn(x) * 1, x)


@pytest.mark.parametrize("equation, shapes", [
    ("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("iij->j", [(3, 3, 2)]), ("iji->j", [(3, 2, 3)]), ("iii", [(2, 2, 2)]),
    ("bii->bi", [(2, 3, 3)]), ("...ii->...i", [(2, 3, 3)]), ("ij,jj->i", [(2, 3), (3, 3)]), ("ii,i->i", [(3, 3), (3,)]),
])
def test_einsum_with_a_letter_repeated_in_an_operand_as_torch(equation, shapes):
    """A repeated letter takes the diagonal: its gradient reaches the diagonal only (nerve gave the
    whole operand a gradient for "ii", and refused "ii->i")."""
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    _same(lambda L, *xs: L.einsum(equation, *xs), *arrays, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- 5. integer bit ops, float ops of a number

INTS = {np.uint8: np.array([1, 2, 200]), np.int8: np.array([-3, 2, 7]), np.int32: np.array([5, -6, 9]),
        np.int64: np.array([12, -1, 3]), np.bool_: np.array([True, False, True])}


@pytest.mark.parametrize("da, db", [(np.uint8, np.int64), (np.int8, np.int32), (np.bool_, np.int8), (np.int32, np.int32),
                                    (np.bool_, np.bool_), (np.uint8, np.float32)])
@pytest.mark.parametrize("op", [
    lambda L, a, b: a & b, lambda L, a, b: a | b[0], lambda L, a, b: a ^ b, lambda L, a, b: a[0] & b,
    lambda L, a, b: a & 3, lambda L, a, b: True | a, lambda L, a, b: L.bitwise_xor(a, b),
    lambda L, a, b: a.abs() << 2 if a.dtype != L.bool else a, lambda L, a, b: a >> 1 if a.dtype != L.bool else a,
    lambda L, a, b: L.bitwise_left_shift(a, 1) if a.dtype != L.bool else a,
])
def test_bit_operators_promote_as_torch(op, da, db):
    """``&``, ``|``, ``^`` promote as torch's binary ops (a 0-d tensor does not widen a dimensioned
    one), and ``<<`` / ``>>`` exist; floats are refused with NotImplementedError."""
    b = INTS.get(db, np.array([1.5, -2.0, 0.5])).astype(db)
    _same(op, INTS[da].astype(da), b)


@pytest.mark.parametrize("op", [
    lambda L, a, b: L.xlogy(a, 2.5), lambda L, a, b: L.special.xlog1py(a, 2.5), lambda L, a, b: L.copysign(a, b.detach()),
    lambda L, a, b: L.copysign(b, -1.5), lambda L, a, b: L.atan2(a, L.tensor(2.5)),
    lambda L, a, b: L.copysign(a > 0, b.detach().half()),
])
def test_float_ops_of_an_integer_tensor_and_a_number_as_torch(op):
    """A float number given with an integer tensor is not truncated to the tensor's dtype first
    (xlogy(x, 2.5) took log 2); copysign promotes as torch's binary ops."""
    _same(op, np.array([1, 2, -3]), np.array([-0.5, 2.0, -0.0], dtype=np.float32))


# ---------------------------------------------------------------- 6. a 0-d tensor's dim, ranges checked


@pytest.mark.parametrize("op", [
    lambda L, x: x.mean(0), lambda L, x: x.prod(-1), lambda L, x: x.amax(0), lambda L, x: x.amin(-1, keepdim=True),
    lambda L, x: x.max(0), lambda L, x: x.min(-1, keepdim=True), lambda L, x: x.logsumexp(0), lambda L, x: x.var(0, correction=0),
    lambda L, x: x.std(0, correction=0), lambda L, x: L.aminmax(x, dim=0), lambda L, x: x.sum((0,)), lambda L, x: x.all(0),
    lambda L, x: (x > 0).any(-1), lambda L, x: L.count_nonzero(x, 0), lambda L, x: x.norm(dim=0), lambda L, x: x.mean((0, -1)),
])
def test_reductions_along_dim_0_of_a_0d_tensor_as_torch(op):
    """torch takes dim 0 or -1 of a 0-d tensor as the whole of it (nerve raised a ZeroDivisionError
    or NumPy's axis error)."""
    _same(op, np.array(2.5))


@pytest.mark.parametrize("op", [
    lambda L, x: x.narrow(0, 2, 2), lambda L, x: x.narrow(0, -2, 2), lambda L, x: x.narrow(-1, 3, 0),
    lambda L, x: x.narrow(0, 4, 1), lambda L, x: x.narrow(0, -5, 1), lambda L, x: x.narrow(0, 1, -1),
    lambda L, x: x[0].narrow(0, 0, 1), lambda L, x: x.topk(4), lambda L, x: x.topk(3), lambda L, x: x.topk(0),
])
def test_narrow_and_topk_check_their_range_as_torch(op):
    """narrow past the end raised nothing and gave fewer elements (a slice clips); topk of more than
    the dim's size likewise."""
    _same(op, np.array([1.0, 3.0, 2.0]))


@pytest.mark.parametrize("op", [
    lambda L, x: x.std(1), lambda L, x: x.std(), lambda L, x: x.std(1, correction=0, keepdim=True), lambda L, x: x.norm(dim=1),
    lambda L, x: (x - 1).norm(dim=-1), lambda L, x: (x - 1).norm(), lambda L, x: L.std_mean(x, 1)[0],
    lambda L, x: L.nn.functional.normalize(x - 1, dim=1), lambda L, x: L.linalg.vector_norm(x - 1, dim=1),
    lambda L, x: L.nn.functional.cosine_similarity(x - 1, x.flip(0), dim=1),
])
def test_std_and_norm_of_constant_rows_have_a_zero_gradient_as_torch(op):
    """torch's std and 2-norm give 0 where the result is 0 (a constant row, a zero vector); nerve's
    went through sqrt and gave nan (so did cosine_similarity of a zero vector)."""
    _same(op, np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]]))


@pytest.mark.parametrize("shape, op", [
    ((0, 3), lambda L, x: x.amax(0)), ((0, 3), lambda L, x: x.amax(1)), ((0, 3), lambda L, x: x.max(0)),
    ((0, 3), lambda L, x: x.argmax()), ((3, 0), lambda L, x: x.argmin(1)), ((0,), lambda L, x: x.amax()),
    ((0, 3), lambda L, x: x.amin((0, 1))), ((3, 0), lambda L, x: x.min(-1)), ((0, 2), lambda L, x: L.aminmax(x, dim=0)),
    ((3, 0), lambda L, x: x.argmax(0, keepdim=True)), ((), lambda L, x: x.argmax(0)),
    ((), lambda L, x: x.argmin(-1, keepdim=True)),
])
def test_max_and_min_over_an_empty_dim_raise_as_torch(shape, op):
    """An IndexError naming the dim (argmax leaked NumPy's ValueError), or an empty result where
    the empty dim is not the reduced one."""
    _same(op, np.zeros(shape))


# ---------------------------------------------------------------- 7. integers among tensor indices


def _index_items(rng, shape, lib):
    """A random index for ``shape``: integers, slices, None, Ellipsis, index tensors, lists, masks."""
    items, k, ellipsis = [], 0, False
    while k < len(shape):
        n, r = shape[k], rng.random()
        if r < 0.2:
            items.append(slice(None) if rng.random() < 0.5 else slice(int(rng.integers(-n, n)), None, int(rng.integers(1, 3))))
        elif r < 0.4:
            items.append(int(rng.integers(-n, n)))
        elif r < 0.55:
            items.append(lib.tensor(rng.integers(-n, n, int(rng.integers(1, 4))).tolist()))
        elif r < 0.65:
            items.append(lib.tensor(rng.integers(0, n, (2, 1)).tolist()))
        elif r < 0.75:
            items.append(rng.integers(0, n, 2).tolist())
        elif r < 0.85:
            items.append(lib.tensor((rng.random(n) > 0.5).tolist()))
        elif r < 0.92:
            items.append(None)
            continue
        elif not ellipsis:
            ellipsis = True
            items.append(Ellipsis)
            k = len(shape) - int(rng.integers(1, len(shape) - k + 1))
            continue
        else:
            items.append(slice(None))
        k += 1
    return tuple(items)


@pytest.mark.parametrize("index", [
    lambda L: (0, slice(None), L.tensor([2, 0])), lambda L: (slice(None), L.tensor([1, 2, 1]), None, 0),
    lambda L: (-1, None, L.tensor([[1], [0]]), Ellipsis), lambda L: (L.tensor([0, 1]), 1, L.tensor([2, 3])),
    lambda L: (1, L.tensor([True, False, True]), slice(1, None)), lambda L: (Ellipsis, 0, [1, 0]),
    lambda L: (0, slice(None), [3]), lambda L: (slice(None), 1, slice(None), L.tensor([0])),
])
def test_integers_among_tensor_indices_select_first_as_torch(index):
    """``x[0, :, idx]`` has torch's shape ``(n, len(idx))``, not NumPy's ``(len(idx), n)``; writes
    through such an index land where torch's do, values broadcast to torch's shape."""
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 2))
    _same(lambda L, a: a[index(L)], x)

    def write(L, a):
        b = a.clone()
        target = b[index(L)].shape
        b[index(L)] = L.arange(target[-1], dtype=b.dtype) * 2 if len(target) else 7.0
        return b
    _same(write, x)


def test_random_indexes_as_torch():
    """A seeded fuzz: reads and writes through random mixes of integers, slices, None, Ellipsis,
    index tensors, lists and masks give torch's values, shapes and gradients (or its error type)."""
    rng = np.random.default_rng(7)
    for _ in range(150):
        shape = tuple(int(n) for n in rng.integers(1, 4, int(rng.integers(1, 4))))
        x = rng.standard_normal(shape)
        state = rng.bit_generator.state
        items = {}
        for lib in LIBS:
            rng.bit_generator.state = state
            items[lib] = _index_items(rng, shape, lib)
        if any(it is Ellipsis for it in items[torch]):  # (NumPy's and torch's layouts differ around an
            continue                                    # Ellipsis of no dims between tensor indices)
        _same(lambda L, a: a[items[L]], x)

        def write(L, a):
            b = a.clone()
            b[items[L]] = 7.5
            return b
        _same(write, x)


# ---------------------------------------------------------------- 8. a seeded fuzz of binary ops

_BINARY = {
    "add": lambda L, a, b: a + b, "sub": lambda L, a, b: a - b, "mul": lambda L, a, b: a * b,
    "truediv": lambda L, a, b: a / b, "floordiv": lambda L, a, b: a // b, "mod": lambda L, a, b: a % b,
    "rmod": lambda L, a, b: b % a, "rfloordiv": lambda L, a, b: b // a, "fmod": lambda L, a, b: L.fmod(a, b),
    "div_trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"), "pow": lambda L, a, b: a ** b,
    "lt": lambda L, a, b: a < b, "eq": lambda L, a, b: a == b, "ge": lambda L, a, b: b >= a,
    "maximum": lambda L, a, b: L.maximum(a, b if isinstance(b, L.Tensor) else L.tensor(b)),
    "and": lambda L, a, b: a & b, "xor": lambda L, a, b: b ^ a, "where": lambda L, a, b: L.where(a > 0, a, b),
    "xlogy": lambda L, a, b: L.xlogy(a, b), "lerp": lambda L, a, b: L.lerp(a.double(), a.double() * 2, 0.25) + b,
}
_DTYPES = [np.bool_, np.uint8, np.int32, np.int64, np.float32, np.float64]
_SHAPES = [((2, 3), (2, 3)), ((), (2, 3)), ((2, 3), ()), ((3,), (2, 1)), ((0,), ()), ((), ())]


def _operand(rng, dtype, shape, unsigned):
    if dtype is np.bool_:
        return np.asarray(rng.random(shape) > 0.5)
    if np.dtype(dtype).kind in "iu":  # (no negatives beside uint8: torch wraps them, in a 0-d tensor too)
        return np.asarray(rng.integers(0 if unsigned else -5, 6, shape)).astype(dtype)
    return np.asarray(rng.standard_normal(shape) * 3).astype(dtype)


def test_random_binary_ops_promote_and_differentiate_as_torch():
    """A seeded fuzz over dtypes (bool, uint8, int, float), shapes (0-d, empty, broadcast) and Python
    numbers: torch's result dtype, values, requires_grad and gradients, or its error type."""
    rng = np.random.default_rng(11)
    names = sorted(_BINARY)
    for _ in range(400):
        name = names[rng.integers(len(names))]
        da, db = (_DTYPES[i] for i in rng.integers(len(_DTYPES), size=2))
        sa, sb = _SHAPES[rng.integers(len(_SHAPES))]
        unsigned = np.uint8 in (da, db)
        a = _operand(rng, da, sa, unsigned)
        b = _operand(rng, db, sb, unsigned) if rng.random() < 0.75 else \
            [2, 3, 0.5, -1.5, True, False][rng.integers(6)] if not unsigned else [2, 0.5, True][rng.integers(3)]
        if name == "sub" and np.bool_ in (a.dtype.type, getattr(b, "dtype", np.dtype(type(b))).type):
            continue  # (torch refuses to subtract bools; nerve allows it: left alone)
        fn = _BINARY[name]
        try:
            _same(fn, a, b, rtol=2e-6, atol=1e-6)
        except AssertionError as e:
            raise AssertionError(f"{name}({a.dtype}{list(a.shape)}, {getattr(b, 'dtype', b)}"
                                 f"{list(getattr(b, 'shape', ()))}): {e}") from None


# ---------------------------------------------------------------- 9. in-place ops


@pytest.mark.parametrize("x, update", [
    (np.array([7, -7]), lambda x: x.__ifloordiv__(2)), (np.array([7.5, -7.0]), lambda x: x.__ipow__(2)),
    (np.array([7.0, -7.0]), lambda x: x.__imod__(3)), (np.array([7, -7]), lambda x: x.__imod__(3)),
    (np.array([7, 6]), lambda x: x.__iand__(3)), (np.array([7, 6]), lambda x: x.__ior__(8)),
    (np.array([7, 6]), lambda x: x.__ixor__(1)), (np.array([7, 6]), lambda x: x.__ilshift__(2)),
    (np.array([7, 6]), lambda x: x.__irshift__(1)), (np.array([True, False]), lambda x: x.copy_(x.new_tensor([0, 5]).long())),
])
def test_augmented_assignments_write_in_place_as_torch(x, update):
    """``x //= 2``, ``x **= 2``, ``x %= 3``, ``x &= m``, ... change x itself (nerve made a new tensor, so
    another name or a view of x kept the old values); copy_ casts numbers to bool."""
    got = []
    for lib in LIBS:
        t = lib.tensor(x)
        alias = t[:]
        out = update(t)
        got.append((out is t, alias.tolist(), t.dtype == alias.dtype))
    assert got[1] == got[0]


@pytest.mark.parametrize("op", [
    lambda L: L.zeros(3).add_(L.ones(2, 3)), lambda L: L.zeros(3).add_(L.ones(2)), lambda L: L.zeros(2, 3).mul_(L.ones(4, 1)),
    lambda L: L.zeros(3).pow_(L.ones(2, 3)), lambda L: L.tensor([1, 2]).exp_(), lambda L: L.tensor([1, 2]).sqrt_(),
    lambda L: L.tensor([1, 2]).clamp_(min=0.5), lambda L: L.zeros(3, dtype=L.int64).sub_(L.ones(2, 3, dtype=L.int64)),
    lambda L: L.zeros(3).clamp_(min=L.zeros(2, 3)), lambda L: L.tensor([1, 2]).clamp_(0, 1), lambda L: L.zeros(3).add_(1.5),
    lambda L: L.zeros(3, dtype=L.int64).__iand__(L.ones(2, 3, dtype=L.int64)), lambda L: L.zeros(3).__ifloordiv__(L.ones(2, 3)),
    lambda L: L.zeros(3).div_(L.ones(2, 3), rounding_mode="floor"), lambda L: L.ones(2, 3).div_(L.full((3,), 2.0), rounding_mode="trunc"),
])
def test_in_place_ops_that_do_not_fit_raise_as_torch(op):
    """A broadcast that would grow the target, or a float result written into an integer tensor, is
    torch's RuntimeError (NumPy's ValueError or a silent truncation before)."""
    got = []
    for lib in LIBS:
        try:
            got.append(op(lib).tolist())
        except RuntimeError as e:
            got.append(str(e).replace("long int", "Long"))
    assert got[1] == got[0]


@pytest.mark.parametrize("x, value", [
    (np.array([1, 2]), 1.5), (np.array([1, 2]), -1.5), (np.array([1, 2], dtype=np.uint8), 7), (np.array([True, False]), 2),
    (np.array([1.0, 2.0]), 3), (np.array([1.0, 2.0], dtype=np.float16), np.array(2.5)), (np.array([1, 2]), np.array(2.5)),
    (np.array([1.0, 2.0]), np.array([2.5, 1.0])),
])
def test_masked_fill_keeps_the_tensors_dtype_as_torch(x, value):
    """The value is cast to the tensor's dtype (an integer tensor filled with 1.5 holds 1, and stays
    integer); a value tensor must be 0-d."""
    mask = np.array([True, False])
    _same(lambda L, a, m, v: a.masked_fill(m, v), x, mask, value, grad=False)
    _same(lambda L, a, m, v: a.clone().masked_fill_(m, v), x, mask, value, grad=False)
    if x.dtype.kind == "f":
        _same(lambda L, a, m, v: a.masked_fill(m, v), x, mask, value)


# ---------------------------------------------------------------- 10. shape arguments torch refuses


@pytest.mark.parametrize("op", [
    lambda L: L.zeros(2, 3, 4).flatten(2, 1), lambda L: L.arange(6).reshape(2, 3).repeat(2),
    lambda L: L.bmm(L.zeros(2, 3), L.zeros(3, 2)), lambda L: L.zeros(2, 3).bmm(L.zeros(2, 3, 2)),
    lambda L: L.mm(L.zeros(3), L.zeros(3, 2)), lambda L: L.zeros(2, 3).mm(L.zeros(2, 3, 2)),
    lambda L: L.dot(L.zeros(2, 3), L.zeros(2, 3)), lambda L: L.arange(6).reshape(2, 3).tile(2),
    lambda L: L.arange(6).reshape(2, 3).repeat(1, 2, 1), lambda L: L.repeat_interleave(L.tensor([2, 0, 1])),
    lambda L: L.tensor(5).nonzero(), lambda L: L.tensor(0).nonzero(),
    lambda L: L.argwhere(L.tensor(2.5)), lambda L: L.tensor(5).nonzero(as_tuple=True),
    lambda L: L.cat([L.tensor([1.0]), L.tensor(2.0)]), lambda L: L.cat([L.tensor(1.0), L.tensor(2.0)]),
])
def test_shape_arguments_as_torch(op):
    """flatten with start after end, repeat with fewer counts than dims, mm / bmm / dot of the wrong
    rank raise as in torch (nerve returned a tensor: NumPy's tile pads, matmul takes any rank);
    repeat_interleave of counts alone; nonzero of a 0-d tensor."""
    got = []
    for lib in LIBS:
        try:
            out = op(lib)
            got.append([(tuple(t.shape), t.tolist()) for t in (out if isinstance(out, tuple) else (out,))])
        except RuntimeError as e:
            got.append(str(e))
    assert got[1] == got[0]


@pytest.mark.parametrize("x", [np.array([True, False, True]), np.array([1, 2, 3], dtype=np.uint8), np.array([1.5, 2.0, 3.0])])
@pytest.mark.parametrize("op", [
    lambda L, c, x: L.where(c, x, 1), lambda L, c, x: L.where(c, 1, x), lambda L, c, x: L.where(c, x, 2.5),
    lambda L, c, x: L.where(c, True, 0), lambda L, c, x: L.where(c, True, False), lambda L, c, x: L.where(c, 1, 0.5),
    lambda L, c, x: x.where(c, 0),
])
def test_where_with_numbers_promotes_as_torch(op, x):
    """A number raises the kind of the tensor beside it (a bool tensor and 1 give int64; nerve gave
    bool, turning 1 into True)."""
    _same(op, np.array([True, False, False]), x, grad=False)


def test_linspace_value_for_value_as_torch():
    """torch.linspace rounds each value once and counts the second half down from ``end``; NumPy's
    linspace differs in the last bit for most spans (before: 390 of 408 float32 cases)."""
    rng = np.random.default_rng(5)
    cases = [(0, 32, 31), (0, 1, 10), (-3.3, 7.1, 17), (1, 0, 5), (0, 1, 2), (0, 1, 1), (2.5, 2.5, 4), (0, 1, 0)]
    cases += [(float(rng.normal() * 10), float(rng.normal() * 10), int(rng.integers(1, 300))) for _ in range(200)]
    for dt in ("float32", "int64", "float64"):
        for c in cases:
            ours = nerve.linspace(*c, dtype=getattr(nerve, dt)).numpy()
            theirs = torch.linspace(*c, dtype=getattr(torch, dt)).numpy()
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (dt, c)
            if dt == "float64":  # (a long double stands in for the fused multiply-add: at most 1 ulp)
                np.testing.assert_array_max_ulp(ours, theirs, maxulp=1)
            else:
                assert np.array_equal(ours, theirs), (dt, c)
