"""Parametrizations built on ``parametrize``: ``weight_norm``, ``spectral_norm``, ``orthogonal``,
as ``torch.nn.utils.parametrizations``."""

from __future__ import annotations

import numpy as np

from ...autograd import no_grad
from ...tensor import Tensor
from .. import functional as F
from ..modules.module import Module
from . import parametrize
from .weight_norm import _weight_norm, norm_except_dim


class _WeightNorm(Module):
    """``weight = g * v / ||v||``, the norm over every dim but ``dim`` (the whole tensor for None)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation as a parametrization, as ``torch.nn.utils.parametrizations.weight_norm``.

    Args:
        module: the layer.
        name: the parameter to reparametrise.
        dim: the dim kept by the norm; None norms the whole tensor.

    Returns:
        The module, its ``<name>`` computed from ``parametrizations.<name>.original0`` (g) and
        ``original1`` (v). State dicts of the old API (``<name>_g``, ``<name>_v``) load into it.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(state_dict, prefix, *rest) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module._register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


class _SpectralNorm(Module):
    """``weight / sigma``, sigma the largest singular value of ``weight`` as a matrix (``dim`` first),
    estimated as ``u . (W v)`` from the buffers ``_u`` and ``_v``, which ``n_power_iterations`` steps of
    the power method refresh (in place, without gradient) on each use in training mode. A vector is
    divided by its norm."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            from ... import randn

            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            u = randn(h, dtype=weight.dtype, device=weight.device)
            v = randn(w, dtype=weight.dtype, device=weight.device)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            # start from good estimates of the singular vectors, as torch does
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        with no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(weight_mat.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(weight_mat.t().mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # copies: the next use's iteration changes the buffers in place, not what backward reads
        u, v = self._u.clone(), self._v.clone()
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Spectral normalisation as a parametrization, as ``torch.nn.utils.parametrizations.spectral_norm``.

    Args:
        module: the layer.
        name: the parameter to normalise.
        n_power_iterations: power-method steps per use in training mode.
        eps: the smallest norm divided by.
        dim: the output dim (default 0; 1 for ConvTranspose layers).

    Returns:
        The module, its ``<name>`` computed from ``parametrizations.<name>.original`` and the buffers
        ``parametrizations.<name>.0._u`` / ``._v``.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


_ORTH_MAPS = ("matrix_exp", "cayley", "householder")


def _eye(n: int, like: Tensor) -> Tensor:
    from ... import eye

    return eye(n, dtype=like.dtype, device=like.device)


def _householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """``torch.linalg.householder_product`` written with tensor ops (so differentiable): the first k
    columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i column i of ``A`` below the diagonal with
    a 1 on it. (..., n, k) matrices; k is small for a layer's weight, one step per column."""
    n, k = A.shape[-2], A.shape[-1]
    eye = _eye(n, A)
    q = eye.expand(*A.shape[:-2], n, n)
    for i in range(k):
        v = A[..., :, i:i + 1].tril(-i) * (1 - eye[:, i:i + 1]) + eye[:, i:i + 1]  # (..., n, 1)
        q = q - (q @ v) * tau[..., i:i + 1].unsqueeze(-1) @ v.mT
    return q[..., :, :k]


def _geqrf(xp, a):
    """LAPACK's geqrf on each matrix of (..., n, k): the Householder vectors below R, and tau."""
    flat = a.reshape(-1, *a.shape[-2:])
    hs, taus = zip(*(xp.linalg.qr(m, mode="raw") for m in flat))
    return xp.stack([x.T for x in hs]).reshape(a.shape), xp.stack(taus).reshape(*a.shape[:-2], -1)


def _make_orthogonal(xp, a):
    """The Q of a = QR with R's diagonal non-negative (a tall)."""
    q, r = xp.linalg.qr(a)
    d = xp.sign(xp.diagonal(r, axis1=-2, axis2=-1))
    return q * xp.where(d == 0, 1, d)[..., None, :]


class _Orthogonal(Module):
    """An orthogonal (n, k) matrix (or batch) from an unconstrained one, through ``orthogonal_map``;
    with ``use_trivialization`` the result is ``base @ map(X)`` (``base`` a buffer set on assignment)."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True) -> None:
        super().__init__()
        if weight.is_complex() and orthogonal_map == "householder":
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:
                from ... import cat, zeros

                X = cat([X, zeros(*X.shape[:-2], n, n - k, dtype=X.dtype, device=X.device)], dim=-1)
            A = X - X.mT
            if self.orthogonal_map == "matrix_exp":
                Q = A.matrix_exp()
            else:
                from ...linalg import solve

                eye = _eye(n, A)
                Q = solve(eye - 0.5 * A, eye + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = _householder_product(A, tau)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if self.__dict__["_buffers"].get("base", False) is not False:
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        from ... import randn

        with no_grad():
            if tuple(Q.shape) != tuple(self.shape):
                raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                                 f"Got a tensor of shape {Q.shape}.")
            Q_init = Q
            n, k = Q.shape[-2], Q.shape[-1]
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            xp = Q._device.xp
            if "base" not in self.__dict__["_buffers"]:
                if self.orthogonal_map in ("cayley", "matrix_exp"):
                    raise NotImplementedError("It is not possible to assign to the matrix exponential or the Cayley "
                                              "parametrizations when use_trivialization=False.")
                a, tau = _geqrf(xp, Q._data)
                idx = xp.arange(min(n, k))
                a[..., idx, idx] = xp.sign(a[..., idx, idx]) * xp.where(tau == 0.0, -1, 1)
                A = Tensor._make(a, Q.device)
                return A.mT if transpose else A
            if n == k:
                eps = 10.0 * n * np.finfo(Q._data.dtype).eps
                m = Q._data
                orthogonal = bool(xp.allclose(xp.swapaxes(m, -1, -2) @ m, xp.eye(k, dtype=m.dtype), atol=eps))
                base = m.copy() if orthogonal else _make_orthogonal(xp, m)
            else:
                N = randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
                base = _make_orthogonal(xp, xp.concatenate([Q._data, N._data], axis=-1))
            self.base = Tensor._make(base, Q.device)
            neg_id = xp.zeros(tuple(Q_init.shape), dtype=Q._data.dtype)
            idx = xp.arange(min(n, k))
            neg_id[..., idx, idx] = -1.0
            return Tensor._make(neg_id, Q.device)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """Keep a matrix (or batch of matrices) orthogonal, as ``torch.nn.utils.parametrizations.orthogonal``.

    Args:
        module: the layer.
        name: the parameter to constrain.
        orthogonal_map: ``"matrix_exp"``, ``"cayley"`` or ``"householder"``; by default the first for a
            square matrix, else the last.
        use_trivialization: parametrize around ``base`` (a buffer, set when the weight is assigned).

    Returns:
        The module, its ``<name>`` computed from ``parametrizations.<name>.original``.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] or weight.is_complex() else "householder"
    if orthogonal_map not in _ORTH_MAPS:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
