"""nerve.keras's recurrent layers (SimpleRNN, LSTM, GRU) and reshaping layers against Keras 3
itself (torch backend): weights copied over, outputs, gradients, weight names and shapes,
summaries, errors; a small LSTM learning a toy sequence task with fit.

Skipped where Keras 3 is not installed.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _keras_compare import K, fresh
from _keras_compare import as_list as _as_list
from _keras_compare import to_numpy as _np

import nerve
from nerve import keras
from nerve.keras import layers


@pytest.fixture(autouse=True)
def _fresh():
    fresh()
    yield


def _pair(name, kw, x):
    """The Keras layer called on x, and nerve's built on x.shape with Keras's weights."""
    theirs = getattr(K.layers, name)(**kw)
    theirs(x)
    ours = getattr(layers, name)(**kw)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


RNN_CASES = [
    ("LSTM", {}), ("GRU", {}), ("SimpleRNN", {}),
    ("GRU", {"reset_after": False}), ("SimpleRNN", {"activation": "relu"}),
    ("LSTM", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    ("GRU", {"recurrent_activation": "hard_sigmoid"}), ("LSTM", {"use_bias": False}),
    ("GRU", {"use_bias": False}), ("LSTM", {"unit_forget_bias": False, "bias_initializer": "ones"}),
]
RETURNS = [{}, {"return_sequences": True}, {"return_state": True}, {"go_backwards": True},
           {"return_sequences": True, "return_state": True, "go_backwards": True}]


@pytest.mark.parametrize("name,kw", RNN_CASES)
def test_rnn_outputs_equal_keras(name, kw):
    x = np.random.default_rng(0).standard_normal((3, 7, 5)).astype("float32")
    for ret in RETURNS:
        theirs, ours = _pair(name, {"units": 6, **kw, **ret}, x)
        want, got = theirs(x), ours(x)
        assert isinstance(got, tuple) == isinstance(want, tuple)
        assert len(_as_list(got)) == len(_as_list(want))
        for w, g in zip(_as_list(want), _as_list(got)):
            assert tuple(g.shape) == tuple(w.shape)
            np.testing.assert_allclose(_np(g), _np(w), atol=1e-5, rtol=1e-5, err_msg=str(ret))
        assert [v.path for v in ours.weights] == [v.path for v in theirs.weights]
        assert [v.shape for v in ours.weights] == [tuple(v.shape) for v in theirs.weights]
        assert ours.compute_output_shape((None, 7, 5)) == theirs.compute_output_shape((None, 7, 5))


@pytest.mark.parametrize("name,kw", [("LSTM", {}), ("GRU", {}), ("SimpleRNN", {}), ("GRU", {"reset_after": False}),
                                     ("LSTM", {"activation": "relu"})])
@pytest.mark.parametrize("ret", [{}, {"return_sequences": True, "go_backwards": True}])
def test_rnn_gradients_equal_keras(name, kw, ret):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    theirs, ours = _pair(name, {"units": 5, **kw, **ret}, x)
    probe = rng.standard_normal(_np(theirs(x)).shape).astype("float32")
    xt = torch.tensor(x, requires_grad=True)
    (theirs(xt) * torch.tensor(probe)).sum().backward()
    xn = nerve.tensor(x, requires_grad=True)
    (ours(xn) * nerve.tensor(probe)).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), atol=1e-5, rtol=1e-4)
    for tv, nv in zip(theirs.trainable_weights, ours.trainable_weights):
        g = nv.value.grad.numpy()
        if nv._perm is not None:
            g = g.transpose(nv._inv)
        np.testing.assert_allclose(g, tv.value.grad.numpy(), atol=1e-5, rtol=1e-4, err_msg=nv.path)


def test_rnn_initial_state_equals_keras():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    h, c = (rng.standard_normal((2, 5)).astype("float32") for _ in range(2))
    for name, states in [("LSTM", [h, c]), ("GRU", [h]), ("SimpleRNN", [h])]:
        theirs, ours = _pair(name, {"units": 5, "return_sequences": True}, x)
        want = _np(theirs(x, initial_state=[torch.tensor(s) for s in states]))
        np.testing.assert_allclose(_np(ours(x, initial_state=states)), want, atol=1e-5)
    with pytest.raises(ValueError, match="expects 2 state"):
        ours = layers.LSTM(5)
        ours(x, initial_state=[h])


def test_rnn_default_initializers():
    lstm = layers.LSTM(8)
    lstm.build((None, 3, 4))
    kernel, rec, bias = lstm.get_weights()
    assert kernel.shape == (4, 32) and rec.shape == (8, 32) and bias.shape == (32,)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(8), np.ones(8), np.zeros(16)])
    # orthogonal: 8 x 32 has orthonormal rows
    np.testing.assert_allclose(rec @ rec.T, np.eye(8), atol=1e-5)
    limit = np.sqrt(6 / (4 + 32))
    assert np.abs(kernel).max() <= limit and kernel.std() > limit / 3
    gru = layers.GRU(8)
    gru.build((None, 3, 4))
    assert [w.shape for w in gru.get_weights()] == [(4, 24), (8, 24), (2, 24)]
    assert not np.any(gru.get_weights()[2])
    rnn = layers.SimpleRNN(8)
    rnn.build((None, 3, 8))
    r = rnn.get_weights()[1]
    np.testing.assert_allclose(r @ r.T, np.eye(8), atol=1e-5)


@pytest.mark.parametrize("name,kw", [("LSTM", {}), ("GRU", {}), ("SimpleRNN", {}), ("GRU", {"reset_after": False})])
@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)])
def test_rnn_dropout_equals_keras_given_the_same_masks(name, kw, rates):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 4)).astype("float32")
    p, rp = rates
    theirs, ours = _pair(name, {"units": 6, "dropout": p, "recurrent_dropout": rp, "return_sequences": True, **kw}, x)
    # inference: no dropout
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=1e-5)
    k = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[name] if rp else 1

    def masks(shape, rate):
        return [((rng.random(shape) > rate) / (1 - rate)).astype("float32") for _ in range(k)]

    m_in, m_rec = masks((3, 4), p), masks((3, 6), rp)
    one = (lambda ms: ms[0]) if k == 1 else (lambda ms: ms)
    theirs.cell.get_dropout_mask = lambda _: one([torch.tensor(m) for m in m_in]) if p else None
    theirs.cell.get_recurrent_dropout_mask = lambda _: one([torch.tensor(m) for m in m_rec]) if rp else None
    ours._masks = lambda x, rate, n, count: [nerve.tensor(m.reshape(n)) for m in (m_rec if n == (3, 6) else m_in)]
    want = _np(theirs(x, training=True))
    got = _np(ours(x, training=True))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    assert np.abs(got - _np(ours(x))).max() > 1e-3  # the masks did something


def test_rnn_dropout_masks_are_fixed_over_time_and_train():
    x = np.ones((200, 6, 3), "float32")
    lstm = layers.SimpleRNN(4, dropout=0.5, return_sequences=True, kernel_initializer="ones",
                            recurrent_initializer="zeros", activation=None)
    y = _np(lstm(x, training=True))  # no recurrence: each step is its input's masked sum
    assert np.all(y == y[:, :1])  # the same mask at every step
    assert set(np.unique(y)) <= {0.0, 2.0, 4.0, 6.0} and 2.6 < y.mean() < 3.4
    rng = np.random.default_rng(0)
    xs = rng.choice([-1.0, 1.0], size=(256, 7, 1)).astype("float32")
    ys = (xs.sum(axis=(1, 2)) > 0).astype("int64")
    model = keras.Sequential([keras.Input((7, 1)), layers.GRU(16, dropout=0.1, recurrent_dropout=0.1),
                              layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xs, ys, epochs=10, batch_size=32, verbose=0)
    assert model.evaluate(xs, ys, verbose=0)[1] > 0.85


def test_rnn_errors():
    with pytest.raises(ValueError, match="`dropout`"):
        layers.LSTM(4, dropout=1.2)
    with pytest.raises(ValueError, match="`recurrent_dropout`"):
        layers.GRU(4, recurrent_dropout=-0.1)
    with pytest.raises(ValueError, match="batch size must be static"):  # stateful needs a fixed batch, as Keras
        keras.Sequential([keras.Input((3, 5)), layers.SimpleRNN(4, stateful=True)])
    with pytest.raises(ValueError, match="expected ndim=3"):
        layers.LSTM(4)(np.zeros((2, 3), "float32"))
    lstm = layers.LSTM(4)
    lstm(np.zeros((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 5"):
        lstm(np.zeros((2, 3, 6), "float32"))


def _summary(model):
    out = []
    model.summary(print_fn=lambda s, **kw: out.append(s))
    return "".join(out)


def test_rnn_models_summary_and_functional_shapes_equal_keras():
    def stack(k, L):
        return k.Sequential([k.Input((10, 3)), L.LSTM(16, return_sequences=True), L.GRU(8, return_sequences=True),
                             L.SimpleRNN(4), L.Dense(2)])

    K.backend.clear_session()
    keras.backend.clear_session()
    theirs, ours = stack(K, K.layers), stack(keras, layers)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert _summary(ours) == _summary(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(3).standard_normal((2, 10, 3)).astype("float32")
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=1e-5)

    def with_state(k, L):
        inp = k.Input((None, 3))
        seq, h, c = L.LSTM(6, return_sequences=True, return_state=True)(inp)
        out = L.GRU(6)(seq, initial_state=h) if k is K else L.GRU(6)(seq)
        return k.Model(inp, [out, c])

    ours = with_state(keras, layers)
    assert [tuple(t.shape) for t in ours.outputs] == [(None, 6), (None, 6)]


def test_lstm_learns_a_toy_sequence_task_with_fit(tmp_path):
    # Is the sum of a sequence of +-1 positive? The answer needs the whole sequence.
    rng = np.random.default_rng(0)
    x = rng.choice([-1.0, 1.0], size=(512, 9, 1)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("int64")
    model = keras.Sequential([keras.Input((9, 1)), layers.LSTM(16), layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:384], y[:384], epochs=15, batch_size=32, verbose=0)
    _, acc = model.evaluate(x[384:], y[384:], verbose=0)
    assert acc > 0.9
    path = str(tmp_path / "lstm.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_array_equal(again.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    assert again.layers[0].get_config()["units"] == 16


# ---- UpSampling2D, ZeroPadding2D, Conv2DTranspose

IMG = np.random.default_rng(4).standard_normal((2, 5, 6, 3)).astype("float32")

RESHAPING_CASES = [
    ("UpSampling2D", {"size": 2}), ("UpSampling2D", {"size": (2, 3)}),
    ("UpSampling2D", {"size": (3, 2), "interpolation": "bilinear"}),
    ("UpSampling2D", {"size": 2, "interpolation": "bilinear"}),
    ("ZeroPadding2D", {"padding": 1}), ("ZeroPadding2D", {"padding": (2, 1)}),
    ("ZeroPadding2D", {"padding": ((1, 2), (0, 3))}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": (2, 4), "strides": (2, 3), "padding": "same"}),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 1, "strides": 3, "padding": "same"}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same", "activation": "relu"}),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": (3, 2), "strides": (1, 2), "use_bias": False}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 5, "strides": 2, "padding": "same"}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "strides": 3, "padding": "same"}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "strides": 3, "bias_initializer": "ones"}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": (1, 3), "strides": 2, "bias_initializer": "ones"}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 1, "bias_initializer": "ones"}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": (2, 3), "padding": "same",
                         "output_padding": (0, 2)}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 4, "strides": 3, "padding": "same", "output_padding": 1}),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": (2, 5), "strides": 3, "output_padding": (2, 1)}),
]


def test_reshaping_and_conv_transpose_outputs_equal_keras():
    for name, kw in RESHAPING_CASES:
        theirs, ours = _pair(name, kw, IMG)
        want, got = _np(theirs(IMG)), _np(ours(IMG))
        assert got.shape == want.shape, (name, kw)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5, err_msg=f"{name} {kw}")
        for shape in [(None, 5, 6, 3), (7, 4, 9, 3)]:
            assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape)), (name, kw)
        assert [v.path for v in ours.weights] == [v.path for v in theirs.weights]
        assert [v.shape for v in ours.weights] == [tuple(v.shape) for v in theirs.weights]


@pytest.mark.parametrize("kw", [{"kernel_size": 3, "strides": 2, "padding": "same"},
                                {"kernel_size": (2, 3), "strides": (1, 2)},
                                {"kernel_size": 2, "strides": 3, "padding": "same"},
                                {"kernel_size": (2, 1), "strides": (3, 2), "bias_initializer": "ones"}])
def test_conv_transpose_gradients_equal_keras(kw):
    theirs, ours = _pair("Conv2DTranspose", {"filters": 4, **kw}, IMG)
    probe = np.random.default_rng(5).standard_normal(_np(theirs(IMG)).shape).astype("float32")
    xt = torch.tensor(IMG, requires_grad=True)
    (theirs(xt) * torch.tensor(probe)).sum().backward()
    xn = nerve.tensor(IMG, requires_grad=True)
    (ours(xn) * nerve.tensor(probe)).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), atol=1e-4, rtol=1e-4)
    for tv, nv in zip(theirs.trainable_weights, ours.trainable_weights):
        g = nv.value.grad.numpy()
        if nv._perm is not None:
            g = g.transpose(nv._inv)
        np.testing.assert_allclose(g, tv.value.grad.numpy(), atol=1e-4, rtol=1e-4, err_msg=nv.path)


def test_decoder_summary_and_outputs_equal_keras():
    def decoder(k, L):
        return k.Sequential([k.Input((4, 4, 8)), L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
                             L.UpSampling2D(interpolation="bilinear"), L.ZeroPadding2D(((1, 0), (2, 1))),
                             L.Conv2DTranspose(2, 3), L.UpSampling2D((1, 2))])

    K.backend.clear_session()
    keras.backend.clear_session()
    theirs, ours = decoder(K, K.layers), decoder(keras, layers)
    assert _summary(ours) == _summary(theirs)
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(6).standard_normal((2, 4, 4, 8)).astype("float32")
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=1e-5)


def test_reshaping_errors():
    with pytest.raises(NotImplementedError, match="bicubic"):
        layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="non-negative"):
        layers.ZeroPadding2D(-1)
    with pytest.raises(ValueError, match="`padding` should be"):
        layers.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="expected ndim=4"):
        layers.UpSampling2D()(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="must be one of 'valid', 'same'"):
        layers.Conv2DTranspose(2, 3, padding="full")
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        ct = layers.Conv2DTranspose(2, 3)
        ct(IMG)
        ct(np.zeros((1, 4, 4, 5), "float32"))
