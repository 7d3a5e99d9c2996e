"""Masking, Bidirectional, TimeDistributed, Lambda, stateful RNNs and GlobalAveragePooling1D in
nerve.keras against Keras 3 itself (torch backend): the same small models built in both, Keras's
weights copied over with set_weights, then predictions on zero-padded sequences (so the masks
matter), one training step's loss and weights, summaries, weight names.

Skipped where Keras 3 is not installed.
"""

import os

import numpy as np
import pytest
from _keras_compare import K, assert_same, both, fresh, names, summary_of
from _keras_compare import as_list as _list
from _keras_compare import to_numpy as _np

from nerve import keras
from nerve.keras import layers


@pytest.fixture(autouse=True)
def _fresh():
    fresh()
    yield

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def padded_ids(rng, n, steps, vocab):
    """Token ids with zero padding: pre-padding (Keras's pad_sequences default), post-padding, holes."""
    ids = rng.integers(1, vocab, (n, steps))
    ids[0, : steps // 2] = 0
    ids[1, steps - 2:] = 0
    ids[2, 1::2] = 0
    if n > 3:
        ids[3, :] = 0
        ids[3, steps - 1] = 3
    return ids


# ---------------------------------------------------------------- the keras.io IMDB model, tiny

def imdb(k, L, mask_zero=True):
    return k.Sequential([
        k.Input((9,), dtype="int32"),
        L.Embedding(40, 6, mask_zero=mask_zero),
        L.Bidirectional(L.LSTM(8, return_sequences=True)),
        L.Bidirectional(L.LSTM(8)),
        L.Dense(1, activation="sigmoid"),
    ])


def test_imdb_bidirectional_lstm_predictions_summary_and_step_equal_keras():
    rng = np.random.default_rng(0)
    theirs, ours = both(imdb)
    x = padded_ids(rng, 6, 9, 40)
    y = rng.integers(0, 2, (6, 1)).astype("float32")
    want = _np(theirs(x))
    got = ours.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # the mask matters: without it the same weights give other predictions
    unmasked = imdb(keras, layers, mask_zero=False)
    unmasked.set_weights(theirs.get_weights())
    assert np.abs(unmasked.predict(x, verbose=0) - want).max() > 1e-4
    assert summary_of(ours) == summary_of(theirs)
    assert ours.count_params() == theirs.count_params() == 2 * 2 * 4 * (6 + 8 + 1) * 8 // 2 + 240 + 2 * 4 * (16 + 8 + 1) * 8 + 17
    assert names(ours) == names(theirs)
    assert names(ours)[1] == "bidirectional/forward_lstm/lstm_cell/kernel"
    assert names(ours)[4] == "bidirectional/backward_lstm/lstm_cell/kernel"
    # one training step: the loss and every updated weight
    theirs.compile(K.optimizers.SGD(0.5), "binary_crossentropy")
    ours.compile(keras.optimizers.SGD(0.5), "binary_crossentropy")
    before = theirs.get_weights()
    lt = theirs.train_on_batch(x, y)
    lo = ours.train_on_batch(x, y)
    assert lo == pytest.approx(lt, rel=1e-5)
    for a, b, w0 in zip(ours.get_weights(), theirs.get_weights(), before):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-5)
        assert np.abs(a - w0).max() > 1e-6  # every weight moved
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs(x)), atol=1e-5)


def test_masks_ride_along_eager_layer_calls():
    """Called one by one (as in a subclassed model), the layers hand the mask on as Keras's do."""
    rng = np.random.default_rng(1)
    x = padded_ids(rng, 4, 7, 20)
    built = {}
    for k, L, tag in ((K, K.layers, "k"), (keras, layers, "n")):
        emb = L.Embedding(20, 5, mask_zero=True)
        bi = L.Bidirectional(L.GRU(3, return_sequences=True))
        e = emb(x)
        built[tag] = (emb, bi, e)
    emb_k, bi_k, e_k = built["k"]
    emb_n, bi_n, e_n = built["n"]
    emb_n.set_weights(emb_k.get_weights())
    e_n = emb_n(x)
    mask = keras.layers.layer.get_keras_mask(e_n)
    np.testing.assert_array_equal(_np(mask), x != 0)
    bi_k(e_k)
    bi_n(e_n)
    bi_n.set_weights(bi_k.get_weights())
    want, got = bi_k(e_k), bi_n(e_n)
    assert_same(got, want)
    # Bidirectional with return_sequences zeroes the masked steps (zero_output_for_mask), and passes the mask on
    assert np.all(_np(got)[x == 0] == 0) and np.abs(_np(got)[x != 0]).min() > 0
    np.testing.assert_array_equal(_np(keras.layers.layer.get_keras_mask(got)), x != 0)


