"""Weight constraints: ``MaxNorm``, ``MinMaxNorm``, ``NonNeg``, ``UnitNorm`` (``kernel_constraint='max_norm'``).

As Keras 3's: a constraint is a projection ``w -> constraint(w)`` that the optimizer applies to a
variable right after each update of it (``fit``, ``train_on_batch``, ``optimizer.apply``); the
variable carries it as ``variable.constraint``. ``w`` is the variable in Keras's layout (a Dense
kernel is (in, out)), so ``axis`` means what it means in Keras. A constraint of one's own
subclasses ``Constraint`` (or is any callable) and returns the projected weight.
"""

from __future__ import annotations

import inspect

from . import backend, ops
from .object_registration import get_registered_object, not_found, registered_name


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (``w`` unchanged here)."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    return ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescale each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to it."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0, self.max_value)
        return w * (desired / (backend.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Set the negative weights to zero."""

    def __call__(self, w):
        return ops.maximum(ops.convert_to_tensor(w), 0)


class UnitNorm(Constraint):
    """Scale each slice along ``axis`` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return w / (backend.epsilon() + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each slice's L2 norm into ``[min_value, max_value]`` (by a fraction ``rate`` per step)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        norms = _norms(w, self.axis)
        desired = self.rate * ops.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (backend.epsilon() + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

# Keras's names: the class names and their snake_case forms
_BY_NAME = {cls.__name__: cls for cls in (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
_BY_NAME.update({"constraint": Constraint, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
                 "unit_norm": UnitNorm})


def serialize(constraint) -> dict:
    """``{"class_name", "config"}`` (and ``registered_name`` for a registered class of one's own)."""
    out = {"class_name": type(constraint).__name__, "config": constraint.get_config()}
    name = registered_name(constraint)
    if name is not None:
        out["registered_name"] = name
    return out


def deserialize(config, custom_objects=None):
    """The constraint a ``serialize`` dict (or a bare name) stands for."""
    if isinstance(config, str):
        name, kwargs = config, {}
    else:
        name, kwargs = config["class_name"], config.get("config") or {}
    cls = None
    if isinstance(config, dict) and config.get("registered_name"):
        cls = get_registered_object(config["registered_name"], custom_objects)
    cls = cls or get_registered_object(name, custom_objects, _BY_NAME)
    if cls is None:
        raise not_found("constraint", name)
    return cls.from_config(kwargs) if hasattr(cls, "from_config") else cls(**kwargs)


def get(identifier):
    """A constraint from a name (``'max_norm'``), a config dict, a class, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _BY_NAME.get(identifier)
    else:
        obj = identifier
    if callable(obj):
        return obj() if inspect.isclass(obj) else obj
    raise ValueError(f"Could not interpret constraint identifier: {identifier}")
