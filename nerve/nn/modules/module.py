"""``Module``: the base class of every layer and model, as ``torch.nn.Module``.

A module keeps its parameters, buffers and submodules in three ordered dicts filled by
attribute assignment, so ``self.fc = Linear(...)`` registers a child and
``self.weight = Parameter(...)`` a weight. Everything that walks a model (``parameters``,
``state_dict``, ``to``, ``train``) walks those dicts in registration order, which is why
state-dict keys come out in the same order as PyTorch's for the same architecture.
"""

from __future__ import annotations

import itertools
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Mapping
from typing import Any, Callable, Iterator

import numpy as np

from ... import dtypes as _dt
from ...autograd import note_write, zero_grads
from ...backend import device as _device
from ...backend import device_of, is_array, move
from ...tensor import Tensor, parse_to_args
from ..parameter import NO_SHAPE_YET, Buffer, Parameter, is_lazy, is_uninitialized
from ._backward_hook import BackwardHook, attach_legacy_hooks


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by ``register_*_hook``; ``handle.remove()`` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, *dicts):
        self.id = next(RemovableHandle._next_id)
        self._dicts = dicts

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _typename(value) -> str:
    if isinstance(value, Tensor):
        return value.type()
    return type(value).__name__


_EXTRA_STATE = "_extra_state"  # the state_dict key of get_extra_state()


