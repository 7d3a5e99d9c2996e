"""The few pieces of ``keras.backend`` that scripts touch: names, the device, floatx, epsilon.

Keras names layers ``dense``, ``dense_1``, ... from a per-session counter; ``clear_session``
restarts it. The device is the GPU when nerve sees one (as Keras on torch), else the CPU.
"""

from __future__ import annotations

import collections
import os
import re

import numpy as np

import nerve

_uids: collections.Counter = collections.Counter()
_state = {"floatx": "float32", "epsilon": 1e-7, "device": None, "image_data_format": "channels_last"}


def backend() -> str:
    return "nerve"


def floatx() -> str:
    return _state["floatx"]


def set_floatx(value: str) -> None:
    _state["floatx"] = str(value)


def epsilon() -> float:
    return _state["epsilon"]


def set_epsilon(value: float) -> None:
    _state["epsilon"] = float(value)


def image_data_format() -> str:
    """The default ``data_format`` of image layers: ``'channels_last'`` unless set otherwise."""
    return _state["image_data_format"]


def set_image_data_format(data_format: str) -> None:
    """Make ``data_format`` (``'channels_first'`` or ``'channels_last'``) the layers' default."""
    _state["image_data_format"] = _data_format(data_format)


def standardize_data_format(data_format) -> str:
    """A layer's ``data_format`` argument checked, lower-cased; None: ``image_data_format()``."""
    return image_data_format() if data_format is None else _data_format(data_format)


def _data_format(data_format) -> str:
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={value}")
    return value


def get_uid(prefix: str) -> int:
    """The next number for ``prefix`` (1 for the first call, as Keras's ``backend.get_uid``)."""
    _uids[prefix] += 1
    return _uids[prefix]


def unique_name(prefix: str) -> str:
    """``prefix`` for the first object of a kind, then ``prefix_1``, ``prefix_2``, ..."""
    n = get_uid(prefix)
    return prefix if n == 1 else f"{prefix}_{n - 1}"


def snake_case(name: str) -> str:
    """``MaxPooling2D`` -> ``max_pooling2d`` (Keras's default layer names)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def clear_session() -> None:
    """Restart layer numbering (``dense``, ``dense_1``, ...)."""
    _uids.clear()


def device() -> nerve.device:
    """The device Keras layers put their weights on: ``NERVE_KERAS_DEVICE``, else cuda if available."""
    if _state["device"] is None:
        wanted = os.environ.get("NERVE_KERAS_DEVICE")
        if wanted is None:
            wanted = "cuda" if nerve.cuda.is_available() else "cpu"
        _state["device"] = nerve.device(wanted)
    return _state["device"]


def set_device(dev) -> None:
    """Choose the device for weights created from now on (``'cpu'`` or ``'cuda'``)."""
    _state["device"] = nerve.device(dev)


def standardize_dtype(dtype) -> str:
    if isinstance(dtype, dict) and dtype.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        dtype = (dtype.get("config") or {}).get("name")  # a policy as Keras's get_config writes it
    if dtype is None:
        return floatx()
    if isinstance(dtype, nerve.dtype):
        return np.dtype(dtype.np).name
    return np.dtype(dtype).name


def is_float_dtype(dtype) -> bool:
    return np.dtype(standardize_dtype(dtype)).kind == "f"
