"""A model's graph for TensorBoard's GRAPHS tab: a ``GraphDef`` protocol buffer traced from one
forward pass.

Each call of a leaf module (one without children: ``Linear``, ``Conv2d``, ``ReLU``...) is a node
named by its module path (``Net/Conv2d[conv1]``), so TensorBoard folds nodes into their parent
modules. Edges follow the recorded autograd graph: a layer's input is linked to the layers whose
outputs it was computed from, through any functional ops in between (``x.view``, ``F.relu``), so
a model written in either style gets its edges. Inputs and outputs are ``IO Node``s, as in
PyTorch's graphs; every node carries its output's shape (``_output_shapes``).
"""

from __future__ import annotations

from . import _events as ev


def _shape_attr(shape) -> bytes:
    """``attr["_output_shapes"]``: AttrValue { list = 1: ListValue { shape = 7: TensorShapeProto } }."""
    dims = b"".join(ev.bytes_field(2, ev.varint_field(1, d)) for d in shape)
    return ev.bytes_field(1, ev.bytes_field(7, dims))


def _node(name: str, op: str, inputs=(), shape=None, attr_text: str | None = None) -> bytes:
    """``NodeDef``: name 1, op 2, input 3, attr 5 (map entries: key 1, value 2)."""
    out = ev.bytes_field(1, name) + ev.bytes_field(2, op)
    for i in inputs:
        out += ev.bytes_field(3, i)
    if shape is not None:
        out += ev.bytes_field(5, ev.bytes_field(1, "_output_shapes") + ev.bytes_field(2, _shape_attr(shape)))
    if attr_text:
        out += ev.bytes_field(5, ev.bytes_field(1, "attr") + ev.bytes_field(2, ev.bytes_field(2, attr_text)))
    return out


def graph_def(model, inputs) -> tuple:
    """``(GraphDef bytes, a text listing)`` of ``model`` run once on ``inputs``."""
    import nerve

    if isinstance(inputs, nerve.Tensor):
        inputs = (inputs,)
    elif isinstance(inputs, list):
        inputs = tuple(inputs)
    if not isinstance(inputs, tuple) or not all(isinstance(t, nerve.Tensor) for t in inputs):
        raise TypeError("add_graph: input_to_model must be a tensor or a tuple of tensors")
    root = type(model).__name__
    paths = {}
    for name, m in model.named_modules():
        if name and not any(True for _ in m.children()):
            paths[m] = root + "/" + "/".join(f"{type(p).__name__}[{n}]" for p, n in _chain(model, name))
    producers = {}  # an output's autograd node (or the tensor itself) -> the graph node that made it
    nodes, lines = [], []
    # the inputs, made leaves of the recorded graph so every tensor computed from them leads back
    traced = []
    for i, t in enumerate(inputs):
        leaf = t.detach()
        if leaf.is_floating_point():
            leaf.requires_grad_(True)
        name = f"input/input.{i + 1}"
        producers[id(leaf)] = name
        nodes.append(_node(name, "IO Node", shape=tuple(t.shape)))
        lines.append(f"{name} = IO Node {tuple(t.shape)}")
        traced.append(leaf)
    seen: dict = {}

    def sources(t) -> list:
        """The graph nodes whose outputs ``t`` was computed from (walking the autograd graph)."""
        start = t.grad_fn if t.grad_fn is not None else t
        out, stack, visited = [], [start], set()
        while stack:
            n = stack.pop()
            if n is None or id(n) in visited:
                continue
            visited.add(id(n))
            hit = producers.get(id(n))
            if hit is not None:
                out.append(hit)
                continue
            stack.extend(reversed(getattr(n, "parents", None) or []))
        return list(dict.fromkeys(out))

    def hook(module, args, output):
        path = paths[module]
        k = seen.get(path, 0)
        seen[path] = k + 1
        name = path if k == 0 else f"{path}.{k}"  # a layer called twice gets a node per call
        ins = [s for a in args if isinstance(a, nerve.Tensor) for s in sources(a)]
        first = output[0] if isinstance(output, (tuple, list)) else output
        shape = tuple(first.shape) if isinstance(first, nerve.Tensor) else None
        nodes.append(_node(name, type(module).__name__, ins, shape, attr_text=module.extra_repr() or None))
        lines.append(f"{name} = {type(module).__name__}({', '.join(ins)}) {shape}")
        for o in (output if isinstance(output, (tuple, list)) else (output,)):
            if isinstance(o, nerve.Tensor):
                producers[id(o.grad_fn if o.grad_fn is not None else o)] = name
        return None

    handles = [m.register_forward_hook(hook) for m in paths]
    was_training = model.training
    try:
        with nerve.enable_grad():
            out = model(*traced)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for i, o in enumerate(outs):
        if isinstance(o, nerve.Tensor):
            name = f"output/output.{i + 1}"
            ins = sources(o)
            nodes.append(_node(name, "IO Node", ins, tuple(o.shape)))
            lines.append(f"{name} = IO Node({', '.join(ins)}) {tuple(o.shape)}")
    versions = ev.bytes_field(4, ev.varint_field(1, 22))  # VersionDef { producer = 1 }, as PyTorch writes
    return b"".join(ev.bytes_field(1, n) for n in nodes) + versions, "\n".join(lines)


def _chain(model, dotted: str):
    """``(module, name)`` for each step of a dotted module path below ``model``."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        yield model.get_submodule(".".join(parts[:i + 1])), part