# ---------------------------------------------------------------- recurrent layers with masks

RNNS = [("LSTM", {}), ("GRU", {}), ("SimpleRNN", {}), ("GRU", {"reset_after": False}),
        ("LSTM", {"activation": "relu"})]  # the last two run the step loop, the others the Scan op
RETURNS = [{}, {"return_sequences": True, "go_backwards": True, "return_state": True},
           {"return_sequences": True, "zero_output_for_mask": True}]


@pytest.mark.parametrize("name,kw", RNNS)
def test_masked_rnn_outputs_and_states_equal_keras(name, kw):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]], bool)
    n_states = 2 if name == "LSTM" else 1
    for ret in RETURNS:
        theirs = getattr(K.layers, name)(5, **kw, **ret)
        theirs(x)
        ours = getattr(layers, name)(5, **kw, **ret)
        ours.build(x.shape)
        ours.set_weights(theirs.get_weights())
        assert_same(ours(x, mask=mask), theirs(x, mask=mask))
        # a given initial state: masked steps before the first unmasked one output zeros, not the state
        h0 = [rng.standard_normal((4, 5)).astype("float32") for _ in range(n_states)]
        assert_same(ours(x, mask=mask, initial_state=h0), theirs(x, mask=mask, initial_state=h0))
        if not ret.get("return_state"):
            # the mask changes the result (a check that could fail)
            assert np.abs(_np(ours(x, mask=mask)) - _np(ours(x))).max() > 1e-3


@pytest.mark.parametrize("name,kw", [("LSTM", {}), ("GRU", {}), ("SimpleRNN", {}), ("GRU", {"reset_after": False})])
def test_masked_rnn_training_step_equals_keras(name, kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6, 3)).astype("float32")
    x[0, 3:] = 0
    x[1, :2] = 0
    x[2, 2] = 0
    y = rng.standard_normal((5, 2)).astype("float32")

    def model(k, L):
        return k.Sequential([k.Input((6, 3)), L.Masking(0.0), getattr(L, name)(4, return_sequences=True, **kw),
                             L.Dropout(0.0), getattr(L, name)(4, go_backwards=True, **kw), L.Dense(2)])

    theirs, ours = both(model)
    assert_same(ours(x), theirs(x))
    theirs.compile(K.optimizers.SGD(0.3), "mse")
    ours.compile(keras.optimizers.SGD(0.3), "mse")
    assert ours.train_on_batch(x, y) == pytest.approx(theirs.train_on_batch(x, y), rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-5)


# ---------------------------------------------------------------- Bidirectional

@pytest.mark.parametrize("merge_mode,inner,kw", [
    ("concat", "GRU", {"return_sequences": True}), ("sum", "LSTM", {"return_state": True}),
    ("mul", "SimpleRNN", {"return_sequences": True, "return_state": True}), ("ave", "GRU", {"return_state": True}),
    (None, "LSTM", {"return_sequences": True}), (None, "GRU", {"return_state": True}),
])
def test_bidirectional_merge_modes_equal_keras(merge_mode, inner, kw):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 4)).astype("float32")
    x[0, 3:] = 0
    x[1, :1] = 0

    def model(k, L):
        i = k.Input((5, 4))
        out = L.Bidirectional(getattr(L, inner)(3, **kw), merge_mode=merge_mode)(L.Masking()(i))
        return k.Model(i, list(out) if isinstance(out, (list, tuple)) else out)

    theirs, ours = both(model)
    assert_same(ours(x), theirs(x))
    assert names(ours) == names(theirs)
    bt, bo = theirs.layers[-1], ours.layers[-1]
    assert bo.count_params() == bt.count_params()
    want = [tuple(t.shape) for t in _list(theirs.outputs)]
    assert [tuple(t.shape) for t in _list(ours.outputs)] == want
    shapes = bt.compute_output_shape((None, 5, 4))
    assert [tuple(s) for s in shapes] == want if isinstance(shapes[0], (tuple, list)) else [tuple(shapes)] == want


