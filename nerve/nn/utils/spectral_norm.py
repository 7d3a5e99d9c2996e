"""Spectral normalisation, the old API: ``spectral_norm`` / ``remove_spectral_norm``, as torch's.

``weight = weight_orig / sigma``, sigma the largest singular value of ``weight_orig`` seen as a
matrix (``dim`` first), estimated as ``u^T W v`` from the buffers ``weight_u`` and ``weight_v``.
A forward pre-hook refreshes them by power iteration in training mode (in place, without
gradient) and recomputes ``weight`` before every call; in eval mode they stay as they are.
"""

from __future__ import annotations

from ...tensor import Tensor
from ..parameter import is_lazy
from .weight_norm import remove_norm_hook


def _normalize(xp, x, eps: float):
    return x / max(float(xp.sqrt((x * x).sum())), eps)


class SpectralNorm:
    """The forward pre-hook that recomputes ``module.<name>`` from ``<name>_orig``, ``<name>_u``, ``<name>_v``."""

    _version = 1

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *[d for d in range(weight.dim()) if d != self.dim])
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            xp, w = weight._device.xp, weight_mat._data
            for _ in range(self.n_power_iterations):
                v._data[...] = _normalize(xp, w.T @ u._data, self.eps)
                u._data[...] = _normalize(xp, w @ v._data, self.eps)
            u, v = u.clone(), v.clone()  # the next call's iteration must not change what backward uses
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def remove(self, module) -> None:
        from ..parameter import Parameter

        weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module, name: str, n_power_iterations: int, dim: int, eps: float) -> "SpectralNorm":
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if is_lazy(weight):
            raise ValueError("The module passed to `SpectralNorm` can't have uninitialized parameters. Make sure to "
                             "run the dummy forward before applying spectral normalization")
        xp = weight._device.xp
        h, w = fn.reshape_weight_to_matrix(weight).shape
        u = weight.new_empty((h,)).normal_(0, 1)
        v = weight.new_empty((w,)).normal_(0, 1)
        u._data[...] = _normalize(xp, u._data, eps)
        v._data[...] = _normalize(xp, v._data, eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        # a plain attribute, so that code reading module.weight (initialisers) still finds it
        setattr(module, fn.name, weight.detach())
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None):
    """Divide ``module.<name>`` by its spectral norm before every call, as ``torch.nn.utils.spectral_norm``.

    Args:
        module: the layer.
        name: the parameter's name.
        n_power_iterations: power-iteration steps per training-mode call.
        eps: floor of the norms when normalising ``u`` and ``v``.
        dim: the dim of output units (1 for transposed convolutions, else 0 when None).

    Returns:
        The module, with parameter ``<name>_orig`` and buffers ``<name>_u``, ``<name>_v`` (``u`` and
        ``v`` start as normalised draws from nerve's generator).
    """
    if dim is None:
        from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name: str = "weight"):
    """Undo ``spectral_norm``: ``<name>`` becomes one parameter again, holding the normalised weight."""
    return remove_norm_hook(module, SpectralNorm, name, "spectral_norm")
