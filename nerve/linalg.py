"""``nerve.linalg``: PyTorch's ``torch.linalg`` on NumPy's (or CuPy's) LAPACK.

Every function takes batches of matrices in the leading dimensions, float32 or float64, and is
differentiable where PyTorch's is, with PyTorch's backward formulas (``FunctionsManual.cpp``:
svd_backward, linalg_eig_backward, linalg_qr_backward, cholesky_backward, pinv_backward, the
block-triangular matrix-function trick for matrix_exp). Singular vectors and eigenvectors are
defined up to sign, so losses should not depend on it (``U @ diag(S) @ Vh``, ``|U|``, functions
of the singular values), as in PyTorch.

The ops' forward and backward sit side by side here, as in ``nerve/ops.py``. A decomposition
with several differentiable outputs (svd, eigh, qr) is one op whose outputs travel packed along
the last axis and are handed out as parts, so its backward sees all their gradients at once
(None for the outputs the loss did not use). This module loads on first use (``nerve.linalg``)
so that ``import nerve`` stays light.
"""

from __future__ import annotations

import builtins
import collections
import math

import numpy as _np

from . import autograd as _autograd
from . import dtypes as _dt
from .autograd import Function
from .ops import Inverse, LinAlgError, _errstate, first_failure, linalg_errors, lu_info
from .tensor import _TORCH_NAMES, Tensor, _one_axis, _takes_dim, _torch_name, numpy_aliases

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv",
    "inv_ex", "lstsq", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv",
    "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv", "tensorsolve",
    "vander", "vecdot", "vector_norm",
]

SVDResult = collections.namedtuple("linalg_svd", ["U", "S", "Vh"])
EighResult = collections.namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
QRResult = collections.namedtuple("linalg_qr", ["Q", "R"])
SlogdetResult = collections.namedtuple("linalg_slogdet", ["sign", "logabsdet"])
InvExResult = collections.namedtuple("linalg_inv_ex", ["inverse", "info"])
CholeskyExResult = collections.namedtuple("linalg_cholesky_ex", ["L", "info"])
SolveExResult = collections.namedtuple("linalg_solve_ex", ["result", "info"])
LstsqResult = collections.namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
SVDLegacyResult = collections.namedtuple("svd", ["U", "S", "V"])  # torch.svd: V, not V^H
QRLegacyResult = collections.namedtuple("qr", ["Q", "R"])

_INF = float("inf")


# ---------------------------------------------------------------- checks


def _tensor_arg(A, name: str, arg: str = "A") -> Tensor:
    if not isinstance(A, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(A).__name__}")
    return A


def _floating(A: Tensor, name: str) -> Tensor:
    dt = A._data.dtype
    if dt.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {_torch_name(A)}")
    if dt.itemsize < 4:  # NumPy's LAPACK has no half precision, nor has PyTorch's
        raise RuntimeError(f"{name}: Low precision dtypes not supported. Got {_torch_name(A)}")
    return A


def _matrices(A, name: str, square: bool = False, arg: str = "A") -> Tensor:
    """``A`` as PyTorch's linalg functions check it: a tensor of 2 or more dims, floating, square."""
    _tensor_arg(A, name, arg)
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")
    _floating(A, name)
    if square and A.shape[-1] != A.shape[-2]:
        _not_square(A, name)
    return A


def _not_square(A: Tensor, name: str):
    raise RuntimeError(f"{name}: A must be batches of square matrices, but they are {A.shape[-2]} by "
                       f"{A.shape[-1]} matrices")


def _same_dtype(A: Tensor, B: Tensor, name: str, a: str = "A", b: str = "B"):
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f"{name}: Expected {a} and {b} to have the same dtype, but found {a} of type "
                           f"{_torch_name(A)} and {b} of type {_torch_name(B)} instead")


