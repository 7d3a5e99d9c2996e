"""Recurrent layers: ``SimpleRNN``, ``LSTM``, ``GRU`` with Keras 3's arguments, weights and defaults.

Inputs are (batch, timesteps, features). Weights are Keras's: ``kernel`` (features, k*units),
``recurrent_kernel`` (units, k*units), ``bias`` (k*units,), or (2, 3*units) for a GRU with
``reset_after=True``. Gate orders are Keras's: LSTM i, f, c, o (torch's i, f, g, o: the same);
GRU z, r, h (torch's r, z, n: the first two blocks swap on each call, a units-sized copy).

With the default activations (tanh, sigmoid; relu also for SimpleRNN) the time loop is the core's
``Scan`` op (one GEMM for the inputs of all steps, the loop and its backward through time by hand,
as nerve.nn.LSTM/GRU/RNN). Other activations, GRU ``reset_after=False`` and recurrent dropout
run a loop of tensor ops, step by step.

Dropout while training is Keras's: masks fixed over the time steps; with ``recurrent_dropout`` one
mask per gate on the inputs and on the state (Keras's implementation 1), else one input mask.

Masking as Keras's: a (batch, timesteps) mask (from ``Embedding(mask_zero=True)``, ``Masking``, or
``mask=``) makes a masked step keep the states it had and repeat the previous step's output (zeros
before the first unmasked step; zeros at every masked step with ``zero_output_for_mask=True``,
which ``Bidirectional`` sets with ``return_sequences``): the ``Scan`` op (default activations) or
the step loop skips the masked rows of each step. ``return_sequences=True`` passes the mask on.

``stateful=True`` (the batch size fixed, e.g. ``keras.Input(shape, batch_size=n)``): each batch
starts from the states the previous one ended with; ``reset_state()`` zeros them. ``unroll`` and
``seed`` are accepted and ignored.

``RNN(cell)`` is the generic loop, step by step, around ``SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell``
(the layers' step code and weights: ``RNN(LSTMCell(n))`` with ``LSTM(n)``'s weights gives its outputs;
dropout as Keras 3's cells, one mask per sequence for all gates), a list of cells
(``StackedRNNCells``) or a cell of one's own (``state_size``, ``call(inputs, states)``; states of any
shape; inputs may be a list / tuple of sequences, which Keras 3's RNN does not take).
"""

from __future__ import annotations

import numpy as np

import nerve.nn.functional as _functional
from nerve.functions import cat, stack, where
from nerve.nn.modules.rnn import _scan
from nerve.tensor import Tensor

from .. import activations, constraints, initializers
from ..variables import Variable
from .layer import Layer, as_mask, flatten, in_symbolic_call, map_structure, pack_as


def _F():
    return _functional


class _ForgetBias:
    """Keras's ``unit_forget_bias``: the bias initializer's values, with ones on the forget gate."""

    def __init__(self, init, units):
        self.init, self.units = initializers.get(init), units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return np.concatenate([self.init((u,), dtype), np.ones((u,), dtype), self.init((2 * u,), dtype)])


def _swap01(w, u, axis):
    """Blocks 0 and 1 (each ``u`` wide along ``axis``) swapped: Keras's z, r, h <-> torch's r, z, n."""
    if axis == 0:
        return cat([w[u:2 * u], w[:u], w[2 * u:]], 0)
    return cat([w[..., u:2 * u], w[..., :u], w[..., 2 * u:]], -1)


