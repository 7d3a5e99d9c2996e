"""nerve.keras against Keras 3 itself (torch backend): summary text, weight layouts, layer
outputs given the same weights, losses, one training step, History keys, defaults.

Skipped where Keras 3 is not installed.
"""

import numpy as np
import pytest
from _keras_compare import K, both, fresh, summary_of

from nerve import keras
from nerve.keras import layers


@pytest.fixture(autouse=True)
def _fresh():
    fresh()
    yield


def convnet(k, L):
    return k.Sequential([
        k.Input(shape=(28, 28, 1)),
        L.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])


def article(k, L):
    return k.Sequential([L.Flatten(input_shape=(28, 28)), L.Dense(10, activation="softmax")])


def bn_model(k, L):
    return k.Sequential([k.Input((8,)), L.Dense(4), L.BatchNormalization(), L.Dense(2)])


def functional(k, L):
    f = k.Input(shape=(4,))
    a = L.Dense(3, name="d1")(f)
    b = L.Dense(3)(f)
    c = L.Concatenate()([a, b])
    return k.Model(f, L.Dense(1)(c))


@pytest.mark.parametrize("build", [convnet, article, bn_model, functional])
def test_summary_text_matches_keras(build):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, ours = both(build)
    assert summary_of(ours) == summary_of(theirs)
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop", "adagrad", "adadelta"])
def test_summary_after_training_counts_optimizer_params_like_keras(opt):
    theirs, ours = both(bn_model)
    x, y = np.zeros((4, 8), "float32"), np.zeros((4, 2), "float32")
    for m in (theirs, ours):
        m.compile(opt, "mse")
        m.train_on_batch(x, y)
    assert summary_of(ours) == summary_of(theirs)


def test_get_weights_shapes_match_keras():
    def mixed(k, L):
        return k.Sequential([k.Input((10,)), L.Embedding(50, 6), L.LayerNormalization(), L.Flatten(),
                             L.Dense(5), L.BatchNormalization()])

    for build in (convnet, bn_model, mixed):
        theirs, ours = both(build)
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
        assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]


def _same_outputs(build, x, atol=1e-5, training=False):
    theirs, ours = both(build)
    want = K.ops.convert_to_numpy(theirs(x, training=training))
    got = ours(x, training=training).detach().numpy()
    np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5)


def test_dense_and_conv_outputs_equal_keras():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, 11, 10, 3)).astype("float32")
    _same_outputs(lambda k, L: k.Sequential([k.Input((7,)), L.Dense(5, activation="tanh")]),
                  rng.normal(size=(4, 7)).astype("float32"))
    for kw in [dict(padding="valid"), dict(padding="same"), dict(padding="same", strides=2),
               dict(padding="valid", strides=(2, 1)), dict(padding="same", kernel_size=(2, 4))]:
        kw = {"kernel_size": 3, **kw}
        _same_outputs(lambda k, L, kw=kw: k.Sequential([k.Input((11, 10, 3)), L.Conv2D(4, activation="relu", **kw)]), img)
    _same_outputs(lambda k, L: k.Sequential([k.Input((11, 10, 3)), L.MaxPooling2D(), L.AveragePooling2D(1),
                                             L.GlobalAveragePooling2D()]), img)
    _same_outputs(lambda k, L: k.Sequential([k.Input((11, 10, 3)), L.MaxPooling2D(padding="same")]), img)
    _same_outputs(lambda k, L: k.Sequential([k.Input((11, 10, 3)), L.AveragePooling2D((3, 3), strides=2)]), img)
    _same_outputs(lambda k, L: k.Sequential([k.Input((11, 10, 3)), L.Rescaling(1 / 255.0, offset=-1),
                                             L.Reshape((110, 3)), L.Softmax()]), img)


