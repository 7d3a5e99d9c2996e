"""Keras 3's ``.keras`` files (a zip of ``config.json``, ``metadata.json``, ``model.weights.h5``), both ways.

Writing: the model's architecture in Keras's config schema (each layer serialized as Keras does:
``module``, ``class_name``, ``config``, ``registered_name``, ``build_config``; a functional model's
calls as ``inbound_nodes`` of ``__keras_tensor__`` references), the compile config, the weights
and the optimizer's state in Keras's HDF5 layout (see ``keras_h5.py``; the optimizer's per-weight
state where it maps onto Keras's: Adam, SGD, plain RMSprop, Adamax, Nadam, Lion, Ftrl, Lamb, and a
LossScaleOptimizer around one of them), and layers' asset files under ``assets/``, so that
Keras's ``load_model`` opens the file and training goes on there. nerve's own config of the model
and its optimizer's full state go into one more member, ``nerve.safetensors``, which Keras ignores.

Reading: a file nerve wrote is rebuilt from that member; a file Keras wrote is rebuilt from
``config.json``, each layer from nerve.keras's class of the same name (or the custom objects), with
Keras's arguments that nerve lacks dropped only where they hold Keras's default (else an error that
names the layer and the argument). Nothing in a file ever runs: a Lambda layer (Python bytecode in
the config) is refused, whatever ``safe_mode`` says.
"""

from __future__ import annotations

import datetime
import inspect
import io
import json
import os
import zipfile

import numpy as np

CONFIG, METADATA, WEIGHTS, NERVE = "config.json", "metadata.json", "model.weights.h5", "nerve.safetensors"
KERAS_VERSION = "3.15.1"  # the Keras version whose files these are written as

# Keras's arguments nerve has no parameter for, and the value that makes them a no-op
_KERAS_DEFAULTS = {"renorm_momentum": 0.99, "use_cudnn": "auto", "implementation": 2, "groups": 1,
                   "data_format": "channels_last", "dtype": "float32"}


# ------------------------------------------------------------------------------------------ writing
def _find_nerve_class(class_name):
    """nerve.keras's public class ``class_name`` and the Keras module that holds it, or (None, None)."""
    from . import constraints, initializers, layers, losses, metrics, models, optimizers, regularizers

    for module, where in ((layers, "keras.layers"), (initializers, "keras.initializers"),
                          (regularizers, "keras.regularizers"),
                          (constraints, "keras.constraints"), (losses, "keras.losses"),
                          (metrics, "keras.metrics"), (optimizers, "keras.optimizers"), (models, "keras")):
        cls = getattr(module, class_name, None)
        if isinstance(cls, type):
            return cls, where
    return None, None


def _with_modules(value):
    """nerve's ``{"class_name", "config"}`` dicts nested in a config, with Keras's ``module`` and
    ``registered_name`` added (Keras's deserializer needs the module to find a built-in class)."""
    if isinstance(value, list):
        return [_with_modules(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _with_modules(v) for k, v in value.items()}
    if "class_name" in out and "config" in out and "module" not in out:
        _, where = _find_nerve_class(out["class_name"])
        out = {"module": where, **out}
        out.setdefault("registered_name", None if where else out["class_name"])  # a custom one: by name
    return out


def _input_layer_entry(batch_shape, dtype, name):
    config = {"batch_shape": list(batch_shape), "dtype": dtype or "float32", "sparse": False, "ragged": False,
              "optional": False}
    if name is not None:
        config["name"] = name
    return {"module": "keras.layers", "class_name": "InputLayer", "config": config, "registered_name": None}


def layer_entry(layer) -> dict:
    """``layer`` serialized as Keras's ``serialize_keras_object`` does."""
    from .layers.layer import InputLayer
    from .models.functional import Functional
    from .models.sequential import Sequential
    from .saving import _refuse_code, serialize_keras_object

    _refuse_code(layer)
    if isinstance(layer, InputLayer):
        return _input_layer_entry(layer.batch_shape, layer.dtype, layer.name)
    if type(layer) is Sequential:
        config, module = sequential_config(layer), "keras"
    elif type(layer) is Functional:
        config, module = functional_config(layer), "keras.src.models.functional"
    else:
        try:
            entry = serialize_keras_object(layer)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) cannot be written in Keras's config "
                             f"schema: {e}") from None
        entry["config"] = _with_modules({**_defaults(type(layer)), **entry["config"]})
        entry["config"].pop("batch_input_shape", None)  # Keras writes an InputLayer instead
        entry["build_config"] = _build_config(layer)
        return entry
    return {"module": module, "class_name": "Functional" if type(layer) is Functional else "Sequential",
            "config": config, "registered_name": "Functional" if type(layer) is Functional else None,
            "build_config": _build_config(layer)}