class _RNN(Layer):
    _gates = 1
    supports_masking = True
    _keras_vars_in = "cell"  # Keras keeps these weights on the layer's cell: 'lstm/cell/vars' in its files

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 seed=None, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if units is None or int(units) <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, "
                             f"got {units}.")
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= rate < 1:
                raise ValueError(f"Invalid value received for argument `{what}`. Expected a float value "
                                 f"between 0 and 1 (1 excluded). Received: {what}={rate}")
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.stateful = bool(stateful)
        self.states = None
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer, self.recurrent_regularizer = kernel_regularizer, recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint, self.recurrent_constraint, self.bias_constraint = map(
            constraints.get, (kernel_constraint, recurrent_constraint, bias_constraint))
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = unroll

    # -- weights --
    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim=3, found ndim={len(input_shape)}. Full shape received: {tuple(input_shape)}")
        k = self._gates * self.units
        # Kept as the core's (k*units, in) / (k*units, units), shown to Keras as (in, k*units) / (units, k*units).
        self.kernel = self.add_weight((input_shape[-1], k), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      perm=(1, 0))
        self.recurrent_kernel = self.add_weight((self.units, k), self.recurrent_initializer, name="recurrent_kernel",
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint, perm=(1, 0))
        self.bias = self.add_weight(self._bias_shape(), self._bias_init(), name="bias",
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        cell = f"{self.name}/{type(self).__name__.lower().replace('simplernn', 'simple_rnn')}_cell"
        for v in self.weights:
            v.path = f"{cell}/{v.name}"  # Keras 3 keeps them in a cell: 'lstm/lstm_cell/kernel'
        if self.stateful:
            if input_shape[0] is None:
                raise ValueError("When using `stateful=True` in a RNN, the batch size must be static. Found "
                                 f"dynamic batch size: sequence.shape={tuple(input_shape)}")
            # Keras's 'rnn_state' variables: not weights (get_weights and counts leave them out)
            n = 2 if self._gates == 4 else 1
            self.__dict__["states"] = [Variable(np.zeros((input_shape[0], self.units), self.dtype), trainable=False,
                                                name="rnn_state") for _ in range(n)]
            for v in self.states:
                v.path = f"{self.name}/rnn_state"
        self.built = True

    def reset_state(self):
        """Zero the states of a stateful layer (the next batch starts from zeros)."""
        for v in self.states or []:
            v.value._data[...] = 0

    reset_states = reset_state

    def _core_weights(self, scan):
        """(w_ih, w_hh, b_ih, b_hh) in torch's layouts; in torch's gate order for ``Scan``, else Keras's."""
        b = self.bias.value if self.bias is not None else None
        return self.kernel.value, self.recurrent_kernel.value, b, None

    def _mode(self):
        """The ``Scan`` mode these activations allow, or None (a step-by-step loop)."""
        return None

    # -- calling --
    def _check(self, x):
        if x.ndim != 3:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim=3, found ndim={x.ndim}. Full shape received: {tuple(x.shape)}")
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 '
                             f"of input shape to have value {self.kernel.shape[0]}, but received input with "
                             f"shape {tuple(x.shape)}")
        if x.shape[1] == 0:
            raise ValueError("expected a sequence of at least one step, got 0 timesteps")

    def _initial(self, x, initial_state, n):
        """The initial states as nerve tensors (zeros unless given)."""
        N = x.shape[0]
        if initial_state is None:
            z = x._device.xp.zeros((N, self.units), dtype=x._data.dtype)
            return [Tensor._make(z, x._device) for _ in range(n)]
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if len(initial_state) != n:
            raise ValueError(f"Layer {self.name} expects {n} state(s), but it received {len(initial_state)} "
                             f"initial state(s).")
        return [self._convert(s) for s in initial_state]

    def _masks(self, x, rate, n, count):
        """``count`` dropout masks (n, 1, features) or (n, units), fixed over the time steps, as Keras."""
        ones = Tensor._make(x._device.xp.ones(n, dtype=x._data.dtype), x._device)
        return [_F().dropout(ones, p=rate, training=True) for _ in range(count)]

    def call(self, inputs, initial_state=None, mask=None, training=None):
        x = inputs
        self._check(x)
        n_states = 2 if self._gates == 4 else 1
        stateful = self.stateful and self.states is not None
        if initial_state is None and stateful:
            if x.shape[0] != self.states[0].shape[0]:
                raise ValueError("If an RNN is stateful, the batch size of the input sequences must be the same as "
                                 f"the batch size of the initial state. \n- Expected batch size: "
                                 f"{self.states[0].shape[0]}\n- Received batch size: {x.shape[0]}")
            # copies: the backward pass reads the initial states after this call wrote the new ones
            states = [Tensor._make(v.value._data.copy(), v.value._device) for v in self.states]
        else:
            states = self._initial(x, initial_state, n_states)
        k, u, N = self._gates, self.units, x.shape[0]
        # Keras's masks: one per gate when recurrent dropout is on (its implementation 1), else one
        rmasks = self._masks(x, self.recurrent_dropout, (N, u), k) if training and self.recurrent_dropout else None
        mask = as_mask(mask)
        if mask is not None and tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"Layer {self.name} expects a mask of shape (batch, timesteps) = {tuple(x.shape[:2])}, "
                             f"got {tuple(mask.shape)}")
        mode = self._mode() if rmasks is None else None
        w_ih, w_hh, b_ih, b_hh = self._core_weights(mode is not None)
        xt = x.permute(1, 0, 2)  # time-major (L, N, F)
        if self.go_backwards:
            xt = xt.flip(0)
        if training and self.dropout:
            masks = self._masks(x, self.dropout, (1, N, x.shape[2]), k if rmasks is not None else 1)
            if len(masks) == 1:
                gx = _F().linear(xt * masks[0], w_ih, b_ih)
            else:
                gx = cat([_F().linear(xt * m, w_ih[i * u:(i + 1) * u], None if b_ih is None else b_ih[i * u:(i + 1) * u])
                          for i, m in enumerate(masks)], -1)
        else:
            gx = _F().linear(xt, w_ih, b_ih)  # the input products of all steps in one GEMM
        steps = None
        if mask is not None:
            steps = mask.t().unsqueeze(-1)  # (L, N, 1), in the order the loop runs
            if self.go_backwards:
                steps = steps.flip(0)
        if mode is not None:
            # Scan's masked rows keep their states, and their outputs repeat them
            seq, h_last, c_last = _scan(mode, gx, states[0], states[1] if n_states == 2 else None,
                                        w_hh, b_hh, None, False, active=None if steps is None else steps._data[..., 0])
            last = [h_last] if c_last is None else [h_last, c_last]
            if steps is not None:
                # Keras's outputs: zeros at masked steps (zero_output_for_mask), else before the first unmasked step
                if self.zero_output_for_mask:
                    seq = seq * steps.to(seq.dtype)
                elif initial_state is not None or stateful:
                    seq = seq * (steps.to(seq.dtype).cumsum(0) > 0).to(seq.dtype)
            out_last = seq[-1]
        elif steps is not None:
            seq, last = self._masked_loop(gx, states, w_hh, b_hh, rmasks, steps)
            out_last = seq[-1]
        else:
            seq, last = self._loop(gx, states, w_hh, b_hh, rmasks)
            out_last = last[0]
        if stateful and not in_symbolic_call():
            for v, s in zip(self.states, last):
                v.value._data[...] = s._data  # the next batch starts here (no gradient across batches)
        out = seq.permute(1, 0, 2) if self.return_sequences else out_last
        if self.return_state:
            return (out, *last)  # a tuple, as Keras 3
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * (2 if self._gates == 4 else 1)
        return out

    def _masked_loop(self, gx, states, w_hh, b_hh, rmasks, steps):
        """The step loop where ``steps[t]`` (N, 1) is False: those rows keep their states, and
        their output is the previous step's (zeros with ``zero_output_for_mask``), as Keras."""
        zero = Tensor._make(gx._device.xp.zeros((), dtype=gx._data.dtype), gx._device)
        prev = zero
        outs = []
        for t in range(gx.shape[0]):
            new = self._step(gx[t], states, w_hh, b_hh, rmasks)
            m = steps[t]
            out = where(m, new[0], zero if self.zero_output_for_mask else prev)
            states = [where(m, a, b) for a, b in zip(new, states)]
            outs.append(out)
            prev = out
        return stack(outs, 0), states

    def _loop(self, gx, states, w_hh, b_hh, rmasks):
        hs = []
        for t in range(gx.shape[0]):
            states = self._step(gx[t], states, w_hh, b_hh, rmasks)
            hs.append(states[0])
        return stack(hs, 0), states

    def _rec(self, h, w_hh, rmasks, first, stop):
        """The recurrent products of gate blocks first..stop-1, each from h through its dropout mask."""
        u = self.units
        if rmasks is None:
            return h.matmul(w_hh[first * u:stop * u].t())
        prods = [(h * rmasks[i]).matmul(w_hh[i * u:(i + 1) * u].t()) for i in range(first, stop)]
        return prods[0] if len(prods) == 1 else cat(prods, -1)

    def compute_output_shape(self, input_shape):
        n, steps = input_shape[0], input_shape[1]
        out = (n, steps, self.units) if self.return_sequences else (n, self.units)
        if self.return_state:
            return (out,) + ((n, self.units),) * (2 if self._gates == 4 else 1)
        return out


