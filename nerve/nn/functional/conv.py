"""Convolutions: ``conv1d``, ``conv2d`` and ``conv3d`` as one GEMM per group over an im2col matrix.

One op, ``ConvNdFn``, serves every rank: 2-D and 3-D directly (spatial axes are tuples), 1-D as
2-D over a height of 1. Below, (H, W) reads (D, H, W) for 3-D.

Layout, chosen for speed on NumPy's BLAS: inside, activations are channel-major, (C, N, H, W)
in memory, and a convolution hands back an (N, C, H, W) *view* of that memory. The next
convolution finds its input already channel-major and copies nothing to get there, and
elementwise ops in between (ReLU, its mask) keep that layout because NumPy and CuPy allocate
results in the memory order of their inputs. With the channel-major layout

* the weight is used as PyTorch stores it, (O, C*KH*KW), with no transpose;
* the output of ``weight @ col`` is (O, N*OH*OW): already the channel-major result;
* im2col and col2im are KH*KW block copies / adds, one per kernel offset. At stride 1 with
  short output rows each block is a shifted slice of the flattened (H*W) image ("wide"
  columns: outputs are computed over the whole padded width and the extra columns dropped
  chunk by chunk, so the output is compact), so every copy and add runs over long contiguous
  rows instead of a few elements at a time;
* backward reuses the saved im2col matrix for the weight gradient.

In 3-D the wide columns flatten each (H, W) plane only; depth offsets are plain slices.

On the CPU, 3x3 stride-1 convolutions with 8 or more input channels take another path,
Winograd F(4x4, 3x3) (``_winograd.py``), in the same channel-major layout.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import weakref

import numpy as np

from ... import _threads
from ...autograd import Function, is_grad_enabled
from ...tensor import Tensor
from . import _winograd


def _ntuple(v, n: int, what: str) -> tuple:
    if isinstance(v, bool):
        raise TypeError(f"{what} must be an int or a tuple of {n} ints, got {v!r}")
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"{what} must be an int or a tuple of {n} ints, got {v}")
    return v


def _im2col(xp, img, col, kernel, out, stride, dilation, wide, add=False):
    """Copy (or, with ``add``, scatter-add back) every kernel offset's block of the images.

    ``img`` is (C, n, *padded) and ``col`` is (C, *kernel, n, *out) with the last axis Wp (the
    padded width) when ``wide``. Wide columns flatten each (H, W) plane: an offset's block of a
    plane is one slice of it; leading spatial axes (depth) are sliced as in the narrow case. A
    wide 2-D scatter-add overwrites ``img`` at the first offset, so ``img`` may start uninitialised.
    """
    blocks = _blocks(tuple(kernel), tuple(out), tuple(stride), tuple(dilation), img.shape[2:], wide)
    if wide:
        img = img.reshape(img.shape[:-2] + (-1,))
        col = col.reshape(col.shape[:-2] + (-1,))
    for dst, src, tail, first in blocks:
        if not add:
            col[dst] = img[src]
            if tail is not None:  # the tail only feeds dropped columns
                col[tail] = 0
        elif first:  # the first offset of a wide 2-D col2im covers [0, length): assign, zero the rest
            img[src] = col[dst]
            img[tail] = 0
        else:
            img[src] += col[dst]


@functools.lru_cache(maxsize=256)
def _blocks(kernel, out, stride, dilation, padded, wide):
    """Per kernel offset: (index into the column matrix, index into the image, the column matrix's tail
    to zero (an image's rest to zero, for ``first``) or None, first). Wide ones index the images and
    columns with their (H, W) planes flattened. Built once per geometry: convolutions run this loop
    every step, small ones too."""
    whole = (slice(None), slice(None))
    out_blocks = []
    offsets = itertools.product(*map(range, kernel))
    if wide:
        *lead, hp, wp = padded
        length = out[-2] * wp
        dh, dw = dilation[-2:]
        planes = [[slice(a * d, a * d + o) for a in range(k)] for k, d, o in zip(kernel, dilation, out[:-2])]
        starts = [i * dh * wp + j * dw for i in range(kernel[-2]) for j in range(kernel[-1])]
        for offs, at in zip(offsets, itertools.product(*planes, starts)):
            s = at[-1]
            ln = min(length, hp * wp - s)
            dst = (slice(None),) + offs + (Ellipsis, slice(0, ln))
            src = whole + at[:-1] + (slice(s, s + ln),)
            if s == 0 and not lead:
                out_blocks.append((dst, src, (Ellipsis, slice(ln, None)), True))
            else:
                tail = (slice(None),) + offs + (Ellipsis, slice(ln, None)) if ln < length else None
                out_blocks.append((dst, src, tail, False))
        return tuple(out_blocks)
    windows = [[slice(i * d, i * d + s * (o - 1) + 1, s) for i in range(k)]
               for k, d, s, o in zip(kernel, dilation, stride, out)]
    for offs, at in zip(offsets, itertools.product(*windows)):
        out_blocks.append(((slice(None),) + offs, whole + at, None, False))
    return tuple(out_blocks)


# On the CPU the im2col matrix is built and multiplied several images at a time, so each block
# is still in cache when the GEMM reads it (or, in backward, when col2im adds it back). Chunks
# are large (3 for the MNIST net's second convolution): each GEMM call with several BLAS
# threads is a hand-off between them, and on a loaded machine every hand-off can wait for a
# descheduled thread, while on one thread 4 MB and 16 MB chunks take the same time.
_CHUNK_BYTES = 16 << 20


# The im2col matrix kept for the weight gradient is large (46 MB for the MNIST net's second
# convolution at batch 64): allocated afresh every step it comes as new pages from the OS, and
# the page faults cost about as much as filling it. On the CPU a finished matrix (its op's
# backward has run, or the op is gone) is handed to the next convolution that asks for one of
# the same size, as a caching allocator would; so are the per-chunk scratch buffers once
# released. At most _POOL_FREE unclaimed ones are kept.
_POOL_MIN_BYTES = 4 << 20
_POOL_FREE = 4
_pool: list = []  # [weak reference to the op holding the buffer (or a stand-in), buffer]
_pool_lock = threading.Lock()


class _InUse:
    parents = ()  # a holder whose backward has not run


def _in_use():
    return _InUse


def _released():
    return None


def _col_buffer(xp, size, dtype, fn=None):
    """An uninitialised buffer of ``size`` elements.

    ``fn`` is the op that keeps it: the buffer is free again once ``fn``'s backward has run or
    ``fn`` is gone. Without ``fn`` it is scratch, free again after ``_release(buf)``.
    """
    if xp is not np or size * np.dtype(dtype).itemsize < _POOL_MIN_BYTES:
        return xp.empty(size, dtype=dtype)
    with _pool_lock:
        return _claim(size, dtype, _in_use if fn is None else weakref.ref(fn))


def _claim(size, dtype, holder_ref):
    free = []
    for entry in _pool:
        holder = entry[0]()
        if holder is None or holder.parents is None:  # gone, or its backward has run
            buf = entry[1]
            if buf.size == size and buf.dtype == dtype:
                if holder is not None:
                    holder.col = None
                entry[0] = holder_ref
                return buf
            free.append(entry)
    for entry in free[: max(0, len(free) - _POOL_FREE + 1)]:
        _pool.remove(entry)
    buf = np.empty(size, dtype=dtype)
    _pool.append([holder_ref, buf])
    return buf


def _release(buf):
    """Hand a scratch buffer from ``_col_buffer`` back."""
    with _pool_lock:
        for entry in _pool:
            if entry[1] is buf:
                entry[0] = _released
                return


def _chunks(xp, n, per_image_bytes, workers=1):
    """Image ranges of about _CHUNK_BYTES of im2col matrix each, a multiple of ``workers`` of them."""
    if xp is not np:
        return [(0, n)]
    count = max(workers, -(-n * per_image_bytes // _CHUNK_BYTES))
    return _threads.blocks(n, -(-count // workers) * workers)


# Threads: the chunks run on nerve's worker pool, each with one BLAS thread (see nerve/_threads.py
# for why). _WORKERS = 1 runs them one after the other and leaves all parallelism to BLAS.
_WORKERS: int | None = None  # threads for the CPU chunks; None: nerve's worker count
# Stride-1 convolutions whose output rows are shorter than this use wide columns: NumPy's
# copies over rows that short cost more than the extra columns. Measured on the 2-core VM
# (forward + backward, batch 64): 7x7 outputs 12.6 ms wide against 14.5 ms narrow; 14x14 and
# up, narrow was as fast or faster (the MNIST net's 26x26 -> 24x24: 61 ms against 64 ms, its
# 28x28 -> 26x26 first layer 4.3 ms against 5.8 ms), with no extra columns to multiply.
_WIDE_BELOW = 10
# 3x3 stride-1 convolutions on the CPU run through Winograd F(4x4, 3x3) (see _winograd.py);
# False sends them through im2col like every other convolution.
_WINOGRAD = True


def _workers(xp) -> int:
    """How many threads the CPU chunks run on: _WORKERS, else nerve's worker count (1 on the GPU)."""
    if xp is not np:
        return 1
    if _WORKERS is not None:
        return max(1, int(_WORKERS))
    return _threads.workers()


@functools.lru_cache(maxsize=256)
def _conv_geometry(sizes, kernel, stride, dilation, pads):
    """(padded sizes, output sizes, the spatial axes, the unpadded part of a padded image or None)."""
    padded = tuple([sz + pads[2 * i] + pads[2 * i + 1] for i, sz in enumerate(sizes)])
    outs = tuple([(p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(padded, kernel, stride, dilation)])
    if min(outs) < 1:
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel size: "
            f"({' x '.join(str(d * (k - 1) + 1) for k, d in zip(kernel, dilation))}). "
            "Kernel size can't be greater than actual input size"
        )
    crop = None
    if any(pads):
        crop = (slice(None), slice(None)) + tuple(slice(pads[2 * i], pads[2 * i] + sz) for i, sz in enumerate(sizes))
    return padded, outs, tuple(range(2, len(sizes) + 2)), crop


class ConvNdFn(Function):
    """N-D convolution (cross-correlation) of (N, C, *S) with weight (O, C/groups, *K), S 2-D or 3-D.

    1-D convolutions run as 2-D ones over a height of 1.
    """

    name = "conv2d"
    torch_name = "ConvolutionBackward0"
    winograd = True  # False: never through Winograd (see _backward_direct)

    def forward(self, xp, x, w, b=None):
        n, c = x.shape[:2]
        o, cg = w.shape[:2]
        sizes, kernel = x.shape[2:], w.shape[2:]
        g = self.groups
        stride, dilation = self.stride, self.dilation
        pads = self.pads
        self.wino = None
        if _WINOGRAD and self.winograd and _winograd.usable(xp, x, w, stride, dilation, g, pads):
            store = (lambda size: _col_buffer(xp, size, x.dtype, self)) if self.keep_col else None
            out, self.wino, self.col, self.u = _winograd.forward(x, w, b, pads, store, _workers(xp))
            self.w = w
            padded = (sizes[0] + pads[0] + pads[1], sizes[1] + pads[2] + pads[3])
            self.geom = (n, c, sizes, padded, None, None, None, (2, 3), None)
            return out.transpose(1, 0, 2, 3)
        padded, outs, spatial, crop = _conv_geometry(sizes, kernel, stride, dilation, pads)
        xc = x.transpose(1, 0, *spatial)  # channel-major view; free when x came from a conv
        if crop is not None:
            xpad = xp.zeros((c, n) + padded, dtype=x.dtype)
            xpad[crop] = xc
        else:
            xpad = xp.ascontiguousarray(xc)
        ow = outs[-1]
        wide = max(stride) == 1 and ow < _WIDE_BELOW
        owc = padded[-1] if wide else ow
        cshape = outs[:-1] + (owc,)  # one image's columns
        ln = math.prod(cshape)
        kk = math.prod(kernel)
        k = cg * kk
        workers = _workers(xp)
        chunks = _chunks(xp, n, c * kk * ln * x.itemsize, workers)
        # with one group the bias rides in the GEMM: a row of ones under the im2col matrix and
        # the bias as an extra weight column (no pass over the output; its gradient comes
        # with the weight's)
        fold = g == 1 and b is not None
        kr = k + 1 if fold else k  # rows of the matrix per group
        keep = self.keep_col
        if keep:  # the whole matrix, kept for the weight gradient
            store = _col_buffer(xp, g * kr * n * ln, x.dtype, self)
            if fold:
                store[k * n * ln :] = 1
        # wide columns are dropped chunk by chunk, while the GEMM's result is still in cache:
        # the output is compact, so the elementwise ops after it (ReLU, its mask, pooling)
        # run over contiguous memory
        compact = owc != ow
        out = xp.empty((o, n) + (outs if compact else cshape), dtype=x.dtype)
        wm = w.reshape(g, o // g, k)
        if fold:
            wm = xp.concatenate([wm[0], b.reshape(o, 1)], axis=1)[None]
        outm = None if compact else out.reshape(g, o // g, n, ln)
        size = g * kr * max((n1 - n0 for n0, n1 in chunks), default=0) * ln
        at_n = (slice(None),) * (len(kernel) + 1)  # the image axis of the column matrix comes after the kernel's

        def chunk(n0, n1):
            nb = n1 - n0
            if keep:
                blk = store[: c * kk * n * ln].reshape((c, *kernel, n) + cshape)[at_n + (slice(n0, n1),)]
                src = store.reshape(g, kr, n, ln)[:, :, n0:n1].reshape(g, kr, nb * ln)
            else:  # one chunk's worth of scratch
                buf = _col_buffer(xp, size, x.dtype)
                blk = buf[: c * kk * nb * ln].reshape((c, *kernel, nb) + cshape)
                src = buf[: g * kr * nb * ln].reshape(g, kr, nb * ln)
                if fold:
                    src[0, k] = 1
            wbuf = None
            try:
                _im2col(xp, xpad[:, n0:n1], blk, kernel, outs, stride, dilation, wide)
                if compact:  # the GEMM writes wide rows to scratch, then the kept columns out
                    wbuf = _col_buffer(xp, o * nb * ln, x.dtype)
                    dst = wbuf.reshape(g, o // g, nb * ln)
                else:
                    dst = outm[:, :, n0:n1].reshape(g, o // g, nb * ln)
                if g == 1:
                    xp.matmul(wm[0], src[0], out=dst[0])
                else:
                    xp.matmul(wm, src, out=dst)
                if b is not None and not fold:
                    dst += b.reshape(g, o // g, 1)
                if compact:
                    out[:, n0:n1] = dst.reshape((o, nb) + cshape)[..., :ow]
            finally:
                if wbuf is not None:
                    _release(wbuf)
                if not keep:
                    _release(buf)

        _threads.run_chunks(workers, chunk, chunks)
        self.col = store.reshape(g, kr, n, ln) if keep else None
        self.fold = fold
        self.w = w
        self.geom = (n, c, sizes, padded, outs, cshape, wide, spatial, crop)
        return out.transpose(1, 0, *spatial)

    def backward(self, xp, grad):
        if self.wino is not None:
            return self._backward_winograd(grad)
        n, c, sizes, padded, outs, cshape, wide, spatial, crop = self.geom
        w = self.w
        o, cg = w.shape[:2]
        kernel = w.shape[2:]
        g = self.groups
        kk = math.prod(kernel)
        k = cg * kk
        ln = math.prod(cshape)
        ow = outs[-1]
        gc = grad.transpose(1, 0, *spatial)
        pad_grad = cshape != outs  # wide columns: the dropped outputs get a zero gradient
        gm = xp.empty((o, n) + cshape, dtype=grad.dtype) if pad_grad else xp.ascontiguousarray(gc)
        gmm = gm.reshape(g, o // g, n, ln)
        want_x = self.parents[0] is not None
        want_w = self.parents[1] is not None
        want_b = len(self.parents) > 2 and self.parents[2] is not None
        col = self.col
        if want_x:
            wt = xp.ascontiguousarray(w.reshape(g, o // g, k).transpose(0, 2, 1))
            # a wide 2-D col2im assigns at its first offset; with a depth axis every element is added to
            dx = (xp.empty if wide and len(kernel) == 2 else xp.zeros)((c, n) + padded, dtype=grad.dtype)
        workers = _workers(xp)
        chunks = _chunks(xp, n, c * kk * ln * grad.itemsize, workers)
        size = g * k * max((n1 - n0 for n0, n1 in chunks), default=0) * ln

        def chunk(n0, n1):  # returns this chunk's share of the weight gradient
            nb = n1 - n0
            if pad_grad:
                gm[:, n0:n1, ..., :ow] = gc[:, n0:n1]
                gm[:, n0:n1, ..., ow:] = 0
            src = gmm[:, :, n0:n1].reshape(g, o // g, nb * ln)
            part = None
            if want_w:
                cols = col[:, :, n0:n1].reshape(g, -1, nb * ln)
                part = xp.matmul(src, cols.transpose(0, 2, 1))
            if want_x:
                buf = _col_buffer(xp, size, grad.dtype)
                try:
                    dcol = buf[: g * k * nb * ln].reshape(g, k, nb * ln)
                    if g == 1:
                        xp.matmul(wt[0], src[0], out=dcol[0])
                    else:
                        xp.matmul(wt, src, out=dcol)
                    _im2col(xp, dx[:, n0:n1], dcol.reshape((c, *kernel, nb) + cshape), kernel, outs,
                            self.stride, self.dilation, wide, add=True)
                finally:
                    _release(buf)
            return part

        parts = _threads.run_chunks(workers, chunk, chunks)
        gx = gw = gb = None
        if want_w:
            gw = parts[0] if parts else xp.zeros((g, o // g, col.shape[1]), dtype=grad.dtype)  # an empty batch
            for p in parts[1:]:
                gw += p
            if self.fold:  # with the bias folded in, its gradient is the last column
                gb = gw[0, :, k].copy() if want_b else None
                gw = gw[:, :, :k]
            gw = gw.reshape(w.shape)
        if want_b and gb is None:
            gb = gm.reshape(o, n * ln).sum(axis=1)
        if want_x:
            if crop is not None:
                dx = dx[crop]
            gx = dx.transpose(1, 0, *spatial)
        return gx, gw, gb

    def _backward_winograd(self, grad):
        if not np.isfinite(grad).all():
            return self._backward_direct(grad)
        want_x = self.parents[0] is not None
        want_w = self.parents[1] is not None
        want_b = len(self.parents) > 2 and self.parents[2] is not None
        gc = grad.transpose(1, 0, 2, 3)
        gx, gw = _winograd.backward(gc, self.u, self.col, self.wino, want_x, want_w)
        gb = gc.sum(axis=(1, 2, 3)) if want_b else None
        return (None if gx is None else gx.transpose(1, 0, 2, 3)), gw, gb

    def _backward_direct(self, grad):
        """Backward through im2col, for a gradient with an inf or NaN: Winograd's transforms, and the band
        products that add its tiles back, would spread it as NaN over the whole image."""
        n, c, sizes = self.geom[:3]
        keep = self.col is not None
        x = self._saved_input(self.w.shape[2:]) if keep else np.zeros((n, c, *sizes), dtype=self.w.dtype)
        fn = ConvNdFn()  # the input gradient does not read x: zeros where the weight needs no gradient
        fn.__dict__.update(stride=self.stride, dilation=self.dilation, pads=self.pads, groups=self.groups,
                           keep_col=keep, winograd=False, parents=self.parents)
        fn.forward(np, x, self.w)
        return fn.backward(np, grad)

    def _saved_input(self, kernel):
        """The input, rebuilt from what forward kept (the im2col matrix or Winograd's transform)."""
        xp = self.device.xp
        if self.wino is not None:
            return _winograd.input_from_store(self.col, self.wino, self.col.dtype).transpose(1, 0, 2, 3)
        return _input_from_col(xp, self.col, self.geom, kernel, self.stride, self.dilation)

    def backward_t(self, g):
        # the input gradient is the transposed convolution of g with the weight, the weight gradient
        # a convolution of the input with g (batch and channel axes swapped): both recorded ops
        from .conv_transpose import ConvTransposeNdFn

        n, c, sizes, padded, outs, cshape, wide, spatial, crop = self.geom
        p = self.parents
        w = self.saved(1, self.w)
        kernel = self.w.shape[2:]
        groups, pads = self.groups, self.pads
        gx = gw = gb = None
        if p[0] is not None:
            symmetric = pads[::2] == pads[1::2]
            gx = ConvTransposeNdFn.apply(g, w, stride=self.stride, dilation=self.dilation, groups=groups,
                                         padding=pads[::2] if symmetric else (0,) * len(sizes),
                                         out_size=sizes if symmetric else padded, name=self.name.replace("conv", "conv_transpose"),
                                         keep_x=w.requires_grad)
            if not symmetric:  # padding='same' with an even kernel: crop the padded input's gradient
                gx = gx[(slice(None), slice(None)) + tuple(slice(a, a + sz) for a, sz in zip(pads[::2], sizes))]
        if p[1] is not None:
            if self.col is None:
                raise RuntimeError(f"create_graph=True: double backward of {self.name} ({self.node_name}) needs the "
                                   "input, which this convolution did not keep (its weight did not require grad)")
            x = self.saved(0, self._saved_input(kernel))
            gw = weight_grad_t(x, g, kernel, groups, self.stride, self.dilation, pads, self.name)
        if len(p) > 2 and p[2] is not None:
            gb = g.sum((0,) + spatial)
        return gx, gw, gb


def weight_grad_t(x, g, kernel, groups, stride, dilation, pads, name):
    """The weight gradient of a convolution of ``x`` (N, C, *S) whose output got gradient ``g``
    (N, O, *outs), recorded: a convolution of the images (channels as the batch) with ``g``."""
    n, c, *sizes = x.shape
    o, outs = g.shape[1], tuple(g.shape[2:])
    cg, og = c // groups, o // groups
    if n == 0:  # an empty batch: a zero gradient (the convolution below would have no channels)
        return g.new_zeros((o, cg, *kernel))
    ax = tuple(range(3, 3 + len(sizes)))
    # (cg, groups * n, *S) images against (groups * og, n, *outs) filters, groups as groups:
    # output (cg, o, *K') with K' >= K, the weight gradient's transpose and a margin
    xs = x.reshape((n, groups, cg, *sizes)).permute((2, 1, 0) + ax).reshape((cg, groups * n, *sizes))
    gs = g.reshape((n, groups, og) + outs).permute((1, 2, 0) + ax).reshape((o, n) + outs)
    r = ConvNdFn.apply(xs, gs, stride=dilation, dilation=stride, pads=pads, groups=groups, name=name,
                       keep_col=gs.requires_grad)
    if tuple(r.shape[2:]) != tuple(kernel):
        r = r[(slice(None), slice(None)) + tuple(slice(0, k) for k in kernel)]
    return r.transpose(0, 1)


def _input_from_col(xp, col, geom, kernel, stride, dilation):
    """The convolution's input, (N, C, *S), rebuilt from the im2col matrix forward kept: every
    position a window reads, zeros elsewhere (positions no window reads do not affect the output)."""
    n, c, sizes, padded, outs, cshape, wide, spatial, crop = geom
    kk = math.prod(kernel)
    ln = math.prod(cshape)
    m = col.reshape(-1)[: c * kk * n * ln].reshape((c, *kernel, n) + cshape)
    img = xp.zeros((c, n) + padded, dtype=col.dtype)
    # (the last two axes' sizes multiplied out: -1 is ambiguous in an empty batch's reshape)
    flat_img, flat_m = (img.reshape(img.shape[:-2] + (img.shape[-2] * img.shape[-1],)),
                        m.reshape(m.shape[:-2] + (m.shape[-2] * m.shape[-1],))) if wide else (img, m)
    for dst, src, _, _ in _blocks(tuple(kernel), tuple(outs), tuple(stride), tuple(dilation), tuple(padded), wide):
        flat_img[src] = flat_m[dst]
    if crop is not None:
        img = img[crop]
    return img.transpose(1, 0, *spatial)


def _pads(padding, kernel, dilation, stride, nd):
    """Per-side padding (before, after of each spatial axis: top, bottom, left, right in 2-D) from an
    int, a tuple, 'valid' or 'same'. A 1-D convolution gets a zero-padded height in front (it runs as 2-D)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0) * max(nd, 2)
        if padding != "same":
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return tuple(out) if nd > 1 else (0, 0) + tuple(out)
    p = _ntuple(padding, nd, "padding")
    if any(v < 0 for v in p):
        raise ValueError(f"negative padding is not supported, got {p}")
    if nd == 1:
        return (0, 0, p[0], p[0])
    return tuple(v for a in p for v in (a, a))


def _check(name, input, weight, bias, groups, nd, transposed=False):
    """Check a convolution's arguments as PyTorch does. The weight is (out, in / groups, *kernel), or
    (in, out / groups, *kernel) for a transposed convolution."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{name}(): input and weight must be Tensors")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{name}: expected a {nd + 2}D weight, got one of shape {list(weight.shape)}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, "
            f"but got input of size: {list(input.shape)}"
        )
    if groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    c = input.shape[-nd - 1]
    w0, w1 = weight.shape[0], weight.shape[1]
    if w0 % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    if transposed:
        want_c, out = w0, w1 * groups
        if c != want_c:
            raise RuntimeError(
                f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(input.shape)} to "
                f"have {want_c} channels, but got {c} channels instead"
            )
        if bias is not None and tuple(bias.shape) != (out,):
            raise RuntimeError(
                f"Given transposed=1, weight of size {list(weight.shape)}, expected bias to be 1-dimensional "
                f"with {out} elements, but got bias of size {list(bias.shape)} instead"
            )
    else:
        if c != w1 * groups:
            raise RuntimeError(
                f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(input.shape)} "
                f"to have {w1 * groups} channels, but got {c} channels instead"
            )
        if bias is not None and tuple(bias.shape) != (w0,):
            raise RuntimeError(f"{name}: expected bias of shape [{w0}], got {list(bias.shape)}")
    if not input.is_floating_point():
        raise RuntimeError(f"{name}: expected a floating-point input, got {input.dtype}")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"Input type ({input.dtype}) and weight type ({weight.dtype}) should be the same")


def _conv(name, nd, input, weight, bias, stride, padding, dilation, groups):
    """conv2d's and conv3d's checks and call: ``nd`` spatial axes, an optional batch axis."""
    _check(name, input, weight, bias, groups, nd)
    stride = _ntuple(stride, nd, "stride")
    dilation = _ntuple(dilation, nd, "dilation")
    if any(s < 1 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d < 1 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    pads = _pads(padding, weight.shape[2:], dilation, stride, nd)
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    args = (input, weight) if bias is None else (input, weight, bias)
    out = ConvNdFn.apply(*args, stride=stride, dilation=dilation, pads=pads, groups=int(groups), name=name,
                         keep_col=weight.requires_grad and is_grad_enabled())
    return out.squeeze(0) if unbatched else out


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution over an (N, C, H, W) or (C, H, W) input, as ``torch.nn.functional.conv2d``.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, KH, KW).
        bias: (C_out,) or None.
        stride, dilation: int or (h, w).
        padding: int, (h, w), ``'valid'`` or ``'same'`` (stride 1 only).
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, OH, OW), with OH = (H + 2*pad - dilation*(KH-1) - 1) // stride + 1.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """3-D convolution over an (N, C, D, H, W) or (C, D, H, W) input, as ``torch.nn.functional.conv3d``.

    Args:
        input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W).
        weight: (C_out, C_in / groups, KD, KH, KW).
        bias: (C_out,) or None.
        stride, dilation: int or (d, h, w).
        padding: int, (d, h, w), ``'valid'`` or ``'same'`` (stride 1 only).
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, OD, OH, OW), with OD = (D + 2*pad - dilation*(KD-1) - 1) // stride + 1, and so on.
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution over an (N, C, L) or (C, L) input, as ``torch.nn.functional.conv1d``.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_out, C_in / groups, K).
        bias: (C_out,) or None.
        stride, dilation: int.
        padding: int, ``'valid'`` or ``'same'`` (stride 1 only).
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, L_out), with L_out = (L + 2*pad - dilation*(K-1) - 1) // stride + 1.
    """
    _check("conv1d", input, weight, bias, groups, 1)
    (s,) = _ntuple(stride, 1, "stride")
    (d,) = _ntuple(dilation, 1, "dilation")
    if s < 1:
        raise RuntimeError("non-positive stride is not supported")
    if d < 1:
        raise RuntimeError(f"dilation should be greater than zero, but got [1, {d}]")  # ATen's 1-D runs as 2-D
    pads = _pads(padding, weight.shape[2:], (d,), (s,), 1)
    unbatched = input.ndim == 2
    if unbatched:
        input = input.unsqueeze(0)
    x = input.unsqueeze(2)
    w = weight.unsqueeze(2)
    args = (x, w) if bias is None else (x, w, bias)
    out = ConvNdFn.apply(*args, stride=(1, s), dilation=(1, d), pads=pads, groups=int(groups), name="conv1d",
                         keep_col=weight.requires_grad and is_grad_enabled()).squeeze(2)
    return out.squeeze(0) if unbatched else out
