"""``nerve.accelerator``: the device-agnostic way recent PyTorch scripts pick a device."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when an accelerator (a CUDA GPU through CuPy) can be used."""
    return backend.cuda_available()


def current_accelerator(check_available: bool = False):
    """The accelerator device (``device('cuda')``), or None when there is none."""
    if backend.cuda_available():
        return backend.device("cuda")
    return None


def device_count() -> int:
    return backend.cuda_device_count()
