"""``CompileMetrics``: the metrics given to ``compile`` as one metric, as Keras 3 lists them.

``model.metrics`` is ``[loss tracker, compile_metrics, per-output loss trackers]``; a custom
``train_step`` updates them all with ``metric.update_state(y, y_pred)`` and returns
``{m.name: m.result() for m in self.metrics}``, where this one's result is a dict by metric
name (fit flattens it into the logs). The metrics themselves stay the model's (``_metrics``, set up
on the first batch from the outputs' shapes), so ``fit``'s own step updates the same ones.
"""

from __future__ import annotations

from ..metrics import Metric


class CompileMetrics(Metric):
    """The compiled ``metrics`` and ``weighted_metrics`` of ``model``, updated and read together."""

    def __init__(self, model):
        self._model = model
        super().__init__(name="compile_metrics")

    @property
    def metrics(self) -> list:
        """The metrics, each with its name in the logs (``mae``, ``out_1_accuracy``, ...)."""
        return [m for _, m, _ in self._model._metrics or []]

    def reset_state(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Update every metric on a batch; only the weighted ones use ``sample_weight`` (as Keras)."""
        self._model._update_compiled_metrics(y_true, y_pred, sample_weight)

    def result(self) -> dict:
        return {m.name: m.result() for m in self.metrics}
