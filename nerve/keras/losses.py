"""Keras's losses by name and as classes, each a call of nerve's functional losses.

A loss object returns the batch mean (Keras's ``sum_over_batch_size``); the lower-case
functions (``keras.losses.categorical_crossentropy``) return one value per example, as in Keras.
Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; when a categorical cross-entropy
sees the output of a softmax it uses that softmax's input instead (fused log-softmax + NLL).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import nerve
import nerve.nn.functional as _functional
import nerve.nn.functional.loss as _functional_loss

from . import activations, backend

EPS = 1e-7
# Keras clips probabilities to [EPS, 1 - EPS] before the log: an example's cross-entropy from
# probabilities lies in [_CE_LO, _CE_HI], with no gradient beyond (a saturated softmax stops there)
_CE_LO, _CE_HI = -math.log1p(-EPS), -math.log(EPS)


def _F():
    return _functional


def _as_tensor(y, like):
    if isinstance(y, nerve.Tensor):
        return y
    from nerve.backend import move

    return nerve.Tensor._make(move(np.asarray(y), like.device), like.device)


class _ClippedCrossEntropy(_functional_loss.CrossEntropy):
    """The fused log-softmax + NLL with Keras's clip: each example's cross-entropy from probabilities
    kept in [_CE_LO, _CE_HI] (no gradient beyond), then the batch mean. The per-example values are
    there anyway; when all lie in range (the common case) forward and backward are the fused mean's,
    at the cost of one min and one max (on a GPU the mask is always built: reading the values would
    wait for the device)."""

    keep_mask = None  # (M,) 0/1 where an example was clipped, else None

    def forward(self, xp, x, t, w=None):
        self.reduction = "none"
        nll = super().forward(xp, x, t, w)
        m = x.shape[0]
        self.reduction, self.denom = "mean", m
        if xp is np and m and _CE_LO <= np.minimum.reduce(nll) and np.maximum.reduce(nll) <= _CE_HI:
            return np.array(float(np.add.reduce(nll)) / m, dtype=x.dtype)
        self.keep_mask = ((nll >= _CE_LO) & (nll <= _CE_HI)).astype(x.dtype)
        return xp.asarray(xp.clip(nll, _CE_LO, _CE_HI).sum() / max(m, 1), dtype=x.dtype)

    def backward(self, xp, g):
        if self.keep_mask is None:
            return super().backward(xp, g)
        self.reduction = "none"  # the row factors: the mean's, zero where the example was clipped
        try:
            return super().backward(xp, (g / self.denom) * self.keep_mask)
        finally:
            self.reduction = "mean"

    def backward_t(self, g):
        if self.keep_mask is not None:
            raise RuntimeError("create_graph=True: double backward of a clipped Keras cross-entropy (an example's "
                               "probability beyond [1e-7, 1 - 1e-7]) is not implemented in nerve")
        return super().backward_t(g)


def _clipped_ce(logits, ids, in_range: bool = False):
    """Keras's categorical cross-entropy from probabilities (class indices ``ids``; ``in_range``: they
    come from an argmax, so no range check), as one op."""
    no_ignored = in_range or _functional_loss._check_targets(ids, logits.shape[1], -100)
    return _ClippedCrossEntropy.apply(logits, ids, ignore_index=-100, smoothing=0.0, reduction="mean",
                                      no_ignored=no_ignored)


def _pred_tensor(y_pred):
    """Predictions given as arrays (a loss called by hand), as a float32 tensor on Keras's device."""
    if isinstance(y_pred, nerve.Tensor):
        return y_pred
    from nerve.backend import move

    arr = np.asarray(y_pred)
    arr = arr.astype("float32") if arr.dtype != np.float32 else arr
    return nerve.Tensor._make(move(arr, backend.device()), backend.device())