def test_bidirectional_initial_state_weights_and_config():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    states = [rng.standard_normal((2, 6)).astype("float32") for _ in range(4)]
    theirs = K.layers.Bidirectional(K.layers.LSTM(6, return_sequences=True, return_state=True))
    ours = layers.Bidirectional(layers.LSTM(6, return_sequences=True, return_state=True))
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert_same(ours(x, initial_state=states), theirs(x, initial_state=states))
    # a given backward layer, and go_backwards checked as Keras
    back = layers.GRU(2, go_backwards=True, name="mine")
    bi = layers.Bidirectional(layers.GRU(2), backward_layer=back, merge_mode="sum")
    assert bi.backward_layer is back and bi.forward_layer.name == "forward_gru"
    with pytest.raises(ValueError, match="different `go_backwards`"):
        layers.Bidirectional(layers.GRU(2), backward_layer=layers.GRU(2))
    with pytest.raises(ValueError, match="Invalid merge mode"):
        layers.Bidirectional(layers.GRU(2), merge_mode="max")
    clone = layers.Bidirectional.from_config(ours.get_config())
    clone(x)
    clone.set_weights(ours.get_weights())
    assert_same(clone(x), ours(x))


# ---------------------------------------------------------------- TimeDistributed

def test_time_distributed_dense_and_conv2d_equal_keras():
    rng = np.random.default_rng(6)
    video = rng.standard_normal((3, 4, 7, 7, 2)).astype("float32")
    y = rng.standard_normal((3, 4, 5)).astype("float32")

    def model(k, L):
        return k.Sequential([k.Input((4, 7, 7, 2)), L.TimeDistributed(L.Conv2D(3, 3, activation="relu")),
                             L.TimeDistributed(L.MaxPooling2D()), L.TimeDistributed(L.Flatten()),
                             L.TimeDistributed(L.Dense(5))])

    theirs, ours = both(model)
    assert_same(ours(video), theirs(video))
    assert summary_of(ours) == summary_of(theirs)
    assert names(ours) == names(theirs) == ["time_distributed/conv2d/kernel", "time_distributed/conv2d/bias",
                                            "time_distributed_3/dense/kernel", "time_distributed_3/dense/bias"]
    theirs.compile(K.optimizers.SGD(0.1), "mse")
    ours.compile(keras.optimizers.SGD(0.1), "mse")
    assert ours.train_on_batch(video, y) == pytest.approx(theirs.train_on_batch(video, y), rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-5)


def test_time_distributed_passes_the_mask_and_batchnorm_per_step():
    rng = np.random.default_rng(7)
    ids = padded_ids(rng, 4, 6, 15)

    def model(k, L):
        return k.Sequential([k.Input((6,), dtype="int32"), L.Embedding(15, 4, mask_zero=True),
                             L.TimeDistributed(L.Dense(3, activation="tanh")), L.LSTM(2)])

    theirs, ours = both(model)
    assert_same(ours(ids), theirs(ids))
    # while training, Keras runs the wrapped BatchNormalization once per step (per-step statistics)
    x = rng.standard_normal((4, 3, 5)).astype("float32") * 3 + 1
    theirs, ours = both(lambda k, L: k.Sequential([k.Input((3, 5)), L.TimeDistributed(L.BatchNormalization())]))
    assert_same(ours(x, training=True), theirs(x, training=True))
    # the moving mean, updated once per step (3 times); the moving variance differs by design (nerve's
    # BatchNormalization updates it with the unbiased batch variance, as PyTorch)
    np.testing.assert_allclose(ours.get_weights()[2], theirs.get_weights()[2], atol=1e-6)
    assert np.abs(ours.get_weights()[2]).min() > 1e-3
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        layers.TimeDistributed(layers.Dense(2))(np.zeros((2, 3), "float32"))


