"""TensorBoard's event files, written without TensorFlow, TensorBoard or protobuf.

An event file is a sequence of records (TFRecord framing): the data's length as a little-endian
uint64, a masked CRC-32C of those 8 bytes, the data, and a masked CRC-32C of the data. Each
record's data is one serialized ``Event`` protocol buffer (``tensorflow/core/util/event.proto``):
a wall time, a step, and a ``Summary`` whose values are scalars, histograms, images or tensors.
The few messages used here are encoded by hand below, with the field numbers of those .proto files.
"""

from __future__ import annotations

import atexit
import os
import socket
import struct
import threading
import time
import weakref

# ---------------------------------------------------------------- CRC-32C (Castagnoli)


def _crc_table() -> list:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """The record format's CRC: rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


# ---------------------------------------------------------------- protocol buffer encoding


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values take ten bytes, as protobuf writes them
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def varint_field(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(int(value))


def double_field(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value)


def float_field(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", value)


def bytes_field(field: int, value) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _key(field, 2) + _varint(len(value)) + value


def packed_doubles(field: int, values) -> bytes:
    values = list(values)
    return bytes_field(field, struct.pack(f"<{len(values)}d", *values))


def packed_floats(field: int, values) -> bytes:
    values = list(values)
    return bytes_field(field, struct.pack(f"<{len(values)}f", *values))


# The messages, as the .proto files number their fields.
DT_FLOAT, DT_DOUBLE, DT_STRING = 1, 2, 7


def summary_value(tag: str, *, simple_value=None, image=None, histo=None, tensor=None, plugin=None,
                  plugin_content: bytes = b"") -> bytes:
    """A ``Summary.Value``: tag 1, simple_value 2, image 4, histo 5, tensor 8, metadata 9."""
    out = bytes_field(1, tag)
    if plugin is not None:  # SummaryMetadata { PluginData plugin_data = 1 { plugin_name = 1; content = 2 } }
        data = bytes_field(1, plugin) + (bytes_field(2, plugin_content) if plugin_content else b"")
        out += bytes_field(9, bytes_field(1, data))
    if simple_value is not None:
        out += float_field(2, simple_value)
    if image is not None:
        out += bytes_field(4, image)
    if histo is not None:
        out += bytes_field(5, histo)
    if tensor is not None:
        out += bytes_field(8, tensor)
    return out


def summary(*values: bytes) -> bytes:
    """A ``Summary``: repeated Value value = 1."""
    return b"".join(bytes_field(1, v) for v in values)


def image_proto(height: int, width: int, colorspace: int, png: bytes) -> bytes:
    """``Summary.Image``: height 1, width 2, colorspace 3, encoded_image_string 4."""
    return varint_field(1, height) + varint_field(2, width) + varint_field(3, colorspace) + bytes_field(4, png)


def histogram_proto(vmin, vmax, num, total, sum_squares, limits, counts) -> bytes:
    """``HistogramProto``: min 1, max 2, num 3, sum 4, sum_squares 5, bucket_limit 6, bucket 7."""
    return (double_field(1, vmin) + double_field(2, vmax) + double_field(3, num) + double_field(4, total)
            + double_field(5, sum_squares) + packed_doubles(6, limits) + packed_doubles(7, counts))


def tensor_proto(dtype: int, shape=(), *, floats=None, doubles=None, strings=None) -> bytes:
    """``TensorProto``: dtype 1, tensor_shape 2 (TensorShapeProto: repeated Dim dim = 2 {size = 1}),
    float_val 5, double_val 6, string_val 8."""
    out = varint_field(1, dtype)
    if shape:
        out += bytes_field(2, b"".join(bytes_field(2, varint_field(1, s)) for s in shape))
    if floats is not None:
        out += packed_floats(5, floats)
    if doubles is not None:
        out += packed_doubles(6, doubles)
    for s in strings or ():
        out += bytes_field(8, s)
    return out


def event(wall_time: float, step=None, *, summary_bytes=None, file_version=None, graph_def=None,
          session_start: bool = False) -> bytes:
    """An ``Event``: wall_time 1, step 2, file_version 3, graph_def 4, summary 5, session_log 7."""
    out = double_field(1, wall_time)
    if step:
        out += varint_field(2, step)
    if file_version is not None:
        out += bytes_field(3, file_version)
    if graph_def is not None:
        out += bytes_field(4, graph_def)
    if summary_bytes is not None:
        out += bytes_field(5, summary_bytes)
    if session_start:  # SessionLog { status = 1 (START) }
        out += bytes_field(7, varint_field(1, 1))
    return out


# ---------------------------------------------------------------- the file


def _flush_at_exit(ref) -> None:
    w = ref()
    if w is not None:
        w.flush()


_uid_lock = threading.Lock()
_uid = 0


class EventFileWriter:
    """Appends events to a new ``events.out.tfevents.<time>.<host>.<pid>.<n><suffix>`` file in
    ``log_dir``, named and begun (a ``brain.Event:2`` version record) as TensorBoard's own writer
    does. Events are buffered and written when ``max_queue`` are waiting, when ``flush_secs`` have
    passed since the last write, and on ``flush``/``close``; each write is flushed to the OS, so a
    crash loses at most what was still buffered (TensorBoard reads a file up to a cut-off record)."""

    def __init__(self, log_dir: str, max_queue: int = 10, flush_secs: float = 120, filename_suffix: str = ""):
        global _uid
        self.log_dir = str(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        with _uid_lock:
            n = _uid
            _uid += 1
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{n}{filename_suffix}"
        self.path = os.path.join(self.log_dir, name)
        self._file = open(self.path, "ab")  # noqa: SIM115 (open for the writer's life, closed in close())
        self._pending: list = []
        self._max_queue = max(1, int(max_queue))
        self._flush_secs = flush_secs
        self._last = time.time()
        self._lock = threading.Lock()
        self.add_event(event(time.time(), file_version="brain.Event:2"))
        self.flush()
        atexit.register(_flush_at_exit, weakref.ref(self))  # a writer never closed still writes what it held

    def add_event(self, data: bytes) -> None:
        with self._lock:
            if self._file is None:
                raise RuntimeError(f"the event file {self.path} was closed; the SummaryWriter reopens it on its next add_*")
            self._pending.append(record(data))
            if len(self._pending) >= self._max_queue or time.time() - self._last >= self._flush_secs:
                self._write()

    def _write(self) -> None:
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
        self._file.flush()
        self._last = time.time()

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._write()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._write()
                self._file.close()
                self._file = None
