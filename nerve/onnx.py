"""``torch.onnx``'s entry points, so that scripts which ``import torch.onnx`` run on nerve.

nerve has no ONNX exporter: ``export`` says so. A model trained on nerve can be exported from
PyTorch: its ``state_dict`` loads into the same model class built with ``torch.nn``.
"""

from __future__ import annotations


def export(model, args=(), f=None, *more, **kwargs):
    """Not supported: raises ``NotImplementedError`` (nerve writes no ONNX)."""
    raise NotImplementedError(
        "nerve cannot export ONNX: load the model's state_dict into the same model built with torch.nn "
        "and call torch.onnx.export there")


def is_in_onnx_export() -> bool:
    """Always False: nerve never traces a model for ONNX."""
    return False