# ---------------------------------------------------------------- Lambda

def test_lambda_with_keras_ops_shapes_arguments_and_masks():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 5, 4)).astype("float32")

    def model(k, L):
        return k.Sequential([
            k.Input((5, 4)),
            L.Lambda(lambda t: k.ops.concatenate([t, k.ops.square(t)], axis=-1)),  # shape inferred: (None, 5, 8)
            L.Lambda(lambda t, scale: k.ops.tanh(t) * scale, arguments={"scale": 2.0}),
            L.Lambda(lambda t: k.ops.mean(t, axis=1), output_shape=(8,)),
            L.Dense(3),
        ])

    theirs, ours = both(model)
    assert_same(ours(x), theirs(x))
    assert summary_of(ours) == summary_of(theirs)
    assert ours.layers[0].compute_output_shape((None, 5, 4)) == (None, 5, 8)
    lam = layers.Lambda(lambda t: t[:, :2], output_shape=lambda s: (s[0], 2))
    assert lam.compute_output_shape((7, 9)) == (7, 2)
    np.testing.assert_array_equal(_np(lam(np.arange(6, dtype="float32").reshape(2, 3))), [[0, 1], [3, 4]])
    # a Lambda with no `mask` drops the mask (as Keras's); mask=a function passes one on
    x[0, 3:] = 0
    for mask in (None, lambda inputs, m: m):
        def masked(k, L, mask=mask):
            return k.Sequential([k.Input((5, 4)), L.Masking(), L.Lambda(lambda t: t * 1.5, mask=mask),
                                 L.SimpleRNN(3)])

        theirs, ours = both(masked)
        assert_same(ours(x), theirs(x))
    keep, drop = (both(lambda k, L, m=m: k.Sequential([k.Input((5, 4)), L.Masking(), L.Lambda(lambda t: t, mask=m),
                                                         L.SimpleRNN(3)]))[1](x) for m in (lambda i, m: m, None))
    assert np.abs(_np(keep) - _np(drop)).max() > 1e-3
    with pytest.raises(ValueError, match="Lambda layer"):
        ours.save(os.path.join(os.environ.get("TMPDIR", "/tmp"), "nerve_lambda_test.keras"))


# ---------------------------------------------------------------- Masking and pooling

def test_masking_and_global_average_pooling1d_equal_keras():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    x[0, 4:] = 0
    x[1, :3] = 0
    x[2, 1] = 0
    x[3, 2, 0] = 0  # one zero feature of three: not masked
    for build in (lambda k, L: k.Sequential([k.Input((6, 3)), L.Masking(0.0), L.GlobalAveragePooling1D()]),
                  lambda k, L: k.Sequential([k.Input((6, 3)), L.Masking(0.0), L.Dense(4), L.Dropout(0.5),
                                             L.GlobalAveragePooling1D()]),
                  lambda k, L: k.Sequential([k.Input((6, 3)), L.Masking(0.0),
                                             L.GlobalAveragePooling1D(keepdims=True)])):
        theirs, ours = both(build)
        assert_same(ours(x), theirs(x))
        assert summary_of(ours) == summary_of(theirs)
    # the mean is over the unmasked steps only
    got = _np(layers.GlobalAveragePooling1D()(layers.Masking()(x)))
    keep = np.any(x != 0, axis=-1)
    np.testing.assert_allclose(got, (x * keep[..., None]).sum(1) / keep.sum(1, keepdims=True), atol=1e-6)
    assert np.abs(got - x.mean(1)).max() > 1e-2
    # Softmax with a mask: masked positions get probability 0
    m = rng.random((4, 6, 3)) > 0.4
    assert_same(layers.Softmax()(x, mask=m), K.layers.Softmax()(x, mask=m))
    assert np.all(_np(layers.Softmax()(x, mask=m))[~m] == 0)
    # Masking with another mask value zeroes the masked steps, as Keras's
    y = x.copy()
    y[0, 4:] = -1.0
    theirs, ours = both(lambda k, L: k.Sequential([k.Input((6, 3)), L.Masking(-1.0), L.GRU(2, return_sequences=True),
                                                   L.GlobalAveragePooling1D()]))
    assert_same(ours(y), theirs(y))


