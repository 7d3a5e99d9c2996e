"""``embedding_bag``: the sum, mean or max of embedding rows over bags of indices, as PyTorch's.

One op with its own backward (a scatter of rows into their bags, and back), so no (bags x
indices) matrix is ever built. The bag bookkeeping (which element belongs to which bag, which
elements are padding) is done once on index arrays before the op runs.
"""

from __future__ import annotations

import warnings

from ... import dtypes as _dt
from ...autograd import Function
from ...backend import scatter_add
from ...tensor import Tensor
from .misc import _renorm_rows


class EmbeddingBagFn(Function):
    """Reduce the rows ``weight[idx]`` into ``num_bags`` bags; ``psw`` scales each row (sum mode)."""

    name = "embedding_bag"
    torch_name = "EmbeddingBagBackward0"

    # set by apply: idx, bag, pos (the row, bag and input position of each element kept), num_bags, mode, freq

    def forward(self, xp, w, psw=None):
        self.w_shape = w.shape
        nb, d = self.num_bags, w.shape[1]
        rows = self.rows = w[self.idx]
        self.count = xp.bincount(self.bag, minlength=nb)[:nb]
        if psw is not None:
            self.psw_shape = psw.shape
            self.psw = psw[self.pos].astype(w.dtype, copy=False)
            rows = rows * self.psw[:, None]
        if self.mode == "max":
            # each bag's elements along a padded axis (-inf where a bag is shorter): one argmax per bag and column
            first = xp.searchsorted(self.bag, xp.arange(nb))
            slot = xp.arange(self.bag.shape[0]) - first[self.bag]
            padded = xp.full((nb, int(self.count.max()) if nb and self.bag.size else 0, d), -xp.inf, dtype=w.dtype)
            padded[self.bag, slot] = rows
            if padded.shape[1] == 0:
                return xp.zeros((nb, d), dtype=w.dtype)
            arg = padded.argmax(axis=1)
            self.winner = first[:, None] + arg
            return xp.where(self.count[:, None] > 0, xp.take_along_axis(padded, arg[:, None], axis=1)[:, 0], 0)
        out = xp.zeros((nb, d), dtype=w.dtype)
        scatter_add(xp, out, self.bag, rows)
        if self.mode == "mean":
            self.scale = (1 / xp.maximum(self.count, 1)).astype(w.dtype)
            out *= self.scale[:, None]
        return out

    def backward(self, xp, g):
        d = self.w_shape[1]
        gw = xp.zeros(self.w_shape, dtype=g.dtype)
        gpsw = None
        if self.mode == "max":
            full = self.count > 0
            if self.bag.size:
                flat = self.idx[self.winner[full]] * d + xp.arange(d)
                scatter_add(xp, gw.reshape(-1), flat.reshape(-1), g[full].reshape(-1))
            return gw
        ge = g[self.bag]
        if self.mode == "mean":
            ge = ge * self.scale[self.bag][:, None]
        if len(self.parents) > 1:
            if self.parents[1] is not None:
                gpsw = xp.zeros(self.psw_shape, dtype=g.dtype)
                gpsw[self.pos] = (ge * self.rows).sum(axis=1)
            ge = ge * self.psw[:, None]
        if self.freq is not None:
            ge = ge / self.freq[:, None]
        scatter_add(xp, gw, self.idx, ge)
        return (gw, gpsw) if len(self.parents) > 1 else gw


def _check_indices(t: Tensor) -> None:
    if t._data.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {t.type()} instead (while checking arguments for embedding_bag)")


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of embeddings, as ``torch.nn.functional.embedding_bag``.

    Args:
        input: (B, N) indices (B bags of N), or (L,) indices cut into bags by ``offsets``.
        weight: the (num_embeddings, embedding_dim) table.
        offsets: with a 1-D input, where each bag starts (``offsets[0] == 0``).
        max_norm: rows picked are first renormalised in place to at most this ``norm_type``-norm.
        scale_grad_by_freq: divide each row's gradient by how often the row occurs (sum, mean).
        mode: ``'sum'``, ``'mean'`` or ``'max'``.
        sparse: accepted for compatibility; gradients are dense.
        per_sample_weights: weights of ``input``'s shape that scale each row (``'sum'`` only).
        include_last_offset: ``offsets`` has one more entry, the end of the last bag.
        padding_idx: a row left out of every bag (not summed, not counted in a mean).

    Returns:
        (B, embedding_dim); an empty bag gives zeros.
    """
    if weight._data.dtype == _dt.int64.np and input.is_floating_point():
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage `embedding_bag(weight, "
                      "input, ...)` is deprecated, and should now be `embedding_bag(input, weight, ...)`.",
                      stacklevel=2)
        weight, input = input, weight
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, then it "
                         f"must have the same shape as the input ({input.shape})")
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.dim()}")
    xp = weight._device.xp
    _check_indices(input)
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets)}")
        starts = xp.arange(0, input.numel(), max(input.shape[1], 1))[:input.shape[0]]
        include_last_offset = False
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        _check_indices(offsets)
        starts = offsets._data.astype(xp.int64)
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    if mode == "max":
        if scale_grad_by_freq:
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if sparse:
            raise ValueError("max mode does not support sparse weights")
    elif mode not in ("sum", "mean"):
        raise ValueError("mode has to be one of sum, mean or max")
    idx = input._data.reshape(-1).astype(xp.int64)
    n = weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise RuntimeError(f"Expected i < index_size to be true, but got false. (embedding_bag: index {bad} is out "
                           f"of range for a table of {n} rows)")
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  "GitHub.")
    length = idx.shape[0]
    if starts.size:
        if int(starts[0]) != 0:
            raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                               f"position 0. However, got {int(starts[0])}")
        if int(starts[-1]) > length:
            raise RuntimeError(f"offsets[-1] can not be greater than input's length {length} but got offsets[-1] of "
                               f"{int(starts[-1])}")
    if include_last_offset:
        ends, starts = starts[1:], starts[:-1]
    else:
        ends = xp.concatenate([starts[1:], xp.asarray([length], dtype=xp.int64)])
    pos = xp.arange(length)
    bag = xp.searchsorted(starts, pos, side="right") - 1
    keep = (bag >= 0) & (pos < ends[xp.clip(bag, 0, None)]) if starts.size else xp.zeros(length, dtype=bool)
    if padding_idx is not None:
        keep &= idx != (padding_idx % n)
    pos = pos[keep]
    freq = None
    if scale_grad_by_freq:
        freq = xp.bincount(idx, minlength=n)[idx[pos]].astype(weight._data.dtype)
    args = (weight,) if per_sample_weights is None else (weight, per_sample_weights)
    return EmbeddingBagFn.apply(*args, idx=idx[pos], bag=bag[pos], pos=pos, num_bags=int(starts.shape[0]),
                                mode=mode, freq=freq)