def _logits(y_pred, from_logits):
    if from_logits:
        return y_pred
    return activations.logits_of(y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-example ``-sum(y_true * log(y_pred))`` over the class axis (one-hot ``y_true``)."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred)
    if not y_true.is_floating_point():
        y_true = y_true.to(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    logits = _logits(y_pred, from_logits)
    if logits is not None:
        logp = _F().log_softmax(logits, dim=axis)
        if not from_logits:  # the probabilities' log, clipped as Keras clips them
            logp = logp.clamp(-_CE_HI, -_CE_LO)
    else:
        p = y_pred / y_pred.sum(dim=axis, keepdim=True)
        logp = p.clamp(EPS, 1.0 - EPS).log()
    return -(y_true * logp).sum(dim=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-example cross-entropy with integer class ids ``y_true`` (0 where the id is ``ignore_class``)."""
    y_pred = _pred_tensor(y_pred)
    y_true = _sparse_ids(y_true, y_pred)
    if ignore_class is not None:
        valid = _valid_ids(y_true, ignore_class)
        out = sparse_categorical_crossentropy(y_true * valid.long(), y_pred, from_logits, None, axis)
        return out * valid.to(out.dtype)
    logits = _logits(y_pred, from_logits)
    F = _F()
    if logits is not None:
        if logits.ndim > 2:  # the core wants classes on axis 1
            logits = logits.movedim(-1, 1) if hasattr(logits, "movedim") else logits.permute(0, logits.ndim - 1, *range(1, logits.ndim - 1))
        out = F.cross_entropy(logits, y_true, reduction="none")
        return out if from_logits else out.clamp(_CE_LO, _CE_HI)
    # as Keras: the probabilities are normalized to sum to one first, then clipped
    logp = (y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(EPS, 1.0 - EPS).log()
    if logp.ndim > 2:
        logp = logp.permute(0, logp.ndim - 1, *range(1, logp.ndim - 1))
    return F.nll_loss(logp, y_true, reduction="none")


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-example binary cross-entropy scaled by ``(1 - p_t) ** gamma`` (and, with class balancing,
    by ``alpha`` for positives and ``1 - alpha`` for negatives), averaged over ``axis``."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred).to(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = y_pred.sigmoid()
    bce = _F().binary_cross_entropy(y_pred.clamp(EPS, 1.0 - EPS), y_true, reduction="none")
    p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1 - y_true) * (1 - alpha)) * focal
    return focal.mean(dim=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Per-example categorical cross-entropy with each class's term scaled by ``alpha * (1 - p) ** gamma``."""
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred).to(y_pred.dtype)
    if y_pred.shape[-1] == 1:
        warnings.warn("In loss categorical_focal_crossentropy, expected y_pred.shape to be (batch_size, num_classes) "
                      f"with num_classes > 1. Received: y_pred.shape={tuple(y_pred.shape)}. Consider using "
                      "'binary_crossentropy' if you only have 2 classes.", SyntaxWarning, stacklevel=2)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        y_pred = _F().softmax(y_pred, dim=axis)
    p = (y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(EPS, 1.0 - EPS)
    return ((1.0 - p) ** gamma * alpha * (-y_true * p.log())).sum(dim=axis)


def dice(y_true, y_pred, axis=None):
    """``1 - 2 |y_true * y_pred| / (|y_true| + |y_pred|)``, sums over ``axis`` (all axes: one value)."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred).to(y_pred.dtype)
    overlap = (y_true * y_pred).sum(dim=axis)
    return 1 - 2.0 * overlap / (y_true.sum(dim=axis) + y_pred.sum(dim=axis) + backend.epsilon())


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha FP + beta FN)`` with soft counts summed over ``axis`` (as Keras 3 writes it:
    its FP term counts the labels the predictions miss, its FN term the predictions off the labels)."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred).to(y_pred.dtype)
    tp = (y_true * y_pred).sum(dim=axis)
    fp = ((1 - y_pred) * y_true).sum(dim=axis)
    fn = (y_pred * (1 - y_true)).sum(dim=axis)
    return 1 - tp / (tp + fp * alpha + fn * beta + backend.epsilon())


def ctc(y_true, y_pred):
    """CTC loss of logits ``y_pred`` (batch, frames, classes) against labels ``y_true`` (batch,
    max_length) padded with 0, which is also the blank; every frame counts (Keras's ``ctc``)."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred)
    if y_true.ndim != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in integer "
            f"format. Received: y_true.shape={tuple(y_true.shape)}"
        )
    if y_pred.ndim != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, num_classes)`. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    from . import ops

    batch, frames = y_pred.shape[0], y_pred.shape[1]
    label_length = (y_true != 0).sum(-1)
    input_length = nerve.full((batch,), frames, dtype=nerve.int64, device=y_pred.device)
    return ops.ctc_loss(y_true, y_pred, label_length, input_length, mask_index=0)


def _sparse_ids(y_true, y_pred):
    """Class ids as an int64 tensor, a last axis of 1 dropped."""
    y_true = _as_tensor(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true.long()


def _valid_ids(ids, ignore_class):
    """A 0/1 tensor: 1 where the class id is not ``ignore_class`` (Keras's mask on the loss values)."""
    return nerve.Tensor._make(ids._data != ignore_class, ids.device)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-example binary cross-entropy, averaged over the last axis."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true.unsqueeze(-1)
    y_true = y_true.to(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    F = _F()
    if from_logits:
        out = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        out = F.binary_cross_entropy(y_pred.clamp(EPS, 1.0 - EPS), y_true, reduction="none")
    return out.mean(dim=-1)


def _match(y_true, y_pred):
    y_true = _as_tensor(y_true, y_pred)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true.unsqueeze(-1)
    return y_true.to(y_pred.dtype)


def mean_squared_error(y_true, y_pred):
    """Per-example mean of squared errors over the last axis."""
    y_pred = _pred_tensor(y_pred)
    return _F().mse_loss(y_pred, _match(y_true, y_pred), reduction="none").mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    """Per-example mean of absolute errors over the last axis."""
    y_pred = _pred_tensor(y_pred)
    return _F().l1_loss(y_pred, _match(y_true, y_pred), reduction="none").mean(dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """Per-example ``100 * mean(|(y_true - y_pred) / y_true|)`` over the last axis (|y_true| at
    least 1e-7, as Keras)."""
    y_pred = _pred_tensor(y_pred)
    y_true, y_pred = _same_rank(_as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)
    return ((y_true - y_pred) / y_true.abs().clamp(min=EPS)).abs().mean(dim=-1) * 100.0


def mean_squared_logarithmic_error(y_true, y_pred):
    """Per-example mean of ``(log(1 + y_pred) - log(1 + y_true)) ** 2`` (both at least 1e-7, as Keras)."""
    y_pred = _pred_tensor(y_pred)
    y_true, y_pred = _same_rank(_as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)
    first = (y_pred.clamp(min=EPS) + 1.0).log()
    second = (y_true.clamp(min=EPS) + 1.0).log()
    return ((first - second) ** 2).mean(dim=-1)


def _to_hinge_labels(y_true):
    """Keras's labels for the hinges: 0/1 labels become -1/1, any others stay as they are."""
    data = y_true._data
    binary = bool(((data == 0) | (data == 1)).all())
    return y_true * 2.0 - 1.0 if binary else y_true


def _hinge_margin(y_true, y_pred):
    # no rank matching, as Keras: labels (n,) against predictions (n, 1) broadcast to (n, n)
    y_pred = _pred_tensor(y_pred)
    y_true = _to_hinge_labels(_as_tensor(y_true, y_pred).to(y_pred.dtype))
    return (1.0 - y_true * y_pred).clamp(min=0.0)


def hinge(y_true, y_pred):
    """Per-example mean of ``max(1 - y_true * y_pred, 0)`` (0/1 labels taken as -1/1)."""
    return _hinge_margin(y_true, y_pred).mean(dim=-1)


def squared_hinge(y_true, y_pred):
    """Per-example mean of ``max(1 - y_true * y_pred, 0) ** 2`` (0/1 labels taken as -1/1)."""
    return (_hinge_margin(y_true, y_pred) ** 2).mean(dim=-1)


def categorical_hinge(y_true, y_pred):
    """Per-example ``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` (one-hot ``y_true``)."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred).to(y_pred.dtype)
    pos = (y_true * y_pred).sum(dim=-1)
    neg = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return (neg - pos + 1.0).clamp(min=0.0)


def _l2_normalize(x, axis):
    """Keras's ``ops.normalize``: ``x * min(rsqrt(sum(x ** 2)), 1 / eps)``."""
    inv = (x * x).sum(dim=axis, keepdim=True).rsqrt().clamp(max=1.0 / backend.epsilon())
    return x * inv


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-example negative cosine similarity along ``axis`` (-1 for vectors pointing the same way)."""
    y_pred = _pred_tensor(y_pred)
    y_true, y_pred = _same_rank(_as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)
    return -(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(dim=axis)


def log_cosh(y_true, y_pred):
    """Per-example mean of ``log(cosh(y_pred - y_true))`` (as ``x + softplus(-2x) - log 2``, stable)."""
    y_pred = _pred_tensor(y_pred)
    y_true, y_pred = _same_rank(_as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)
    x = y_pred - y_true
    return (x + _F().softplus(x * -2.0) - math.log(2.0)).mean(dim=-1)


def kl_divergence(y_true, y_pred):
    """Per-example ``sum(y_true * log(y_true / y_pred))``, both clipped to [1e-7, 1]."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred).to(y_pred.dtype).clamp(backend.epsilon(), 1.0)
    y_pred = y_pred.clamp(backend.epsilon(), 1.0)
    return (y_true * (y_true / y_pred).log()).sum(dim=-1)


def poisson(y_true, y_pred):
    """Per-example mean of ``y_pred - y_true * log(y_pred + 1e-7)``."""
    y_pred = _pred_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred).to(y_pred.dtype)
    return (y_pred - y_true * (y_pred + backend.epsilon()).log()).mean(dim=-1)


def huber(y_true, y_pred, delta=1.0):
    """Per-example mean of the Huber loss: squared below ``delta``, linear above."""
    y_pred = _pred_tensor(y_pred)
    y_true, y_pred = _same_rank(_as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)
    err = (y_pred - y_true).abs()
    quad = err.clamp(max=delta)
    return (0.5 * quad * quad + delta * (err - quad)).mean(dim=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


_layer = None  # keras.layers.layer, imported on first use (it imports this module)


def _mask_of(y_pred):
    """The Keras mask on the model's output (a sequence output after Embedding(mask_zero=True)), or None."""
    global _layer
    if _layer is None:  # (an import statement costs 0.3 us even when done: it runs every step)
        from .layers import layer

        _layer = layer
    return _layer.get_keras_mask(y_pred) if _layer._masks else None


def _same_rank(x1, x2, expand_rank_1=True):
    """Keras's ``squeeze_or_expand_to_same_rank`` (tensors or arrays): drop a trailing axis of 1 where
    the ranks differ by one, or, against a 1-D other (with ``expand_rank_1``), add one to it."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2.reshape(tuple(x2.shape) + (1,))
        else:
            x1 = x1.reshape(tuple(x1.shape[:-1]))
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1.reshape(tuple(x1.shape) + (1,))
        else:
            x2 = x2.reshape(tuple(x2.shape[:-1]))
    return x1, x2


def _apply_mask(sample_weight, mask, values, reduction):
    """Keras's apply_mask: masked entries weigh 0; for a mean, the others weigh total / valid, so the
    loss is the mean over the unmasked entries."""
    m = mask.to(values.dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = m.sum()
        scale = m.numel() / valid if float(valid.item()) else 0.0
        m = m * scale
    if sample_weight is None:
        return m
    w = _as_tensor(sample_weight, values).to(values.dtype)
    m, w = _same_rank(m, w)
    return w * m


class Loss:
    """A loss object: ``loss(y_true, y_pred)`` is the batch mean of the per-example losses."""

    fn = None

    def __init__(self, name=None, reduction="sum_over_batch_size", **kwargs):
        self.name = name or _SNAKE.get(type(self).__name__) or backend.snake_case(type(self).__name__)
        self.reduction = reduction
        self.kwargs = kwargs

    def call(self, y_true, y_pred):
        # as Keras's LossFunctionWrapper: labels (n,) against predictions (n, 1) become (n, 1) first
        y_true, y_pred = _same_rank(_as_tensor(y_true, y_pred), y_pred)
        return type(self).fn(y_true, y_pred, **self.kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _pred_tensor(y_pred)
        mask = _mask_of(y_pred)
        out = self.call(y_true, y_pred)
        out_mask = self._values_mask(y_true, y_pred)
        if out_mask is not None:
            mask = out_mask if mask is None else mask.to(out.dtype) * out_mask.to(out.dtype)
        if mask is not None:
            sample_weight = _apply_mask(sample_weight, mask, out, self.reduction)
        if sample_weight is not None:
            w = _as_tensor(sample_weight, out).to(out.dtype)
            out, w = _same_rank(out, w)
            out = out * w
        if self.reduction == "none" or self.reduction is None:
            return out
        if self.reduction == "sum":
            return out.sum()
        return out.mean()

    def _values_mask(self, y_true, y_pred):
        """A mask that the loss function puts on its values (Keras's mask on ``call``'s output), or None."""
        return None

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, **self.kwargs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _one_hot_ids(y_true):
    """Class ids when ``y_true`` is exactly one-hot (then the fused class-id path is the same math)."""
    arr = y_true._data if isinstance(y_true, nerve.Tensor) else y_true
    if getattr(arr, "ndim", 0) != 2 or not arr.shape[0]:
        return None
    # exactly one nonzero per row (n nonzeros, and every row's max is 1) means one-hot
    xp = nerve.backend.device_of(arr).xp
    if int(xp.count_nonzero(arr)) != arr.shape[0] or float(arr.max(axis=1).min()) != 1.0:
        return None
    return arr.argmax(axis=1)


def _is_one_hot(arr) -> bool:
    """Whether a whole (n, k) target array is exactly one-hot (fit checks it once, not per batch)."""
    if getattr(arr, "ndim", 0) != 2 or not arr.shape[0]:
        return False
    xp = nerve.backend.device_of(arr).xp
    n = arr.shape[0]
    if int(xp.count_nonzero(arr)) != n:  # n nonzeros, and each row's largest is a 1: one per row
        return False
    return bool((arr[xp.arange(n), arr.argmax(axis=1)] == 1).all())


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy"):
        super().__init__(name, reduction, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _pred_tensor(y_pred)
        kw = self.kwargs
        if (sample_weight is None and self.reduction == "sum_over_batch_size" and not kw["label_smoothing"]
                and kw["axis"] in (-1, 1) and y_pred.ndim == 2 and _mask_of(y_pred) is None):
            logits = _logits(y_pred, kw["from_logits"])
            known = self.__dict__.get("one_hot_known")  # fit checks the whole target array once
            if logits is not None and known is not False:
                t = _as_tensor(y_true, y_pred)
                ids = t._data.argmax(axis=1) if known else _one_hot_ids(t)
                if ids is not None:  # one fused log-softmax + NLL op instead of six
                    ids = nerve.Tensor._make(ids, logits.device)
                    if kw["from_logits"]:
                        return _F().cross_entropy(logits, ids)
                    return _clipped_ce(logits, ids, in_range=True)
        return super().__call__(y_true, y_pred, sample_weight)


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(name, reduction, from_logits=from_logits)
        if ignore_class is not None:  # (kept out of kwargs when unset: the saved config stays as it was)
            self.kwargs["ignore_class"] = ignore_class

    def _values_mask(self, y_true, y_pred):
        ignore = self.kwargs.get("ignore_class")
        return None if ignore is None else _valid_ids(_sparse_ids(y_true, y_pred), ignore)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _pred_tensor(y_pred)
        if sample_weight is None and self.reduction == "sum_over_batch_size" and y_pred.ndim == 2 and \
                _mask_of(y_pred) is None and self.kwargs.get("ignore_class") is None:
            logits = _logits(y_pred, self.kwargs["from_logits"])
            if logits is not None:
                t = _as_tensor(y_true, y_pred)
                if t.ndim == 2 and t.shape[-1] == 1:
                    t = t.reshape(-1)
                if t.dtype is not nerve.int64:
                    t = t.long()
                if self.kwargs["from_logits"]:
                    return _F().cross_entropy(logits, t)
                return _clipped_ce(logits, t)
        return super().__call__(y_true, y_pred, sample_weight)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy"):
        super().__init__(name, reduction, from_logits=from_logits, label_smoothing=label_smoothing)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(name, reduction)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(name, reduction)


class MeanAbsolutePercentageError(Loss):
    fn = staticmethod(mean_absolute_percentage_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error"):
        super().__init__(name, reduction)


class MeanSquaredLogarithmicError(Loss):
    fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error"):
        super().__init__(name, reduction)


class Hinge(Loss):
    fn = staticmethod(hinge)

    def __init__(self, reduction="sum_over_batch_size", name="hinge"):
        super().__init__(name, reduction)


class SquaredHinge(Loss):
    fn = staticmethod(squared_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge"):
        super().__init__(name, reduction)


class CategoricalHinge(Loss):
    fn = staticmethod(categorical_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(name, reduction)


class CosineSimilarity(Loss):
    fn = staticmethod(cosine_similarity)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(name, reduction, axis=axis)


class LogCosh(Loss):
    fn = staticmethod(log_cosh)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(name, reduction)


class KLDivergence(Loss):
    fn = staticmethod(kl_divergence)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(name, reduction)


class Poisson(Loss):
    fn = staticmethod(poisson)

    def __init__(self, reduction="sum_over_batch_size", name="poisson"):
        super().__init__(name, reduction)


class Huber(Loss):
    fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(name, reduction, delta=delta)


class BinaryFocalCrossentropy(Loss):
    fn = staticmethod(binary_focal_crossentropy)

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy"):
        super().__init__(name, reduction, apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(Loss):
    fn = staticmethod(categorical_focal_crossentropy)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy"):
        super().__init__(name, reduction, alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class Dice(Loss):
    fn = staticmethod(dice)

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None):
        super().__init__(name, reduction, axis=axis)


class Tversky(Loss):
    fn = staticmethod(tversky)

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None):
        super().__init__(name, reduction, alpha=alpha, beta=beta, axis=axis)


class CTC(Loss):
    fn = staticmethod(ctc)

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(name, reduction)

    def call(self, y_true, y_pred):  # (no rank matching: the labels are (batch, length), the logits 3-D)
        return ctc(y_true, y_pred)


class LossFunctionWrapper(Loss):
    """A loss object around a function ``fn(y_true, y_pred)`` returning per-example values."""

    def __init__(self, fn, name=None, reduction="sum_over_batch_size", **kwargs):
        self._fn = fn
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction, **kwargs)

    def call(self, y_true, y_pred):
        y_true, y_pred = _same_rank(_as_tensor(y_true, y_pred), y_pred)
        return self._fn(y_true, y_pred, **self.kwargs)


_SNAKE = {
    "Loss": "loss", "LossFunctionWrapper": "loss", "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "BinaryCrossentropy": "binary_crossentropy", "MeanSquaredError": "mean_squared_error",
    "MeanAbsoluteError": "mean_absolute_error", "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
}

_BY_NAME = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity, "log_cosh": LogCosh, "kl_divergence": KLDivergence,
    "kld": KLDivergence, "poisson": Poisson, "huber": Huber, "bce": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy, "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "dice": Dice, "tversky": Tversky, "ctc": CTC,
}
_CLASSES = {c.__name__: c for c in set(_BY_NAME.values())}


def get(identifier):
    """As Keras's: the loss function for a function's name (``'mse'``, ``'categorical_crossentropy'``:
    per-example values), a Loss for a class name (``'MeanSquaredError'``) or a config, a Loss or a
    function as given."""
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier].fn
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    return to_loss(identifier)


def to_loss(identifier):
    """A loss object from a name (``'categorical_crossentropy'``), a Loss, a class or a function
    (what ``compile`` trains on)."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Could not interpret loss identifier: {identifier!r}. Known losses: "
                f"{', '.join(sorted(_BY_NAME))}"
            )
        return cls()
    if isinstance(identifier, dict):
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        for name, cls in _BY_NAME.items():
            if cls.fn is identifier or globals().get(name) is identifier:
                return cls()
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss) -> dict:
    if isinstance(loss, LossFunctionWrapper) or type(loss).__name__ not in _CLASSES:
        raise TypeError(f"cannot save the custom loss {loss!r}")
    return {"class_name": type(loss).__name__, "config": loss.get_config()}
