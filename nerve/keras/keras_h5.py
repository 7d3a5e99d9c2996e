"""Keras 3's own weights files (``.weights.h5``, HDF5), read into and written from a nerve.keras model.

Keras stores each layer's own weights under a path that follows the model's structure:
``layers/<class in snake_case, numbered when repeated>/vars/0, 1, ...`` inside a Sequential or
functional model, ``<attribute name>/vars/...`` inside a subclassed layer or model (a list
attribute adds ``<attribute>/<class>``). nerve walks its model the same way, so a model built
alike in nerve.keras finds every layer's arrays; Keras's optimizer state in the file is left
out. Writing follows the same walk (each layer's ``save_own_variables``, in Keras's layouts), so
Keras's ``load_weights`` finds every array of a model built alike. Reading and writing HDF5 takes h5py (``pip install 'nerve[h5]'``; Keras installs it too), imported only here.
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


def var_groups(path: str, layer, count: int) -> list:
    """Where Keras's files hold ``layer``'s ``count`` own variables, as ``(group, how many)`` in
    order: ``<path>/vars``, or, where Keras keeps the weights on sublayers nerve does not have, their
    groups (an LSTM's ``<path>/cell/vars``; a MultiHeadAttention's ``query``, ``key``, ...). A layer
    says so in ``_keras_vars_in``: one sublayer's name, or ``(name, how many)`` pairs."""
    spec = getattr(layer, "_keras_vars_in", "")
    if isinstance(spec, str):
        return [(_join(path, spec, "vars"), count)]
    return [(_join(path, sub, "vars"), n) for sub, n in spec]


def keras_paths(model) -> list:
    """``(path, layer)`` for the model and each layer in it, as Keras's saving walks them."""
    from .models.functional import Functional
    from .models.model import Model
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
        items = dict(vars(layer))
        if isinstance(layer, Model):  # Keras walks dir(model): a subclassed model's `layers` property too
            items["layers"] = layer.layers
            tracked.update(id(sub) for sub in layer.layers)
        for attr in sorted(items, key=_private_last):
            value = items[attr]
            if attr in base:
                continue
            if isinstance(value, Layer) and id(value) in tracked:
                walk(value, _join(path, attr))
            elif isinstance(value, (list, tuple)) and any(isinstance(v, Layer) for v in value):
                container(value, _join(path, attr))

    walk(model, "")
    return out


def have_h5py() -> bool:
    """Whether h5py is installed (then nerve writes Keras's own files)."""
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def weights_bytes(model, optimizer=None) -> bytes:
    """Keras's ``.weights.h5`` content for ``model`` (built): each layer's own variables under its
    Keras path, and, as Keras writes it, ``optimizer/vars`` (its step count, learning rate and, where
    they map onto Keras's, its per-weight state)."""
    import io

    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for path, layer in keras_paths(model):
            f.create_group(_join(path, "vars")).attrs["name"] = layer.name
            store: dict = {}
            layer.save_own_variables(store)
            groups = var_groups(path, layer, len(store))
            if len(groups) == 1:  # the store as the layer wrote it (its own keys, as Keras keeps them)
                parts = [(groups[0][0], list(store.items()))]
            else:  # split in order over Keras's sublayers, each numbered from "0"
                values = [store[key] for key in sorted(store, key=_key_order)]
                parts = []
                for where, n in groups:
                    parts.append((where, [(str(i), v) for i, v in enumerate(values[:n])]))
                    values = values[n:]
            for where, items in parts:
                group = f.require_group(where)
                group.attrs.setdefault("name", where.split("/")[-2] if "/" in where else layer.name)
                for key, value in items:
                    group.create_dataset(key, data=_host(value))
        # an optimizer that wraps another (LossScaleOptimizer) lists the inner one's variables after
        # its own, and Keras keeps them again in a group of their own
        wrapped = [("optimizer", optimizer)] if optimizer is not None else []
        if getattr(optimizer, "inner_optimizer", None) is not None:
            wrapped.append(("optimizer/inner_optimizer", optimizer.inner_optimizer))
        for where, opt in wrapped:
            group = f.create_group(f"{where}/vars")
            group.attrs["name"] = opt.name
            for i, value in enumerate(opt.keras_variables(model.trainable_weights)):
                group.create_dataset(str(i), data=value)
    return buffer.getvalue()


def _key_order(key: str):
    """A store's keys in order: ``"0", "1", ..., "10"`` by number; other names after, by name."""
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _host(value) -> np.ndarray:
    import nerve

    if isinstance(value, nerve.Tensor):
        return nerve.backend.to_numpy(value._data)
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def save_weights(model, filepath) -> None:
    """Write ``model``'s weights to ``filepath`` as Keras 3's ``.weights.h5`` (atomically)."""
    from nerve._atomic import atomic_write

    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    data = weights_bytes(model, optimizer)  # Keras writes the optimizer's variables here too
    with atomic_write(filepath, "wb") as out:
        out.write(data)


def load_weights(model, filepath, label=None) -> None:
    """Assign the weights in Keras's ``filepath`` (a path or a binary file object; ``label`` names
    it in errors) to ``model`` (built), layer by layer."""
    label = filepath if label is None else label
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{label} is Keras's HDF5 weights file: reading it takes h5py "
                          "(`pip install h5py`, or nerve's extra: `pip install 'nerve[h5]'`).") from None
    try:
        f = h5py.File(filepath, "r")
    except OSError as e:
        raise ValueError(f"{label} is not a readable HDF5 weights file (truncated or corrupt?): {e}") from None
    with f:
        for path, layer in keras_paths(model):
            own = layer._trainable_variables + layer._non_trainable_variables
            groups = var_groups(path, layer, len(own))
            stores = []
            for where, _ in groups:
                group = f.get(where)
                if not own and (group is None or not len(group)):
                    continue
                if group is None:
                    raise ValueError(f"Keras's weights file {label} has no weights for layer '{layer.name}' "
                                     f"(looked for '{where}'): build the model as the one that was saved.")
                stores.append({key: np.asarray(group[key]) for key in sorted(group, key=_key_order)})
            if len(groups) == 1 and stores:
                layer.load_own_variables(stores[0])
            elif stores:
                values = [v for store in stores for v in store.values()]
                layer.load_own_variables({str(i): v for i, v in enumerate(values)})
