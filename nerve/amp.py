"""``nerve.amp``: ``autocast`` and ``GradScaler``, so mixed-precision scripts run as written.

nerve has no reduced-precision kernels (NumPy has no float16/bfloat16 BLAS), so inside
``autocast`` ops run in their own dtype, float32 as a rule: the results are those of the same
script without autocast. ``GradScaler`` does what PyTorch's does: it multiplies the loss by its
scale, divides the gradients back before the step, skips a step whose gradients hold an inf or
NaN and then halves the scale, and doubles it after ``growth_interval`` clean steps. Scales are
powers of two, so in float32 the scaled-and-unscaled gradients equal the plain ones.
"""

from __future__ import annotations

import functools
import math
import warnings

from . import autograd

_DEVICE_TYPES = ("cpu", "cuda")
_enabled = {"cpu": False, "cuda": False}  # is autocast on, per device type
_fast_dtype = {"cpu": "bfloat16", "cuda": "float16"}


def _device_type(device_type) -> str:
    name = str(device_type).split(":")[0]
    if name not in _DEVICE_TYPES:
        raise RuntimeError(f"autocast: expected device_type 'cpu' or 'cuda', got {device_type!r}")
    return name


class autocast:
    """Context manager and decorator for mixed precision, as ``torch.autocast``.

    nerve runs every op in its inputs' dtype inside it (see the module's docstring);
    ``is_autocast_enabled`` reports it on, as PyTorch does, so code that asks still works.

    Args:
        device_type: ``'cpu'`` or ``'cuda'``.
        dtype: the reduced dtype PyTorch would use (bfloat16 on the CPU, float16 on the GPU).
        enabled: False makes the context do nothing.
        cache_enabled: accepted for PyTorch's signature.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled=None):
        self.device_type = _device_type(device_type)
        self.fast_dtype = dtype if dtype is not None else _fast_dtype[self.device_type]
        self.enabled = bool(enabled)
        self._prev = None

    def __enter__(self):
        self._prev = _enabled[self.device_type]
        _enabled[self.device_type] = self.enabled
        return self

    def __exit__(self, *exc):
        _enabled[self.device_type] = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self.enabled):
                return fn(*args, **kwargs)

        return wrapper


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """True inside an enabled ``autocast`` for ``device_type``."""
    return _enabled[_device_type(device_type)]


def is_autocast_available(device_type: str) -> bool:
    return str(device_type).split(":")[0] in _DEVICE_TYPES


class GradScaler:
    """Loss scaling for mixed-precision training, as ``torch.amp.GradScaler``.

    Use: ``scaler.scale(loss).backward()``, ``scaler.step(optimizer)``, ``scaler.update()``;
    ``scaler.unscale_(optimizer)`` first to clip the true gradients.

    Args:
        device: ``'cuda'`` (PyTorch's default) or ``'cpu'``. A ``'cuda'`` scaler without a GPU
            turns itself off with a warning, as PyTorch's does.
        init_scale: the first scale.
        growth_factor, backoff_factor: what the scale is multiplied by after ``growth_interval``
            steps without inf/NaN gradients, and after a step with them.
        enabled: False makes every method a pass-through.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        self._device = _device_type(device)
        if enabled and self._device == "cuda":
            from .cuda import is_available

            if not is_available():
                warnings.warn("GradScaler is enabled, but CUDA is not available. Disabling.", stacklevel=2)
                enabled = False
        if growth_factor <= 1.0:
            raise ValueError(f"The growth factor must be > 1.0, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"The backoff factor must be < 1.0 and > 0, got {backoff_factor}")
        self._enabled = bool(enabled)
        self._init_scale = float(init_scale)
        self._scale: float | None = None  # set by the first scale(), as in PyTorch
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict] = {}  # id(optimizer) -> {"unscaled": bool, "found_inf": bool}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def scale(self, outputs):
        """``outputs`` (a tensor, or nested lists/tuples of them) times the scale."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = self._init_scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"unscaled": False, "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place, and note any inf/NaN among them."""
        if not self._enabled:
            return
        if self._scale is None:
            raise RuntimeError("Attempted unscale_ but the scale is not set: call scaler.scale(loss) earlier in the iteration.")
        state = self._state(optimizer)
        if state["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        inv = 1.0 / self._scale
        found = False
        with autograd.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad._data
                    g *= inv
                    if not found and not bool(p.grad._device.xp.isfinite(g).all()):
                        found = True
        state["unscaled"] = True
        state["found_inf"] = found

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` with unscaled gradients, skipped when any was inf/NaN; returns what
        ``step`` returned, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        if self._scale is None:
            raise RuntimeError("Attempted step but the scale is not set. This may indicate your script did not "
                               "use scaler.scale(loss or outputs) earlier in the iteration.")
        state = self._state(optimizer)
        if not state["unscaled"]:
            self.unscale_(optimizer)
        if state["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        """Adjust the scale after the iteration's steps (or set it to ``new_scale``)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if hasattr(new_scale, "item") else new_scale)
        elif self._scale is not None:
            if any(s["found_inf"] for s in self._per_optimizer.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = self._scale * self._growth_factor
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer.clear()

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = self._init_scale
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


class _CudaAmp:
    """``torch.cuda.amp``, the older spelling: ``autocast(...)`` and ``GradScaler(...)`` for CUDA."""

    @staticmethod
    def autocast(enabled: bool = True, dtype=None, cache_enabled: bool = True) -> autocast:
        return autocast("cuda", dtype, enabled, cache_enabled)

    @staticmethod
    def GradScaler(init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,  # noqa: N802
                   growth_interval: int = 2000, enabled: bool = True) -> GradScaler:
        return GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


cuda_amp = _CudaAmp()
