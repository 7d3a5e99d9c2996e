"""Import the real torchvision for the comparison tests, without its compiled operators.

torchvision 0.28.0's wheel carries C++ ops (nms, roi_align, ...) built against a CUDA torch; with the
CPU torch installed here they do not load, and ``import torchvision`` then fails in
``torchvision/_meta_registrations.py``, whose ``@torch.library.register_fake("torchvision::nms")``
raises "operator torchvision::nms does not exist". The comparison tests need only the pure-Python parts
(transforms, datasets, models, utils), so while importing we wrap ``register_fake`` to ignore that
RuntimeError (from the call or from the decorator it returns) and hand the function back unchanged.
"""

import functools

import pytest


def load_torchvision():
    """torchvision (its Python parts), or None when it or torch is not installed."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        return None
    import torch

    original = torch.library.register_fake

    @functools.wraps(original)
    def tolerant(*args, **kwargs):
        try:
            decorator = original(*args, **kwargs)
        except RuntimeError:
            return lambda fn: fn
        if not callable(decorator):
            return decorator

        def apply(fn):
            try:
                return decorator(fn)
            except RuntimeError:
                return fn

        return apply

    torch.library.register_fake = tolerant
    try:
        import torchvision
    finally:
        torch.library.register_fake = original
    return torchvision


def import_torchvision():
    """torchvision (its Python parts), or skip the calling test module when it is not installed."""
    torchvision = load_torchvision()
    if torchvision is None:
        pytest.skip("torchvision is not installed", allow_module_level=True)
    return torchvision