def _defaults(cls) -> dict:
    """The arguments of one of nerve.keras's layer classes that have defaults, with them: Keras's
    constructor may need some that nerve's does not (``AveragePooling2D``'s ``pool_size``). Only the
    class's own constructor counts (a base class's may take arguments the Keras class lacks)."""
    from .layers.layer import Layer, _jsonable

    if not cls.__module__.startswith("nerve.keras."):
        return {}
    init = next((k.__dict__["__init__"] for k in cls.__mro__ if "__init__" in k.__dict__), None)
    if init is None or init is Layer.__init__:
        return {}
    out: dict = {}
    for p in inspect.signature(init).parameters.values():
        if p.default is not p.empty and p.name not in cls._config_skip:
            try:
                out[p.name] = _jsonable(p.default)
            except TypeError:
                continue
    return out


def _build_config(layer):
    from .saving import serialize_keras_object

    config = layer.get_build_config()
    if config is None and getattr(layer, "built", False) and hasattr(layer, "_known_input_shape"):
        shape = layer._known_input_shape()[0]  # a Sequential model built from its input
        config = {"input_shape": list(shape)} if shape is not None else None
    return serialize_keras_object(config) if config is not None else None


def sequential_config(model) -> dict:
    """A Sequential model's config as Keras writes it (an InputLayer first where it has one)."""
    shape, dtype = model._known_input_shape()
    if shape is None and model._input_spec_shapes:
        shape = model._input_spec_shapes[0]
    layers = [layer_entry(layer) for layer in model.layers]
    first_shape = model.layers[0]._batch_input_shape if model.layers else None
    if model._input_layer is not None or first_shape is not None:
        name = model._input_layer.name if model._input_layer is not None else None
        layers.insert(0, _input_layer_entry(shape or first_shape, dtype, name))
    config = {"name": model.name, "trainable": model.trainable, "layers": layers}
    if shape is not None:
        config["build_input_shape"] = list(shape)
    return config


def functional_config(model) -> dict:
    """A functional model's config as Keras writes it: layers with their ``inbound_nodes`` (calls
    whose tensors are ``__keras_tensor__`` references), and the input and output references."""
    from .backend import standardize_dtype
    from .layers.layer import KerasTensor, map_structure

    own = {id(n) for n in model._nodes}
    local = {}  # (layer, node index) -> the node's index among the nodes of this model, as Keras counts
    for layer in model.layers:
        kept = [i for i, n in enumerate(layer._inbound_nodes) if id(n) in own]
        local.update({(id(layer), i): k for k, i in enumerate(kept)})

    def history(t):
        layer, index, tensor = t._keras_history
        return [layer.name, local[(id(layer), index)], tensor]

    def tensor(value):
        if not isinstance(value, KerasTensor):
            return value
        return {"class_name": "__keras_tensor__", "config": {"shape": list(value.shape),
                                                             "dtype": standardize_dtype(value.dtype),
                                                             "keras_history": history(value)}}

    layers = []
    for layer in model.layers:
        entry = layer_entry(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": [map_structure(tensor, n.call_inputs)] + [map_structure(tensor, a) for a in n.call_args],
             "kwargs": map_structure(tensor, n.call_kwargs)}
            for n in layer._inbound_nodes if id(n) in own and n.input_tensors]
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": map_structure(history, model._inputs_struct),
            "output_layers": map_structure(history, model._outputs_struct)}


