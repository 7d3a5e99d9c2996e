"""``LazyModuleMixin``: layers whose parameter shapes come from their first input, as torch's.

A lazy layer holds ``UninitializedParameter``s (and ``UninitializedBuffer``s) until its first
call; a forward pre-hook then calls ``initialize_parameters(*inputs)``, which materialises them
in place, removes itself and turns the layer into ``cls_to_become`` (``LazyLinear`` becomes
``Linear``). Loading a state dict into a layer still lazy materialises its parameters with the
loaded shapes.

nerve's own lazy layers (``LazyLinear``, ``LazyConv*``, ``LazyConvTranspose*``,
``LazyBatchNorm*``, ``LazyInstanceNorm*``) each infer one size (``in_features``,
``in_channels`` or ``num_features``) from the input; ``_LazySizeMixin`` holds that mechanism
and each layer says only where the size is in its input and which shapes follow from it.
"""

from __future__ import annotations

import itertools

from ..parameter import is_lazy, is_uninitialized


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
            if t is not None and is_lazy(t) and key in state_dict and not is_uninitialized(state_dict[key]):
                t.materialize(tuple(state_dict[key].shape))

    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        # an uninitialised parameter is saved as itself (it has nothing to detach)
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars or is_lazy(p) else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars or is_lazy(b) else b.detach()


class _LazySizeMixin(LazyModuleMixin):
    """A lazy layer whose parameters and buffers follow from one size read off its first input.

    A subclass sets ``_lazy_size`` (the attribute that holds the size, 0 until known) and writes
    ``_size_from_input(input)`` (the size, after checking the input's rank), ``_lazy_shapes(size)``
    (the shape of each parameter or buffer by name) and ``_loaded_size()`` (the size that the
    tensors loaded by ``load_state_dict`` imply, with the name of the one it was read from).
    """

    _lazy_size: str

    def reset_parameters(self) -> None:
        # the layer's own __init__ calls this before the uninitialised tensors exist
        if not self.has_uninitialized_params() and getattr(self, self._lazy_size) != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs) -> None:
        """Infer the size from ``input``, then create and initialise the parameters and buffers."""
        if self.has_uninitialized_params():
            size = self._size_from_input(input)
            setattr(self, self._lazy_size, size)
            for name, shape in self._lazy_shapes(size).items():
                t = getattr(self, name)
                if t is not None and is_lazy(t):
                    t.materialize(shape)
            self.reset_parameters()
        elif getattr(self, self._lazy_size) == 0 and (loaded := self._loaded_size()) is not None:
            # materialised by load_state_dict: the size is the loaded one, and the input must agree
            size, (name, have) = self._size_from_input(input), loaded
            if size != have:
                attr = self._lazy_size
                raise AssertionError(f"The {attr} inferred from input: {size} is not equal to {attr} from "
                                     f"self.{name}: {have}")
            setattr(self, self._lazy_size, size)

    def _size_from_input(self, input) -> int:
        raise NotImplementedError

    def _lazy_shapes(self, size: int) -> dict[str, tuple]:
        raise NotImplementedError

    def _loaded_size(self) -> tuple[str, int] | None:
        raise NotImplementedError
