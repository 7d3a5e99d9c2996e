"""Attention layers as Keras 3's: ``MultiHeadAttention``, ``Attention`` (dot-product, Luong-style)
and ``AdditiveAttention`` (Bahdanau-style), on nerve's functional ops.

``MultiHeadAttention`` holds Keras's weights and layouts (query/key/value kernels (dim, heads,
key_dim) with (heads, key_dim) biases, an output kernel (heads, value_dim, dim) and bias, in that
order), kept in the layout ``F.linear`` takes, and runs ``F.scaled_dot_product_attention``. Masks
are Keras's: the query's (B, T) and the value's / key's (B, S) masks make a (B, T, S) mask, ANDed
with ``attention_mask`` and the causal one, and the output carries the query's mask.

Two Keras details kept on purpose. Without dropout or returned scores, Keras (torch backend) adds
-0.7 * float max to the masked scores, so a query whose keys are all masked (a padded query step)
averages every value; with dropout or ``return_attention_scores`` its masked softmax gives such a
query zero weights. ``Attention`` and ``AdditiveAttention`` subtract 1e9 from masked scores.
"""

from __future__ import annotations

import math

import nerve
import nerve.nn.functional as _functional
from nerve.creation import arange, full, zeros
from nerve.functions import where
from nerve.nn.functional.attention import attention_probs

from .. import backend, constraints, regularizers
from .layer import Layer, as_mask, get_keras_mask


def _F():
    return _functional


def _large_negative(dtype) -> float:
    """Keras's torch backend's stand-in for -inf in an additive mask."""
    return -0.7 * (65500.0 if dtype is nerve.float16 else 3.38953e38)


