"""``torch.backends.cuda``: ``matmul.allow_tf32`` (kept as set; CuPy's matmuls do not read it)."""

from __future__ import annotations

from types import SimpleNamespace

matmul = SimpleNamespace(allow_tf32=False)


def is_built() -> bool:
    return True