def test_normalization_and_embedding_equal_keras():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(4, 5, 5, 3)).astype("float32")

    def bn(k, L):
        m = k.Sequential([k.Input((5, 5, 3)), L.BatchNormalization()])
        m.set_weights([rng.normal(size=3).astype("float32") + 1, rng.normal(size=3).astype("float32"),
                       rng.normal(size=3).astype("float32"), rng.random(3).astype("float32") + 0.5])
        return m

    _same_outputs(bn, img, training=False)
    _same_outputs(bn, img, training=True, atol=1e-4)
    _same_outputs(lambda k, L: k.Sequential([k.Input((6,)), L.LayerNormalization()]),
                  rng.normal(size=(3, 6)).astype("float32"))
    ids = rng.integers(0, 20, size=(3, 4))
    _same_outputs(lambda k, L: k.Sequential([k.Input((4,), dtype="int32"), L.Embedding(20, 5)]), ids)


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 3, 5)])
def test_batchnorm_moving_statistics_equal_keras(shape):
    """A training call moves the moving variance by the biased batch variance, as Keras (PyTorch's
    running_var, which nerve's core keeps, takes the unbiased one); three calls, 2-D and 4-D."""
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=shape).astype("float32") * 2 + 1 for _ in range(3)]

    def bn(k, L):
        return k.Sequential([k.Input(shape[1:]), L.BatchNormalization(momentum=0.9)])

    theirs, ours = both(bn)
    for x in xs:
        want = K.ops.convert_to_numpy(theirs(x, training=True))
        got = ours(x, training=True).detach().numpy()
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):  # gamma, beta, moving mean, variance
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss,target", [
    ("categorical_crossentropy", "onehot"), ("sparse_categorical_crossentropy", "ids"),
    ("mse", "onehot"), ("mae", "onehot"), ("binary_crossentropy", "onehot"),
])
def test_losses_and_metrics_equal_keras(loss, target):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 6)).astype("float32")
    ids = rng.integers(0, 3, 40)
    y = np.eye(3, dtype="float32")[ids] if target == "onehot" else ids
    act = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    theirs, ours = both(lambda k, L: k.Sequential([k.Input((6,)), L.Dense(3, activation=act)]))
    metrics = ["accuracy"] if "crossentropy" in loss else ["mae"]
    theirs.compile("sgd", loss, metrics=metrics)
    ours.compile("sgd", loss, metrics=metrics)
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-4, abs=1e-5), k


# Adagrad: Keras divides by sqrt(v + eps), nerve.optim (as PyTorch) by sqrt(v) + eps; the steps
# differ only where v is near eps (1e-7), hence the looser tolerance there.
@pytest.mark.parametrize("opt,tol", [("sgd", 1e-6), ("adam", 1e-6), ("rmsprop", 1e-6), ("adagrad", 1e-4)])
def test_training_steps_match_keras(opt, tol):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 3, 64)
    theirs, ours = both(lambda k, L: k.Sequential([k.Input((6,)), L.Dense(8, activation="relu"),
                                                   L.Dense(3, activation="softmax")]))
    theirs.compile(opt, "sparse_categorical_crossentropy")
    ours.compile(opt, "sparse_categorical_crossentropy")
    for _ in range(3):
        theirs.train_on_batch(x, y)
        ours.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=tol, rtol=1e-3)


def test_history_keys_and_params_match_keras():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 28, 28)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 100)]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, ours = both(article)
    for m in (theirs, ours):
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    ht = theirs.fit(x, y, epochs=2, validation_split=0.2, verbose=0, shuffle=False)
    ho = ours.fit(x, y, epochs=2, validation_split=0.2, verbose=0, shuffle=False)
    assert list(ho.history) == list(ht.history)
    assert ho.params == ht.params
    for k in ht.history:
        np.testing.assert_allclose(ho.history[k], ht.history[k], rtol=1e-4, atol=1e-5)
    assert ours.metrics_names[0] == theirs.metrics_names[0] == "loss"


def test_defaults_match_keras():
    for name in ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"]:
        want = K.optimizers.get(name).get_config()
        got = keras.optimizers.get(name).get_config()
        for key in got:
            if key in want and key != "name":
                assert got[key] == pytest.approx(want[key]) if isinstance(want[key], float) else got[key] == want[key], (name, key)
    bt, bo = K.layers.BatchNormalization(), layers.BatchNormalization()
    assert (bo.momentum, bo.epsilon) == (bt.momentum, bt.epsilon)
    dt, do = K.layers.Dropout(0.5), layers.Dropout(0.5)
    assert dt.rate == do.rate
    ct, co = K.layers.Conv2D(3, 3), layers.Conv2D(3, 3)
    assert (co.padding, co.strides) == (ct.padding, tuple(ct.strides))
    assert K.layers.MaxPooling2D().strides == layers.MaxPooling2D().strides


