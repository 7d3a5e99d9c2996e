"""``Optimizer``: the base class that owns the parameter loop, the param groups and the state.

A concrete optimizer writes only two methods (as MLX's optimizers do):

- ``init_single(xp, p, group) -> dict``: the state of one parameter before its first step
  (arrays made with ``xp``, in ``p``'s dtype and on its device);
- ``apply_single(xp, p, g, state, group)``: update the array ``p`` in place from its gradient
  array ``g``, reading and updating ``state``.

Both work on raw arrays (NumPy or CuPy). The base class walks the parameters, creates the state
on first use, keeps ``optimizer.state`` as tensors, and saves and loads it in PyTorch's layout.
It reads ``p.grad`` afresh on every step and never writes to it, so an all-reduce of the gradients
between ``backward()`` and ``step()`` (data-parallel training) needs nothing from the optimizer.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _threads, autograd
from ..autograd import note_write, zero_grads
from ..backend import CPU, device_of, empty_aligned, is_array, move
from ..tensor import Tensor


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _as_number(x):
    """A Python number from a number, NumPy scalar or 0-d tensor (so NumPy never promotes)."""
    if isinstance(x, (bool, int, float)) or x is None:
        return x
    if isinstance(x, Tensor) or is_array(x) or isinstance(x, np.generic):
        return x.item()
    return x


_new = object.__new__

# PyTorch's implementation choices (multi-tensor, fused kernels, CUDA graphs): nerve has one
# implementation, so these are accepted for compatibility and change nothing.
_IGNORED_HINTS = ("foreach", "fused", "capturable", "differentiable")
_HINT_DEFAULTS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}


class Optimizer:
    """Base class of all optimizers.

    Subclasses write ``init_single`` and ``apply_single`` (see the module docstring).

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts that each hold
            ``'params'`` and the options for that group.
        defaults: the default options of every group.
    """

    state_like_params = True  # every array in a parameter's state has the parameter's shape
    # the options of a param group in PyTorch's order, with the hints it keeps there, so that
    # ``print(optimizer.state_dict())`` shows what PyTorch's shows (empty: the defaults' order)
    group_keys: tuple[str, ...] = ()

    def __init__(self, params, defaults: dict[str, Any], **hints):
        for name, value in hints.items():
            if name == "differentiable" and value:
                raise NotImplementedError("nerve's optimizers are not differentiable (differentiable=True)")
            if name not in _IGNORED_HINTS:
                raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument '{name}'")
        self.defaults = _in_torch_order(defaults, hints, self.group_keys)
        self.state: dict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict = {}
        self._scratch_views: dict = {}
        self._step_pre_hooks: dict[int, Callable] = {}
        self._step_post_hooks: dict[int, Callable] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                f"but got {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ what subclasses write

    def init_single(self, xp, p, group: dict) -> dict[str, Any]:
        """The state of parameter array ``p`` before its first step (arrays or numbers)."""
        return {}

    def apply_single(self, xp, p, g, state: dict, group: dict) -> None:
        """Update the parameter array ``p`` in place from its gradient array ``g``."""
        raise NotImplementedError

    # ------------------------------------------------------------ helpers for subclasses

    def scratch(self, p, slot: int = 0):
        """A work array shaped and typed as ``p``, reused from step to step (no allocation).

        Each slot is one flat buffer per dtype and device, as large as the largest parameter, so
        the extra memory is a few parameters' worth, not the model's. Parameters share it: use a
        scratch array only within one ``apply_single`` call.
        """
        views = self._scratch_views  # the view for a shape, found in one lookup on NumPy
        vkey = (p.shape, p.dtype, slot) if type(p) is np.ndarray else None
        if vkey is not None:
            view = views.get(vkey)
            if view is not None:
                return view
        key = (p.dtype.str, type(p), getattr(getattr(p, "device", None), "id", None), slot)
        buf = self._scratch.get(key)
        if buf is None or buf.size < p.size:
            # (aligned on NumPy, as parameters are: written with out= at every step)
            buf = self._scratch[key] = empty_aligned(p.size, p.dtype) if type(p) is np.ndarray else p.copy().reshape(-1)
        view = buf[: p.size].reshape(p.shape)
        if vkey is not None:
            views[vkey] = view  # a view of an outgrown buffer stays a valid work array
        return view

    def elementwise(self, xp, body, arrays, *args) -> None:
        """``body(*arrays, *args)``, where ``body`` updates ``arrays`` (of one shape; None allowed)
        element by element: for a big parameter on NumPy, in blocks over nerve's threads
        (``_threads.elementwise``)."""
        if xp is np:
            _threads.elementwise(body, arrays, *args)
        else:
            body(*arrays, *args)

    def grad_with_decay(self, xp, p, g, group: dict, weight_decay: float | None = None):
        """The gradient with ``maximize`` and L2 weight decay applied: ``±g + weight_decay * p``.

        Returns ``g`` itself when neither applies, else scratch slot 0 (``g`` is never written).
        """
        wd = group.get("weight_decay", 0) if weight_decay is None else weight_decay
        maximize = group.get("maximize", False)
        if not wd and not maximize:  # the usual case, decided before any conversion
            return g
        wd = _as_number(wd)
        d = self.scratch(p, 0)
        if not wd:
            return xp.negative(g, out=d)
        xp.multiply(p, wd, out=d)
        return xp.subtract(d, g, out=d) if maximize else xp.add(d, g, out=d)

    @staticmethod
    def _tensor(array) -> Tensor:
        return Tensor._make(array, device_of(array))

    # ------------------------------------------------------------ param groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults).

        Args:
            param_group: a dict with ``'params'`` (a tensor or an iterable of tensors, or of
                ``(name, tensor)`` pairs) and any options to override.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        params = list(params)
        if params and isinstance(params[0], tuple):
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):  # torch warns and keeps them (each one steps)
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ------------------------------------------------------------ the loop

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to ``None`` by default, as PyTorch 2)."""
        for group in self.param_groups:  # group by group: a generator would resume once a parameter
            zero_grads(group["params"], set_to_none)

    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; return ``closure()``'s loss if given.

        Args:
            closure: re-evaluates the model and returns the loss (called with grad enabled).
        """
        self._opt_called = True  # lets a scheduler warn when it is stepped before the optimizer
        for hook in list(self._step_pre_hooks.values()):
            changed = hook(self, (closure,), {})
            if changed is not None:
                (closure,), _ = changed
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        with autograd.no_grad():
            states = self.state
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    dev = p._device
                    if grad._device is not dev:
                        raise RuntimeError(f"a parameter on {dev} has its gradient on {grad._device}")
                    xp = dev._xp or dev.xp
                    a, g = p._data, grad._data
                    if g.dtype != a.dtype or g.shape != a.shape:
                        raise RuntimeError(
                            f"gradient of shape {tuple(g.shape)} and dtype {g.dtype} does not match "
                            f"its parameter of shape {tuple(a.shape)} and dtype {a.dtype}"
                        )
                    state = states[p]
                    if not state:  # first step (or a state someone emptied): start it as PyTorch does
                        for k, v in self.init_single(xp, a, group).items():
                            state[k] = self._tensor(v) if is_array(v) else v
                    view = _new(_ArrayView)  # (its __init__ would be one more Python call a parameter)
                    view._state = state
                    self.apply_single(xp, a, g, view, group)
                    note_write(a)
        for hook in list(self._step_post_hooks.values()):
            hook(self, (closure,), {})
        return loss

    def register_step_pre_hook(self, hook: Callable) -> _HookHandle:
        """Call ``hook(optimizer, args, kwargs)`` before each step; it may return new (args, kwargs).

        Returns:
            a handle whose ``remove()`` unregisters the hook.
        """
        return _HookHandle(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> _HookHandle:
        """Call ``hook(optimizer, args, kwargs)`` after each step.

        Returns:
            a handle whose ``remove()`` unregisters the hook.
        """
        return _HookHandle(self._step_post_hooks, hook)

    # ------------------------------------------------------------ saving and loading

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout.

        Returns:
            ``{'state': {index: {name: tensor or number}}, 'param_groups': [{..., 'params':
            [index, ...]}]}``, where parameters are numbered in the order of the groups. The
            tensors are the live state (as PyTorch's), so copy or save them; a step count is a
            float32 0-d tensor, as PyTorch keeps it; parameters without state are left out.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: _exported(s) for p, s in self.state.items() if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by ``state_dict()`` (of nerve's optimizer or, converted, PyTorch's).

        The tensors are copied onto each parameter's device (floating state in its dtype), so the
        source dict is never updated by later steps. Group options come from the saved groups.

        Raises:
            ValueError: the number of groups or of parameters per group differs.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups but the optimizer has "
                f"{len(self.param_groups)}"
            )
        for i, (ours, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(ours["params"]) != len(saved["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group {i} of {len(saved['params'])} "
                    f"parameters that doesn't match the size of optimizer's group ({len(ours['params'])})"
                )
        by_index = {
            saved_i: p
            for ours, saved in zip(self.param_groups, saved_groups)
            for saved_i, p in zip(saved["params"], ours["params"])
        }
        new_state: dict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, values in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                continue
            new_state[p] = {name: _cast_state(name, v, p) for name, v in values.items()}
            if self.state_like_params:
                for name, v in new_state[p].items():
                    if isinstance(v, Tensor) and v.ndim and v.shape != p.shape:
                        raise ValueError(
                            f"loaded state '{name}' of parameter {key} has shape {tuple(v.shape)} but the "
                            f"parameter has shape {tuple(p.shape)}: was the state saved for another model?"
                        )
        new_groups = []
        for ours, saved in zip(self.param_groups, saved_groups):
            group = {k: copy.deepcopy(v) for k, v in saved.items() if k not in ("params", "param_names")}
            for k, v in group.items():
                if isinstance(v, list) and isinstance(self.defaults.get(k), tuple):  # betas from JSON
                    group[k] = tuple(v)
            group["params"] = ours["params"]
            if "param_names" in ours:
                group["param_names"] = ours["param_names"]
            new_groups.append(group)
        self.state = new_state
        self.param_groups = new_groups

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            if i:
                lines.append("")
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._scratch = {}
        self._scratch_views = {}
        self._step_pre_hooks, self._step_post_hooks = {}, {}


def _exported(state: dict) -> dict:
    """A parameter's state as ``state_dict()`` gives it: the step count as PyTorch's ``tensor(n.)``.

    (ASGD's eta and mu and NAdam's mu_product, float32 tensors in PyTorch, stay Python floats: in
    float32 they would round, and a run resumed from the file would no longer match one never stopped.)
    """
    out = dict(state)
    step = out.get("step")
    if isinstance(step, (int, float)) and not isinstance(step, bool):
        out["step"] = Tensor._make(np.array(step, dtype=np.float32), CPU)
    return out


def _in_torch_order(defaults: dict, hints: dict, keys: tuple[str, ...]) -> dict:
    """``defaults`` with the hints PyTorch's optimizer keeps in its groups, in PyTorch's order."""
    out = {k: defaults[k] if k in defaults else hints.get(k, _HINT_DEFAULTS[k]) for k in keys}
    out.update((k, v) for k, v in defaults.items() if k not in out)
    return out


class _HookHandle:
    """``handle.remove()`` unregisters the hook it was returned for."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, hook: Callable):
        self.id = next(_HookHandle._ids)
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _ArrayView:
    """The state of one parameter as ``apply_single`` sees it: arrays in place of tensors.

    Reads unwrap tensors to their arrays; writes of arrays go back to the tensor dict wrapped, so
    ``optimizer.state`` always holds tensors and numbers.
    """

    __slots__ = ("_state",)

    def __init__(self, state: dict):
        self._state = state

    def __getitem__(self, key):
        v = self._state[key]
        return v._data if isinstance(v, Tensor) else v

    def get(self, key, default=None):
        state = self._state
        if key not in state:
            return default
        v = state[key]
        return v._data if isinstance(v, Tensor) else v

    def __contains__(self, key) -> bool:
        return key in self._state

    def __setitem__(self, key, value) -> None:
        self._state[key] = Optimizer._tensor(value) if is_array(value) else value


def _cast_state(name: str, value, p: Tensor):
    """A loaded state value: a copy on ``p``'s device (in its dtype if floating); steps as numbers."""
    if name == "step":
        return _step_number(value)
    if isinstance(value, Tensor):
        arr = value._data
    elif is_array(value):
        arr = value
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        arr = value.detach().cpu().numpy()
    else:
        return copy.deepcopy(value)
    src = arr
    if arr.dtype.kind == "f" and p._data.dtype.kind == "f":
        arr = arr.astype(p._data.dtype, copy=False)
    arr = move(arr, p._device)
    if arr is src:
        arr = arr.copy()
    return Tensor._make(arr, p._device)


def _step_number(value):
    v = _as_number(value) if not hasattr(value, "item") else value.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v