class Module:
    """Base class for all layers and models.

    Subclass it, call ``super().__init__()`` first, assign layers and ``Parameter``s as
    attributes, and write ``forward``. Call the module (``model(x)``), not ``forward``,
    so that hooks run.
    """

    training: bool
    _version = 1

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments: Module.__init__ takes none"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = {}
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = {}
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()
        d["_is_full_backward_hook"] = None

    # ------------------------------------------------------------ calling

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        # the hot path: one dict lookup each when there are no hooks (a module with backward hooks
        # has a _forward_pre_hooks that is true: see _HookedPreHooks)
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                            f"but got {res}."
                        )
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        bw = None
        full = self._is_full_backward_hook is True and self._backward_hooks
        if full or self._backward_pre_hooks:
            bw = BackwardHook(self, list(self._backward_hooks.values()) if full else [],
                              list(self._backward_pre_hooks.values()))
            args = bw.setup_input_hook(args)
        try:
            out = self.forward(*args, **kwargs)
        except Exception:
            self._run_always_called_hooks(args, kwargs)
            raise
        for hid, hook in list(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                res = hook(self, args, kwargs, out)
            else:
                res = hook(self, args, out)
            if res is not None:
                out = res
        if bw is not None:
            if not isinstance(out, (Tensor, tuple)):
                warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                              f"Tensors but received {type(out)}", stacklevel=2)
            out = bw.setup_output_hook(out)
        if self._is_full_backward_hook is False and self._backward_hooks:
            attach_legacy_hooks(self, args, out, list(self._backward_hooks.values()))
        return out

    def _run_always_called_hooks(self, args, kwargs) -> None:
        """The forward hooks registered with ``always_call=True``, given output None, when forward raised."""
        always = self.__dict__.get("_forward_hooks_always_called")
        for hid, hook in list(self._forward_hooks.items()) if always else ():
            if hid not in always:
                continue
            try:
                hook(self, args, kwargs, None) if hid in self._forward_hooks_with_kwargs else hook(self, args, None)
            except Exception as e:  # the error from forward is the one to raise, as torch
                warnings.warn("forward hook with ``always_call=True`` raised an exception that was silenced as "
                              f"another error was raised in forward: {e}")

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False):
        """Run ``hook(module, args)`` before ``forward``; it may return new args.

        With ``with_kwargs=True`` the hook is ``hook(module, args, kwargs)`` and may return
        ``(args, kwargs)``.
        """
        return _add_hook(self._forward_pre_hooks, hook, prepend, (self._forward_pre_hooks_with_kwargs, with_kwargs))

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """Run ``hook(module, args, output)`` after ``forward``; it may return a new output.

        With ``with_kwargs=True`` the hook is ``hook(module, args, kwargs, output)``; with
        ``always_call=True`` it also runs (with output None) when ``forward`` raises.
        """
        always = self.__dict__.setdefault("_forward_hooks_always_called", {})
        return _add_hook(self._forward_hooks, hook, prepend, (self._forward_hooks_with_kwargs, with_kwargs),
                         (always, always_call))

    # ------------------------------------------------------------ attributes

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            members = d.get(store)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(nerve.nn.Parameter or None expected)"
                )
            params[name] = None
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(nerve.nn.Module or None expected)")
            modules[name] = None
            return
        buffers = d.get("_buffers")
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' (nerve.Tensor or None expected)")
            if isinstance(value, Buffer):
                persistent = value.persistent
                if name not in buffers:
                    self._forget(name)
            else:
                persistent = name not in self._non_persistent_buffers_set
            self.register_buffer(name, value, persistent)
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str | None = None) -> None:
        """Remove ``name`` from every store but ``keep`` before it is registered (again) in ``keep``.

        A name reassigned in its own store keeps its place there, as in torch, so that the order of
        ``parameters()`` and ``state_dict()`` does not change when a submodule or parameter is replaced.
        """
        self.__dict__.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            if store != keep:
                self.__dict__[store].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if name in d["_parameters"]:
            del d["_parameters"][name]
        elif name in d["_buffers"]:
            del d["_buffers"][name]
            d["_non_persistent_buffers_set"].discard(name)
        elif name in d["_modules"]:
            del d["_modules"][name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    # ------------------------------------------------------------ registration

    def _check_name(self, kind: str, name) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder) under ``name``."""
        self._check_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(nerve.nn.Parameter or None required)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created "
                f"explicitly. To express '{name}' as a function of another Tensor, compute the value in "
                "the forward() method."
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (running means, masks).

        Args:
            name: attribute name.
            tensor: the tensor, or None.
            persistent: whether it is part of ``state_dict``.
        """
        self._check_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{_typename(tensor)}' object to buffer '{name}' (nerve.Tensor or None required)"
            )
        if isinstance(tensor, Buffer):
            tensor = Tensor._make(tensor._data, tensor._device)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module under ``name`` (also reachable as an attribute)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        self._check_name("module", name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The submodule at dotted path ``target`` (``"encoder.0.fc"``); ``""`` is the module itself."""
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if item not in mod._modules:
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = mod._modules[item]
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: "Module", strict: bool = False) -> None:
        """Put ``module`` at dotted path ``target`` (``"encoder.0.fc"``), replacing the submodule there or
        (unless ``strict``) adding it to the existing parent, as ``torch.nn.Module.set_submodule``."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        atoms = target.split(".")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent = self if len(atoms) == 1 else self.get_submodule(".".join(atoms[:-1]))
        if strict and not hasattr(parent, atoms[-1]):
            raise AttributeError(parent._get_name() + " has no attribute `" + atoms[-1] + "`")
        if hasattr(parent, atoms[-1]) and not isinstance(getattr(parent, atoms[-1]), Module):
            raise AttributeError("`" + atoms[-1] + "` is not an nn.Module")
        setattr(parent, atoms[-1], module)

    def get_parameter(self, target: str) -> Parameter:
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter `{name}`")
        return mod._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._buffers:
            raise AttributeError(f"{mod._get_name()} has no buffer `{name}`")
        return mod._buffers[name]

    # ------------------------------------------------------------ walking the tree

    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool):
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        memo = set()
        for mod_prefix, mod in mods:
            for name, value in mod.__dict__[store].items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in memo:
                        continue
                    memo.add(id(value))
                yield (mod_prefix + "." + name if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(name, parameter)`` pairs; a parameter shared by two layers comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yield every parameter once, in registration order (what optimizers take)."""
        if not recurse:
            yield from (p for p in self._parameters.values() if p is not None)
            return
        seen = set()
        for mod in self.modules():
            for p in mod._parameters.values():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every submodule (children first), then on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and gradients

    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active, batch norm using batch statistics) on the whole tree."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():  # through train(), so a subclass that overrides it is honoured
            m.train(mode)
        return self

    def eval(self) -> "Module":
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Turn gradient recording on or off for every parameter (freeze layers with False)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradient of every parameter: to None (default) or to zeros."""
        zero_grads(self.parameters(), set_to_none)

    # ------------------------------------------------------------ devices and dtypes

    def _apply(self, fn: Callable[[Tensor], tuple]) -> "Module":
        """Convert every parameter, gradient and buffer in place with ``fn(tensor) -> (array, device)``.

        Parameters keep their identity, so an optimizer made before ``to()`` still holds them.
        """
        for m in self.modules():
            for t in itertools.chain(m._parameters.values(), m._buffers.values()):
                if t is None:
                    continue
                t._data, t._device = fn(t)
                if t.grad is not None:
                    t.grad._data, t.grad._device = fn(t.grad)
        return self

    def to_empty(self, *, device=None, recurse: bool = True) -> "Module":
        """Give every parameter and buffer fresh uninitialised storage on ``device`` (their own device for
        None), as ``torch.nn.Module.to_empty``; only this module's own with ``recurse=False``."""
        def empty(t):
            dev = t._device if device is None else _device(device)
            return dev.xp.empty(t._data.shape, dtype=t._data.dtype), dev

        for m in self.modules() if recurse else (self,):
            for t in itertools.chain(m._parameters.values(), m._buffers.values()):
                if t is not None:
                    t._data, t._device = empty(t)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """Move and/or cast in place: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``.

        Only floating-point parameters and buffers change dtype (integer buffers keep theirs).
        """
        target, d, _ = parse_to_args(args, kwargs, allow_copy=False)
        npdt = None
        if d is not None:
            if d.np.kind != "f":
                raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={d}")
            npdt = d.np

        def convert(t):
            arr, where = t._data, t._device
            if npdt is not None and arr.dtype.kind == "f" and arr.dtype != npdt:
                arr = arr.astype(npdt)
            if target is not None and target is not where:
                arr, where = move(arr, target), target
            return arr, where

        return self._apply(convert)

    def cuda(self, device: int | None = None) -> "Module":
        return self.to(_device("cuda", device))

    def cpu(self) -> "Module":
        return self.to("cpu")

    def float(self) -> "Module":
        return self.to(_dt.float32)

    def double(self) -> "Module":
        return self.to(_dt.float64)

    def half(self) -> "Module":
        return self.to(_dt.float16)

    # ------------------------------------------------------------ state dict

    def get_extra_state(self) -> Any:
        """What to save under ``'_extra_state'`` in ``state_dict()`` (written with ``set_extra_state``)."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")

    def set_extra_state(self, state: Any) -> None:
        """Restore what ``get_extra_state`` returned, from ``load_state_dict``."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")

    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered dict from dotted names to detached tensors sharing this module's storage.

        Keys are as PyTorch's for the same architecture: ``"0.weight"``, ``"fc.bias"``, ...
        Non-persistent buffers are left out.
        """
        if args:  # the deprecated positional form state_dict(destination, prefix, keep_vars)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        d = self.__dict__
        pre = d.get("_state_dict_pre_hooks")
        for hook in list(pre.values()) if pre else ():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        post = d.get("_state_dict_hooks")
        for hid, hook in list(post.items()) if post else ():
            res = hook(self, destination, prefix, {"version": self._version})
            if hid in d["_state_dict_hooks_public"]:
                if res is not None:
                    raise RuntimeError("state_dict post-hook must return None")
            elif res is not None:  # the private form may hand back a new dict
                destination = res
        return destination

    def register_state_dict_pre_hook(self, hook: Callable):
        """Run ``hook(module, prefix, keep_vars)`` before ``state_dict`` collects this module's entries."""
        return _add_hook(self.__dict__.setdefault("_state_dict_pre_hooks", OrderedDict()), hook)

    def _register_state_dict_hook(self, hook: Callable, public: bool = False):
        hooks = self.__dict__.setdefault("_state_dict_hooks", OrderedDict())
        return _add_hook(hooks, hook, False, (self.__dict__.setdefault("_state_dict_hooks_public", {}), public))

    def register_state_dict_post_hook(self, hook: Callable):
        """Run ``hook(module, state_dict, prefix, local_metadata)`` after ``state_dict`` collected this
        module's entries (and its children's); it may change ``state_dict`` in place and must return None."""
        return self._register_state_dict_hook(hook, public=True)

    def _state_entries(self, prefix: str = ""):
        """``(key, module, local_name, tensor, is_param)`` for every entry of ``state_dict``."""
        out = []
        for name, p in self._parameters.items():
            if p is not None:
                out.append((prefix + name, self, name, p, True))
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                out.append((prefix + name, self, name, b, False))
        for name, module in self._modules.items():
            if module is not None:
                out.extend(module._state_entries(prefix + name + "."))
        return out

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False):
        """Copy weights from ``state_dict`` into this module's parameters and buffers.

        Values may be nerve tensors, NumPy arrays or anything NumPy can convert; they are cast
        to each parameter's dtype and moved to its device. Everything is checked before
        anything is copied, so a load that fails leaves every weight as it was.

        Args:
            state_dict: a mapping from dotted names (as ``state_dict()`` gives) to values.
            strict: when True, a missing or unexpected key is an error.
            assign: make the loaded tensors the module's parameters and buffers (sharing their
                data, keeping their dtype and device) instead of copying into the existing ones;
                build the optimizer afterwards, since it holds the parameters it was given.

        Returns:
            ``(missing_keys, unexpected_keys)`` as a named tuple.

        Raises:
            RuntimeError: naming every missing or unexpected key and every shape mismatch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        hooked = [(p, m) for p, m in self.named_modules() if m.__dict__.get("_load_state_dict_pre_hooks")]
        if hooked:  # the hooks may rename or drop keys: on a copy, as torch
            state_dict = OrderedDict(state_dict)
            for p, m in hooked:
                for hook in list(m._load_state_dict_pre_hooks.values()):
                    hook(state_dict, p + "." if p else "", {}, strict, [], [], [])
        entries = self._state_entries()
        extras = [(p + "." + _EXTRA_STATE if p else _EXTRA_STATE, m) for p, m in self.named_modules()
                  if type(m).set_extra_state is not Module.set_extra_state]
        expected = {e[0] for e in entries} | {key for key, _ in extras}
        missing = [e[0] for e in entries if e[0] not in state_dict]
        missing += [key for key, _ in extras if key not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        errors = []
        staged = []
        for key, module, name, target, is_param in entries:
            if key not in state_dict:
                continue
            value = state_dict[key]
            if is_uninitialized(value):  # saved by a lazy module before its first call
                if is_lazy(target):
                    continue  # both still without a shape: nothing to copy
                raise RuntimeError(NO_SHAPE_YET)
            try:
                arr = _as_array(value)
            except (TypeError, ValueError) as e:
                errors.append(f"could not convert the value of {key} ({type(value).__name__}) to an array: {e}")
                continue
            if tuple(arr.shape) != tuple(target._data.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {_size(arr.shape)} from checkpoint, "
                    f"the shape in current model is {_size(target._data.shape)}."
                )
                continue
            if arr.dtype.kind not in "fiub":
                errors.append(f"could not load {key}: unsupported dtype {arr.dtype}")
                continue
            staged.append((module, name, target, is_param, arr))
        # post-hooks may clear missing or unexpected keys (in place): then those are checked after the load
        post_hooked = any(m.__dict__.get("_load_state_dict_post_hooks") for m in self.modules())
        if strict and not (post_hooked and not errors):
            _key_errors(errors, missing, unexpected)
        if errors:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(type(self).__name__, "\n\t".join(errors))
            )
        # every check passed: convert all (this can still fail, e.g. on a full GPU) before copying any
        converted = []
        for module, name, target, is_param, arr in staged:
            src = arr if assign else move(arr, target._device)  # assign keeps the loaded dtype and device
            if src.dtype != target._data.dtype and not assign:
                src = src.astype(target._data.dtype)
            converted.append((module, name, target, is_param, src))
        for module, name, target, is_param, src in converted:
            if assign:  # the loaded array itself (no copy), as PyTorch's assign=True
                if is_param:
                    module._parameters[name] = Parameter(Tensor._make(src, device_of(src)),
                                                         requires_grad=target.requires_grad)
                else:
                    module._buffers[name] = Tensor._make(src, device_of(src))
            elif src is not target._data:
                target._data[...] = src
                note_write(target._data)
        for key, module in extras:
            if key in state_dict:
                module.set_extra_state(state_dict[key])
        if post_hooked:
            _run_load_post_hooks(self, _IncompatibleKeys(missing, unexpected))
            if strict:
                _key_errors(errors, missing, unexpected)
                if errors:  # (after the load, as torch raises)
                    raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                        type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    def register_load_state_dict_post_hook(self, hook: Callable):
        """Run ``hook(module, incompatible_keys)`` after ``load_state_dict`` loaded this module (and its
        children); it may change ``incompatible_keys.missing_keys`` / ``.unexpected_keys`` in place (a
        strict load checks them after the hooks) and must return None."""
        return _add_hook(self.__dict__.setdefault("_load_state_dict_post_hooks", OrderedDict()), hook)

    def _register_load_state_dict_pre_hook(self, hook: Callable, with_module: bool = False):
        """Run ``hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)``
        (``hook(module, ...)`` with ``with_module``) before ``load_state_dict`` reads this module's keys;
        the hook may change ``state_dict`` (a copy of the one given)."""
        return _add_hook(self.__dict__.setdefault("_load_state_dict_pre_hooks", OrderedDict()),
                         (lambda *a: hook(self, *a)) if with_module else hook)

    def register_load_state_dict_pre_hook(self, hook: Callable):
        """Run ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)`` before ``load_state_dict`` reads this module's keys (torch's public form)."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def compile(self, *args, **kwargs) -> None:
        """``Module.compile``: nerve has no compiler (see ``nerve.compile``), so the module runs as it is."""

    # ------------------------------------------------------------ printing

    def extra_repr(self) -> str:
        """The layer's own settings for ``repr`` (``in_features=784, out_features=10, bias=True``)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)
        for name in ("_backward_hooks", "_backward_pre_hooks"):  # (saved before nerve had them)
            self.__dict__.setdefault(name, OrderedDict())
        self.__dict__.setdefault("_is_full_backward_hook", None)

    def share_memory(self) -> "Module":
        return self

    def _route_calls_through_hooks(self) -> None:
        """Make ``__call__``'s test of ``_forward_pre_hooks`` true while backward hooks are registered."""
        pre = self._forward_pre_hooks
        if pre.__class__ is not _HookedPreHooks:
            self.__dict__["_forward_pre_hooks"] = _HookedPreHooks(pre, self._backward_hooks, self._backward_pre_hooks)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False):
        """Run ``hook(module, grad_output)`` when the gradients of the module's outputs are known;
        it may return a new ``grad_output`` (a tuple, one entry per output, None for non-tensors)."""
        handle = _add_hook(self._backward_pre_hooks, hook, prepend)
        self._route_calls_through_hooks()
        return handle

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False):
        """Run ``hook(module, grad_input, grad_output)`` when the gradients of the module's inputs are
        computed; it may return a new ``grad_input``. Entries are None for non-tensor arguments; when
        no input needs a gradient the hook runs with ``grad_input`` all None once ``grad_output`` is known."""
        if self._is_full_backward_hook is False:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a single Module. "
                               "Please use only one of them.")
        self.__dict__["_is_full_backward_hook"] = True
        handle = _add_hook(self._backward_hooks, hook, prepend)
        self._route_calls_through_hooks()
        return handle

    def register_backward_hook(self, hook: Callable):
        """PyTorch's deprecated backward hook: ``hook(module, grad_input, grad_output)`` on the graph node
        that made the module's (first) output, so ``grad_input`` is that node's; the module's own only
        when it is one op. Prefer ``register_full_backward_hook``."""
        if self._is_full_backward_hook is True:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a single Module. "
                               "Please use only one of them.")
        self.__dict__["_is_full_backward_hook"] = False
        handle = _add_hook(self._backward_hooks, hook)
        self._route_calls_through_hooks()
        return handle


