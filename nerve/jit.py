"""``nerve.jit``: ``script`` and ``trace`` as PyTorch spells them. nerve has no compiler, so a
scripted or traced model is the model itself, run eagerly; saving one is refused."""

from __future__ import annotations


def script(obj, *args, **kwargs):
    """The module or function itself (PyTorch compiles it to TorchScript)."""
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    """The module or function itself (PyTorch records a graph from ``example_inputs``)."""
    return func


def ignore(fn=None, **kwargs):
    return fn if fn is not None else (lambda f: f)


unused = export = ignore


def save(m, f, *args, **kwargs):
    raise NotImplementedError("nerve.jit.save: nerve has no TorchScript; save the weights with "
                              "nerve.save(model.state_dict(), path)")


def load(f, *args, **kwargs):
    raise NotImplementedError("nerve.jit.load: nerve cannot read TorchScript archives; load a state dict "
                              "saved with nerve.save (or a .safetensors file) into the model instead")
