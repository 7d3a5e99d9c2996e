"""Custom objects by name, as Keras's: ``register_keras_serializable``, ``custom_object_scope``,
``get_registered_object`` / ``get_registered_name``, ``get_custom_objects``.

Loading a model builds its layers (and activations, ...) from the names its file holds; a name
that is not one of nerve.keras's own is looked up here: the ``custom_objects`` passed to the
loader, then the open scopes, then the objects registered globally.
"""

from __future__ import annotations

import inspect

_GLOBAL_CUSTOM_OBJECTS: dict = {}  # "package>name" (or a plain name from get_custom_objects) -> object
_GLOBAL_CUSTOM_NAMES: dict = {}  # the object -> "package>name"
_SCOPES: list = []  # the dicts of the custom_object_scope blocks now open, innermost last


class CustomObjectScope:
    """Within ``with custom_object_scope({"Name": obj}):`` loading finds ``obj`` by its name."""

    def __init__(self, custom_objects=None, *more):
        self.custom_objects = dict(custom_objects or {})
        for extra in more:
            self.custom_objects.update(extra or {})

    def __enter__(self):
        _SCOPES.append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _SCOPES.remove(self.custom_objects)


custom_object_scope = CustomObjectScope


def get_custom_objects() -> dict:
    """The live global dict of custom objects (what ``register_keras_serializable`` fills)."""
    return _GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: register a class (it must have ``get_config``) or a function as
    ``"package>name"`` (``name`` defaults to its ``__name__``), so that files naming it load
    without ``custom_objects``."""
    def decorator(obj):
        key = f"{package}>{name or obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        _GLOBAL_CUSTOM_OBJECTS[key] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = key
        return obj

    return decorator


def get_registered_name(obj) -> str:
    """The name ``obj`` is registered under (``"package>name"``), else its ``__name__``."""
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", None))


def get_registered_object(name: str, custom_objects=None, module_objects=None):
    """The object registered or passed as ``name``: the scopes first, then the global registry,
    then ``custom_objects`` and ``module_objects``; None if none has it."""
    for scope in reversed(_SCOPES):
        if name in scope:
            return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    for table in (custom_objects, module_objects):
        if table and name in table:
            return table[name]
    return None


def registered_name(obj) -> str | None:
    """The name the class of ``obj`` is registered under, or None (files store it beside the
    class name, so that loading finds the registered class and no other of that name)."""
    return _GLOBAL_CUSTOM_NAMES.get(type(obj))


def not_found(kind: str, name: str) -> TypeError:
    """Keras's error for a name in a file that no class or function answers to."""
    return TypeError(f"Could not locate {kind} '{name}'. Make sure custom classes and functions are decorated "
                     "with `@keras.saving.register_keras_serializable()`, or pass them in `custom_objects` (or a "
                     "`keras.saving.custom_object_scope`) when loading.")
