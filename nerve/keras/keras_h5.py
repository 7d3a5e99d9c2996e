"""Keras 3's own weights files (``.weights.h5``, HDF5) read into a nerve.keras model.

Keras stores each layer's own weights under a path that follows the model's structure:
``layers/<class in snake_case, numbered when repeated>/vars/0, 1, ...`` inside a Sequential or
functional model, ``<attribute name>/vars/...`` inside a subclassed layer or model (a list
attribute adds ``<attribute>/<class>``). nerve walks its model the same way, so a model built
alike in nerve.keras finds every layer's arrays; Keras's optimizer state in the file is left
out. Reading HDF5 takes h5py (``pip install 'nerve[h5]'``; Keras installs it too), imported only here.
"""

from __future__ import annotations

import numpy as np

from .backend import snake_case
from .layers.layer import _UNTRACKED, Layer

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _unique(name: str, used: dict) -> str:
    """Keras's container naming: ``dense``, ``dense_1``, ... within one list of layers."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _private_last(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name


def keras_paths(model) -> list:
    """``(path, layer)`` for the model and each layer in it, as Keras's saving walks them."""
    from .models.functional import Functional
    from .models.sequential import Sequential

    out, seen = [], set()
    base = set(vars(Layer(name="layer"))) | _UNTRACKED  # Keras too skips what a bare Layer has

    def container(items, path):
        used: dict = {}
        for item in items:
            if isinstance(item, Layer):
                walk(item, _join(path, _unique(snake_case(type(item).__name__), used)))

    def walk(layer, path):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        out.append((path, layer))
        if isinstance(layer, (Sequential, Functional)):
            container(layer.layers, _join(path, "layers"))
            return
        tracked = {id(sub) for sub in layer._layers}
        for attr in sorted(vars(layer), key=_private_last):
            value = layer.__dict__[attr]
            if attr in base:
                continue
            if isinstance(value, Layer) and id(value) in tracked:
                walk(value, _join(path, attr))
            elif isinstance(value, (list, tuple)) and any(isinstance(v, Layer) for v in value):
                container(value, _join(path, attr))

    walk(model, "")
    return out


def load_weights(model, filepath) -> None:
    """Assign the weights in Keras's ``filepath`` to ``model`` (built), layer by layer."""
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{filepath} is Keras's HDF5 weights file: reading it takes h5py "
                          "(`pip install h5py`, or nerve's extra: `pip install 'nerve[h5]'`).") from None
    with h5py.File(filepath, "r") as f:
        for path, layer in keras_paths(model):
            own = layer._trainable_variables + layer._non_trainable_variables
            group = f.get(_join(path, "vars"))
            if not own and (group is None or not len(group)):
                continue
            if group is None:
                raise ValueError(f"Keras's weights file {filepath} has no weights for layer '{layer.name}' (looked "
                                 f"for '{_join(path, 'vars')}'): build the model as the one that was saved.")
            layer.load_own_variables({key: np.asarray(group[key]) for key in group})
