"""``torch.nn.parallel`` on one device: ``DataParallel`` and ``data_parallel``.

nerve runs a model on one device. ``DataParallel(model)`` wraps it as torch's does (its weights
are ``module.*`` in ``state_dict``) and calls it unchanged, as torch does on a machine with no
GPU or one; so does ``data_parallel``. Several devices are refused, with the reason.
"""

from __future__ import annotations

from .modules.module import Module


def _one_device(device_ids) -> list:
    ids = [] if device_ids is None else list(device_ids)
    if len(ids) > 1:
        raise NotImplementedError(
            f"nerve runs a model on one device: splitting batches over devices {ids} is not supported "
            "(pass one device, or none)")
    return ids


class DataParallel(Module):
    """Wrap ``module`` as ``torch.nn.DataParallel``; on nerve's one device, forward is the module's own.

    Args:
        module: the model.
        device_ids: at most one device (nerve does not split batches over GPUs).
        output_device, dim: kept, as torch's attributes.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        self.device_ids = _one_device(device_ids)
        self.module = module
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module: Module, inputs, device_ids=None, output_device=None, dim: int = 0,
                  module_kwargs: dict | None = None):
    """``module(*inputs, **module_kwargs)``, as ``torch.nn.parallel.data_parallel`` on one device."""
    _one_device(device_ids)
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return module(*inputs, **(module_kwargs or {}))


__all__ = ["DataParallel", "data_parallel"]
