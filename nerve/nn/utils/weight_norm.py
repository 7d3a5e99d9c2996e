"""Weight normalisation, the old API: ``weight_norm`` / ``remove_weight_norm``, as torch's.

``weight = g * v / ||v||`` with the norm over every dim but ``dim``. The layer's ``weight``
parameter is replaced by two, ``weight_g`` (the norms) and ``weight_v`` (the direction), and a
forward pre-hook recomputes ``weight`` from them before every call.
"""

from __future__ import annotations

import warnings

from ...tensor import Tensor
from ..parameter import Parameter, is_lazy


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:
    """The ``pow``-norm of ``v`` over every dim but ``dim``, keeping the dims (a scalar for ``dim=-1``)."""
    if dim == -1:
        return v.norm(pow)
    dim %= v.ndim
    return v.norm(pow, dim=tuple(d for d in range(v.ndim) if d != dim), keepdim=True)


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """``v * (g / norm_except_dim(v, 2, dim))``, as ``torch._weight_norm``."""
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes ``module.<name>`` from ``<name>_g`` and ``<name>_v``."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module) -> Tensor:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    @staticmethod
    def apply(module, name: str, dim: int | None) -> "WeightNorm":
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        if is_lazy(weight):
            raise ValueError("The module passed to `WeightNorm` can't have uninitialized parameters. Make sure to "
                             "run the dummy forward before applying weight normalization")
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, 2, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name: str = "weight", dim: int | None = 0):
    """Reparametrise ``module.<name>`` as ``g * v / ||v||``, as ``torch.nn.utils.weight_norm`` (deprecated there).

    Args:
        module: the layer (a ``Linear``, ``Conv2d``, ...).
        name: the parameter's name.
        dim: the dim kept by the norm (one norm per output unit with 0); None norms the whole tensor.

    Returns:
        The module, with parameters ``<name>_g`` and ``<name>_v`` instead of ``<name>``.
    """
    warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                  "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=2)
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name: str = "weight"):
    """Undo ``weight_norm``: ``<name>`` becomes one parameter again, holding the current weight."""
    return remove_norm_hook(module, WeightNorm, name, "weight_norm")


def remove_norm_hook(module, cls, name: str, what: str):
    """Take off ``module``'s forward pre-hook of class ``cls`` on parameter ``name`` (it puts the
    parameter back, as ``hook.remove``), or raise naming ``what`` when there is none."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, cls) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            module._forward_pre_hooks_with_kwargs.pop(k, None)
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")
