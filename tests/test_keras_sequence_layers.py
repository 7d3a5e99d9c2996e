"""Conv1D, SeparableConv1D, the 1-D pooling and reshaping layers, MultiHeadAttention, Attention and
AdditiveAttention in nerve.keras against Keras 3 itself (torch backend): the same small models built
in both, Keras's weights copied over with set_weights, then outputs (to 1e-5 in float32), one SGD
step's loss and updated weights (so the gradients), summaries, weight names, masks and errors; and
keras.io's two text-classification models (the Transformer block and the 1D CNN) at tiny sizes,
the Transformer then trained on a small synthetic task it must learn.

Skipped where Keras 3 is not installed.
"""

import numpy as np
import pytest
from _keras_compare import K, assert_same, both, fresh, names, same_step, summary_of
from _keras_compare import to_numpy as _np

from nerve import keras
from nerve.keras import layers


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)
    yield

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def rows(model):
    """The summary's rows as data: name, type, output shape, parameter count. (Where a mask is made from
    the ids, Keras's summary also lists the ``not_equal`` op that makes it, which nerve has no layer for.)"""
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers if type(layer).__name__ != "NotEqual"]


def padded_ids(rng, n, steps, vocab):
    """Ids with zero padding: post-padding, pre-padding, holes, one sequence of a single token."""
    ids = rng.integers(1, vocab, (n, steps))
    ids[0, steps - 3:] = 0
    ids[1, :2] = 0
    ids[2, ::2] = 0
    ids[3, :-1] = 0
    return ids


RNG = np.random.default_rng(0)
SEQ = RNG.standard_normal((3, 12, 4)).astype("float32")


# ---------------------------------------------------------------- Conv1D and the 1-D layers

def conv_stack(k, L):
    return k.Sequential([
        k.Input((12, 4)),
        L.Conv1D(6, 3, strides=2, padding="same"),
        L.Conv1D(6, 3, padding="causal", dilation_rate=2, groups=2, activation="relu"),
        L.Conv1D(5, 2, padding="same", use_bias=False, activation="tanh"),
        L.Conv1D(4, 4, strides=3, padding="causal", bias_initializer="ones"),
        L.Conv1D(3, kernel_size=(1,)),
    ])


def pool_stack(k, L):
    return k.Sequential([
        k.Input((12, 4)),
        L.ZeroPadding1D((1, 2)),
        L.SeparableConv1D(6, 3, depth_multiplier=2, padding="same", strides=2, activation="relu"),
        L.MaxPooling1D(3, strides=2, padding="same"),
        L.UpSampling1D(3),
        L.Cropping1D((2, 1)),
        L.AveragePooling1D(3, strides=1, padding="same"),
        L.AveragePooling1D(2, padding="same"),
        L.SeparableConv1D(5, 2, dilation_rate=2, use_bias=False),
        L.Conv1D(4, 3, padding="same"),
        L.MaxPool1D(),
        L.AvgPool1D(1),
        L.GlobalMaxPooling1D(),
    ])


@pytest.mark.parametrize("build", [conv_stack, pool_stack])
def test_conv1d_pooling_and_reshaping_outputs_step_and_summary_equal_keras(build):
    theirs, ours = both(build)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert names(ours) == names(theirs)
    assert_same(ours.predict(SEQ, verbose=0), theirs(SEQ))
    assert summary_of(ours) == summary_of(theirs)
    y = RNG.standard_normal(tuple(_np(theirs(SEQ)).shape)).astype("float32")
    same_step(theirs, ours, SEQ, y)


def test_conv1d_kernel_layout_is_keras():
    conv = layers.Conv1D(6, 3, groups=2)
    conv(SEQ)
    kernel, bias = conv.get_weights()
    assert kernel.shape == (3, 2, 6) and bias.shape == (6,)
    # output channel o of step t: sum over the kernel taps and the group's input channels
    x = SEQ[:, :, 2:4]
    want = sum(x[:, 1 + j, :] @ kernel[j, :, 3:] for j in range(3))
    np.testing.assert_allclose(_np(conv(SEQ))[:, 1, 3:], want, atol=1e-5)


