"""Weight constraints and activity regularizers: nerve.keras against Keras 3 (torch backend), the
same program from the same initial weights (see ``_keras_compare``)."""

import numpy as np
import pytest
from _keras_compare import K, both, keras

import nerve

RNG = np.random.default_rng(0)
X_VEC = RNG.normal(size=(32, 6)).astype("float32") * 3
Y_VEC = RNG.normal(size=(32, 4)).astype("float32") * 3
X_IMG = RNG.normal(size=(16, 6, 6, 2)).astype("float32")
Y_IMG = RNG.normal(size=(16, 3)).astype("float32")
X_IDS = RNG.integers(0, 10, size=(16, 5))
Y_IDS = RNG.normal(size=(16, 1)).astype("float32")


def fit_epochs(theirs, ours, x, y, opt, epochs=3, **fit_kw):
    """Fit both one epoch at a time; the weights agree after each; returns their weights."""
    theirs.compile(optimizer=getattr(K.optimizers, opt[0])(**opt[1]), loss="mse")
    ours.compile(optimizer=getattr(keras.optimizers, opt[0])(**opt[1]), loss="mse")
    for _ in range(epochs):
        h_theirs = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, **fit_kw)
        h_ours = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, **fit_kw)
        np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-4, atol=1e-5)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    return theirs.get_weights()


OPTS = [("SGD", {"learning_rate": 0.1}), ("Adam", {"learning_rate": 0.05})]


@pytest.mark.parametrize("opt", OPTS, ids=lambda o: o[0])
def test_dense_max_norm_and_non_neg(opt):
    def build(lib, L):
        return lib.Sequential([L.Input((6,)), L.Dense(5, kernel_constraint=lib.constraints.MaxNorm(0.5),
                                                      bias_constraint=lib.constraints.NonNeg()),
                               L.Dense(4, kernel_constraint="non_neg")])

    theirs, ours = both(build)
    kernel, bias, kernel2, _ = fit_epochs(theirs, ours, X_VEC, Y_VEC, opt)
    norms = np.sqrt((kernel ** 2).sum(axis=0))
    assert norms.max() <= 0.5 + 1e-5 and norms.max() > 0.49  # capped, and the cap was reached
    assert bias.min() >= 0 and kernel2.min() >= 0
    assert (kernel2 == 0).any()  # NonNeg clipped some weights


@pytest.mark.parametrize("opt", OPTS, ids=lambda o: o[0])
def test_conv_embedding_batchnorm_constraints(opt):
    def build(lib, L):
        c = lib.constraints
        img = lib.Input((6, 6, 2))
        # no bias before the batch norm: its gradient is ~0, and Adam would scale up rounding noise
        h = L.Conv2D(3, 3, use_bias=False, kernel_constraint=c.UnitNorm(axis=[0, 1, 2]))(img)
        h = L.BatchNormalization(gamma_constraint=c.MinMaxNorm(0.5, 0.8, rate=0.5),
                                 beta_constraint="non_neg")(h)
        h = L.DepthwiseConv2D(2, depthwise_constraint=c.MaxNorm(0.3, axis=[0, 1]))(h)
        h = L.SeparableConv2D(3, 2, pointwise_constraint="unit_norm")(h)
        out = L.Dense(3)(L.Flatten()(h))
        return lib.Model(img, out)

    theirs, ours = both(build)
    weights = fit_epochs(theirs, ours, X_IMG, Y_IMG, opt, epochs=2)
    kernel = weights[0]
    np.testing.assert_allclose(np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))), 1.0, rtol=1e-4)
    gamma, beta = weights[1], weights[2]
    assert beta.min() >= 0
    gamma_norm = np.sqrt((gamma ** 2).sum())
    assert 0.5 <= gamma_norm <= np.sqrt(3)  # rate 0.5: halfway from sqrt(3) to 0.8 at each step


@pytest.mark.parametrize("opt", OPTS, ids=lambda o: o[0])
def test_embedding_and_einsum_dense_constraints(opt):
    def build(lib, L):
        ids = lib.Input((5,), dtype="int32")
        h = L.Embedding(10, 4, embeddings_constraint=lib.constraints.MaxNorm(0.1, axis=1))(ids)
        h = L.EinsumDense("abc,cd->abd", (5, 2), bias_axes="d", kernel_constraint="non_neg",
                          bias_constraint=lib.constraints.MaxNorm(0.2))(h)
        return lib.Model(ids, L.Dense(1)(L.Flatten()(h)))

    theirs, ours = both(build)
    emb, kernel, bias, *_ = fit_epochs(theirs, ours, X_IDS, Y_IDS, opt)
    assert np.sqrt((emb ** 2).sum(axis=1)).max() <= 0.1 + 1e-6
    assert kernel.min() >= 0


