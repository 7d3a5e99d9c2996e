"""Saving and loading: ``model.save('model.keras')``, ``keras.models.load_model``, ``save_weights``.

With h5py installed, ``.keras`` and ``.weights.h5`` files are Keras 3's own (a zip of
``config.json``, ``metadata.json`` and ``model.weights.h5``; an HDF5 file of the weights in
Keras's layouts), which Keras's ``load_model`` / ``load_weights`` read; see ``keras_archive.py``
and ``keras_h5.py``. ``load_model`` rebuilds a model from Keras's own ``.keras`` files too.

Without h5py (and for ``.safetensors`` names) nerve writes its own safe format: a nerve
checkpoint (the safetensors layout, written atomically by ``nerve.save``) whose JSON header holds
the architecture (each layer's class name and constructor arguments, and for functional models
how the layers are wired) and the compile settings, and whose data holds the weights in Keras's
layouts (and, in ``.keras`` files of a model that trained, the optimizer's state). nerve reads
those files back whatever is installed.

Loading reads JSON and raw arrays only and builds layers by name from nerve.keras's own classes
or the custom objects (``custom_objects``, ``custom_object_scope``, ``register_keras_serializable``):
no code in a file ever runs (Lambda layers in Keras's files are refused). Every write goes to a
temporary file in the same folder, renamed into place: a failed save leaves the previous file whole.
"""

from __future__ import annotations

import inspect
import os

import numpy as np

import nerve

from . import layers as layers_module
from .layers.layer import InputLayer, flatten
from .object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    not_found,
    register_keras_serializable,
    registered_name,
)

FORMAT = "nerve.keras"
VERSION = 1


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")


def _weights_payload(model) -> dict:
    weights = model.weights
    # Keras's layouts (as get_weights returns them), whatever layout the core keeps
    return {"names": [w.path for w in weights], "weights": [nerve.from_numpy(w.numpy()) for w in weights]}