def test_average_pooling1d_same_with_uneven_padding_averages_the_covered_steps():
    # pool 4, stride 1: one step of padding before, two after. Keras's TensorFlow and JAX backends
    # average the steps a window covers; its torch backend repeats the edge step there instead
    # (Keras's own test of this case is skipped on torch), so the reference here is NumPy's.
    pool = layers.AveragePooling1D(4, strides=1, padding="same")
    got = _np(pool(SEQ))
    padded = np.pad(SEQ, ((0, 0), (1, 2), (0, 0)), constant_values=np.nan)
    want = np.stack([np.nanmean(padded[:, i:i + 4], axis=1) for i in range(12)], axis=1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # where the padding is even, or the one padded step would repeat a window's only step, Keras's
    # torch backend agrees
    for kw, steps in (({"pool_size": 3, "strides": 1}, 12), ({"pool_size": 3, "strides": 2}, 11), ({"pool_size": 2}, 11)):
        assert_same(layers.AveragePooling1D(padding="same", **kw)(SEQ[:, :steps]),
                    K.layers.AveragePooling1D(padding="same", **kw)(SEQ[:, :steps]))


@pytest.mark.parametrize("make, shape, err, match", [
    (lambda: layers.Conv1D(4, 3), (2, 5), ValueError, "expected ndim=3, found ndim=2"),
    (lambda: layers.Conv1D(4, 3, groups=2), (2, 5, 3), ValueError, "divisible by the number of groups"),
    (lambda: layers.MaxPooling1D(), (2, 5, 3, 1), ValueError, "expected ndim=3, found ndim=4"),
    (lambda: layers.AveragePooling1D(2), (5, 3), ValueError, "expected ndim=3"),
    (lambda: layers.SeparableConv1D(4, 3), (5, 3), ValueError, "expected ndim=3"),
    (lambda: layers.UpSampling1D(), (5, 3), ValueError, "expected ndim=3"),
    (lambda: layers.ZeroPadding1D(), (5, 3), ValueError, "expected ndim=3"),
    (lambda: layers.Cropping1D((2, 3)), (2, 5, 3), ValueError, "smaller than the input length"),
])
def test_bad_inputs_raise_clear_errors(make, shape, err, match):
    with pytest.raises(err, match=match):
        make()(np.zeros(shape, "float32"))


def test_bad_arguments_and_channel_counts_raise_clear_errors():
    conv = layers.Conv1D(4, 3)
    conv(np.zeros((2, 5, 2), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 2, but received input "
                                         r"with shape \(2, 5, 3\)"):
        conv(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match="filters must be evenly divisible"):
        layers.Conv1D(5, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        layers.Conv1D(4, 3, padding="full")
    with pytest.raises(ValueError, match="padding"):
        layers.MaxPooling1D(padding="causal")
    with pytest.raises(ValueError, match="must be one of {'channels_first', 'channels_last'}"):
        layers.Conv1D(4, 3, data_format="channels_middle")


@pytest.mark.parametrize("cls, kw", [
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "causal", "activation": "relu"}),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2}),
    ("MaxPooling1D", {"pool_size": 3, "padding": "same"}),
    ("AveragePooling1D", {"pool_size": 2, "strides": 1}),
    ("UpSampling1D", {"size": 3}),
    ("ZeroPadding1D", {"padding": (2, 1)}),
    ("Cropping1D", {"cropping": 2}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "value_dim": 2, "output_shape": 5, "dropout": 0.1}),
    ("Attention", {"use_scale": True, "score_mode": "concat"}),
    ("AdditiveAttention", {"use_scale": False}),
])
def test_get_config_round_trips_and_keeps_keras_arguments(cls, kw):
    layer = getattr(layers, cls)(**kw)
    config = layer.get_config()
    for key, value in kw.items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value)
    assert getattr(layers, cls).from_config(config).get_config() == config
    # Keras takes the same arguments
    getattr(K.layers, cls)(**kw)


# ---------------------------------------------------------------- MultiHeadAttention

