"""``keras.models``: ``Model``, ``Sequential``, ``load_model``, ``save_model``, ``clone_model``,
``model_from_json``."""

from ..saving import load_model, save_model
from .functional import Functional
from .model import Model
from .sequential import Sequential


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with the same architecture and freshly initialized weights."""
    from ..object_registration import registered_name
    from ..saving import _class_name, deserialize

    return deserialize(_class_name(model), model.get_config(), registered_name=registered_name(model))


def model_from_json(json_string, custom_objects=None):
    import json

    from ..object_registration import custom_object_scope
    from ..saving import deserialize

    spec = json.loads(json_string)
    with custom_object_scope(custom_objects):
        return deserialize(spec["class_name"], spec["config"])


__all__ = ["Functional", "Model", "Sequential", "clone_model", "load_model", "model_from_json", "save_model"]
