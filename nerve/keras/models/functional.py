"""Functional models: ``keras.Model(inputs, outputs)`` over a graph of layer calls.

Building walks back from the outputs through the recorded ``Node``s to order the calls;
calling the model replays them on real tensors, each layer once per node.
"""

from __future__ import annotations

from .. import backend
from ..layers.layer import InputLayer, KerasTensor, Layer, flatten, map_structure
from .model import Model


def _topological_nodes(outputs) -> list:
    order, seen = [], set()

    def visit(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.parent_nodes:
            visit(parent)
        order.append(node)

    for t in outputs:
        layer, index, _ = t._keras_history
        visit(layer._inbound_nodes[index])
    # As Keras: by depth from the inputs (inputs first), ties in discovery order.
    depth = {}
    for node in order:
        depth[id(node)] = max([depth[id(p)] + 1 for p in node.parent_nodes] or [0])
    return sorted(order, key=lambda n: depth[id(n)])


class Functional(Model):
    """A model defined by its symbolic ``inputs`` and ``outputs`` (single, lists or dicts)."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Layer.__init__(self, trainable=trainable, name=name or backend.unique_name("functional"), **kwargs)
        self._reset_compile()
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs, outputs) -> None:
        for t in flatten(inputs) + flatten(outputs):
            if not isinstance(t, KerasTensor):
                raise ValueError(f"All `inputs` and `outputs` values must be KerasTensors. Received: {t!r}")
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        self._nodes = _topological_nodes(self.outputs)
        input_ids = {id(t) for t in self.inputs}
        for node in self._nodes:
            if isinstance(node.layer, InputLayer) and id(node.output_tensors[0]) not in input_ids:
                raise ValueError(f"Graph disconnected: the input {node.layer.name} is not among the model's inputs.")
        layers = []
        for node in self._nodes:
            if all(node.layer is not seen for seen in layers):
                layers.append(node.layer)
        object.__setattr__(self, "_layers", layers)
        self._input_spec_shapes = [t.shape for t in self.inputs]
        self.built = True

    @property
    def input_names(self) -> list:
        return [t._keras_history[0].name for t in self.inputs]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def call(self, inputs, training=None):
        if isinstance(self._inputs_struct, dict) and isinstance(inputs, dict):
            flat = [inputs[k] for k in sorted(self._inputs_struct)]
        elif isinstance(inputs, dict):  # inputs given by the names of the Input layers
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"Missing data for input(s) {missing}; the model's inputs are {self.input_names}.")
            flat = [inputs[n] for n in self.input_names]
        else:
            flat = flatten(inputs)
        if len(flat) != len(self.inputs):
            raise ValueError(f'Layer "{self.name}" expects {len(self.inputs)} input(s), but it received '
                             f"{len(flat)} input tensors.")
        values = {}
        for i, (kt, x) in enumerate(zip(self.inputs, flat)):
            self._check_shape(i, kt.shape, tuple(x.shape))
            values[id(kt)] = x
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            def value(t):
                return values[id(t)] if isinstance(t, KerasTensor) else t

            out = node.layer(map_structure(value, node.call_inputs), *map_structure(value, node.call_args),
                             training=training, **map_structure(value, node.call_kwargs))
            for kt, v in zip(node.output_tensors, flatten(out)):
                values[id(kt)] = v
        return map_structure(lambda kt: values[id(kt)], self._outputs_struct)

    def get_config(self) -> dict:
        """Layers with their calls (``inbound_nodes``), and the input / output references."""
        def ref(t):
            layer, index, tensor = t._keras_history
            return {"__ref__": [layer.name, index, tensor]}

        layers = []
        for layer in self.layers:
            nodes = [n for n in self._nodes if n.layer is layer]
            layers.append({
                "class_name": type(layer).__name__,
                "name": layer.name,
                "config": layer.get_config(),
                "inbound_nodes": [{"index": layer._inbound_nodes.index(n),
                                   "args": map_structure(lambda t: ref(t) if isinstance(t, KerasTensor) else t,
                                                         n.call_inputs),
                                   "kwargs": map_structure(lambda t: ref(t) if isinstance(t, KerasTensor) else t,
                                                           n.call_kwargs),
                                   **({"call_args": map_structure(lambda t: ref(t) if isinstance(t, KerasTensor) else t,
                                                                  list(n.call_args))} if n.call_args else {})}
                                  for n in nodes if not isinstance(layer, InputLayer)],
            })
        return {
            "name": self.name, "trainable": self.trainable, "layers": layers,
            "input_layers": map_structure(ref, self._inputs_struct),
            "output_layers": map_structure(ref, self._outputs_struct),
        }
