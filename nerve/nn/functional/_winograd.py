"""Winograd F(4x4, 3x3): 3x3 stride-1 convolutions on the CPU with a quarter of the multiplications.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (2016). The output is cut
into 4x4 tiles; each reads a 6x6 tile of the input (neighbours overlap by 2). For one tile

    Y = A^T [ (G g G^T) . (B^T d B) ] A

with g the 3x3 kernel, d the input tile and ``.`` the elementwise product over the 36 positions
of the 6x6 transformed tile. Summed over input channels, each of the 36 positions is one matrix
product, (O, C) by (C, tiles), instead of the im2col product's K = 9C: 36 * 16 / (16 * 9) gives
4x fewer multiply-adds there. The transforms are products too, with the Kronecker products of the
small matrices (``vec(B^T d B) = (B^T kron B^T) vec(d)``), so NumPy runs every step in BLAS.

Backward is the same algebra transposed: with ``dYt = A dY A^T`` (per tile, 6x6), the weight
gradient's transform is the sum over tiles of ``dYt . (B^T d B)`` (36 products (O, tiles) by
(tiles, C)), and the input gradient's tile is ``B [ (G g G^T)^T dYt ] B^T``, added back into the
image where neighbouring tiles overlap. That last step (the adjoint of cutting overlapping tiles)
is two products with band matrices (``_spread``), not strided adds: NumPy's adds over 2- and
4-element rows cost 8 ms of the 29 for the MNIST net's second layer.

Everything runs a few images at a time (``_SUB_BYTES`` of working set), so the transforms, which
move more data than they compute, stay in the core's cache. Measured on the 2-core Zen 4 VM, one
thread, the MNIST net's training step at batch 64: 60 ms against 90 ms with im2col and 70 ms for
PyTorch (oneDNN). In float32 the outputs and gradients differ from a direct convolution's by about
2e-6 of their largest magnitude (im2col: 5e-7; float64: 1e-14).

Layout as ``conv.py``: channel-major (C, N, H, W) memory inside; the transformed input kept for
the weight gradient (36 C N T elements, T tiles an image: 1.9x the input, a quarter of im2col's
matrix) is stored a block of images after another, each block (36, C, images * T), so forward's
product writes it in place and backward reads it back the same way.
"""

from __future__ import annotations

import functools

import numpy as np

from ... import _threads

# The transforms for the points 0, -1, 1, 1/2, -2 and infinity, with G's and B^T's rows scaled by
# powers of 2 to balance them. Lavin's points (0, +-1, +-2) gave float32 outputs within 4.9e-6 of
# the largest magnitude on ReLU-like inputs; these give 2.4e-6 (Barabasz et al., "Error analysis
# and improving the accuracy of Winograd convolution for deep neural networks", 2020).
_BT = np.array([[1 / 2, -3 / 4, -1, 3 / 4, 1 / 2, 0], [0, -1 / 3, 5 / 6, -1 / 6, -1 / 3, 0],
                [0, -1 / 3, 1 / 6, 5 / 6, 1 / 3, 0], [0, 16 / 15, 8 / 15, -16 / 15, -8 / 15, 0],
                [0, 4 / 15, -8 / 15, -4 / 15, 8 / 15, 0], [0, 1, -3 / 2, -2, 3 / 2, 1]], dtype=np.float64)
_G = np.array([[2, 0, 0], [1, -1, 1], [1, 1, 1], [2, 1, 1 / 2], [1 / 8, -1 / 4, 1 / 2], [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 1, 1, 0], [0, -1, 1, 1 / 2, -2, 0], [0, 1, 1, 1 / 4, 4, 0], [0, -1, 1, 1 / 8, -8, 1]],
               dtype=np.float64)
# A^T's column for the point 1 is all ones: a value added at transformed position (1, 1) of a
# tile reaches all 16 of its outputs (forward adds the bias there)
_ONE = 2 * 6 + 2

# Working set of one block of images (input tiles, their transform, the 36 products' result and
# the output tiles): a few MB keeps it in L2/L3. Measured (one thread, conv2 of the MNIST net):
# 2 or 4 images a block (1.6-3.2 MB) 18 ms, 8 images 21 ms, all 64 23 ms.
_SUB_BYTES = 2 << 20


@functools.lru_cache(maxsize=4)
def _mats(dtype):
    """The Kronecker matrices in ``dtype``, C-contiguous: B (36, 36), G (36, 9), A (16, 36), the
    transposes of A and G backward uses, and B's inverse (to rebuild the input for double backward)."""
    bk = np.kron(_BT, _BT)
    gk = np.kron(_G, _G)
    ak = np.kron(_AT, _AT)
    binv = np.linalg.inv(bk)
    out = {name: np.ascontiguousarray(m, dtype=dtype)
           for name, m in (("B", bk), ("G", gk), ("A", ak), ("Binv", binv), ("AT", ak.T), ("GT", gk.T))}
    return out


