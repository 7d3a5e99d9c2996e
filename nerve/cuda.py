"""``nerve.cuda``: is a GPU there, how many, and waiting for it (as ``torch.cuda``)."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when CuPy is installed and sees a GPU."""
    return backend.cuda_available()


def device_count() -> int:
    return backend.cuda_device_count()


def current_device() -> int:
    return backend.cupy_module().cuda.runtime.getDevice()


def get_device_name(device=None) -> str:
    cp = backend.cupy_module()
    idx = 0 if device is None else backend.device(device).index or 0
    name = cp.cuda.runtime.getDeviceProperties(idx)["name"]
    return name.decode() if isinstance(name, bytes) else name


def synchronize(device=None) -> None:
    """Wait for all work queued on the GPU to finish (no-op without CuPy)."""
    if backend.cuda_available():
        backend.cupy_module().cuda.Stream.null.synchronize()


def manual_seed(seed: int) -> None:
    from .random import manual_seed as _ms

    _ms(seed)


manual_seed_all = manual_seed


def max_memory_allocated(device=None) -> int:
    """Bytes held by CuPy's memory pool (its high-water mark is not tracked)."""
    return backend.cupy_module().get_default_memory_pool().total_bytes()


def empty_cache() -> None:
    if backend.cuda_available():
        backend.cupy_module().get_default_memory_pool().free_all_blocks()


def __getattr__(name):
    if name == "amp":  # torch.cuda.amp.autocast / GradScaler
        from .amp import cuda_amp

        return cuda_amp
    raise AttributeError(f"module 'nerve.cuda' has no attribute {name!r}")
