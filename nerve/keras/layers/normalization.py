"""``BatchNormalization`` and ``LayerNormalization`` on nerve's ``batch_norm`` / ``layer_norm``.

Keras's defaults: momentum 0.99 (the moving averages keep 99% of their value each step, i.e.
PyTorch's momentum 0.01) and epsilon 1e-3. One difference remains: the core, like PyTorch,
updates the moving variance with the unbiased batch variance where Keras uses the biased one
(a factor n/(n-1), 1.03 at batch 32).

Both pass a mask on. While training with a mask (batch, timesteps), BatchNormalization takes its
batch statistics over the unmasked steps only, as Keras's (there, with Keras's biased variance).
"""

from __future__ import annotations

import nerve
import nerve.nn.functional as _functional

from .. import backend, constraints
from .layer import Layer


def _F():
    return _functional


class BatchNormalization(Layer):
    """Normalize the channel axis (the last one) with batch statistics while training.

    Args:
        axis: the channel axis (-1, channels-last).
        momentum: weight of the old moving average (0.99).
        epsilon: added to the variance (1e-3).
        center, scale: learn ``beta`` / ``gamma``.
    """

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = map(constraints.get, (beta_constraint, gamma_constraint))
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self._inits = (gamma_initializer, beta_initializer, moving_mean_initializer, moving_variance_initializer)

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        if axis not in (1, len(input_shape) - 1):
            raise NotImplementedError("BatchNormalization supports the channel axis 1 or -1 only")
        self._axis = axis
        c = (input_shape[axis],)
        g, b, mm, mv = self._inits
        self.gamma = self.add_weight(c, g, name="gamma", regularizer=self.gamma_regularizer,
                                    constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(c, b, name="beta", regularizer=self.beta_regularizer,
                                   constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight(c, mm, name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(c, mv, name="moving_variance", trainable=False)

    def call(self, inputs, training=None, mask=None):
        training = bool(training) and self.trainable
        if mask is not None:
            if mask.ndim != inputs.ndim - 1:
                raise ValueError(f"The mask provided should be one dimension less than the inputs. Received: "
                                 f"mask.shape={tuple(mask.shape)}, inputs.shape={tuple(inputs.shape)}")
            if training:
                return self._masked_training(inputs, mask)
        x = inputs
        last = self._axis == inputs.ndim - 1 and inputs.ndim > 2
        if last:  # the core normalizes axis 1 (NCHW); channels-last goes there and back as views
            x = x.movedim(-1, 1) if hasattr(x, "movedim") else x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))
        mv = self.moving_variance.value
        old = mv.detach().clone() if training else None
        y = _F().batch_norm(
            x, self.moving_mean.value, mv,
            self.gamma.value if self.gamma is not None else None,
            self.beta.value if self.beta is not None else None,
            training=training, momentum=1.0 - self.momentum, eps=self.epsilon,
        )
        if training:  # the core (as PyTorch) averages in the unbiased variance, Keras the biased one
            n = x.numel() // max(mv.numel(), 1)
            # r (n-1)/n + momentum old / n: the same update with the biased variance, on the arrays as
            # the core's own update (a buffer's update is no in-place change for backward to check)
            a = mv._data
            a *= (n - 1) / n
            a += old._data * (self.momentum / n)
        if last:
            y = y.permute(0, *range(2, y.ndim), 1)
        return y

    def _masked_training(self, x, mask):
        """Keras's masked moments: mean and (biased) variance over the unmasked positions."""
        axes = tuple(i for i in range(x.ndim) if i != self._axis)
        m = mask.unsqueeze(-1).expand(*x.shape)
        zero = nerve.zeros((), dtype=x.dtype, device=x.device)
        weight = m.to(x.dtype).sum(dim=axes, keepdim=True) + backend.epsilon()
        mean = nerve.where(m, x, zero).sum(dim=axes, keepdim=True) / weight
        var = nerve.where(m, x - mean, zero).square().sum(dim=axes, keepdim=True) / weight
        mo = self.momentum  # (on the arrays: see call)
        for stat, batch in ((self.moving_mean.value, mean), (self.moving_variance.value, var)):
            a = stat._data
            a *= mo
            a += batch.detach()._data.reshape(-1) * (1 - mo)
        y = (x - mean) / (var + self.epsilon).sqrt()
        shape = [1] * x.ndim
        shape[self._axis] = -1
        if self.gamma is not None:
            y = y * self.gamma.value.reshape(shape)
        if self.beta is not None:
            y = y + self.beta.value.reshape(shape)
        return y


class LayerNormalization(Layer):
    """Normalize each example over the last axis, then scale by ``gamma`` and shift by ``beta``."""

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = map(constraints.get, (beta_constraint, gamma_constraint))
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale
        self._inits = (gamma_initializer, beta_initializer)

    def build(self, input_shape):
        axis = self.axis
        if isinstance(axis, (list, tuple)) and len(axis) == 1:  # Keras's configs write the axis as a list
            axis = axis[0]
        if axis not in (-1, len(input_shape) - 1):
            raise NotImplementedError("LayerNormalization supports axis=-1 only")
        c = (input_shape[-1],)
        self.gamma = self.add_weight(c, self._inits[0], name="gamma", regularizer=self.gamma_regularizer,
                                    constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(c, self._inits[1], name="beta", regularizer=self.beta_regularizer,
                                   constraint=self.beta_constraint) if self.center else None

    def call(self, inputs):
        return _F().layer_norm(inputs, (inputs.shape[-1],),
                               self.gamma.value if self.gamma is not None else None,
                               self.beta.value if self.beta is not None else None, eps=self.epsilon)
