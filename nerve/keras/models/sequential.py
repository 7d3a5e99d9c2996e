"""``keras.Sequential``: a stack of layers, built at once when the input shape is known
(``keras.Input(shape)`` first, or ``input_shape=`` on the first layer), else on the first call.
"""

from __future__ import annotations

from nerve.tensor import Tensor

from .. import backend
from ..layers.layer import InputLayer, KerasTensor, Layer
from ..object_registration import registered_name
from .model import Model


class Sequential(Model):
    """Layers applied one after the other.

    Args:
        layers: a list of layers (a ``keras.Input(...)`` first sets the input shape).
        name: ``sequential``, ``sequential_1``, ... by default.
    """

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name or backend.unique_name("sequential"))
        object.__setattr__(self, "_layers", [])
        self._input_layer = None
        self._input_spec_shapes = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def add(self, layer, rebuild=True) -> None:
        """Append a layer (or a ``keras.Input``, which must come first)."""
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history[0], InputLayer):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("An InputLayer (keras.Input) can only be the first layer of a Sequential model.")
            self._input_layer = layer
        elif not isinstance(layer, Layer):
            raise ValueError(f"Only instances of `keras.Layer` can be added to a Sequential model. Received: {layer} "
                             f"(of type {type(layer)})")
        else:
            if any(existing.name == layer.name for existing in self._layers):
                raise ValueError(f"All layers added to a Sequential model should have unique names. Name "
                                 f"'{layer.name}' is already the name of a layer in this model. Update the `name` "
                                 "argument to pass a unique name.")
            self._layers.append(layer)
        if rebuild:
            self._maybe_rebuild()
        else:
            self.built = False

    def pop(self, rebuild=True) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise IndexError("list index out of range")  # Keras's error
        layer = self._layers.pop()
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _known_input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.batch_shape, self._input_layer.dtype
        if self._layers and self._layers[0]._batch_input_shape is not None:
            return self._layers[0]._batch_input_shape, self._layers[0].dtype
        if len(self._layers) > 1 and isinstance(self._layers[0], Model):
            # a model with one known input shape first (a pretrained base): built at once, as Keras
            shape = getattr(self._layers[0], "input_shape", None)
            if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
                return shape, self._layers[0].dtype
        return None, None

    def _maybe_rebuild(self) -> None:
        self.built = False
        shape, dtype = self._known_input_shape()
        if shape is not None and self._layers:
            self.build(shape, dtype)

    def build(self, input_shape=None, dtype=None) -> None:
        """Build every layer by passing a symbolic input of ``input_shape`` through the stack."""
        if input_shape is None:
            input_shape, dtype = self._known_input_shape()
            if input_shape is None:
                raise ValueError("You must provide an `input_shape` argument.")
        input_shape = tuple(input_shape)
        backend.get_uid("functional")  # Keras 3 builds a Sequential through a Functional: keep its numbering
        if self._input_layer is None or tuple(self._input_layer.batch_shape) != input_shape:
            inp = InputLayer(batch_shape=input_shape, dtype=dtype)
            if self._input_layer is None and not (self._layers and self._layers[0]._batch_input_shape is not None):
                self._auto_input = inp
            self._graph_input = inp
        else:
            self._graph_input = self._input_layer
        x = self._graph_input._output_tensor
        for layer in self._layers:
            x = layer(x)
        self._graph_output = x
        self._input_spec_shapes = [input_shape]
        self.built = True

    def _build_from_data(self, x) -> None:
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))

    @property
    def layers(self) -> list:
        return list(self._layers)

    def _graph(self, what: str):
        if not self.built:  # Keras's error (its own message is lost to its __getattr__)
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{what}'")

    @property
    def inputs(self):
        self._graph("inputs")
        return [self._graph_input._output_tensor]

    @property
    def outputs(self):
        self._graph("outputs")
        return [self._graph_output]

    @property
    def input_shape(self):
        self._graph("input_shape")
        return self._input_spec_shapes[0]

    @property
    def output_shape(self):
        self._graph("output_shape")
        return self._graph_output.shape

    def call(self, inputs, training=None):
        spec = self._input_spec_shapes
        if spec is not None:
            shape = inputs._data.shape if type(inputs) is Tensor else getattr(inputs, "shape", None)
            if shape is not None and (len(shape) != len(spec[0]) or tuple(shape[1:]) != tuple(spec[0][1:])):
                self._check_shape(0, spec[0], tuple(shape))
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model ``get_config`` described, with new weights."""
        from ..saving import deserialize

        return deserialize("Sequential", config, custom_objects)

    def get_config(self) -> dict:
        from ..saving import build_config_of

        shape, dtype = self._known_input_shape()
        if shape is None and self._input_spec_shapes:
            shape = self._input_spec_shapes[0]
        return {
            "name": self.name, "trainable": self.trainable,
            "build_input_shape": list(shape) if shape is not None else None,
            "input_dtype": dtype,
            "input_name": self._input_layer.name if self._input_layer is not None else None,
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config(),
                        "registered_name": registered_name(layer), "build_config": build_config_of(layer)}
                       for layer in self._layers],
        }
