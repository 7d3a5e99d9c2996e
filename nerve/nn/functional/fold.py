"""unfold (im2col) and fold (col2im) over (N, C, H, W) images, in torch's (N, C*kh*kw, L) layout.

Each op loops over the kh*kw kernel offsets, not the blocks: one strided copy (or add) per
offset. fold is unfold's adjoint, so each one's backward is the other.
"""

from __future__ import annotations

from ...autograd import Function
from ...tensor import Tensor


def _pair(v, what: str) -> tuple:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise RuntimeError(f"It is expected {what} equals to 2, but got size {len(v)}")
    return v


def _geometry(kernel_size, dilation, padding, stride):
    k, d, p, s = (_pair(v, w) for v, w in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                           (padding, "padding"), (stride, "stride")))
    if k[0] <= 0 or k[1] <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_height: {k[0]} kernel_width: {k[1]}")
    if s[0] <= 0 or s[1] <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got stride_height: {s[0]} stride_width: {s[1]}")
    if d[0] <= 0 or d[1] <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilation_height: {d[0]} "
                           f"dilation_width: {d[1]}")
    if p[0] < 0 or p[1] < 0:
        raise RuntimeError(f"padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}")
    return k, d, p, s


def _blocks(size, k, d, p, s):
    return tuple((n + 2 * pp - (dd * (kk - 1) + 1)) // ss + 1 for n, kk, dd, pp, ss in zip(size, k, d, p, s))


def _offsets(g):
    """(i, j, row slice, column slice) of every kernel offset in the padded image."""
    (kh, kw), (dh, dw), _, (sh, sw), (oh, ow) = g
    for i in range(kh):
        for j in range(kw):
            yield i, j, slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)


def _im2col(xp, x, g):
    n, c, h, w = x.shape
    (kh, kw), _, (ph, pw), _, (oh, ow) = g
    xpd = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    col = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i, j, rs, cs in _offsets(g):
        col[:, :, i, j] = xpd[:, :, rs, cs]
    return col.reshape(n, c * kh * kw, oh * ow)


def _col2im(xp, col, g, size):
    (kh, kw), _, (ph, pw), _, (oh, ow) = g
    n = col.shape[0]
    c = col.shape[1] // (kh * kw)
    h, w = size
    col = col.reshape(n, c, kh, kw, oh, ow)
    img = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=col.dtype)
    for i, j, rs, cs in _offsets(g):
        img[:, :, rs, cs] += col[:, :, i, j]
    return img[:, :, ph : ph + h, pw : pw + w]


class Im2Col(Function):
    name = "im2col"

    def forward(self, xp, x):
        self.size = x.shape[2:]
        return _im2col(xp, x, self.geom)

    def backward(self, xp, grad):
        return _col2im(xp, grad, self.geom, self.size)


class Col2Im(Function):
    name = "col2im"

    def forward(self, xp, col):
        return _col2im(xp, col, self.geom, self.size)

    def backward(self, xp, grad):
        return _im2col(xp, grad, self.geom)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding blocks of a batch of images as columns (im2col), as ``torch.nn.functional.unfold``.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size, dilation, padding, stride: int or (h, w).

    Returns:
        (N, C * kh * kw, L) (or (C * kh * kw, L)), L the number of blocks, row-major.
    """
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    k, d, p, s = _geometry(kernel_size, dilation, padding, stride)
    size = tuple(input.shape[-2:])
    out = _blocks(size, k, d, p, s)
    if out[0] < 1 or out[1] < 1:
        raise RuntimeError(
            f"Given input with spatial size {size}, kernel_size={k}, dilation={d}, padding={p}, calculated shape "
            f"of the array of sliding blocks as {out}, but its components must be at least one."
        )
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    y = Im2Col.apply(x, geom=(k, d, p, s, out))
    return y.squeeze(0) if unbatched else y


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum columns of sliding blocks back into images (col2im), as ``torch.nn.functional.fold``.

    Args:
        input: (N, C * kh * kw, L) or (C * kh * kw, L).
        output_size: (H, W) of the images.
        kernel_size, dilation, padding, stride: int or (h, w), as given to :func:`unfold`.

    Returns:
        (N, C, H, W) (or (C, H, W)); overlapping blocks add up.
    """
    if input.ndim not in (2, 3) or any(n == 0 for n in input.shape[-2:]):
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero "
                           f"dimensions for input, but got: {list(input.shape)}")
    size = _pair(output_size, "output_size")
    k, d, p, s = _geometry(kernel_size, dilation, padding, stride)
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    if x.shape[1] % (k[0] * k[1]):
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
                           f"but got input.size(1)={x.shape[1]} and kernel_size={k}.")
    out = _blocks(size, k, d, p, s)
    if out[0] < 1 or out[1] < 1 or out[0] * out[1] != x.shape[2]:
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, expected size of "
            f"input's dimension 2 to match the calculated number of sliding blocks {out[0]} * {out[1]} = "
            f"{out[0] * out[1]}, but got input.size(2)={x.shape[2]}."
        )
    y = Col2Im.apply(x, geom=(k, d, p, s, out), size=size)
    return y.squeeze(0) if unbatched else y
