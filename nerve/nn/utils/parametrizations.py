"""Parametrizations built on ``parametrize``: ``weight_norm``, as ``torch.nn.utils.parametrizations``."""

from __future__ import annotations

from ..modules.module import Module
from . import parametrize
from .weight_norm import _weight_norm, norm_except_dim


class _WeightNorm(Module):
    """``weight = g * v / ||v||``, the norm over every dim but ``dim`` (the whole tensor for None)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation as a parametrization, as ``torch.nn.utils.parametrizations.weight_norm``.

    Args:
        module: the layer.
        name: the parameter to reparametrise.
        dim: the dim kept by the norm; None norms the whole tensor.

    Returns:
        The module, its ``<name>`` computed from ``parametrizations.<name>.original0`` (g) and
        ``original1`` (v). State dicts of the old API (``<name>_g``, ``<name>_v``) load into it.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(state_dict, prefix, *rest) -> None:
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module._register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module
