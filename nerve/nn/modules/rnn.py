"""Recurrent layers as torch.nn has them: RNN, LSTM, GRU and their cells RNNCell, LSTMCell, GRUCell.

Parameters carry torch's names, shapes, gate orders (LSTM: i, f, g, o; GRU: r, z, n) and init, so
a torch ``state_dict`` loads unchanged. The input-to-hidden products of all time steps are one GEMM
per layer and direction (``F.linear`` on the whole sequence); only the hidden-to-hidden product
stays in the time loop, which runs as one op per layer and direction (``Scan``) whose backward
goes through time by hand and gathers the weight gradients of all steps in one GEMM.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings

import numpy as np

from ... import creation
from ..._threads import gemm
from ...autograd import Function
from ...functions import cat, stack
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, pack_rows, unpack_rows
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _mm(xp):
    return gemm if xp is np else xp.matmul


def _sigmoid_(xp, a):
    """Sigmoid in place as 1 / (1 + exp(-a)): NumPy's exp runs about twice as fast as its tanh.

    exp(-a) overflows to inf for a very negative, giving the right limit 0; the callers silence
    NumPy's overflow warning with ``_quiet``.
    """
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    return a


def _quiet(xp):
    return np.errstate(over="ignore") if xp is np else contextlib.nullcontext()


def _matmul_into(xp, a, b, out):
    """``out[...] = a @ b`` without a temporary (written back if a backend ignores ``out``)."""
    r = xp.matmul(a, b, out=out)
    if r is not out:
        out[...] = r
    return out


def _weight_grad(xp, d, hs, h0, reverse):
    """``sum_t d[t].T @ h_prev[t]``: the hidden-to-hidden weight gradient of all steps.

    The state that step t read is the one the step before wrote (t-1 forward, t+1 reverse), or h0.
    """
    mm = _mm(xp)
    first, rest_d, rest_h = (d[-1], d[:-1], hs[1:]) if reverse else (d[0], d[1:], hs[:-1])
    dw = mm(first.T, h0)
    if d.shape[0] > 1:
        dw += mm(rest_d.reshape(-1, d.shape[2]).T, rest_h.reshape(-1, hs.shape[2]))
    return dw


class Scan(Function):
    """The time loop of one recurrent layer in one direction, with its backward through time.

    Inputs: ``gx`` (L, N, G*H): the input-to-hidden products of all steps, ``b_ih`` included;
    ``h0`` (N, P); ``c0`` (N, H) for LSTM, else None; ``w_hh`` (G*H, P); ``b_hh`` (G*H,) or None;
    ``w_hr`` (P, H) for an LSTM with projections, else None. P is H without projections.
    Attributes: ``mode`` (RNN_TANH, RNN_RELU, LSTM, GRU), ``reverse`` (run from the last step),
    ``batch_sizes`` (packed sequences, sorted by decreasing length: how many rows are active at each
    step; an inactive row keeps its state and gets no gradient from that step) and ``active``
    (an (L, N) boolean array, True where row n runs step t: any rows inactive at any steps, as a
    Keras mask makes them; inactive rows behave as with ``batch_sizes``).

    Output: the hidden states of all steps (L, N, P) in input order; for LSTM, one flat array
    holding those and then the last cell state (N, H), since an op has one output.
    """

    batch_sizes = None
    active = None

    def _inactive(self, t, n):
        """The rows inactive at step t as an index (a slice of the last rows, or a boolean array), or
        None when every row is active."""
        if self.idle is not None:
            return self.idle[t]
        bs = self.batch_sizes
        return slice(bs[t], None) if bs is not None and bs[t] < n else None

    def forward(self, xp, gx, h0, c0, w_hh, b_hh, w_hr):
        if gx.shape[0] == 0:
            raise ValueError("expected a sequence of at least one step, got length 0")
        self.h0, self.c0, self.w_hh, self.w_hr, self.has_b = h0, c0, w_hh, w_hr, b_hh is not None
        L, N = gx.shape[:2]
        self.steps = range(L - 1, -1, -1) if self.reverse else range(L)
        if self.batch_sizes is not None and all(b >= N for b in self.batch_sizes):
            self.batch_sizes = None
        self.idle = None
        if self.active is not None:
            if tuple(self.active.shape) != (L, N):
                raise ValueError(f"Scan: active has shape {tuple(self.active.shape)}, expected {(L, N)}")
            idle = ~self.active.astype(bool)
            busy = idle.any(axis=1).tolist()  # one read of the whole mask, not one per step
            self.idle = [idle[t] if busy[t] else None for t in range(L)]
        with _quiet(xp):
            if self.mode == "LSTM":
                return self._lstm(xp, gx, h0, c0, w_hh.T, b_hh, w_hr)
            if self.mode == "GRU":
                return self._gru(xp, gx, h0, w_hh.T, b_hh)
            return self._rnn(xp, gx, h0, w_hh.T, b_hh)

    def backward(self, xp, g):
        if self.mode == "LSTM":
            return self._lstm_backward(xp, g)
        if self.mode == "GRU":
            return self._gru_backward(xp, g)
        return self._rnn_backward(xp, g)

    def _prev(self, t, arr, first):
        """The state step t read: arr at the step before (in the loop's order), or ``first``."""
        if t == self.steps[0]:
            return first
        return arr[t + 1] if self.reverse else arr[t - 1]

    def _grads(self, xp, dgx, dgh, dh, extra=()):
        """The gradients of (gx, h0, c0, w_hh, b_hh, w_hr) from those of the pre-activations of all steps."""
        p = self.parents
        gw = _weight_grad(xp, dgh, self.hs, self.h0, self.reverse) if p[3] is not None else None
        gb = dgh.reshape(-1, dgh.shape[2]).sum(axis=0) if self.has_b and p[4] is not None else None
        c0_grad, wr_grad = extra or (None, None)
        return dgx, (dh if p[1] is not None else None), c0_grad, gw, gb, wr_grad

    # ---- Elman RNN: h' = act(gx + h @ W_hh.T + b_hh)

    def _rnn(self, xp, gx, h0, whh_t, b_hh):
        L, N = gx.shape[:2]
        hs = xp.empty((L, N, h0.shape[1]), dtype=gx.dtype)
        if b_hh is not None:
            gx = gx + b_hh  # once for all steps
        relu = self.mode == "RNN_RELU"
        h = h0
        for t in self.steps:
            a = _matmul_into(xp, h, whh_t, hs[t])
            a += gx[t]
            if relu:
                xp.maximum(a, 0, out=a)
            else:
                xp.tanh(a, out=a)
            b = self._inactive(t, N)
            if b is not None:
                a[b] = h[b]
            h = a
        self.hs = hs
        return hs

    def _rnn_backward(self, xp, g):
        mm, w_hh, hs = _mm(xp), self.w_hh, self.hs
        L, N, _ = hs.shape
        need_dh = self.parents[1] is not None
        relu = self.mode == "RNN_RELU"
        dgx = xp.empty_like(hs)
        dh = None
        for k, t in enumerate(reversed(self.steps)):
            d = dgx[t]
            if dh is None:
                d[...] = g[t]
            else:
                xp.add(g[t], dh, out=d)
            b = self._inactive(t, N)
            keep = d[b].copy() if b is not None else None
            h = hs[t]
            d *= (h > 0) if relu else (1 - h * h)
            if b is not None:  # a finished row: its gradient passes to the state it kept
                d[b] = 0
            if k < L - 1 or need_dh:
                dh = mm(d, w_hh)
                if b is not None:
                    dh[b] = keep
        return self._grads(xp, dgx, dgx, dh)

    # ---- GRU: r, z = sigmoid(...), n = tanh(x_n + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h

    def _gru(self, xp, gx, h0, whh_t, b_hh):
        L, N = gx.shape[:2]
        H = h0.shape[1]
        hs = xp.empty((L, N, H), dtype=gx.dtype)
        self.rz, self.ns = xp.empty((L, N, 2 * H), gx.dtype), xp.empty((L, N, H), gx.dtype)
        self.hns = xp.empty((L, N, H), gx.dtype)
        gh = xp.empty((N, 3 * H), gx.dtype)
        b_hn = None
        if b_hh is not None:  # b_hr and b_hz join the input products once; b_hn stays inside r * (...)
            gx = gx.copy()
            gx[:, :, :2 * H] += b_hh[:2 * H]
            b_hn = b_hh[2 * H:]
        h = h0
        for t in self.steps:
            _matmul_into(xp, h, whh_t, gh)
            x = gx[t]
            rz = self.rz[t]
            xp.add(x[:, :2 * H], gh[:, :2 * H], out=rz)
            _sigmoid_(xp, rz)
            hn = self.hns[t]
            if b_hn is None:
                hn[...] = gh[:, 2 * H:]
            else:
                xp.add(gh[:, 2 * H:], b_hn, out=hn)
            n = self.ns[t]
            xp.multiply(rz[:, :H], hn, out=n)
            n += x[:, 2 * H:]
            xp.tanh(n, out=n)
            hp, h = h, hs[t]
            xp.subtract(hp, n, out=h)  # h' = n + z * (h - n) = (1 - z) * n + z * h
            h *= rz[:, H:]
            h += n
            b = self._inactive(t, N)
            if b is not None:
                h[b] = hp[b]
        self.hs = hs
        return hs

    def _gru_backward(self, xp, g):
        mm, w_hh, hs = _mm(xp), self.w_hh, self.hs
        L, N, H = hs.shape
        need_dh = self.parents[1] is not None
        dgx = xp.empty((L, N, 3 * H), hs.dtype)
        dgh = xp.empty((L, N, 3 * H), hs.dtype)
        dh = None
        for k, t in enumerate(reversed(self.steps)):
            d = g[t] if dh is None else g[t] + dh
            hp = self._prev(t, hs, self.h0)
            rz, n, hn = self.rz[t], self.ns[t], self.hns[t]
            r, z = rz[:, :H], rz[:, H:]
            dnp = d * (1 - z) * (1 - n * n)  # through n = tanh(x_n + r * hn)
            dx, dhh = dgx[t], dgh[t]
            dx[:, 2 * H:] = dnp
            xp.multiply(dnp, r, out=dhh[:, 2 * H:])
            xp.multiply(dnp, hn, out=dx[:, :H])
            xp.multiply(d, hp - n, out=dx[:, H:2 * H])
            dx[:, :2 * H] *= rz * (1 - rz)
            dhh[:, :2 * H] = dx[:, :2 * H]
            b = self._inactive(t, N)
            if b is not None:  # a finished row: its gradient passes to the state it kept
                dx[b] = 0
                dhh[b] = 0
            if k < L - 1 or need_dh:
                dh = d * z + mm(dhh, w_hh)
                if b is not None:
                    dh[b] = d[b]
        return self._grads(xp, dgx, dgh, dh)

    # ---- LSTM: i, f, o = sigmoid(...), g = tanh(...), c' = f * c + i * g, h' = o * tanh(c') (@ W_hr.T)

    def _lstm(self, xp, gx, h0, c0, whh_t, b_hh, w_hr):
        mm = _mm(xp)
        L, N = gx.shape[:2]
        H, P = c0.shape[1], h0.shape[1]
        out = xp.empty(L * N * P + N * H, dtype=gx.dtype)
        hs = out[:L * N * P].reshape(L, N, P)
        self.acts = acts = xp.empty((L, N, 4 * H), gx.dtype)
        self.cs = cs = xp.empty((L, N, H), gx.dtype)
        self.tcs = tcs = xp.empty((L, N, H), gx.dtype)
        self.ms = ms = xp.empty((L, N, H), gx.dtype) if w_hr is not None else None
        self.gs = gs = xp.empty((L, N, H), gx.dtype)
        # tanh(x) = 2 * sigmoid(2x) - 1: with the g rows of the weights, inputs and biases doubled,
        # one sigmoid over all four gates (a contiguous block) replaces three calls on strided
        # slices; acts keeps sigmoid(2x) for g, whose derivative 1 - g^2 is 4 s (1 - s)
        g_cols = slice(2 * H, 3 * H)
        w2 = (whh_t.T).copy()
        w2[g_cols] *= 2
        whh_t = w2.T
        gx = gx + b_hh if b_hh is not None else gx.copy()
        gx[:, :, g_cols] *= 2
        h, c = h0, c0
        for t in self.steps:
            act = _matmul_into(xp, h, whh_t, acts[t])
            act += gx[t]
            _sigmoid_(xp, act)
            g = xp.multiply(act[:, g_cols], 2, out=gs[t])
            g -= 1
            ct = cs[t]
            xp.multiply(act[:, H:2 * H], c, out=ct)  # f * c
            ct += act[:, :H] * g  # + i * g
            xp.tanh(ct, out=tcs[t])
            if w_hr is None:
                xp.multiply(act[:, 3 * H:], tcs[t], out=hs[t])
            else:
                xp.multiply(act[:, 3 * H:], tcs[t], out=ms[t])
                hs[t] = mm(ms[t], w_hr.T)
            b = self._inactive(t, N)
            if b is not None:
                ct[b] = c[b]
                hs[t][b] = h[b]
            h, c = hs[t], ct
        self.hs = hs
        out[L * N * P:] = c.reshape(-1)
        return out

    def _lstm_backward(self, xp, g):
        p = self.parents
        mm, w_hh, w_hr, hs = _mm(xp), self.w_hh, self.w_hr, self.hs
        L, N, P = hs.shape
        H = self.cs.shape[2]
        gh = g[:L * N * P].reshape(L, N, P)
        dc = g[L * N * P:].reshape(N, H).copy()
        dgates = xp.empty((L, N, 4 * H), hs.dtype)
        dhs = xp.empty((L, N, P), hs.dtype) if w_hr is not None else None
        need_h0 = p[1] is not None
        dh = None
        for k, t in enumerate(reversed(self.steps)):
            d = gh[t] if dh is None else gh[t] + dh
            b = self._inactive(t, N)
            if b is not None:
                keep_d, keep_dc = d[b].copy(), dc[b].copy()
            if w_hr is not None:
                dhs[t] = d
                if b is not None:
                    dhs[t][b] = 0
                d = mm(d, w_hr)
            act, tc = self.acts[t], self.tcs[t]
            i, f, o = act[:, :H], act[:, H:2 * H], act[:, 3 * H:]
            dc += d * o * (1 - tc * tc)
            dg = dgates[t]
            xp.multiply(dc, self.gs[t], out=dg[:, :H])
            xp.multiply(dc, self._prev(t, self.cs, self.c0), out=dg[:, H:2 * H])
            dgg = xp.multiply(dc, i, out=dg[:, 2 * H:3 * H])
            dgg *= 4  # d tanh / dx = 1 - g^2 = 4 s (1 - s), s = sigmoid(2x) as acts keeps it
            xp.multiply(d, tc, out=dg[:, 3 * H:])
            dg *= act * (1 - act)
            dc *= f
            if b is not None:  # a finished row: its gradients pass to the states it kept
                dg[b] = 0
                dc[b] = keep_dc
            if k < L - 1 or need_h0:
                dh = mm(dg, w_hh)
                if b is not None:
                    dh[b] = keep_d
        gwr = None
        if w_hr is not None and p[5] is not None:
            gwr = mm(dhs.reshape(-1, P).T, self.ms.reshape(-1, H))
        return self._grads(xp, dgates, dgates, dh, (dc if p[2] is not None else None, gwr))


def _empty(*shape, device=None, dtype=None):
    return creation.empty(*shape, device=device, dtype=dtype)


def _zeros_like_state(x: Tensor, shape) -> Tensor:
    return Tensor._make(x._device.xp.zeros(shape, dtype=x._data.dtype), x._device)


def _check_state_dtypes(x: Tensor, states) -> None:
    for s in states or ():
        if s.dtype != x.dtype:
            raise RuntimeError(f"Input and hidden tensors are not the same dtype, found input tensor with "
                               f"{x.dtype} and hidden tensor with {s.dtype}")


def _scan(mode, gx, h0, c0, w_hh, b_hh, w_hr, reverse, batch_sizes=None, active=None):
    """Run ``Scan``; returns the hidden states (L, N, P), the last hidden state and the last cell state."""
    L, N = gx.shape[:2]
    P = h0.shape[-1]
    y = Scan.apply(gx, h0, c0, w_hh, b_hh, w_hr, mode=mode, reverse=reverse, batch_sizes=batch_sizes,
                   active=active)
    c_n = None
    if mode == "LSTM":
        k = L * N * P
        y, c_n = y[:k].reshape(L, N, P), y[k:].reshape(N, c0.shape[-1])
    return y, y[0 if reverse else L - 1], c_n


def _uniform_all(module: Module) -> None:
    """Every weight and bias of a recurrent layer or cell from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
    stdv = 1.0 / math.sqrt(module.hidden_size)
    for weight in module.parameters():
        init.uniform_(weight, -stdv, stdv)


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters of every layer and direction, and the forward pass.

    Args:
        mode: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'``.
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: recurrent layers stacked, each reading the outputs of the one below.
        bias: learn ``bias_ih`` and ``bias_hh``.
        batch_first: input and output are (N, L, H) instead of (L, N, H).
        dropout: dropout probability on the outputs of every layer but the last, while training.
        bidirectional: run a second direction from the last step; outputs are concatenated.
        proj_size: (LSTM) project the hidden state to this size with ``weight_hr``.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, int):
                raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * num_directions
            for direction in range(num_directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for base, shape in shapes:
                    name = f"{base}_l{layer}{suffix}"
                    setattr(self, name, Parameter(_empty(*shape, device=device, dtype=dtype)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_all(self)

    def flatten_parameters(self) -> None:
        """Kept for scripts that call it (PyTorch packs weights for cuDNN here); nothing to do in nerve."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters of each layer and direction, in PyTorch's order."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _check_hidden(self, hx: Tensor, expected: tuple, msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    def forward(self, input, hx=None):
        """Run the whole sequence.

        Args:
            input: (L, N, input_size), (N, L, input_size) with ``batch_first``, unbatched
                (L, input_size), or a ``PackedSequence`` (``nn.utils.rnn.pack_padded_sequence``).
            hx: the initial hidden state (num_layers * num_directions, N, H_out), (h_0, c_0) for
                LSTM (c_0 of size hidden_size); zeros when None. Unbatched: without the N axis.

        Returns:
            ``(output, h_n)``, or ``(output, (h_n, c_n))`` for LSTM; output is (L, N, D * H_out)
            (batch_first: (N, L, D * H_out); a ``PackedSequence`` for packed input), h_n and c_n
            as h_0 and c_0 (for packed input, each sequence's state after its last step).
        """
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        if packed:
            data = input.data
            batch_sizes = [int(b) for b in input.batch_sizes.tolist()]
            if data.ndim != 2:
                raise RuntimeError(f"input must have 2 dimensions, got {data.ndim}")
            self._check_input(data)
            batched = True
        elif not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor or a PackedSequence input, got "
                            f"{type(input).__name__}")
        else:
            name = "RNN" if self.mode.startswith("RNN") else self.mode
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead")
            self._check_input(input)
            batched = input.ndim == 3
            batch_sizes = None
        states = None if hx is None else (tuple(hx) if lstm else (hx,))
        if states is not None:
            if lstm and len(states) != 2:
                raise RuntimeError(f"LSTM: expected hx to be a tuple (h_0, c_0), got {len(states)} tensors")
            want = 3 if batched else 2
            if any(s.ndim != want for s in states):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                if lstm:
                    dims = ", ".join(f"{s.ndim}-D" for s in states)
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got ({dims}) "
                                       "tensors")
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {states[0].ndim}-D "
                                   "tensor")
        if packed:
            x = unpack_rows(data, batch_sizes)  # padded (L, N, H_in), sorted by decreasing length
            if states is not None and input.sorted_indices is not None:
                states = tuple(s.index_select(1, input.sorted_indices) for s in states)
        else:
            x = input
            if not batched:
                x = x.unsqueeze(1)
                if states is not None:
                    states = tuple(s.unsqueeze(1) for s in states)
            elif self.batch_first:
                x = x.transpose(0, 1)
        x, h_n, c_n = self._run(x, states, batch_sizes)
        if packed:
            x = PackedSequence(pack_rows(x, batch_sizes), input.batch_sizes, input.sorted_indices,
                               input.unsorted_indices)
            if input.unsorted_indices is not None:
                h_n = h_n.index_select(1, input.unsorted_indices)
                c_n = c_n.index_select(1, input.unsorted_indices) if lstm else None
        elif not batched:
            x, h_n = x.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif self.batch_first:
            x = x.transpose(0, 1)
        return (x, (h_n, c_n)) if lstm else (x, h_n)

    def _check_input(self, input: Tensor) -> None:
        w0 = self._parameters[self._flat_weights_names[0]]
        if input.dtype != w0.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w0.dtype}). "
                             f"Convert input: input.to({w0.dtype}), or convert model: model.to({input.dtype})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")

    def _run(self, x: Tensor, states, batch_sizes):
        """Every layer and direction on a time-major batch x (L, N, H_in); returns (output, h_n, c_n)."""
        lstm = self.mode == "LSTM"
        L, N = x.shape[:2]
        if L == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        _check_state_dtypes(x, states)
        D = 2 if self.bidirectional else 1
        H = self.hidden_size
        P = self.proj_size or H
        if states is None:
            h0 = _zeros_like_state(x, (self.num_layers * D, N, P))
            c0 = _zeros_like_state(x, (self.num_layers * D, N, H)) if lstm else None
        else:
            h0 = states[0]
            if lstm:
                self._check_hidden(h0, (self.num_layers * D, N, P), "Expected hidden[0] size {}, got {}")
                c0 = states[1]
                self._check_hidden(c0, (self.num_layers * D, N, H), "Expected hidden[1] size {}, got {}")
            else:
                self._check_hidden(h0, (self.num_layers * D, N, P))
                c0 = None
        p = self._parameters
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                sfx = "_reverse" if d else ""
                gx = F.linear(x, p[f"weight_ih_l{layer}{sfx}"], p.get(f"bias_ih_l{layer}{sfx}"))
                k = layer * D + d
                y, h_last, c_last = _scan(self.mode, gx, h0[k], None if c0 is None else c0[k],
                                          p[f"weight_hh_l{layer}{sfx}"], p.get(f"bias_hh_l{layer}{sfx}"),
                                          p.get(f"weight_hr_l{layer}{sfx}"), bool(d), batch_sizes)
                outs.append(y)
                h_n.append(h_last)
                c_n.append(c_last)
            x = outs[0] if D == 1 else cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, stack(h_n, 0), (stack(c_n, 0) if lstm else None)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)`` (or relu), as ``torch.nn.RNN``.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as ``RNNBase``.
        nonlinearity: ``'tanh'`` or ``'relu'``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity  # Module.__init__ may reset plain attributes


