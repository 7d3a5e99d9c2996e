"""``nerve.testing.assert_close``: compare tensors, numbers and nested containers of them, as
``torch.testing.assert_close``, with the same default tolerances and messages."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .backend import to_numpy
from .tensor import Tensor

# (rtol, atol) by dtype, as PyTorch's defaults; integers and bools compare exactly
_TOLERANCES = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
               np.dtype(np.float64): (1e-7, 1e-7)}


def _tolerances(dt, rtol, atol):
    if (rtol is None) != (atol is None):
        missing = "rtol" if rtol is None else "atol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}.")
    if rtol is not None:
        return float(rtol), float(atol)
    return _TOLERANCES.get(np.dtype(dt), (0.0, 0.0))


def _fail(msg, text, path):
    if msg is not None:
        raise AssertionError(msg(text) if callable(msg) else msg)
    if path:
        text += "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in path)
    raise AssertionError(text)


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path):
    if actual.shape != expected.shape:
        _fail(msg, f"The values for attribute 'shape' do not match: {actual.shape} != {expected.shape}.", path)
    if check_device and actual.device != expected.device:
        _fail(msg, f"The values for attribute 'device' do not match: {actual.device} != {expected.device}.", path)
    if check_dtype and actual.dtype != expected.dtype:
        _fail(msg, f"The values for attribute 'dtype' do not match: {actual.dtype} != {expected.dtype}.", path)
    a, e = to_numpy(actual._data), to_numpy(expected._data)
    if a.dtype != e.dtype:
        common = np.promote_types(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    rtol, atol = _tolerances(a.dtype, rtol, atol)
    if a.dtype == np.bool_:
        a, e = a.astype(np.int64), e.astype(np.int64)
    exact = a.dtype.kind in "iu"
    af, ef = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        close = np.abs(af - ef) <= atol + rtol * np.abs(ef)
        close |= af == ef  # equal infinities
        if equal_nan:
            close |= np.isnan(af) & np.isnan(ef)
        if close.all():
            return
        diff = np.abs(af - ef)
        rel = diff / np.abs(ef)
    if a.ndim == 0:
        text = (f"Scalars are not {'equal' if exact else 'close'}!\n\nExpected {e.item()} but got {a.item()}.\n"
                f"Absolute difference: {_num(diff.item(), exact)}{_allowed(atol, exact)}\n"
                f"Relative difference: {rel.item()}{_allowed(rtol, exact)}")
        _fail(msg, text, path)
    bad = ~close
    ia = np.unravel_index(np.nanargmax(np.where(bad, diff, -np.inf)) if not np.isnan(diff[bad]).all()
                          else np.argmax(bad), a.shape)
    ir = np.unravel_index(np.nanargmax(np.where(bad, rel, -np.inf)) if not np.isnan(rel[bad]).all()
                          else np.argmax(bad), a.shape)
    n = int(bad.sum())
    text = (f"Tensor-likes are not {'equal' if exact else 'close'}!\n\n"
            f"Mismatched elements: {n} / {a.size} ({100.0 * n / a.size:.1f}%)\n"
            f"Greatest absolute difference: {_num(diff[ia], exact)} at index {tuple(int(i) for i in ia)}"
            f"{_allowed(atol, exact)}\n"
            f"Greatest relative difference: {rel[ir]} at index {tuple(int(i) for i in ir)}{_allowed(rtol, exact)}")
    _fail(msg, text, path)


def _num(v, exact):
    v = float(v)
    return int(v) if exact and math.isfinite(v) else v


def _allowed(tol, exact):
    return "" if exact else f" (up to {tol} allowed)"


def _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path):
    if isinstance(actual, Tensor) or isinstance(expected, Tensor) or isinstance(actual, np.ndarray):
        if type(actual) is not type(expected) and not (isinstance(actual, Tensor) and isinstance(expected, Tensor)):
            raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")
        if isinstance(actual, np.ndarray):
            from .creation import from_numpy

            actual, expected = from_numpy(actual), from_numpy(expected)
        _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path)
        return
    if isinstance(actual, (bool, int, float)) and isinstance(expected, (bool, int, float)):
        if check_dtype and type(actual) is not type(expected):
            _fail(msg, f"The values for attribute 'dtype' do not match: {type(actual)} != {type(expected)}.", path)
        kind = np.float64 if isinstance(actual, float) or isinstance(expected, float) else np.int64
        from .creation import tensor

        _compare_tensors(tensor(actual, dtype=kind), tensor(expected, dtype=kind), rtol, atol, equal_nan,
                         False, False, msg, path)
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            _fail(msg, f"The keys of the mappings do not match:\nMissing keys in the actual mapping: "
                       f"{sorted(map(repr, set(expected) - set(actual)))}\nExtra keys in the actual mapping: "
                       f"{sorted(map(repr, set(actual) - set(expected)))}", path)
        for k in expected:
            _compare(actual[k], expected[k], rtol, atol, equal_nan, check_device, check_dtype, msg, path + [k])
        return
    if (isinstance(actual, Sequence) and isinstance(expected, Sequence)
            and not isinstance(actual, str) and not isinstance(expected, str)):
        if len(actual) != len(expected):
            _fail(msg, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", path)
        for i, (x, y) in enumerate(zip(actual, expected)):
            _compare(x, y, rtol, atol, equal_nan, check_device, check_dtype, msg, path + [i])
        return
    if actual is None and expected is None:
        return
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol=None, atol=None, equal_nan: bool = False,
                 check_device: bool = True, check_dtype: bool = True, check_layout: bool = True,
                 check_stride: bool = False, msg=None) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close.

    Tensors (or NumPy arrays) must match in shape, and by default in device and dtype; then every
    element must satisfy ``|actual - expected| <= atol + rtol * |expected|``. The default
    tolerances depend on the dtype (float32: rtol 1.3e-6, atol 1e-5; float64: 1e-7 and 1e-7;
    integers and bools: exact). Python numbers, and lists, tuples and dicts of any of these, are
    compared item by item; the message names the failing item.

    Args:
        rtol, atol: tolerances; give both or neither.
        equal_nan: NaN equals NaN.
        check_device, check_dtype: compare the devices and dtypes too.
        msg: the message to raise instead (a string, or a function of the default message).
    """
    _tolerances(np.float32, rtol, atol)  # both or neither
    _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, [])
