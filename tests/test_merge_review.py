"""Regressions found reviewing the merges after 9494256 (keras guides, recipes, blitz, double
backward): each runs the same program on Keras 3 (torch backend) or PyTorch and on nerve."""

import numpy as np
import pytest
from _keras_compare import K, both, keras


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


def _two_outputs(lib, L):
    class WithOwnComputeLoss(lib.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    inputs = lib.Input((3,))
    hidden = L.Dense(4, name="hidden")(inputs)
    return WithOwnComputeLoss(inputs, [L.Dense(1, name="a")(hidden), L.Dense(2, name="b")(hidden)])


def test_outputs_losses_logged_when_compute_loss_is_overridden():
    rng = np.random.default_rng(0)
    x = rng.random((8, 3), dtype=np.float32)
    ys = [rng.random((8, 1), dtype=np.float32), rng.random((8, 2), dtype=np.float32)]
    histories = []
    for lib, model in zip((K, keras), both(_two_outputs)):
        model.compile(lib.optimizers.SGD(0.1), loss=["mse", "mae"])
        histories.append(model.fit(x, ys, batch_size=4, epochs=2, verbose=0, shuffle=False).history)
    theirs, ours = histories
    assert sorted(ours) == sorted(theirs) == ["a_loss", "b_loss", "loss"]
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6)


def _cut_model(lib, two_positional: bool):
    class Scaled(lib.layers.Layer):
        def call(self, x, scale):
            return x * scale

    a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
    hidden = lib.layers.Dense(3, kernel_initializer="ones", name="dense")(a)
    out = Scaled(name="scaled")(hidden, b) if two_positional else lib.layers.Multiply(name="scaled")([hidden, b])
    lib.Model([a, b], out)
    # inputs: an intermediate tensor (cloned as a new Input) beside an Input of the graph (kept)
    return lib.Model([hidden, b], out)


def test_model_cut_at_an_intermediate_tensor_beside_an_input():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for two_positional in (False, True):
        results = []
        for lib in (K, keras):
            lib.backend.clear_session()
            model = _cut_model(lib, two_positional)
            results.append(([layer.name for layer in model.layers], np.asarray(model([x, x + 1])).tolist()))
        assert results[1] == results[0]


def _nested_losses(lib):
    class Adds(lib.layers.Layer):
        def __init__(self, value, inner=(), **kwargs):
            super().__init__(**kwargs)
            self.value, self.inner = value, list(inner)

        def call(self, x):
            self.add_loss(lib.ops.sum(x) * 0.0 + self.value)
            for layer in self.inner:
                x = layer(x)
            return x

    class Outer(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = Adds(1.0, inner=[Adds(2.0), Adds(3.0, inner=[Adds(4.0)])])
            self.second = Adds(5.0)

        def call(self, x):
            return self.second(self.first(x))

    outer = Outer()
    outer(np.ones((1, 2), "float32"))
    return [float(v) for v in outer.losses]


def test_losses_of_nested_layers_in_keras_order():
    assert _nested_losses(keras) == _nested_losses(K)


def _two_outputs_plain(lib, L):
    inputs = lib.Input((3,))
    hidden = L.Dense(4, name="hidden")(inputs)
    return lib.Model(inputs, [L.Dense(1, name="a")(hidden), L.Dense(2, name="b")(hidden)])


def test_compile_again_without_loss_or_metrics_keeps_them():
    rng = np.random.default_rng(1)
    x = rng.random((8, 3), dtype=np.float32)
    ys = [rng.random((8, 1), dtype=np.float32), rng.random((8, 2), dtype=np.float32)]
    results = []
    for lib, model in zip((K, keras), both(_two_outputs_plain)):
        model.compile(lib.optimizers.SGD(0.1), loss=["mse", "mae"], loss_weights=[1.0, 0.25], metrics=[["mae"], []])
        model.compile(lib.optimizers.SGD(0.05))  # a new optimizer only
        history = model.fit(x, ys, batch_size=4, epochs=2, verbose=0, shuffle=False).history
        results.append((history, model.evaluate(x, ys, verbose=0, return_dict=True)))
    (theirs, their_eval), (ours, our_eval) = results
    assert sorted(ours) == sorted(theirs) and sorted(our_eval) == sorted(their_eval)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(our_eval[key], their_eval[key], rtol=1e-5, atol=1e-6)


def test_compile_that_fails_leaves_the_earlier_compile():
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    keys = []
    for lib in (K, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
        model.compile("sgd", "mae", metrics=["mse"])
        with pytest.raises(ValueError):
            model.compile(optimizer="sgdd")
        if lib is keras:  # nerve checks metric names in compile (Keras only on the first batch)
            with pytest.raises(ValueError):
                model.compile(optimizer="sgd", metrics=["acuracy"])
        model.compile("adam")  # no loss, no metrics: the earlier ones
        keys.append(sorted(model.evaluate(x, y, verbose=0, return_dict=True)))
    assert keys[1] == keys[0]


def _frozen_regularized(lib, L):
    return lib.Sequential([lib.Input((3,)), L.Dense(4, kernel_regularizer=lib.regularizers.L2(0.1), name="base"),
                           L.Dense(1, kernel_regularizer="l2", name="head")])


def test_frozen_layer_adds_no_regularization_penalty():
    rng = np.random.default_rng(2)
    x, y = rng.random((8, 3), dtype=np.float32), rng.random((8, 1), dtype=np.float32)
    results = []
    for lib, model in zip((K, keras), both(_frozen_regularized)):
        model.get_layer("base").trainable = False
        model.compile(lib.optimizers.SGD(0.1), "mse")
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history
        results.append(([float(v) for v in model.losses], history["loss"]))
    (their_penalties, their_loss), (our_penalties, our_loss) = results
    np.testing.assert_allclose(our_penalties, their_penalties, rtol=1e-5)
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-5, atol=1e-6)
