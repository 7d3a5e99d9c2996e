"""Models with several outputs against Keras 3 (torch backend), weights copied: sample weights per
output (a list, a dict, one array for all), and how ``metrics`` / ``weighted_metrics`` are shared
out over the outputs and named, with Keras's errors where it refuses them."""

import numpy as np
import pytest
from _keras_compare import K, both

from nerve import keras

rng = np.random.default_rng(0)
N = 24
X = rng.normal(size=(N, 4)).astype("float32")
YA = (rng.random((N, 1)) > 0.5).astype("float32")    # binary: accuracy and mae both apply
YB = rng.normal(size=(N, 1)).astype("float32")
YC = rng.normal(size=(N, 2)).astype("float32")
WA = rng.random(N).astype("float32")
WB = rng.random(N).astype("float32")
WC = rng.random(N).astype("float32")


def _model(n=2, as_dict=False):
    def build(lib, L):
        inp = lib.Input((4,))
        h = L.Dense(5, activation="tanh")(inp)
        outs = {"out_a": L.Dense(1, activation="sigmoid", name="out_a")(h), "out_b": L.Dense(1, name="out_b")(h)}
        if n == 3:
            outs["out_c"] = L.Dense(2, name="out_c")(h)
        return lib.Model(inp, outs if as_dict else list(outs.values()))
    return build


def _pair(n=2, as_dict=False, metrics=None, weighted_metrics=None, loss=None):
    theirs, ours = both(_model(n, as_dict))
    loss = loss or (["binary_crossentropy", "mse", "mse"][:n] if not as_dict else
                    {"out_a": "binary_crossentropy", "out_b": "mse", "out_c": "mse"} if n == 3 else
                    {"out_a": "binary_crossentropy", "out_b": "mse"})
    for m in (theirs, ours):
        m.compile(optimizer="sgd", loss=loss, metrics=metrics, weighted_metrics=weighted_metrics)
    return theirs, ours


def _same_logs(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6, err_msg=k)


def _both_fit(theirs, ours, *args, **kwargs):
    kwargs = {"epochs": 2, "batch_size": 8, "verbose": 0, "shuffle": False, **kwargs}
    return theirs.fit(*args, **kwargs).history, ours.fit(*args, **kwargs).history


@pytest.mark.parametrize("how", ["list", "one array"])
def test_fit_with_sample_weights_per_output(how):
    theirs, ours = _pair(metrics=["accuracy", "mae"], weighted_metrics=["accuracy", "mae"])
    sw = [WA, WB] if how == "list" else WA
    ht, ho = _both_fit(theirs, ours, X, [YA, YB], sample_weight=sw)
    _same_logs(ho, ht)
    assert "out_a_weighted_accuracy" in ho and "out_b_weighted_mae" in ho


def test_fit_with_sample_weights_by_output_name():
    # Keras 3.15.1 takes a dict of sample weights for a model whose outputs are a dict
    theirs, ours = _pair(as_dict=True, metrics={"out_a": "accuracy"}, weighted_metrics={"out_b": ["mae", "mse"]})
    ht, ho = _both_fit(theirs, ours, X, {"out_a": YA, "out_b": YB}, sample_weight={"out_a": WA, "out_b": WB})
    _same_logs(ho, ht)
    assert "out_b_mse" in ho


def test_evaluate_train_on_batch_and_validation_with_weights_per_output():
    theirs, ours = _pair(n=3, metrics=["accuracy", "mae", "mse"], weighted_metrics=["accuracy", ["mae"], None])
    sw = [WA, WB, WC]
    kw = dict(batch_size=8, verbose=0, return_dict=True)
    _same_logs(ours.evaluate(X, [YA, YB, YC], sample_weight=sw, **kw),
               theirs.evaluate(X, [YA, YB, YC], sample_weight=sw, **kw))
    _same_logs(ours.train_on_batch(X, [YA, YB, YC], sample_weight=sw, return_dict=True),
               theirs.train_on_batch(X, [YA, YB, YC], sample_weight=sw, return_dict=True))
    ht, ho = _both_fit(theirs, ours, X[:16], [YA[:16], YB[:16], YC[:16]], sample_weight=[WA[:16], WB[:16], WC[:16]],
                       validation_data=(X[16:], [YA[16:], YB[16:], YC[16:]], [WA[16:], WB[16:], WC[16:]]))
    _same_logs(ho, ht)
    assert "val_out_a_weighted_accuracy" in ho and "val_out_c_loss" in ho


