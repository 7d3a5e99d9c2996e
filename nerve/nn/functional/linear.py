"""linear and bilinear: ``y = x @ W.T + b`` as one op whose backward computes only what is needed."""

from __future__ import annotations

import numpy as np

from ..._threads import gemm
from ...autograd import Function, GraphNode
from ...ops import sum_last
from ...tensor import Tensor


class Linear(Function):
    """y = x @ W.T (+ b) for x of shape (..., in); W (out, in); b (out,)."""

    @property
    def torch_name(self) -> str:  # the ops PyTorch's linear is made of for this input
        if self.x.ndim == 1:
            return "ViewBackward0" if len(self.in_meta) > 2 else "SqueezeBackward4"
        if self.x.ndim > 2:
            return "ViewBackward0" if len(self.in_meta) > 2 else "UnsafeViewBackward0"
        return "AddmmBackward0" if len(self.in_meta) > 2 else "MmBackward0"

    def torch_edges(self) -> list:
        """PyTorch's linear is ``addmm(b, x, w.t())`` (``mm`` without a bias), with views around it
        for an input that is not 2-D: those nodes, so a walk along ``next_functions`` meets them."""
        px, pw = self.parents[:2]
        pb = self.parents[2] if len(self.parents) > 2 else False
        if px is not None and self.x.ndim != 2:
            px = GraphNode("UnsqueezeBackward0" if self.x.ndim == 1 and pb is False else "ViewBackward0", [px])
        edges = [px, None if pw is None else GraphNode("TBackward0", [pw])]
        if pb is not False:
            edges.insert(0, pb)
        if self.x.ndim == 2:  # this node is the product itself
            return edges
        return [GraphNode("AddmmBackward0" if pb is not False else "MmBackward0", edges)]

    def saved_arrays(self) -> list:  # as PyTorch's addmm saves them: x for W's gradient, W for x's
        p = self.parents
        return [a for a, need in ((self.w, p[0]), (self.x, p[1])) if need is not None]

    def forward(self, xp, x, w, b=None):
        if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            rows = x.size // x.shape[-1] if x.ndim and x.shape[-1] else 1
            raise ValueError(
                f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1] if x.ndim else 1} and "
                f"{w.shape[1] if w.ndim == 2 else w.shape[0]}x{w.shape[0]})"
            )
        self.x, self.w = x, w
        mm = gemm if xp is np and x.ndim >= 2 else xp.matmul
        y = mm(x, w.T) if x.ndim <= 2 else mm(x.reshape(-1, x.shape[-1]), w.T).reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            y += b
        return y

    def backward(self, xp, g):
        x, w = self.x, self.w
        p = self.parents
        gx = gw = gb = None
        if x.ndim == 1:
            if p[0] is not None:
                gx = g @ w
            if p[1] is not None:
                gw = xp.outer(g, x)
            if len(p) > 2 and p[2] is not None:
                gb = g
            return gx, gw, gb
        if x.ndim > 2:
            x = x.reshape(-1, x.shape[-1])
            g2 = g.reshape(-1, g.shape[-1])
        else:
            g2 = g
        mm = gemm if xp is np else xp.matmul
        if p[0] is not None:
            gx = mm(g2, w).reshape(self.x.shape)
        if p[1] is not None:
            gw = mm(g2.T, x)
        if len(p) > 2 and p[2] is not None:
            gb = sum_last(xp, g2.T)  # a BLAS product on NumPy, faster than sum(axis=0)
        return gx, gw, gb

    def backward_t(self, g):
        x, w = self.saved(0, self.x), self.saved(1, self.w)
        p = self.parents
        gx = gw = gb = None
        if p[0] is not None:
            gx = g @ w
        if p[1] is not None:
            if self.x.ndim == 1:
                gw = g.unsqueeze(-1) * x.unsqueeze(0)
            else:
                gw = g.reshape(-1, g.shape[-1]).mT @ x.reshape(-1, x.shape[-1])
        if len(p) > 2 and p[2] is not None:
            gb = g if self.x.ndim == 1 else g.reshape(-1, g.shape[-1]).sum(0)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Apply ``input @ weight.T + bias``.

    Args:
        input: (..., in_features).
        weight: (out_features, in_features), or (in_features,) for one output without its dim.
        bias: (out_features,) or None.
    """
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {input.dtype} and {weight.dtype}"
        )
    if weight.ndim == 1:  # torch takes a vector weight: input @ weight drops the feature dim
        out = input.matmul(weight)
        return out if bias is None else out + bias
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1 @ W_k @ x2 + b_k for weight (out, in1, in2)."""
    from ...functions import einsum

    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, input1.shape[-1])
    x2 = input2.reshape(-1, input2.shape[-1])
    y = einsum("ni,kij,nj->nk", x1, weight, x2).reshape(lead + (weight.shape[0],))
    return y + bias if bias is not None else y