def test_custom_constraint_and_custom_loop():
    def build(lib, L):
        class Clip(lib.constraints.Constraint):
            def __init__(self, limit):
                self.limit = limit

            def __call__(self, w):
                return lib.ops.clip(w, -self.limit, self.limit)

            def get_config(self):
                return {"limit": self.limit}

        return lib.Sequential([L.Input((6,)), L.Dense(4, kernel_constraint=Clip(0.05),
                                                      bias_constraint=lambda w: w * 0.5)])

    theirs, ours = both(build)
    assert isinstance(ours.layers[0].kernel.constraint, keras.constraints.Constraint)
    # a loop of one's own: optimizer.apply applies the constraints too
    opt_t, opt_o = K.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)
    import torch

    for step in range(3):
        xb, yb = X_VEC[step * 8:(step + 1) * 8], Y_VEC[step * 8:(step + 1) * 8]
        theirs.zero_grad()
        loss_t = K.losses.MeanSquaredError()(torch.tensor(yb), theirs(torch.tensor(xb), training=True))
        loss_t.backward()
        opt_t.apply([v.value.grad for v in theirs.trainable_weights], theirs.trainable_weights)
        ours.zero_grad()
        loss_o = keras.losses.MeanSquaredError()(nerve.tensor(yb), ours(nerve.tensor(xb), training=True))
        loss_o.backward()
        opt_o.apply([v.value.grad for v in ours.trainable_weights], ours.trainable_weights)
        np.testing.assert_allclose(loss_o.item(), loss_t.item(), rtol=1e-5)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.abs(ours.get_weights()[0]).max() == pytest.approx(0.05)


def test_train_on_batch_applies_constraints():
    def build(lib, L):
        return lib.Sequential([L.Input((6,)), L.Dense(4, kernel_constraint="max_norm")])

    theirs, ours = both(build)
    theirs.compile(optimizer=K.optimizers.SGD(1.0), loss="mse")
    ours.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    for _ in range(3):
        lt = theirs.train_on_batch(X_VEC * 3, Y_VEC * 3)
        lo = ours.train_on_batch(X_VEC * 3, Y_VEC * 3)
        np.testing.assert_allclose(lo, lt, rtol=1e-4)
        np.testing.assert_allclose(ours.get_weights()[0], theirs.get_weights()[0], rtol=1e-4, atol=1e-5)
    assert np.sqrt((ours.get_weights()[0] ** 2).sum(axis=0)).max() == pytest.approx(2.0, rel=1e-4)


def test_activity_regularizer_losses_and_fit():
    def build(lib, L):
        return lib.Sequential([L.Input((6,)),
                               L.Dense(5, activation="relu", activity_regularizer=lib.regularizers.L2(0.01)),
                               L.Dense(4, activity_regularizer="l1")])

    theirs, ours = both(build)
    theirs(X_VEC[:8])
    ours(X_VEC[:8])
    got = [float(v) for v in ours.losses]
    want = [float(K.ops.convert_to_numpy(v)) for v in theirs.losses]
    assert len(got) == 2 and got[0] > 0
    np.testing.assert_allclose(got, want, rtol=1e-5)
    fit_epochs(theirs, ours, X_VEC, Y_VEC, OPTS[0], epochs=2)


def test_constraint_names_get_serialize():
    for name in ("max_norm", "non_neg", "unit_norm", "min_max_norm", "MaxNorm", "NonNeg"):
        assert type(keras.constraints.get(name)).__name__ == type(K.constraints.get(name)).__name__
    for lib in (K, keras):
        with pytest.raises(ValueError, match="Could not interpret constraint identifier"):
            lib.constraints.get("no_such_constraint")
    c = keras.constraints.MinMaxNorm(0.1, 2.0, rate=0.5, axis=[0, 1])
    theirs = K.constraints.serialize(K.constraints.MinMaxNorm(0.1, 2.0, rate=0.5, axis=[0, 1]))
    ours = keras.constraints.serialize(c)
    assert ours["class_name"] == theirs["class_name"] and ours["config"] == theirs["config"]
    back = keras.constraints.deserialize(ours)
    assert type(back) is keras.constraints.MinMaxNorm and back.get_config() == c.get_config()
    w = RNG.normal(size=(3, 4)).astype("float32")
    for name in ("max_norm", "non_neg", "unit_norm", "min_max_norm"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.constraints.get(name)(keras.Variable(w))),
                                   K.ops.convert_to_numpy(K.constraints.get(name)(K.Variable(w))), rtol=1e-5)