def _shape(x) -> tuple:
    return tuple(x.shape)


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017) as ``keras.layers.MultiHeadAttention``.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (``key_dim`` by default).
        dropout: dropout on the attention weights while training.
        use_bias: whether the projections have biases.
        output_shape: the output's trailing shape (an int or tuple); the query's last dim by default.
        attention_axes: only the default (every axis between batch and features, flattened into
            one sequence) is supported; other axes raise ``NotImplementedError``.
        sliding_window: each query step attends only to keys less than this many steps away.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the
            four projections.

    Call: ``layer(query, value, key=None, attention_mask=None, return_attention_scores=False,
    training=None, use_causal_mask=False)``, query (B, T, dim), value and key (B, S, dim'); returns
    (B, T, dim) (and the (B, heads, T, S) weights with ``return_attention_scores``).
    """

    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        for what, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"Received an invalid value for argument `{what}`, expected a positive integer. "
                                 f"Received: {what}={v}")
        if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
            raise ValueError("Received an invalid value for argument `value_dim`, expected a positive integer or "
                             f"`None`. Received: value_dim={value_dim}")
        if sliding_window is not None and (not isinstance(sliding_window, int) or sliding_window <= 0):
            raise ValueError(f"`sliding_window` must be `None` or a positive integer. Received: "
                             f"sliding_window={sliding_window}")
        if use_gate:
            raise NotImplementedError("nerve.keras MultiHeadAttention does not support use_gate=True")
        super().__init__(**kwargs)
        self._num_heads, self._key_dim = num_heads, key_dim
        self._value_dim = value_dim or key_dim
        self._dropout = float(dropout)
        self._use_bias = use_bias
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        self._output_shape = tuple(output_shape) if output_shape else None
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(f"`attention_axes` must be an int, list, or tuple.Received: attention_axes={attention_axes}")
        self._attention_axes = tuple(attention_axes) if attention_axes is not None else None
        self._sliding_window = sliding_window
        self._kernel_initializer, self._bias_initializer = kernel_initializer, bias_initializer
        self._kernel_regularizer, self._bias_regularizer = kernel_regularizer, bias_regularizer
        # as Keras's: these go to each projection (query, key, value, output), not to this layer's output
        self._kernel_constraint, self._bias_constraint = map(constraints.get, (kernel_constraint, bias_constraint))
        self._activity_regularizer = regularizers.get(activity_regularizer)
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(key_dim))

    @property
    def _keras_vars_in(self):
        """Keras keeps the four projections' weights on sublayers: 'query_dense/vars', ..."""
        per = 2 if self._use_bias else 1
        return tuple((name, per) for name in ("query_dense", "key_dense", "value_dense", "output_dense"))

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)

    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None:
            raise TypeError("MultiHeadAttention.call() missing 1 required positional argument: 'value'")
        if not self.built:
            self.build(_shape(query), _shape(value), None if key is None else _shape(key))
            self.built = True
        # As Keras: value_mask / key_mask default to the masks the tensors carry, and the query's
        # mask is always its tensor's (Keras's call overwrites a query_mask argument with it)
        kwargs["query_mask"] = get_keras_mask(query)
        for name, t in (("value", value), ("key", key)):
            if t is not None and kwargs.get(name + "_mask") is None:
                kwargs[name + "_mask"] = get_keras_mask(t)
        return super().__call__(query, value=value, key=key, **kwargs)

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the four projections for inputs of these shapes (batch dim included)."""
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        self._check_shapes(query_shape, value_shape, key_shape)
        n, out = self._num_heads, self._output_shape or (query_shape[-1],)

        def projection(name, dim, size):
            # Keras's (dim, heads, size) kernel, kept as (heads, size, dim): F.linear's weight once reshaped
            kernel = self.add_weight((dim, n, size), self._kernel_initializer, name="kernel",
                                     regularizer=self._kernel_regularizer, constraint=self._kernel_constraint,
                                     perm=(1, 2, 0))
            bias = self.add_weight((n, size), self._bias_initializer, name="bias", regularizer=self._bias_regularizer,
                                   constraint=self._bias_constraint) if self._use_bias else None
            for v in (kernel, bias):
                if v is not None:
                    v.path = f"{self.name}/{name}/{v.name}"
            return kernel, bias

        self._query_kernel, self._query_bias = projection("query", query_shape[-1], self._key_dim)
        self._key_kernel, self._key_bias = projection("key", key_shape[-1], self._key_dim)
        self._value_kernel, self._value_bias = projection("value", value_shape[-1], self._value_dim)
        # (heads, value_dim, *out) kept as (*out, heads, value_dim)
        perm = tuple(range(2, 2 + len(out))) + (0, 1)
        self._output_kernel = self.add_weight((n, self._value_dim) + tuple(out), self._kernel_initializer,
                                              name="kernel", regularizer=self._kernel_regularizer,
                                              constraint=self._kernel_constraint, perm=perm)
        self._output_bias = self.add_weight(tuple(out), self._bias_initializer, name="bias",
                                            regularizer=self._bias_regularizer,
                                            constraint=self._bias_constraint) if self._use_bias else None
        for v in (self._output_kernel, self._output_bias):
            if v is not None:
                v.path = f"{self.name}/attention_output/{v.name}"
        self._dims = (query_shape[-1], value_shape[-1], key_shape[-1])
        # Keras's build makes an unnamed Softmax and Dropout here: take their default names too, so
        # that the layers made after this one are numbered as in Keras (dropout_3, not dropout_2)
        backend.unique_name("softmax")
        backend.unique_name("dropout")
        self.built = True

    def _check_shapes(self, query_shape, value_shape, key_shape) -> None:
        rank = len(query_shape)
        if rank < 3 or len(value_shape) != rank or len(key_shape) != rank:
            raise ValueError(f'Layer "{self.name}" expects query, value and key of the same rank, 3 or more: '
                             f"(batch, steps, features). Received: query_shape={tuple(query_shape)}, "
                             f"value_shape={tuple(value_shape)}, key_shape={tuple(key_shape)}")
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be equal. Received: "
                             f"value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}")
        if self._attention_axes is not None:
            axes = tuple(a if a >= 0 else rank - 1 + a for a in self._attention_axes)
            if axes != tuple(range(1, rank - 1)):
                raise NotImplementedError(
                    f"nerve.keras MultiHeadAttention supports only the default attention_axes (every axis between "
                    f"the batch and the features: {tuple(range(1, rank - 1))} here); received "
                    f"attention_axes={self._attention_axes}")

    def _project(self, x, kernel, bias, steps):
        """(B, *steps, dim) -> (B, heads, steps, size) through a (dim, heads, size) kernel."""
        dim, n, size = kernel.shape
        w = kernel.value.reshape(n * size, dim)
        b = bias.value.reshape(n * size) if bias is not None else None
        y = _F().linear(x.reshape(x.shape[0], steps, dim), w, b)
        if self._activity_regularizer is not None:
            self.add_loss(self._activity_regularizer(y) / y.shape[0])
        return y.reshape(x.shape[0], steps, n, size).permute(0, 2, 1, 3)

    def _attention_mask(self, batch, t, s, n_axes, device, query_mask, value_mask, key_mask, attention_mask,
                        use_causal_mask):
        """Keras's (B, T, S) mask from the inputs' masks, ``attention_mask`` and the causal mask (None: no mask)."""
        mask = None

        def both(a, b):
            return b if a is None else a & b

        if query_mask is not None:
            mask = as_mask(query_mask).reshape(batch, t, 1)
        for m in (value_mask, key_mask):
            if m is not None:
                mask = both(mask, as_mask(m).reshape(batch, 1, s))
        if use_causal_mask or self._sliding_window is not None:
            rows = arange(t, device=device).reshape(1, t, 1)
            cols = arange(s, device=device).reshape(1, 1, s)
            if use_causal_mask:
                mask = both(mask, rows >= cols)
            if self._sliding_window is not None:
                mask = both(mask, (rows - cols).abs() < self._sliding_window)
        if attention_mask is not None:
            am = as_mask(attention_mask)
            am = am.reshape(tuple(am.shape[:am.ndim - 2 * n_axes]) + (t, s))
            mask = am if mask is None else am & mask
        return mask

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        query, value = self._convert(query), self._convert(value)
        key = value if key is None else self._convert(key)
        self._check_shapes(query.shape, value.shape, key.shape)
        for what, x, dim in zip(("query", "value", "key"), (query, value, key), self._dims):
            if x.shape[-1] != dim:
                raise ValueError(f'Input "{what}" of layer "{self.name}" is incompatible with the layer: expected '
                                 f"axis -1 of input shape to have value {dim}, but received input with shape "
                                 f"{tuple(x.shape)}")
        batch, q_steps, kv_steps = query.shape[0], tuple(query.shape[1:-1]), tuple(value.shape[1:-1])
        t, s = math.prod(q_steps), math.prod(kv_steps)
        q = self._project(query, self._query_kernel, self._query_bias, t)
        k = self._project(key, self._key_kernel, self._key_bias, s)
        v = self._project(value, self._value_kernel, self._value_bias, s)
        mask = self._attention_mask(batch, t, s, len(q_steps), query.device, query_mask, value_mask, key_mask,
                                    attention_mask, use_causal_mask)
        if mask is not None:
            mask = mask.unsqueeze(-3)  # the heads axis
        F = _F()
        scores = None
        if self._dropout == 0 and not return_attention_scores and len(q_steps) == 1:
            bias = None
            if mask is not None:
                bias = where(mask, zeros((), dtype=q.dtype, device=q.device),
                             full((), _large_negative(q.dtype), dtype=q.dtype, device=q.device))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self._inverse_sqrt_key_dim)
        else:
            scores = attention_probs(q, k, mask, scale=self._inverse_sqrt_key_dim)
            probs = F.dropout(scores, p=self._dropout, training=True) if training and self._dropout > 0 else scores
            out = probs @ v
        n, hv = self._num_heads, self._value_dim
        out = out.permute(0, 2, 1, 3).reshape(batch, t, n * hv)
        out_shape = self._output_kernel.shape[2:]
        w = self._output_kernel.value.reshape(math.prod(out_shape), n * hv)
        b = self._output_bias.value.reshape(-1) if self._output_bias is not None else None
        y = F.linear(out, w, b).reshape((batch,) + q_steps + tuple(out_shape))
        if self._activity_regularizer is not None:
            self.add_loss(self._activity_regularizer(y) / batch)
        if return_attention_scores:
            return y, scores.reshape((batch, n) + q_steps + kv_steps)
        return y

    def compute_mask(self, inputs, mask=None):
        """The output carries the query's mask."""
        return mask