def _batch_shape(name: str, *shapes) -> tuple:
    try:
        return tuple(_np.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(f"{name}: the batch dimensions {' and '.join(str(list(s)) for s in shapes)} "
                           "cannot be broadcast together") from None


def _wants_grad(*tensors) -> bool:
    return _autograd._enabled and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def _eps(A: Tensor) -> float:
    return float(_np.finfo(A._data.dtype).eps)


def _ord_str(p) -> str:
    if isinstance(p, str):
        return p
    p = float(p)
    return ("inf" if p > 0 else "-inf") if math.isinf(p) else (str(int(p)) if p.is_integer() else str(p))


# ---------------------------------------------------------------- array helpers (raw arrays, any xp)


def _mT(a):
    return a.swapaxes(-1, -2)


def _diag_set(xp, a, value) -> None:
    """Write ``value`` (a number, or an array of the batch shape + (n,)) on the diagonals of ``a`` in place."""
    i = xp.arange(builtins.min(a.shape[-2:]))
    a[..., i, i] = value


def _bsolve(xp, a, b):
    """``a^-1 b`` for batches of square ``a`` and matrices ``b`` whose batch dims broadcast: NumPy's
    solve broadcasts them, CuPy's wants them equal."""
    if xp is not _np and a.shape[:-2] != b.shape[:-2]:
        batch = tuple(_np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        a = xp.ascontiguousarray(xp.broadcast_to(a, batch + a.shape[-2:]))
        b = xp.ascontiguousarray(xp.broadcast_to(b, batch + b.shape[-2:]))
    return xp.linalg.solve(a, b)


def _solve_right(xp, a, b):
    """``b a^-1`` for batches of square ``a`` (``X a = b``)."""
    return _mT(_bsolve(xp, _mT(a), _mT(b)))


def _no_warnings(xp):
    return _np.errstate(divide="ignore", invalid="ignore", over="ignore") if xp is _np else _errstate(xp)


# ---------------------------------------------------------------- ops with several outputs


class _Packed(Function):
    """An op with several differentiable outputs. ``compute(xp, *arrays)`` returns them (sharing the
    batch shape ``self.batch``); when the graph is recorded they leave packed along the last axis and
    ``_Part`` ops hand them out; ``grads(xp, *gradients)`` gets None for the outputs no loss used."""

    pack = False

    def forward(self, xp, *arrays):
        outs = self.outs = self.compute(xp, *arrays)
        if not self.pack:
            return outs[0]
        nb = len(self.batch)
        self.shapes = [o.shape for o in outs]
        sizes = [math.prod(o.shape[nb:]) for o in outs]
        self.bounds = [(sum(sizes[:k]), sum(sizes[:k + 1])) for k in range(len(outs))]
        self.used = [False] * len(outs)
        return xp.concatenate([o.reshape(self.batch + (s,)) for o, s in zip(outs, sizes)], axis=-1)

    def backward(self, xp, g):
        grads = [g[..., a:b].reshape(shape) if used else None
                 for (a, b), shape, used in zip(self.bounds, self.shapes, self.used)]
        self.used = [False] * len(grads)
        return self.grads(xp, *grads)


class _Part(Function):
    """One output of a ``_Packed`` op: its slice of the packed array."""

    def forward(self, xp, packed):
        self.packed_shape = packed.shape
        return packed[..., self.start:self.stop].reshape(self.shape)

    def backward(self, xp, g):
        self.node.used[self.k] = True  # the packed op's backward runs after every part's
        out = xp.zeros(self.packed_shape, g.dtype)
        out[..., self.start:self.stop] = g.reshape(self.packed_shape[:-1] + (self.stop - self.start,))
        return out


def _outputs(cls, inputs, **attrs) -> tuple:
    """Run a ``_Packed`` op on tensors; its outputs as tensors."""
    fn = cls()
    fn.__dict__.update(attrs)
    fn.pack = _wants_grad(*inputs)
    packed = fn.run(inputs)
    if not fn.pack:
        return tuple(packed._wrap(o) for o in fn.outs)
    return tuple(_Part.apply(packed, node=fn, k=k, start=a, stop=b, shape=shape)
                 for k, ((a, b), shape) in enumerate(zip(fn.bounds, fn.shapes)))


def _run(cls, inputs, **attrs):
    """Run an op on tensors; the output tensor and the op (for what it kept: info, ...)."""
    fn = cls()
    fn.__dict__.update(attrs)
    return fn.run(inputs), fn


# ---------------------------------------------------------------- svd


def svd_backward(xp, gU, gS, gVh, U, S, Vh):
    """PyTorch's svd_backward for real matrices (reduced U (m, k), S (k), Vh (k, n)); distinct
    singular values, full rank when rectangular and U or Vh is used."""
    m, n = U.shape[-2], Vh.shape[-1]
    if gU is None and gVh is None:
        if gS is None:
            return None
        return xp.matmul(U, gS[..., :, None] * Vh) if m >= n else xp.matmul(U * gS[..., None, :], Vh)
    with _no_warnings(xp):
        S2 = S * S
        E = S2[..., None, :] - S2[..., :, None]
        _diag_set(xp, E, 1)
        if gU is not None:
            UhgU = xp.matmul(_mT(U), gU)
            UhgU = UhgU - _mT(UhgU)
        if gVh is not None:
            VhgV = xp.matmul(Vh, _mT(gVh))
            VhgV = VhgV - _mT(VhgV)
        if gU is not None and gVh is not None:
            gA = (UhgU * S[..., None, :] + S[..., :, None] * VhgV) / E
        elif gU is not None:
            gA = (UhgU / E) * S[..., None, :]
        else:
            gA = S[..., :, None] * (VhgV / E)
        if gS is not None:
            _diag_set(xp, gA, gA.diagonal(0, -2, -1) + gS)
        if m > n and gU is not None:  # gA = [U gA + (I - U U^T) gU S^-1] V^T
            gUSinv = gU / S[..., None, :]
            gA = xp.matmul(U, gA) + gUSinv - xp.matmul(U, xp.matmul(_mT(U), gUSinv))
            return xp.matmul(gA, Vh)
        if m < n and gVh is not None:  # gA = U [gA V^T + S^-1 gVh (I - V V^T)]
            SinvgVh = gVh / S[..., :, None]
            gA = xp.matmul(gA, Vh) + SinvgVh - xp.matmul(xp.matmul(SinvgVh, _mT(Vh)), Vh)
            return xp.matmul(U, gA)
        return xp.matmul(U, xp.matmul(gA, Vh)) if m >= n else xp.matmul(xp.matmul(U, gA), Vh)


def _svd_arrays(xp, a, full_matrices: bool = True, compute_uv: bool = True):
    m, n = a.shape[-2:]
    if a.size == 0:  # LAPACK needs no call: identity singular vectors, no singular values
        k, batch = builtins.min(m, n), a.shape[:-2]
        s = xp.zeros(batch + (k,), a.dtype)
        if not compute_uv:
            return s
        eye = lambda r, c: xp.broadcast_to(xp.eye(r, c, dtype=a.dtype), batch + (r, c)).copy()  # noqa: E731
        return eye(m, m if full_matrices else k), s, eye(n if full_matrices else k, n)
    return xp.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)


class SVD(_Packed):
    """``A = U diag(S) Vh``; gradients of the columns of U (rows of Vh) past min(m, n) are ignored
    with ``full_matrices``, as PyTorch."""

    def compute(self, xp, a):
        u, s, vh = _svd_arrays(xp, a, self.full_matrices)
        k = s.shape[-1]
        self.batch = a.shape[:-2]
        self.u, self.s, self.vh = u[..., :k], s, vh[..., :k, :]
        return u, s, vh

    def grads(self, xp, gu, gs, gvh):
        k = self.s.shape[-1]
        return svd_backward(xp, None if gu is None else gu[..., :k], gs, None if gvh is None else gvh[..., :k, :],
                            self.u, self.s, self.vh)


class SVDVals(Function):
    """The singular values; the gradient is ``U diag(g) Vh``."""

    def forward(self, xp, a):
        if not self.need_grad:
            return _svd_arrays(xp, a, compute_uv=False)
        self.u, self.s, self.vh = _svd_arrays(xp, a, full_matrices=False)
        return self.s

    def backward(self, xp, g):
        return svd_backward(xp, None, g, None, self.u, self.s, self.vh)


def svd(A: Tensor, full_matrices: bool = True, *, driver=None) -> SVDResult:
    """``(U, S, Vh)`` with ``A = U @ diag(S) @ Vh``, singular values descending (``torch.linalg.svd``)."""
    _matrices(A, "linalg.svd")
    return SVDResult(*_outputs(SVD, (A,), full_matrices=bool(full_matrices)))


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of ``A``, descending."""
    _matrices(A, "linalg.svd")
    return SVDVals.apply(A, need_grad=_wants_grad(A))


# ---------------------------------------------------------------- eigh


def eigh_backward(xp, gL, gV, L, V):
    """PyTorch's linalg_eig_backward for symmetric matrices (distinct eigenvalues when V is used)."""
    if gV is None:
        return xp.matmul(V * gL[..., None, :], _mT(V))
    VhgV = xp.matmul(_mT(V), gV)
    VhgV = 0.5 * (VhgV - _mT(VhgV))
    E = L[..., None, :] - L[..., :, None]
    _diag_set(xp, E, 1)
    with _no_warnings(xp):
        gA = VhgV / E
    _diag_set(xp, gA, 0 if gL is None else gL)
    return xp.matmul(V, xp.matmul(gA, _mT(V)))


def _uplo(UPLO) -> str:
    u = str(UPLO).upper()
    if u not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return u


class Eigh(_Packed):
    def compute(self, xp, a):
        self.batch = a.shape[:-2]
        self.w, self.v = xp.linalg.eigh(a, UPLO=self.uplo)
        return self.w, self.v

    def grads(self, xp, gw, gv):
        if gw is None and gv is None:
            return None
        return eigh_backward(xp, gw, gv, self.w, self.v)


class EigvalsH(Function):
    def forward(self, xp, a):
        if not self.need_grad:
            return xp.linalg.eigvalsh(a, UPLO=self.uplo)
        self.w, self.v = xp.linalg.eigh(a, UPLO=self.uplo)
        return self.w

    def backward(self, xp, g):
        return eigh_backward(xp, g, None, self.w, self.v)


def eigh(A: Tensor, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, from the lower (``'L'``)
    or upper (``'U'``) triangle. The gradient is PyTorch's, symmetric: differentiate through a symmetric
    parametrisation (``(X + X.mT) / 2``) for finite differences to agree."""
    _matrices(A, "linalg.eigh", square=True)
    return EighResult(*_outputs(Eigh, (A,), uplo=_uplo(UPLO)))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of symmetric matrices, ascending."""
    _matrices(A, "linalg.eigh", square=True)
    return EigvalsH.apply(A, uplo=_uplo(UPLO), need_grad=_wants_grad(A))


# ---------------------------------------------------------------- qr

_QR_R_ONLY = ("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
              "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")


def qr_backward(xp, gQ, gR, Q, R, mode: str):
    """PyTorch's linalg_qr_backward (real case)."""
    m, n = Q.shape[-2], R.shape[-1]
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    if gQ is None and gR is None:
        return None
    if gQ is None:
        gA = xp.matmul(gR, _mT(R))
    else:
        gA = -xp.matmul(_mT(Q), gQ)
        if gR is not None:
            gA = gA + xp.matmul(gR, _mT(R))
    if m >= n:
        t = xp.triu(gA)
        sym = t + _mT(t)
        _diag_set(xp, sym, 0.5 * sym.diagonal(0, -2, -1))
        gA = xp.matmul(Q, sym)
        if gQ is not None:
            gA = gA + gQ
        return _solve_right(xp, _mT(R), gA)  # gA R^-T
    gA = -gA
    gA = xp.matmul(Q, xp.tril(gA - _mT(gA)))
    gA = _solve_right(xp, _mT(R[..., :m]), gA)
    gA = xp.concatenate([gA, xp.zeros(gA.shape[:-1] + (n - m,), gA.dtype)], axis=-1)
    if gR is not None:
        gA = gA + xp.matmul(Q, gR)
    return gA


class QR(_Packed):
    def compute(self, xp, a):
        self.batch = a.shape[:-2]
        self.q, self.r = xp.linalg.qr(a, mode=self.mode)
        return self.q, self.r

    def grads(self, xp, gq, gr):
        return qr_backward(xp, gq, gr, self.q, self.r, self.mode)


class QRR(Function):
    """R alone (``mode='r'``): not differentiable, as in PyTorch."""

    def forward(self, xp, a):
        return xp.linalg.qr(a, mode="r")

    def backward(self, xp, g):
        raise RuntimeError(_QR_R_ONLY)


def qr(A: Tensor, mode: str = "reduced") -> QRResult:
    """``A = Q R`` with orthonormal columns in Q and upper-triangular R. ``mode``: ``'reduced'`` (Q is
    m x k), ``'complete'`` (Q is m x m) or ``'r'`` (R only; Q is an empty tensor)."""
    _matrices(A, "linalg.qr")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    if mode == "r":
        return QRResult(A._wrap(A._device.xp.zeros((0,), A._data.dtype)), QRR.apply(A))
    return QRResult(*_outputs(QR, (A,), mode=mode))


# ---------------------------------------------------------------- cholesky


def cholesky_partial(xp, a):
    """The lower Cholesky factors of ``a`` (..., n, n), column by column, and LAPACK potrf's ``info``
    (0, or the order of the first leading minor that is not positive-definite). A matrix that fails
    keeps, as LAPACK's does, its factored columns, the failing pivot's value on the diagonal and its
    own lower triangle past it."""
    batch, n = a.shape[:-2], a.shape[-1]
    A = a.reshape((-1, n, n))
    L = xp.tril(A)
    info = xp.zeros(A.shape[0], _np.int32)
    active = xp.ones(A.shape[0], bool)
    for j in range(n):
        d = A[:, j, j] - (L[:, j, :j] ** 2).sum(-1)
        bad = active & ~(d > 0)
        info[bad] = j + 1
        active &= ~bad
        root = xp.sqrt(xp.where(active, d, 1))
        L[:, j, j] = xp.where(active, root, xp.where(bad, d, L[:, j, j]))
        if j + 1 < n:
            col = (A[:, j + 1:, j] - xp.matmul(L[:, j + 1:, :j], L[:, j, :j, None])[..., 0]) / root[:, None]
            L[:, j + 1:, j] = xp.where(active[:, None], col, L[:, j + 1:, j])
    return L.reshape(a.shape), info.reshape(batch)


def _not_positive_definite(name: str, info) -> LinAlgError:
    prefix, order = first_failure(info)
    return LinAlgError(f"{name}: {prefix}The factorization could not be completed because the input is not "
                       f"positive-definite (the leading minor of order {order} is not positive-definite).")


class Cholesky(Function):
    """``A = L L^T`` from the lower triangle (``upper``: ``A = U^T U`` from the upper one); the gradient
    is PyTorch's cholesky_backward, symmetric. With ``check``, a matrix that is not positive-definite
    raises; otherwise ``self.info`` says which failed (cholesky_ex)."""

    def forward(self, xp, a):
        src = _mT(a) if self.upper else a  # the upper triangle of A is the lower one of A^T
        info = None
        try:
            with linalg_errors(xp):
                L = xp.linalg.cholesky(src)
        except _np.linalg.LinAlgError:
            L, info = cholesky_partial(xp, src)
            good = info == 0
            if bool(good.any()):  # LAPACK's own factors for the matrices that have one
                L[good] = xp.linalg.cholesky(src[good])
        if info is not None and self.check and bool((info != 0).any()):
            raise _not_positive_definite(self.fname, info)
        self.info = xp.zeros(a.shape[:-2], _np.int32) if info is None else info
        self.L = L
        return _mT(L) if self.upper else L

    def backward(self, xp, g):
        L = self.L
        gL = _mT(g) if self.upper else g
        P = xp.tril(xp.matmul(_mT(L), gL))
        P = 0.5 * (P + _mT(xp.tril(P, -1)))
        X = _bsolve(xp, _mT(L), P)  # L^-T P
        return _solve_right(xp, L, X)  # L^-T P L^-1


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of symmetric positive-definite matrices: lower ``L`` with ``A = L L^T``
    (from A's lower triangle), or with ``upper`` the upper ``U = L^T`` (from A's upper triangle)."""
    _matrices(A, "linalg.cholesky", square=True)
    return Cholesky.apply(A, upper=bool(upper), check=True, fname="linalg.cholesky")


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> CholeskyExResult:
    """``(L, info)``: info is 0, or the order of the leading minor that is not positive-definite (L is
    then the partial factorization, as LAPACK leaves it)."""
    _matrices(A, "linalg.cholesky_ex", square=True)
    L, fn = _run(Cholesky, (A,), upper=bool(upper), check=bool(check_errors), fname="linalg.cholesky_ex")
    return CholeskyExResult(L, A._wrap(fn.info))


# ---------------------------------------------------------------- inverse, determinants, powers


class InverseEx(Inverse):
    """The inverse, and LAPACK's info (0, or the first zero pivot); a singular matrix's inverse is NaN."""

    def forward(self, xp, a):
        # on CuPy, LAPACK's info from our LU: cuBLAS's batched LU can round a pivot that LAPACK's meets
        # as an exact zero to a tiny one, and then reports nothing
        info = None if xp is _np else lu_info(xp, a)
        if info is None or not bool(info.any()):
            try:
                out = super().forward(xp, a)
                self.info = xp.zeros(a.shape[:-2], _np.int32)
                return out
            except LinAlgError:
                pass
        info = lu_info(xp, a) if info is None else info
        flat, flat_info = a.reshape((-1,) + a.shape[-2:]), info.reshape(-1)
        if not bool((flat_info != 0).any()):  # our LU met no exact zero where LAPACK's did: ask it one by one
            for k in range(flat.shape[0]):
                try:
                    with linalg_errors(xp):
                        xp.linalg.inv(flat[k])
                except _np.linalg.LinAlgError:
                    flat_info[k] = a.shape[-1]
        inv = xp.full(flat.shape, _np.nan, a.dtype)
        good = flat_info == 0
        if bool(good.any()):
            inv[good] = xp.linalg.inv(flat[good])
        self.inv, self.info = inv.reshape(a.shape), flat_info.reshape(info.shape)
        return self.inv


def inv(A: Tensor) -> Tensor:
    """The inverse of square matrices; a singular one raises ``LinAlgError`` naming its zero pivot."""
    return Inverse.apply(_matrices(A, "linalg.inv", square=True))


def inv_ex(A: Tensor, *, check_errors: bool = False) -> InvExResult:
    """``(inverse, info)``: info is 0, or the 1-based position of the first zero pivot of a singular
    matrix (whose inverse is then NaN)."""
    _matrices(A, "linalg.inv_ex", square=True)
    if check_errors:
        try:
            X = Inverse.apply(A)
        except LinAlgError as e:
            raise LinAlgError(str(e).replace("linalg.inv:", "linalg.inv_ex:", 1)) from None
        return InvExResult(X, A._wrap(A._device.xp.zeros(A.shape[:-2], _np.int32)))
    X, fn = _run(InverseEx, (A,))
    return InvExResult(X, A._wrap(fn.info))


def det(A: Tensor) -> Tensor:
    """The determinant (differentiable for singular matrices too)."""
    return _matrices(A, "linalg.det", square=True).det()


def slogdet(A: Tensor) -> SlogdetResult:
    """``(sign, log|det|)``; the log is differentiable."""
    return SlogdetResult(*_matrices(A, "linalg.slogdet", square=True).slogdet())


def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` to the integer power ``n`` (the inverse's for negative ``n``, the identity for 0)."""
    _tensor_arg(A, "linalg.matrix_power")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_power: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        _not_square(A, "linalg.matrix_power")
    return A.matrix_power(n)


# ---------------------------------------------------------------- solve


class Solve(Function):
    """``X = A^-1 B`` for matrices B (batches broadcast); ``gB = A^-T g``, ``gA = -gB X^T``. Without
    ``check``, singular matrices give NaN and ``self.info`` their zero pivot (solve_ex)."""

    def forward(self, xp, a, b):
        self.info = xp.zeros(a.shape[:-2], _np.int32)  # A's own batch, as torch's (not B's broadcast)
        # solve_ex on CuPy: LAPACK's info from our LU, as InverseEx
        info = lu_info(xp, a) if xp is not _np and not self.check else None
        try:
            if info is not None and bool(info.any()):
                raise _np.linalg.LinAlgError
            with linalg_errors(xp):
                x = _bsolve(xp, a, b)
        except _np.linalg.LinAlgError:
            batch = tuple(_np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
            if info is None:
                info = lu_info(xp, a)
            if self.check:
                prefix, _ = first_failure(info)
                raise LinAlgError(f"torch.{self.fname}: {prefix}The solver failed because the input matrix is "
                                  "singular.") from None
            x = xp.full(batch + b.shape[-2:], _np.nan, a.dtype)
            good = xp.broadcast_to(info == 0, batch)
            if bool(good.any()):
                ab = xp.broadcast_to(a, batch + a.shape[-2:])
                x[good] = _bsolve(xp, ab[good], xp.broadcast_to(b, batch + b.shape[-2:])[good])
            self.info = info
        self.a, self.x = a, x
        return x

    def backward(self, xp, g):
        gb = _bsolve(xp, _mT(self.a), g)
        ga = -xp.matmul(gb, _mT(self.x)) if self.parents[0] is not None else None
        return ga, gb


def _solve(A, B, left: bool, name: str, check: bool):
    _tensor_arg(A, name)
    _tensor_arg(B, name, "B")
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    _same_dtype(A, B, name)
    _floating(A, name)
    if A.shape[-1] != A.shape[-2]:
        _not_square(A, name)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    Bm = B.unsqueeze(-1) if vector else B
    n = A.shape[-1]
    if (Bm.shape[-2] if left else Bm.shape[-1]) != n:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({A.shape[-2]}x{A.shape[-1]} and {Bm.shape[-2]}x{Bm.shape[-1]})")
    if not left and vector:
        raise RuntimeError(f"{name}: Vector broadcasting of the left hand side is not supported for left=False. In "
                           "this case linalg.solve is equivalent to B / A.squeeze(-1)")
    _batch_shape(name, tuple(A.shape[:-2]), tuple(Bm.shape[:-2]))
    if left:
        X, fn = _run(Solve, (A, Bm), check=check, fname=name)
    else:  # X A = B  <=>  A^T X^T = B^T
        X, fn = _run(Solve, (A.mT, Bm.mT), check=check, fname=name)
        X = X.mT
    return (X.squeeze(-1) if vector else X), fn.info


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution X of ``A X = B`` (``X A = B`` with ``left=False``). B is a batch of vectors when it
    is 1-D or has A's shape without the last dim; batches broadcast."""
    return _solve(A, B, bool(left), "linalg.solve", True)[0]


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False) -> SolveExResult:
    """``(result, info)``: info is 0, or the first zero pivot of a singular matrix (its result is NaN)."""
    X, info = _solve(A, B, bool(left), "linalg.solve_ex", bool(check_errors))
    return SolveExResult(X, A._wrap(info))


class SolveTriangular(Function):
    """``X = T^-1 B`` for the upper or lower triangle T of A (unit diagonal with ``unitriangular``);
    A's gradient is the triangle of ``-A^-T g X^T``, as PyTorch's."""

    def forward(self, xp, a, b):
        t = xp.triu(a) if self.upper else xp.tril(a)
        if self.unitriangular:
            _diag_set(xp, t, 1)
        try:
            with linalg_errors(xp):
                x = _bsolve(xp, t, b)
        except _np.linalg.LinAlgError:  # a zero on the diagonal: substitution gives inf and NaN, as trsm
            x = self._substitute(xp, t, b)
        self.t, self.x = t, x
        return x

    def _substitute(self, xp, t, b):
        batch = tuple(_np.broadcast_shapes(t.shape[:-2], b.shape[:-2]))
        t = xp.broadcast_to(t, batch + t.shape[-2:])
        x = xp.zeros(batch + b.shape[-2:], t.dtype)
        b = xp.broadcast_to(b, x.shape)
        n = t.shape[-1]
        with _no_warnings(xp):
            for i in (range(n - 1, -1, -1) if self.upper else range(n)):
                rest = xp.matmul(t[..., i:i + 1, :], x)[..., 0, :]
                x[..., i, :] = (b[..., i, :] - rest) / t[..., i, i, None]
        return x

    def backward(self, xp, g):
        gb = _bsolve(xp, _mT(self.t), g)
        ga = None
        if self.parents[0] is not None:
            ga = -xp.matmul(gb, _mT(self.x))
            k = int(self.unitriangular)
            ga = xp.triu(ga, k) if self.upper else xp.tril(ga, -k)
        return ga, gb


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """The solution X of ``T X = B`` (``X T = B`` with ``left=False``) for T the upper (``upper``) or lower
    triangle of A, with ones on its diagonal when ``unitriangular``."""
    name = "linalg.solve_triangular"
    _tensor_arg(A, name)
    _tensor_arg(B, name, "B")
    for t, arg in ((A, "A"), (B, "B")):
        if t.ndim < 2:
            raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")
    _same_dtype(A, B, name)
    _floating(A, name)
    if A.shape[-1] != A.shape[-2]:
        _not_square(A, name)
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    _batch_shape(name, tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    if left:
        return SolveTriangular.apply(A, B, upper=bool(upper), unitriangular=bool(unitriangular))
    return SolveTriangular.apply(A.mT, B.mT, upper=not upper, unitriangular=bool(unitriangular)).mT


# ---------------------------------------------------------------- pinv, lstsq, matrix_rank


def pinv_backward(xp, g, pinvA, A):
    """PyTorch's pinv_backward: the derivative of A^+ through A^+ itself (constant rank)."""
    m, n = A.shape[-2:]
    pinvAh, gh = _mT(pinvA), _mT(g)
    mm = xp.matmul
    if m <= n:
        K = mm(gh, pinvA)
        KpinvAh = mm(K, pinvAh)
        return (-_mT(mm(pinvA, K)) + KpinvAh - mm(mm(A, pinvA), KpinvAh)
                + mm(mm(pinvAh, pinvA), gh - mm(K, A)))
    K = mm(pinvA, gh)
    pinvAhK = mm(pinvAh, K)
    return (-_mT(mm(K, pinvA)) + mm(mm(gh - mm(A, K), pinvA), pinvAh) + pinvAhK
            - mm(mm(pinvAhK, pinvA), A))


def _tolerances(A: Tensor, atol, rtol):
    """PyTorch's get_atol_rtol: atol 0 by default; rtol ``eps * max(m, n)`` unless atol is given (> 0)."""
    xp = A._device.xp
    as_array = lambda v: xp.asarray(v._data if isinstance(v, Tensor) else v, dtype=_np.float64)  # noqa: E731
    default = _eps(A) * builtins.max(A.shape[-2:])
    a = as_array(0.0 if atol is None else atol)
    if rtol is not None:
        r = as_array(rtol)
    elif atol is not None:
        r = xp.where(a > 0, 0.0, default)
    else:
        r = as_array(default)
    return a, r


def _kept(xp, s, smax, atol, rtol):
    """Which singular values count: those above ``max(atol, rtol * largest)``."""
    return s > xp.maximum(atol[..., None], rtol[..., None] * smax)


class Pinv(Function):
    """The pseudo-inverse through the SVD (eigh with ``hermitian``); singular values at or below
    ``max(atol, rtol * largest)`` count as zero."""

    def forward(self, xp, a):
        m, n = a.shape[-2:]
        if a.size == 0:
            self.a, self.p = a, xp.zeros(a.shape[:-2] + (n, m), a.dtype)
            return self.p
        with _no_warnings(xp):
            if self.hermitian:
                w, v = xp.linalg.eigh(a)
                s = xp.abs(w)
                keep = _kept(xp, s, s.max(-1, keepdims=True), self.atol, self.rtol)
                sinv = xp.where(keep, 1 / xp.where(keep, w, 1), 0).astype(a.dtype)
                p = xp.matmul(v * sinv[..., None, :], _mT(v))
            else:
                u, s, vh = xp.linalg.svd(a, full_matrices=False)
                keep = _kept(xp, s, s[..., :1], self.atol, self.rtol)
                sinv = xp.where(keep, 1 / xp.where(keep, s, 1), 0).astype(a.dtype)
                p = xp.matmul(_mT(vh) * sinv[..., None, :], _mT(u))
        self.a, self.p = a, p
        return p

    def backward(self, xp, g):
        return pinv_backward(xp, g, self.p, self.a)


def pinv(A: Tensor, rcond=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """The Moore-Penrose pseudo-inverse; singular values at or below ``max(atol, rtol * largest)``
    are dropped (rtol ``eps * max(m, n)`` by default, 0 once atol is given). ``rcond`` (positional,
    NumPy's) is rtol. ``hermitian``: A is symmetric (eigh of its lower triangle)."""
    if not isinstance(A, Tensor) or A.ndim < 2 or A._data.dtype.kind != "f" or A._data.dtype.itemsize < 4:
        what = f"{_torch_name(A)}{{{list(A.shape)}}}" if isinstance(A, Tensor) else type(A).__name__
        raise RuntimeError(f"linalg.pinv({what}): expected a tensor with 2 or more dimensions of float, double, "
                           "cfloat or cdouble types")
    if rcond is not None:
        if atol is not None or rtol is not None:
            raise TypeError("linalg.pinv() takes rcond or atol/rtol, not both")
        atol, rtol = 0.0, rcond
    a, r = _tolerances(A, atol, rtol)
    return Pinv.apply(A, atol=a, rtol=r, hermitian=bool(hermitian))


def _ranks(A: Tensor, atol, rtol, hermitian: bool):
    """The singular values of A (no graph) and how many count."""
    xp = A._device.xp
    a = A._data
    if builtins.min(a.shape[-2:]) == 0:
        s = xp.zeros(a.shape[:-2] + (0,), a.dtype)
        return s, xp.zeros(a.shape[:-2], _np.int64)
    s = xp.abs(xp.linalg.eigvalsh(a)) if hermitian else xp.linalg.svd(a, compute_uv=False)
    at, rt = _tolerances(A, atol, rtol)
    return s, _kept(xp, s, s.max(-1, keepdims=True), at, rt).sum(-1).astype(_np.int64)


def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """The number of singular values above ``max(atol, rtol * largest)`` (int64; ``tol`` is atol with rtol
    0). ``hermitian``: the absolute eigenvalues of A's lower triangle instead."""
    _tensor_arg(A, "linalg.matrix_rank")
    if A.ndim < 2:
        raise RuntimeError("torch.linalg.matrix_rank: The input tensor input must have at least 2 dimensions.")
    if A._data.dtype.kind != "f" or A._data.dtype.itemsize < 4:
        raise RuntimeError("This function doesn't handle types other than float and double")
    if tol is not None:
        atol, rtol = tol, 0.0
    return A._wrap(_ranks(A, atol, rtol, bool(hermitian))[1])


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None) -> LstsqResult:
    """The least-squares solution of ``A X = B``, ``(solution, residuals, rank, singular_values)``, as
    PyTorch's on the CPU: the minimum-norm solution through the pseudo-inverse (singular values below
    ``rcond * largest`` dropped; rcond defaults to ``eps * max(m, n)``); ``rank`` for gelsy (default),
    gelsd and gelss; ``singular_values`` for gelsd and gelss; ``residuals`` (the squared column norms of
    ``A X - B``) when m > n for gels, and for gelsd/gelss when every matrix has full rank. Empty
    tensors stand for what a driver does not compute. The solution and residuals are differentiable."""
    name = "torch.linalg.lstsq"
    _tensor_arg(A, "linalg.lstsq", "self")
    _tensor_arg(B, "linalg.lstsq", "b")
    if driver is None:
        driver = "gels" if A._device.type == "cuda" else "gelsy"
    if driver not in _DRIVERS:
        raise RuntimeError(f"{name}: parameter `driver` should be one of ({', '.join(_DRIVERS)})")
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    for t in (A, B):
        if t._data.dtype.kind != "f" or t._data.dtype.itemsize < 4:
            raise RuntimeError("This function doesn't handle types other than float and double")
    diff = A.ndim - B.ndim
    if not 0 <= diff <= 1:
        raise RuntimeError(f"{name}: input.dim() must be greater or equal to other.dim() and "
                           "(input.dim() - other.dim()) <= 1")
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f"{name}: Expected input and other to have the same dtype, but got input's dtype "
                           f"{_torch_name(A)} and other's dtype {_torch_name(B)}")
    Bm = B.unsqueeze(-1) if diff else B
    if A.shape[-2] != Bm.shape[-2]:
        raise RuntimeError(f"{name}: input.size(-2) should match other.size({-1 if diff else -2})")
    m, n = A.shape[-2:]
    _batch_shape(name, tuple(A.shape[:-2]), tuple(Bm.shape[:-2]))
    rc = _eps(A) * builtins.max(m, n) if rcond is None or driver == "gels" else float(rcond)
    X = pinv(A, atol=0.0, rtol=rc) @ Bm
    xp = A._device.xp
    empty = A._wrap(xp.zeros((0,), A._data.dtype))
    s, rank = _ranks(A, 0.0, rc, False)
    rank_t = A._wrap(rank) if driver != "gels" else A._wrap(xp.zeros((0,), _np.int64))  # A's batch, as PyTorch's
    sv = A._wrap(s) if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if m > n and driver != "gelsy" and (driver == "gels" or bool((rank == n).all())):
        r = A @ X - Bm
        residuals = (r * r).sum(-2)
    return LstsqResult(X.squeeze(-1) if diff else X, residuals, rank_t, sv)


# ---------------------------------------------------------------- norms


class VectorNorm(Function):
    """``sum(|x|^p)^(1/p)`` over ``axis`` (max/min of |x| for +-inf, the count of nonzeros for 0); the
    gradient is PyTorch's norm_backward (0 where the norm is 0, shared between tied maxima)."""

    def forward(self, xp, x):
        p, ax = self.ord, self.axis
        with _no_warnings(xp):
            a = xp.abs(x)
            if p == 2:
                norm = xp.sqrt((x * x).sum(axis=ax, keepdims=True))
            elif p == 1:
                norm = a.sum(axis=ax, keepdims=True)
            elif p == _INF:
                norm = a.max(axis=ax, keepdims=True)
            elif p == -_INF:
                norm = a.min(axis=ax, keepdims=True)
            elif p == 0:
                norm = (x != 0).sum(axis=ax, keepdims=True).astype(x.dtype)
            else:
                norm = (a ** p).sum(axis=ax, keepdims=True) ** (1.0 / p)
        self.x, self.norm = x, norm
        if self.keepdims:
            return norm
        return norm.reshape(tuple(s for i, s in enumerate(x.shape) if ax is not None and i not in ax))

    def backward(self, xp, g):
        p, x, norm = self.ord, self.x, self.norm
        g = g.reshape(norm.shape)
        with _no_warnings(xp):
            if p == 0:
                return None
            if p == 1:
                return xp.sign(x) * g
            if p == 2:
                return g * xp.where(norm == 0, 0, x / xp.where(norm == 0, 1, norm))
            a = xp.abs(x)
            if math.isinf(p):
                mask = (a == norm) | xp.isnan(a)
                return xp.sign(x) * (g / mask.sum(axis=self.axis, keepdims=True)) * mask
            if p < 1:
                scaled = xp.where(x == 0, 0, xp.sign(x) * a ** (p - 1))
                return scaled * g * norm ** (1 - p)
            scaled = xp.sign(x) * a ** (p - 1) if p < 2 else x * a ** (p - 2)
            return scaled * xp.where(norm == 0, 0, g / norm ** (p - 1))

    def backward_t(self, g):
        xp, p, x, norm = self.device.xp, self.ord, self.x, self.norm
        g = g.reshape(norm.shape)
        if p == 0:
            return None
        if p == 1:
            return g * self.const(xp.sign(x))
        if math.isinf(p):
            a = xp.abs(x)
            mask = (a == norm) | xp.isnan(a)
            return g * self.const(xp.sign(x) * mask / mask.sum(axis=self.axis, keepdims=True))
        if p != 2:
            return super().backward_t(g)
        out = norm if self.keepdims else norm.reshape(
            tuple(s for i, s in enumerate(x.shape) if self.axis is not None and i not in self.axis))
        n = self.output(out).reshape(norm.shape)
        zero = norm == 0
        if bool(zero.any()):  # 0 where the norm is 0, as the first-order backward
            keep = self.const((~zero).astype(norm.dtype))
            return g * keep * self.saved(0, x) / (n + self.const(zero.astype(norm.dtype)))
        return g * self.saved(0, x) / n


def _dims(dim, ndim: int):
    """A dim argument as a tuple of non-negative dims (None: all), repeats refused."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) or not hasattr(dim, "__len__") else tuple(dim)
    if not dims:
        return None
    out = tuple(_one_axis(d, ndim) for d in dims)
    for d in out:
        if out.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return out


def _norm_dtype(x: Tensor, dtype, name: str) -> Tensor:
    if dtype is None:
        return x
    target = _dt.to_dtype(dtype)
    npt = _np.dtype(target.np)
    if npt.kind != "f" or npt.itemsize < x._data.dtype.itemsize:
        raise RuntimeError(f"{name}: the dtype of the input ({_torch_name(x)}) should be convertible without "
                           f"narrowing to the specified dtype ({_TORCH_NAMES.get(npt.name, npt.name)})")
    return x.to(dtype=target)


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` over ``dim`` (all elements when None) as one vector: any real ord,
    ``inf``/``-inf`` (max/min of |x|), 0 (the count of nonzeros). ``dtype``: compute in that (wider) type."""
    name = "linalg.vector_norm"
    _tensor_arg(x, name, "input")
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' must be Number, not str")
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {_torch_name(x)}")
    x = _norm_dtype(x, dtype, name)
    p = float(ord.item() if isinstance(ord, Tensor) else ord)
    dims = _dims(dim, x.ndim)
    if p < 0 or p == _INF:  # max and min have no identity: an empty reduction has no value
        if dims is None and x.numel() == 0:
            raise RuntimeError(f"{name} cannot compute the {_ord_str(ord)} norm on an empty tensor because the "
                               "operation does not have an identity")
        for d in dims or ():
            if x.shape[d] == 0:
                raise RuntimeError(f"{name} cannot compute the {_ord_str(ord)} norm on the dimension {d}because this "
                                   "dimension is empty and the operation does not have an identity")
    if x.ndim == 0:
        dims = None
    return VectorNorm.apply(x, ord=p, axis=dims, keepdims=bool(keepdim))


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of the matrices in dims ``dim``: ``'fro'``, ``'nuc'`` (sum of singular values),
    2 / -2 (largest / smallest singular value), 1 / -1 (max / min column sum of |A|), inf / -inf
    (max / min row sum)."""
    name = "linalg.matrix_norm"
    _tensor_arg(A, name)
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) != 2:
        raise RuntimeError(f"{name}: dim must be a 2-tuple. Got {' '.join(str(d) for d in dims)}")
    d0, d1 = (_one_axis(d, A.ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"{name}: dims must be different. Got ({dims[0]}, {dims[1]})")
    if A._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {_torch_name(A)}")
    A = _norm_dtype(A, dtype, name)
    if isinstance(ord, str):
        if ord == "fro":
            return vector_norm(A, 2, (d0, d1), keepdim)
        if ord != "nuc":
            raise RuntimeError(f"{name}: Order {ord} not supported.")
        return _svd_norm(A, d0, d1, keepdim, "nuc")
    p = float(ord)
    if abs(p) == 2:
        return _svd_norm(A, d0, d1, keepdim, "max" if p > 0 else "min")
    if abs(p) not in (1, _INF):
        raise RuntimeError(f"{name}: Order {_ord_str(ord)} not supported.")
    if math.isinf(p):  # row sums: the same as column sums with the dims swapped
        d0, d1 = d1, d0
    if not keepdim and d0 < d1:
        d1 -= 1
    sums = vector_norm(A, 1, d0, keepdim)
    return sums.amax(d1, keepdim) if p > 0 else sums.amin(d1, keepdim)


def _svd_norm(A: Tensor, d0: int, d1: int, keepdim: bool, how: str) -> Tensor:
    s = svdvals(A.movedim((d0, d1), (-2, -1)))
    r = s.sum(-1) if how == "nuc" else (s.amax(-1) if how == "max" else s.amin(-1))
    if keepdim:
        for d in sorted((d0, d1)):
            r = r.unsqueeze(d)
    return r


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """A vector or matrix norm, as ``torch.linalg.norm``: with ``dim`` an int, the vector norm; a 2-tuple,
    the matrix norm; with no dim, the vector 2-norm of all elements when ``ord`` is None, else A must be
    1-D (vector norm) or 2-D (matrix norm). A string ord is always a matrix norm."""
    name = "linalg.norm"
    _tensor_arg(A, name)
    dims = None if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    if dims is not None:
        if len(dims) not in (1, 2):
            raise RuntimeError(f"{name}: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    elif ord is not None and A.ndim not in (1, 2):
        raise RuntimeError(f"{name}: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D.")
    if isinstance(ord, str):
        return matrix_norm(A, ord, dims if dims is not None else (0, 1), keepdim, dtype=dtype)
    if ord is not None and ((dims is not None and len(dims) == 2) or (dims is None and A.ndim == 2)):
        return matrix_norm(A, ord, dims if dims is not None else (0, 1), keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


def cond(A: Tensor, p=None) -> Tensor:
    """The condition number in the ``p``-norm: ``smax / smin`` for None or 2 (``smin / smax`` for -2, any
    shape), else ``norm(A, p) * norm(inv(A), p)`` for square A (inf when singular)."""
    _matrices(A, "linalg.cond")
    if p is None or (not isinstance(p, str) and abs(float(p)) == 2):
        s = svdvals(A)
        return s[..., 0] / s[..., -1] if p is None or float(p) > 0 else s[..., -1] / s[..., 0]
    if A.shape[-1] != A.shape[-2]:
        _not_square(A, f"linalg.cond(ord={_ord_str(p)})")
    X, info = inv_ex(A)
    from .functions import where

    return where(info > 0, _INF, matrix_norm(A, p) * matrix_norm(X, p))


# ---------------------------------------------------------------- matrix_exp

_THETA = {3: 1.495585217958292e-2, 5: 2.539398330063230e-1, 7: 9.504178996162932e-1, 9: 2.097847961257068e0,
          13: 5.371920351148152e0}
_PADE = {
    3: (120.0, 60.0, 12.0, 1.0),
    5: (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0),
    7: (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0),
    9: (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0, 110880.0, 3960.0,
        90.0, 1.0),
    13: (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
         10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0,
         1.0),
}


def expm(xp, a):
    """exp of (batches of) square matrices: Higham's scaling and squaring with Pade approximants of
    degree 3 to 13 (SIAM J. Matrix Anal. Appl. 26 (2005)), each matrix scaled by its own power of 2."""
    if a.size == 0:
        return a.copy()
    ident = xp.eye(a.shape[-1], dtype=a.dtype)
    norm = xp.abs(a).sum(-2).max(-1)  # the 1-norms
    largest = float(norm.max())
    for m in (3, 5, 7, 9):
        if largest <= _THETA[m]:
            b = _PADE[m]
            powers = [ident, xp.matmul(a, a)]
            while len(powers) < (m + 1) // 2:
                powers.append(xp.matmul(powers[-1], powers[1]))
            u = xp.matmul(a, sum(b[2 * k + 1] * powers[k] for k in range(len(powers))))
            v = sum(b[2 * k] * powers[k] for k in range(len(powers)))
            return xp.linalg.solve(v - u, v + u)
    with _no_warnings(xp):
        s = xp.ceil(xp.log2(norm / _THETA[13]))
    s = xp.where(xp.isfinite(s) & (s > 0), s, 0).astype(_np.int64)
    a = a / (2.0 ** s).astype(a.dtype)[..., None, None]
    b = _PADE[13]
    a2 = xp.matmul(a, a)
    a4 = xp.matmul(a2, a2)
    a6 = xp.matmul(a4, a2)
    u = xp.matmul(a, xp.matmul(a6, b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
                  + b[1] * ident)
    v = xp.matmul(a6, b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * ident
    r = xp.linalg.solve(v - u, v + u)
    for j in range(int(s.max())):
        r = xp.where((s > j)[..., None, None], xp.matmul(r, r), r)
    return r


class MatrixExp(Function):
    """exp(A); the gradient is the upper-right block of ``exp([[A^T, g], [0, A^T]])`` (Mathias 1996),
    as PyTorch's."""

    def forward(self, xp, a):
        self.a = a
        return expm(xp, a)

    def backward(self, xp, g):
        a = self.a
        n = a.shape[-1]
        big = xp.zeros(a.shape[:-2] + (2 * n, 2 * n), a.dtype)
        big[..., :n, :n] = _mT(a)
        big[..., n:, n:] = _mT(a)
        big[..., :n, n:] = g
        return expm(xp, big)[..., :n, n:]


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential of square matrices."""
    _matrices(A, "linalg.matrix_exp", square=True)
    return MatrixExp.apply(A)


# ---------------------------------------------------------------- products and shapes


_SCALAR_NAMES = {"float32": "float", "float64": "double", "float16": "half", "int64": "long", "int32": "int",
                 "int16": "short", "int8": "signed char", "uint8": "unsigned char", "bool": "bool"}


def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices in the cheapest order (the first may be a row vector, the last a
    column vector: 1-D tensors; the result then loses that dimension)."""
    tensors = list(tensors)
    n = len(tensors)
    if n < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {n}")
    for k, t in enumerate(tensors):
        _tensor_arg(t, "linalg.multi_dot", "tensors")
        if k in (0, n - 1):
            if t.ndim not in (1, 2):
                raise RuntimeError(f"multi_dot(): the {'first' if k == 0 else 'last'} tensor must be 1D or 2D but "
                                   f"got {t.ndim}D")
        elif t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {k} must be 2D but got {t.ndim}D")
        if t._data.dtype != tensors[0]._data.dtype:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                               f"{_SCALAR_NAMES.get(tensors[0].dtype.name)} and tensor {k} "
                               f"{_SCALAR_NAMES.get(t.dtype.name)}")
    mats = list(tensors)
    if mats[0].ndim == 1:
        mats[0] = mats[0].unsqueeze(0)
    if mats[-1].ndim == 1:
        mats[-1] = mats[-1].unsqueeze(-1)
    for k in range(n - 1):
        if mats[k].shape[-1] != mats[k + 1].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {k} and {k + 1} with shapes {list(tensors[k].shape)} and "
                               f"{list(tensors[k + 1].shape)} cannot be multiplied")
    dims = [mats[0].shape[0]] + [m.shape[1] for m in mats]
    # the matrix-chain order: cost[i][j] of the product of mats i..j, split[i][j] where it is cut
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = _INF
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i, j):
        if i == j:
            return mats[i]
        k = split[i][j]
        return product(i, k) @ product(k + 1, j)

    result = product(0, n - 1)
    if tensors[0].ndim == 1:
        result = result.squeeze(0)
    if tensors[-1].ndim == 1:
        result = result.squeeze(-1)
    return result


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the last by default); batches broadcast."""
    from .functions import cross as _cross

    _tensor_arg(input, "linalg.cross", "input")
    _tensor_arg(other, "linalg.cross", "other")
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    d = _one_axis(dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and "
                           f"{other.shape[d]}")
    return _cross(input, other, dim=d)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of the vectors along ``dim`` (batches broadcast)."""
    _tensor_arg(x, "linalg.vecdot", "x")
    _tensor_arg(y, "linalg.vecdot", "y")
    _same_dtype(x, y, "linalg.vecdot", "x", "y")
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"linalg.vecdot: Expected a floating point or complex tensor as input. Got {_torch_name(x)}")
    return (x * y).sum(dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The ``offset``-th diagonals of the matrices in ``dim1``, ``dim2`` (the last two), as the last dim."""
    return _tensor_arg(A, "linalg.diagonal").diagonal(offset, dim1, dim2)


def vander(x: Tensor, *, N=None) -> Tensor:
    """The Vandermonde matrix ``[1, x, x^2, ..., x^(N-1)]`` along a new last dim (N: x's length)."""
    _tensor_arg(x, "linalg.vander", "x")
    if x.ndim < 1:
        raise RuntimeError("linalg.vander: x must have at least one dimension.")
    N = x.shape[-1] if N is None else int(N)
    if N <= 1:
        raise RuntimeError("N must be greater than 1.")
    from .functions import cat

    ones = x._wrap(x._device.xp.ones(tuple(x.shape) + (1,), x._data.dtype))
    return cat([ones, x.unsqueeze(-1).expand(*x.shape, N - 1)], -1).cumprod(-1)


def tensorinv(A: Tensor, ind: int = 2) -> Tensor:
    """The inverse of ``A`` as a map from its first ``ind`` dims to the rest: the result's dims are
    ``A.shape[ind:] + A.shape[:ind]``, so that ``tensordot(tensorinv(A), A, ind)`` is the identity."""
    _tensor_arg(A, "linalg.tensorinv")
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    rows, cols = math.prod(A.shape[:ind]), math.prod(A.shape[ind:])
    if rows != cols:
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {cols} != {rows}")
    return inv(A.reshape(rows, cols)).reshape(*A.shape[ind:], *A.shape[:ind])


def tensorsolve(A: Tensor, B: Tensor, dims=None) -> Tensor:
    """The X with ``tensordot(A, X, X.ndim) == B`` (after moving the dims ``dims`` of A to its end); X has
    the shape ``A.shape[B.ndim:]``."""
    _tensor_arg(A, "linalg.tensorsolve")
    _tensor_arg(B, "linalg.tensorsolve", "B")
    if dims is not None:
        dims = [dims] if isinstance(dims, int) else list(dims)
        A = A.movedim(dims, list(range(A.ndim - len(dims), A.ndim)))
    shape = tuple(A.shape[B.ndim:])
    rows, cols = math.prod(B.shape), math.prod(shape)
    if rows != cols:
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
                           f"prod(self.shape[:other.ndim]), but got {cols} != {rows}")
    return solve(A.reshape(rows, cols), B.reshape(rows)).reshape(*shape)


# ---------------------------------------------------------------- torch's top-level names


def _svd_legacy(input: Tensor, some: bool = True, compute_uv: bool = True) -> SVDLegacyResult:
    """``torch.svd``: ``(U, S, V)`` with ``A = U diag(S) V^T`` (V, not V^H); ``some=False`` gives square U
    and V; ``compute_uv=False`` gives zero U and V (m x m, n x n)."""
    _tensor_arg(input, "svd", "input")
    if input.ndim < 2:
        raise RuntimeError(f"linalg.svd: input should have at least 2 dimensions, but has {input.ndim} dimensions "
                           "instead")
    if not compute_uv:
        S = svdvals(input)
        xp, dt, (m, n) = input._device.xp, input._data.dtype, input.shape[-2:]
        batch = tuple(input.shape[:-2])
        return SVDLegacyResult(input._wrap(xp.zeros(batch + (m, m), dt)), S, input._wrap(xp.zeros(batch + (n, n), dt)))
    U, S, Vh = svd(input, full_matrices=not some)
    return SVDLegacyResult(U, S, Vh.mT)


def _qr_legacy(input: Tensor, some: bool = True) -> QRLegacyResult:
    """``torch.qr``: the reduced factorization, or the complete one with ``some=False``."""
    return QRLegacyResult(*qr(input, "reduced" if some else "complete"))


def _cholesky_legacy(input: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky``: ``linalg.cholesky`` with ``upper`` positional."""
    _matrices(input, "cholesky", square=True)
    return Cholesky.apply(input, upper=bool(upper), check=True, fname="cholesky")


def _pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: ``pinv`` with ``rcond`` the relative tolerance."""
    return pinv(input, rcond)


TOP_LEVEL = {"svd": _svd_legacy, "qr": _qr_legacy, "cholesky": _cholesky_legacy, "pinverse": _pinverse,
             "matrix_exp": matrix_exp}  # nerve.svd, nerve.qr, ... (nerve/__init__.py loads them lazily)
for _n, _f in TOP_LEVEL.items():
    _f.__name__ = _f.__qualname__ = _n


for _n, _f in list(globals().items()):  # NumPy's axis / keepdims, as everywhere in nerve
    if not _n.startswith("_") and getattr(_f, "__module__", None) == __name__ and _takes_dim(_f):
        globals()[_n] = numpy_aliases(_f)
