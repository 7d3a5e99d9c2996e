"""Transposed convolutions: ``conv_transpose1d``, ``conv_transpose2d`` and ``conv_transpose3d``.

A transposed convolution is the gradient of a convolution with respect to its input, so it is
built from conv.py's pieces in the same channel-major layout: forward is conv2d's input-gradient
path (one GEMM per group with the weight's transpose, then col2im: ``_im2col(add=True)``), and
backward is conv2d's forward (im2col of the output gradient, one GEMM for the input gradient)
plus its weight-gradient GEMM, with the input taking the role of the output gradient. One op,
``ConvTransposeNdFn``, serves 2-D and 3-D; 1-D runs as 2-D over a height of 1.
"""

from __future__ import annotations

import functools
import math

from ... import _threads
from ...autograd import Function, is_grad_enabled
from ...tensor import Tensor
from .conv import ConvNdFn, _check, _chunks, _im2col, _ntuple, _workers, weight_grad_t


@functools.lru_cache(maxsize=256)
def _geometry_nd(sizes, kernel, out_size, padding):
    """(the padded output's sizes, the output's part of it, the spatial axes, kernel size, input positions)."""
    padded = tuple([o + 2 * p for o, p in zip(out_size, padding)])
    crop = (slice(None), slice(None)) + tuple([slice(p, p + o) for o, p in zip(out_size, padding)])
    return padded, crop, tuple(range(2, len(sizes) + 2)), math.prod(kernel), math.prod(sizes)


