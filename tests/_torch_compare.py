"""Run the same computation in nerve (on a device) and in torch (CPU); compare values and gradients."""

import re

import numpy as np

import nerve
from nerve.backend import to_numpy

TOL = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-4, atol=2e-5)}


def to_np(t):
    return to_numpy(t.detach()._data)


def compare(torch, fn_nerve, fn_torch, arrays, grads, device="cpu", dtype="float64", seed=0, tol=None):
    """Evaluate ``fn_nerve(*tensors)`` and ``fn_torch(*tensors)``, backprop a random projection, compare.

    Args:
        arrays: NumPy inputs (float ones are cast to ``dtype``).
        grads: for each input, whether it requires a gradient.

    Returns:
        (nerve output, torch output) as NumPy arrays.
    """
    tol = tol or TOL[dtype]
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    ns = [nerve.tensor(a, device=device, requires_grad=g) for a, g in zip(arrays, grads)]
    ts = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    yn, yt = fn_nerve(*ns), fn_torch(*ts)
    if isinstance(yt, tuple):
        yn, yt = yn[0], yt[0]
    np.testing.assert_allclose(to_np(yn), yt.detach().numpy(), **tol)
    if any(grads):
        w = np.random.default_rng(seed).standard_normal(tuple(yt.shape)).astype(dtype)
        (yn * nerve.tensor(w, device=device)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        for i, (a, b, g) in enumerate(zip(ns, ts, grads)):
            if g:
                assert a.grad is not None, f"input {i} got no gradient"
                np.testing.assert_allclose(to_np(a.grad), b.grad.numpy(), err_msg=f"gradient of input {i}", **tol)
    return to_np(yn), yt.detach().numpy()


def torch_before(torch, major: int, minor: int) -> bool:
    """Whether the installed torch is older than ``major.minor`` (the GPU machine has 2.11; the tests
    pin 2.13, whose behaviour nerve follows)."""
    return tuple(int(v) for v in re.findall(r"\d+", torch.__version__)[:2]) < (major, minor)


def same_repr(torch, ours, theirs) -> bool:
    """``repr(ours) == repr(theirs)``, as torch 2.13 prints modules: older torch leaves the norm
    layers' ``bias=`` argument out of their repr."""
    a = repr(ours)
    if torch_before(torch, 2, 13):
        a = re.sub(r", bias=(True|False)", "", a)
    return a == repr(theirs)
