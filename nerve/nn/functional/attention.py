"""Scaled dot-product attention, as ``torch.nn.functional.scaled_dot_product_attention``.

One fused op: forward computes ``softmax(q @ k^T * scale + mask) @ v`` and keeps the attention
probabilities P; backward needs nothing else:
``dV = P^T dO``, ``dP = dO V^T``, ``dS = P * (dP - rowsum(dP * P))``, ``dQ = scale dS K``,
``dK = scale dS^T Q`` (and ``dS`` itself for a float mask that requires a gradient).
A second op, ``AttentionProbs``, returns P itself for ``MultiheadAttention(need_weights=True)``.

A row whose keys are all masked gets zero weights, as PyTorch's ``scaled_dot_product_attention``
gives (a plain softmax, and ``MultiheadAttention`` with ``need_weights=True``, gives NaN there).
"""

from __future__ import annotations

import math

import numpy as np

from ... import random as _random
from ..._threads import _on_one_blas_thread, blocks, gemm, run_chunks, workers
from ...autograd import Function
from ...tensor import Tensor


def _swap(a):
    return a.swapaxes(-1, -2)


def _matmul(xp, a, b):
    """``a @ b`` over batch dims. On NumPy the batch is split over nerve's threads, each product on one
    BLAS thread: NumPy's batched matmul on multithreaded OpenBLAS ran 5-15x slower on the busy 2-core VM
    ((64, 256, 256) @ (64, 256, 64): 270 ms against 16 ms split)."""
    if xp is not np:
        return xp.matmul(a, b)
    if a.ndim == 2 and b.ndim == 2:
        return gemm(a, b)
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = np.broadcast_to(a, lead + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
    b3 = np.broadcast_to(b, lead + b.shape[-2:]).reshape((-1,) + b.shape[-2:])
    n = a3.shape[0]
    out = np.empty((n, a3.shape[1], b3.shape[2]), dtype=np.result_type(a3, b3))

    def part(i0, i1):
        np.matmul(a3[i0:i1], b3[i0:i1], out=out[i0:i1])

    w = workers()
    if w < 2 or n < 2:
        _on_one_blas_thread(lambda: part(0, n))
    else:
        run_chunks(w, part, blocks(n, w))
    return out.reshape(lead + out.shape[1:])


def _probs(xp, q, k, bias, mask, causal, scale, safe=True):
    """P = softmax(q @ k^T * scale + bias, masked where ``mask`` is False), along the last axis."""
    return _softmax_scores(xp, _matmul(xp, q, _swap(k)), bias, mask, causal, scale, safe)


def _softmax_scores(xp, s, bias, mask, causal, scale, safe=True):
    """The softmax of the scores ``s * scale + bias`` (masked), in ``s``'s memory when it can."""
    s *= s.dtype.type(scale)
    if bias is not None:
        s = s + bias  # may broadcast s up (a mask with more batch dims)
    if causal:
        mask = xp.tri(s.shape[-2], s.shape[-1], dtype=bool)
    if mask is not None:
        if xp is np and np.broadcast_shapes(mask.shape, s.shape) == s.shape:  # in place
            np.copyto(s, s.dtype.type(-math.inf), where=~mask)
        else:
            s = xp.where(mask, s, s.dtype.type(-math.inf))
    m = s.max(axis=-1, keepdims=True)
    masked = bias is not None or mask is not None
    if masked and safe:
        m = xp.where(m == -math.inf, m.dtype.type(0), m)  # an all-masked row: exp(-inf) = 0, not NaN
    with np.errstate(invalid="ignore"):  # -inf - -inf on an all-masked row when not safe: NaN, as asked
        s -= m
    xp.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    if masked and safe:
        total = xp.where(total == 0, total.dtype.type(1), total)
    s /= total
    return s


def _softmax_grad(xp, p, dp):
    """dS from dP through P = softmax(S): P * (dP - rowsum(dP * P))."""
    ds = dp * p
    ds -= p * ds.sum(axis=-1, keepdims=True)
    return ds


def _score_grads(op, xp, ds):
    """Gradients of q, k (and the float mask) from dS."""
    p = op.parents
    gq = gk = gb = None
    if len(p) > op.n_qkv and p[-1] is not None:
        gb = ds
    if p[0] is not None or p[1] is not None:
        ds = ds * ds.dtype.type(op.scale)
        if p[0] is not None:
            gq = _matmul(xp, ds, op.k)
        if p[1] is not None:
            gk = _matmul(xp, _swap(ds), op.q)
    return gq, gk, gb


def _score_grads_t(op, P, dp):
    """``_score_grads`` on tensors (``backward_t``): the gradients of q, k (and the float mask) from
    the gradient ``dp`` of the attention weights ``P`` (a tensor on q and k)."""
    p = op.parents
    ds = P * (dp - (dp * P).sum(-1, keepdim=True))
    gq = gk = gb = None
    if len(p) > op.n_qkv and p[-1] is not None:
        gb = ds
    if p[0] is not None or p[1] is not None:
        ds = ds * op.scale
        if p[0] is not None:
            gq = BatchedMatMul.apply(ds, op.saved(1, op.k))
        if p[1] is not None:
            gk = BatchedMatMul.apply(ds.mT, op.saved(0, op.q))
    return gq, gk, gb


def _splittable(xp, q, k, v, bias, mask, dropout_p) -> bool:
    """Whether the blocked NumPy path applies: batched, one batch shape, no float mask, no dropout,
    a bool mask (if any) of the (L, S) plane only."""
    return (xp is np and bias is None and not dropout_p and q.ndim >= 3 and q.shape[:-2] == k.shape[:-2] == v.shape[:-2]
            and (mask is None or mask.ndim <= 2))


def _in_blocks(n: int, part) -> None:
    """``part(i0, i1)`` over ``range(n)`` in blocks: on nerve's threads (one BLAS thread each), or in
    blocks of about 4 MB of scores on one thread."""
    w = workers()
    if w < 2 or n < 2:
        _on_one_blas_thread(lambda: [part(a, b) for a, b in blocks(n, max(1, n // 4))])
    else:
        run_chunks(w, part, blocks(n, w * max(1, min(4, n // w))))


class ScaledDotProductAttention(Function):
    """softmax(q k^T * scale + mask) (dropped out) @ v, keeping P for backward."""

    n_qkv = 3  # inputs before the float mask

    def forward(self, xp, q, k, v, bias=None):
        self.q, self.k, self.v = q, k, v
        self.split = _splittable(xp, q, k, v, bias, self.mask, self.dropout_p)
        if self.split:
            return self._forward_split(q, k, v)
        self.p = _probs(xp, q, k, bias, self.mask, self.causal, self.scale)
        self.keep = None
        pd = self.p
        if self.dropout_p > 0:
            keep = _random._uniform(pd.shape, 0.0, 1.0, pd.dtype, self.dev, self.generator) >= self.dropout_p
            scale = 1.0 / (1.0 - self.dropout_p) if self.dropout_p < 1 else 0.0
            self.keep = keep * pd.dtype.type(scale)
            pd = pd * self.keep
        return _matmul(xp, pd, v)

    def _forward_split(self, q, k, v):
        """NumPy, one batch shape, no float mask, no dropout: the batch in blocks over nerve's threads,
        each block's scores, softmax and product done while its scores are in cache."""
        lead, lq, (sk, ev) = q.shape[:-2], q.shape[-2], v.shape[-2:]
        q3, k3, v3 = (a.reshape((-1,) + a.shape[-2:]) for a in (q, k, v))
        n = q3.shape[0]
        self.p = np.empty((n, lq, sk), dtype=q.dtype)
        self.keep = None
        out = np.empty((n, lq, ev), dtype=q.dtype)

        def part(i0, i1):
            s = np.matmul(q3[i0:i1], k3[i0:i1].swapaxes(-1, -2), out=self.p[i0:i1])
            s = _softmax_scores(np, s, None, self.mask, self.causal, self.scale)  # in place: s is p's block
            np.matmul(s, v3[i0:i1], out=out[i0:i1])

        _in_blocks(n, part)
        self.lead = lead
        return out.reshape(lead + (lq, ev))

    def _backward_split(self, g):
        p = self.parents
        lead = self.lead
        q3, k3, v3 = (a.reshape((-1,) + a.shape[-2:]) for a in (self.q, self.k, self.v))
        g3 = g.reshape((-1,) + g.shape[-2:])
        n = q3.shape[0]
        want = [p[i] is not None for i in range(3)]
        grads = [np.empty((n,) + a.shape[-2:], dtype=g.dtype) if w else None for a, w in zip((q3, k3, v3), want)]
        scale = g.dtype.type(self.scale)

        def part(i0, i1):
            pb, gb = self.p[i0:i1], g3[i0:i1]
            if want[2]:
                np.matmul(pb.swapaxes(-1, -2), gb, out=grads[2][i0:i1])
            if want[0] or want[1]:
                dp = np.matmul(gb, v3[i0:i1].swapaxes(-1, -2))
                # dS = P * (dP - rowsum(dP * P)), in dp's memory
                r = np.matmul(dp[:, :, None, :], pb[:, :, :, None])[:, :, :, 0]
                dp -= r
                dp *= pb
                dp *= scale
                if want[0]:
                    np.matmul(dp, k3[i0:i1], out=grads[0][i0:i1])
                if want[1]:
                    np.matmul(dp.swapaxes(-1, -2), q3[i0:i1], out=grads[1][i0:i1])

        _in_blocks(n, part)
        return tuple(None if gr is None else gr.reshape(lead + gr.shape[-2:]) for gr in grads)

    def backward(self, xp, g):
        if self.split:
            return self._backward_split(g)
        p = self.parents
        gv = None
        pd = self.p if self.keep is None else self.p * self.keep
        if p[2] is not None:
            gv = _matmul(xp, _swap(pd), g)
        gq = gk = gb = None
        if p[0] is not None or p[1] is not None or (len(p) > 3 and p[3] is not None):
            dp = _matmul(xp, g, _swap(self.v))
            if self.keep is not None:
                dp *= self.keep
            gq, gk, gb = _score_grads(self, xp, _softmax_grad(xp, self.p, dp))
        return (gq, gk, gv) if len(p) == 3 else (gq, gk, gv, gb)

    def backward_t(self, g):
        p = self.parents
        probs = self.p.reshape(self.lead + self.p.shape[-2:]) if self.split else self.p
        # P as AttentionProbs' node on q, k (and the float mask): it depends on them
        ps = [p[0], p[1]] + p[3:]
        P = self.derived(AttentionProbs, probs, parents=ps, in_meta=self.in_meta[:2] + self.in_meta[3:],
                         q=self.q, k=self.k, p=probs, scale=self.scale)
        keep = None if self.keep is None else self.const(self.keep)
        gv = None
        if p[2] is not None:
            gv = BatchedMatMul.apply((P if keep is None else P * keep).mT, g)
        gq = gk = gb = None
        if any(x is not None for x in ps):
            dp = BatchedMatMul.apply(g, self.saved(2, self.v).mT)
            gq, gk, gb = _score_grads_t(self, P, dp if keep is None else dp * keep)
        return (gq, gk, gv) if len(p) == 3 else (gq, gk, gv, gb)


class AttentionProbs(Function):
    """P = softmax(q k^T * scale + mask): the attention weights themselves."""

    n_qkv = 2

    def forward(self, xp, q, k, bias=None):
        self.q, self.k = q, k
        self.p = _probs(xp, q, k, bias, self.mask, self.causal, self.scale, self.safe)
        return self.p

    def backward(self, xp, g):
        gq, gk, gb = _score_grads(self, xp, _softmax_grad(xp, self.p, g))
        return (gq, gk) if len(self.parents) == 2 else (gq, gk, gb)

    def backward_t(self, g):
        gq, gk, gb = _score_grads_t(self, self.output(self.p), g)
        return (gq, gk) if len(self.parents) == 2 else (gq, gk, gb)


class BatchedMatMul(Function):
    """``a @ b`` for (..., m, k) @ (..., k, n) through :func:`_matmul` (the weights @ values of MultiheadAttention)."""

    def forward(self, xp, a, b):
        self.a, self.b = a, b
        return _matmul(xp, a, b)

    def backward(self, xp, g):
        p = self.parents
        ga = _matmul(xp, g, _swap(self.b)) if p[0] is not None else None
        gb = _matmul(xp, _swap(self.a), g) if p[1] is not None else None
        return ga, gb

    def backward_t(self, g):
        p = self.parents
        ga = BatchedMatMul.apply(g, self.saved(1, self.b).mT) if p[0] is not None else None
        gb = BatchedMatMul.apply(self.saved(0, self.a).mT, g) if p[1] is not None else None
        return ga, gb


def _check(query: Tensor, key: Tensor, value: Tensor, attn_mask, is_causal: bool, dropout_p: float, enable_gqa):
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be at least 2 dimensional, but got "
            f"query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got "
            f"query.dtype: {query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead."
        )
    if query._data.dtype.kind != "f":
        raise RuntimeError(f"scaled_dot_product_attention: expected a floating point query, got {query.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query and key must have the same embedding size E, but got "
            f"query {tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: key and value must have the same sequence length S, but got "
            f"key {tuple(key.shape)} and value {tuple(value.shape)}"
        )
    if attn_mask is not None:
        if attn_mask._device is not query._device:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask is on {attn_mask._device} but query on "
                               f"{query._device}; move it with .to(device)")
        if is_causal:
            raise RuntimeError(
                "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
            )
        kind = attn_mask._data.dtype.kind
        if kind != "b" and kind != "f":
            raise RuntimeError(
                "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                f"attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} instead."
            )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")


def _grouped(query: Tensor, kv: Tensor, name: str) -> Tensor:
    """Repeat the heads of key/value so that each serves a group of query heads (enable_gqa)."""
    if query.ndim < 3 or kv.ndim < 3 or query.shape[-3] == kv.shape[-3]:
        return kv
    hq, hk = query.shape[-3], kv.shape[-3]
    if hq % hk:
        raise RuntimeError(
            f"scaled_dot_product_attention: with enable_gqa=True the number of query heads ({hq}) must be "
            f"divisible by the number of {name} heads ({hk})"
        )
    return kv.repeat_interleave(hq // hk, dim=-3)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """Attention: ``softmax(query @ key^T * scale + mask) @ value``, as PyTorch's.

    Args:
        query: (..., L, E).
        key: (..., S, E).
        value: (..., S, Ev). Batch dims (...) broadcast.
        attn_mask: broadcastable to (..., L, S): bool (True = takes part) or float (added to the scores).
        dropout_p: dropout on the attention weights (applied whenever it is > 0, as PyTorch's).
        is_causal: mask to a lower-triangular (L, S) pattern, top-left aligned; not with ``attn_mask``.
        scale: multiplies the scores; default ``1 / sqrt(E)``.
        enable_gqa: let key/value have fewer heads (dim -3) than query, each serving a group.

    Returns:
        (..., L, Ev). A query whose keys are all masked gets zeros, as PyTorch's.
    """
    _check(query, key, value, attn_mask, is_causal, dropout_p, enable_gqa)
    if enable_gqa:
        key, value = _grouped(query, key, "key"), _grouped(query, value, "value")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    attrs = dict(scale=scale, causal=bool(is_causal), mask=None, dropout_p=float(dropout_p),
                 dev=query._device, generator=None)
    if attn_mask is not None and attn_mask._data.dtype.kind == "b":
        attrs["mask"] = attn_mask._data
        attn_mask = None
    if attn_mask is None:
        return ScaledDotProductAttention.apply(query, key, value, **attrs)
    if attn_mask.dtype != query.dtype:
        attn_mask = attn_mask.to(dtype=query.dtype)
    return ScaledDotProductAttention.apply(query, key, value, attn_mask, **attrs)


def attention_probs(query: Tensor, key: Tensor, attn_mask: Tensor | None = None, scale: float | None = None,
                    safe: bool = True) -> Tensor:
    """The attention weights ``softmax(query @ key^T * scale + mask)`` (..., L, S) as a differentiable tensor.

    ``attn_mask`` as in :func:`scaled_dot_product_attention`; ``safe=False`` gives NaN on all-masked rows
    (a plain softmax), as ``torch.nn.MultiheadAttention`` returns its weights.
    """
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    attrs = dict(scale=scale, causal=False, mask=None, safe=safe)
    if attn_mask is not None and attn_mask._data.dtype.kind == "b":
        attrs["mask"] = attn_mask._data
        attn_mask = None
    if attn_mask is None:
        return AttentionProbs.apply(query, key, **attrs)
    if attn_mask.dtype != query.dtype:
        attn_mask = attn_mask.to(dtype=query.dtype)
    return AttentionProbs.apply(query, key, attn_mask, **attrs)
