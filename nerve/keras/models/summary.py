"""``model.summary()``: Keras 3's table, drawn with the same box characters and column widths.

Keras draws it with ``rich``; this module reproduces rich's layout for that one table (fixed
column widths shrunk evenly to the line length, words wrapped, over-long words cut with "…")
so the text matches Keras's when printed to a file or captured with ``print_fn``.
"""

from __future__ import annotations

import math
import re
import shutil

from ..layers.layer import InputLayer, flatten


def readable_size(nbytes: float) -> str:
    for unit in ["B", "KB", "MB", "GB", "TB"]:
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def _count(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _nbytes(weights) -> int:
    return int(sum(math.prod(w.shape) * w.value.element_size() for w in weights))


def _ratio_reduce(total, ratios, maximums, values):
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining, out = total, []
    for r, m, v in zip(ratios, maximums, values):
        if r and total_ratio > 0:
            d = min(m, round(r * remaining / total_ratio))
            out.append(v - d)
            remaining -= d
            total_ratio -= r
        else:
            out.append(v)
    return out


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in re.findall(r"\S+\s*", text) or [""]:
        if line and len(line) + len(word.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += word
    lines.append(line.rstrip())
    return [ln if len(ln) <= width else ln[: width - 1] + "…" for ln in lines]


def _table(header, rows, widths, align) -> list[str]:
    inner = [w - 2 for w in widths]

    def render(cells, bar):
        wrapped = [_wrap(str(c), w) for c, w in zip(cells, inner)]
        height = max(len(c) for c in wrapped)
        out = []
        for i in range(height):
            parts = []
            for col, w, a in zip(wrapped, inner, align):
                text = col[i] if i < len(col) else ""
                parts.append(" " + (text.rjust(w) if a == "right" else text.ljust(w)) + " ")
            out.append(bar + bar.join(parts) + bar)
        return out

    lines = ["┏" + "┳".join("━" * w for w in widths) + "┓"]
    lines += render(header, "┃")
    lines.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    for i, row in enumerate(rows):
        if i:
            lines.append("├" + "┼".join("─" * w for w in widths) + "┤")
        lines += render(row, "│")
    lines.append("└" + "┴".join("─" * w for w in widths) + "┘")
    return lines


def _shape_text(layer) -> str:
    nodes = layer._inbound_nodes
    if not nodes:
        return "?"
    out = nodes[-1].outputs
    leaves = flatten(out)
    fmt = lambda s: "(" + ", ".join(str(d) for d in s) + ")"  # noqa: E731
    if len(leaves) == 1:
        return fmt(leaves[0].shape)
    if isinstance(out, dict):
        return "{" + ", ".join(f"{k}: {fmt(v.shape)}" for k, v in out.items()) + "}"
    return "[" + ", ".join(fmt(t.shape) for t in leaves) + "]"


def summary_text(model, line_length=None, positions=None, show_trainable=False) -> str:
    """The summary as one string (what ``summary()`` prints)."""
    from .functional import Functional

    layers = model.layers
    sequential_like = True
    nodes = []
    if isinstance(model, Functional):
        # Keras's rule: one node per depth, each with one input, and no layer called twice
        for same_depth in model._nodes_by_depth.values():
            if len(same_depth) > 1 or len(same_depth[0].input_tensors) > 1:
                sequential_like = False
                break
        node_ids = {id(n) for n in model._nodes}
        if sequential_like:
            for layer in layers:
                if sum(id(n) in node_ids for n in layer._inbound_nodes) > 1:
                    sequential_like = False
                    break
        nodes = model._nodes
    if sequential_like:
        default, positions = 88, positions or [0.45, 0.80, 1.0]
        header, align = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        align = ["left", "left", "right", "left"]
    if show_trainable:
        default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        align.append("center")
    default = min(default, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default
    widths, current = [], 0
    for pos in positions:
        w = int(pos * line_length) - current
        if w < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(w)
        current += w
    widths = [w + 2 for w in widths]  # rich adds one space of padding each side
    max_width = line_length - (len(widths) + 1)
    if sum(widths) > max_width:
        widths = _ratio_reduce(sum(widths) - max_width, [1] * len(widths), widths, widths)

    node_ids = {id(n) for n in nodes}
    rows = []
    for layer in layers:
        name = f"{layer.name} ({type(layer).__name__})"
        if isinstance(layer, InputLayer) or layer.built:
            params = f"{layer.count_params():,}"
        else:
            params = "0 (unbuilt)"
        row = [name, _shape_text(layer), params]
        if not sequential_like:
            conns = []
            for node in layer._inbound_nodes:
                if nodes and id(node) not in node_ids:
                    continue
                for t in node.input_tensors:
                    src, ni, ti = t._keras_history
                    conns.append(f"{src.name}[{ni}][{ti}]")
            row.append(", ".join(conns) or "-")
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        rows.append(row)

    trainable, non_trainable = model.trainable_weights, model.non_trainable_weights
    t_count, n_count = _count(trainable), _count(non_trainable)
    t_bytes, n_bytes = _nbytes(trainable), _nbytes(non_trainable)
    opt = getattr(model, "optimizer", None)
    o_count = opt.count_params() if getattr(model, "compiled", False) and opt is not None and opt.built else 0
    o_bytes = 4 * o_count
    lines = [f'Model: "{model.name}"']
    lines += _table(header, rows, widths, align)
    lines.append(f" Total params: {t_count + n_count + o_count:,} ({readable_size(t_bytes + n_bytes + o_bytes)})")
    lines.append(f" Trainable params: {t_count:,} ({readable_size(t_bytes)})")
    lines.append(f" Non-trainable params: {n_count:,} ({readable_size(n_bytes)})")
    if o_count:
        lines.append(f" Optimizer params: {o_count:,} ({readable_size(o_bytes)})")
    return "\n".join(lines) + "\n"
