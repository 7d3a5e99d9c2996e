"""Wrappers of another layer: ``Bidirectional`` (a recurrent layer run both ways) and
``TimeDistributed`` (a layer applied to every time step).

As Keras 3: ``Bidirectional(LSTM(8))`` makes two new layers from the given one's config,
``forward_lstm`` and ``backward_lstm`` (``go_backwards=True``), so its weights are theirs in that
order, with Keras's paths ('bidirectional/forward_lstm/lstm_cell/kernel'); ``get_weights`` /
``set_weights`` take real Keras's. ``TimeDistributed`` folds the time axis into the batch: one
call of the wrapped layer on (batch * timesteps, ...) (a BatchNormalization while training runs
once per step instead, since Keras's batch statistics are per step).
"""

from __future__ import annotations

from nerve.functions import cat, stack

from .layer import Layer, as_mask


def _clone(layer, **changes):
    """A fresh, unbuilt copy of ``layer`` from its config (as Keras's serialize / deserialize)."""
    config = layer.get_config()
    config.update(changes)
    return type(layer).from_config(config)


def _prefix_paths(owner, layer) -> None:
    for v in layer.weights:
        if not v.path.startswith(owner.name + "/"):
            v.path = f"{owner.name}/{v.path}"


def _removeprefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Run a recurrent layer forwards and a copy backwards over the sequence, and merge the outputs.

    Args:
        layer: a ``SimpleRNN``, ``LSTM`` or ``GRU`` (its config makes the forward layer).
        merge_mode: ``'concat'`` (default: forward then backward features), ``'sum'``, ``'mul'``,
            ``'ave'``, or None (a list ``[forward, backward]``).
        backward_layer: the layer to run backwards (``go_backwards=True``), else a copy of ``layer``.

    With ``return_sequences`` the backward outputs are flipped back into time order, and masked
    steps output zeros (Keras sets ``zero_output_for_mask`` on both). ``return_state`` returns
    ``[output, *forward_states, *backward_states]``; ``initial_state`` takes them in that order.
    """

    supports_masking = True
    _config_skip = ("layer", "backward_layer", "weights")

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `Bidirectional` layer with a `keras.layers.Layer` instance. "
                             f"Received: {layer}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(f"`backward_layer` need to be a `keras.layers.Layer` instance. Received: {backward_layer}")
        if merge_mode not in ["sum", "mul", "ave", "concat", None]:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should be one of "
                             '{"sum", "mul", "ave", "concat", None}')
        super().__init__(**kwargs)
        self.forward_layer = _clone(layer, name="forward_" + _removeprefix(layer.name, "forward_"))
        if backward_layer is None:
            backward_layer = _clone(layer, name="backward_" + _removeprefix(layer.name, "backward_"),
                                    go_backwards=True)
        self.backward_layer = backward_layer
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError("Forward layer and backward layer should have different `go_backwards` value. Received: "
                             f"forward_layer.go_backwards {fwd.go_backwards}, backward_layer.go_backwards="
                             f"{bwd.go_backwards}")
        for a in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, a) != getattr(bwd, a):
                raise ValueError(f"Forward layer and backward layer are expected to have the same value for attribute "
                                 f'"{a}", got "{getattr(fwd, a)}" for forward layer and "{getattr(bwd, a)}" for '
                                 "backward layer")
        for sub in (fwd, bwd):
            sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.stateful, self.return_sequences, self.return_state = fwd.stateful, fwd.return_sequences, fwd.return_state
        if layer._batch_input_shape is not None and self._batch_input_shape is None:
            self._batch_input_shape = layer._batch_input_shape
        if weights:
            self._initial_weights = list(weights)

    def build(self, input_shape):
        for sub in (self.forward_layer, self.backward_layer):
            sub._maybe_build(tuple(input_shape))
            _prefix_paths(self, sub)
        self.built = True
        initial = self.__dict__.pop("_initial_weights", None)
        if initial is not None:
            self.set_weights(initial)

    def call(self, inputs, initial_state=None, mask=None, training=None):
        fwd, bwd = self.forward_layer, self.backward_layer
        f_state = b_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            f_state, b_state = list(initial_state[:half]), list(initial_state[half:])
        y = fwd.call(inputs, initial_state=f_state, mask=mask, training=training)
        y_rev = bwd.call(inputs, initial_state=b_state, mask=mask, training=training)
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)
        mode = self.merge_mode
        if mode == "concat":
            out = cat([y, y_rev], -1)
        elif mode == "sum":
            out = y + y_rev
        elif mode == "ave":
            out = (y + y_rev) / 2
        elif mode == "mul":
            out = y * y_rev
        else:
            out = [y, y_rev]
        if self.return_state:
            return (*out, *states) if mode is None else (out, *states)
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.return_sequences:
            out = [mask, mask] if not self.merge_mode else mask
        else:
            out = [None, None] if not self.merge_mode else None
        if self.return_state and self.states is not None:
            extra = [None] * len(self.states)
            return (out if isinstance(out, list) else [out]) + extra
        return out

    @property
    def states(self):
        f, b = self.forward_layer.states, self.backward_layer.states
        return tuple(f) + tuple(b) if f and b else None

    def reset_state(self):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def get_config(self) -> dict:
        from ..saving import _class_name

        config = super().get_config()
        config["merge_mode"] = self.merge_mode
        config["layer"] = {"class_name": _class_name(self.forward_layer), "config": self.forward_layer.get_config()}
        config["backward_layer"] = {"class_name": _class_name(self.backward_layer),
                                    "config": self.backward_layer.get_config()}
        return config

    @classmethod
    def from_config(cls, config):
        from ..saving import deserialize

        config = dict(config)
        layer = config.pop("layer")
        config["layer"] = deserialize(layer["class_name"], layer["config"])
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = deserialize(backward["class_name"], backward["config"])
        return cls(**config)


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step: (batch, timesteps, ...) -> (batch, timesteps, ...out).

    ``TimeDistributed(Dense(8))`` on (32, 10, 16) gives (32, 10, 8); ``TimeDistributed(Conv2D(...))``
    convolves each frame of (batch, frames, H, W, C) videos. One set of weights serves every
    step. A mask (batch, timesteps) passes through to the layers after.
    """

    supports_masking = True
    _config_skip = ("layer",)

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                             f"Received: {layer}")
        super().__init__(**kwargs)
        self.layer = layer

    def _child_shape(self, input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                             f"dimensions, received: {input_shape}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        self.layer._maybe_build(self._child_shape(tuple(input_shape)))
        _prefix_paths(self, self.layer)
        self.built = True

    def _inner(self, x, training, mask):
        layer = self.layer
        kwargs = {}
        if layer._call_has_training:
            kwargs["training"] = training
        if layer._call_has_mask and mask is not None:
            kwargs["mask"] = mask
        return layer.call(layer._convert(x), **kwargs)

    def call(self, inputs, training=None, mask=None):
        self._child_shape(tuple(inputs.shape))
        mask = as_mask(mask)
        if mask is not None:
            if mask.ndim < 2 or tuple(mask.shape[:2]) != tuple(inputs.shape[:2]):
                raise ValueError(f"The `mask` passed to the `TimeDistributed` layer has a shape {tuple(mask.shape)} "
                                 f"that is incompatible with the input shape {tuple(inputs.shape)}. The first two "
                                 "dimensions of the mask (batch size and timesteps) must match the input's first "
                                 f"two dimensions. Expected mask shape prefix: ({inputs.shape[0]}, {inputs.shape[1]}).")
        n, steps = inputs.shape[0], inputs.shape[1]
        from .normalization import BatchNormalization

        if training and isinstance(self.layer, BatchNormalization):
            # Keras calls the layer once per step: batch statistics per step, moving averages updated each time
            outs = [self._inner(inputs[:, t], training, None if mask is None else mask[:, t]) for t in range(steps)]
            return stack(outs, 1)
        folded = inputs.reshape((n * steps,) + tuple(inputs.shape[2:]))
        fmask = None if mask is None else mask.reshape((n * steps,) + tuple(mask.shape[2:]))
        y = self._inner(folded, training, fmask)
        return y.reshape((n, steps) + tuple(y.shape[1:]))

    def get_config(self) -> dict:
        from ..saving import _class_name

        config = super().get_config()
        config["layer"] = {"class_name": _class_name(self.layer), "config": self.layer.get_config()}
        return config

    @classmethod
    def from_config(cls, config):
        from ..saving import deserialize

        config = dict(config)
        layer = config.pop("layer")
        return cls(deserialize(layer["class_name"], layer["config"]), **config)