def test_masked_sequence_labelling_loss_metrics_and_fit_equal_keras():
    """A mask on the model's output: the loss and the accuracy leave out the padded steps, as Keras's."""
    rng = np.random.default_rng(10)
    ids = padded_ids(rng, 8, 6, 12)
    tags = rng.integers(0, 3, (8, 6))

    def tagger(k, L):
        return k.Sequential([k.Input((6,), dtype="int32"), L.Embedding(12, 5, mask_zero=True),
                             L.GRU(4, return_sequences=True), L.TimeDistributed(L.Dense(3, activation="softmax"))])

    theirs, ours = both(tagger)
    theirs.compile(K.optimizers.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    want = theirs.evaluate(ids, tags, verbose=0, return_dict=True)
    got = ours.evaluate(ids, tags, verbose=0, return_dict=True)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-5), k
    # the mean over the unmasked steps, not over all of them
    nll = -np.log(np.take_along_axis(ours.predict(ids, verbose=0), tags[..., None], -1))[..., 0]
    assert got["loss"] == pytest.approx(nll[ids != 0].mean(), rel=1e-5)
    assert abs(nll.mean() - got["loss"]) > 1e-4
    sw = rng.random((8, 6)).astype("float32")
    assert ours.evaluate(ids, tags, sample_weight=sw, verbose=0, return_dict=True)["loss"] == \
        pytest.approx(theirs.evaluate(ids, tags, sample_weight=sw, verbose=0, return_dict=True)["loss"], rel=1e-5)
    ht = theirs.fit(ids, tags, epochs=2, batch_size=4, shuffle=False, verbose=0)
    ho = ours.fit(ids, tags, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for k in ht.history:
        np.testing.assert_allclose(ho.history[k], ht.history[k], rtol=1e-5, atol=1e-6)


def test_functional_model_carries_masks_through_merges():
    rng = np.random.default_rng(11)
    ids = padded_ids(rng, 4, 6, 10)

    def model(k, L):
        i = k.Input((6,), dtype="int32")
        e = L.Embedding(10, 4, mask_zero=True)(i)
        a = L.LSTM(3, return_sequences=True)(e)
        b = L.GRU(3, return_sequences=True, go_backwards=True)(e)
        c = L.TimeDistributed(L.Dense(2))(L.Concatenate()([a, b]))
        s = L.Add()([c, L.Dense(2)(e)])
        return k.Model(i, [L.GlobalAveragePooling1D()(s), L.SimpleRNN(2)(c), L.Bidirectional(L.GRU(2))(s)])

    K.backend.clear_session()
    keras.backend.clear_session()
    theirs, ours = model(K, K.layers), model(keras, layers)
    ks = {layer.name: layer for layer in theirs.layers}
    for layer in ours.layers:  # by name: the two order these layers differently
        layer.set_weights(ks[layer.name].get_weights())
    assert_same(ours(ids), theirs(ids))
    assert sorted(names(ours)) == sorted(names(theirs))
    # Keras's summary of a masked functional model also lists its mask ops (not_equal, any, ...) as
    # layers; the layers both have show the same output shapes and parameter counts
    for layer in ours.layers:
        assert layer.count_params() == ks[layer.name].count_params()
        assert _list(layer.output.shape if not isinstance(layer.output, list) else layer.output[0].shape) == \
            _list(tuple(ks[layer.name].output.shape))


def test_functional_initial_state_and_mask_inputs_equal_keras(tmp_path):
    """Symbolic tensors passed as keyword arguments (initial_state=, mask=) are graph inputs, as Keras's."""
    rng = np.random.default_rng(14)

    def model(k, L):
        xi, hi, ci, mi = k.Input((4, 3)), k.Input((5,)), k.Input((5,)), k.Input((4,), dtype="bool")
        out, h, c = L.LSTM(5, return_state=True, return_sequences=True)(xi, initial_state=[hi, ci], mask=mi)
        return k.Model([xi, hi, ci, mi], [L.Dense(2)(out), h, c])

    theirs, ours = both(model)
    data = [rng.standard_normal((3, 4, 3)).astype("float32"), rng.standard_normal((3, 5)).astype("float32"),
            rng.standard_normal((3, 5)).astype("float32"), rng.random((3, 4)) > 0.4]
    assert_same(ours(data), theirs(data))
    assert summary_of(ours) == summary_of(theirs)
    ours.save(tmp_path / "m.keras")
    assert_same(keras.models.load_model(tmp_path / "m.keras")(data), ours(data))


# ---------------------------------------------------------------- stateful RNNs

def test_stateful_lstm_carries_states_and_resets_as_keras():
    rng = np.random.default_rng(12)

    def model(k, L):
        return k.Sequential([k.Input((4, 3), batch_size=2), L.LSTM(5, stateful=True, return_sequences=True),
                             L.Bidirectional(L.GRU(2, stateful=True))])

    theirs, ours = both(model)
    assert summary_of(ours) == summary_of(theirs)
    assert ours.count_params() == theirs.count_params()
    assert len(ours.get_weights()) == len(theirs.get_weights())  # the states are not weights
    xs = [rng.standard_normal((2, 4, 3)).astype("float32") for _ in range(3)]
    outs = []
    for x in xs:
        outs.append(_np(ours(x)))
        np.testing.assert_allclose(outs[-1], _np(theirs(x)), atol=1e-5)
    for a, b in zip(ours.layers[0].states, theirs.layers[0].states):
        np.testing.assert_allclose(a.numpy(), _np(b.value), atol=1e-6)
    # states carried: the first batch again gives another output; after reset_state, the first one
    again = _np(ours(xs[0]))
    assert np.abs(again - outs[0]).max() > 1e-3
    for layer in ours.layers:
        layer.reset_state()
    np.testing.assert_allclose(_np(ours(xs[0])), outs[0], atol=1e-6)
    with pytest.raises(ValueError, match="batch size of the input sequences must be the same"):
        ours(rng.standard_normal((3, 4, 3)).astype("float32"))
    with pytest.raises(ValueError, match="batch size must be static"):
        keras.Sequential([keras.Input((4, 3)), layers.LSTM(5, stateful=True)])
    with pytest.raises(AttributeError, match="must be stateful"):
        layers.Bidirectional(layers.GRU(2)).reset_state()


def test_stateful_lstm_fit_equals_keras_with_states_carried_by_hand():
    """fit on a stateful LSTM: each batch starts from the states the previous one ended with.

    Keras 3 cannot train a stateful RNN on its torch backend (autograd refuses its in-place state
    update), so the reference is Keras training the same weights on a non-stateful LSTM, given
    the carried states as initial_state inputs.
    """
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 4, 3)).astype("float32")
    y = rng.standard_normal((6, 2)).astype("float32")
    L = K.layers
    xi, hi, ci = K.Input((4, 3)), K.Input((5,)), K.Input((5,))
    out, h, c = L.LSTM(5, return_state=True)(xi, initial_state=[hi, ci])
    reference = K.Model([xi, hi, ci], L.Dense(2)(out))
    states_of = K.Model([xi, hi, ci], [h, c])
    reference.compile(K.optimizers.SGD(0.1), "mse")
    ours = keras.Sequential([keras.Input((4, 3), batch_size=2), layers.LSTM(5, stateful=True), layers.Dense(2)])
    ours.set_weights(reference.get_weights())
    ours.compile(keras.optimizers.SGD(0.1), "mse")
    state = [np.zeros((2, 5), "float32")] * 2
    for epoch in range(2):
        losses = []
        for i in range(0, 6, 2):
            inputs = [x[i:i + 2]] + state
            state = [_np(s) for s in states_of(inputs)]  # with the weights before this batch's update
            losses.append(reference.train_on_batch(inputs, y[i:i + 2]))
        history = ours.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
        assert history.history["loss"][0] == pytest.approx(np.mean(losses), rel=1e-5)
        for a, b in zip(ours.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-5)
        for a, b in zip(ours.layers[0].states, state):
            np.testing.assert_allclose(a.numpy(), b, atol=1e-5)
