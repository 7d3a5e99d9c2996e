"""Keras's metrics: running values over an epoch (``update_state`` / ``result`` / ``reset_state``).

Metrics count on the arrays of the batch's predictions (no graph, no gradient); the one sum
per batch is the only value that leaves the device (the accuracies' counts do not even leave
it: they stay device scalars until ``result()`` reads them). ``'accuracy'`` is resolved as Keras does
it, from the shapes of the first batch: binary when the model has one output unit, sparse
when the labels have one axis fewer (or a last axis of 1), else categorical.
"""

from __future__ import annotations

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

    def __init__(self, name=None, dtype=None):
        self.name = name or backend.snake_case(type(self).__name__)
        self._variables: list = []
        self.total, self.count = 0.0, 0.0

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0.0
        for v in self._variables:
            v.assign(np.zeros(v.shape, dtype=v.dtype))

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

    def result(self) -> float:
        # total may be a device scalar (counts stay on the GPU until read): float() reads it
        return float(self.total) / self.count if self.count else 0.0

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

    def add_scalar(self, value: float, weight: float = 1.0) -> None:
        """Add one value with a weight (the loss of a batch of ``weight`` examples)."""
        self.total += float(value) * weight
        self.count += weight

    def update_state(self, values, sample_weight=None) -> None:
        arr = _array(values)
        self._add(_xp(arr).asarray(arr, dtype="float64").reshape(-1) if np.ndim(arr) else np.asarray([float(arr)]),
                  sample_weight)


class Accuracy(Metric):
    """How often predictions equal labels exactly."""

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        self._add((t.reshape(p.shape) == p).astype("float32"), sample_weight)


class BinaryAccuracy(Metric):
    """How often ``y_pred > threshold`` matches the 0/1 label."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        if t.ndim == p.ndim - 1:
            t = t.reshape(t.shape + (1,))
        hit = ((p > self.threshold) == (t > 0.5)).astype("float32")
        self._add(hit.mean(axis=-1) if hit.ndim > 1 else hit, sample_weight)


class CategoricalAccuracy(Metric):
    """How often the arg-max of the prediction is the arg-max of the one-hot label."""

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

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        self.k = k
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        self._add(_in_top_k(p.reshape(-1, p.shape[-1]), t.reshape(-1, t.shape[-1]).argmax(axis=-1), self.k),
                  sample_weight)


class SparseTopKCategoricalAccuracy(Metric):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        self.k = k
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _array(y_pred)
        t = _array(y_true, _xp(p))
        self._add(_in_top_k(p.reshape(-1, p.shape[-1]), t.reshape(-1), self.k), sample_weight)


class _LossMetric(Metric):
    fn = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with nerve.no_grad():
            pred = y_pred if isinstance(y_pred, nerve.Tensor) else nerve.tensor(np.asarray(y_pred, dtype="float32"))
            values = type(self).fn(y_true, pred)
        self._add(values._data, sample_weight)


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

    def __init__(self, name="categorical_crossentropy", dtype=None):
        super().__init__(name, dtype)


class SparseCategoricalCrossentropy(_LossMetric):
    fn = staticmethod(losses.sparse_categorical_crossentropy)

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name, dtype)


class BinaryCrossentropy(_LossMetric):
    fn = staticmethod(losses.binary_crossentropy)

    def __init__(self, name="binary_crossentropy", dtype=None):
        super().__init__(name, dtype)


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
}
_CLASSES = {c.__name__: c for c in list(_BY_NAME.values()) + [Accuracy, Mean]}


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
        if identifier in ("mse", "mae", "mape"):
            m.name = identifier
        return m
    if callable(identifier):
        fn = identifier

        class _FnMetric(_LossMetric):
            pass

        _FnMetric.fn = staticmethod(fn)
        return _FnMetric(name=getattr(fn, "__name__", "metric"))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def check(identifier) -> None:
    """Raise at compile time for a metric name that will not resolve."""
    if isinstance(identifier, str) and identifier not in ("accuracy", "acc"):
        if identifier not in _BY_NAME and identifier not in _CLASSES:
            get(identifier)


# Keras's function forms, for ``metrics=[keras.metrics.categorical_accuracy]`` style use.
def categorical_accuracy(y_true, y_pred):
    m = CategoricalAccuracy()
    m.update_state(y_true, y_pred)
    return m.result()


def sparse_categorical_accuracy(y_true, y_pred):
    m = SparseCategoricalAccuracy()
    m.update_state(y_true, y_pred)
    return m.result()


def binary_accuracy(y_true, y_pred, threshold=0.5):
    m = BinaryAccuracy(threshold=threshold)
    m.update_state(y_true, y_pred)
    return m.result()