def compile_config(model):
    """The compile settings as Keras writes them (``{}`` for a model never compiled)."""
    config = model.get_compile_config()
    if config is None:
        return {}
    return {**_with_modules(config), "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def model_config(model) -> dict:
    """``config.json``: the model serialized as Keras does, with its compile config."""
    entry = layer_entry(model)
    entry["compile_config"] = compile_config(model)
    return entry


def archive_bytes(model, config: dict, nerve_payload: dict) -> bytes:
    """The ``.keras`` zip for ``model``: ``config`` is ``model_config(model)``, ``nerve_payload``
    what only nerve reads back."""
    import tempfile

    import nerve

    from . import keras_h5

    config = json.dumps(config)
    optimizer = getattr(model, "optimizer", None)
    weights = keras_h5.weights_bytes(model, optimizer if getattr(model, "compiled", False) else None)
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "saved_by": f"nerve {nerve.__version__}"}
    extra = io.BytesIO()
    nerve.save(nerve_payload, extra)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, config)
        archive.writestr(WEIGHTS, weights)
        for path, layer in keras_h5.keras_paths(model):
            if hasattr(layer, "save_assets"):
                with tempfile.TemporaryDirectory() as folder:
                    layer.save_assets(folder)
                    for root, _, files in os.walk(folder):
                        for name in files:
                            rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
                            archive.write(os.path.join(root, name), "/".join(p for p in ("assets", path, rel) if p))
        archive.writestr(NERVE, extra.getvalue())
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ reading
class Archive:
    """A ``.keras`` zip open for reading (a context manager), with errors that name the file."""

    def __init__(self, filepath):
        self.filepath = filepath
        try:
            self.zip = zipfile.ZipFile(filepath)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ValueError(f"{filepath} is not a readable .keras file (a truncated or corrupt zip archive): "
                             f"{e}") from None
        self.names = set(self.zip.namelist())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def read(self, name) -> bytes:
        if name not in self.names:
            raise ValueError(f"{self.filepath} holds no {name}: it is not a .keras file as Keras writes them "
                             "(sharded Keras archives are not read).")
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise ValueError(f"{self.filepath} is corrupt: its {name} cannot be read ({e}).") from None

    def json(self, name):
        try:
            return json.loads(self.read(name))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{self.filepath} is corrupt: its {name} is not JSON ({e}).") from None

    def load_weights(self, model) -> None:
        from . import keras_h5

        keras_h5.load_weights(model, io.BytesIO(self.read(WEIGHTS)), label=f"{self.filepath} ({WEIGHTS})")

    def load_optimizer_state(self, model) -> None:
        """Keras's optimizer variables into the compiled model's optimizer where they map onto
        nerve's (Adam, SGD, plain RMSprop, Adamax, Nadam, Lion, Ftrl, Lamb); else say so, as Keras
        warns when it skips them."""
        import warnings

        import h5py

        with h5py.File(io.BytesIO(self.read(WEIGHTS)), "r") as f:
            group = f.get("optimizer/vars")
            arrays = [np.asarray(group[str(i)]) for i in range(len(group))] if group is not None else []
        if len(arrays) <= 2:  # no per-weight state (plain SGD, or an optimizer that never ran)
            # Keras's compile_from_config builds a loaded model's optimizer all the same: so does nerve
            model.optimizer.build(model.trainable_weights)
            if arrays:
                model.optimizer.iterations = int(np.asarray(arrays[0]))
            return
        if model.optimizer.load_keras_variables(model.trainable_weights, arrays):
            return
        warnings.warn(f"{self.filepath}: the optimizer's state saved by Keras ({len(arrays)} variables) is not "
                      "loaded by nerve; training goes on with a fresh optimizer state.", stacklevel=4)

    def load_assets(self, model) -> None:
        import tempfile

        from . import keras_h5

        for path, layer in keras_h5.keras_paths(model):
            if not hasattr(layer, "load_assets"):
                continue
            # as Keras: the folder under assets/ named by the layer's path, sublayers' folders and all
            prefix = "/".join(p for p in ("assets", path) if p) + "/"
            with tempfile.TemporaryDirectory() as folder:
                for name in self.names:
                    if name.startswith(prefix) and not name.endswith("/"):
                        parts = [p for p in name[len(prefix):].split("/") if p not in ("", ".", "..")]
                        target = os.path.join(folder, *parts)
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with open(target, "wb") as f:
                            f.write(self.read(name))
                layer.load_assets(folder)