class SimpleRNN(_RNN):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: size of the state and output.
        activation: tanh by default.
        return_sequences: output every step's state (batch, timesteps, units), not only the last.
        return_state: also return the last state: ``[output, h]``.
        go_backwards: run over the steps from the last (the sequence output is in that order, as Keras).
        dropout, recurrent_dropout: while training, the fraction of the inputs / of the state
            dropped, with masks fixed over the time steps (recurrent dropout runs the step loop).
    """

    _gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)

    def _mode(self):
        if self.activation is activations.tanh:
            return "RNN_TANH"
        if self.activation is activations.relu:
            return "RNN_RELU"
        return None

    def _step(self, gx, states, w_hh, b_hh, rmasks):
        return [self.activation(gx + self._rec(states[0], w_hh, rmasks, 0, 1))]


class LSTM(_RNN):
    """Long Short-Term Memory (Hochreiter 1997), Keras's gates i, f, c, o.

    ``unit_forget_bias=True`` (default) starts the forget gate's bias at one. ``return_state``
    returns ``[output, h, c]``. Other arguments as SimpleRNN, plus ``recurrent_activation``
    (sigmoid).
    """

    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _bias_init(self):
        if self.unit_forget_bias:
            return _ForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def _mode(self):
        if self.activation is activations.tanh and self.recurrent_activation is activations.sigmoid:
            return "LSTM"
        return None

    def _step(self, gx, states, w_hh, b_hh, rmasks):
        h, c = states
        u = self.units
        z = gx + self._rec(h, w_hh, rmasks, 0, 4)
        ra = self.recurrent_activation
        i, f, g, o = ra(z[:, :u]), ra(z[:, u:2 * u]), self.activation(z[:, 2 * u:3 * u]), ra(z[:, 3 * u:])
        c = f * c + i * g
        return [o * self.activation(c), c]


class GRU(_RNN):
    """Gated Recurrent Unit (Cho 2014), Keras's gates z, r, h.

    ``reset_after=True`` (Keras 3's default, cuDNN's form: the reset gate multiplies the recurrent
    product, bias (2, 3*units): input and recurrent biases) or False (the reset gate multiplies
    the state before the product, bias (3*units,)). ``h_t = z * h_{t-1} + (1 - z) * hh``.
    Other arguments as LSTM.
    """

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _mode(self):
        if self.reset_after and self.activation is activations.tanh and \
                self.recurrent_activation is activations.sigmoid:
            return "GRU"
        return None

    def _core_weights(self, scan):
        u = self.units
        w_ih, w_hh = self.kernel.value, self.recurrent_kernel.value
        b = self.bias.value if self.bias is not None else None
        b_ih = b_hh = None
        if b is not None:
            b_ih, b_hh = (b[0], b[1]) if self.reset_after else (b, None)
        if not scan:  # the step loop reads Keras's order
            return w_ih, w_hh, b_ih, b_hh
        return (_swap01(w_ih, u, 0), _swap01(w_hh, u, 0), None if b_ih is None else _swap01(b_ih, u, 0),
                None if b_hh is None else _swap01(b_hh, u, 0))

    def _step(self, gx, states, w_hh, b_hh, rmasks):
        (h,) = states
        u = self.units
        ra = self.recurrent_activation
        if self.reset_after:
            rec = self._rec(h, w_hh, rmasks, 0, 3)
            if b_hh is not None:
                rec = rec + b_hh
            z, r = ra(gx[:, :u] + rec[:, :u]), ra(gx[:, u:2 * u] + rec[:, u:2 * u])
            hh = self.activation(gx[:, 2 * u:] + r * rec[:, 2 * u:])
        else:
            rec = self._rec(h, w_hh, rmasks, 0, 2)
            z, r = ra(gx[:, :u] + rec[:, :u]), ra(gx[:, u:2 * u] + rec[:, u:])
            hh = self.activation(gx[:, 2 * u:] + (r * (h if rmasks is None else h * rmasks[2])).matmul(w_hh[2 * u:].t()))
        return [z * h + (1 - z) * hh]


# ---------------------------------------------------------------- cells and the generic RNN layer

class _Cell(Layer):
    """One time step of a built-in layer (``_layer``), its weights as that layer's: ``kernel``,
    ``recurrent_kernel``, ``bias``. ``call(inputs, states)`` returns ``(output, new_states)``."""

    _layer = _RNN

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if units is None or int(units) <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, "
                             f"got {units}.")
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= rate < 1:
                raise ValueError(f"Invalid value received for argument `{what}`. Expected a float value "
                                 f"between 0 and 1 (1 excluded). Received: {what}={rate}")
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.__dict__["_dropout_masks"] = [None, None]
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer, self.recurrent_regularizer = kernel_regularizer, recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint, self.recurrent_constraint, self.bias_constraint = map(
            constraints.get, (kernel_constraint, recurrent_constraint, bias_constraint))

    @property
    def state_size(self):
        return [self.units, self.units] if self._layer._gates == 4 else self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return self._layer._bias_shape(self)

    def _bias_init(self):
        return self._layer._bias_init(self)

    def build(self, input_shape):
        k = self._layer._gates * self.units
        self.kernel = self.add_weight((input_shape[-1], k), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      perm=(1, 0))
        self.recurrent_kernel = self.add_weight((self.units, k), self.recurrent_initializer, name="recurrent_kernel",
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint, perm=(1, 0))
        self.bias = self.add_weight(self._bias_shape(), self._bias_init(), name="bias",
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def get_initial_state(self, batch_size=None):
        n = 2 if self._layer._gates == 4 else 1
        return [_zeros_state(self.units, batch_size, self.dtype) for _ in range(n)]

    def _mask(self, i, like, rate):
        """Keras 3's cell dropout: one mask (for every gate) drawn at the first step of a sequence and
        kept until ``reset_dropout_mask`` (which ``RNN`` calls after each sequence)."""
        if self._dropout_masks[i] is None:
            ones = Tensor._make(like._device.xp.ones(tuple(like.shape), dtype=like._data.dtype), like._device)
            self._dropout_masks[i] = _F().dropout(ones, p=rate, training=True)
        return self._dropout_masks[i]

    def reset_dropout_mask(self):
        self._dropout_masks[0] = None

    def reset_recurrent_dropout_mask(self):
        self._dropout_masks[1] = None

    def call(self, inputs, states, training=False):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        w_ih, w_hh, b_ih, b_hh = self._layer._core_weights(self, False)
        if training and self.dropout:
            inputs = inputs * self._mask(0, inputs, self.dropout)
        rmasks = None
        if training and self.recurrent_dropout:
            rmasks = [self._mask(1, states[0], self.recurrent_dropout)] * self._gates
        new = self._layer._step(self, _F().linear(inputs, w_ih, b_ih), states, w_hh, b_hh, rmasks)
        return new[0], new

    def _rec(self, h, w_hh, rmasks, first, stop):
        return _RNN._rec(self, h, w_hh, rmasks, first, stop)


def backend_device():
    from .. import backend
    return backend.device()


class SimpleRNNCell(_Cell):
    """One step of ``SimpleRNN`` (for ``keras.layers.RNN``): states ``[h]``."""

    _layer = SimpleRNN
    _gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)


class LSTMCell(_Cell):
    """One step of ``LSTM`` (for ``keras.layers.RNN``): states ``[h, c]``."""

    _layer = LSTM
    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        kwargs.pop("implementation", None)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.unit_forget_bias = unit_forget_bias


class GRUCell(_Cell):
    """One step of ``GRU`` (for ``keras.layers.RNN``): states ``[h]``; ``reset_after`` as GRU."""

    _layer = GRU
    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        kwargs.pop("implementation", None)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.reset_after = bool(reset_after)


def _zeros_state(size, batch, dtype):
    dims = (size,) if isinstance(size, int) else tuple(int(d) for d in size)
    return Tensor._make(backend_device().xp.zeros((batch,) + dims, dtype=np.dtype(dtype)), backend_device())


def _is_size(size):
    """One state's size (an int or a shape), not a list of them."""
    return isinstance(size, int) or (isinstance(size, tuple) and all(isinstance(d, int) for d in size)) \
        or type(size).__name__ == "TensorShape"