def test_printed_fit_output_has_keras_layout(capsys):
    import re
    import warnings

    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 28, 28)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, ours = both(article)
    outs = []
    for m in (theirs, ours):
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        capsys.readouterr()
        m.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=2, shuffle=False)
        text = capsys.readouterr().out
        text = re.sub(r"\d+(ms|us|s)/step", "T/step", text)  # speeds differ, not the layout
        outs.append(re.sub(r"\d+(\.\d+)?(e[-+]\d+)?", "N", text))
    assert outs[1] == outs[0]
    assert "Epoch N/N\nN/N - Ns - T/step - accuracy: N - loss: N - val_accuracy: N - val_loss: N\n" in outs[1]


def two_heads(k, L):
    f = k.Input(shape=(6,))
    h = L.Dense(5, activation="relu")(f)
    return k.Model(f, [L.Dense(3, activation="softmax", name="cls")(h), L.Dense(1, name="reg")(h)])


def test_metrics_leave_sample_weights_out_and_weighted_metrics_use_them_as_keras():
    """``metrics`` ignore sample and class weights, ``weighted_metrics`` use them, and a weighted
    metric whose name is taken is logged as ``weighted_NAME``, as in Keras 3."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(96, 28, 28)).astype("float32")
    y = rng.integers(0, 10, 96)
    w = rng.uniform(0.1, 3.0, 96).astype("float32")
    theirs, ours = both(article)
    for m in (theirs, ours):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", "sparse_categorical_crossentropy"])
    ht = theirs.fit(x, y, sample_weight=w, batch_size=32, epochs=2, validation_data=(x[:40], y[:40], w[:40]),
                    verbose=0, shuffle=False)
    ho = ours.fit(x, y, sample_weight=w, batch_size=32, epochs=2, validation_data=(x[:40], y[:40], w[:40]),
                  verbose=0, shuffle=False)
    assert sorted(ho.history) == sorted(ht.history)
    assert "weighted_accuracy" in ho.history and "val_sparse_categorical_crossentropy" in ho.history
    for k in ht.history:
        np.testing.assert_allclose(ho.history[k], ht.history[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert ho.history["accuracy"] != ho.history["weighted_accuracy"]  # the weights changed something
    et = theirs.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    eo = ours.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert sorted(eo) == sorted(et)
    for k in et:
        np.testing.assert_allclose(eo[k], et[k], rtol=1e-4, atol=1e-5, err_msg=k)
    # class weights: the same split between the two lists
    for m in (theirs, ours):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    cw = {c: 0.5 + c / 4 for c in range(10)}
    ht = theirs.fit(x, y, class_weight=cw, batch_size=48, epochs=1, verbose=0, shuffle=False)
    ho = ours.fit(x, y, class_weight=cw, batch_size=48, epochs=1, verbose=0, shuffle=False)
    assert sorted(ho.history) == sorted(ht.history)
    for k in ht.history:
        np.testing.assert_allclose(ho.history[k], ht.history[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_weighted_metrics_of_two_outputs_named_as_keras():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = [rng.integers(0, 3, 64), rng.normal(size=(64, 1)).astype("float32")]
    w = rng.uniform(0.1, 3.0, 64).astype("float32")
    theirs, ours = both(two_heads)
    for m in (theirs, ours):
        m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"],
                  metrics=[["accuracy"], ["mae"]], weighted_metrics=[["accuracy"], ["mae"]])
    ht = theirs.fit(x, y, sample_weight=w, batch_size=32, epochs=1, verbose=0, shuffle=False)
    ho = ours.fit(x, y, sample_weight=w, batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert sorted(ho.history) == sorted(ht.history)
    assert "cls_weighted_accuracy" in ho.history and "reg_weighted_mae" in ho.history
    for k in ht.history:
        np.testing.assert_allclose(ho.history[k], ht.history[k], rtol=1e-4, atol=1e-5, err_msg=k)
    with pytest.raises(ValueError, match="Expected `weighted_metrics` argument to be a list, tuple, or dict. "
                                         "Received instead: weighted_metrics=accuracy of type <class 'str'>"):
        ours.compile("sgd", "mse", weighted_metrics="accuracy")
