"""How a tensor prints: PyTorch's layout (``torch/_tensor_str.py``) and print options
(``nerve.set_printoptions``; the numbers below are the defaults).

Every element gets one width, chosen from all of them (from the shown ones in a big tensor).
Integers and booleans print as they are. Floats print with 4 decimals; as whole numbers with a
trailing point when every finite nonzero value is whole; in scientific notation when those values
span more than 1000x, exceed 1e8 or (not whole) go below 1e-4. Rows hold as many elements as fit
in 80 characters. A tensor of more than 1000 elements shows only the first and last 3 items
along each dimension, with ``...`` between. After the values come, as needed, the device, the
size (of an empty tensor), the dtype and ``grad_fn`` / ``requires_grad``, each on a new line when
the line would pass 80 characters.
"""

from __future__ import annotations

import math

import numpy as np

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80
SCI_MODE = None  # True / False: always / never scientific notation; None: chosen from the values

_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """How tensors print, as ``torch.set_printoptions``: ``precision`` digits after the point (4),
    more than ``threshold`` elements (1000) summarised to ``edgeitems`` (3) at each end of every
    dimension, rows of at most ``linewidth`` characters (80), ``sci_mode`` True or False to force or
    forbid scientific notation (None, the default: chosen from the values). ``profile`` ('default',
    'short': 2 digits and 2 edge items, 'full': never summarised) sets the first four at once."""
    global PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH, SCI_MODE
    if profile in _PROFILES:
        PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = _PROFILES[profile]
    if precision is not None:
        PRECISION = precision
    if threshold is not None:
        THRESHOLD = threshold
    if edgeitems is not None:
        EDGEITEMS = edgeitems
    if linewidth is not None:
        LINEWIDTH = linewidth
    SCI_MODE = sci_mode  # as PyTorch: every call sets it (None unless given)


class _Formatter:
    """The width and notation shared by all the elements of one tensor."""

    def __init__(self, arr: np.ndarray):
        self.floating = arr.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        if not self.floating:
            if arr.size:
                self.max_width = max(len(str(v)) for v in (arr.min().item(), arr.max().item()))
            return
        flat = arr.reshape(-1).astype(np.float64)
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        mags = np.abs(vals)
        lo, hi = float(mags.min()), float(mags.max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        auto = hi / lo > 1000.0 or hi > 1.0e8 or (not self.int_mode and lo < 1.0e-4)
        if auto if SCI_MODE is None else SCI_MODE:
            self.sci_mode = True
            fmt, extra = f"{{:.{PRECISION}e}}", 0
        elif self.int_mode:
            fmt, extra = "{:.0f}", 1  # the trailing point
        else:
            fmt, extra = f"{{:.{PRECISION}f}}", 0
        self.max_width = max(len(fmt.format(v)) + extra for v in vals.tolist())

    def format(self, value) -> str:
        if not self.floating:
            s = str(value)
        elif self.sci_mode:
            s = f"{value:{self.max_width}.{PRECISION}e}"
        elif self.int_mode:
            s = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            s = f"{value:.{PRECISION}f}"
        return " " * (self.max_width - len(s)) + s


def _summarized(arr: np.ndarray) -> np.ndarray:
    """The elements a summarized print shows: the first and last ``EDGEITEMS`` along each axis."""
    keep = [np.r_[0:EDGEITEMS, n - EDGEITEMS:n] if n > 2 * EDGEITEMS else np.arange(n) for n in arr.shape]
    return arr[np.ix_(*keep)] if keep else arr


def _vector(arr, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, (LINEWIDTH - indent) // (fmt.max_width + 2))
    if summarize and not EDGEITEMS:
        data = ["..."]
    elif summarize and arr.shape[0] > 2 * EDGEITEMS:
        data = ([fmt.format(v) for v in arr[:EDGEITEMS].tolist()] + [" ..."]
                + [fmt.format(v) for v in arr[-EDGEITEMS:].tolist()])
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(arr, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarize, fmt)
    n = arr.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        rows = ([_nested(arr[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."]
                + [_nested(arr[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)])
    else:
        rows = [_nested(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def values_str(arr: np.ndarray, indent: int) -> str:
    """The bracketed values of a nonempty NumPy array, continuation lines indented by ``indent``."""
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    summarize = arr.size > THRESHOLD
    fmt = _Formatter(_summarized(arr) if summarize else arr)
    return _nested(arr, indent, summarize, fmt)


def add_suffixes(text: str, suffixes, indent: int) -> str:
    """``text`` then ``, suffix`` for each suffix (on a new line where it would pass the line width), then ``)``."""
    parts = [text]
    last = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last += len(suffix) + 2
    parts.append(")")
    return "".join(parts)
