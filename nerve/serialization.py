"""``nerve.save`` / ``nerve.load``: checkpoints in the safetensors layout, with no code run on load.

The file is a safetensors file (https://github.com/huggingface/safetensors), written by this
module's own code::

    8 bytes      little-endian u64 N, the length of the header
    N bytes      JSON header: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}
    the rest     every tensor's raw little-endian bytes, back to back

Tensors go into the byte buffer; everything else of the saved object (dicts, lists, tuples,
numbers, strings, booleans, None, and where each tensor sits among them) goes into the metadata
as JSON. Loading reads JSON and bytes only, so nothing in a file can run code. Pickle files
(``torch.save``'s format) are refused without being unpickled. A plain ``.safetensors`` file from
the ``safetensors`` package or the Hugging Face Hub loads as a flat ``{name: tensor}`` dict, so a
file saved by ``nerve.save`` from a flat state dict can be read by those tools too.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from typing import Any

import numpy as np

from . import dtypes as _dt
from ._atomic import atomic_write
from .backend import CPU, device, is_array, move
from .tensor import Tensor

__all__ = ["save", "load"]

_FORMAT_KEY = "nerve"  # metadata key holding the JSON structure
_MAX_HEADER = 100 * 1024 * 1024  # as the safetensors package: headers above 100 MB are refused

# safetensors dtype name -> little-endian NumPy dtype
_ST_TO_NP = {
    "BOOL": np.dtype("?"), "U8": np.dtype("u1"), "I8": np.dtype("i1"), "I16": np.dtype("<i2"),
    "I32": np.dtype("<i4"), "I64": np.dtype("<i8"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"), "BF16": np.dtype("<u2"), "U16": np.dtype("<u2"), "U32": np.dtype("<u4"),
}
_NP_TO_ST = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "int32": "I32", "int64": "I64",
    "float16": "F16", "float32": "F32", "float64": "F64",
}
# what nerve turns the dtypes it lacks into (losslessly)
_WIDEN = {"BF16": np.float32, "U16": np.int32, "U32": np.int64}


# ---------------------------------------------------------------- save


def save(obj: Any, f, *, metadata: dict[str, str] | None = None) -> None:
    """Save tensors, state dicts, and nested dicts/lists/tuples of them to a file.

    The file is replaced atomically: a failed or interrupted save leaves the previous file as it
    was and no temporary file behind. Tensors on the GPU are saved from host copies.

    Args:
        obj: a tensor, a NumPy array, or dicts / lists / tuples nesting tensors, arrays, numbers,
            strings, booleans and None (dict keys: strings, numbers, booleans, None or tuples).
            PyTorch tensors are accepted too and load back as nerve tensors (bfloat16 as float32),
            so ``nerve.save(torch_model.state_dict(), path)`` converts a PyTorch checkpoint.
        f: a path (``str`` or ``os.PathLike``), written atomically, or a binary file object open
            for writing (written in place).
        metadata: extra string pairs to store in the header's ``__metadata__``.

    Raises:
        TypeError: ``obj`` holds something else (a function, a module, ...); the message says where.
    """
    enc = _Encoder()
    structure = enc.encode(obj, "")
    meta = {"format": "pt", _FORMAT_KEY: json.dumps(structure, separators=(",", ":"), allow_nan=False)}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("nerve.save: metadata must map strings to strings")
            meta.setdefault(k, v)
    header: dict[str, Any] = {"__metadata__": meta}
    offset = 0
    for name, arr in zip(enc.names, enc.arrays):
        header[name] = {"dtype": _NP_TO_ST[arr.dtype.name], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # pad so the data starts 8-byte aligned, as safetensors does
    if hasattr(f, "write"):
        _write(f, blob, enc.arrays)
        return
    with atomic_write(f, "wb") as out:
        _write(out, blob, enc.arrays)


def _write(out, header: bytes, arrays: list[np.ndarray]) -> None:
    out.write(len(header).to_bytes(8, "little"))
    out.write(header)
    for arr in arrays:
        _write_array(out, arr)


def _write_array(out, arr: np.ndarray) -> None:
    if arr.size:
        out.write(memoryview(arr.reshape(-1)).cast("B"))


class _Encoder:
    """Turns an object into JSON-able structure, collecting its tensors as host arrays."""

    def __init__(self):
        self.names: list[str] = []
        self.arrays: list[np.ndarray] = []
        self._seen: dict[int, str] = {}  # id(tensor) -> name, so a tensor shared twice is stored once
        self._taken: set[str] = {"__metadata__"}
        self._keep: list = []  # keep the objects alive so ids stay unique

    def encode(self, obj, where: str):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, Tensor):
            entry: dict[str, Any] = {"tensor": self._add(obj, obj._data, where)}
            if obj._device.type != "cpu":
                entry["device"] = str(obj._device)
            if obj.requires_grad:
                entry["requires_grad"] = True
            if type(obj).__name__ == "Parameter":
                entry["parameter"] = True
            return entry
        if is_array(obj):
            return {"ndarray": self._add(obj, obj, where)}
        if _is_torch_tensor(obj):  # so a PyTorch checkpoint converts with nerve.save(torch.load(...), path)
            t = obj.detach().cpu()
            host = (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()
            entry = {"tensor": self._add(obj, host, where)}
            if obj.requires_grad:
                entry["requires_grad"] = True
            return entry
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), where)
        if isinstance(obj, dict):
            tag = "odict" if isinstance(obj, OrderedDict) else "dict"
            return {tag: [[self._key(k, where), self.encode(v, _join(where, k))] for k, v in obj.items()]}
        if isinstance(obj, list):
            return [self.encode(v, _join(where, i)) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(v, _join(where, i)) for i, v in enumerate(obj)]}
        if isinstance(obj, _dt.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, device):
            return {"device": str(obj)}
        hint = ("; save its state_dict() instead (nerve.save(obj.state_dict(), path)), since nerve never "
                "pickles code") if hasattr(obj, "state_dict") else ""
        raise TypeError(
            f"nerve.save cannot store an object of type {type(obj).__name__} (at {where or 'the top level'}): "
            "it stores tensors, arrays, numbers, strings, booleans, None, and dicts, lists and tuples of them"
            + hint
        )

    def _key(self, k, where: str):
        if k is None or isinstance(k, (bool, int, str)) or (isinstance(k, float) and math.isfinite(k)):
            return k
        if isinstance(k, tuple):
            return {"tuple": [self._key(x, where) for x in k]}
        if isinstance(k, np.generic):
            return self._key(k.item(), where)
        raise TypeError(f"nerve.save cannot store a dict key of type {type(k).__name__} (in {where or 'the top level'})")

    def _add(self, owner, array, where: str) -> str:
        hit = self._seen.get(id(owner))
        if hit is not None:
            return hit
        host = np.asarray(move(array, CPU))
        if host.dtype.name not in _NP_TO_ST:
            raise TypeError(f"nerve.save cannot store dtype {host.dtype} (at {where or 'the top level'})")
        host = host.astype(host.dtype.newbyteorder("<"), order="C", copy=False)  # keeps 0-d shapes
        name = where or "tensor"
        if name in self._taken:
            n = 1
            while f"{name}#{n}" in self._taken:
                n += 1
            name = f"{name}#{n}"
        self._seen[id(owner)] = name
        self._taken.add(name)
        self._keep.append(owner)
        self.names.append(name)
        self.arrays.append(host)
        return name


def _is_torch_tensor(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "detach") and hasattr(obj, "numpy")


def _join(where: str, key) -> str:
    return f"{where}.{key}" if where else str(key)


# ---------------------------------------------------------------- load


def load(f, map_location=None, weights_only: bool = True, *, mmap: bool | None = None) -> Any:
    """Load what ``nerve.save`` saved, or a ``.safetensors`` file as a flat ``{name: tensor}`` dict.

    Only JSON and raw bytes are read: no code in the file can run. bfloat16 tensors become float32
    (uint16 / uint32 become int32 / int64), since nerve lacks those dtypes.

    Args:
        f: a path or a binary file object open for reading.
        map_location: where to put the tensors: ``'cpu'``, ``'cuda'``, a ``nerve.device``, a
            dict mapping saved devices to devices (``{'cuda:0': 'cpu'}``), or a function called
            as ``fn(tensor, saved_device)`` with each tensor on the CPU, which returns the tensor
            to use or None for the default (PyTorch passes a storage: ``lambda storage, loc:
            storage`` works alike). By default each tensor goes back to the device it was saved from.
        weights_only: accepted for PyTorch compatibility; nerve never unpickles, so loading is
            always as safe as PyTorch's ``weights_only=True``.
        mmap: map the file's tensors into memory instead of reading them (``f`` must be a path):
            their bytes are read from disk when first touched, and writing to them changes the
            loaded tensors only, never the file (a private, copy-on-write mapping, as PyTorch's).
            With ``load_state_dict(..., assign=True)`` a model takes them without a copy.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is a pickle (refused, nothing executed), truncated, or corrupt; the
            message names the file; or ``mmap=True`` with a file object.
    """
    del weights_only
    if hasattr(f, "read"):
        if mmap:
            raise ValueError("f must be a file path in order to use the mmap argument")
        name = str(getattr(f, "name", "<file object>"))
        return _load_from(f, name, map_location, _stream_size(f))
    path = os.fspath(f)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"nerve.load: no such file: '{path}'") from None
    with fh:
        return _load_from(fh, path, map_location, os.fstat(fh.fileno()).st_size, mapped=bool(mmap))


def _stream_size(f) -> int:
    pos = f.tell()
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(pos)
    return size - pos


def _load_from(f, name: str, map_location, size: int, mapped: bool = False):
    start = f.tell()
    head = f.read(8)
    if len(head) < 8:
        raise ValueError(f"'{name}' is not a nerve or safetensors file: it is truncated ({size} bytes, "
                         "too short for a header)")
    n = int.from_bytes(head, "little")
    first = f.read(1) if 2 <= n <= _MAX_HEADER and 8 + n <= size else b""
    if first != b"{":
        if head.startswith(b"PK\x03\x04") or (head[0] == 0x80 and 2 <= head[1] <= 5):
            raise ValueError(
                f"'{name}' is a pickle file ({'a zip archive as torch.save writes' if head[0] == 0x50 else 'a raw pickle'}): "
                "nerve.load refuses pickles because loading one can run arbitrary code, and nothing in it "
                "was executed. Save the tensors with nerve.save, or with safetensors in PyTorch "
                "(safetensors.torch.save_file(state_dict, 'model.safetensors')), and load that file."
            )
        if n <= _MAX_HEADER and 8 + n > size:
            raise ValueError(f"'{name}' is truncated or corrupt: its header claims {n} bytes but the file "
                             f"has only {size - 8} after the length field")
        raise ValueError(f"'{name}' is not a nerve or safetensors file (corrupt header: bad header length "
                         f"{n} or no JSON object at byte 8)")
    try:
        header = json.loads(b"{" + f.read(n - 1))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"'{name}' has a corrupt header (invalid JSON: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"'{name}' has a corrupt header (not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    data_start = start + 8 + n
    available = size - 8 - n
    entries = _check_entries(header, name, available)
    arrays: dict[str, np.ndarray] = {}
    for key, (dtype_name, shape, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2]):
        if mapped and end > begin and dtype_name not in _WIDEN:
            arrays[key] = _map_array(name, data_start + begin, dtype_name, shape)
            continue
        f.seek(data_start + begin)
        arrays[key] = _read_array(f, name, key, dtype_name, shape, end - begin)
    if not isinstance(meta, dict) or _FORMAT_KEY not in meta:  # a plain safetensors file
        loc = _Locator(map_location, name)
        return {key: loc.tensor(arrays[key], None) for key in header}
    try:
        structure = json.loads(meta[_FORMAT_KEY])
    except (TypeError, ValueError) as e:
        raise ValueError(f"'{name}' has corrupt nerve metadata (invalid JSON: {e})") from None
    return _Decoder(arrays, _Locator(map_location, name), name).decode(structure)


def _check_entries(header: dict, name: str, available: int) -> dict:
    entries = {}
    for key, info in header.items():
        try:
            dtype_name, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            ok = (isinstance(dtype_name, str) and isinstance(shape, list)
                  and all(isinstance(s, int) and s >= 0 for s in shape)
                  and isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end)
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"'{name}' has a corrupt header: bad entry for tensor '{key}'")
        if dtype_name not in _ST_TO_NP:
            raise ValueError(f"'{name}': tensor '{key}' has dtype {dtype_name}, which nerve cannot load "
                             f"(supported: {', '.join(_ST_TO_NP)})")
        if end - begin != math.prod(shape) * _ST_TO_NP[dtype_name].itemsize:
            raise ValueError(f"'{name}' has a corrupt header: tensor '{key}' of shape {shape} and dtype "
                             f"{dtype_name} cannot take {end - begin} bytes")
        if end > available:
            raise ValueError(f"'{name}' is truncated: tensor '{key}' ends at byte {end} of the data but "
                             f"only {available} bytes are there")
        entries[key] = (dtype_name, shape, begin, end)
    return entries


def _read_array(f, name: str, key: str, dtype_name: str, shape: list, nbytes: int) -> np.ndarray:
    arr = np.empty(math.prod(shape), dtype=_ST_TO_NP[dtype_name])
    if nbytes and f.readinto(memoryview(arr).cast("B")) != nbytes:
        raise ValueError(f"'{name}' is truncated: the bytes of tensor '{key}' are cut short")
    arr = arr.reshape(shape)
    if dtype_name == "BF16":  # bfloat16 is the top half of a float32
        return (arr.astype(np.uint32) << 16).view(np.float32)
    if dtype_name in _WIDEN:
        return arr.astype(_WIDEN[dtype_name])
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _map_array(path: str, offset: int, dtype_name: str, shape: list) -> np.ndarray:
    """The tensor's bytes in the file, mapped copy-on-write (the file is never written)."""
    arr = np.memmap(path, dtype=_ST_TO_NP[dtype_name], mode="c", offset=offset, shape=tuple(shape))
    return arr.view(np.ndarray)  # a plain array whose base keeps the mapping open


class _Locator:
    """Puts loaded arrays on the device ``map_location`` asks for."""

    def __init__(self, map_location, name: str):
        self.name = name
        self.fn = map_location if callable(map_location) and not isinstance(map_location, device) else None
        if self.fn is not None:
            self.fixed, self.table = None, {}
        elif map_location is None or isinstance(map_location, dict):
            self.fixed = None
            self.table = {str(k): device(v) for k, v in (map_location or {}).items()}
        elif isinstance(map_location, (str, device)):
            self.fixed = device(map_location)
        else:
            raise TypeError(f"map_location must be None, a device, a string, a dict or a function, not "
                            f"{type(map_location).__name__}")

    def place(self, saved: str | None) -> device:
        if self.fixed is not None:
            return self.fixed
        saved = saved or "cpu"
        target = self.table.get(saved)
        if target is None:
            target = device(saved)
        if target.type == "cuda":
            from .backend import cuda_available

            if not cuda_available():
                raise RuntimeError(
                    f"'{self.name}' holds tensors saved on a CUDA device ({saved}) but CUDA is not available; "
                    "pass map_location='cpu' to nerve.load to load them on the CPU"
                )
        return target

    def tensor(self, arr: np.ndarray, saved: str | None) -> Tensor:
        if self.fn is not None:
            placed = self.fn(Tensor._make(arr, CPU), saved or "cpu")
            if placed is not None:
                if not isinstance(placed, Tensor):
                    raise TypeError(f"map_location returned {type(placed).__name__}, not a tensor or None")
                return placed
        dev = self.place(saved)
        return Tensor._make(move(arr, dev), dev)


class _Decoder:
    def __init__(self, arrays: dict, loc: _Locator, name: str):
        self.arrays, self.loc, self.name = arrays, loc, name
        self.made: dict[str, Any] = {}

    def bad(self, what: str):
        return ValueError(f"'{self.name}' has corrupt nerve metadata ({what})")

    def decode(self, s):
        if s is None or isinstance(s, (bool, int, float, str)):
            return s
        if isinstance(s, list):
            return [self.decode(v) for v in s]
        if not isinstance(s, dict) or len(s) == 0:
            raise self.bad(f"unexpected {s!r:.60}")
        if "tensor" in s:
            return self.tensor(s)
        if len(s) != 1:
            raise self.bad(f"unexpected {s!r:.60}")
        (tag, v), = s.items()
        if tag in ("dict", "odict"):
            if not isinstance(v, list) or not all(isinstance(kv, list) and len(kv) == 2 for kv in v):
                raise self.bad("a dict is not a list of pairs")
            items = [(self.key(k), self.decode(x)) for k, x in v]
            return OrderedDict(items) if tag == "odict" else dict(items)
        if tag == "tuple" and isinstance(v, list):
            return tuple(self.decode(x) for x in v)
        if tag == "float" and v in ("nan", "inf", "-inf"):
            return float(v)
        if tag == "ndarray" and v in self.arrays:
            return move(self.arrays[v], CPU)
        if tag == "dtype" and isinstance(v, str):
            return _dt.to_dtype(v)
        if tag == "device" and isinstance(v, str):
            return device(v)
        raise self.bad(f"unknown entry {tag!r}")

    def key(self, k):
        if isinstance(k, dict) and set(k) == {"tuple"} and isinstance(k["tuple"], list):
            return tuple(self.key(x) for x in k["tuple"])
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        raise self.bad(f"bad dict key {k!r:.60}")

    def tensor(self, s: dict):
        name = s["tensor"]
        if name in self.made:  # a tensor saved once and referenced twice stays one tensor
            return self.made[name]
        if name not in self.arrays:
            raise self.bad(f"tensor '{name}' is missing from the file")
        t = self.loc.tensor(self.arrays[name], s.get("device"))
        if s.get("parameter"):
            try:
                from .nn.parameter import Parameter

                t = Parameter(t, requires_grad=bool(s.get("requires_grad", False)))
            except ImportError:
                t.requires_grad = bool(s.get("requires_grad", False))
        elif s.get("requires_grad"):
            t.requires_grad = True
        self.made[name] = t
        return t
