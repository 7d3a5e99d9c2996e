"""What the tests that compare nerve.keras with Keras 3 (torch backend) share: the two libraries,
fresh sessions, one model built in both with Keras's weights copied over, and comparisons."""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
K = pytest.importorskip("keras")

import nerve  # noqa: E402
from nerve import keras  # noqa: E402
from nerve.keras import layers  # noqa: E402


def fresh(clear_keras: bool = True) -> None:
    """New sessions (default layer names from 1 again) and seed 0 in both libraries.

    Keras's ``clear_session`` runs the garbage collector (about 0.3 s): tests that do not compare
    Keras's default names may skip it, as ``both`` clears it anyway."""
    if clear_keras:
        K.backend.clear_session()
    keras.backend.clear_session()
    K.utils.set_random_seed(0)
    keras.utils.set_random_seed(0)


def both(build):
    """The same model in Keras and in nerve.keras (``build(library, its layers)``), with Keras's
    weights copied into nerve's."""
    K.backend.clear_session()
    keras.backend.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(K, K.layers)
        ours = build(keras, layers)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def to_numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, nerve.Tensor) else K.ops.convert_to_numpy(t)


def as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def assert_same(got, want, atol=1e-5):
    """Outputs (one or a list) of the same shapes and values, to ``atol`` and 1e-5 relative."""
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(to_numpy(g), to_numpy(w), atol=atol, rtol=1e-5)


def summary_of(model) -> str:
    out = []
    model.summary(print_fn=lambda s, **kw: out.append(s))
    return "".join(out)


def names(model):
    """Weight paths without the model's own prefix (Keras's start 'sequential/')."""
    prefix = model.name + "/"
    return [w.path[len(prefix):] if w.path.startswith(prefix) else w.path for w in model.weights]


def same_step(theirs, ours, x, y, loss="mse", lr=0.1):
    """One SGD step in both: the same loss, and every weight updated the same (the same gradients)."""
    theirs.compile(K.optimizers.SGD(lr), loss)
    ours.compile(keras.optimizers.SGD(lr), loss)
    before = theirs.get_weights()
    lt = float(theirs.train_on_batch(x, y))
    lo = float(ours.train_on_batch(x, y))
    np.testing.assert_allclose(lo, lt, rtol=1e-5, atol=1e-6)
    for b, wt, wo in zip(before, theirs.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(wo, wt, atol=1e-5, rtol=1e-4)
    assert any(np.abs(w - b).max() > 1e-4 for b, w in zip(before, ours.get_weights()))


def same_fit(theirs, ours, x, y, **fit_kw):
    """``fit`` both compiled models on the same data (no shuffling): the same history keys and
    values, and the same weights afterwards."""
    ht = theirs.fit(x, y, verbose=0, shuffle=False, **fit_kw)
    ho = ours.fit(x, y, verbose=0, shuffle=False, **fit_kw)
    assert list(ho.history) == list(ht.history)
    for key in ht.history:
        np.testing.assert_allclose(ho.history[key], ht.history[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def in_format(x, data_format):
    """A channels-last array in ``data_format`` (the channels moved to axis 1 for channels_first)."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if data_format == "channels_first" else x


def keras_grads(layer):
    return [w.value.grad.numpy() for w in layer.trainable_weights]


def nerve_grads(layer):
    """The weights' gradients in Keras's layout (nerve may keep a kernel in the core's layout)."""
    out = []
    for w in layer.trainable_weights:
        g = to_numpy(w.value.grad)
        out.append(g if w._inv is None else g.transpose(w._inv))
    return out


def run_both(theirs, ours, x, **call_kw):
    """Build both layers on ``x``, copy Keras's weights, then the outputs and the gradients of their
    sum: (Keras's, nerve's) output, input gradient and weight gradients."""
    import torch

    theirs(x, **call_kw)
    ours(x, **call_kw)
    ours.set_weights(theirs.get_weights())
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt, **call_kw)
    yt.sum().backward()
    xn = nerve.tensor(x, requires_grad=True)
    yn = ours(xn, **call_kw)
    yn.sum().backward()
    assert xn.grad is not None
    return (yt, yn), (xt.grad.numpy(), to_numpy(xn.grad)), (keras_grads(theirs), nerve_grads(ours))
