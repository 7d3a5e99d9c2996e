"""Atomic file writes: write to a temporary file in the same folder, then rename.

A failed or interrupted write leaves the previous file whole and no temporary
file behind. Used by checkpoints (``nerve.save``) and downloads.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file next to ``path``; on success it replaces ``path``.

    Args:
        path: the final file name.
        mode: ``'wb'`` or ``'w'``.

    Yields:
        the open temporary file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
