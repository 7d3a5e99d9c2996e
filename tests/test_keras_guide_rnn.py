"""keras.io's guide "Working with RNNs" on nerve.keras against Keras 3 itself (torch backend): each of
its patterns built in both at tiny sizes, Keras's weights copied over with set_weights, then the
outputs and states (to 1e-5 in float32) and the summaries compared: the Sequential LSTM and
return_sequences stacks, return_state feeding initial_state (the encoder-decoder), Bidirectional
(with a backward_layer and each merge mode), ``RNN(cell)`` with the built-in cells and a list of
them, cross-batch statefulness and state reuse, a custom cell and a cell with nested inputs and
states.

Skipped where Keras 3 is not installed.
"""

import numpy as np
import pytest
from _keras_compare import K, assert_same, both, fresh, names, same_step, summary_of, to_numpy

from nerve import keras
from nerve.keras import layers


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)  # both() clears Keras's session; tests that compare names without it clear it
    yield


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

RNG = np.random.default_rng(0)
IDS = RNG.integers(1, 30, (3, 7))
SEQ = RNG.standard_normal((3, 6, 5)).astype("float32")


def same_model(build, x, extra=(), summary=True):
    """The model from ``build`` in both libraries: summaries equal, outputs equal on ``x``."""
    theirs, ours = both(build)
    if summary:
        assert summary_of(ours) == summary_of(theirs)
    assert_same(ours(x), theirs(x))
    for x2 in extra:
        assert_same(ours(x2), theirs(x2))
    return theirs, ours


# ---------------------------------------------------------------- built-in layers, outputs and states

def test_sequential_lstm_summary_and_outputs():
    def build(k, L):
        model = k.Sequential()
        model.add(L.Embedding(input_dim=30, output_dim=8))
        model.add(L.LSTM(6))
        model.add(L.Dense(3))
        return model

    K.backend.clear_session()
    theirs, ours = build(K, K.layers), build(keras, layers)
    assert summary_of(ours) == summary_of(theirs)  # unbuilt
    theirs(IDS), ours(IDS)
    ours.set_weights(theirs.get_weights())
    assert summary_of(ours) == summary_of(theirs)
    assert_same(ours(IDS), theirs(IDS))


def test_return_sequences_stack():
    def build(k, L):
        model = k.Sequential([k.Input((None,))])
        model.add(L.Embedding(input_dim=30, output_dim=8))
        model.add(L.GRU(7, return_sequences=True))
        model.add(L.SimpleRNN(5))
        model.add(L.Dense(3))
        return model

    theirs, ours = same_model(build, IDS, extra=[IDS[:, :4]])
    same_step(theirs, ours, IDS, RNG.standard_normal((3, 3)).astype("float32"))


def test_encoder_decoder_return_state_initial_state():
    def build(k, L):
        enc_in = L.Input(shape=(None,))
        enc = L.Embedding(input_dim=30, output_dim=8)(enc_in)
        _, h, c = L.LSTM(6, return_state=True, name="encoder")(enc)
        dec_in = L.Input(shape=(None,))
        dec = L.Embedding(input_dim=40, output_dim=8)(dec_in)
        dec = L.LSTM(6, name="decoder")(dec, initial_state=[h, c])
        return k.Model([enc_in, dec_in], L.Dense(3)(dec))

    dec_ids = RNG.integers(0, 40, (3, 4))
    theirs, ours = same_model(build, [IDS, dec_ids])
    same_step(theirs, ours, [IDS, dec_ids], RNG.standard_normal((3, 3)).astype("float32"))


# ---------------------------------------------------------------- Bidirectional

def test_bidirectional_sequential_summary_and_outputs():
    def build(k, L):
        model = k.Sequential()
        model.add(L.Bidirectional(L.LSTM(6, return_sequences=True), input_shape=(6, 5)))
        model.add(L.Bidirectional(L.LSTM(4)))
        model.add(L.Dense(3))
        return model

    same_model(build, SEQ)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_backward_layer_merge_modes(merge_mode):
    def build(k, L):
        inputs = k.Input((6, 5))
        out = L.Bidirectional(L.LSTM(4, return_sequences=True),
                              backward_layer=L.GRU(4, return_sequences=True, go_backwards=True),
                              merge_mode=merge_mode)(inputs)
        return k.Model(inputs, out)

    same_model(build, SEQ)


