"""``LazyModuleMixin``: layers whose parameter shapes come from their first input, as torch's.

A lazy layer holds ``UninitializedParameter``s until its first call; a forward pre-hook then
calls ``initialize_parameters(*inputs)``, which materialises them in place, removes itself and
turns the layer into ``cls_to_become`` (``LazyLinear`` becomes ``Linear``). Loading a state
dict into a layer still lazy materialises its parameters with the loaded shapes.
"""

from __future__ import annotations

import itertools

from ..parameter import is_lazy


class LazyModuleMixin:
    """Mix in before a layer class; the subclass writes ``initialize_parameters(self, *inputs)``."""

    cls_to_become = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._load_hook = self._register_load_state_dict_pre_hook(self._lazy_load_hook)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module (not its children) is still uninitialised."""
        return any(is_lazy(t) for t in itertools.chain(self._parameters.values(), self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"initialize_parameters is not implemented for {type(self).__name__}")

    def _infer_parameters(self, module, args, kwargs=None):
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        module._initialize_hook.remove()
        module._load_hook.remove()
        del module._initialize_hook, module._load_hook
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def _lazy_load_hook(self, state_dict, prefix, *rest) -> None:
        for name, t in itertools.chain(self._parameters.items(), self._buffers.items()):
            key = prefix + name
            if t is not None and is_lazy(t) and key in state_dict and not is_lazy(state_dict[key]):
                t.materialize(tuple(state_dict[key].shape))

    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        # an uninitialised parameter is saved as itself (it has nothing to detach)
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars or is_lazy(p) else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars or is_lazy(b) else b.detach()
