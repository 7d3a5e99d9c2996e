"""nerve.linalg against torch.linalg: values and gradients on random well-conditioned batched float64
inputs, float32 values, float64 finite-difference checks, the *_ex variants, torch's top-level names
and Tensor methods, and PyTorch's errors with their messages.

Singular vectors and eigenvectors are defined up to sign (and the columns past min(m, n) of a full
SVD up to a rotation), so the losses compared use what does not depend on that: singular values,
|U|, U diag(S) Vh, V diag(w) V^T."""

import subprocess
import sys

import numpy as np
import pytest
from _torch_compare import compare, to_np

import nerve
import nerve.linalg as NL
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TL = torch.linalg

RNG = np.random.default_rng(0)
INF = float("inf")


def _rand(*shape):
    return RNG.standard_normal(shape)


def _well(*shape):
    """Square matrices comfortably far from singular."""
    n = shape[-1]
    return _rand(*shape) + 2 * np.sqrt(n) * np.eye(n)


def _spd(*shape):
    a = _rand(*shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _sym(*shape):
    a = _rand(*shape)
    return a + np.swapaxes(a, -1, -2)


def _nt(a, device, requires_grad=False):
    return nerve.tensor(a, device=device, requires_grad=requires_grad)


def _gradcheck(fn, *arrays, device="cpu"):
    assert gradcheck(fn, [_nt(a, device, True) for a in arrays])


def _both(mod):
    return NL if mod is nerve else TL


TIGHT = dict(rtol=1e-8, atol=1e-10)  # decompositions: LAPACK routines may differ in the last bits


# ---------------------------------------------------------------- module


def test_import_nerve_does_not_load_linalg():
    code = "import sys, nerve; print('nerve.linalg' in sys.modules); nerve.linalg; print('nerve.linalg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr


def test_linalg_error_is_a_runtime_error():
    assert issubclass(NL.LinAlgError, RuntimeError)
    with pytest.raises(NL.LinAlgError):
        nerve.zeros(2, 2).inverse()  # Tensor.inverse raises it too, as torch.inverse


# ---------------------------------------------------------------- inverse, determinants, solve


def test_inv_det_slogdet_matrix_power(device):
    a = _well(2, 3, 4, 4)
    compare(torch, NL.inv, TL.inv, [a], [True], device)
    compare(torch, NL.det, TL.det, [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.slogdet(t).logabsdet, lambda t: TL.slogdet(t).logabsdet, [a], [True], device)
    sn, st = NL.slogdet(_nt(a, device)), TL.slogdet(torch.tensor(a))
    assert type(sn).__name__ == "linalg_slogdet"
    np.testing.assert_array_equal(to_np(sn.sign), st.sign.numpy())
    for n in (-2, 0, 3):
        compare(torch, lambda t: NL.matrix_power(t, n), lambda t: TL.matrix_power(t, n), [a], [True], device,
                tol=TIGHT)
    _gradcheck(NL.inv, _well(2, 3, 3), device=device)


@pytest.mark.parametrize("a_shape,b_shape,left", [
    ((2, 4, 4), (2, 4, 3), True),     # matrices
    ((2, 4, 4), (2, 4), True),        # a batch of vectors (B is A's shape without the last dim)
    ((3, 4, 4), (4,), True),          # one vector for the batch
    ((4, 4), (2, 3, 4, 2), True),     # batches broadcast
    ((3, 3, 3), (3, 3), True),        # ambiguous: vectors, as torch
    ((2, 4, 4), (2, 3, 4), False),    # X A = B
])
def test_solve(device, a_shape, b_shape, left):
    a, b = _well(*a_shape), _rand(*b_shape)
    compare(torch, lambda x, y: NL.solve(x, y, left=left), lambda x, y: TL.solve(x, y, left=left), [a, b],
            [True, True], device)


def test_solve_triangular(device):
    a, b = _well(2, 4, 4), _rand(2, 4, 3)
    for upper in (True, False):
        for unit in (False, True):
            compare(torch, lambda x, y: NL.solve_triangular(x, y, upper=upper, unitriangular=unit),
                    lambda x, y: TL.solve_triangular(x, y, upper=upper, unitriangular=unit), [a, b], [True, True],
                    device, tol=TIGHT)
    compare(torch, lambda x, y: NL.solve_triangular(x, y, upper=True, left=False),
            lambda x, y: TL.solve_triangular(x, y, upper=True, left=False), [a, np.swapaxes(b, -1, -2)],
            [True, True], device, tol=TIGHT)
    # a zero on the diagonal: inf and NaN, as LAPACK's trsm (no error)
    out = NL.solve_triangular(nerve.zeros(2, 2, dtype=nerve.float64), nerve.ones(2, 1, dtype=nerve.float64), upper=True)
    ref = TL.solve_triangular(torch.zeros(2, 2, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64), upper=True)
    np.testing.assert_array_equal(to_np(out), ref.numpy())


def test_inv_ex_solve_ex_info(device):
    sing = np.array([[1.0, 2, 3], [2, 4, 6], [1, 0, 1]])
    a = np.stack([_well(3, 3), sing])
    inv, info = NL.inv_ex(_nt(a, device))
    ref = TL.inv_ex(torch.tensor(a))
    assert type(NL.inv_ex(_nt(a, device))).__name__ == "linalg_inv_ex"
    np.testing.assert_array_equal(to_np(info), ref.info.numpy())  # [0, 3]: the zero pivot, as LAPACK's getrf
    assert to_np(info).dtype == np.int32
    np.testing.assert_allclose(to_np(inv)[0], ref.inverse[0].numpy(), rtol=1e-12)
    assert np.isnan(to_np(inv)[1]).all()  # torch leaves getri's inf / NaN there
    res, info = NL.solve_ex(_nt(a, device), _nt(np.ones(3), device))
    np.testing.assert_array_equal(to_np(info), TL.solve_ex(torch.tensor(a), torch.ones(3, dtype=torch.float64)).info)
    np.testing.assert_allclose(to_np(res)[0], np.linalg.solve(a[0], np.ones(3)), rtol=1e-12)
    ok = NL.inv_ex(_nt(_well(2, 3, 3), device))
    np.testing.assert_array_equal(to_np(ok.info), [0, 0])
    # info has A's own batch shape, not the batch that B broadcasts it to (as torch)
    for b_shape in ((3, 2, 3, 1), (4, 2, 3, 2)):
        got = NL.solve_ex(_nt(a, device), _nt(np.ones(b_shape), device))
        ref = TL.solve_ex(torch.tensor(a), torch.ones(b_shape, dtype=torch.float64))
        np.testing.assert_array_equal(to_np(got.info), ref.info.numpy())
        assert tuple(got.result.shape) == tuple(ref.result.shape)
        np.testing.assert_allclose(to_np(got.result)[..., 0, :, :], ref.result[..., 0, :, :].numpy(), rtol=1e-12)


# ---------------------------------------------------------------- cholesky


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(device, upper):
    s = _spd(2, 3, 4, 4)
    compare(torch, lambda t: NL.cholesky(t, upper=upper), lambda t: TL.cholesky(t, upper=upper), [s], [True], device,
            tol=TIGHT)
    compare(torch, lambda t: NL.cholesky_ex(t, upper=upper).L, lambda t: TL.cholesky_ex(t, upper=upper).L, [s], [True],
            device, tol=TIGHT)
    # only one triangle is read, as LAPACK's potrf
    junk = s + np.triu(_rand(4, 4), 1) if not upper else s + np.tril(_rand(4, 4), -1)
    compare(torch, lambda t: NL.cholesky(t, upper=upper), lambda t: TL.cholesky(t, upper=upper), [junk], [False], device,
            tol=TIGHT)


def test_cholesky_ex_partial_factor_and_info(device):
    cases = [np.array([[4.0, 2, 1], [2, 1, 3], [1, 3, 5]]), np.array([[-4.0, 2, 1], [2, -1, 3], [1, 3, 5]]),
             np.stack([_spd(3, 3), np.array([[4.0, 2, 1], [2, -1, 3], [1, 3, 5]])])]
    for a in cases:
        for upper in (False, True):
            got, ref = NL.cholesky_ex(_nt(a, device), upper=upper), TL.cholesky_ex(torch.tensor(a), upper=upper)
            assert type(got).__name__ == "linalg_cholesky_ex"
            np.testing.assert_array_equal(to_np(got.info), ref.info.numpy())
            np.testing.assert_allclose(to_np(got.L), ref.L.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- qr, eigh, svd


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 5), (2, 4, 4)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr(device, shape, mode):
    a = _rand(*shape)
    Q, R = NL.qr(_nt(a, device), mode)
    Qt, Rt = TL.qr(torch.tensor(a), mode)
    # both are LAPACK's geqrf + orgqr: the same signs
    np.testing.assert_allclose(to_np(Q), Qt.numpy(), **TIGHT)
    np.testing.assert_allclose(to_np(R), Rt.numpy(), **TIGHT)
    if mode == "complete" and shape[-2] > shape[-1]:
        return  # not differentiable (tested with the errors)
    compare(torch, lambda t: NL.qr(t, mode).Q, lambda t: TL.qr(t, mode).Q, [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.qr(t, mode).R, lambda t: TL.qr(t, mode).R, [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: (lambda q, r: q.sum(-1, keepdim=True) * r.sum(-2, keepdim=True))(*NL.qr(t, mode)),
            lambda t: (lambda q, r: q.sum(-1, keepdim=True) * r.sum(-2, keepdim=True))(*TL.qr(t, mode)), [a], [True],
            device, tol=TIGHT)


def test_qr_r_mode():
    a = _rand(4, 3)
    q, r = NL.qr(nerve.tensor(a), mode="r")
    assert tuple(q.shape) == (0,)
    np.testing.assert_allclose(to_np(r), TL.qr(torch.tensor(a), mode="r").R.numpy(), **TIGHT)


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(device, uplo):
    s = _sym(2, 3, 4, 4) + np.diag([0.0, 3, 6, 9])  # well-separated eigenvalues
    junk = s + (np.triu(_rand(4, 4), 1) if uplo == "L" else np.tril(_rand(4, 4), -1))  # the other triangle unread
    for a in (s, junk):
        compare(torch, lambda t: NL.eigh(t, uplo).eigenvalues, lambda t: TL.eigh(t, uplo).eigenvalues, [a], [True],
                device, tol=TIGHT)
        compare(torch, lambda t: NL.eigvalsh(t, uplo), lambda t: TL.eigvalsh(t, uplo), [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.eigh(t, uplo).eigenvectors.abs(), lambda t: TL.eigh(t, uplo).eigenvectors.abs(), [s],
            [True], device, tol=TIGHT)

    def recon(mod):
        return lambda t: (lambda w, v: (v * w.unsqueeze(-2).exp()) @ v.mT)(*_both(mod).eigh(t, uplo))

    compare(torch, recon(nerve), recon(torch), [s], [True], device, tol=TIGHT)
    assert type(NL.eigh(_nt(s, device))).__name__ == "linalg_eigh"


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 5), (2, 4, 4)])
@pytest.mark.parametrize("full_matrices", [True, False])
def test_svd(device, shape, full_matrices):
    a = _rand(*shape)
    k = min(shape[-2:])

    def part(mod, which):
        def fn(t):
            U, S, Vh = _both(mod).svd(t, full_matrices=full_matrices)
            if which == "S":
                return S
            if which == "U":
                return U[..., :k].abs()
            if which == "Vh":
                return Vh[..., :k, :].abs()
            return (U[..., :k] * S.unsqueeze(-2).sqrt()) @ Vh[..., :k, :] + U[..., :k].abs().sum() * Vh[..., :k, :].abs().sum()
        return fn

    for which in ("S", "U", "Vh", "all"):
        compare(torch, part(nerve, which), part(torch, which), [a], [True], device, tol=TIGHT)
    U, S, Vh = NL.svd(_nt(a, device), full_matrices=full_matrices)
    m, n = shape[-2:]
    assert tuple(U.shape) == (2, m, m if full_matrices else k) and tuple(Vh.shape) == (2, n if full_matrices else k, n)
    eye_u, eye_v = np.eye(U.shape[-1]), np.eye(Vh.shape[-2])
    np.testing.assert_allclose(to_np(U.mT @ U), np.broadcast_to(eye_u, (2,) + eye_u.shape), atol=1e-12)
    np.testing.assert_allclose(to_np(Vh @ Vh.mT), np.broadcast_to(eye_v, (2,) + eye_v.shape), atol=1e-12)
    compare(torch, NL.svdvals, TL.svdvals, [a], [True], device, tol=TIGHT)


def test_multi_output_gradients_reset_between_backward_passes():
    a = _rand(4, 3)
    t = nerve.tensor(a, requires_grad=True)
    U, S, Vh = NL.svd(t, full_matrices=False)
    S.sum().backward(retain_graph=True)
    g1 = to_np(t.grad).copy()
    t.grad = None
    U.abs().sum().backward(retain_graph=True)
    tt = torch.tensor(a, requires_grad=True)
    Ut, St, _ = TL.svd(tt, full_matrices=False)
    St.sum().backward(retain_graph=True)
    np.testing.assert_allclose(g1, tt.grad.numpy(), **TIGHT)
    tt.grad = None
    Ut.abs().sum().backward()
    np.testing.assert_allclose(to_np(t.grad), tt.grad.numpy(), **TIGHT)
    t.grad = None
    S.sum().backward()  # U's gradient is not reused
    np.testing.assert_allclose(to_np(t.grad), g1, **TIGHT)


# ---------------------------------------------------------------- pinv, lstsq, matrix_rank


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 5)])
def test_pinv(device, shape):
    a = _rand(*shape)
    compare(torch, NL.pinv, TL.pinv, [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.pinv(t, atol=1.0), lambda t: TL.pinv(t, atol=1.0), [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.pinv(t, 0.5), lambda t: TL.pinv(t, 0.5), [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: t.pinverse(), lambda t: t.pinverse(), [a], [True], device, tol=TIGHT)
    s = _spd(2, 4, 4)
    compare(torch, lambda t: NL.pinv(t, hermitian=True), lambda t: TL.pinv(t, hermitian=True), [s], [True], device,
            tol=TIGHT)


@pytest.mark.parametrize("driver", [None, "gelsy", "gelsd", "gelss", "gels"])
def test_lstsq(device, driver):
    a, b = _rand(2, 6, 3), _rand(2, 6, 2)
    # torch's reference runs on the CPU: name the driver a CUDA tensor gets by default (gels) there
    cpu_driver = driver or ("gels" if device == "cuda" else None)
    for x, y in ((a, b), (a, b[..., 0]), (np.swapaxes(a, -1, -2)[..., :3, :], b[..., :3, :]), (a[:1], b)):
        got = NL.lstsq(_nt(x, device), _nt(y, device), driver=driver)
        ref = TL.lstsq(torch.tensor(x), torch.tensor(y), driver=cpu_driver)
        assert type(got).__name__ == "linalg_lstsq"
        for name in ("solution", "residuals", "rank", "singular_values"):
            g, r = to_np(getattr(got, name)), getattr(ref, name).numpy()
            assert g.shape == r.shape and g.dtype == r.dtype, (name, g.shape, r.shape)
            np.testing.assert_allclose(g, r, **TIGHT, err_msg=name)
    compare(torch, lambda x, y: NL.lstsq(x, y, driver=driver).solution,
            lambda x, y: TL.lstsq(x, y, driver=driver).solution, [a, b], [True, True], device, tol=TIGHT)
    if driver in ("gelsd", "gels"):
        compare(torch, lambda x, y: NL.lstsq(x, y, driver=driver).residuals,
                lambda x, y: TL.lstsq(x, y, driver=driver).residuals, [a, b], [True, True], device, tol=TIGHT)
    # rank-deficient: the minimum-norm solution
    d = a.copy()
    d[..., 2] = d[..., 1]
    if cpu_driver != "gels":
        got = NL.lstsq(_nt(d, device), _nt(b, device), driver=driver)
        ref = TL.lstsq(torch.tensor(d), torch.tensor(b), driver=cpu_driver)
        np.testing.assert_allclose(to_np(got.solution), ref.solution.numpy(), rtol=1e-7, atol=1e-9)
        np.testing.assert_array_equal(to_np(got.rank), ref.rank.numpy())


def test_matrix_rank(device):
    a = _rand(2, 5, 3)
    d = a.copy()
    d[..., 2] = 2 * d[..., 0]
    for x in (a, d):
        for kw in ({}, {"atol": 1.0}, {"atol": 1.0, "rtol": 0.5}, {"rtol": 0.3}):
            np.testing.assert_array_equal(to_np(NL.matrix_rank(_nt(x, device), **kw)),
                                          TL.matrix_rank(torch.tensor(x), **kw).numpy())
        np.testing.assert_array_equal(to_np(NL.matrix_rank(_nt(x, device), 1.0)), TL.matrix_rank(torch.tensor(x), 1.0))
        g = np.swapaxes(x, -1, -2) @ x
        np.testing.assert_array_equal(to_np(NL.matrix_rank(_nt(g, device), hermitian=True)),
                                      TL.matrix_rank(torch.tensor(g), hermitian=True).numpy())
    assert NL.matrix_rank(_nt(a, device)).dtype == nerve.int64


# ---------------------------------------------------------------- norms


@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, 1.5, -1, -2.5, INF, -INF, 0])
def test_vector_norm(device, ord):
    x = _rand(3, 4, 5)
    for dim, keepdim in ((None, False), (1, False), ((0, 2), True), (-1, True)):
        compare(torch, lambda t: NL.vector_norm(t, ord, dim, keepdim), lambda t: TL.vector_norm(t, ord, dim, keepdim),
                [x], [ord != 0], device)
    if ord != 0:
        _gradcheck(lambda t: NL.vector_norm(t, ord, dim=1), _rand(2, 3), device=device)


def test_vector_norm_zero_vector_and_ties_and_dtype(device):
    z = np.zeros((2, 3))
    compare(torch, lambda t: NL.vector_norm(t, dim=1), lambda t: TL.vector_norm(t, dim=1), [z], [True], device)
    ties = np.array([[2.0, -2.0, 1.0], [0.0, 3.0, 3.0]])
    compare(torch, lambda t: NL.vector_norm(t, INF, dim=1), lambda t: TL.vector_norm(t, INF, dim=1), [ties], [True],
            device)
    x = _rand(3, 4).astype(np.float32)
    out = NL.vector_norm(_nt(x, device), dtype=nerve.float64)
    assert out.dtype == nerve.float64
    np.testing.assert_allclose(to_np(out), TL.vector_norm(torch.tensor(x), dtype=torch.float64).numpy(), rtol=1e-12)
    got = NL.vector_norm(_nt(x, device), axis=1, keepdims=True)  # NumPy's names, as everywhere in nerve
    assert tuple(got.shape) == (3, 1)


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, INF, -INF])
def test_matrix_norm(device, ord):
    a = _rand(2, 5, 3)
    compare(torch, lambda t: NL.matrix_norm(t, ord), lambda t: TL.matrix_norm(t, ord), [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.matrix_norm(t, ord, dim=(2, 0), keepdim=True),
            lambda t: TL.matrix_norm(t, ord, dim=(2, 0), keepdim=True), [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.norm(t, ord, dim=(0, 1)), lambda t: TL.norm(t, ord, dim=(0, 1)), [a], [True], device,
            tol=TIGHT)
    compare(torch, lambda t: NL.norm(t, ord), lambda t: TL.norm(t, ord), [a[0]], [True], device, tol=TIGHT)


def test_norm_dispatch(device):
    a = _rand(2, 3, 4)
    compare(torch, NL.norm, TL.norm, [a], [True], device)  # all elements, any ndim
    compare(torch, lambda t: NL.norm(t, dim=1), lambda t: TL.norm(t, dim=1), [a], [True], device)
    compare(torch, lambda t: NL.norm(t, 3, dim=-1, keepdim=True), lambda t: TL.norm(t, 3, dim=-1, keepdim=True), [a],
            [True], device)
    compare(torch, lambda t: NL.norm(t, dim=(0, 2)), lambda t: TL.norm(t, dim=(0, 2)), [a], [True], device)
    compare(torch, lambda t: NL.norm(t[0, 0], 0.5), lambda t: TL.norm(t[0, 0], 0.5), [a], [True], device)
    compare(torch, lambda t: NL.cond(t[..., :3]), lambda t: TL.cond(t[..., :3]), [a], [True], device, tol=TIGHT)
    for p in ("fro", "nuc", INF, 1, -2):
        compare(torch, lambda t: NL.cond(t, p), lambda t: TL.cond(t, p), [_well(2, 3, 3)], [False], device, tol=TIGHT)


# ---------------------------------------------------------------- matrix_exp


def test_matrix_exp(device):
    base = _rand(3, 4, 4)
    for scale in (0.001, 0.1, 1.0, 3.0, 20.0):  # every Pade degree, and scaling and squaring
        a = base * scale
        compare(torch, NL.matrix_exp, TL.matrix_exp, [a], [True], device,
                tol=dict(rtol=1e-9 * max(1.0, scale), atol=1e-10))
    mixed = np.stack([base[0] * 0.01, base[1] * 10.0])  # each matrix its own scaling
    compare(torch, NL.matrix_exp, TL.matrix_exp, [mixed], [True], device, tol=dict(rtol=1e-8, atol=1e-10))
    compare(torch, lambda t: t.matrix_exp(), lambda t: t.matrix_exp(), [base], [True], device)
    compare(torch, nerve.matrix_exp, torch.matrix_exp, [base], [True], device)
    np.testing.assert_allclose(to_np(NL.matrix_exp(_nt(np.zeros((2, 3, 3)), device))),
                               np.broadcast_to(np.eye(3), (2, 3, 3)))


# ---------------------------------------------------------------- products, shapes


def test_multi_dot_cross_vecdot_diagonal(device):
    chains = [
        [_rand(3, 4), _rand(4, 2)],
        [_rand(4), _rand(4, 7), _rand(7, 2), _rand(2)],
        [_rand(6, 2), _rand(2, 9), _rand(9, 3), _rand(3, 5)],
        [_rand(3), _rand(3)],
    ]
    for arrays in chains:
        compare(torch, lambda *ts: NL.multi_dot(ts), lambda *ts: TL.multi_dot(ts), arrays, [True] * len(arrays), device)
    compare(torch, NL.cross, TL.cross, [_rand(4, 3), _rand(1, 3)], [True, True], device)
    compare(torch, lambda x, y: NL.cross(x, y, dim=0), lambda x, y: TL.cross(x, y, dim=0), [_rand(3, 2), _rand(3, 2)],
            [True, True], device)
    compare(torch, NL.vecdot, TL.vecdot, [_rand(4, 3), _rand(3)], [True, True], device)
    compare(torch, lambda x, y: NL.vecdot(x, y, dim=0), lambda x, y: TL.vecdot(x, y, dim=0), [_rand(4, 3), _rand(4, 1)],
            [True, True], device)
    compare(torch, NL.diagonal, TL.diagonal, [_rand(2, 3, 4)], [True], device)
    compare(torch, lambda t: NL.diagonal(t, offset=1, dim1=0, dim2=2), lambda t: TL.diagonal(t, offset=1, dim1=0, dim2=2),
            [_rand(3, 2, 4)], [True], device)
    compare(torch, lambda t: NL.vander(t, N=4), lambda t: TL.vander(t, N=4), [_rand(2, 3)], [True], device)


def test_tensorinv_tensorsolve(device):
    a = _rand(4, 6, 8, 3) + 4 * np.eye(24).reshape(4, 6, 8, 3)
    compare(torch, NL.tensorinv, TL.tensorinv, [a], [True], device, tol=TIGHT)
    compare(torch, lambda t: NL.tensorinv(t, 1), lambda t: TL.tensorinv(t, 1), [_well(5, 5)], [True], device)
    b = _rand(2, 3, 6) + 3 * np.eye(6).reshape(2, 3, 6)
    compare(torch, NL.tensorsolve, TL.tensorsolve, [b, _rand(2, 3)], [True, True], device, tol=TIGHT)
    c = np.moveaxis(b, 2, 0)
    compare(torch, lambda x, y: NL.tensorsolve(x, y, dims=(0,)), lambda x, y: TL.tensorsolve(x, y, dims=(0,)),
            [c, _rand(2, 3)], [True, True], device, tol=TIGHT)


# ---------------------------------------------------------------- torch's top-level names, Tensor methods


def test_top_level_and_methods(device):
    a = _rand(2, 5, 3)

    def legacy_svd(mod, some=True, method=False):
        def fn(t):
            U, S, V = t.svd(some) if method else mod.svd(t, some)
            k = S.shape[-1]
            return (U[..., :k] * S.unsqueeze(-2)) @ V[..., :k].mT + V.abs().sum()
        return fn

    for some in (True, False):
        compare(torch, legacy_svd(nerve, some), legacy_svd(torch, some), [a], [True], device, tol=TIGHT)
        compare(torch, legacy_svd(nerve, some, True), legacy_svd(torch, some, True), [a], [True], device, tol=TIGHT)
    U, S, V = nerve.svd(_nt(a, device), compute_uv=False)
    Ut, St, Vt = torch.svd(torch.tensor(a), compute_uv=False)
    assert type(nerve.svd(_nt(a, device))).__name__ == "svd"
    for x, y in ((U, Ut), (S, St), (V, Vt)):
        np.testing.assert_allclose(to_np(x), y.numpy(), **TIGHT)
    for some in (True, False):
        Q, R = nerve.qr(_nt(a, device), some)
        Qt, Rt = torch.linalg.qr(torch.tensor(a), "reduced" if some else "complete")
        np.testing.assert_allclose(to_np(Q), Qt.numpy(), **TIGHT)
        np.testing.assert_allclose(to_np(R), Rt.numpy(), **TIGHT)
        np.testing.assert_allclose(to_np(_nt(a, device).qr(some).R), Rt.numpy(), **TIGHT)
    s = _spd(2, 3, 3)
    for upper in (False, True):
        compare(torch, lambda t: nerve.cholesky(t, upper), lambda t: torch.linalg.cholesky(t, upper=upper), [s], [True],
                device, tol=TIGHT)
        compare(torch, lambda t: t.cholesky(upper), lambda t: torch.linalg.cholesky(t, upper=upper), [s], [True], device,
                tol=TIGHT)
    compare(torch, lambda t: nerve.pinverse(t, 0.3), lambda t: torch.pinverse(t, 0.3), [a], [True], device, tol=TIGHT)


# ---------------------------------------------------------------- float32


def test_float32_forward(device):
    f = np.float32
    a, s, r, b = _well(2, 4, 4).astype(f), _spd(2, 4, 4).astype(f), _rand(2, 5, 3).astype(f), _rand(2, 4, 2).astype(f)
    tol = dict(rtol=2e-4, atol=2e-5)
    cases = [
        (lambda L, x: L.inv(x), [a]), (lambda L, x: L.det(x), [a]), (lambda L, x, y: L.solve(x, y), [a, b]),
        (lambda L, x: L.cholesky(x), [s]), (lambda L, x: L.qr(x).R, [r]), (lambda L, x: L.eigvalsh(x), [s]),
        (lambda L, x: L.svdvals(x), [r]), (lambda L, x: L.pinv(x), [r]), (lambda L, x: L.matrix_exp(x * 0.5), [a]),
        (lambda L, x, y: L.lstsq(x, y).solution, [r, _rand(2, 5, 2).astype(f)]),
        (lambda L, x: L.matrix_norm(x, "nuc"), [r]), (lambda L, x: L.vector_norm(x, 3), [r]),
        (lambda L, x: L.norm(x, INF, dim=(1, 2)), [r]),
        (lambda L, x: (lambda U, S, Vh: (U * S.unsqueeze(-2)) @ Vh)(*L.svd(x, full_matrices=False)), [r]),
        (lambda L, x: (lambda w, v: v.abs())(*L.eigh(x)), [s]),
    ]
    for fn, arrays in cases:
        got = fn(NL, *[_nt(x, device) for x in arrays])
        ref = fn(TL, *[torch.tensor(x) for x in arrays])
        assert got.dtype == nerve.float32
        np.testing.assert_allclose(to_np(got), ref.numpy(), **tol)


# ---------------------------------------------------------------- finite differences


def _sym_of(t):
    return (t + t.mT) / 2


GRADCHECKS = {
    "inv": (lambda t: NL.inv(t), [_well(2, 3, 3)]),
    "det": (lambda t: NL.det(t), [_well(3, 3)]),
    "slogdet": (lambda t: NL.slogdet(t).logabsdet, [_well(3, 3)]),
    "solve": (lambda x, y: NL.solve(x, y), [_well(2, 3, 3), _rand(2, 3, 2)]),
    "solve_left_false": (lambda x, y: NL.solve(x, y, left=False), [_well(3, 3), _rand(2, 3)]),
    "solve_triangular": (lambda x, y: NL.solve_triangular(x, y, upper=True), [_well(3, 3), _rand(3, 2)]),
    "cholesky": (lambda t: NL.cholesky(_sym_of(t)), [_spd(2, 3, 3)]),
    "cholesky_upper": (lambda t: NL.cholesky(_sym_of(t), upper=True), [_spd(3, 3)]),
    "qr_tall": (lambda t: (lambda q, r: q * 2 + q.sum() * r.sum())(*NL.qr(t)), [_rand(4, 3)]),
    "qr_wide": (lambda t: (lambda q, r: r + q.sum())(*NL.qr(t)), [_rand(3, 4)]),
    "eigh": (lambda t: (lambda w, v: v.abs() * w.unsqueeze(-2))(*NL.eigh(_sym_of(t))), [_sym(3, 3) + np.diag([0.0, 2, 4])]),
    "eigvalsh": (lambda t: NL.eigvalsh(_sym_of(t)), [_sym(2, 3, 3)]),
    "svd_tall": (lambda t: (lambda u, s, vh: u.abs() * s.unsqueeze(-2) + vh.abs().sum())(*NL.svd(t, False)), [_rand(4, 3)]),
    "svd_wide": (lambda t: (lambda u, s, vh: vh.abs() + (u * s.unsqueeze(-2)).sum())(*NL.svd(t, False)), [_rand(2, 3)]),
    "svdvals": (lambda t: NL.svdvals(t), [_rand(2, 3, 4)]),
    "pinv": (lambda t: NL.pinv(t), [_rand(4, 3)]),
    "pinv_hermitian": (lambda t: NL.pinv(_sym_of(t), hermitian=True), [_spd(3, 3)]),
    "lstsq": (lambda x, y: NL.lstsq(x, y).solution, [_rand(4, 2), _rand(4, 2)]),
    "lstsq_residuals": (lambda x, y: NL.lstsq(x, y, driver="gelsd").residuals, [_rand(4, 2), _rand(4, 2)]),
    "matrix_norm_nuc": (lambda t: NL.matrix_norm(t, "nuc"), [_rand(3, 2)]),
    "matrix_norm_2": (lambda t: NL.matrix_norm(t, 2), [_rand(3, 2)]),
    "matrix_norm_inf": (lambda t: NL.matrix_norm(t, INF), [_rand(3, 2)]),
    "norm": (lambda t: NL.norm(t, dim=0), [_rand(3, 2)]),
    "matrix_exp": (lambda t: NL.matrix_exp(t), [_rand(2, 3, 3)]),
    "matrix_exp_scaled": (lambda t: NL.matrix_exp(t), [_rand(3, 3) * 4]),
    "matrix_power": (lambda t: NL.matrix_power(t, -2), [_well(3, 3)]),
    "multi_dot": (lambda x, y, z: NL.multi_dot([x, y, z]), [_rand(3), _rand(3, 4), _rand(4, 2)]),
    "cross": (lambda x, y: NL.cross(x, y), [_rand(2, 3), _rand(2, 3)]),
    "vecdot": (lambda x, y: NL.vecdot(x, y), [_rand(2, 3), _rand(2, 3)]),
    "tensorinv": (lambda t: NL.tensorinv(t), [_well(4, 4).reshape(2, 2, 4)]),
    "cond": (lambda t: NL.cond(t), [_rand(3, 2)]),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck(name, device):
    fn, arrays = GRADCHECKS[name]
    _gradcheck(fn, *arrays, device=device)


# ---------------------------------------------------------------- errors, as PyTorch's


def _f(*shape, dtype=np.float64):
    return np.ones(shape, dtype)


_SING = np.stack([np.eye(3), np.array([[1.0, 2, 3], [2, 4, 6], [1, 0, 1]])])
ERRORS = [
    ("inv", (np.zeros((2, 2)),), {}), ("inv", (_SING,), {}), ("inv", (_f(2, 3),), {}), ("inv", (_f(3),), {}),
    ("inv", (_f(3, 3, dtype=np.int64),), {}), ("inv", (_f(3, 3, dtype=np.float16),), {}),
    ("inv_ex", (np.zeros((2, 2)),), {"check_errors": True}),
    ("det", (_f(2, 3),), {}), ("det", (_f(3),), {}), ("slogdet", (_f(3),), {}),
    ("solve", (np.zeros((2, 2)), _f(2)), {}), ("solve", (np.stack([np.eye(2), np.zeros((2, 2))]), _f(2)), {}),
    ("solve", (np.eye(3), _f(2)), {}), ("solve", (np.eye(3), _f(2, 4)), {}), ("solve", (_f(2, 3), _f(2)), {}),
    ("solve", (np.eye(3), _f(3)), {"left": False}), ("solve", (np.eye(3), _f(3, 4)), {"left": False}),
    ("solve", (np.eye(3), _f(3, dtype=np.float32)), {}), ("solve", (_f(3, 3, dtype=np.int64), _f(3, dtype=np.int64)), {}),
    ("solve", (_f(3), _f(3)), {}),
    ("cholesky", (np.array([[1.0, 2], [2, 1]]),), {}), ("cholesky", (np.array([[1.0, 2], [2, 1]]),), {"upper": True}),
    ("cholesky", (np.stack([np.eye(2), np.array([[1.0, 2], [2, 1]])]),), {}),
    ("cholesky", (np.array([[-1.0, 2], [2, 1]]),), {}), ("cholesky", (_f(2, 3),), {}), ("cholesky", (_f(3),), {}),
    ("cholesky_ex", (np.array([[-1.0, 2], [2, 1]]),), {"check_errors": True}),
    ("qr", (_f(3),), {}), ("qr", (_f(3, 3),), {"mode": "foo"}), ("qr", (_f(3, 3, dtype=np.int64),), {}),
    ("eigh", (_f(2, 3),), {}), ("eigh", (_f(3, 3),), {"UPLO": "X"}), ("eigvalsh", (_f(3),), {}),
    ("svd", (_f(3),), {}), ("svdvals", (_f(3),), {}), ("svd", (_f(3, 3, dtype=np.int64),), {}),
    ("matrix_exp", (_f(2, 3),), {}), ("matrix_exp", (_f(3),), {}), ("matrix_exp", (_f(3, 3, dtype=np.int64),), {}),
    ("pinv", (_f(3),), {}), ("pinv", (_f(3, 3, dtype=np.int64),), {}),
    ("matrix_rank", (_f(3),), {}), ("matrix_rank", (_f(3, 3, dtype=np.int64),), {}),
    ("multi_dot", ([_f(3)],), {}), ("multi_dot", ([],), {}), ("multi_dot", ([_f(2, 3, 3), _f(3, 3)],), {}),
    ("multi_dot", ([_f(3, 3), _f(2, 3, 3)],), {}), ("multi_dot", ([_f(2, 3), _f(2, 3, 3), _f(3, 3)],), {}),
    ("multi_dot", ([_f(2, 3), _f(4, 3)],), {}), ("multi_dot", ([_f(2, 3), _f(3, 3), _f(4, 3)],), {}),
    ("multi_dot", ([_f(3, dtype=np.float32), _f(3)],), {}),
    ("norm", (_f(2, 3, 4),), {"ord": 2}), ("norm", (_f(2, 3, 4),), {"ord": "fro"}),
    ("norm", (_f(2, 3, 4),), {"ord": "fro", "dim": 1}), ("norm", (_f(2, 3, 4),), {"ord": 3, "dim": (0, 1)}),
    ("norm", (_f(2, 3, 4),), {"ord": 2, "dim": (0, 1, 2)}), ("norm", (_f(4),), {"ord": "fro"}),
    ("norm", (_f(2, 3, 4),), {"ord": "abc", "dim": (0, 1)}),
    ("vector_norm", (_f(2, 3, dtype=np.int64),), {}), ("vector_norm", (_f(2, 3),), {"ord": "fro"}),
    ("vector_norm", (_f(2, 3),), {"dim": (1, 1)}), ("vector_norm", (_f(3),), {"dim": 3}),
    ("vector_norm", (np.zeros((0, 3)),), {"ord": INF}), ("vector_norm", (np.zeros((0, 3)),), {"ord": INF, "dim": 0}),
    ("vector_norm", (np.zeros((0, 3)),), {"ord": -1, "dim": 0}),
    ("matrix_norm", (_f(2, 3, 4),), {"ord": 3}), ("matrix_norm", (_f(4),), {}),
    ("matrix_norm", (_f(2, 3, 4),), {"dim": (1, 1)}), ("matrix_norm", (_f(2, 3, 4),), {"dim": (0, 1, 2)}),
    ("matrix_norm", (_f(2, 3, 4),), {"ord": "abc"}),
    ("lstsq", (_f(3), _f(3)), {}), ("lstsq", (_f(3, 3), _f(2, 3, 3)), {}), ("lstsq", (_f(5, 3), _f(3, 2)), {}),
    ("lstsq", (_f(5, 3), _f(3)), {}), ("lstsq", (_f(5, 3), _f(5, 2, dtype=np.float32)), {}),
    ("lstsq", (_f(5, 3), _f(5, 2)), {"driver": "x"}), ("lstsq", (_f(3, 3, dtype=np.int64), _f(3, 3, dtype=np.int64)), {}),
    ("tensorinv", (_f(4, 6, 8, 3),), {"ind": 0}), ("tensorinv", (_f(4, 6, 8, 2),), {"ind": 2}),
    ("tensorsolve", (_f(2, 3, 5), _f(2, 3)), {}),
    ("vecdot", (_f(3, dtype=np.int64), _f(3, dtype=np.int64)), {}), ("vecdot", (_f(3, dtype=np.float32), _f(3)), {}),
    ("cross", (_f(3, 2), _f(3, 2)), {}), ("cross", (_f(3, 2), _f(3, 2)), {"dim": 5}), ("cross", (_f(2, 3), _f(3)), {}),
    ("matrix_power", (_f(3), 2), {}), ("matrix_power", (_f(2, 3), 2), {}),
    ("cond", (_f(2, 3), "fro"), {}), ("vander", (_f(3),), {"N": 1}),
    ("solve_triangular", (np.eye(3), _f(3)), {"upper": True}), ("solve_triangular", (np.eye(3), _f(2, 1)), {"upper": True}),
]


def _error(fn, args, mod):
    conv = [mod.tensor(a) if isinstance(a, np.ndarray) else [mod.tensor(x) for x in a] if isinstance(a, list) else a
            for a in args]
    with pytest.raises(Exception) as info:
        fn(*conv)
    return info.value


@pytest.mark.parametrize("name,args,kwargs", ERRORS, ids=[f"{e[0]}-{k}" for k, e in enumerate(ERRORS)])
def test_errors_as_torch(name, args, kwargs):
    mine = _error(lambda *a: getattr(NL, name)(*a, **kwargs), args, nerve)
    theirs = _error(lambda *a: getattr(TL, name)(*a, **kwargs), args, torch)
    assert str(mine) == str(theirs)
    if isinstance(theirs, TL.LinAlgError):
        assert isinstance(mine, NL.LinAlgError)
    assert isinstance(mine, (RuntimeError, IndexError, TypeError)) and (
        isinstance(mine, RuntimeError) == isinstance(theirs, RuntimeError))


def test_error_messages_spelled_out():
    with pytest.raises(NL.LinAlgError, match=r"linalg.inv: \(Batch element 1\): The diagonal element 3 is zero"):
        NL.inv(nerve.tensor(_SING))
    with pytest.raises(NL.LinAlgError, match=r"\(Batch element 1\): The factorization could not be completed because "
                                             r"the input is not positive-definite \(the leading minor of order 2 is not"):
        NL.cholesky(nerve.tensor(np.stack([np.eye(2), np.array([[1.0, 2], [2, 1]])])))
    with pytest.raises(NL.LinAlgError, match="torch.linalg.solve: The solver failed because the input matrix is singular"):
        NL.solve(nerve.zeros(2, 2), nerve.ones(2))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes of A and B for the equation AX = B \(3x3 and 2x4\)"):
        NL.solve(nerve.eye(3), nerve.ones(2, 4))
    with pytest.raises(RuntimeError, match="A must be batches of square matrices, but they are 2 by 3 matrices"):
        NL.det(nerve.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"cholesky: .*leading minor of order 1"):
        nerve.cholesky(nerve.tensor([[-1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(RuntimeError, match="linalg.svd: input should have at least 2 dimensions, but has 1"):
        nerve.svd(nerve.ones(3))


def test_backward_errors():
    a = nerve.tensor(_rand(5, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        NL.qr(a, mode="complete").R.sum().backward()
    with pytest.raises(RuntimeError, match="The derivative of linalg.qr depends on Q, which is not computed when mode='r'"):
        NL.qr(a, mode="r").R.sum().backward()