def _add_hook(hooks, hook, prepend: bool = False, *flags) -> "RemovableHandle":
    """Register ``hook`` in the ordered dict ``hooks`` (first with ``prepend``) and return its handle;
    each ``(marks, on)`` in ``flags`` is a dict that marks the hook where ``on`` (``with_kwargs``,
    ``always_call``...), and that the handle clears on ``remove()`` with ``hooks``."""
    handle = RemovableHandle(hooks, *(marks for marks, _ in flags))
    hooks[handle.id] = hook
    for marks, on in flags:
        if on:
            marks[handle.id] = True
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class _HookedPreHooks(OrderedDict):
    """The ``_forward_pre_hooks`` of a module that has had backward hooks: it holds the forward
    pre-hooks only, but is true while the module has backward hooks too, so that ``__call__``
    keeps its one test for all hooks (and a module without hooks pays nothing for backward ones)."""

    def __init__(self, items=(), *others) -> None:
        super().__init__(items)
        self._others = others

    def __bool__(self) -> bool:
        return len(self) > 0 or any(self._others)


def _key_errors(errors: list, missing: list, unexpected: list) -> None:
    if unexpected:
        errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected)))
    if missing:
        errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))


def _run_load_post_hooks(module: Module, keys) -> None:
    """Each module's load post-hooks, children first (the order of torch's recursive load)."""
    for child in module._modules.values():
        if child is not None:
            _run_load_post_hooks(child, keys)
    for hook in list(module.__dict__.get("_load_state_dict_post_hooks", {}).values()):
        if hook(module, keys) is not None:
            raise AssertionError("Hooks registered with ``register_load_state_dict_post_hook`` are not expected to "
                                 "return new values, if incompatible_keys need to be modified, it should be done "
                                 "inplace.")


def _as_array(value):
    if isinstance(value, Tensor):
        return value._data
    if is_array(value):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):  # a torch tensor
        return value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError("values must be numbers of one shape")
    return arr


def _size(shape) -> str:
    return f"nerve.Size({list(shape)})"