class Attention(Layer):
    """Dot-product attention (Luong-style) over ``[query, value]`` or ``[query, value, key]``.

    Args:
        use_scale: learn a scalar ``scale`` the scores are multiplied by.
        score_mode: ``'dot'`` (query . key) or ``'concat'`` (sum of tanh(query + key), times a
            learned scalar ``concat_score_weight``).
        dropout: dropout on the attention weights while training.

    Call: ``layer([query, value(, key)], mask=[query_mask, value_mask], return_attention_scores=False,
    use_causal_mask=False)``; query (B, Tq, dim), value and key (B, Tv, dim); returns (B, Tq, dim),
    zero where the query is masked (and the (B, Tq, Tv) weights with ``return_attention_scores``).
    """

    supports_masking = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                             f"Received: score_mode={score_mode}")
        self.use_scale, self.score_mode = use_scale, score_mode
        self.dropout, self.seed = float(dropout), seed

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        self.scale = self.add_weight((), "ones", name="scale") if self.use_scale else None
        self.concat_score_weight = (self.add_weight((), "ones", name="concat_score_weight")
                                    if self.score_mode == "concat" else None)

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = query @ key.transpose(-1, -2)
            return scores * self.scale.value if self.scale is not None else scores
        q, k = query.unsqueeze(-2), key.unsqueeze(-3)
        summed = q + k if self.scale is None else self.scale.value * (q + k)
        return self.concat_score_weight.value * summed.tanh().sum(dim=-1)

    def _validate_inputs(self, inputs, mask=None) -> None:
        name = type(self).__name__
        if not isinstance(inputs, list):
            raise ValueError(f"{name} layer must be called on a list of inputs, namely [query, value] or "
                             f"[query, value, key]. Received: inputs={inputs}.")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] or "
                             f"[query, value, key]. Received length: {len(inputs)}.")
        if mask is not None and (not isinstance(mask, list) or not 2 <= len(mask) <= 3):
            raise ValueError(f"{name} layer mask must be a list of length 2 or 3, namely [query_mask, value_mask]. "
                             f"Received: mask={mask}.")

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        self._validate_inputs(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        for x in (q, v, k):
            if x.ndim != 3:
                raise ValueError(f'Layer "{self.name}" expects query, value and key of shape (batch, steps, dim). '
                                 f"Received shapes: {[tuple(x.shape) for x in inputs]}")
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._calculate_scores(q, k)
        keep = None if v_mask is None else v_mask.unsqueeze(-2)
        if use_causal_mask:
            tq, tv = scores.shape[-2], scores.shape[-1]
            causal = arange(tq, device=q.device).reshape(1, tq, 1) >= arange(tv, device=q.device).reshape(1, 1, tv)
            keep = causal if keep is None else keep & causal
        if keep is not None:
            big = 65504.0 if scores.dtype is nerve.float16 else 1.0e9
            scores = where(keep, scores, scores - big)
        weights = _F().softmax(scores, dim=-1)
        if training and self.dropout > 0:
            weights = _F().dropout(weights, p=self.dropout, training=True)
        out = weights @ v
        if q_mask is not None:
            out = where(q_mask.unsqueeze(-1), out, zeros((), dtype=out.dtype, device=out.device))
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        return None if not mask or mask[0] is None else mask[0]


class AdditiveAttention(Attention):
    """Additive attention (Bahdanau-style): scores ``sum(scale * tanh(query + key))`` over the
    features, ``scale`` a learned (dim,) vector when ``use_scale`` (the default). Called as
    ``Attention``."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate_inputs(input_shape)
        self.scale = (self.add_weight((input_shape[0][-1],), "glorot_uniform", name="scale")
                      if self.use_scale else None)
        self.concat_score_weight = None

    def _calculate_scores(self, query, key):
        t = (query.unsqueeze(-2) + key.unsqueeze(-3)).tanh()
        return (self.scale.value * t if self.scale is not None else t).sum(dim=-1)
