"""Keep freed CPU memory for reuse: glibc's malloc, tuned once when nerve is imported.

A training step allocates and frees large NumPy arrays every time it runs (a CNN's activations,
their gradients, im2col matrices: tens of MB a step). By default glibc's malloc gives a block
above a moving threshold back to the OS as soon as it is freed, and trims free memory off the top
of its heap, so the next step gets fresh pages that the kernel zeroes one page fault at a time.
Measured on the 2-core development VM, the MNIST CNN took about 4,000 page faults and 24-31 ms of
system time per step (of about 95 ms) that way. Serving blocks up to 32 MB from the heap and
keeping up to 256 MB of free memory at its top brought that to no page faults and about 2 ms,
with the same peak memory.

This is what a caching allocator does (PyTorch's on the GPU; jemalloc or tcmalloc preloaded, as
CPU tuning guides for PyTorch advise). It is process-wide: memory the program frees stays with
the process, up to 256 MB of it, for its next allocations instead of going back to the OS at
once. Set ``NERVE_MALLOC_TUNING=0`` before importing nerve to leave malloc as it is; settings
already made through glibc's own environment variables are left alone too.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # blocks up to this size come from the heap (glibc's dynamic maximum)
TRIM_THRESHOLD = 256 << 20  # free memory kept at the top of the heap

tuned = False  # whether tune() changed malloc's settings in this process


def _user_settings() -> bool:
    """True when the user already set malloc's thresholds through glibc's environment."""
    env = os.environ
    return ("MALLOC_TRIM_THRESHOLD_" in env or "MALLOC_MMAP_THRESHOLD_" in env
            or "glibc.malloc." in env.get("GLIBC_TUNABLES", ""))


def tune(libc=None) -> bool:
    """Set glibc's mmap and trim thresholds (see the module's docstring); True when it did.

    Nothing happens off Linux, with another C library, with ``NERVE_MALLOC_TUNING=0``, or when
    the environment already sets the thresholds.
    """
    global tuned
    if os.environ.get("NERVE_MALLOC_TUNING", "1") == "0" or _user_settings():
        return False
    if libc is None:
        if not sys.platform.startswith("linux"):
            return False
        try:
            libc = ctypes.CDLL(None)
        except OSError:
            return False
        if getattr(libc, "gnu_get_libc_version", None) is None:  # musl and others
            return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    # the mmap threshold first: setting the trim threshold alone would turn off glibc's moving
    # mmap threshold and send every large block to mmap
    if not mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        return False
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    tuned = True
    return True
