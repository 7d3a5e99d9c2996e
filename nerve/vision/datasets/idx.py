"""The IDX file format (MNIST's): read and write, gzipped or not.

Layout: two zero bytes, a type code, the number of dimensions; then each dimension as a
big-endian uint32; then the values, big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64. A truncated or corrupt file raises ``IDXError``
(a ``ValueError``) that names the file.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ..._atomic import atomic_write

__all__ = ["IDXError", "read_idx", "read_idx_header", "write_idx"]

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("=") if v.itemsize > 1 else v: k for k, v in IDX_DTYPES.items()}


class IDXError(ValueError):
    """A file that is not a whole, valid IDX file."""


def _open(path):
    return gzip.open(path, "rb") if os.fspath(path).endswith(".gz") else open(path, "rb")


def _read_exact(f, n: int) -> bytes:
    data = f.read(n)
    return data if data is not None else b""


def _header(f, path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = _read_exact(f, 4)
    if len(magic) < 4:
        raise IDXError(f"{path}: truncated IDX file: {len(magic)} bytes, shorter than the 4-byte header")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXError(f"{path}: not an IDX file: its first bytes are {magic.hex()} (expected 0000 then a type code)")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise IDXError(f"{path}: unknown IDX type code 0x{code:02X} (expected one of "
                       + ", ".join(f"0x{c:02X}" for c in IDX_DTYPES) + ")")
    raw = _read_exact(f, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise IDXError(f"{path}: truncated IDX file: the header announces {ndim} dimensions but ends early")
    dims = struct.unpack(f">{ndim}I", raw)
    return IDX_DTYPES[code], dims


def read_idx_header(path) -> tuple[np.dtype, tuple[int, ...]]:
    """The (dtype, shape) an IDX file announces, without reading its data."""
    try:
        with _open(path) as f:
            dt, dims = _header(f, path)
    except (OSError, EOFError, zlib.error) as e:
        raise IDXError(f"{path}: cannot read IDX file: {e}") from e
    return dt.newbyteorder("=") if dt.itemsize > 1 else dt, dims


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a NumPy array of native byte order.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed on the fly.

    Returns:
        the array, of the shape and dtype the header gives.

    Raises:
        IDXError: the file is truncated, has trailing bytes, a bad header or a broken gzip stream.
    """
    path = os.fspath(path)
    try:
        with _open(path) as f:
            dt, dims = _header(f, path)
            count = int(np.prod(dims, dtype=np.int64)) if dims else 1
            out = np.empty(count, dtype=dt)
            view = memoryview(out).cast("B")
            got = 0
            while got < len(view):
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
            if got < len(view):
                raise IDXError(f"{path}: truncated IDX file: expected {len(view)} bytes of data for shape "
                               f"{tuple(dims)}, found {got}")
            extra = f.read(1)
            if extra:
                raise IDXError(f"{path}: corrupt IDX file: bytes left after the {len(view)} bytes of data for "
                               f"shape {tuple(dims)}")
    except IDXError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise IDXError(f"{path}: corrupt or truncated file: {e}") from e
    out = out.reshape(dims)
    if dt.itemsize > 1:
        out = out.astype(dt.newbyteorder("="))
    return out


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``), atomically."""
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=") if arr.dtype.itemsize > 1 else arr.dtype
    code = _CODES.get(native)
    if code is None:
        raise TypeError(f"IDX has no type code for dtype {arr.dtype}")
    payload = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload += np.ascontiguousarray(arr.astype(IDX_DTYPES[code])).tobytes()
    with atomic_write(path, "wb") as f:
        if os.fspath(path).endswith(".gz"):
            f.write(gzip.compress(payload, compresslevel=6, mtime=0))
        else:
            f.write(payload)
