"""Regressions found reviewing the merges after 9494256 (keras guides, recipes, blitz, double
backward): each runs the same program on Keras 3 (torch backend) or PyTorch and on nerve."""

import numpy as np
from _keras_compare import K, keras


def _mean_metric(lib):
    class MeanOfPredictions(lib.metrics.Metric):
        # state in variables named as Keras's own Mean names them
        def __init__(self, name="mean_of_predictions", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(lib.ops.sum(y_pred))
            self.count.assign_add(float(y_pred.shape[0]))

        def result(self):
            return self.total / self.count

    return MeanOfPredictions()


def test_metric_variables_named_total_and_count_survive_reset_state():
    got = {}
    for lib in (K, keras):
        m = _mean_metric(lib)
        m.update_state(None, np.ones((4, 1), "float32"))
        m.reset_state()
        m.update_state(None, np.full((2, 1), 3.0, "float32"))
        got[lib] = (float(m.result()), [float(v.numpy()) for v in m.variables])
    assert got[keras] == got[K]