@pytest.mark.parametrize("kwargs", [
    dict(sample_weight={"out_a": WA, "out_b": WB}),          # y a list, the weights a dict
    dict(sample_weight=[WA]),                                # one array short
    dict(sample_weight=np.ones((N, 2), "float32")),          # one array, not one weight per example
    dict(class_weight={0: 1.0, 1: 2.0}),
    dict(class_weight={0: 1.0, 1: 2.0}, sample_weight=WA),
])
def test_sample_weight_errors_as_keras(kwargs):
    theirs, ours = _pair()
    with pytest.raises(ValueError) as want:
        theirs.fit(X, [YA, YB], verbose=0, **kwargs)
    with pytest.raises(ValueError) as got:
        ours.fit(X, [YA, YB], verbose=0, **kwargs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("n, as_dict, metrics, weighted", [
    (2, False, ["accuracy", "mae"], None),                       # a flat list: one metric per output
    (3, False, ["accuracy", "mae", "mse"], ["mse", "mae", "mse"]),
    (2, False, [["accuracy", "mae"], "mse"], [["mae", "mae"], "mse"]),   # nested lists; repeated names
    (3, False, [["accuracy"], None, ["mae", "mse"]], None),
    (2, False, (("accuracy",), ("mae",)), None),
    (3, False, {"out_a": ["accuracy", "mae"], "out_c": "mae"}, {"out_c": ["mae"]}),
    (2, True, ["accuracy", "mae"], None),
    (2, True, {"out_a": "accuracy"}, {"out_a": "accuracy", "out_b": "mae"}),
    (2, False, [], [None, None]),
])
def test_metrics_shared_out_and_named_as_keras(n, as_dict, metrics, weighted):
    theirs, ours = _pair(n, as_dict, metrics, weighted)
    ys = [YA, YB, YC][:n]
    y = dict(zip(["out_a", "out_b", "out_c"], ys)) if as_dict else ys
    ht, ho = _both_fit(theirs, ours, X, y, sample_weight=WA, epochs=1)
    _same_logs(ho, ht)


@pytest.mark.parametrize("n, as_dict, metrics, weighted", [
    (2, False, ["accuracy"], None),
    (3, False, ["accuracy", "mae"], None),
    (3, False, [["accuracy"], ["mae"]], None),
    (2, False, {"bad": ["mae"]}, None),
    (2, False, {"out_a": "accuracy", "out_b": "mae", "out_c": "mse"}, None),
    (2, False, None, ["accuracy"]),
    (2, True, ["accuracy"], None),
    (2, True, {"bad": "mae"}, None),
    (2, True, {"out_a": "mae", "bad": "mse"}, None),
    (2, True, ["mae", "mae", "mse"], None),
])
def test_metrics_refused_as_keras(n, as_dict, metrics, weighted):
    theirs, ours = _pair(n, as_dict, metrics, weighted)
    ys = [YA, YB, YC][:n]
    y = dict(zip(["out_a", "out_b", "out_c"], ys)) if as_dict else ys
    with pytest.raises(ValueError) as want:
        theirs.fit(X, y, verbose=0)
    with pytest.raises(ValueError) as got:
        ours.fit(X, y, verbose=0)
    assert str(got.value) == str(want.value)


def test_one_output_keeps_its_metrics_flat():
    def build(lib, L):
        return lib.Sequential([lib.Input((4,)), L.Dense(1, activation="sigmoid")])

    theirs, ours = both(build)
    for m in (theirs, ours):
        m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[["accuracy"], "mae"], weighted_metrics=["mae"])
    ht, ho = _both_fit(theirs, ours, X, YA, sample_weight=WA)
    _same_logs(ho, ht)
    assert K is not None


def test_class_weight_with_sample_weight_raises_as_keras():
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.arange(8) % 2
    for lib in (K, keras):
        m = lib.Sequential([lib.Input((4,)), lib.layers.Dense(2, activation="softmax")])
        m.compile("sgd", "sparse_categorical_crossentropy")
        with pytest.raises(ValueError, match="You cannot `class_weight` and `sample_weight` at the same time."):
            m.fit(x, y, class_weight={0: 1.0, 1: 2.0}, sample_weight=np.ones(8), verbose=0)