def test_save_load_keeps_constraints(tmp_path):
    def build(lib, L):
        c = lib.constraints
        return lib.Sequential([L.Input((6,)),
                               L.Dense(5, kernel_constraint=c.MaxNorm(1.5), bias_constraint="non_neg",
                                       activity_regularizer=lib.regularizers.L2(0.01)),
                               L.BatchNormalization(gamma_constraint=c.UnitNorm()),
                               L.Dense(4, kernel_constraint=c.MinMaxNorm(0.1, 0.9))])

    theirs, ours = both(build)
    ours.compile(optimizer="sgd", loss="mse")
    ours.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for layer_t, layer_o, layer_l in zip(theirs.layers, ours.layers, loaded.layers):
        cfg_t, cfg_l = layer_t.get_config(), layer_l.get_config()
        for key in cfg_t:
            if not key.endswith("_constraint") and key != "activity_regularizer":
                continue
            if cfg_t[key] is None:  # nerve's config leaves out arguments left at their default
                assert cfg_l.get(key) is None, key
            else:
                assert cfg_l[key]["class_name"] == cfg_t[key]["class_name"]
                assert cfg_l[key]["config"] == pytest.approx(cfg_t[key]["config"]), key
    assert loaded.layers[0].kernel.constraint.get_config() == {"max_value": 1.5, "axis": 0}
    assert type(loaded.layers[0].activity_regularizer).__name__ == "L2"
    loaded(X_VEC[:8])
    ours(X_VEC[:8])
    np.testing.assert_allclose(float(loaded.losses[0]), float(ours.losses[0]), rtol=1e-6)


X_SEQ = RNG.normal(size=(8, 5, 3)).astype("float32")
Y_SEQ = RNG.normal(size=(8, 4)).astype("float32")


def test_lstm_constraints_and_activity_regularizer():
    def build(lib, L):
        c = lib.constraints
        return lib.Sequential([L.Input((5, 3)),
                               L.LSTM(4, kernel_constraint=c.MaxNorm(0.4), recurrent_constraint="unit_norm",
                                      bias_constraint="non_neg", activity_regularizer="l2")])

    theirs, ours = both(build)
    theirs(X_SEQ)
    ours(X_SEQ)
    np.testing.assert_allclose([float(v) for v in ours.losses],
                               [float(K.ops.convert_to_numpy(v)) for v in theirs.losses], rtol=1e-5)
    kernel, recurrent, bias = fit_epochs(theirs, ours, X_SEQ, Y_SEQ, OPTS[1], epochs=2)
    assert np.sqrt((kernel ** 2).sum(axis=0)).max() <= 0.4 + 1e-5
    np.testing.assert_allclose(np.sqrt((recurrent ** 2).sum(axis=0)), 1.0, rtol=1e-4)
    assert bias.min() >= 0


def test_multi_head_attention_constraints_and_activity_regularizer():
    def build(lib, L):
        x = lib.Input((5, 3))
        h = L.MultiHeadAttention(2, 3, kernel_constraint=lib.constraints.MaxNorm(0.3, axis=0), bias_constraint="non_neg",
                                 activity_regularizer=lib.regularizers.L1(0.01))(x, x)
        return lib.Model(x, L.Dense(4)(L.Flatten()(h)))

    theirs, ours = both(build)
    theirs(X_SEQ)
    ours(X_SEQ)
    got, want = [float(v) for v in ours.losses], [float(K.ops.convert_to_numpy(v)) for v in theirs.losses]
    assert len(got) == len(want) == 4  # one per projection: query, key, value, output
    np.testing.assert_allclose(sum(got), sum(want), rtol=1e-5)
    weights = fit_epochs(theirs, ours, X_SEQ, Y_SEQ, OPTS[0], epochs=2)
    query_kernel, query_bias = weights[0], weights[1]
    assert np.sqrt((query_kernel ** 2).sum(axis=0)).max() <= 0.3 + 1e-5
    assert query_bias.min() >= 0


