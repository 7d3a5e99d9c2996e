"""One pass for the hand-written update ``p -= lr * p.grad``.

Written out, that statement is two passes over the parameter's memory: ``lr * p.grad`` makes a
new array, then ``p -=`` reads it back. BLAS's ``axpy`` (``y += a * x``) does both in one pass,
on OpenBLAS's threads. Measured on the 2-core development VM, in the raw-op MLP epoch of the
benchmark (a (784, 128) weight): about 5% less time an epoch.

The product can only be left uncomputed when nothing can look at it before the update takes it.
:func:`feeds_update` reads the caller's bytecode: when the instruction after the product is an
in-place ``-=`` or ``+=``, the product goes straight on the interpreter's stack to that
operator, and nothing runs in between. Then the product is a :class:`~nerve.tensor.Tensor` that
holds the number and the array (``tensor._Scaled``); the in-place operator of a tensor finds it
and calls ``axpy``. Anything else that reads it (a NumPy array on the left of ``-=``, another
dtype, a graph to record) computes the product first, exactly as it would have been computed.

The fused update rounds once where the two passes round twice (``axpy`` may use a fused
multiply-add): the result can differ from PyTorch's in the last bit of a float32.
"""

from __future__ import annotations

import dis
import sys

# (distance from the product's instruction to the next one, the product's instruction bytes,
# {the next instruction's bytes: the sign it gives the product}); None where this Python's
# bytecode does not show the pattern (then nothing is ever fused)
_pattern: tuple | None | bool = False


def _learn():
    """Read the pattern off this interpreter's own compilation of the statement."""
    out = {}
    dist = mul = None
    for sign, src in ((-1.0, "p -= k * g"), (1.0, "p += k * g"), (-1.0, "p -= g * k"), (1.0, "p += g * k")):
        code = compile(src, "<nerve>", "exec")
        ins = list(dis.get_instructions(code))
        i = next((j for j, x in enumerate(ins) if x.opname in ("BINARY_OP", "BINARY_MULTIPLY")
                  and x.argrepr in ("*", "")), None)
        if i is None or i + 1 >= len(ins):
            return None
        a, b = ins[i], ins[i + 1]
        raw = code.co_code
        d = b.offset - a.offset
        m = raw[a.offset:a.offset + 2]
        if (dist is not None and d != dist) or (mul is not None and m != mul):
            return None
        dist, mul = d, m
        out[raw[b.offset:b.offset + 2]] = sign
    if len(out) != 2:
        return None
    return dist, mul, out


def feeds_update(depth: int) -> float:
    """-1.0 when the frame ``depth`` levels up is at a product whose result its next instruction
    subtracts in place (``p -= k * g``), 1.0 when it adds it (``p += k * g``), else 0.0."""
    global _pattern
    if _pattern is False:
        _pattern = _learn()
    if _pattern is None:
        return 0.0
    dist, mul, nxt = _pattern
    f = sys._getframe(depth + 1)
    code = f.f_code.co_code
    i = f.f_lasti
    if code[i:i + 2] != mul:
        return 0.0
    return nxt.get(code[i + dist:i + dist + 2], 0.0)
