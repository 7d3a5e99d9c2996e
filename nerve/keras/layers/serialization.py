"""``keras.layers.serialize`` / ``deserialize``: a layer as Keras's config dict and back."""

from __future__ import annotations


def serialize(layer) -> dict:
    """The layer as ``{"module", "class_name", "config", "registered_name"}`` (Keras's form)."""
    from ..saving import serialize_keras_object

    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """The layer ``serialize`` described (custom classes found by name in ``custom_objects``,
    the open ``custom_object_scope`` blocks or the registry)."""
    from ..saving import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects=custom_objects)
