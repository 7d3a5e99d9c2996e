"""``nerve.autograd.functional``: Jacobians, Hessians and their products with vectors, as
``torch.autograd.functional``'s, built on ``grad`` (with ``create_graph=True`` where a second
derivative is needed).

``jacobian`` and ``hessian`` run one backward pass per output element (PyTorch's reverse mode
without ``vectorize``): meant for small functions. ``hvp`` and ``vhp`` both compute ``v^T H`` by
double backward, which is ``H v`` for the symmetric Hessian of a twice-differentiable function.
"""

from __future__ import annotations

from . import autograd as _ag


def _as_tuple(x):
    """(tensors as a tuple, whether they came as a tuple or list)."""
    if isinstance(x, (tuple, list)):
        return tuple(x), True
    return (x,), False


def _check_tensors(xs, what: str, fn: str) -> None:
    for x in xs:
        if not isinstance(x, _ag.Tensor):
            raise TypeError(f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but one "
                            f"of them is {type(x).__name__}.")


def _prepare(inputs, create_graph: bool):
    """The inputs as tensors that require grad: the inputs themselves where ``create_graph`` keeps
    their graph, else detached copies sharing their data (as PyTorch's ``_grad_preprocess``)."""
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t)
        else:
            d = t.detach()
            d.requires_grad = True
            out.append(d)
    return tuple(out)


def _inputs(inputs, fn: str, create_graph: bool):
    """``(the inputs prepared as _prepare makes them, whether they came as a tuple)``, checked."""
    ins, in_tup = _as_tuple(inputs)
    _check_tensors(ins, "inputs", fn)
    return _prepare(ins, create_graph), in_tup


def _finish(xs, as_tuple: bool, create_graph: bool):
    xs = tuple(x if create_graph or x is None else x.detach() for x in xs)
    return xs if as_tuple else xs[0]


def _strict_outputs(outputs, strict: bool) -> None:
    """``strict``: every output must depend differentiably on the inputs (PyTorch's message)."""
    if strict:
        for i, o in enumerate(outputs):
            if not o.requires_grad:
                raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The "
                                   "outputs must be computed in a differentiable manner from the input when running "
                                   "in strict mode.")


def _strict_inputs(grads, strict: bool) -> None:
    """``strict``: every input must reach the outputs (PyTorch's message)."""
    if strict:
        for i, g in enumerate(grads):
            if g is None:
                raise RuntimeError(f"The output of the user-provided function is independent of input {i}. This "
                                   "is not allowed in strict mode.")


def _grads(outputs, inputs, grad_outputs, create_graph: bool, strict: bool):
    """The gradients of ``outputs`` with respect to ``inputs`` (zeros for an input they do not reach)."""
    gs = _ag.grad(outputs, inputs, grad_outputs, retain_graph=True, create_graph=create_graph, allow_unused=True)
    _strict_inputs(gs, strict)
    return tuple(g if g is not None else t.detach().new_zeros(t.shape) for g, t in zip(gs, inputs))