class ConvTransposeNdFn(Function):
    """Transposed N-D convolution of (N, C_in, *S) with weight (C_in, C_out/groups, *K), S 2-D or 3-D.

    Both passes run over chunks of images (conv.py's ``_chunks``, on its worker threads), so each
    chunk's column matrix is still in cache when col2im adds it up (forward) or the GEMMs read it
    (backward); the weight gradient is the sum of the chunks' shares.
    """

    name = "conv_transpose2d"
    torch_name = "ConvolutionBackward0"

    def forward(self, xp, x, w, b=None):
        n, cin = x.shape[:2]
        cog = w.shape[1]
        sizes, kernel = x.shape[2:], w.shape[2:]
        g = self.groups
        cout, cg = cog * g, cin // g
        padded, crop, spatial, kk, length = _geometry_nd(sizes, kernel, self.out_size, self.padding)
        k = cog * kk
        wm = w.reshape(g, cg, k)
        img = xp.zeros((cout, n) + padded, dtype=x.dtype)
        workers = _workers(xp)
        chunks = _chunks(xp, n, cout * kk * length * x.itemsize, workers)

        def chunk(n0, n1):
            nb = n1 - n0
            # the channel-major input, (groups, C_in/groups, nb*H*W): conv2d's output gradient
            xm = xp.ascontiguousarray(x[n0:n1].transpose(1, 0, *spatial)).reshape(g, cg, nb * length)
            col = xp.empty((g, k, nb * length), dtype=x.dtype)
            for i in range(g):  # 2-D GEMMs: BLAS reads a transposed operand in place; stacked matmul copies
                xp.matmul(wm[i].T, xm[i], out=col[i])
            _im2col(xp, img[:, n0:n1], col.reshape((cout, *kernel, nb) + sizes), kernel, sizes, self.stride,
                    self.dilation, False, add=True)

        _threads.run_chunks(workers, chunk, chunks)
        out = img[crop]
        if b is not None:
            out += b.reshape((cout,) + (1,) * (len(kernel) + 1))
        self.x = x if self.keep_x else None
        self.w = w
        self.in_shape = x.shape
        return out.transpose(1, 0, *spatial)

    def backward(self, xp, grad):
        n, cin = self.in_shape[:2]
        w = self.w
        cog = w.shape[1]
        sizes, kernel = self.in_shape[2:], w.shape[2:]
        g = self.groups
        cout, cg = cog * g, cin // g
        padded, crop, spatial, kk, length = _geometry_nd(sizes, kernel, self.out_size, self.padding)
        k = cog * kk
        p = self.parents
        want_x, want_w = p[0] is not None, p[1] is not None
        want_b = len(p) > 2 and p[2] is not None
        gc = grad.transpose(1, 0, *spatial)
        wm = w.reshape(g, cg, k)
        gx = xp.empty((cin, n) + sizes, dtype=grad.dtype) if want_x else None
        x = self.x
        workers = _workers(xp)
        chunks = _chunks(xp, n, cout * kk * length * grad.itemsize, workers)

        def chunk(n0, n1):  # im2col of the output gradient, as conv2d's forward builds it
            nb = n1 - n0
            gpad = xp.zeros((cout, nb) + padded, dtype=grad.dtype)
            gpad[crop] = gc[:, n0:n1]
            col = xp.empty((cout, *kernel, nb) + sizes, dtype=grad.dtype)
            _im2col(xp, gpad, col, kernel, sizes, self.stride, self.dilation, False)
            colm = col.reshape(g, k, nb * length)
            part = None
            if want_x:
                for i in range(g):
                    gx[i * cg : (i + 1) * cg, n0:n1] = (wm[i] @ colm[i]).reshape((cg, nb) + sizes)
            if want_w:
                xm = xp.ascontiguousarray(x[n0:n1].transpose(1, 0, *spatial)).reshape(g, cg, nb * length)
                part = xp.empty(wm.shape, dtype=grad.dtype)
                for i in range(g):
                    xp.matmul(xm[i], colm[i].T, out=part[i])
            return part

        gw = gb = None
        if want_x or want_w:
            parts = _threads.run_chunks(workers, chunk, chunks)
            if want_w:
                gw = parts[0] if parts else xp.zeros(wm.shape, dtype=grad.dtype)  # no chunks: an empty batch
                for q in parts[1:]:
                    gw += q
                gw = gw.reshape(w.shape)
        if want_b:
            gb = gc.sum(axis=(1,) + spatial)
        self.x = None
        return (gx.transpose(1, 0, *spatial) if want_x else None), gw, gb

    def backward_t(self, g):
        # the adjoint of conv2d's input gradient: the input gradient is a convolution of g with the
        # weight, the weight gradient conv2d's weight gradient with g as the input and x as its gradient
        p = self.parents
        w = self.saved(1, self.w)
        pads = tuple(v for a in self.padding for v in (a, a))
        gx = gw = gb = None
        if p[0] is not None:
            gx = ConvNdFn.apply(g, w, stride=self.stride, dilation=self.dilation, pads=pads, groups=self.groups,
                                name=self.name.replace("_transpose", ""), keep_col=w.requires_grad)
            sizes = self.in_shape[2:]
            if tuple(gx.shape[2:]) != tuple(sizes):  # output_padding past the last stride: positions x never reached
                gx = gx[(slice(None), slice(None)) + tuple(slice(0, sz) for sz in sizes)]
        if p[1] is not None:
            if self.x is None:
                raise RuntimeError(f"create_graph=True: double backward of {self.name} ({self.node_name}) needs the "
                                   "input, which this convolution no longer holds (its backward has run)")
            gw = weight_grad_t(g, self.saved(0, self.x), self.w.shape[2:], self.groups, self.stride, self.dilation,
                               pads, self.name)
        if len(p) > 2 and p[2] is not None:
            gb = g.sum((0,) + tuple(range(2, g.ndim)))
        return gx, gw, gb


