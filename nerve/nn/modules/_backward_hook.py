"""Module backward hooks: the gradients of a module's inputs and outputs, handed to hooks.

As PyTorch's ``BackwardHook``: the module's tensor inputs and outputs pass through an identity
op each (``BackwardHookFunction``), whose backward sees the gradients of all of them at once.
The output side runs the backward pre-hooks and remembers ``grad_output``; the input side then
calls the full backward hooks with ``(module, grad_input, grad_output)``. Built only when a
module has such a hook, so a module without one pays nothing.
"""

import warnings

from ...autograd import Function, _OutputNode, is_grad_enabled, sum_to
from ...tensor import Tensor


class BackwardHookFunction(Function):
    """Identity on several tensors; its backward hands the gradients to ``ctx.on_backward``
    (named as PyTorch's, so ``grad_fn`` prints ``BackwardHookFunctionBackward``)."""

    @staticmethod
    def forward(ctx, *args):
        ctx.mark_non_differentiable(*[a for a in args if not a.requires_grad])
        return args

    @staticmethod
    def backward(ctx, *grads):
        return ctx.on_backward(grads)


def _pack_with_none(indices, values, size) -> tuple:
    res = [None] * size
    for i, v in zip(indices, values):
        res[i] = v
    return tuple(res)


class BackwardHook:
    """The backward hooks of one call of ``module``: set up on its args, then on its output."""

    def __init__(self, module, user_hooks, user_pre_hooks) -> None:
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_outputs = -1
        self.output_tensors_index = None
        self.n_inputs = -1
        self.input_tensors_index = None

    def _apply_on_tensors(self, on_backward, args, materialize: bool):
        """``args`` with their tensors passed through one ``BackwardHookFunction`` whose backward
        calls ``on_backward``, and the tensors' positions (None when no tensor needs a gradient)."""
        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not (any(args[i].requires_grad for i in idx) and is_grad_enabled()):
            return args, None
        new = BackwardHookFunction.apply(*(args[i] for i in idx))
        fn = next(t.grad_fn for t in new if t.grad_fn is not None)
        ctx = fn.node.ctx  # the outputs' nodes lead to the one node of the op
        ctx.on_backward = on_backward
        ctx.set_materialize_grads(materialize)
        out = list(args)
        for i, t in zip(idx, new):
            out[i] = t
        return (tuple(out) if type(args) is tuple else type(args)(*out)), idx

    def setup_input_hook(self, args):
        res, self.input_tensors_index = self._apply_on_tensors(self._input_backward, args, True)
        self.n_inputs = len(args)
        return res

    def _input_backward(self, grads):
        if self.grad_outputs is None:  # the gradient reached the inputs without passing the outputs
            return grads
        res = _pack_with_none(self.input_tensors_index, grads, self.n_inputs)
        for hook in self.user_hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            if len(out) != len(res):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                   f"got {len(out)}, but expected {len(res)}")
            res = out
        self.grad_outputs = None
        return tuple(res[i] for i in self.input_tensors_index)

    def setup_output_hook(self, out):
        is_tuple = isinstance(out, tuple)
        args = out if is_tuple else (out,)
        # unused outputs get None (not zeros) in grad_output, as PyTorch's
        res, self.output_tensors_index = self._apply_on_tensors(self._output_backward, args, False)
        self.n_outputs = len(args)
        return res if is_tuple else res[0]

    def _output_backward(self, grads):
        self.grad_outputs = _pack_with_none(self.output_tensors_index, grads, self.n_outputs)
        for hook in self.user_pre_hooks:
            new = hook(self.module, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(self.grad_outputs):
                raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                   f"got {len(new)}, but expected {len(self.grad_outputs)}")
            self.grad_outputs = new
        local = self.grad_outputs
        if self.input_tensors_index is None:  # no input needs a gradient: the hooks fire here
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                          "outputs since no inputs require gradients. See "
                          "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                          "#torch.nn.Module.register_full_backward_hook for more details.", stacklevel=2)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.user_hooks:
                r = hook(self.module, grad_inputs, self.grad_outputs)
                if r is not None and not (isinstance(r, tuple) and all(e is None for e in r)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                       "always return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(local[i] for i in self.output_tensors_index)


def attach_legacy_hooks(module, args, result, hooks) -> None:
    """``register_backward_hook``'s hooks: on the node that made the first output tensor, called
    with that node's input and output gradients (PyTorch's deprecated semantics, which are the
    module's only when it is one op), with PyTorch's warnings where they are not."""
    var = result
    while not isinstance(var, Tensor):
        var = next(v for v in var.values() if isinstance(v, Tensor)) if isinstance(var, dict) else var[0]
    fn = var.grad_fn
    if fn is None:
        return
    base = fn.backward  # (an earlier module's wrapper, where it returned that node's output as is)

    def backward(xp, g):
        grads = base(xp, g)
        grads = grads if type(grads) is tuple else (grads,)
        gin = []
        for gi, p, meta in zip(grads, fn.parents, fn.in_meta):
            if gi is None or p is None:
                gin.append(None)
                continue
            if gi.shape != meta[0]:
                gi = sum_to(xp, gi, meta[0])
            gin.append(Tensor._make(gi.astype(meta[1], copy=False), fn.device))
        gin = tuple(gin)
        gout = (Tensor._make(g, fn.device),)
        for hook in hooks:
            r = hook(module, gin, gout)
            if r is not None:
                r = r if isinstance(r, tuple) else (r,)
                if len(r) != len(gin):
                    raise RuntimeError(f"hook 'hook' has returned an incorrect number of values (got {len(r)}, "
                                       f"but expected {len(gin)})")
                gin = r
        return tuple(None if t is None else t._data for t in gin)

    fn.backward = backward
    _maybe_warn_non_full(args, result, fn)


def _maybe_warn_non_full(inputs, result, grad_fn) -> None:
    def warn(msg):
        warnings.warn(msg, FutureWarning, stacklevel=4)

    if not isinstance(result, Tensor):
        if not (isinstance(result, tuple) and all(isinstance(r, Tensor) for r in result)):
            return warn("Using non-full backward hooks on a Module that does not return a single Tensor or a "
                        "tuple of Tensors is deprecated and will be removed in future versions. This hook will be "
                        "missing some of the grad_output. Please use register_full_backward_hook to get the "
                        "documented behavior.")
    else:
        result = (result,)
    if not isinstance(inputs, Tensor):
        if not (isinstance(inputs, tuple) and all(isinstance(i, Tensor) for i in inputs)):
            return warn("Using non-full backward hooks on a Module that does not take as input a single Tensor "
                        "or a tuple of Tensors is deprecated and will be removed in future versions. This hook "
                        "will be missing some of the grad_input. Please use register_full_backward_hook to get "
                        "the documented behavior.")
    else:
        inputs = (inputs,)
    out_fns = {_node(r.grad_fn) for r in result if r.grad_fn is not None}
    if not out_fns or (len(out_fns) == 1 and _node(grad_fn) not in out_fns):
        warn("Using a non-full backward hook when outputs are nested in python data structure is deprecated "
             "and will be removed in future versions. This hook will be missing some grad_output.")
    elif len(out_fns) > 1:
        warn("Using a non-full backward hook when outputs are generated by different autograd Nodes is "
             "deprecated and will be removed in future versions. This hook will be missing some grad_output. "
             "Please use register_full_backward_hook to get the documented behavior.")
    else:
        in_fns = {_node(i.grad_fn) for i in inputs if i.grad_fn is not None}
        if in_fns != {n for n, _ in grad_fn.next_functions}:
            warn("Using a non-full backward hook when the forward contains multiple autograd Nodes is deprecated "
                 "and will be removed in future versions. This hook will be missing some grad_input. Please use "
                 "register_full_backward_hook to get the documented behavior.")


def _node(fn):
    """PyTorch's one node for the outputs of a several-output op (nerve has a node per output)."""
    return fn.node if fn.__class__ is _OutputNode else fn