def _initial_states(cell, batch, dtype):
    fn = getattr(cell, "get_initial_state", None)
    if fn is not None:
        states = fn(batch_size=batch)
        return list(states) if isinstance(states, (list, tuple)) else [states]
    sizes = [cell.state_size] if _is_size(cell.state_size) else list(cell.state_size)
    return [_zeros_state(s, batch, dtype) for s in sizes]


class StackedRNNCells(Layer):
    """Cells run one after the other in each step (``RNN([cell1, cell2])``): each one's output is
    the next one's input; the states are one entry per cell."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if "call" not in dir(cell) or not hasattr(cell, "state_size"):
                raise ValueError(f"All cells must have a `call` method and a `state_size` attribute. Received "
                                 f"cells={cells} (including cell={cell}).")
        self.cells = list(cells)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cells"] = _cell_from_config(config["cells"])
        return cls(**config)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        if getattr(last, "output_size", None) is not None:
            return last.output_size
        return last.state_size if _is_size(last.state_size) else last.state_size[0]

    def get_initial_state(self, batch_size=None):
        out = []
        for cell in self.cells:
            states = _initial_states(cell, batch_size, self.dtype)
            out.append(states[0] if _is_size(cell.state_size) and len(states) == 1 else states)
        return out

    def build(self, input_shape):
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell._maybe_build(tuple(input_shape))
            size = getattr(cell, "output_size", None)
            if size is None:
                size = cell.state_size if _is_size(cell.state_size) else cell.state_size[0]
            input_shape = (input_shape[0], size) if isinstance(size, int) else (input_shape[0], *size)
            if isinstance(cell, Layer):
                _prefix(self, cell)
        self.built = True

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, s in zip(self.cells, states):
            as_list = isinstance(s, (list, tuple))
            kw = {"training": training} if getattr(cell, "_call_has_training", False) else {}
            inputs, s = cell.call(inputs, list(s) if as_list else [s], **kw)
            if isinstance(s, (list, tuple)) and len(s) == 1 and not as_list:
                s = s[0]
            new_states.append(s)
        return inputs, new_states


class RNN(Layer):
    """The time loop around a cell (``RNN(LSTMCell(8))``, ``RNN([cell1, cell2])``, or a cell of your
    own: a layer with ``state_size`` and ``call(inputs, states) -> (output, new_states)``).

    Inputs (batch, timesteps, ...) or a list / tuple of them (nested inputs: each step gets the same
    structure without the time axis). ``return_sequences``, ``return_state``, ``go_backwards``,
    ``stateful`` (``reset_state()``), ``zero_output_for_mask`` and masks as the built-in layers;
    ``initial_state=`` in the call. The loop runs step by step (``unroll`` is accepted and ignored).
    """

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if "call" not in dir(cell):
            raise ValueError(f"Argument `cell` should have a `call` method. Received: cell={cell}")
        if "state_size" not in dir(cell):
            raise ValueError("The RNN cell should have a `state_size` attribute (single integer or list of "
                             f"integers, one integer per RNN state). Received: cell={cell}")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), unroll
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.__dict__["states"] = None

    @property
    def state_size(self):
        return [self.cell.state_size] if _is_size(self.cell.state_size) else list(self.cell.state_size)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = _cell_from_config(config["cell"])
        return cls(**config)

    def build(self, input_shape):
        nested = isinstance(input_shape[0], (list, tuple)) or input_shape[0] is not None and \
            not isinstance(input_shape[0], int)
        shapes = list(input_shape) if nested else [input_shape]
        step = [(s[0], *s[2:]) for s in shapes]
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell._maybe_build(type(input_shape)(step) if nested else step[0])
        _prefix(self, self.cell)  # Keras's paths: 'rnn/lstm_cell/kernel'
        if self.stateful:
            batch = shapes[0][0]
            if batch is None:
                raise ValueError("When using `stateful=True` in a RNN, the batch size must be static. Found "
                                 f"dynamic batch size: sequence.shape={tuple(shapes[0])}")
            states = flatten(_initial_states(self.cell, batch, self.dtype))
            self.__dict__["states"] = [Variable(s.detach().cpu().numpy() if isinstance(s, Tensor) else np.asarray(s), trainable=False,
                                                name="rnn_state") for s in states]
            for v in self.states:
                v.path = f"{self.name}/rnn_state"
        self.built = True

    def get_initial_state(self, batch_size):
        return _initial_states(self.cell, batch_size, self.dtype)

    def reset_state(self):
        """Zero the states of a stateful layer (the next batch starts from zeros)."""
        for v in self.states or []:
            v.value._data[...] = 0

    reset_states = reset_state

    def call(self, inputs, initial_state=None, mask=None, training=None):
        nested = isinstance(inputs, (list, tuple))
        flat = flatten(inputs)
        N, T = flat[0].shape[0], flat[0].shape[1]
        stateful = self.stateful and self.states is not None
        if initial_state is not None:
            states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            states = map_structure(self._convert, list(states))
        elif stateful:
            if N != self.states[0].shape[0]:
                raise ValueError("If an RNN is stateful, the batch size of the input sequences must be the same as "
                                 f"the batch size of the initial state. \n- Expected batch size: "
                                 f"{self.states[0].shape[0]}\n- Received batch size: {N}")
            init = self.get_initial_state(N)
            states = pack_as(init, [Tensor._make(v.value._data.copy(), v.value._device) for v in self.states])
        else:
            states = self.get_initial_state(N)
        mask = as_mask(mask[0] if isinstance(mask, (list, tuple)) else mask)
        kw = {"training": training} if getattr(self.cell, "_call_has_training", False) else {}
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]
        _reset_dropout(cells)  # each sequence draws its own masks, fixed over its steps
        outs, prev = [], None
        for t in (range(T - 1, -1, -1) if self.go_backwards else range(T)):
            xt = [f[:, t] for f in flat]
            out, new = self.cell.call(type(inputs)(xt) if nested else xt[0], states, **kw)
            if not isinstance(new, (list, tuple)):
                new = [new]
            if mask is not None:
                m = mask[:, t]
                new = pack_as(new, [_select(m, a, b) for a, b in zip(flatten(new), flatten(states))])
                if prev is None or self.zero_output_for_mask:
                    prev = map_structure(lambda o: o * 0, out)
                out = pack_as(out, [_select(m, a, b) for a, b in zip(flatten(out), flatten(prev))])
            states, prev = new, out
            outs.append(out)
        _reset_dropout(cells)
        if stateful and not in_symbolic_call():
            for v, s in zip(self.states, flatten(states)):
                v.value._data[...] = s._data  # the next batch starts here (no gradient across batches)
        if self.return_sequences:
            out = pack_as(outs[0], [stack([flatten(o)[i] for o in outs], 1) for i in range(len(flatten(outs[0])))])
        else:
            out = outs[-1]
        if self.return_state:
            return (out, *states)
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * len(self.state_size)
        return out


def _reset_dropout(cells):
    for cell in cells:
        for name in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            if hasattr(cell, name):
                getattr(cell, name)()


def _prefix(owner, cell):
    for v in getattr(cell, "weights", []):
        if not v.path.startswith(owner.name + "/"):
            v.path = f"{owner.name}/{v.path}"


def _cell_from_config(cell):
    """A cell (or a list of them) from its serialized form in a config (a fresh one: a config never
    shares the cell it was made from)."""
    from ..saving import deserialize

    if isinstance(cell, (list, tuple)):
        return [_cell_from_config(c) for c in cell]
    if isinstance(cell, dict):
        return deserialize(cell["class_name"], cell["config"], registered_name=cell.get("registered_name"))
    return type(cell).from_config(cell.get_config())


def _select(m, a, b):
    """``a`` where the step's mask ``m`` (batch,) is on, else ``b``."""
    return where(m.reshape((m.shape[0],) + (1,) * (a.ndim - 1)), a, b)
