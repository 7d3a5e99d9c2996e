"""Keras's metrics: running values over an epoch (``update_state`` / ``result`` / ``reset_state``).

Metrics count on the arrays of the batch's predictions (no graph, no gradient); the one sum
per batch is the only value that leaves the device (the accuracies' counts do not even leave
it: they stay device scalars until ``result()`` reads them). ``'accuracy'`` is resolved as Keras does
it, from the shapes of the first batch: binary when the model has one output unit, sparse
when the labels have one axis fewer (or a last axis of 1), else categorical.
"""

from __future__ import annotations

import warnings

import numpy as np

import nerve
from nerve.backend import move

from . import backend, losses


def _array(x, xp=None):
    if isinstance(x, nerve.Tensor):
        return x._data
    if hasattr(x, "value") and isinstance(getattr(x, "value"), nerve.Tensor):
        return x.value._data
    arr = np.asarray(x)
    return arr if xp is None or xp is np else move(arr, backend.device())


def _xp(a):
    return np if isinstance(a, np.ndarray) else nerve.backend.device_of(a).xp


def _hits(hit):
    """How many entries of a boolean array are true: an int, or a device scalar left unread on a GPU."""
    return np.count_nonzero(hit) if type(hit) is np.ndarray else hit.sum()


class Metric:
    """Base class: subclasses implement ``update_state``; ``result()`` gives the running value.

    A metric of one's own (as Keras's) keeps its state in variables made with ``add_variable``
    (or ``add_weight``); the default ``reset_state`` sets them back to zeros. The built-in ones
    keep a running ``total`` and ``count``.
    """

    # which way is better, as Keras's: "up", "down" or None (unknown); the callbacks' mode="auto" reads it
    _direction: str | None = None

    def __init__(self, name=None, dtype=None):
        # as Keras's ``auto_name``: the second ``Precision()`` of a session is ``precision_1``
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self._variables: list = []
        self.total, self.count = 0.0, 0.0

    def reset_state(self) -> None:
        variables = self.__dict__.get("_variables", ())
        for v in variables:
            v.assign(np.zeros(v.shape, dtype=v.dtype))
        # the built-ins' running sums, unless a metric of one's own keeps a variable by that name
        # (``self.total = self.add_variable(...)``, as Keras's Mean does)
        for name in ("total", "count"):
            if not any(v is self.__dict__.get(name) for v in variables):
                setattr(self, name, 0.0)

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A state variable of this metric (not trainable), as Keras's ``Metric.add_variable``."""
        from .variables import Variable

        var = Variable(initializer if initializer is not None else "zeros", tuple(shape), dtype, trainable=False,
                       name=name or "variable")
        var.path = f"{self.name}/{var.name}"
        self._variables.append(var)
        return var

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        """The older name of ``add_variable``."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list:
        return list(self.__dict__.get("_variables", ()))

    def _add(self, values, sample_weight=None) -> None:
        xp = _xp(values)
        if sample_weight is not None:
            w = xp.asarray(_array(sample_weight, xp), dtype=values.dtype)
            if w.ndim == values.ndim + 1 and w.shape[-1] == 1:
                w = w.reshape(w.shape[:-1])
            if w.ndim <= values.ndim and w.shape == values.shape[:w.ndim]:
                # per example, or per step (a mask): the same weight over the axes after
                w = w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
            else:
                w = w.reshape(values.shape[:1] + (1,) * (values.ndim - 1))
            w = xp.broadcast_to(w, values.shape)
            self.total += float((values * w).sum())
            self.count += float(w.sum())
        else:
            self.total += float(values.sum())
            self.count += values.size

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        raise NotImplementedError

    def result(self):
        # total may be a device scalar (counts stay on the GPU until read): float() reads it
        return _result(float(self.total) / self.count if self.count else 0.0)

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values)``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)

    def add_scalar(self, value: float, weight: float = 1.0) -> None:
        """Add one value with a weight (the loss of a batch of ``weight`` examples)."""
        self.total += float(value) * weight
        self.count += weight

    def update_state(self, values, sample_weight=None) -> None:
        arr = _array(values)
        # (kept in shape: weights per row or per element broadcast over the values, as Keras's)
        self._add(_xp(arr).asarray(arr, dtype="float64") if np.ndim(arr) else np.asarray([float(arr)]), sample_weight)


class Accuracy(Metric):
    """How often predictions equal labels exactly."""

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        self._add((t.reshape(p.shape) == p).astype("float32"), sample_weight)


class BinaryAccuracy(Metric):
    """How often ``y_pred > threshold`` matches the 0/1 label."""

    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        if t.ndim == p.ndim - 1:
            t = t.reshape(t.shape + (1,))
        hit = ((p > self.threshold) == (t > 0.5)).astype("float32")
        self._add(hit, sample_weight)  # (per element: weights may be per example or per element)

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """How often the arg-max of the prediction is the arg-max of the one-hot label."""

    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = y_pred._data if type(y_pred) is nerve.Tensor else _array(y_pred)
        t = y_true._data if type(y_true) is nerve.Tensor else _array(y_true, _xp(p))
        hit = p.argmax(axis=-1) == t.argmax(axis=-1)
        if sample_weight is None:
            self.total += _hits(hit)
            self.count += hit.size
        else:
            self._add(hit.astype("float32"), sample_weight)


class SparseCategoricalAccuracy(Metric):
    """How often the arg-max of the prediction is the integer label."""

    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        if t.ndim == p.ndim and t.shape[-1] == 1:
            t = t.reshape(t.shape[:-1])
        hit = p.argmax(axis=-1) == t
        if sample_weight is None:
            self.total += _hits(hit)
            self.count += hit.size
        else:
            self._add(hit.astype("float32"), sample_weight)


def _in_top_k(p, labels, k):
    xp = _xp(p)
    target = xp.take_along_axis(p, labels.reshape(-1, 1).astype("int64"), axis=-1)
    return ((p > target).sum(axis=-1) < k).astype("float32")


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot label's class is among the ``k`` highest predictions."""

    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        self.k = k
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        self._add(_in_top_k(p.reshape(-1, p.shape[-1]), t.reshape(-1, t.shape[-1]).argmax(axis=-1), self.k),
                  sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(Metric):
    """How often the integer label is among the ``k`` highest predictions (with ``from_sorted_ids``,
    among the first ``k`` class ids of each row of ``y_pred``)."""

    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        self.k, self.from_sorted_ids = k, from_sorted_ids
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self.from_sorted_ids:
            hit = sparse_top_k_categorical_accuracy(y_true, y_pred, self.k, from_sorted_ids=True)
            self._add(_array(hit).reshape(-1), sample_weight)
            return
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        self._add(_in_top_k(p.reshape(-1, p.shape[-1]), t.reshape(-1), self.k), sample_weight)

    def get_config(self) -> dict:
        config = {**super().get_config(), "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


class _LossMetric(Metric):
    """The running mean of a loss function's per-example values (``fn(y_true, y_pred, **kwargs)``)."""

    _direction = "down"

    fn = None
    _fn_kwargs: dict = {}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        fn = self.__dict__.get("_fn") or type(self).fn
        with nerve.no_grad():
            pred = y_pred if isinstance(y_pred, nerve.Tensor) else nerve.tensor(np.asarray(y_pred, dtype="float32"))
            values = fn(y_true, pred, **self._fn_kwargs)
        self._add(_array(values), sample_weight)  # (a function of one's own may give a NumPy array)


class MeanMetricWrapper(_LossMetric):
    """The running (weighted) mean of ``fn(y_true, y_pred, **kwargs)``, one value per example.

    Args:
        fn: a function of ``(y_true, y_pred)`` giving per-example values (a loss function).
        name: the metric's name (default ``mean_metric_wrapper``).
        **kwargs: passed on to ``fn``.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name, dtype)
        self._fn, self._fn_kwargs = fn, kwargs
        # as Keras's: a loss is to be minimized; a function of one's own has no known direction
        if not (isinstance(fn, losses.Loss) or getattr(fn, "__module__", None) == losses.__name__):
            self._direction = None

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": getattr(self._fn, "__name__", self._fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        fn = config.get("fn")
        if isinstance(fn, dict):  # Keras's serialized function: {"class_name": "function", "config": "huber", ...}
            fn = fn.get("config")
        if isinstance(fn, str):  # a function of keras.metrics or keras.losses, by name
            config["fn"] = globals().get(fn) if callable(globals().get(fn)) else getattr(losses, fn)
        return cls(**config)


class MeanSquaredError(_LossMetric):
    fn = staticmethod(losses.mean_squared_error)

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name, dtype)


class MeanAbsoluteError(_LossMetric):
    fn = staticmethod(losses.mean_absolute_error)

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name, dtype)


class MeanAbsolutePercentageError(_LossMetric):
    fn = staticmethod(losses.mean_absolute_percentage_error)

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name, dtype)


class CategoricalCrossentropy(_LossMetric):
    fn = staticmethod(losses.categorical_crossentropy)

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(name, dtype)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
        self._fn_kwargs = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


class SparseCategoricalCrossentropy(_LossMetric):
    fn = staticmethod(losses.sparse_categorical_crossentropy)

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(name, dtype)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis
        self._fn_kwargs = {"from_logits": from_logits, "ignore_class": ignore_class, "axis": axis}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self.ignore_class is not None and sample_weight is not None:
            # as Keras: the ignored labels' zeros count in an unweighted mean, but weigh 0 in a weighted one
            p = _array(y_pred)
            t = _array(y_true, _xp(p))
            if t.ndim == p.ndim and t.shape[-1] == 1:
                t = t.reshape(t.shape[:-1])
            w = _xp(p).asarray(_array(sample_weight, _xp(p)), dtype="float32")
            w, valid = _same_rank(w, (t != self.ignore_class).astype("float32"), expand_rank_1=True)
            sample_weight = w * valid
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


class BinaryCrossentropy(_LossMetric):
    fn = staticmethod(losses.binary_crossentropy)

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(name, dtype)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing
        self._fn_kwargs = {"from_logits": from_logits, "label_smoothing": label_smoothing}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredLogarithmicError(_LossMetric):
    fn = staticmethod(losses.mean_squared_logarithmic_error)

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name, dtype)


class Hinge(_LossMetric):
    fn = staticmethod(losses.hinge)

    def __init__(self, name="hinge", dtype=None):
        super().__init__(name, dtype)


class SquaredHinge(_LossMetric):
    fn = staticmethod(losses.squared_hinge)

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(name, dtype)


class CategoricalHinge(_LossMetric):
    fn = staticmethod(losses.categorical_hinge)

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(name, dtype)


class KLDivergence(_LossMetric):
    fn = staticmethod(losses.kl_divergence)

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(name, dtype)


class Poisson(_LossMetric):
    fn = staticmethod(losses.poisson)

    def __init__(self, name="poisson", dtype=None):
        super().__init__(name, dtype)


class LogCoshError(_LossMetric):
    fn = staticmethod(losses.log_cosh)

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(name, dtype)


def _cosine_similarity(y_true, y_pred, axis=-1):
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


class CosineSimilarity(_LossMetric):
    """The mean cosine similarity of labels and predictions along ``axis`` (1: the same direction)."""

    _direction = "up"

    fn = staticmethod(_cosine_similarity)

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(name, dtype)
        self._fn_kwargs = {"axis": axis}  # (Keras's get_config leaves the axis out too)


def _pair(y_true, y_pred):
    """Labels and predictions as float32 tensors of the same rank (Keras's squeeze_or_expand_to_same_rank)."""
    y_pred = losses._pred_tensor(y_pred)
    return losses._same_rank(losses._as_tensor(y_true, y_pred).to(y_pred.dtype), y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Per-example Pearson correlation of labels and predictions along ``axis``."""
    y_true, y_pred = _pair(y_true, y_pred)

    def standardize(x):
        x = x - x.mean(dim=axis, keepdim=True)
        return x / (x * x).mean(dim=axis, keepdim=True).sqrt()

    return (standardize(y_true) * standardize(y_pred)).mean(dim=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Per-example concordance correlation along ``axis``, written as Keras 3 writes it (its covariance
    centres the labels on the predictions' mean)."""
    y_true, y_pred = _pair(y_true, y_pred)
    true_mean, pred_mean = y_true.mean(dim=axis, keepdim=True), y_pred.mean(dim=axis, keepdim=True)

    def var(x):
        x = x - x.mean(dim=axis, keepdim=True)
        return (x * x).mean(dim=axis, keepdim=True)

    covar = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = var(y_true - true_mean) + var(y_pred - pred_mean) + (true_mean - pred_mean) ** 2
    return (covar * 2 / (norm + backend.epsilon())).mean(dim=axis)


class PearsonCorrelation(_LossMetric):
    """The mean over examples of the Pearson correlation along ``axis``."""

    _direction = "up"

    fn = staticmethod(pearson_correlation)

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(name, dtype)
        self.axis, self._fn_kwargs = axis, {"axis": axis}

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class ConcordanceCorrelation(_LossMetric):
    """The mean over examples of the concordance correlation along ``axis``."""

    _direction = "up"

    fn = staticmethod(concordance_correlation)

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(name, dtype)
        self.axis, self._fn_kwargs = axis, {"axis": axis}

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class RootMeanSquaredError(Metric):
    """The square root of the running (weighted) mean of the squared errors."""

    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred).astype("float32", copy=False)
        t = _array(y_true, _xp(p)).astype("float32", copy=False)
        t, p = _same_rank(t, p, expand_rank_1=False)
        err = (p - t) ** 2
        self._add(err, sample_weight)

    def result(self):
        return _result(np.sqrt(float(self.total) / self.count) if self.count else 0.0)


class Sum(Metric):
    """The (weighted) sum of the values given to ``update_state(values)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, values, sample_weight=None) -> None:
        arr = _array(values)
        self._add(_xp(arr).asarray(arr, dtype="float64") if np.ndim(arr) else np.asarray([float(arr)]), sample_weight)

    def result(self):
        return _result(float(self.total))


# -- confusion-matrix metrics ------------------------------------------------------------------
#
# Each counts, for every threshold t, the (weighted) examples whose prediction is > t, split by
# label, as Keras's ``metrics_utils.update_confusion_matrix_variables``. No loop over thresholds:
# each prediction falls in one slot (how many thresholds lie below it), one ``bincount`` sums the
# weights per slot, and a reversed cumulative sum turns slots into counts per threshold. With
# evenly spaced thresholds (AUC's 200) the slot is Keras's bucket ``ceil(p * (T - 1))``, so that
# the values on a bucket's edge land where Keras puts them.

_NEG_INF = -1e10


_same_rank = losses._same_rank


def _evenly_spaced(thresholds) -> bool:
    """Keras's test for the bucket path: three or more thresholds at ``i / (T - 1)``."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n, dtype="float32") / (n - 1), atol=backend.epsilon()))


def _parse_thresholds(thresholds, default):
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    bad = [t for t in values if t is None or t < 0 or t > 1]
    if bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return values


def _confusion(y_true, y_pred, thresholds, dev, sample_weight=None, top_k=None, class_id=None,
               multi_label=False, label_weights=None, evenly=False):
    """Weighted (tp, fp, tn, fn) per threshold, float32 arrays on ``dev``: shape (T,), or (T, labels)
    with ``multi_label``. A prediction counts as positive at threshold t when it is > t."""
    p = move(_array(y_pred), dev).astype("float32", copy=False)
    xp = _xp(p)
    t = move(_array(y_true), dev).astype("float32", copy=False)
    p, t = _same_rank(p, t)
    w = None
    if sample_weight is not None:
        w = move(_array(sample_weight), dev).astype("float32", copy=False)
        w = w.reshape(w.shape + (1,))
        _, w = _same_rank(t, w, expand_rank_1=False)
    if top_k is not None:
        # the k highest of the last axis keep their value, the rest fall to -1e10
        rank = xp.argsort(xp.argsort(-p, axis=-1), axis=-1)
        p = xp.where(rank < top_k, p, xp.float32(_NEG_INF))
    if class_id is not None:
        if p.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {p.shape}")
        t, p = t[..., class_id, None], p[..., class_id, None]
    weights = xp.ones(p.shape, "float32") if w is None else xp.broadcast_to(w, p.shape).astype("float32")
    if label_weights is not None and not multi_label:
        weights = weights * xp.broadcast_to(xp.asarray(label_weights, dtype="float32"), p.shape)
    thr = np.asarray(thresholds, dtype="float32")
    n = len(thr)
    if evenly:
        p = xp.clip(p, 0.0, 1.0)
        bucket = xp.ceil(p * xp.float32(n - 1)) - 1
        if thr[0] < 0 or thr[-1] > 1:  # AUC's end thresholds -eps and 1 + eps hold 0 and 1
            bucket = xp.maximum(bucket, 0)
        slot = bucket.astype("int64") + 1  # 0: above no threshold
    else:
        order = np.argsort(thr, kind="stable")
        slot = xp.searchsorted(xp.asarray(thr[order]), p, side="left")  # thresholds strictly below p
    positive = (t != 0).astype("float32")
    labels = p.shape[-1] if multi_label else 1
    slot = slot.reshape(-1, labels) + (n + 1) * xp.arange(labels)
    pos = (positive * weights).reshape(-1)
    neg = ((1 - positive) * weights).reshape(-1)

    def per_threshold(values):
        hist = xp.bincount(slot.reshape(-1), weights=values, minlength=(n + 1) * labels)
        hist = hist.reshape(labels, n + 1)[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:].T.astype("float32")
        return hist if multi_label else hist[:, 0]

    tp, fp = per_threshold(pos), per_threshold(neg)
    if not evenly:
        back = xp.asarray(np.argsort(order))
        tp, fp = tp[back], fp[back]
    total_pos = pos.reshape(-1, labels).sum(axis=0, dtype="float32")
    total_neg = neg.reshape(-1, labels).sum(axis=0, dtype="float32")
    if not multi_label:
        total_pos, total_neg = total_pos[0], total_neg[0]
    return tp, fp, total_neg - fp, total_pos - tp


def _ratio(a, b):
    """a / b, 0 where b is 0 (Keras's ``divide_no_nan``)."""
    xp = _xp(a)
    safe = xp.where(b == 0, xp.ones_like(b), b)
    return xp.where(b == 0, xp.zeros_like(a), a / safe)


def _result(value):
    """A built-in metric's result as Keras (on torch) gives it: a float32 tensor, 0-d for one number
    (``float()``, ``.numpy()``, ``f"{r:.4f}"`` all work on it), one value per threshold otherwise."""
    return nerve.tensor(value, dtype=nerve.float32)


def _read(values, scalar: bool):
    """A result of the device's counts: a 0-d tensor, or one value per threshold (``_result``)."""
    host = nerve.backend.to_numpy(values)
    return _result(float(host.reshape(-1)[0]) if scalar else host)


_COUNT_NAMES = {"tp": "true_positives", "fp": "false_positives", "tn": "true_negatives", "fn": "false_negatives"}


class _ConfusionMetric(Metric):
    """Counts of the confusion matrix per threshold, kept in the metric's variables on the device."""

    _counts: tuple = ()  # which of 'tp', 'fp', 'tn', 'fn' the metric keeps, in Keras's order

    def _make_counts(self, shape) -> None:
        for key in self._counts:
            name = _COUNT_NAMES[key]
            setattr(self, name, self.add_variable(shape, "zeros", "float32", name=name))

    def _count(self, y_true, y_pred, sample_weight, **kw) -> None:
        dev = getattr(self, _COUNT_NAMES[self._counts[0]]).value.device
        tp, fp, tn, fn = _confusion(y_true, y_pred, self.thresholds, dev, sample_weight, evenly=self._evenly, **kw)
        got = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
        for key in self._counts:
            self._data(_COUNT_NAMES[key])[...] += got[key]

    def _data(self, name):
        return getattr(self, name).value._data


class _ConditionCount(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name, dtype)
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds, 0.5)
        self._evenly = _evenly_spaced(self.thresholds)
        self.accumulator = self.add_variable((len(self.thresholds),), "zeros", "float32", name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        dev = self.accumulator.value.device
        counts = _confusion(y_true, y_pred, self.thresholds, dev, sample_weight, evenly=self._evenly)
        self.accumulator.value._data += counts[("tp", "fp", "tn", "fn").index(self._counts[0])]

    def result(self):
        return _read(self.accumulator.value._data, len(self.thresholds) == 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """The (weighted) number of positive examples predicted above the threshold(s)."""

    _counts = ("tp",)


class FalsePositives(_ConditionCount):
    """The (weighted) number of negative examples predicted above the threshold(s)."""

    _counts = ("fp",)


class TrueNegatives(_ConditionCount):
    """The (weighted) number of negative examples predicted at or below the threshold(s)."""

    _counts = ("tn",)


class FalseNegatives(_ConditionCount):
    """The (weighted) number of positive examples predicted at or below the threshold(s)."""

    _counts = ("fn",)


class _PrecisionRecall(_ConfusionMetric):
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _parse_thresholds(thresholds, 0.5 if top_k is None else _NEG_INF)
        self._evenly = _evenly_spaced(self.thresholds)
        self._make_counts((len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self._count(y_true, y_pred, sample_weight, top_k=self.top_k, class_id=self.class_id)

    def result(self):
        tp = self._data("true_positives")
        other = self._data(self._other)
        return _read(_ratio(tp, tp + other), len(self.thresholds) == 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp): how many of the predicted positives are positive.

    Args:
        thresholds: a float or list in [0, 1] (default 0.5; with ``top_k``, any value kept).
        top_k: count as predicted positive only the ``k`` highest scores of each example.
        class_id: score only this class (the last axis's index).
    """

    _counts, _other = ("tp", "fp"), "false_positives"


class Recall(_PrecisionRecall):
    """tp / (tp + fn): how many of the positives are predicted positive (arguments as Precision)."""

    _counts, _other = ("tp", "fn"), "false_negatives"


class _AtConstraint(_ConfusionMetric):
    """The best of one rate (``_best``) among the thresholds where another (``_bound``) reaches ``value``."""

    _direction = "up"

    _counts = ("tp", "fp", "tn", "fn")
    _arg = ""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self._arg}` must be in the range [0, 1]. Received: {self._arg}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}")
        super().__init__(name, dtype)
        setattr(self, self._arg, value)
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            self.thresholds = [0.0] + [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            self._evenly = True
        self._make_counts((len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self._count(y_true, y_pred, sample_weight, class_id=self.class_id)

    def _rates(self) -> dict:
        tp, fp, tn, fn = (self._data(n) for n in ("true_positives", "false_positives", "true_negatives",
                                                    "false_negatives"))
        return {"sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
                "precision": _ratio(tp, tp + fp)}

    def result(self):
        rates = self._rates()
        rates["recall"] = rates["sensitivity"]
        bound, best = rates[self._bound], rates[self._best]
        xp = _xp(best)
        return _read(xp.maximum(xp.where(bound >= self.value, best, xp.zeros_like(best)).max(), 0.0), True)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._arg: self.value}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) among the thresholds whose specificity is >= ``specificity``."""

    _arg, _bound, _best = "specificity", "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity among the thresholds whose sensitivity is >= ``sensitivity``."""

    _arg, _bound, _best = "sensitivity", "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """The best precision among the thresholds whose recall is >= ``recall``."""

    _arg, _bound, _best = "recall", "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall among the thresholds whose precision is >= ``precision``."""

    _arg, _bound, _best = "precision", "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


_CURVES = {"roc": "ROC", "ROC": "ROC", "pr": "PR", "PR": "PR", "prgain": "PRGAIN", "PRGAIN": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation", "majoring": "majoring",
               "Majoring": "majoring", "minoring": "minoring", "Minoring": "minoring"}


class AUC(_ConfusionMetric):
    """The area under the ROC or precision-recall curve, summed over ``num_thresholds`` thresholds.

    Args:
        num_thresholds: how many thresholds, evenly spaced over [0, 1] (ignored with ``thresholds``).
        curve: ``'ROC'``, ``'PR'`` or ``'PRGAIN'`` (precision-recall gain).
        summation_method: ``'interpolation'`` (the trapezoid rule; for PR, Davis & Goadrich's
            interpolation), ``'minoring'`` or ``'majoring'`` (lower or upper Riemann sums).
        thresholds: the thresholds themselves (in (0, 1); 0 - eps and 1 + eps are added).
        multi_label: one curve per label (the last axis), averaged (weighted by ``label_weights``).
        num_labels: the number of labels, to build the counts before the first batch.
        label_weights: a weight per label.
        from_logits: the predictions are logits (a sigmoid is applied first).
    """

    _direction = "up"

    _counts = ("tp", "fp", "tn", "fn")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        if summation_method not in _SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            thresholds = sorted(thresholds)
            evenly = _evenly_spaced(np.array([0.0] + thresholds + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        eps = backend.epsilon()
        self._thresholds = np.array([0.0 - eps] + thresholds + [1.0 + eps])
        self._evenly = evenly
        self.curve = _CURVES[curve]
        self.summation_method = _SUMMATIONS[summation_method]
        super().__init__(name, dtype)
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype="float32")
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("`num_labels` is needed only when `multi_label` is True.")
            self._build(None)

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    def _build(self, shape) -> None:
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {len(shape)}. "
                                 f"Full shape received for `y_pred`: {tuple(shape)}")
            self._num_labels = shape[1]
            self._make_counts((self.num_thresholds, shape[1]))
        else:
            self._make_counts((self.num_thresholds,))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if not self._built:
            self._build(tuple(np.shape(_array(y_pred))))
        if self._from_logits:
            p = _array(y_pred)
            p = 1 / (1 + _xp(p).exp(-p.astype("float32")))
            y_pred = p.astype("float32")
        self._count(y_true, y_pred, sample_weight, multi_label=self.multi_label,
                    label_weights=None if self.multi_label else self.label_weights)

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def _average(self, terms):
        """The area: the terms summed over thresholds (per label, then averaged with multi_label)."""
        xp = _xp(terms)
        by_label = terms.sum(axis=0)
        if not self.multi_label:
            return by_label
        if self.label_weights is None:
            return by_label.mean()
        lw = xp.asarray(self.label_weights)
        return _ratio((by_label * lw).sum(), lw.sum())

    def _interpolate_pr(self):
        """Davis & Goadrich's PR area: precision interpolated between thresholds, as Keras."""
        tp, fp, fn = self._data("true_positives"), self._data("false_positives"), self._data("false_negatives")
        xp = _xp(tp)
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _ratio(dtp, xp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = xp.where(both, _ratio(p[:-1], xp.maximum(p[1:], 0)), xp.ones_like(p[1:]))
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = xp.log(ratio)
        return self._average(_ratio(slope * (dtp + intercept * logs), xp.maximum(tp[1:] + fn[1:], 0)))

    def result(self):
        if not self._built:
            return _result(0.0)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _read(self._interpolate_pr(), True)
        tp, fp, tn, fn = (self._data(n) for n in ("true_positives", "false_positives", "true_negatives",
                                                    "false_negatives"))
        xp = _xp(tp)
        recall = _ratio(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _ratio(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _ratio(tp, tp + fp)
        else:  # precision-recall gain (Flach & Kull)
            scale = _ratio(tp + fn, tn + fp)
            x = xp.maximum(xp.where(tp == 0, xp.float32(0), 1 - scale * _ratio(fn, tp)), xp.float32(0))
            y = xp.where(tp == 0, xp.float32(1), 1 - scale * _ratio(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / xp.float32(2.0)
        elif self.summation_method == "minoring":
            heights = xp.minimum(y[:-1], y[1:])
        else:
            heights = xp.maximum(y[:-1], y[1:])
        return _read(self._average((x[:-1] - x[1:]) * heights), True)

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


# -- F-scores, R2, IoU: running sums per class in the metric's variables -------------------------


def _on_device(x, dev, dtype="float32"):
    return move(_array(x), dev).astype(dtype, copy=False)


class FBetaScore(Metric):
    """The F-beta score per class, ``(1 + beta^2) * P * R / (beta^2 * P + R)``, over 2D one-hot or
    multi-label inputs.

    Args:
        average: ``None`` (one score per class), ``'micro'`` (of the counts summed over classes),
            ``'macro'`` (the mean of the classes' scores) or ``'weighted'`` (weighted by support).
        beta: a Python float > 0: how much more recall counts than precision.
        threshold: a Python float in (0, 1]: predictions above it are positive; ``None``: the
            highest of each row is positive.
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name, dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError("Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. "
                                 f"Received: threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, true_shape, pred_shape) -> None:
        if len(pred_shape) != 2 or len(true_shape) != 2:
            raise ValueError("FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                             f"y_pred.shape={tuple(pred_shape)} and y_true.shape={tuple(true_shape)}.")
        shape = () if self.average == "micro" else (pred_shape[-1],)
        for name in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            setattr(self, name, self.add_variable(shape, "zeros", "float32", name=name))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        if not self._built:
            self._build(np.shape(_array(y_true)), np.shape(p))
        dev = self.true_positives.value.device
        p, t = _on_device(p, dev), _on_device(y_true, dev)
        xp = _xp(p)
        if self.threshold is None:
            hit = (p >= p.max(axis=-1, keepdims=True)) & (xp.abs(p) > 1e-9)
        else:
            hit = p > self.threshold
        hit = hit.astype("float32")
        w = None if sample_weight is None else _on_device(sample_weight, dev).reshape(-1, 1)

        def total(values):
            return (values if w is None else values * w).sum(axis=self.axis)

        for name, values in (("true_positives", hit * t), ("false_positives", hit * (1 - t)),
                             ("false_negatives", (1 - hit) * t), ("intermediate_weights", t)):
            getattr(self, name).value._data[...] += total(values)

    def result(self):
        if not self._built:
            return _result(0.0)
        eps = backend.epsilon()
        tp, fp, fn, support = (getattr(self, n).value._data for n in
                               ("true_positives", "false_positives", "false_negatives", "intermediate_weights"))
        xp = _xp(tp)
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            score = (score * (support / (support.sum() + eps))).sum()
        elif self.average is not None:
            score = xp.mean(score)
        return _result(nerve.backend.to_numpy(xp.asarray(score, dtype="float32")))

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score (FBetaScore with ``beta=1``): the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


_R2_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """The coefficient of determination, ``1 - SS_res / SS_tot`` per output column, then aggregated.

    Args:
        class_aggregation: ``'uniform_average'`` (the mean over columns), ``'variance_weighted_average'``
            (weighted by each column's variance) or ``None`` (one score per column).
        num_regressors: the number of independent variables, for the adjusted R2 (0: plain R2).
    """

    _direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name, dtype)
        if class_aggregation not in _R2_AGGREGATIONS:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of {_R2_AGGREGATIONS}. "
                             f"Received: class_aggregation={class_aggregation}")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value >= 0. "
                             f"Received: num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.num_samples = self.add_variable((), "zeros", "float32", name="num_samples")
        self._built = False

    def _build(self, true_shape, pred_shape) -> None:
        if len(pred_shape) != 2 or len(true_shape) != 2:
            raise ValueError("R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={tuple(pred_shape)} and y_true.shape={tuple(true_shape)}.")
        # Keras's variable names (``total_mse`` is kept as "residual")
        for attr, name in (("squared_sum", "squared_sum"), ("sum", "sum"), ("total_mse", "residual"),
                           ("count", "count")):
            setattr(self, attr, self.add_variable((pred_shape[-1],), "zeros", "float32", name=name))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        dev = self.num_samples.value.device
        t, p = _same_rank(_on_device(y_true, dev), _on_device(y_pred, dev))
        if not self._built:
            self._build(t.shape, p.shape)
        xp = _xp(p)
        w = xp.ones((), "float32") if sample_weight is None else _on_device(sample_weight, dev)
        if w.ndim == 1:
            w = w.reshape(-1, 1)
        w = xp.broadcast_to(w, t.shape)
        wt = t * w
        self.sum.value._data[...] += wt.sum(axis=0)
        self.squared_sum.value._data[...] += (t * wt).sum(axis=0)
        self.total_mse.value._data[...] += ((t - p) ** 2 * w).sum(axis=0)
        self.count.value._data[...] += w.sum(axis=0)
        self.num_samples.value._data[...] += t.size

    def result(self):
        if not self._built:
            return _result(0.0)
        data = {n: getattr(self, n).value._data for n in ("sum", "squared_sum", "total_mse", "count")}
        xp = _xp(data["sum"])
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = data["sum"] / data["count"]
            total = data["squared_sum"] - data["sum"] * mean
            raw = 1 - data["total_mse"] / total
            raw = xp.where(xp.isinf(raw), xp.float32(0), raw)
            if self.class_aggregation == "uniform_average":
                score = raw.mean()
            elif self.class_aggregation == "variance_weighted_average":
                score = (total * raw).sum() / total.sum()
            else:
                score = raw
        if self.num_regressors:
            n, k = float(self.num_samples.value._data), float(self.num_regressors)
            if k > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. "
                              "Falling back to standard R2 score.", stacklevel=2)
            elif k == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                score = 1 - (1 - score) * xp.float32(n - 1) / xp.float32(n - k - 1)
        return _result(nerve.backend.to_numpy(xp.asarray(score, dtype="float32")))

    def reset_state(self) -> None:
        for v in self.variables:
            v.assign(np.zeros(v.shape, dtype=v.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class _IoUBase(Metric):
    """A running confusion matrix of class ids (int32, rows the labels, columns the predictions)."""

    _direction = "up"

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name, dtype)
        self.num_classes, self.ignore_class = num_classes, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros", "int32",
                                          name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        dev = self.total_cm.value.device
        t, p = move(_array(y_true), dev), move(_array(y_pred), dev)
        if not self.sparse_y_true:
            t = t.argmax(axis=self.axis)
        if not self.sparse_y_pred:
            p = p.argmax(axis=self.axis)
        t, p = t.astype("int32").reshape(-1), p.astype("int32").reshape(-1)
        xp = _xp(t)
        if sample_weight is None:
            w = xp.ones(t.shape, "int32")
        else:
            w = move(_array(sample_weight), dev)
            if w.dtype.kind == "f":  # as Keras: the metric counts in int32, a float weight is truncated
                warnings.warn("You are passing weight as `float`, but dtype is `int`. This may result in an "
                              "incorrect weight due to type casting Consider using integer weights.", stacklevel=2)
            w = xp.broadcast_to(w.astype("int32").reshape(-1) if w.ndim > 1 else w.astype("int32"), t.shape)
        n = self.num_classes
        inside = (t >= 0) & (t < n) & (p >= 0) & (p < n)
        if self.ignore_class is not None:
            inside &= t != self.ignore_class
        cell = xp.where(inside, t * n + p, 0)
        counts = xp.bincount(cell, weights=xp.where(inside, w, 0).astype("float64"), minlength=n * n)
        self.total_cm.value._data[...] += counts.reshape(n, n).astype("int32")


class IoU(_IoUBase):
    """The intersection over union of the classes ``target_class_ids``, averaged over those present.

    Args:
        num_classes: how many classes (the confusion matrix is num_classes x num_classes).
        target_class_ids: the classes whose IoU is averaged.
        ignore_class: a label id left out of the counts.
        sparse_y_true, sparse_y_pred: class ids (True) or scores to take the arg-max of along ``axis``.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which is [0, {num_classes}).")
        self.target_class_ids = list(target_class_ids)

    def result(self):
        cm = self.total_cm.value._data
        xp = _xp(cm)
        tp = xp.diagonal(cm).astype("float32")
        denominator = cm.sum(axis=0).astype("float32") + cm.sum(axis=1).astype("float32") - tp
        ids = xp.asarray(self.target_class_ids)
        tp, denominator = tp[ids], denominator[ids]
        valid = denominator > 1e-9
        iou = xp.where(valid, tp / (denominator + xp.float32(backend.epsilon())), xp.float32(0))
        score = iou.sum(axis=self.axis) / (valid.sum(dtype="float32") + xp.float32(backend.epsilon()))
        return _result(nerve.backend.to_numpy(xp.asarray(score, dtype="float32")))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """The IoU of the two classes of a binary task, predictions at or above ``threshold`` being class 1."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        p = (p.astype("float32", copy=False) >= self.threshold).astype("int32")
        super().update_state(_array(y_true).astype("int32"), p, sample_weight)

    def get_config(self) -> dict:
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name}


class MeanIoU(IoU):
    """The IoU averaged over all ``num_classes`` classes present."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name, dtype, ignore_class, sparse_y_true,
                         sparse_y_pred, axis)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "name": self.name, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU with one-hot labels (and scores as predictions, unless ``sparse_y_pred``)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot labels (and scores as predictions, unless ``sparse_y_pred``)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "name": self.name, "ignore_class": self.ignore_class,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


_BY_NAME = {
    "categorical_accuracy": CategoricalAccuracy, "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy, "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "sum": Sum, "true_positives": TruePositives, "false_positives": FalsePositives,
    "true_negatives": TrueNegatives, "false_negatives": FalseNegatives, "precision": Precision, "recall": Recall,
    "auc": AUC,
    "MSE": MeanSquaredError, "MAE": MeanAbsoluteError, "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "root_mean_squared_error": RootMeanSquaredError, "cosine_similarity": CosineSimilarity,
    "log_cosh_error": LogCoshError, "r2_score": R2Score, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "kl_divergence": KLDivergence, "poisson": Poisson,
    "f1_score": F1Score, "f_beta_score": FBetaScore, "binary_io_u": BinaryIoU,
    "pearson_correlation": PearsonCorrelation, "concordance_correlation": ConcordanceCorrelation,
    # as Keras's names of the classes (each needs arguments: the string fails as it does in Keras)
    "io_u": IoU, "mean_io_u": MeanIoU, "one_hot_io_u": OneHotIoU, "one_hot_mean_io_u": OneHotMeanIoU,
}
_CLASSES = {c.__name__: c for c in list(_BY_NAME.values()) + [
    Accuracy, Mean, PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity,
    MeanMetricWrapper, Sum]}


def get(identifier, y_true=None, y_pred=None, loss=None) -> Metric:
    """A metric from a name or object; ``'accuracy'`` / ``'acc'`` picks its kind as Keras does.

    Args:
        identifier: ``'accuracy'``, a name from ``keras.metrics``, a Metric, a class or a function.
        y_true, y_pred: the first batch's labels and predictions (to resolve ``'accuracy'``).
        loss: the compiled loss (unused: Keras decides from the shapes alone).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc") and y_pred is None:  # called by hand, as Keras's get
            if identifier == "acc":
                raise ValueError(f"Could not interpret metric identifier: {identifier}")
            return Accuracy()
        if identifier in ("accuracy", "acc"):
            t_shape, p_shape = tuple(np.shape(y_true)), tuple(y_pred.shape)
            if p_shape[-1] == 1:
                return BinaryAccuracy(name=identifier)
            if len(t_shape) < len(p_shape) or (t_shape[-1] == 1 and p_shape[-1] > 1):
                return SparseCategoricalAccuracy(name=identifier)
            return CategoricalAccuracy(name=identifier)
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Could not interpret metric identifier: {identifier!r}. Known metrics: accuracy, "
                f"{', '.join(sorted(_BY_NAME))}"
            )
        m = cls()
        m.name = identifier  # as Keras's compile: 'mse', 'AUC', 'precision' name the metric
        return m
    if callable(identifier):
        fn = identifier

        class _FnMetric(_LossMetric):
            pass

        _FnMetric.fn = staticmethod(fn)
        return _FnMetric(name=getattr(fn, "__name__", "metric"))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric) -> dict:
    """A metric object as Keras's ``keras.metrics.serialize`` writes it (class name and config)."""
    if not isinstance(metric, Metric) or type(metric).__name__ not in _CLASSES:
        raise TypeError(f"cannot serialize the custom metric {metric!r}")
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None) -> Metric:
    """The metric ``serialize`` wrote (or a class name), as Keras's ``keras.metrics.deserialize``."""
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    cls = (custom_objects or {}).get(config["class_name"]) or _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Could not interpret metric identifier: {config['class_name']!r}")
    return cls.from_config(config.get("config", {}))


def check(identifier) -> None:
    """Raise at compile time for a metric name that will not resolve."""
    if isinstance(identifier, str) and identifier not in ("accuracy", "acc"):
        if identifier not in _BY_NAME and identifier not in _CLASSES:
            get(identifier)


# Keras's function forms (``metrics=[keras.metrics.categorical_accuracy]``): one value per example,
# float32 tensors, as Keras's
def _per_example(values):
    return nerve.Tensor._make(values.astype("float32"), nerve.backend.device_of(values))


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where ``y_pred > threshold`` matches the label, else 0 (per entry)."""
    p = _array(y_pred)
    t, p = _same_rank(_array(y_true, _xp(p)), p)
    return _per_example(t == (p > threshold).astype(t.dtype))


def categorical_accuracy(y_true, y_pred):
    """1 where the arg-max of the prediction is the arg-max of the one-hot label, else 0."""
    p = _array(y_pred)
    return _per_example(_array(y_true, _xp(p)).argmax(axis=-1) == p.argmax(axis=-1))


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the arg-max of the prediction is the integer label, else 0."""
    p = _array(y_pred)
    t = _array(y_true, _xp(p))
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t.reshape(t.shape[:-1])
    return _per_example(t == p.argmax(axis=-1))


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the one-hot label's class is among the ``k`` highest predictions, else 0."""
    p = _array(y_pred)
    t = _array(y_true, _xp(p)).argmax(axis=-1)
    return _per_example(_in_top_k(p.reshape(-1, p.shape[-1]), t.reshape(-1), k).reshape(t.shape))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label is among the ``k`` highest predictions (or, with ``from_sorted_ids``,
    among the first ``k`` of ``y_pred``'s class ids), else 0."""
    p = _array(y_pred)
    t = _array(y_true, _xp(p))
    flat = t.reshape(-1)
    if from_sorted_ids:
        hit = (p.reshape(-1, p.shape[-1])[:, :k] == flat.reshape(-1, 1)).any(axis=1)
    else:
        hit = _in_top_k(p.reshape(-1, p.shape[-1]), flat, k)
    return _per_example(hit.reshape(t.shape))


# the loss functions Keras also exports from keras.metrics
hinge, squared_hinge, categorical_hinge = losses.hinge, losses.squared_hinge, losses.categorical_hinge
kl_divergence, poisson, log_cosh, huber = losses.kl_divergence, losses.poisson, losses.log_cosh, losses.huber
mean_squared_error, mean_absolute_error = losses.mean_squared_error, losses.mean_absolute_error
mean_absolute_percentage_error = losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = losses.mean_squared_logarithmic_error
binary_crossentropy, categorical_crossentropy = losses.binary_crossentropy, losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy
binary_focal_crossentropy = losses.binary_focal_crossentropy
categorical_focal_crossentropy = losses.categorical_focal_crossentropy
