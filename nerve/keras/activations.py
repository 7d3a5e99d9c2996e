"""Keras's activation functions by name, each one call of nerve's functional ops.

``softmax`` also remembers its input for its output, so that a categorical cross-entropy on
a softmax output can use the logits (fused log-softmax + NLL, as Keras's TensorFlow backend
does) instead of taking the log of rounded probabilities.
"""

from __future__ import annotations

import nerve.nn.functional as _functional


def _F():
    return _functional


def logits_of(y):
    """The input of the ``softmax`` that produced ``y`` (while the graph records it), or None."""
    fn = y.grad_fn
    return getattr(fn, "keras_logits", None) if fn is not None else None


def softmax(x, axis=-1):
    y = _F().softmax(x, dim=axis)
    fn = y.grad_fn
    if fn is not None and axis in (-1, x.ndim - 1):
        # kept on the op that made y: the logits live as long as y's graph does, no longer, and an
        # in-place change of y (a new grad_fn) forgets them
        fn.keras_logits = x
    return y


def log_softmax(x, axis=-1):
    return _F().log_softmax(x, dim=axis)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    F = _F()
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return F.relu(x)
    if threshold != 0.0:
        raise NotImplementedError("relu with a threshold is not supported")
    y = F.leaky_relu(x, negative_slope) if negative_slope else F.relu(x)
    return y.clamp(max=max_value) if max_value is not None else y


def linear(x):
    return x


def sigmoid(x):
    return _F().sigmoid(x)


def tanh(x):
    return _F().tanh(x)


def elu(x, alpha=1.0):
    return _F().elu(x, alpha)


def selu(x):
    return _F().selu(x)


def gelu(x, approximate=False):
    return _F().gelu(x, approximate="tanh" if approximate else "none")


def silu(x):
    return _F().silu(x)


swish = silu


def softplus(x):
    return _F().softplus(x)


def softsign(x):
    return _F().softsign(x)


def leaky_relu(x, negative_slope=0.2):
    return _F().leaky_relu(x, negative_slope)


def relu6(x):
    return _F().relu6(x)


def exponential(x):
    return x.exp()


def hard_sigmoid(x):
    return _F().hardsigmoid(x)


_BY_NAME = {f.__name__: f for f in (
    softmax, log_softmax, relu, linear, sigmoid, tanh, elu, selu, gelu, silu, softplus,
    softsign, leaky_relu, relu6, exponential, hard_sigmoid)}
_BY_NAME["swish"] = silu


def get(identifier):
    """An activation function from a name (``'relu'``), a function, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            from .object_registration import get_registered_object

            # a custom function: registered, or passed in custom_objects / a custom_object_scope
            found = get_registered_object(identifier)
            if callable(found):
                return found
            raise ValueError(f"Could not interpret activation function identifier: {identifier!r}. "
                             f"Known: {', '.join(sorted(_BY_NAME))}")
        return _BY_NAME[identifier]
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":
        return get(identifier["config"])  # Keras's serialized form of a function
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(fn) -> str:
    """The name a saved model stores for an activation."""
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    name = getattr(fn, "__name__", None)
    if name in _BY_NAME:
        return name
    if name is None or name == "<lambda>":
        raise TypeError(f"cannot save the custom activation {fn!r}: define it with `def` (and register it with "
                        "`keras.saving.register_keras_serializable`), or save_weights only")
    from .object_registration import get_registered_name

    # a custom function goes by its registered name ("package>name") or its own; loading finds it
    # in the registry or in custom_objects, as Keras's
    return get_registered_name(fn)
