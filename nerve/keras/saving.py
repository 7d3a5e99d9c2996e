"""Saving and loading: ``model.save('model.keras')``, ``keras.models.load_model``, ``save_weights``.

One safe format for all of them: a nerve checkpoint (the safetensors layout, written
atomically by ``nerve.save``) whose JSON header holds the architecture (each layer's class
name and constructor arguments, and for functional models how the layers are wired) and the
compile settings, and whose data holds the weights in Keras's layouts. Loading reads JSON and
raw arrays only and builds layers by name from nerve.keras's own classes (or the
``custom_objects`` you pass): no code in a file ever runs. The ``.keras`` and ``.weights.h5``
names are kept so that Keras scripts run unchanged, but the files are not Keras's zip / HDF5.
"""

from __future__ import annotations

import os

import nerve

from . import layers as layers_module
from .layers.layer import InputLayer, flatten

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
    payload = {
        "format": FORMAT, "version": VERSION, "kind": "model",
        "class_name": _class_name(model),
        "config": model.get_config(),
        "compile_config": model.get_compile_config(),
        "build_shape": _shape_json(getattr(model, "_build_shape", None)),
        **_weights_payload(model),
    }
    nerve.save(payload, filepath)


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
    """Write only the weights (in ``model.weights`` order, with their paths as names)."""
    filepath = os.fspath(filepath)
    if not filepath.endswith((".weights.h5", ".weights.safetensors", ".safetensors")):
        raise ValueError("The filename must end in `.weights.h5`. Received: filepath=" + filepath)
    _check_overwrite(filepath, overwrite)
    nerve.save({"format": FORMAT, "version": VERSION, "kind": "weights", **_weights_payload(model)}, filepath)


def _read(filepath) -> dict:
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an accessible `.keras` file.")
    data = nerve.load(filepath, map_location="cpu")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{filepath} is not a nerve.keras file (Keras's own .keras / .h5 files cannot be read).")
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


def load_weights(model, filepath, skip_mismatch=False) -> None:
    """Load weights saved by ``save_weights`` (or ``save``) into ``model``, in place."""
    data = _read(filepath)
    if not model.built:
        shape = data.get("build_shape")
        if shape is None:
            raise ValueError("The model must be built before load_weights (call it on data first).")
        model.build(tuple(shape))
    _assign(model, data, skip_mismatch)


def _find_class(name, custom_objects):
    from . import models

    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for where in (layers_module, models):
        cls = getattr(where, name, None)
        if isinstance(cls, type):
            return cls
    raise ValueError(f"Unknown layer class {name!r}: pass it in `custom_objects` to load this model.")


def deserialize(class_name, config, custom_objects=None):
    """Rebuild a layer or model from its class name and config (no code from the file runs)."""
    from .models.functional import Functional
    from .models.sequential import Sequential

    if class_name == "Sequential":
        return _sequential_from_config(config, custom_objects)
    if class_name == "Functional":
        return _functional_from_config(config, custom_objects)
    cls = _find_class(class_name, custom_objects)
    if isinstance(cls, type) and issubclass(cls, (Sequential, Functional)):
        raise ValueError("subclasses of Sequential / Functional need their own from_config")
    config = dict(config)
    if cls is InputLayer:
        return InputLayer(batch_shape=config["batch_shape"], dtype=config.get("dtype"), name=config.get("name"))
    return cls.from_config(config)


def _sequential_from_config(config, custom_objects):
    from .models.sequential import Sequential

    model = Sequential(name=config["name"], trainable=config.get("trainable", True))
    layer_objs = [deserialize(lc["class_name"], lc["config"], custom_objects) for lc in config["layers"]]
    shape = config.get("build_input_shape")
    first_has_shape = layer_objs and layer_objs[0]._batch_input_shape is not None
    if config.get("input_name") is not None or (shape is not None and not first_has_shape):
        model.add(InputLayer(batch_shape=shape, dtype=config.get("input_dtype"), name=config.get("input_name")),
                  rebuild=False)
    for layer in layer_objs:
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
        layer = deserialize(lc["class_name"], lc["config"], custom_objects)
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
    """Load a model saved with ``model.save('....keras')``: architecture, weights, compile settings."""
    data = _read(filepath)
    if data.get("kind") != "model":
        raise ValueError(f"{filepath} holds weights only: build the model and call load_weights.")
    class_name, config = data["class_name"], data["config"]
    if class_name in ("Sequential", "Functional"):
        model = deserialize(class_name, config, custom_objects)
    else:
        cls = _find_class(class_name, custom_objects)
        config = {k: v for k, v in config.items()}
        model = cls.from_config(config)
    if not model.built:
        shape = data.get("build_shape")
        if shape is None:
            raise ValueError("The saved model was never built; nothing to load the weights into.")
        model.build(tuple(shape) if not isinstance(shape[0], list) else [tuple(s) for s in shape])
        model._build_shape = shape
    _assign(model, data)
    if compile and data.get("compile_config"):
        model.compile_from_config(data["compile_config"])
    return model