def load_model(filepath, compile=True):
    """The model in the ``.keras`` zip ``filepath`` (written by nerve or by Keras 3)."""
    with Archive(filepath) as archive:
        return _load_model(archive, filepath, compile)


def _load_model(archive, filepath, compile):
    import nerve

    from .saving import compile_loaded, model_from_payload

    if NERVE in archive.names:
        try:
            data = nerve.load(io.BytesIO(archive.read(NERVE)), map_location="cpu")
        except ValueError as e:
            raise ValueError(f"{filepath} is corrupt: its {NERVE} cannot be read ({e}).") from None
        model = model_from_payload(data, filepath)
        archive.load_weights(model)
        archive.load_assets(model)
        compile_loaded(model, data if compile else {})
        return model
    config = archive.json(CONFIG)
    model = model_from_keras_config(config, filepath)
    archive.load_weights(model)
    archive.load_assets(model)
    if compile and config.get("compile_config"):
        try:
            model.compile_from_config(_compile_from_keras(config["compile_config"], filepath))
        except (KeyError, TypeError, ValueError) as e:
            why = str(e) if str(e).startswith(str(filepath)) else f"{filepath}: {e!r}"
            raise ValueError(f"{why} (the model's compile config cannot be restored in nerve.keras: load it with "
                             "`compile=False` and compile it yourself)") from None
        archive.load_optimizer_state(model)
    return model


def _refuse(filepath, where, what):
    raise ValueError(f"{filepath}: {where} holds {what}, which is Python code stored in the file. nerve never runs "
                     "code from a file (as Keras's `safe_mode=True`): rebuild the model with a Layer subclass "
                     "in place of the Lambda, then `load_weights`.")


def _accepted(cls):
    """The keyword arguments ``cls(...)`` takes, following ``**kwargs`` up to the base classes."""
    names = set()
    for klass in cls.__mro__[:-1]:  # object's own takes nothing
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def _fit_arguments(cls, config, what, filepath):
    """``config`` without Keras's arguments that ``cls`` lacks and that hold Keras's default."""
    accepted = _accepted(cls)
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value
        elif value is None or value is False or _KERAS_DEFAULTS.get(key, object()) == value:
            continue
        else:
            raise ValueError(f"{filepath}: {what} sets `{key}={value!r}`, which nerve.keras's {cls.__name__} does "
                             "not support.")
    return out


def _from_keras(value, filepath, where="the model"):
    """A Keras config (or part of one) made fit for nerve's constructors: dtype policies as their
    names, each object's arguments fitted to nerve's class; Lambda layers refused."""
    from .layers.layer import Layer

    if isinstance(value, list):
        return [_from_keras(v, filepath, where) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") == "__lambda__" or value.get("class_name") == "Lambda":
        name = (value.get("config") or {}).get("name") if isinstance(value.get("config"), dict) else None
        _refuse(filepath, f"layer '{name}'" if name else where, "a Lambda function")
    if "class_name" not in value or "config" not in value:
        return {k: _from_keras(v, filepath, where) for k, v in value.items()}
    class_name, inner = value["class_name"], value["config"]
    if class_name in ("DTypePolicy", "FloatDTypePolicy"):
        return inner.get("name") if isinstance(inner, dict) else inner
    if class_name == "Sequential":
        return {**value, "config": _sequential_from_keras(inner, filepath)}
    if class_name == "Functional":
        return {**value, "config": _functional_from_keras(inner, filepath)}
    if not isinstance(inner, dict):
        return value
    cls = _class_for(class_name, value.get("registered_name"))
    if "name" not in inner:
        what = f"{where}'s {class_name}"
    elif cls is not None and issubclass(cls, Layer):
        what = f"layer '{inner['name']}' ({class_name})"
    else:
        what = f"{class_name} '{inner['name']}'"
    inner = {k: _from_keras(v, filepath, what) for k, v in inner.items()}
    if cls is not None:
        inner = _fit_arguments(cls, inner, what, filepath)
    return {**value, "config": inner}


def _class_for(class_name, registered_name):
    from .object_registration import get_registered_object

    for key in (registered_name, class_name):
        found = get_registered_object(key) if key else None
        if isinstance(found, type):
            return found
    return _find_nerve_class(class_name)[0]


def _entry(layer, filepath) -> dict:
    """One of Keras's layer entries as nerve's model configs hold it."""
    converted = _from_keras({k: v for k, v in layer.items() if k not in ("inbound_nodes", "build_config")},
                            filepath)
    return {"class_name": converted["class_name"], "config": converted["config"],
            "registered_name": layer.get("registered_name"), "build_config": layer.get("build_config")}


def _sequential_from_keras(config, filepath) -> dict:
    layers = list(config.get("layers", []))
    out = {"name": config.get("name"), "trainable": config.get("trainable", True),
           "build_input_shape": config.get("build_input_shape"), "input_dtype": None, "input_name": None}
    if layers and layers[0].get("class_name") == "InputLayer":
        first = layers.pop(0)["config"]
        out.update(input_name=first.get("name"), build_input_shape=first["batch_shape"],
                   input_dtype=first.get("dtype"))
    out["layers"] = [_entry(layer, filepath) for layer in layers]
    return out


def _is_history(value) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:]))