def _scalar(out, fn: str):
    if not isinstance(out, _ag.Tensor) or out._data.size != 1:
        raise RuntimeError(f"The function given to {fn} should return a single Tensor containing a single element.")
    return out


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``v^T J`` of ``func`` at ``inputs``.

    Returns:
        (func's output, the vector-Jacobian product shaped as ``inputs``).
    """
    ins, in_tup = _inputs(inputs, "vjp", create_graph)
    with _ag.enable_grad():
        out = func(*ins)
        outs, out_tup = _as_tuple(out)
        vs = None if v is None else _as_tuple(v)[0]
        _strict_outputs(outs, strict)
        used = [o for o in outs if o.requires_grad]
        if not used:
            gs = tuple(t.detach().new_zeros(t.shape) for t in ins)
        else:
            gvs = None if vs is None else [w for o, w in zip(outs, vs) if o.requires_grad]
            gs = _grads(used, ins, gvs, create_graph, strict)
    return _finish(outs, out_tup, create_graph), _finish(gs, in_tup, create_graph)


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``J v`` of ``func`` at ``inputs`` (by the double-backward trick, as PyTorch's).

    Returns:
        (func's output, the Jacobian-vector product shaped as the output).
    """
    ins, in_tup = _inputs(inputs, "jvp", create_graph)
    vs = tuple(t.new_ones(t.shape) for t in ins) if v is None else _as_tuple(v)[0]
    with _ag.enable_grad():
        out = func(*ins)
        outs, out_tup = _as_tuple(out)
        _strict_outputs(outs, strict)
        dummies = []
        for o in outs:
            u = o.detach().new_zeros(o.shape)
            u.requires_grad = True
            dummies.append(u)
        used = [(o, u) for o, u in zip(outs, dummies) if o.requires_grad]
        gs = _ag.grad([o for o, _ in used], ins, [u for _, u in used], create_graph=True, allow_unused=True) \
            if used else (None,) * len(ins)
        _strict_inputs(gs, strict)
        pairs = [(g, w) for g, w in zip(gs, vs) if g is not None and g.requires_grad]
        if pairs:
            jv = _ag.grad([g for g, _ in pairs], dummies, [w for _, w in pairs], create_graph=create_graph,
                          allow_unused=True, materialize_grads=True)
        else:
            jv = tuple(o.detach().new_zeros(o.shape) for o in outs)
    return _finish(outs, out_tup, create_graph), _finish(jv, out_tup, create_graph)


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for one output and one input a tensor of shape
    ``output.shape + input.shape``; a tuple over inputs (or outputs), or a tuple over outputs of
    tuples over inputs, where they came as tuples."""
    if strategy != "reverse-mode":
        raise NotImplementedError(f"jacobian: strategy {strategy!r}: nerve computes Jacobians in reverse mode only")
    ins, in_tup = _inputs(inputs, "jacobian", create_graph)
    with _ag.enable_grad():
        out = func(*ins)
        outs, out_tup = _as_tuple(out)
        _check_tensors(outs, "outputs of the user-provided function", "jacobian")
        _strict_outputs(outs, strict)
        result = []
        for o in outs:
            rows: list = [[] for _ in ins]
            if o.requires_grad:
                flat = o.reshape(-1)
                for k in range(flat.shape[0]):
                    for j, g in enumerate(_grads(flat[k], ins, None, create_graph, strict)):
                        rows[j].append(g.reshape(-1))
            blocks = []
            for j, t in enumerate(ins):
                shape = tuple(o.shape) + tuple(t.shape)
                if rows[j]:
                    blocks.append(_stack(rows[j]).reshape(shape))
                else:
                    blocks.append(t.detach().new_zeros(shape))
            result.append(_finish(blocks, True, create_graph))
    if not out_tup:
        return result[0] if in_tup else result[0][0]
    return tuple(r if in_tup else r[0] for r in result)


def hessian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of the scalar function ``func`` at ``inputs``: for one input a tensor of shape
    ``input.shape + input.shape``; for a tuple of inputs a tuple of tuples (block ``[i][j]`` of
    shape ``inputs[i].shape + inputs[j].shape``)."""
    ins, in_tup = _as_tuple(inputs)
    _check_tensors(ins, "inputs", "hessian")

    def gradients(*xs):
        out = _scalar(func(*xs), "hessian")
        return _grads(out, xs, None, True, strict)

    res = jacobian(gradients, ins, create_graph=create_graph, strict=strict, strategy=outer_jacobian_strategy)
    return res if in_tup else res[0][0]


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``v^T H`` of the scalar function ``func`` at ``inputs``, by double backward.

    Returns:
        (func's output, the product shaped as ``inputs``).
    """
    ins, in_tup = _inputs(inputs, "vhp", create_graph)
    if v is None:
        if any(t._data.size != 1 for t in ins):
            raise RuntimeError("The vector v can only be None if the input to the user-provided function is a "
                               "single Tensor with a single element.")
        vs = tuple(t.detach().new_ones(t.shape) for t in ins)
    else:
        vs = _as_tuple(v)[0]
        for t, w in zip(ins, vs):
            if tuple(w.shape) != tuple(t.shape):
                raise RuntimeError(f"v has shape {tuple(w.shape)} where the input has {tuple(t.shape)}: "
                                   "they must match")
    with _ag.enable_grad():
        out = _scalar(func(*ins), "vhp")
        _strict_outputs((out,), strict)
        gs = _grads(out, ins, None, True, strict) if out.requires_grad else ()
        terms = [(g * w).sum() for g, w in zip(gs, vs) if g.requires_grad]
        if terms:
            dot = terms[0]
            for t in terms[1:]:
                dot = dot + t
            hv = _grads(dot, ins, None, create_graph, strict)
        else:
            hv = tuple(t.detach().new_zeros(t.shape) for t in ins)
    return _finish((out,), False, create_graph), _finish(hv, in_tup, create_graph)


hvp = vhp  # the Hessian of a twice-differentiable function is symmetric: H v = (v^T H)^T


def _stack(ts):
    from .functions import stack

    return stack(ts)
