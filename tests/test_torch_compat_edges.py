"""Edges where nerve used to differ from PyTorch: each program runs on torch and on nerve (only the
module differs) and the results, or the errors, are compared.

Mixed-dtype matrix products, float16 reductions, complex numbers, byte order of NumPy arrays,
unbatched cross-entropy, transposed convolutions of an empty batch, and the order in which
post-accumulate-grad hooks run.
"""

import warnings

import numpy as np
import pytest

import nerve
import nerve.nn as nnn
import nerve.nn.functional as NF

torch = pytest.importorskip("torch")
import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

LIBS = {"nerve": (nerve, nnn, NF), "torch": (torch, tnn, TF)}


def _np(t):
    return t.detach().numpy()


def _outcome(fn):
    """``fn()``'s result, or the type and message of what it raised."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the error itself is what is compared
        return type(e), str(e)


# ---------------------------------------------------------------- 1. matmul of two dtypes


def _products(lib, a, b):
    """Each product of a float32 (or int64) tensor with one of another dtype, as a user writes it."""
    x, y = lib.tensor(a), lib.tensor(b)
    return {
        "@": lambda: x @ y,
        "matmul": lambda: lib.matmul(x, y),
        "mm": lambda: lib.mm(x, y),
        "Tensor.mm": lambda: x.mm(y),
        "bmm": lambda: lib.bmm(x[None], y[None]),
    }


@pytest.mark.parametrize("a_dt, b_dt", [("float32", "float64"), ("int64", "float32"), ("float64", "float32"),
                                        ("float32", "int32")])
def test_matmul_of_two_dtypes_raises_as_torch(a_dt, b_dt):
    a = np.arange(6).reshape(2, 3).astype(a_dt)
    b = np.arange(6).reshape(3, 2).astype(b_dt)
    ours, theirs = _products(nerve, a, b), _products(torch, a, b)
    for name in ours:
        rn, rt = _outcome(ours[name]), _outcome(theirs[name])
        assert rt[0] is RuntimeError, (name, rt)  # torch refuses to promote
        assert rn[0] is RuntimeError, (name, rn)
        op = "bmm" if name == "bmm" else "mm" if "mm" in name and name != "matmul" else "matmul"
        msg = rn[1]
        assert msg.startswith(f"{op}:"), msg
        assert a_dt in msg and b_dt in msg and ".to(dtype)" in msg and ".float()" in msg, msg


@pytest.mark.parametrize("expr", ["lib.ones(3) @ lib.ones(3, dtype=lib.float64)",
                                  "lib.ones(2, 3) @ lib.ones(3, dtype=lib.float64)",
                                  "lib.dot(lib.ones(3), lib.ones(3, dtype=lib.float64))",
                                  "lib.ones(2, 3).mv(lib.ones(3, dtype=lib.float64))",
                                  "lib.einsum('ij,jk->ik', lib.ones(2, 3), lib.ones(3, 2, dtype=lib.float64))",
                                  "lib.einsum('ij,jk', lib.ones(2, 3, dtype=lib.int64), lib.ones(3, 2))",
                                  "lib.addmm(lib.ones(2, 2), lib.ones(2, 3), lib.ones(3, 2, dtype=lib.float64))",
                                  "lib.baddbmm(lib.ones(1, 2, 2), lib.ones(1, 2, 3), lib.ones(1, 3, 2, dtype=lib.float64))",
                                  "lib.tensordot(lib.ones(2, 3), lib.ones(3, 2, dtype=lib.float64), 1)",
                                  "lib.addbmm(lib.ones(2, 2), lib.ones(1, 2, 3), lib.ones(1, 3, 2, dtype=lib.float64))",
                                  "lib.addmv(lib.ones(2), lib.ones(2, 3), lib.ones(3, dtype=lib.float64))",
                                  "lib.nn.functional.linear(lib.ones(2, 3), lib.ones(4, 3, dtype=lib.float64))"])
def test_other_products_of_two_dtypes_raise_as_torch(expr):
    rn = _outcome(lambda: eval(expr, {"lib": nerve}))
    rt = _outcome(lambda: eval(expr, {"lib": torch}))
    assert rt[0] is rn[0] is RuntimeError, (rn, rt)
    named = [w in rn[1] for w in ("float32", "Float", "float64", "Double", "int64")]
    assert (named[0] or named[1]) and any(named[2:]), rn  # both dtypes, in nerve's or torch's words
    for op in ("addmm", "baddbmm", "addbmm", "addmv", "tensordot"):
        if f"lib.{op}(" in expr:
            assert rn[1].startswith(f"{op}:"), rn  # the error names the op the user called


def test_matmul_of_one_dtype_still_works():
    rng = np.random.default_rng(0)
    for dt in ("float32", "float64", "int64"):
        a = (rng.standard_normal((2, 4, 3)) * 4).astype(dt)
        b = (rng.standard_normal((2, 3, 5)) * 4).astype(dt)
        np.testing.assert_allclose(_np(nerve.tensor(a) @ nerve.tensor(b)), _np(torch.tensor(a) @ torch.tensor(b)),
                                   rtol=1e-6)
        np.testing.assert_allclose(_np(nerve.bmm(nerve.tensor(a), nerve.tensor(b))),
                                   _np(torch.bmm(torch.tensor(a), torch.tensor(b))), rtol=1e-6)


def test_keras_matmul_still_promotes_as_keras():
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    K = pytest.importorskip("keras")
    from nerve import keras

    x = np.arange(6, dtype="int32").reshape(2, 3)
    w = np.linspace(-1, 1, 6, dtype="float32").reshape(3, 2)

    def run(lib):
        v = lib.Variable(w)
        out = {"ops.matmul": lib.ops.matmul(x, w), "variable @ int tensor": v.__rmatmul__(lib.ops.convert_to_tensor(x)),
               "variable @ array": lib.Variable(w.T) @ x.T, "ops.matmul(variable)": lib.ops.matmul(x, v)}
        return {k: (lib.backend.standardize_dtype(y.dtype), lib.ops.convert_to_numpy(y)) for k, y in out.items()}

    ours, theirs = run(keras), run(K)
    for name, (dt, y) in theirs.items():
        assert ours[name][0] == dt, (name, ours[name][0], dt)
        np.testing.assert_allclose(ours[name][1], y, rtol=1e-6, err_msg=name)


# ---------------------------------------------------------------- 2. float16 sum and mean


def _half_reductions(lib, data):
    """sum / mean of a float16 tensor, with and without dim, and the gradients they send back."""
    out = {}
    for name, f in (("sum", lambda t: t.sum()), ("sum0", lambda t: t.sum(0)), ("sum1k", lambda t: t.sum(1, keepdim=True)),
                    ("mean", lambda t: t.mean()), ("mean0", lambda t: t.mean(0)),
                    ("mean1k", lambda t: t.mean(dim=1, keepdim=True)), ("lib.sum", lambda t: lib.sum(t)),
                    ("lib.mean", lambda t: lib.mean(t, 1))):
        x = lib.tensor(data, requires_grad=True)
        y = f(x)
        y.sum().backward()
        out[name] = (str(y.dtype).split(".")[-1], _np(y), str(x.grad.dtype).split(".")[-1], _np(x.grad))
    return out


@pytest.mark.parametrize("case", ["ones_70000", "cancelling", "tenths"])
def test_float16_sum_and_mean_accumulate_in_float32_as_torch(case):
    if case == "ones_70000":  # more than float16's largest value (65504) of 1.0: the mean is 1
        data = np.ones((2, 70000), np.float16)
    elif case == "cancelling":  # a float16 running sum would overflow on the way
        data = np.tile(np.array([60000, 10000, -60000, 0.1, 0.2], np.float16), (3, 1))
    else:  # rounding: a float16 running sum of 0.1 stalls
        data = np.full((4, 30000), 0.1, np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # torch's inf is silent; NumPy's cast may warn
        ours, theirs = _half_reductions(nerve, data), _half_reductions(torch, data)
    for name in theirs:
        (dn, yn, gdn, gn), (dt, yt, gdt, gt) = ours[name], theirs[name]
        assert (dn, gdn) == (dt, gdt) == ("float16", "float16"), name
        np.testing.assert_array_equal(yn, yt, err_msg=name)
        np.testing.assert_array_equal(gn, gt, err_msg=f"gradient of {name}")


def test_float16_sum_past_its_range_is_inf_without_a_warning_as_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch is silent; so must nerve be
        got = nerve.ones(70000, dtype=nerve.float16).sum()
        want = torch.ones(70000, dtype=torch.float16).sum()
    assert got.dtype == nerve.float16 and np.isinf(got.item()) and np.isinf(want.item())


def test_float16_mean_double_backward_divides_in_float32_as_torch():
    got = []
    for lib in (nerve, torch):
        x = lib.ones(70000, dtype=lib.float16, requires_grad=True)
        w = lib.ones(1, dtype=lib.float16, requires_grad=True)
        g, = lib.autograd.grad((x * w).mean(), x, create_graph=True)  # through the mean's backward_t
        got.append((str(g.dtype).split(".")[-1], np.asarray(g.detach().numpy(), np.float32)))
    (dn, gn), (dt, gt) = got
    assert dn == dt == "float16"
    np.testing.assert_array_equal(gn, gt)  # 1/70000 in float16, not 0 from 1/inf


# ---------------------------------------------------------------- 3. complex numbers


@pytest.mark.parametrize("expr", ["1j * t", "t * (1 + 2j)", "t + 1j", "t - 1j", "1j - t", "t / 1j", "t ** 1j",
                                  "t * np.complex64(1j)", "lib.tensor(1j)", "lib.tensor([1 + 2j])",
                                  "lib.tensor(np.ones(3, np.complex64))", "lib.full((2,), 1j)"])
def test_complex_numbers_raise_a_clear_error(expr):
    def run(lib):
        t = lib.ones(3)
        return eval(expr, {"lib": lib, "t": t, "np": np})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _outcome(lambda: run(torch))
    assert isinstance(theirs, torch.Tensor)  # torch gives a complex tensor (or, for NumPy's scalar, drops it)
    with pytest.raises(TypeError, match="complex numbers are not supported: nerve has no complex dtype"):
        run(nerve)


def test_from_numpy_of_complex_says_so():
    a = np.ones(2, np.complex64)
    assert torch.from_numpy(a).is_complex()
    with pytest.raises(TypeError, match="complex numbers are not supported"):
        nerve.from_numpy(a)


# ---------------------------------------------------------------- 4. NumPy byte order


@pytest.mark.parametrize("dtype", [">f8", ">f4", ">i4", ">i8"])
@pytest.mark.parametrize("make", ["tensor", "as_tensor", "from_numpy", "asarray", "tensor_dtype"])
def test_non_native_byte_order_is_refused_as_torch(dtype, make):
    arr = np.arange(3, dtype=dtype)
    assert not arr.dtype.isnative

    def run(lib):
        if make == "tensor_dtype":
            return lib.tensor(arr, dtype=lib.float32)
        return getattr(lib, make)(arr)

    rn, rt = _outcome(lambda: run(nerve)), _outcome(lambda: run(torch))
    assert rt[0] is ValueError and rn[0] is ValueError, (rn, rt)
    assert rn[1].startswith(rt[1].rstrip(".")), (rn, rt)  # torch's words, then how to convert
    # the way the message suggests gives torch's values and dtype
    fixed = arr.astype(arr.dtype.newbyteorder("="))
    n, t = nerve.tensor(fixed), torch.tensor(fixed)
    assert str(n.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(_np(n), _np(t))


# ---------------------------------------------------------------- 5. unbatched cross-entropy


def _unbatched_ce(lib, F, target, **kw):
    x = lib.tensor(np.linspace(-1.5, 2.0, 5, dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, lib.tensor(target), **kw)
    loss.sum().backward()
    return tuple(loss.shape), _np(loss), _np(x.grad)


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1},
                                {"weight": "w"}, {"ignore_index": 2}])
def test_cross_entropy_of_one_sample_as_torch(kw):
    def run(lib, nn, F, target):
        args = dict(kw)
        if args.get("weight") == "w":
            args["weight"] = lib.tensor(np.arange(1, 6, dtype=np.float32))
        return _unbatched_ce(lib, F, target, **args)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = run(*LIBS["torch"], 2)
        for target in (2, [2]):  # a 0-d target, and a (1,) one as torch also takes
            ours = run(*LIBS["nerve"], target)
            assert ours[0] == theirs[0] == ()
            np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
            np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6, atol=1e-7)


def test_cross_entropy_of_one_sample_with_a_1_element_target_forward_as_torch():
    # torch's forward takes a (1,) target for a (C,) input; its backward then fails (a size
    # mismatch inside NllLossBackward), so the gradient is compared with the 0-d target's above
    for kw in ({}, {"reduction": "none"}, {"reduction": "sum"}):
        x = np.linspace(-1.5, 2.0, 5, dtype=np.float32)
        yn = NF.cross_entropy(nerve.tensor(x), nerve.tensor([2]), **kw)
        yt = TF.cross_entropy(torch.tensor(x), torch.tensor([2]), **kw)
        assert tuple(yn.shape) == tuple(yt.shape) == ()
        np.testing.assert_allclose(_np(yn), _np(yt), rtol=1e-6)
        ln = nnn.CrossEntropyLoss(**kw)(nerve.tensor(x), nerve.tensor([2]))
        np.testing.assert_allclose(_np(ln), _np(yt), rtol=1e-6)
        np.testing.assert_allclose(_np(NF.nll_loss(nerve.tensor(x), nerve.tensor([2]), **kw)),
                                   _np(TF.nll_loss(torch.tensor(x), torch.tensor([2]), **kw)), rtol=1e-6)


@pytest.mark.parametrize("x_shape, target", [((5,), [2, 1]), ((5,), [[2]]), ((5,), []), ((1, 5), 2)])
def test_cross_entropy_target_shape_errors_as_torch(x_shape, target):
    x = np.zeros(x_shape, np.float32)
    for f in ("cross_entropy", "nll_loss"):
        rn = _outcome(lambda: getattr(NF, f)(nerve.tensor(x), nerve.tensor(target, dtype=nerve.int64)))
        rt = _outcome(lambda: getattr(TF, f)(torch.tensor(x), torch.tensor(target, dtype=torch.int64)))
        assert rn[0] is rt[0], (f, rn, rt)
        assert rn[1].startswith(rt[1].rstrip(".")) or rt[1] in rn[1], (f, rn, rt)


@pytest.mark.parametrize("f", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_every_target_ignored_gives_torch_loss_and_zero_gradient(f, reduction):
    def run(lib, nn, F, x_shape, target):
        x = lib.tensor(np.linspace(-1, 1, int(np.prod(x_shape)), dtype=np.float32).reshape(x_shape),
                       requires_grad=True)
        loss = getattr(F, f)(x, lib.tensor(target), reduction=reduction)
        loss.sum().backward()
        return _np(loss), _np(x.grad)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for x_shape, target in (((3, 5), [-100, -100, -100]), ((5,), -100), ((3, 5), [-100, 4, -100])):
            (ln, gn), (lt, gt) = run(*LIBS["nerve"], x_shape, target), run(*LIBS["torch"], x_shape, target)
            np.testing.assert_allclose(ln, lt, rtol=1e-6)  # NaN where torch's is (0 / 0)
            np.testing.assert_allclose(gn, gt, rtol=1e-6, atol=1e-7)
            assert not np.isnan(gn).any()


# ---------------------------------------------------------------- 6. transposed convolution of an empty batch


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_transpose_of_an_empty_batch_as_torch(nd, groups):
    def run(lib, nn, F):
        x = lib.zeros((0, 4) + (3,) * nd, requires_grad=True)
        w = lib.tensor(np.linspace(-1, 1, 4 * 3 * 3**nd, dtype=np.float32).reshape((4, 3) + (3,) * nd),
                       requires_grad=True)
        b = lib.ones(3 * groups, requires_grad=True)
        f = getattr(F, f"conv_transpose{nd}d")
        y = f(x, w, b, stride=2, padding=1, output_padding=1, groups=groups)
        y.sum().backward()
        first = (tuple(y.shape), tuple(x.grad.shape), _np(w.grad), _np(b.grad))
        gx, gw = lib.autograd.grad(f(x, w, stride=2, groups=groups).sum(), (x, w), create_graph=True)
        m = getattr(nn, f"ConvTranspose{nd}d")(4, 6, 3, stride=2, groups=groups)
        xm = lib.zeros((0, 4) + (4,) * nd, requires_grad=True)
        ym = m(xm, output_size=[10] * nd)
        ym.sum().backward()
        return first + (tuple(gx.shape), _np(gw), tuple(ym.shape), tuple(xm.grad.shape), _np(m.weight.grad),
                        _np(m.bias.grad))

    ours, theirs = run(*LIBS["nerve"]), run(*LIBS["torch"])
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if isinstance(b, tuple):
            assert a == b, (i, a, b)
        else:
            assert a.shape == b.shape, (i, a.shape, b.shape)
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_of_an_empty_batch_double_backward_as_torch(nd):
    def run(lib, nn, F):
        x = lib.zeros((0, 4) + (5,) * nd, requires_grad=True)
        w = lib.ones((6, 2) + (3,) * nd, requires_grad=True)
        f = getattr(F, f"conv{nd}d")
        gx, gw = lib.autograd.grad(f(x, w, groups=2, stride=2).sum(), (x, w), create_graph=True)
        return tuple(gx.shape), _np(gw)

    (sn, gn), (st, gt) = run(*LIBS["nerve"]), run(*LIBS["torch"])
    assert sn == st
    np.testing.assert_array_equal(gn, gt)


# ---------------------------------------------------------------- 7. post-accumulate-grad hooks


def _hook_orders(lib, nn):
    """The order in which leaves' post-accumulate-grad hooks run, for graphs where each leaf's last
    gradient comes from a different op (see test below for the one place nerve differs)."""
    names = "abcd"
    leaves = [lib.tensor([1.0, 2.0], requires_grad=True) for _ in names]
    order = []
    for n, t in zip(names, leaves):
        t.register_post_accumulate_grad_hook(lambda t, n=n: order.append(n))
    a, b, c, d = leaves
    graphs = {
        "sum of terms": lambda: a * 2 + b * 3 + c,
        "reversed": lambda: c * 2 + b * 3 + a,
        "product": lambda: a * b * c,
        "shared": lambda: (a + b) * (b + c),
        "shared 3": lambda: (a + b) * (b + c) * (c + a),
        "chain": lambda: ((a * b) * c) * d,
        "reuse": lambda: (a * b).exp() + a.sin() * d + c,
        "two roots": lambda: lib.cat([a * b, c + d, a - d]),
    }
    out = {}
    for name, g in graphs.items():
        g().sum().backward()
        out[name] = "".join(order)
        order.clear()
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    layers = []
    for pname, p in seq.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, pname=pname: layers.append(pname.split(".")[0]))
    seq(lib.ones(4, 2)).sum().backward()
    out["layers"] = [k for i, k in enumerate(layers) if i == 0 or layers[i - 1] != k]
    return out


def test_post_accumulate_grad_hooks_run_in_torch_order():
    ours, theirs = _hook_orders(nerve, nnn), _hook_orders(torch, tnn)
    assert ours == theirs
    assert theirs["layers"] == ["4", "2", "0"]  # the last layer's parameters first


def test_post_accumulate_grad_hooks_see_summed_gradients():
    def run(lib):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        a.register_post_accumulate_grad_hook(lambda t: seen.append(_np(t.grad).copy()))
        ((a * 3) + a.exp() + a * a).sum().backward()
        return seen

    ours, theirs = run(nerve), run(torch)
    assert len(ours) == len(theirs) == 1
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign"])
def test_step_functions_record_a_zero_gradient_as_torch(name):
    """floor, ceil, round, trunc and sign are in PyTorch's graph with a zero gradient (a loss that
    reaches a tensor only through them gives it zeros, not an error); their in-place forms keep
    the tensor in the graph."""
    values = np.array([1.5, -2.3, 0.49, -0.5, 3.0])
    got = {}
    for lib in (nerve, torch):
        x = lib.tensor(values, requires_grad=True)
        y = getattr(x, name)()
        z = x * 1
        getattr(z, name + "_")()
        (y * 3 + z).sum().backward()
        got[lib] = (y.detach().numpy(), y.requires_grad, type(y.grad_fn).__name__ if lib is torch else y.grad_fn.node_name,
                    z.requires_grad, x.grad.numpy())
    ours, theirs = got[nerve], got[torch]
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert ours[1:4] == theirs[1:4]
    np.testing.assert_array_equal(ours[4], theirs[4])
    assert nerve.tensor([2.567]).round(decimals=2).tolist() == pytest.approx([2.57])


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("write", ["add_", "mul_number", "copy_"])
def test_in_place_write_into_an_expanded_tensor_raises_as_torch(write, grad):
    for lib in (nerve, torch):
        x = lib.tensor([[1.0], [2.0]], requires_grad=grad)
        y = (x * 1 if grad else x).expand(2, 3)
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor refers to a single"):
            if write == "add_":
                y.add_(lib.ones(2, 3))
            elif write == "mul_number":
                y.mul_(2)
            else:
                y.copy_(lib.zeros(2, 3))


@pytest.mark.parametrize("write", ["fill_", "setitem"])
def test_fill_and_item_assignment_into_an_expanded_tensor_say_what_to_do(write):
    """PyTorch writes these through to the tensor expanded from; nerve cannot, and says so."""
    y = nerve.tensor([[1.0], [2.0]]).expand(2, 3)
    with pytest.raises(RuntimeError, match="cannot write into an expanded tensor.*clone"):
        if write == "fill_":
            y.fill_(0.5)
        else:
            y[0, 0] = 5.0


def test_in_place_write_into_a_read_only_numpy_array_says_so():
    a = np.arange(3.0)
    a.flags.writeable = False
    t = nerve.from_numpy(a)
    with pytest.raises(RuntimeError, match="read-only"):
        t.add_(1)
    with pytest.raises(RuntimeError, match="read-only"):
        t -= nerve.ones(3, dtype=nerve.float64)