@functools.lru_cache(maxsize=64)
def _spread(tiles, dtype):
    """(4 tiles + 2, 6 tiles): applied to a column of ``tiles`` transformed 6-element pieces, B's
    inverse transform of each piece (B = (B^T)^T) added at rows 4i..4i+5: the adjoint of cutting
    overlapping tiles out of a line of 4 tiles + 2 pixels and transforming them."""
    out = np.zeros((4 * tiles + 2, 6 * tiles))
    for i in range(tiles):
        out[4 * i: 4 * i + 6, 6 * i: 6 * i + 6] = _BT.T
    return np.ascontiguousarray(out, dtype=dtype)


def usable(xp, x, w, stride, dilation, groups, pads) -> bool:
    """Whether a convolution runs through Winograd: on the CPU, float32/float64, one group, a 3x3
    kernel, stride and dilation 1, at least 8 input and 4 output channels, outputs that fill
    their 4x4 tiles at least two thirds, and finite input and weight. Measured (one thread, forward + backward against im2col):
    4 input channels 1.06-1.09x im2col's time, a 5x5 output (2x2 tiles for 25 pixels) 1.36x;
    8 channels and up 0.39-0.88x."""
    if not (xp is np and groups == 1 and tuple(w.shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and x.dtype in (np.float32, np.float64)
            and x.shape[1] >= 8 and w.shape[0] >= 4):
        return False
    oh = x.shape[2] + pads[0] + pads[1] - 2
    ow = x.shape[3] + pads[2] + pads[3] - 2
    if not (oh > 0 and ow > 0 and 2 * (16 * -(-oh // 4) * -(-ow // 4)) <= 3 * oh * ow):
        return False
    # an inf or NaN would spread over its whole tile (each transformed position mixes all 36 pixels,
    # 0 * inf is NaN), where a direct convolution keeps it to the outputs whose windows read it; in
    # the weight it would turn its output channel all NaN, where a direct convolution gives +-inf.
    # The check costs 0.1 ms for the MNIST net's second layer at batch 64.
    return bool(np.isfinite(x).all() and np.isfinite(w).all())


class Plan:
    """One convolution's geometry: sizes, tiles, and the image blocks both passes walk."""

    def __init__(self, n, c, o, sizes, pads, itemsize, workers):
        h, w = sizes
        pt, pb, pl, pr = pads
        self.n, self.c, self.o = n, c, o
        self.sizes, self.pads = (h, w), pads
        self.oh, self.ow = h + pt + pb - 2, w + pl + pr - 2
        self.th, self.tw = -(-self.oh // 4), -(-self.ow // 4)
        self.t = self.th * self.tw
        self.hx, self.wx = 4 * self.th + 2, 4 * self.tw + 2  # the padded input the tiles read
        self.exact = (self.oh, self.ow) == (4 * self.th, 4 * self.tw)
        per_image = itemsize * self.t * (36 * c * 2 + 36 * o + 16 * o)
        sub = max(1, _SUB_BYTES // per_image)
        self.workers = workers  # the pool's size, not len(ranges): a pool of another size would be rebuilt
        self.ranges = _threads.blocks(n, workers)
        self.blocks = [[(a, min(b, a + sub)) for a in range(a0, b, sub)] for a0, b in self.ranges]


def forward(x, w, b, pads, store, workers):
    """The convolution of ``x`` (N, C, H, W) with ``w`` (O, C, 3, 3): its output, channel-major
    (O, N, OH, OW), and the plan. ``store(size)`` gives a flat buffer to keep the transformed input in
    (for the weight gradient), or is None when nothing needs it."""
    n, c, h, wd = x.shape
    o = w.shape[0]
    dtype = x.dtype
    m = _mats(dtype)
    plan = Plan(n, c, o, (h, wd), pads, x.itemsize, workers)
    th, tw, t = plan.th, plan.tw, plan.t
    xc = x.transpose(1, 0, 2, 3)
    pt, _, pl, _ = pads
    if (plan.hx, plan.wx) == (h, wd) and not any(pads):
        src = xc
    else:  # zero padding, and up to 3 more rows and columns so the tiles cover the output
        src = np.zeros((c, n, plan.hx, plan.wx), dtype=dtype)
        src[:, :, pt:pt + h, pl:pl + wd] = xc
    u = _threads.gemm(m["G"], w.reshape(o * c, 9).T).reshape(36, o, c)  # the transformed kernels
    out = np.empty((o, n, plan.oh, plan.ow), dtype=dtype)
    out6 = out.reshape(o, n, th, 4, tw, 4) if plan.exact else None  # a view: out is contiguous
    keep = store(36 * c * n * t) if store is not None else None
    s = src.strides
    bias = None if b is None else b.reshape(o, 1)

    def run(i):
        for n0, n1 in plan.blocks[i]:
            nb = n1 - n0
            ln = nb * t
            d = np.empty((36, c * ln), dtype=dtype)
            tiles = np.lib.stride_tricks.as_strided(src[:, n0:n1], (6, 6, c, nb, th, tw),
                                                    (s[2], s[3], s[0], s[1], 4 * s[2], 4 * s[3]), writeable=False)
            np.copyto(d.reshape(6, 6, c, nb, th, tw), tiles)
            v = keep[36 * c * n0 * t: 36 * c * n1 * t].reshape(36, c * ln) if keep is not None else np.empty_like(d)
            np.matmul(m["B"], d, out=v)
            prod = np.matmul(u, v.reshape(36, c, ln))  # (36, O, tiles)
            if bias is not None:
                prod[_ONE] += bias
            y = np.matmul(m["A"], prod.reshape(36, o * ln)).reshape(4, 4, o, nb, th, tw).transpose(2, 3, 4, 0, 5, 1)
            dst = out6[:, n0:n1] if plan.exact else np.empty((o, nb, th, 4, tw, 4), dtype=dtype)
            np.copyto(dst, y)
            if not plan.exact:
                out[:, n0:n1] = dst.reshape(o, nb, 4 * th, 4 * tw)[:, :, : plan.oh, : plan.ow]

    _threads.run_chunks(plan.workers, lambda i, _: run(i), [(i, None) for i in range(len(plan.ranges))])
    return out, plan, keep, u


def backward(grad_c, u, keep, plan, want_x, want_w):
    """Gradients of the input (channel-major (C, N, H, W) view, or None) and of the weight (or None)
    from the output's gradient ``grad_c``, channel-major (O, N, OH, OW)."""
    dtype = grad_c.dtype
    m = _mats(dtype)
    n, c, o = plan.n, plan.c, plan.o
    th, tw, t = plan.th, plan.tw, plan.t
    ut = np.ascontiguousarray(u.transpose(0, 2, 1)) if want_x else None  # (36, C, O)
    if want_x:
        dx = np.empty((c, n, plan.hx, plan.wx), dtype=dtype)
        rows, cols = _spread(plan.th, dtype), _spread(plan.tw, dtype).T

    def run(i):
        du = np.zeros((36, o, c), dtype=dtype) if want_w else None
        for n0, n1 in plan.blocks[i]:
            nb = n1 - n0
            ln = nb * t
            g = grad_c[:, n0:n1]
            if not plan.exact:
                full = np.zeros((o, nb, 4 * th, 4 * tw), dtype=dtype)
                full[:, :, : plan.oh, : plan.ow] = g
                g = full
            gg = np.empty((16, o * ln), dtype=dtype)
            np.copyto(gg.reshape(4, 4, o, nb, th, tw), g.reshape(o, nb, th, 4, tw, 4).transpose(3, 5, 0, 1, 2, 4))
            gt = np.matmul(m["AT"], gg).reshape(36, o, ln)  # A dY A^T, tile by tile
            if want_w:
                v = keep[36 * c * n0 * t: 36 * c * n1 * t].reshape(36, c, ln)
                du += np.matmul(gt, v.transpose(0, 2, 1))
            if want_x:
                dv = np.matmul(ut, gt)  # (36, C, tiles)
                # B dV B^T for every tile, each added where its 6x6 input tile lies (neighbours overlap by
                # 2): with the tiles' transforms laid out side by side, (C, n, th*6, tw*6), that is
                # rows @ tiles @ cols (see _spread): two products, no strided adds
                side = np.empty((c, nb, th, 6, tw, 6), dtype=dtype)
                np.copyto(side, dv.reshape(6, 6, c, nb, th, tw).transpose(2, 3, 4, 0, 5, 1))
                half = np.matmul(side.reshape(c * nb * th * 6, tw * 6), cols).reshape(c, nb, th * 6, plan.wx)
                np.matmul(rows, half, out=dx[:, n0:n1])
        return du

    parts = _threads.run_chunks(plan.workers, lambda i, _: run(i), [(i, None) for i in range(len(plan.ranges))])
    gw = gx = None
    if want_w:
        du = parts[0] if parts else np.zeros((36, o, c), dtype=dtype)  # no parts: an empty batch
        for p in parts[1:]:
            du += p
        gw = np.matmul(m["GT"], du.reshape(36, o * c)).T.reshape(o, c, 3, 3)
    if want_x:
        h, wd = plan.sizes
        pt, _, pl, _ = plan.pads
        gx = dx[:, :, pt:pt + h, pl:pl + wd]
    return gx, gw


def input_from_store(keep, plan, dtype):
    """The convolution's input, channel-major (C, N, H, W), rebuilt from the kept transform (for
    double backward): each 6x6 tile is ``B^-T`` applied back, and overlapping tiles agree."""
    m = _mats(dtype)
    n, c = plan.n, plan.c
    th, tw, t = plan.th, plan.tw, plan.t
    img = np.zeros((c, n, plan.hx, plan.wx), dtype=dtype)
    for blocks in plan.blocks:
        for n0, n1 in blocks:
            nb = n1 - n0
            v = keep[36 * c * n0 * t: 36 * c * n1 * t].reshape(36, c * nb * t)
            d = np.matmul(m["Binv"], v).reshape(6, 6, c, nb, th, tw)
            for a in range(6):
                for q in range(6):
                    img[:, n0:n1, a: a + 4 * th: 4, q: q + 4 * tw: 4] = d[a, q]
    h, wd = plan.sizes
    pt, _, pl, _ = plan.pads
    return img[:, :, pt:pt + h, pl:pl + wd]