def save_model(model, filepath, overwrite=True) -> None:
    """Write the model (architecture, weights, compile config) to ``filepath`` (``.keras``)."""
    filepath = os.fspath(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(f"Invalid filepath extension for saving. Please add a `.keras` extension to the "
                         f"filepath. Received: filepath={filepath}")
    _check_overwrite(filepath, overwrite)
    if not model.built:
        raise ValueError("The model is not built yet: call it on data (or fit it) before saving.")
    _refuse_code(model)
    from . import keras_h5

    if keras_h5.have_h5py():
        _save_archive(model, filepath)
        return
    nerve.save({**_model_payload(model), **_weights_payload(model), **_hooks_payload(model)}, filepath)


def _model_payload(model) -> dict:
    """nerve's own description of ``model``: architecture, compile settings and, once it trained,
    the optimizer's state (Adam's moments, the step count), so that fit resumes where it was."""
    payload = {
        "format": FORMAT, "version": VERSION, "kind": "model",
        "class_name": _class_name(model),
        "registered_name": registered_name(model),
        "config": model.get_config(),
        "compile_config": serialize_keras_object(model.get_compile_config()),
        "build_shape": _shape_json(getattr(model, "_build_shape", None)),
    }
    opt = getattr(model, "optimizer", None)
    if opt is not None and opt.built:
        payload["optimizer_state"] = {"iterations": int(opt.iterations), "state": opt._opt.state_dict(),
                                      **opt._own_state()}
    return payload


def _save_archive(model, filepath) -> None:
    """Keras 3's ``.keras`` zip, with nerve's own config and the optimizer's state beside it."""
    from nerve._atomic import atomic_write

    from . import keras_archive

    config = keras_archive.model_config(model)  # first: its errors name the layer Keras's schema cannot hold
    data = keras_archive.archive_bytes(model, config, _model_payload(model))
    with atomic_write(filepath, "wb") as out:
        out.write(data)


def _hooked_layers(model):
    """The model and every layer in it, in one fixed order (the same for the rebuilt model)."""
    from .layers.layer import _all_sublayers

    return [model] + _all_sublayers(model)


def _overrides(layer, hook) -> bool:
    return getattr(type(layer), hook, None) is not getattr(layers_module.Layer, hook, None)


def _hooks_payload(model) -> dict:
    """What layers that override Keras's ``save_own_variables`` / ``save_assets`` write: their
    stores of arrays, and their asset files as bytes, by the layer's place in the model."""
    import tempfile

    stores, assets = {}, {}
    for i, layer in enumerate(_hooked_layers(model)):
        if _overrides(layer, "save_own_variables"):
            store = {}
            layer.save_own_variables(store)
            stores[str(i)] = {k: nerve.from_numpy(np.ascontiguousarray(_host(v))) for k, v in store.items()}
        if hasattr(layer, "save_assets"):
            with tempfile.TemporaryDirectory() as folder:
                layer.save_assets(folder)
                assets[str(i)] = {os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/"):
                                  nerve.from_numpy(np.fromfile(os.path.join(root, f), dtype=np.uint8))
                                  for root, _, files in os.walk(folder) for f in files}
    return {"stores": stores, "assets": assets}


def _load_hooks(model, data) -> None:
    import tempfile

    layers = _hooked_layers(model)
    for i, store in (data.get("stores") or {}).items():
        layers[int(i)].load_own_variables({k: nerve.backend.to_numpy(v._data) for k, v in store.items()})
    for i, files in (data.get("assets") or {}).items():
        with tempfile.TemporaryDirectory() as folder:
            for rel, content in files.items():
                path = os.path.join(folder, *rel.split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                nerve.backend.to_numpy(content._data).astype(np.uint8).tofile(path)
            layers[int(i)].load_assets(folder)


def _host(value) -> np.ndarray:
    if isinstance(value, nerve.Tensor):
        return nerve.backend.to_numpy(value._data)
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _refuse_code(model) -> None:
    """A Lambda layer is code, which nerve's files never hold: say so before writing anything."""
    stack, seen = [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, layers_module.Lambda):
            raise ValueError(f"Layer '{layer.name}' is a Lambda layer: its function is Python code, and nerve's "
                             ".keras files hold no code. Write a Layer subclass (its get_config gives the "
                             "arguments) and pass it in `custom_objects` when loading; or save_weights only.")
        stack.extend(layer._layers)


def _shape_json(shape):
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: _shape_json(v) for k, v in shape.items()}
    if shape and isinstance(shape[0], (list, tuple)):
        return [list(s) for s in shape]
    return list(shape)


def _class_name(obj) -> str:
    from .models.functional import Functional

    return "Functional" if type(obj) is Functional else type(obj).__name__


def save_weights(model, filepath, overwrite=True) -> None:
    """Write only the weights: Keras 3's ``.weights.h5`` with h5py installed, else nerve's format
    (in ``model.weights`` order, with their paths as names)."""
    from . import keras_h5

    filepath = os.fspath(filepath)
    if not filepath.endswith((".weights.h5", ".weights.safetensors", ".safetensors")):
        raise ValueError("The filename must end in `.weights.h5`. Received: filepath=" + filepath)
    _check_overwrite(filepath, overwrite)
    if filepath.endswith(".h5") and keras_h5.have_h5py():
        if not model.built:
            raise ValueError("The model is not built yet: call it on data (or fit it) before saving its weights.")
        keras_h5.save_weights(model, filepath)
        return
    nerve.save({"format": FORMAT, "version": VERSION, "kind": "weights", **_weights_payload(model)}, filepath)


def _read(filepath) -> dict:
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible `.keras` file.")
    kind = _keras_file_kind(filepath)
    if kind is not None:
        raise ValueError(f"{filepath} is not a nerve.keras file: it is {kind}. Build the same model in nerve.keras "
                         "and call `model.load_weights(path)`, which reads Keras's weights (with h5py installed).")
    data = nerve.load(filepath, map_location="cpu")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{filepath} is neither a nerve.keras file nor Keras's .keras zip (truncated or corrupt?).")
    return data


def _assign(model, data, skip_mismatch=False) -> None:
    weights = model.weights
    arrays = data["weights"]
    if len(arrays) != len(weights) and not skip_mismatch:
        raise ValueError(f"A total of {len(arrays)} weights were saved but the model '{model.name}' has "
                         f"{len(weights)} weights.")
    for var, arr, name in zip(weights, arrays, data.get("names", [None] * len(arrays))):
        if tuple(arr.shape) != var.shape:
            if skip_mismatch:
                continue
            raise ValueError(f"Weight {name} has shape {tuple(arr.shape)} in the file but {var.shape} in the model "
                             f"({var.path}).")
        var.assign(arr)


_ZIP = "a zip archive, as Keras 3 writes `.keras` files (config.json, metadata.json, model.weights.h5)"
_HDF5 = "an HDF5 file, as Keras writes `.h5` and `.weights.h5` files"


def _keras_file_kind(filepath):
    """What Keras's own file ``filepath`` is (``_ZIP``, a ``.keras`` zip; ``_HDF5``), or None."""
    from .keras_h5 import HDF5_SIGNATURE

    with open(filepath, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        return _ZIP
    if head == HDF5_SIGNATURE:
        return _HDF5
    return None


def _load_keras_weights(model, filepath) -> None:
    """Keras's own ``.weights.h5`` (or the weights in its ``.keras`` zip) into a built model."""
    from . import keras_h5

    if not model.built:
        raise ValueError("You are loading weights into a model that has not yet been built. Try building the "
                         "model first by calling it on some data or by using `build()`.")
    if _keras_file_kind(filepath) == _HDF5:
        keras_h5.load_weights(model, filepath)
        return
    from .keras_archive import Archive

    with Archive(filepath) as archive:
        archive.load_weights(model)


def load_weights(model, filepath, skip_mismatch=False) -> None:
    """Load weights saved by ``save_weights`` (or ``save``) into ``model``, in place; Keras's own
    ``.weights.h5`` and ``.keras`` files too, when h5py is installed."""
    filepath = os.fspath(filepath)
    if os.path.exists(filepath) and _keras_file_kind(filepath) is not None:
        _load_keras_weights(model, filepath)
        return
    data = _read(filepath)
    if not model.built:
        shape = data.get("build_shape")
        if shape is None:
            raise ValueError("The model must be built before load_weights (call it on data first).")
        model.build(tuple(shape))
    _assign(model, data, skip_mismatch)


def _find_class(name, custom_objects=None, registered_name=None):
    from . import models

    for key in (registered_name, name):
        found = get_registered_object(key, custom_objects) if key else None
        if found is not None:
            return found
    for where in (layers_module, models):
        cls = getattr(where, name, None)
        if isinstance(cls, type):
            return cls
    raise not_found("class", name)


def deserialize(class_name, config, custom_objects=None, registered_name=None):
    """Rebuild a layer or model from its class name and config (no code from the file runs)."""
    from .models.functional import Functional
    from .models.sequential import Sequential

    if class_name == "Sequential":
        return _sequential_from_config(config, custom_objects)
    if class_name == "Functional":
        return _functional_from_config(config, custom_objects)
    cls = _find_class(class_name, custom_objects, registered_name)
    if isinstance(cls, type) and issubclass(cls, (Sequential, Functional)):
        raise ValueError("subclasses of Sequential / Functional need their own from_config")
    config = dict(config)
    if cls is InputLayer:
        return InputLayer(batch_shape=config["batch_shape"], dtype=config.get("dtype"), name=config.get("name"))
    return cls.from_config(config)


def _build_from_config(layer, build_config) -> None:
    """A layer that overrides ``build_from_config`` builds itself its way before being wired in."""
    if build_config is not None and not layer.built and _overrides(layer, "build_from_config"):
        layer.build_from_config(build_config)


def build_config_of(layer):
    """What a model's config records for a layer whose ``get_build_config`` is its own (else None)."""
    return serialize_keras_object(layer.get_build_config()) if _overrides(layer, "get_build_config") else None


def _sequential_from_config(config, custom_objects):
    from .models.sequential import Sequential

    model = Sequential(name=config["name"], trainable=config.get("trainable", True))
    layer_objs = [deserialize(lc["class_name"], lc["config"], custom_objects, lc.get("registered_name"))
                  for lc in config["layers"]]
    shape = config.get("build_input_shape")
    first_has_shape = layer_objs and layer_objs[0]._batch_input_shape is not None
    if config.get("input_name") is not None or (shape is not None and not first_has_shape):
        model.add(InputLayer(batch_shape=shape, dtype=config.get("input_dtype"), name=config.get("input_name")),
                  rebuild=False)
    for layer, lc in zip(layer_objs, config["layers"]):
        _build_from_config(layer, lc.get("build_config"))
        model.add(layer, rebuild=False)
    model._maybe_rebuild()
    if not model.built and shape is not None:
        model.build(tuple(shape))
    return model


def _functional_from_config(config, custom_objects):
    from .models.functional import Functional

    by_name, pending = {}, []
    created = {}
    for lc in config["layers"]:
        layer = deserialize(lc["class_name"], lc["config"], custom_objects, lc.get("registered_name"))
        _build_from_config(layer, lc.get("build_config"))
        by_name[lc["name"]] = layer
        if isinstance(layer, InputLayer):
            created[(lc["name"], 0)] = layer._output_tensor
        for node in lc["inbound_nodes"]:
            pending.append((lc["name"], node))

    def resolve(value):
        if isinstance(value, dict) and "__ref__" in value:
            name, index, tensor = value["__ref__"]
            return flatten(created[(name, index)])[tensor]
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    def ready(value):
        if isinstance(value, dict) and "__ref__" in value:
            return (value["__ref__"][0], value["__ref__"][1]) in created
        if isinstance(value, list):
            return all(ready(v) for v in value)
        if isinstance(value, dict):
            return all(ready(v) for v in value.values())
        return True

    while pending:
        progress = False
        for item in list(pending):
            name, node = item
            more = node.get("call_args", [])  # positional arguments after the first
            if ready(node["args"]) and ready(more) and ready(node.get("kwargs", {})):
                created[(name, node["index"])] = by_name[name](resolve(node["args"]), *resolve(more),
                                                               **resolve(node.get("kwargs", {})))
                pending.remove(item)
                progress = True
        if not progress:
            raise ValueError("corrupt functional config: some layer calls cannot be connected")
    return Functional(resolve(config["input_layers"]), resolve(config["output_layers"]), name=config["name"],
                      trainable=config.get("trainable", True))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with ``model.save('....keras')``, by nerve or by Keras 3: architecture,
    weights, compile settings (and the optimizer's state where nerve can take it).

    Custom layers and functions are found by name in ``custom_objects``, the open
    ``custom_object_scope`` blocks and the ``register_keras_serializable`` registry. Code is never
    run: a Lambda layer in a Keras file is refused even with ``safe_mode=False``."""
    with custom_object_scope(custom_objects):
        return _load_model(filepath, compile)


def _load_model(filepath, compile):
    from . import keras_archive

    filepath = os.fspath(filepath)
    if os.path.exists(filepath) and _keras_file_kind(filepath) == _ZIP:
        return keras_archive.load_model(filepath, compile)
    data = _read(filepath)
    model = model_from_payload(data, filepath)
    _assign(model, data)
    _load_hooks(model, data)
    compile_loaded(model, data if compile else {})
    return model


def model_from_payload(data, filepath):
    """The model (built, weights not loaded) that nerve's own payload ``data`` describes."""
    if data.get("kind") != "model":
        raise ValueError(f"{filepath} holds weights only: build the model and call load_weights.")
    class_name, config = data["class_name"], data["config"]
    if class_name in ("Sequential", "Functional"):
        model = deserialize(class_name, config)
    else:
        cls = _find_class(class_name, registered_name=data.get("registered_name"))
        config = {k: v for k, v in config.items()}
        model = cls.from_config(config)
    if not model.built:
        shape = data.get("build_shape")
        if shape is None:
            raise ValueError("The saved model was never built; nothing to load the weights into.")
        model.build(tuple(shape) if not isinstance(shape[0], list) else [tuple(s) for s in shape])
        model._build_shape = shape
    return model


def compile_loaded(model, data) -> None:
    """Compile a loaded model as it was saved, with its optimizer's state (from nerve's payload)."""
    if data.get("compile_config"):
        model.compile_from_config(data["compile_config"])
        saved = data.get("optimizer_state")
        if saved is not None:
            model.optimizer.build(model.trainable_weights)
            model.optimizer._opt.load_state_dict(saved["state"])
            model.optimizer.iterations = saved["iterations"]
            model.optimizer._load_own_state(saved)


def _public_module(cls):
    """The module Keras names for a class: ``keras.layers`` for one of nerve.keras's layers, the
    user's own module for theirs, None for one defined in ``__main__``."""
    parts = cls.__module__.split(".")
    if parts[:2] != ["nerve", "keras"]:
        return None if cls.__module__ == "__main__" else cls.__module__
    if cls.__name__ == "Functional":
        return "keras.src.models.functional"  # Keras's own words for it
    return "keras" if len(parts) < 4 or parts[2] == "models" else f"keras.{parts[2]}"


def serialize_keras_object(obj):
    """``obj`` as Keras's JSON-ready dict: ``{"module", "class_name", "config", "registered_name"}``
    (and ``build_config`` for a built layer); a function by its (registered) name; lists, dicts
    and plain values as they are."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(x) for x in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        if obj.__name__ == "<lambda>":
            raise ValueError("A lambda cannot be serialized by name: define it with `def` (and register it).")
        return {"module": "builtins", "class_name": "function", "config": get_registered_name(obj),
                "registered_name": "function"}
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize {obj!r}: it has no `get_config()` method.")
    cls, class_name = type(obj), _class_name(obj)
    ours = cls.__module__.startswith("nerve.keras.") and class_name != "Functional"
    out = {"module": _public_module(cls), "class_name": class_name,
           "config": serialize_keras_object(obj.get_config()),
           "registered_name": None if ours else get_registered_name(cls)}
    if isinstance(obj, layers_module.Layer) and obj.built and getattr(obj, "_build_shape", None) is not None:
        out["build_config"] = {"input_shape": obj._build_shape}
    return out


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object ``serialize_keras_object`` described (custom ones found by name in
    ``custom_objects``, the open scopes or the registry)."""
    with custom_object_scope(custom_objects):
        return _deserialize_object(config)


def _deserialize_object(config):
    if config is None or isinstance(config, (int, float, bool)):
        return config
    if isinstance(config, (list, tuple)):
        return [_deserialize_object(x) for x in config]
    if isinstance(config, str):  # a custom object's name, else a plain string (as Keras)
        found = get_registered_object(config)
        return config if found is None else found
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config}")
    if "class_name" not in config or "config" not in config:
        return {k: _deserialize_object(v) for k, v in config.items()}
    if config["class_name"] == "function":
        found = get_registered_object(config["config"])
        if found is None:
            from . import activations

            found = activations._BY_NAME.get(config["config"])
        if found is None:
            raise not_found("function", config["config"])
        return found
    registered = config.get("registered_name")
    inner = config.get("config", {})
    if config["class_name"] in ("Sequential", "Functional"):
        return deserialize(config["class_name"], inner)
    cls = _find_class(config["class_name"], registered_name=registered)
    obj = cls.from_config(inner)
    build = config.get("build_config")
    if build and isinstance(obj, layers_module.Layer) and not obj.built and build.get("input_shape") is not None:
        obj._maybe_build(_as_shape(build["input_shape"]))
    return obj


def _as_shape(shape):
    if shape and isinstance(shape[0], (list, tuple)):
        return [tuple(s) for s in shape]
    return tuple(shape)


__all__ = [
    "CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
    "get_registered_name", "get_registered_object", "load_model", "load_weights", "register_keras_serializable",
    "save_model", "save_weights", "serialize_keras_object",
]