def self_attention(k, L, mask_zero=True, **kw):
    """Self-attention over zero-padded ids: the Embedding's mask reaches the attention and the pooling."""
    i = k.Input((7,), dtype="int32")
    e = L.Embedding(20, 6, mask_zero=mask_zero, embeddings_initializer=k.initializers.RandomNormal(stddev=1.0))(i)
    a = L.MultiHeadAttention(2, 3, **kw)(e, e)
    return k.Model(i, L.GlobalAveragePooling1D()(a))


@pytest.mark.parametrize("kw", [{}, {"value_dim": 4, "use_bias": False, "output_shape": 5}, {"dropout": 0.3}])
def test_multi_head_self_attention_with_masks_equals_keras(kw):
    theirs, ours = both(lambda k, L: self_attention(k, L, **kw))
    ids = padded_ids(RNG, 5, 7, 20)
    want = theirs(ids)
    assert_same(ours.predict(ids, verbose=0), want)
    # the masks matter: without them the same weights give other outputs
    unmasked = self_attention(keras, layers, mask_zero=False, **kw)
    unmasked.set_weights(theirs.get_weights())
    assert np.abs(unmasked.predict(ids, verbose=0) - _np(want)).max() > 1e-3
    assert rows(ours) == rows(theirs)
    if not kw:
        assert names(ours) == names(theirs)
        assert names(ours)[1:3] == ["multi_head_attention/query/kernel", "multi_head_attention/query/bias"]
        same_step(theirs, ours, ids, RNG.standard_normal((5, 6)).astype("float32"))