class LSTM(RNNBase):
    """Long short-term memory, gates i, f, g, o as ``torch.nn.LSTM``; ``proj_size`` adds ``weight_hr``.

    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)`` (then ``@ W_hr.T`` with ``proj_size``).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit, gates r, z, n as ``torch.nn.GRU``: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h' = (1 - z) * n + z * h``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (G*H, input_size), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh``."""

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(_empty(num_chunks * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(_empty(num_chunks * hidden_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(_empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(_empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_all(self)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, input: Tensor, states: list):
        """Check shapes, run one step; ``states`` holds hx (and cx) or Nones. Returns h' (and c')."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        batched = input.ndim == 2
        for i, s in enumerate(states):
            if s is not None and s.ndim not in (1, 2):
                what = f"hx[{i}]" if len(states) == 2 else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {s.ndim}D instead")
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}")
        N, H = x.shape[0], self.hidden_size
        _check_state_dtypes(x, [s for s in states if s is not None])
        full = []
        for i, s in enumerate(states):
            if s is None:
                full.append(_zeros_like_state(x, (N, H)))
                continue
            s = s if batched else s.unsqueeze(0)
            if s.ndim != 2 or s.shape[0] != N:
                raise RuntimeError(f"Input batch size {N} doesn't match hidden{i} batch size {s.shape[0]}")
            if s.shape[1] != H:
                raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {s.shape[1]}, expected {H}")
            full.append(s)
        gx = F.linear(x, self.weight_ih, self.bias_ih).unsqueeze(0)
        c0 = full[1] if len(full) == 2 else None
        _, h, c = _scan(self._mode, gx, full[0], c0, self.weight_hh, self.bias_hh, None, False)
        if not batched:
            h = h.squeeze(0)
            c = c.squeeze(0) if c is not None else None
        return (h, c) if len(full) == 2 else h


class RNNCell(RNNCellBase):
    """One step of ``RNN``: ``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)`` (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """input (N, input_size) or (input_size,); hx (N, H) or (H,), zeros when None. Returns h'."""
        return self._step(input, [hx])


class LSTMCell(RNNCellBase):
    """One step of ``LSTM`` (gates i, f, g, o); returns ``(h', c')``."""

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx=None):
        """input (N, input_size) or (input_size,); hx a tuple (h, c), zeros when None. Returns (h', c')."""
        return self._step(input, [None, None] if hx is None else list(hx))


class GRUCell(RNNCellBase):
    """One step of ``GRU`` (gates r, z, n); returns h'."""

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """input (N, input_size) or (input_size,); hx (N, H) or (H,), zeros when None. Returns h'."""
        return self._step(input, [hx])
