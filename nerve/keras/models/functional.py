"""Functional models: ``keras.Model(inputs, outputs)`` over a graph of layer calls.

Building walks back from the outputs through the recorded ``Node``s to order the calls;
calling the model replays them on real tensors, each layer once per node.
"""

from __future__ import annotations

from .. import backend
from ..layers.layer import InputLayer, KerasTensor, Layer, flatten, map_structure
from ..object_registration import registered_name
from .model import Model


def _walk(inputs, outputs):
    """Keras's ``_build_map``: the nodes from the inputs to the outputs, parents first, and each
    layer's place in the walk back from the outputs. The walk stops at an intermediate tensor
    given as an input."""
    input_ids = {id(t) for t in inputs}
    order, indices, finished, in_progress = [], {}, set(), set()

    def visit(t):
        layer, index, _ = t._keras_history
        node = layer._inbound_nodes[index]
        if id(node) in finished:
            return
        if not isinstance(layer, InputLayer) and id(t) in input_ids:
            finished.add(id(node))  # made outside the graph
            return
        if id(node) in in_progress:
            raise ValueError(f"Tensor {t} from operation '{layer.name}' is part of a cycle.")
        indices.setdefault(id(layer), len(indices))
        in_progress.add(id(node))
        for parent in node.input_tensors:
            visit(parent)
        finished.add(id(node))
        in_progress.discard(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    return order, indices


def _clone_graph(inputs, outputs):
    """Keras's ``clone_graph_nodes``: a model whose inputs are intermediate tensors
    (``keras.Model(layer.input, model.output)``) gets a new ``Input`` (named ``<tensor>CLONE``) for
    each, and the calls between them and the outputs are recorded again on copies of the tensors."""
    from ..layers.layer import Input, Node

    nodes, _ = _walk(flatten(inputs), flatten(outputs))
    mapping = {}

    def clone(t, name):
        copy = KerasTensor(t.shape, t.dtype, name=name)
        if getattr(t, "_keras_mask", None) is not None:
            copy._keras_mask = t._keras_mask
        return copy

    def swap(t):
        if not isinstance(t, KerasTensor):
            return t
        if id(t) not in mapping:
            mapping[id(t)] = clone(t, f"{t.name}_clone")
        return mapping[id(t)]

    def new_input(t):
        # an Input's tensor stays as it is (as Keras's), an intermediate one gets a new Input
        mapping[id(t)] = t if isinstance(t._keras_history[0], InputLayer) else \
            Input(batch_shape=t.shape, dtype=t.dtype, name=f"{t.name}CLONE")
        return mapping[id(t)]

    inputs = map_structure(new_input, inputs)
    outputs = map_structure(swap, outputs)
    for node in nodes:
        if not isinstance(node.layer, InputLayer):
            Node(node.layer, map_structure(swap, node.call_inputs), map_structure(swap, node.outputs),
                 map_structure(swap, node.call_kwargs), map_structure(swap, list(node.call_args)))
    return inputs, outputs


def _output_path(structure, i: int) -> str:
    """The ``a.0.b`` path of the i-th leaf of a nested structure (Keras names outputs so in errors)."""
    paths = []

    def walk(s, path):
        if isinstance(s, (list, tuple)):
            for j, item in enumerate(s):
                walk(item, path + [str(j)])
        elif isinstance(s, dict):
            for k in sorted(s):
                walk(s[k], path + [str(k)])
        else:
            paths.append(".".join(path))

    walk(structure, [])
    return paths[i]


def _map_graph(inputs, outputs):
    """Keras's ``map_graph``: the graph's nodes in the order to run them, and its layers in Keras's
    order (by depth from the outputs, deepest first; ties in the order a walk back from the
    outputs first met them).

    Returns ``(nodes, nodes_by_depth, layers)``.
    """
    order, indices = _walk(inputs, outputs)
    in_graph = {id(n) for n in order}
    node_depth, layer_depth, by_id = {}, {}, {id(n): n for n in order}
    for node in reversed(order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    layers = {id(n.layer): n.layer for n in order}
    for t in inputs:  # an input the outputs do not use is still the model's
        layer, index, _ = t._keras_history
        if isinstance(layer, InputLayer) and id(layer) not in layer_depth:
            layer_depth[id(layer)], indices[id(layer)], layers[id(layer)] = 0, -1, layer
            node = layer._inbound_nodes[index]
            node_depth[id(node)], by_id[id(node)] = 0, node
    nodes_by_depth: dict = {}
    for key, depth in node_depth.items():
        nodes_by_depth.setdefault(depth, []).append(by_id[key])
    nodes = [n for d in sorted(nodes_by_depth, reverse=True) for n in nodes_by_depth[d]]
    ordered = sorted(layers.values(), key=lambda lay: (-layer_depth[id(lay)], indices[id(lay)]))
    return nodes, nodes_by_depth, ordered


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
        if not all(isinstance(t._keras_history[0], InputLayer) for t in flatten(inputs)):
            inputs, outputs = _clone_graph(inputs, outputs)
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        self._nodes, self._nodes_by_depth, layers = _map_graph(self.inputs, self.outputs)
        computable = {id(t) for t in self.inputs}
        for node in self._nodes:
            if not isinstance(node.layer, InputLayer) and all(id(t) in computable for t in node.input_tensors):
                computable.update(id(t) for t in node.output_tensors)
        for i, t in enumerate(self.outputs):
            if id(t) not in computable:
                raise ValueError(f"Output with path `{_output_path(outputs, i)}` is not connected to `inputs`")
        object.__setattr__(self, "_layers", layers)
        self._input_spec_shapes = [t.shape for t in self.inputs]
        self.built = True

    @property
    def input(self):
        """The symbolic inputs as given to the constructor (one tensor, a list or a dict)."""
        return self._inputs_struct

    @property
    def output(self):
        """The symbolic outputs as given to the constructor."""
        return self._outputs_struct

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

    def _flat_inputs(self, inputs) -> list:
        """The data for ``self.inputs``, in their order (a dict of data goes by the inputs' names)."""
        if isinstance(self._inputs_struct, dict) and isinstance(inputs, dict):
            return [inputs[k] for k in sorted(self._inputs_struct)]
        if isinstance(inputs, dict):  # inputs given by the names of the Input layers
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"Missing data for input(s) {missing}; the model's inputs are {self.input_names}.")
            return [inputs[n] for n in self.input_names]
        return flatten(inputs)

    def call(self, inputs, training=None):
        flat = self._flat_inputs(inputs)
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
        from ..saving import build_config_of

        def ref(t):
            layer, index, tensor = t._keras_history
            return {"__ref__": [layer.name, index, tensor]}

        layers = []
        for layer in self.layers:
            nodes = [n for n in self._nodes if n.layer is layer]
            layers.append({
                "class_name": type(layer).__name__,
                "registered_name": registered_name(layer),
                "build_config": build_config_of(layer),
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