def test_multi_head_attention_weights_and_direct_calls_equal_keras():
    q = RNG.standard_normal((3, 5, 4)).astype("float32")
    v = RNG.standard_normal((3, 6, 3)).astype("float32")
    key = RNG.standard_normal((3, 6, 2)).astype("float32")
    K.backend.clear_session()
    theirs, ours = K.layers.MultiHeadAttention(2, 4, value_dim=3), layers.MultiHeadAttention(2, 4, value_dim=3)
    theirs(q, v, key)
    ours(q, v, key)
    assert [(w.path, tuple(w.shape)) for w in ours.weights] == [(w.path, tuple(w.shape)) for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [(4, 2, 4), (2, 4), (2, 2, 4), (2, 4), (3, 2, 3), (2, 3),
                                                        (2, 3, 4), (4,)]
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    mask = RNG.random((3, 5, 6)) > 0.4
    mask[0, 2] = False  # a query step that sees no key
    for kw in ({}, {"attention_mask": mask}, {"use_causal_mask": True},
               {"attention_mask": mask, "use_causal_mask": True, "return_attention_scores": True},
               {"return_attention_scores": True}):
        assert_same(ours(q, v, key=key, **kw), theirs(q, v, key, **kw))
    # a value mask; a query_mask argument is replaced by the query tensor's own mask (none here), as
    # Keras's call does
    qm, vm = RNG.random((3, 5)) > 0.3, RNG.random((3, 6)) > 0.3
    qm[1, :] = True
    vm[:, 0] = True
    assert_same(ours(q, v, key, query_mask=qm, value_mask=vm),
                theirs(q, v, key, query_mask=K.ops.convert_to_tensor(qm), value_mask=K.ops.convert_to_tensor(vm)))
    # the default attention axes of a (batch, rows, cols, features) input: rows and cols together
    x4 = RNG.standard_normal((2, 3, 4, 5)).astype("float32")
    t4, o4 = K.layers.MultiHeadAttention(2, 4), layers.MultiHeadAttention(2, 4)
    t4(x4, x4)
    o4(x4, x4)
    o4.set_weights(t4.get_weights())
    assert_same(o4(x4, x4, return_attention_scores=True), t4(x4, x4, return_attention_scores=True))


def cross_attention(k, L):
    qi, vi = k.Input((5, 4)), k.Input((6, 3))
    a = L.MultiHeadAttention(2, 4, value_dim=3, output_shape=(2, 3))(qi, vi, use_causal_mask=True)
    return k.Model([qi, vi], L.Reshape((30,))(a))


def test_multi_head_cross_attention_model_step_and_summary_equal_keras():
    theirs, ours = both(cross_attention)
    x = [RNG.standard_normal((4, 5, 4)).astype("float32"), RNG.standard_normal((4, 6, 3)).astype("float32")]
    assert_same(ours.predict(x, verbose=0), theirs(x))
    assert summary_of(ours) == summary_of(theirs)
    same_step(theirs, ours, x, RNG.standard_normal((4, 30)).astype("float32"))


def test_multi_head_attention_dropout_only_while_training():
    mha = layers.MultiHeadAttention(2, 3, dropout=0.5)
    default, inference, training = (_np(mha(SEQ, SEQ, **kw)) for kw in ({}, {"training": False}, {"training": True}))
    np.testing.assert_array_equal(default, inference)
    assert np.abs(training - inference).max() > 1e-3


def test_multi_head_attention_errors_are_clear():
    mha = layers.MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match="rank, 3 or more"):
        mha(np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32"))
    with pytest.raises(NotImplementedError, match="only the default attention_axes"):
        layers.MultiHeadAttention(2, 3, attention_axes=(2,))(np.zeros((2, 3, 4, 5), "float32"),
                                                             np.zeros((2, 3, 4, 5), "float32"))
    mha = layers.MultiHeadAttention(2, 3)
    mha(np.zeros((2, 4, 5), "float32"), np.zeros((2, 4, 5), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 5"):
        mha(np.zeros((2, 4, 6), "float32"), np.zeros((2, 4, 5), "float32"))
    with pytest.raises(ValueError, match="except the last one, must be equal"):
        layers.MultiHeadAttention(2, 3)(np.zeros((2, 4, 5), "float32"), np.zeros((2, 4, 5), "float32"),
                                        np.zeros((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="num_heads"):
        layers.MultiHeadAttention(0, 3)
    with pytest.raises(TypeError, match="value"):
        layers.MultiHeadAttention(2, 3)(np.zeros((2, 4, 5), "float32"))


# ---------------------------------------------------------------- Attention, AdditiveAttention

def luong(k, L, name="Attention", causal=False, **kw):
    i, j = k.Input((7,), dtype="int32"), k.Input((6,), dtype="int32")
    init = k.initializers.RandomNormal(stddev=1.0)
    q = L.Embedding(20, 5, mask_zero=True, embeddings_initializer=init)(i)
    v = L.Embedding(20, 5, mask_zero=True, embeddings_initializer=init)(j)
    a = getattr(L, name)(**kw)([q, v], use_causal_mask=causal)
    return k.Model([i, j], L.GlobalAveragePooling1D()(a))


@pytest.mark.parametrize("name, causal, kw", [
    ("Attention", False, {}),
    ("Attention", True, {"use_scale": True, "score_mode": "concat"}),
    ("AdditiveAttention", False, {}),
    ("AdditiveAttention", True, {"use_scale": False}),
])
def test_attention_layers_with_masks_equal_keras(name, causal, kw):
    theirs, ours = both(lambda k, L: luong(k, L, name, causal, **kw))
    x = [padded_ids(RNG, 4, 7, 20), padded_ids(RNG, 4, 6, 20)]
    x[1][3] = 0  # a value sequence that is all padding
    assert_same(ours.predict(x, verbose=0), theirs(x))
    assert rows(ours) == rows(theirs)
    same_step(theirs, ours, x, RNG.standard_normal((4, 5)).astype("float32"))


def test_attention_scores_and_errors():
    q, v = RNG.standard_normal((3, 5, 4)).astype("float32"), RNG.standard_normal((3, 6, 4)).astype("float32")
    for name in ("Attention", "AdditiveAttention"):
        theirs, ours = getattr(K.layers, name)(), getattr(layers, name)()
        theirs([q, v])
        ours([q, v])
        ours.set_weights(theirs.get_weights())
        for kw in ({"return_attention_scores": True}, {"use_causal_mask": True, "return_attention_scores": True}):
            assert_same(ours([q, v, v], **kw), theirs([q, v, v], **kw))
    with pytest.raises(ValueError, match="must be called on a list of inputs"):
        layers.Attention()(q)
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="add")


# ---------------------------------------------------------------- keras.io's text models

def transformer_example(k, maxlen=10, vocab_size=30, embed_dim=8, num_heads=2, ff_dim=8, rate=0.1):
    """keras.io's "Text classification with Transformer", as written there (smaller sizes)."""
    L, ops = k.layers, k.ops

    class TransformerBlock(L.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = L.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = k.Sequential([L.Dense(ff_dim, activation="relu"), L.Dense(embed_dim)])
            self.layernorm1 = L.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = L.LayerNormalization(epsilon=1e-6)
            self.dropout1 = L.Dropout(rate)
            self.dropout2 = L.Dropout(rate)

        def call(self, inputs):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(L.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = L.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = L.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    inputs = L.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim, rate)
    x = transformer_block(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dropout(rate)(x)
    x = L.Dense(20, activation="relu")(x)
    x = L.Dropout(rate)(x)
    outputs = L.Dense(2, activation="softmax")(x)
    return k.Model(inputs=inputs, outputs=outputs)


def sentiment_data(rng, n, maxlen=10, vocab=30):
    """Noise words (9..29) with three words of the label's group planted (1-4 positive, 5-8 negative)."""
    x = rng.integers(9, vocab, (n, maxlen))
    y = rng.integers(0, 2, n)
    for i in range(n):
        at = rng.choice(maxlen, 3, replace=False)
        x[i, at] = rng.integers(1, 5, 3) + 4 * (1 - y[i])
    return x, y


def test_transformer_text_classification_equals_keras_and_learns():
    theirs, ours = both(lambda k, L: transformer_example(k))
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    x, y = sentiment_data(RNG, 6)
    assert_same(ours.predict(x, verbose=0), theirs(x))
    assert summary_of(ours) == summary_of(theirs)
    # one SGD step without dropout: the same loss and weights
    theirs, ours = both(lambda k, L: transformer_example(k, rate=0.0))
    same_step(theirs, ours, x, y, loss="sparse_categorical_crossentropy", lr=0.5)
    assert_same(ours.predict(x, verbose=0), theirs(x))
    # as keras.io trains it: adam, sparse categorical crossentropy, accuracy
    keras.utils.set_random_seed(1)
    model = transformer_example(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(1)
    (xtr, ytr), (xte, yte) = sentiment_data(rng, 512), sentiment_data(rng, 256)
    history = model.fit(xtr, ytr, batch_size=32, epochs=6, validation_data=(xte, yte), verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.9, history.history


def cnn_example(k, L, rate=0.5):
    """keras.io's "Text classification from scratch" model (smaller sizes), on sequences of any length."""
    inputs = k.Input(shape=(None,), dtype="int64")
    x = L.Embedding(50, 8)(inputs)
    x = L.Dropout(rate)(x)
    x = L.Conv1D(6, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.Conv1D(6, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(8, activation="relu")(x)
    x = L.Dropout(rate)(x)
    predictions = L.Dense(1, activation="sigmoid", name="predictions")(x)
    return k.Model(inputs, predictions)


def test_cnn_text_classification_equals_keras(tmp_path):
    theirs, ours = both(cnn_example)
    assert ours.layers[3].output.shape == (None, None, 6)  # the steps stay open, as Keras's
    x = RNG.integers(0, 50, (5, 30))
    assert_same(ours.predict(x, verbose=0), theirs(x))
    longer = RNG.integers(0, 50, (5, 41))
    assert_same(ours.predict(longer, verbose=0), theirs(longer))
    assert summary_of(ours) == summary_of(theirs)
    path = str(tmp_path / "cnn.keras")
    ours.save(path)
    assert_same(keras.models.load_model(path).predict(x, verbose=0), theirs(x))
    theirs, ours = both(lambda k, L: cnn_example(k, L, rate=0.0))
    same_step(theirs, ours, x, RNG.integers(0, 2, (5, 1)).astype("float32"), loss="binary_crossentropy")


def test_pad_sequences_equals_keras():
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9, 10]]
    for kw in ({}, {"maxlen": 4}, {"maxlen": 4, "padding": "post", "truncating": "post"},
               {"maxlen": 2, "value": -1, "dtype": "float32"}):
        got, want = keras.utils.pad_sequences(seqs, **kw), K.utils.pad_sequences(seqs, **kw)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