def _refs(value):
    """Keras's ``[layer name, node, tensor]`` triples (and ``__keras_tensor__`` dicts) as nerve's refs."""
    if _is_history(value):
        return {"__ref__": list(value)}
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return {"__ref__": list(value["config"]["keras_history"])}
    if isinstance(value, list):
        return [_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: _refs(v) for k, v in value.items()}
    return value


def _functional_from_keras(config, filepath) -> dict:
    layers = []
    for layer in config["layers"]:
        entry = _entry(layer, filepath)
        entry["name"] = layer["name"]
        nodes = []
        for index, node in enumerate(layer.get("inbound_nodes", [])):
            if isinstance(node, list):
                raise ValueError(f"{filepath}: layer '{layer['name']}' has calls in the legacy (Keras 2) format, "
                                 "which nerve does not read.")
            args = _refs(node.get("args", []))
            nodes.append({"index": index, "args": args[0] if args else [], "kwargs": _refs(node.get("kwargs", {})),
                          **({"call_args": args[1:]} if len(args) > 1 else {})})
        entry["inbound_nodes"] = nodes
        if entry["class_name"] == "InputLayer":
            entry["config"] = {k: entry["config"][k] for k in ("batch_shape", "dtype", "name")
                               if k in entry["config"]}
        layers.append(entry)
    return {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": layers,
            "input_layers": _refs(config["input_layers"]), "output_layers": _refs(config["output_layers"])}


def model_from_keras_config(config, filepath):
    """A nerve.keras model (built) from Keras's ``config.json``."""
    from .saving import deserialize

    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"{filepath} is corrupt: its {CONFIG} does not describe a model.")
    converted = _from_keras({k: v for k, v in config.items() if k != "compile_config"}, filepath)
    class_name = converted["class_name"]
    try:
        if class_name in ("Sequential", "Functional"):
            model = deserialize(class_name, converted["config"])
        else:
            cls = _class_for(class_name, converted.get("registered_name"))
            if cls is None:
                from .object_registration import not_found

                raise not_found("class", class_name)
            model = cls.from_config(converted["config"])
    except TypeError as e:
        raise ValueError(f"{filepath}: the model cannot be rebuilt in nerve.keras: {e}") from e
    build = config.get("build_config") or {}
    if not model.built and build.get("input_shape") is not None:
        shape = build["input_shape"]
        model.build(tuple(shape) if not isinstance(shape[0], list) else [tuple(s) for s in shape])
    if not model.built:
        raise ValueError(f"{filepath}: the saved model was never built; nothing to load the weights into.")
    return model


def _compile_from_keras(config, filepath) -> dict:
    keep = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")
    return _from_keras({k: v for k, v in config.items() if k in keep}, filepath, "the compile config")
