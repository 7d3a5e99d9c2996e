"""Activation checkpointing, as ``torch.utils.checkpoint``: trade compute for memory.

``checkpoint(fn, *args)`` runs ``fn`` without recording its graph, so none of its intermediate
activations are kept; backward runs ``fn`` again, this time recording, and backpropagates
through that. The random state is put back for the second run (``preserve_rng_state``), so
dropout inside ``fn`` draws the same masks both times.
"""

from __future__ import annotations

from .. import autograd
from ..autograd import Function, enable_grad, no_grad
from ..tensor import Tensor


class _Recompute(Function):
    """The graph node that stands for ``fn``: its backward recomputes ``fn`` with the graph on."""

    name = "checkpoint"

    def run(self, inputs):
        from .. import random

        self.rng = random.get_rng_state() if self.preserve_rng_state else None
        with no_grad():
            out = self.function(*self.args, **self.kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(f"checkpoint: the function must return one tensor, got {type(out).__name__}")
        # record this node with the tensor arguments (and the parameters the function reads,
        # which backward reaches through the recomputed graph) as its inputs
        wrapped = Function.run(self, inputs)
        wrapped._data = out._data
        return wrapped

    def forward(self, xp, *arrays):
        return xp.empty(0)  # replaced by the function's output in run()

    def backward(self, xp, g):
        from .. import random

        detached = []
        for a in self.args:
            if isinstance(a, Tensor) and a.requires_grad:
                d = a.detach()
                d.requires_grad = True
                detached.append(d)
            else:
                detached.append(a)
        after = random.get_rng_state() if self.rng is not None else None
        if self.rng is not None:
            random.set_rng_state(self.rng)
        try:
            with enable_grad():
                out = self.function(*detached, **self.kwargs)
        finally:
            if after is not None:
                random.set_rng_state(after)
        if out.requires_grad:
            autograd.run_backward(out, g)  # parameters inside the function get their .grad here
        grads = []
        for a in detached:
            if isinstance(a, Tensor) and a.requires_grad:
                grads.append(None if a.grad is None else a.grad._data)
        return tuple(grads) if len(grads) != 1 else grads[0]


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check: str = "default",
               debug: bool = False, preserve_rng_state: bool = True, **kwargs):
    """``function(*args, **kwargs)``, keeping none of its intermediate activations for backward.

    Args:
        function: a module or function of tensors returning one tensor.
        args, kwargs: its arguments; tensors among ``args`` get gradients.
        preserve_rng_state: put the random state back before recomputing, so random ops inside
            (dropout) repeat exactly.
        use_reentrant, context_fn, determinism_check, debug: PyTorch's options, accepted.

    Returns:
        what ``function`` returns. Without the graph on (``no_grad``), or when no argument and no
        parameter needs a gradient, it is a plain call.
    """
    if not autograd.is_grad_enabled():
        return function(*args, **kwargs)
    tensors = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
    params = [p for p in getattr(function, "parameters", lambda: [])() if p.requires_grad]
    if not tensors and not params:
        return function(*args, **kwargs)
    node = _Recompute()
    node.function, node.args, node.kwargs = function, args, kwargs
    node.preserve_rng_state = preserve_rng_state
    # a leaf stand-in that requires grad makes the node record even when only parameters do;
    # it receives no gradient of its own
    inputs = tensors if tensors else [_anchor(params[0])]
    return node.run(inputs)


def _anchor(like: Tensor) -> Tensor:
    t = Tensor._make(like._data[:0].reshape(-1), like._device)
    t.requires_grad = True
    return t


def checkpoint_sequential(functions, segments: int, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (an ``nn.Sequential`` or a list of modules) on ``input`` in ``segments``
    checkpointed pieces; the last piece runs normally, as in PyTorch."""
    fns = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if not fns:
        return input
    segments = max(1, min(int(segments), len(fns)))
    size = -(-len(fns) // segments)
    pieces = [fns[i:i + size] for i in range(0, len(fns), size)]

    def chain(chunk):
        def run(x):
            for f in chunk:
                x = f(x)
            return x
        run.parameters = lambda: [p for f in chunk for p in (f.parameters() if hasattr(f, "parameters") else [])]
        return run

    for chunk in pieces[:-1]:
        input = checkpoint(chain(chunk), input, **kwargs)
    return chain(pieces[-1])(input)