def test_normalization_gamma_beta_regularizers():
    def build(lib, L):
        return lib.Sequential([L.Input((6,)), L.Dense(5),
                               L.BatchNormalization(gamma_regularizer="l2", beta_regularizer=lib.regularizers.L1(0.1)),
                               L.LayerNormalization(gamma_regularizer="l1", beta_constraint="non_neg"),
                               L.Dense(4)])

    theirs, ours = both(build)
    np.testing.assert_allclose(sorted(float(v) for v in ours.losses),
                               sorted(float(K.ops.convert_to_numpy(v)) for v in theirs.losses), rtol=1e-5)
    assert len(ours.losses) == 3
    weights = fit_epochs(theirs, ours, X_VEC, Y_VEC, OPTS[0], epochs=2)
    assert weights[-3].min() >= 0  # the LayerNormalization's beta


def test_registered_custom_constraint_saves_and_loads(tmp_path):
    def program(lib, path):
        @lib.saving.register_keras_serializable(package="kcons_test")
        class ClipTo(lib.constraints.Constraint):
            def __init__(self, limit=1.0):
                self.limit = limit

            def __call__(self, w):
                return lib.ops.clip(w, -self.limit, self.limit)

            def get_config(self):
                return {"limit": self.limit}

        model = lib.Sequential([lib.Input((6,)), lib.layers.Dense(4, kernel_constraint=ClipTo(0.02))])
        model.compile(optimizer=lib.optimizers.SGD(1.0), loss="mse")
        model.save(path)
        loaded = lib.models.load_model(path)
        constraint = loaded.layers[0].kernel.constraint
        loaded.fit(X_VEC, Y_VEC, epochs=1, verbose=0)
        return type(constraint).__name__, constraint.get_config(), float(np.abs(loaded.get_weights()[0]).max())

    theirs = program(K, tmp_path / "k.keras")
    ours = program(keras, tmp_path / "n.keras")
    assert ours[:2] == theirs[:2] == ("ClipTo", {"limit": 0.02})
    assert ours[2] == pytest.approx(theirs[2]) and ours[2] == pytest.approx(0.02)


def test_keras_files_carry_constraints_both_ways(tmp_path):
    def build(lib):
        c = lib.constraints
        return lib.Sequential([lib.Input((6,)),
                               lib.layers.Dense(5, kernel_constraint=c.MaxNorm(1.5), bias_constraint="non_neg",
                                                activity_regularizer=lib.regularizers.L2(0.01)),
                               lib.layers.BatchNormalization(gamma_constraint=c.UnitNorm())])

    def described(model):
        first, bn = model.layers
        return (type(first.kernel.constraint).__name__, first.kernel.constraint.get_config(),
                type(first.bias.constraint).__name__, type(first.activity_regularizer).__name__,
                type(bn.gamma.constraint).__name__)

    for writer, reader in ((keras, K), (K, keras)):
        model = build(writer)
        model.compile(optimizer="adam", loss="mse")
        model.save(tmp_path / "m.keras")
        assert described(reader.models.load_model(tmp_path / "m.keras")) == described(model) == \
            ("MaxNorm", {"max_value": 1.5, "axis": 0}, "NonNeg", "L2", "UnitNorm")


def test_more_conv_layers_constraints():
    def build(lib, L):
        c = lib.constraints
        x = lib.Input((5, 3))
        h = L.Conv1D(4, 2, kernel_constraint=c.MaxNorm(0.2, axis=[0, 1]), bias_constraint="non_neg")(x)
        h = L.SeparableConv1D(3, 2, depthwise_constraint="non_neg", pointwise_constraint=c.UnitNorm(axis=[0, 1]))(h)
        h = L.Conv1DTranspose(2, 2, kernel_constraint="non_neg")(h)
        h = L.Reshape((4, 2, 1))(h)
        h = L.Conv2DTranspose(2, 2, kernel_constraint=c.MaxNorm(0.25, axis=[0, 1, 3]))(h)
        return lib.Model(x, L.Dense(4)(L.Flatten()(h)))

    theirs, ours = both(build)
    w = fit_epochs(theirs, ours, X_SEQ, Y_SEQ, OPTS[1], epochs=2)
    assert np.sqrt((w[0] ** 2).sum(axis=(0, 1))).max() <= 0.2 + 1e-5 and w[1].min() >= 0
    assert w[2].min() >= 0
    np.testing.assert_allclose(np.sqrt((w[3] ** 2).sum(axis=(0, 1))), 1.0, rtol=1e-4)
    assert w[5].min() >= 0
    assert np.sqrt((w[7] ** 2).sum(axis=(0, 1, 3))).max() <= 0.25 + 1e-5