def _geometry(input, weight, stride, padding, output_padding, dilation, nd):
    """Per-axis (stride, padding, output_padding, dilation) and the output's spatial size, checked as torch."""
    parts = []
    for v, what in ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"),
                    (dilation, "dilation")):
        if isinstance(v, str):
            raise TypeError(f"conv_transpose{nd}d(): argument '{what}' must be tuple of ints, not str")
        parts.append(_ntuple(v, nd, what))
    stride, padding, output_padding, dilation = parts
    if any(s < 1 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(d < 1 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {_hw(dilation, 'dilation', 1, ', ')}")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(
            f"output padding must be smaller than either stride or dilation, but got "
            f"{_hw(output_padding, 'output_padding', 0)} {_hw(stride, 'stride', 1)} {_hw(dilation, 'dilation', 1)}"
        )
    sizes = input.shape[-nd:]
    kernel = weight.shape[2:]
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                for n, s, p, d, k, op in zip(sizes, stride, padding, dilation, kernel, output_padding))
    if any(o < 1 for o in out):
        both = (1,) * (2 - nd)
        raise RuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, both + tuple(sizes)))}). Calculated output size "
            f"per channel: ({' x '.join(map(str, both + out))}). Output size is too small"
        )
    return stride, padding, output_padding, dilation, out


def _hw(v, what, fill, sep=" "):
    """``what_height: a what_width: b`` (``what_depth: ...`` first in 3-D) as ATen's messages name the axes;
    a 1-D convolution's axes are (fill, v)."""
    v = (fill,) * (2 - len(v)) + tuple(v)
    return sep.join(f"{what}_{axis}: {a}" for axis, a in zip(("depth", "height", "width")[-len(v):], v))


def _conv_transpose(name, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """conv_transpose2d's and conv_transpose3d's checks and call: ``nd`` spatial axes, an optional batch axis."""
    _check(name, input, weight, bias, int(groups), nd, transposed=True)
    stride, padding, output_padding, dilation, out = _geometry(input, weight, stride, padding, output_padding,
                                                               dilation, nd)
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    args = (input, weight) if bias is None else (input, weight, bias)
    y = ConvTransposeNdFn.apply(*args, stride=stride, padding=padding, dilation=dilation, groups=int(groups),
                                out_size=out, name=name, keep_x=weight.requires_grad and is_grad_enabled())
    return y.squeeze(0) if unbatched else y


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution ("deconvolution"), as ``torch.nn.functional.conv_transpose2d``.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, KH, KW).
        bias: (C_out,) or None.
        stride, padding, output_padding, dilation: int or (h, w); output_padding must be smaller
            than stride or dilation.
        groups: split the channels into this many independent transposed convolutions.

    Returns:
        (N, C_out, OH, OW), OH = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 3-D convolution, as ``torch.nn.functional.conv_transpose3d``.

    Args:
        input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W).
        weight: (C_in, C_out / groups, KD, KH, KW).
        bias: (C_out,) or None.
        stride, padding, output_padding, dilation: int or (d, h, w); output_padding must be
            smaller than stride or dilation.
        groups: split the channels into this many independent transposed convolutions.

    Returns:
        (N, C_out, OD, OH, OW), OD = (D - 1)*stride - 2*padding + dilation*(KD - 1) + output_padding + 1,
        and so on.
    """
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 1-D convolution, as ``torch.nn.functional.conv_transpose1d``.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_in, C_out / groups, K).
        bias: (C_out,) or None.
        stride, padding, output_padding, dilation: int; output_padding must be smaller than
            stride or dilation.
        groups: split the channels into this many independent transposed convolutions.

    Returns:
        (N, C_out, L_out), L_out = (L - 1)*stride - 2*padding + dilation*(K - 1) + output_padding + 1.
    """
    _check("conv_transpose1d", input, weight, bias, int(groups), 1, transposed=True)
    (s,), (p,), (op,), (d,), (lo,) = _geometry(input, weight, stride, padding, output_padding, dilation, 1)
    unbatched = input.ndim == 2
    if unbatched:
        input = input.unsqueeze(0)
    x, w = input.unsqueeze(2), weight.unsqueeze(2)
    args = (x, w) if bias is None else (x, w, bias)
    y = ConvTransposeNdFn.apply(*args, stride=(1, s), padding=(0, p), dilation=(1, d), groups=int(groups),
                                out_size=(1, lo), name="conv_transpose1d", keep_x=weight.requires_grad and is_grad_enabled()).squeeze(2)
    return y.squeeze(0) if unbatched else y