# ---------------------------------------------------------------- RNN(cell)

CELLS = ["LSTMCell", "GRUCell", "SimpleRNNCell"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kw", [{}, {"return_sequences": True, "return_state": True, "go_backwards": True}])
def test_rnn_of_builtin_cell(cell, kw):
    def build(k, L):
        inputs = k.Input((None, 5))
        return k.Model(inputs, L.RNN(getattr(L, cell)(4), **kw)(inputs))

    theirs, ours = same_model(build, SEQ, extra=[SEQ[:, :2]])
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert names(ours) == names(theirs)


@pytest.mark.parametrize("cell,layer", list(zip(CELLS, ["LSTM", "GRU", "SimpleRNN"])))
def test_rnn_of_cell_equals_its_layer(cell, layer):
    """The guide's build_model both ways: the same weights give the same outputs."""
    def build_model(k, L, fused):
        rnn = getattr(L, layer)(6, input_shape=(None, 5)) if fused else \
            L.RNN(getattr(L, cell)(6), input_shape=(None, 5))
        return k.models.Sequential([rnn, L.BatchNormalization(), L.Dense(3)])

    x = RNG.standard_normal((4, 6, 5)).astype("float32")
    theirs, ours = both(lambda k, L: build_model(k, L, True))
    ours_cell = build_model(keras, layers, False)
    ours_cell.set_weights(ours.get_weights())
    assert_same(ours(x), theirs(x))
    assert_same(ours_cell(x), theirs(x))
    theirs_cell = build_model(K, K.layers, False)
    assert summary_of(ours_cell).replace("rnn_1", "rnn") == summary_of(theirs_cell).replace("rnn_1", "rnn")
    # trained as the guide does: a logits loss, SGD, accuracy, one epoch of fit (two batches)
    y = RNG.integers(0, 3, (4,))
    hist = {}
    for k, model in ((K, theirs), (keras, ours_cell)):
        model.compile(loss=k.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                      metrics=["accuracy"])
        hist[k] = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert hist[keras].keys() == hist[K].keys()
    np.testing.assert_allclose(hist[keras]["loss"], hist[K]["loss"], rtol=1e-5)
    assert hist[keras]["accuracy"] == pytest.approx(hist[K]["accuracy"])
    # (BatchNormalization's moving_variance left out: nerve's moves with the unbiased batch variance, Keras's
    # with the biased one)
    for w, wo, wt in zip(theirs.weights, ours_cell.get_weights(), theirs.get_weights()):
        if "moving_variance" not in w.path:
            np.testing.assert_allclose(wo, wt, atol=1e-5, rtol=1e-4)
    # the guide's last step: a fresh fused model with the trained weights predicts one sample
    fresh_theirs, fresh_ours = build_model(K, K.layers, True), build_model(keras, layers, True)
    fresh_theirs.set_weights(theirs.get_weights())
    fresh_ours.set_weights(theirs.get_weights())
    got, want = fresh_ours.predict_on_batch(x[:1]), fresh_theirs.predict_on_batch(x[:1])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    assert np.argmax(got, axis=1) == np.argmax(want, axis=1)


def test_rnn_of_stacked_cells():
    def build(k, L):
        inputs = k.Input((None, 5))
        cells = [L.LSTMCell(4), L.GRUCell(3), L.SimpleRNNCell(2)]
        seq = L.RNN(cells, return_sequences=True)(inputs)
        return k.Model(inputs, [seq, L.RNN([L.GRUCell(3), L.LSTMCell(2)])(seq)])

    theirs, ours = same_model(build, SEQ)
    assert names(ours) == names(theirs)  # 'rnn_1/stacked_rnn_cells/gru_cell/kernel', ...

    def build_one(k, L):
        return k.Sequential([k.Input((None, 5)), L.RNN([L.LSTMCell(4), L.SimpleRNNCell(3)], return_sequences=True),
                             L.RNN([L.GRUCell(3), L.LSTMCell(2)])])

    theirs, ours = same_model(build_one, SEQ)
    same_step(theirs, ours, SEQ, RNG.standard_normal((3, 2)).astype("float32"))


def test_bidirectional_of_rnn_cell_and_config_round_trip():
    def build(k, L):
        inputs = k.Input((6, 5))
        x = L.Bidirectional(L.RNN(L.LSTMCell(4), return_sequences=True), merge_mode="sum")(inputs)
        return k.Model(inputs, L.RNN([L.GRUCell(3), L.SimpleRNNCell(2)], go_backwards=True)(x))

    theirs, ours = same_model(build, SEQ)
    assert names(ours) == names(theirs)  # 'bidirectional/forward_rnn/lstm_cell/kernel', ...
    # rebuilt from its config in each library (fresh cells), Keras's weights copied in again
    theirs2 = K.Model.from_config(theirs.get_config())
    ours2 = keras.Model.from_config(ours.get_config())
    assert all(a is not b for a, b in zip(ours2.weights, ours.weights))
    ours2.set_weights(theirs.get_weights())
    theirs2.set_weights(theirs.get_weights())
    assert_same(ours2(SEQ), theirs2(SEQ))
    assert_same(ours2(SEQ), theirs(SEQ))


# ---------------------------------------------------------------- cross-batch statefulness

@pytest.mark.parametrize("make", [lambda L: L.LSTM(4, stateful=True),
                                  lambda L: L.RNN(L.GRUCell(4), stateful=True, return_sequences=True)])
def test_stateful_carries_states_across_batches(make):
    paragraphs = [RNG.random((2, 3, 5)).astype("float32") for _ in range(3)]

    def run(k, L):
        layer = make(L)
        layer.build((2, 3, 5))
        return layer

    theirs = run(K, K.layers)
    ours = run(keras, layers)
    ours.set_weights(theirs.get_weights())
    assert len(ours.weights) == len(theirs.weights)
    first = [ours(paragraphs[0]), theirs(paragraphs[0])]
    assert_same(*first)
    for p in paragraphs[1:]:
        assert_same(ours(p), theirs(p))
    assert_same([s.value for s in ours.states], [s.value for s in theirs.states])
    assert not np.allclose(K.ops.convert_to_numpy(theirs(paragraphs[0])), K.ops.convert_to_numpy(first[1]))
    theirs.reset_states()
    ours.reset_states()
    assert_same(ours(paragraphs[0]), theirs(paragraphs[0]))
    theirs.reset_state()
    ours.reset_state()
    assert_same(ours(paragraphs[0]), first[1])


def test_stateful_model_with_fixed_batch_input():
    def build(k, L):
        inputs = k.Input((3, 5), batch_size=2)
        x = L.RNN(L.LSTMCell(4), stateful=True, return_sequences=True)(inputs)
        return k.Model(inputs, L.Dense(2)(L.GRU(3, stateful=True)(x)))

    theirs, ours = both(build)
    assert summary_of(ours) == summary_of(theirs)
    batches = [RNG.random((2, 3, 5)).astype("float32") for _ in range(3)]
    first = theirs(batches[0])
    assert_same(ours(batches[0]), first)
    for b in batches[1:]:
        assert_same(ours.predict(b, verbose=0), theirs.predict(b, verbose=0))
    for model in (theirs, ours):
        for layer in model.layers[1:3]:
            layer.reset_state()
    assert_same(ours(batches[0]), first)
    assert_same(theirs(batches[0]), first)


def test_stateful_state_reuse_as_initial_state():
    paragraphs = [RNG.random((2, 3, 5)).astype("float32") for _ in range(3)]
    got, weights = {}, []
    for k in (K, keras):
        lstm = k.layers.LSTM(4, stateful=True)
        lstm.build((2, 3, 5))
        new_lstm = k.layers.LSTM(4)
        new_lstm.build((2, 3, 5))
        if weights:  # Keras's, into nerve's
            lstm.set_weights(weights[0])
            new_lstm.set_weights(weights[1])
        else:
            weights = [lstm.get_weights(), new_lstm.get_weights()]
        lstm(paragraphs[0])
        lstm(paragraphs[1])
        got[k] = new_lstm(paragraphs[2], initial_state=lstm.states)
    assert_same(got[keras], got[K])


# ---------------------------------------------------------------- custom cells

def minimal_cell(k):
    class MinimalRNNCell(k.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev = states[0]
            out = k.ops.tanh(k.ops.matmul(inputs, self.kernel) + k.ops.matmul(prev, self.recurrent_kernel))
            return out, [out]

    return MinimalRNNCell


@pytest.mark.parametrize("kw", [{}, {"return_sequences": True, "return_state": True}])
def test_custom_cell_in_rnn(kw):
    def build(k, L):
        inputs = k.Input((None, 5))
        return k.Model(inputs, L.RNN(minimal_cell(k)(4), **kw)(inputs))

    theirs, ours = same_model(build, SEQ)
    if not kw:
        same_step(theirs, ours, SEQ, RNG.standard_normal((3, 4)).astype("float32"))


def nested_cell(k):
    """The guide's NestedCell with one input and one output (Keras 3's RNN takes neither nested
    inputs nor nested outputs): a state of shape (unit_2, unit_3) beside a flat one."""
    @k.saving.register_keras_serializable()
    class NestedCell(k.layers.Layer):
        def __init__(self, unit_1, unit_2, unit_3, **kwargs):
            self.unit_1, self.unit_2, self.unit_3 = unit_1, unit_2, unit_3
            self.state_size = [unit_1, (unit_2, unit_3)]
            self.output_size = unit_1
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.kernel_1 = self.add_weight(shape=(input_shape[-1], self.unit_1), initializer="uniform",
                                            name="kernel_1")
            self.kernel_2_3 = self.add_weight(shape=(input_shape[-1], self.unit_2, self.unit_3),
                                              initializer="uniform", name="kernel_2_3")

        def call(self, inputs, states):
            s1, s2 = states
            output_1 = k.ops.matmul(inputs, self.kernel_1)
            output_2_3 = k.ops.einsum("bi,ikl->bkl", inputs, self.kernel_2_3)
            return output_1, (s1 + output_1, s2 + output_2_3)

        def get_initial_state(self, batch_size=None):
            return [k.ops.zeros((batch_size, self.unit_1)), k.ops.zeros((batch_size, self.unit_2, self.unit_3))]

    return NestedCell


def test_nested_states():
    def build(k, L):
        inputs = k.Input((None, 3))
        return k.models.Model(inputs, L.RNN(nested_cell(k)(2, 3, 2))(inputs))

    theirs, ours = same_model(build, SEQ[..., :3])
    same_step(theirs, ours, SEQ[..., :3], RNG.random((3, 2)).astype("float32"))


def test_nested_states_returned():
    """The states themselves (called eagerly: Keras 3's functional graph loses the (3, 2) state)."""
    x = SEQ[..., :3]
    theirs = K.layers.RNN(nested_cell(K)(2, 3, 2), return_sequences=True, return_state=True)
    ours = layers.RNN(nested_cell(keras)(2, 3, 2), return_sequences=True, return_state=True)
    theirs(x), ours(x)
    ours.set_weights(theirs.get_weights())
    got, want = ours(x), theirs(x)
    assert [tuple(t.shape) for t in got] == [(3, 6, 2), (3, 2), (3, 3, 2)]
    assert_same(got, want)


# ---------------------------------------------------------------- masks and errors

@pytest.mark.parametrize("kw", [{}, {"return_sequences": True, "return_state": True},
                                {"return_sequences": True, "zero_output_for_mask": True, "go_backwards": True}])
def test_rnn_of_cell_with_mask(kw):
    ids = IDS.copy()
    ids[0, 4:] = 0
    ids[1, :2] = 0
    ids[2, ::3] = 0

    def build(k, L):
        inputs = k.Input((None,))
        x = L.Embedding(30, 5, mask_zero=True)(inputs)
        return k.Model(inputs, L.RNN([L.LSTMCell(4), L.GRUCell(3)], **kw)(x))

    theirs, ours = both(build)
    got, want = ours(ids), theirs(ids)
    assert structure(got) == structure(want)  # with return_state: output, [h, c] of the LSTMCell, h of the GRUCell
    assert_same(leaves(got), leaves(want))


def leaves(y):
    return [t for item in y for t in leaves(item)] if isinstance(y, (list, tuple)) else [y]


def structure(y):
    return [structure(item) for item in y] if isinstance(y, (list, tuple)) else tuple(y.shape)


def test_rnn_cell_errors_match():
    class NoState:
        def call(self, inputs, states):
            return inputs, states

    for L in (K.layers, layers):
        with pytest.raises(ValueError, match="state_size"):
            L.RNN(NoState())
        with pytest.raises(ValueError, match="`call` method"):
            L.RNN(object())


@pytest.mark.parametrize("kind", ["dropout", "recurrent_dropout"])
def test_cell_dropout_masks_are_fixed_over_the_steps(kind):
    """Keras 3's cell dropout, the same in both libraries: one mask per sequence, the same at every
    step, about the rate dropped; none outside training. Seen through a linear SimpleRNNCell whose
    step is its input (identity kernel) or its state (identity recurrent kernel, a first state of ones)."""
    rate, n = 0.5, 64
    x = np.ones((n, 4, 8), "float32")
    eye, zero = np.eye(8, dtype="float32"), np.zeros((8, 8), "float32")
    h0 = np.ones((n, 8), "float32")
    for k in (K, keras):
        rnn = k.layers.RNN(k.layers.SimpleRNNCell(8, activation="linear", use_bias=False, **{kind: rate}),
                           return_sequences=True)
        rnn(x)
        rnn.set_weights([eye, zero] if kind == "dropout" else [zero, eye])

        def run(training):
            return to_numpy(rnn(x, initial_state=[h0], training=training))

        seq = run(True)
        kept = seq != 0
        assert all(np.array_equal(kept[:, 0], kept[:, t]) for t in range(1, 4))
        assert 0.3 < 1 - kept[:, 0].mean() < 0.7
        if kind == "dropout":  # the mask itself, scaled by 1 / (1 - rate)
            assert set(np.unique(seq)) == {0.0, 2.0}
        assert not np.array_equal(run(True) != 0, kept)  # a new mask for the next sequence
        np.testing.assert_array_equal(run(False), 1.0)


def test_nested_inputs_equal_keras_on_the_joined_input():
    """The guide's nested inputs (Keras 3's RNN takes none): nerve's RNN over (x1, x2) with a cell
    reading both equals Keras's over the joined input with the same weights."""
    def cell_class(k):
        class SplitCell(k.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units, self.state_size = units, units

            def build(self, input_shape):
                nested = isinstance(input_shape[0], (list, tuple))
                features = sum(s[-1] for s in input_shape) if nested else input_shape[-1]
                self.kernel = self.add_weight(shape=(features, self.units), name="kernel")

            def call(self, inputs, states):
                if isinstance(inputs, (list, tuple)):
                    a, b = inputs
                    z = k.ops.matmul(a, self.kernel[:3]) + k.ops.matmul(b, self.kernel[3:])
                else:
                    z = k.ops.matmul(inputs, self.kernel)
                out = k.ops.tanh(z + states[0])
                return out, [out]

        return SplitCell

    theirs = K.layers.RNN(cell_class(K)(4), return_sequences=True, return_state=True)
    ours = layers.RNN(cell_class(keras)(4), return_sequences=True, return_state=True)
    want = theirs(SEQ)
    got = ours((SEQ[..., :3], SEQ[..., 3:]))
    ours.set_weights(theirs.get_weights())
    assert_same(ours((SEQ[..., :3], SEQ[..., 3:])), want)
    assert_same(ours(SEQ), want)
    assert len(got) == 2
    # in a functional model, as the guide builds it
    i1, i2 = keras.Input((None, 3)), keras.Input((None, 2))
    model = keras.models.Model([i1, i2], layers.RNN(cell_class(keras)(4))((i1, i2)))
    model.set_weights(theirs.get_weights())
    assert_same(model.predict([SEQ[..., :3], SEQ[..., 3:]], verbose=0), want[1])
