"""``keras.layers.EinsumDense`` in nerve.keras against Keras 3 (torch backend): the same programs, only
the import differs, with Keras's weights copied into nerve's. Outputs, gradients, weight shapes and
names, summaries, training, configs, Keras's files both ways and Keras's errors."""

import warnings

import numpy as np
import pytest
import torch
from _keras_compare import K, assert_same, both, fresh, summary_of, to_numpy

import nerve
from nerve import keras

# (equation, output_shape, input shape past the batch, bias_axes, activation): Keras's docs and tests
CASES = [
    ("ab,bc->ac", 6, (5,), "c", None),
    ("ab,bc->ac", 6, (5,), None, "relu"),
    ("abc,cd->abd", (None, 6), (3, 5), "d", "tanh"),
    ("abc,cd->abd", (3, 6), (3, 5), None, None),
    ("abc,cde->abde", (3, 4, 2), (3, 5), "de", None),
    ("abc,cde->abde", (3, 4, 2), (3, 5), "e", "sigmoid"),
    ("abcd,cde->abe", (3, 4), (3, 2, 5), "be", None),
    ("...b,bc->...c", 4, (3, 5), "c", None),
    ("...b,bc->...c", 4, (2, 3, 5), None, "gelu"),
    ("...ab,bc->...ac", (2, 4), (3, 2, 5), "c", None),
    ("ab...,bc->ac...", (4,), (5, 3), "c", None),
    ("...abc,cd->...abd", (3, 6), (3, 5), "d", None),  # the `...` covers no dim at all
]


def make_model(lib, case):
    eq, out_shape, in_shape, bias_axes, activation = case
    inputs = lib.Input(shape=in_shape)
    outputs = lib.layers.EinsumDense(eq, output_shape=out_shape, bias_axes=bias_axes,
                                     activation=activation, bias_initializer="random_normal")(inputs)
    return lib.Model(inputs, outputs)


def sample(case, batch=4, seed=0):
    return np.random.default_rng(seed).standard_normal((batch,) + case[2]).astype("float32")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}|{c[3]}|{c[4]}")
def test_outputs_gradients_and_weights_match_keras(case):
    theirs, ours = both(lambda lib, _: make_model(lib, case))
    lt, lo = theirs.layers[-1], ours.layers[-1]
    assert [tuple(w.shape) for w in lo.weights] == [tuple(w.shape) for w in lt.weights]
    assert [w.path for w in lo.weights] == [w.path for w in lt.weights]
    assert lo.count_params() == lt.count_params()
    x = sample(case)
    want = tuple(theirs.output.shape)
    eq, in_shape = case[0], case[2]
    if eq.startswith("...") and len(in_shape) - len(eq.split(",")[0].replace("...", "")) > 1:
        # more than one dim (the batch's too) under a left `...`: Keras's symbolic shape lists them in
        # reverse (its shape analysis inserts each at position 1); nerve's is the one both calls return
        want = (None,) + tuple(to_numpy(theirs(x)).shape[1:])
        assert sorted(want[1:]) == sorted(tuple(theirs.output.shape)[1:])
    assert tuple(ours.output.shape) == want
    assert lo.compute_output_shape((None,) + in_shape) == want
    unbuilt = [lib.layers.EinsumDense(eq, output_shape=case[1], bias_axes=case[3]) for lib in (K, keras)]
    assert unbuilt[1].compute_output_shape((None,) + in_shape) == want
    assert unbuilt[1].built == unbuilt[0].built  # as Keras's, worked out without building
    if want == tuple(theirs.output.shape):
        assert tuple(unbuilt[0].compute_output_shape((None,) + in_shape)) == want

    assert_same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    # the gradient of the output's sum, for the input and every weight
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.sum().backward()
    xo = nerve.tensor(x, requires_grad=True)
    yo = ours(xo)
    yo.sum().backward()
    assert_same(yo, yt)
    np.testing.assert_allclose(to_numpy(xo.grad), xt.grad.numpy(), atol=1e-5, rtol=1e-5)
    for wo, wt in zip(lo.weights, lt.weights):
        np.testing.assert_allclose(to_numpy(wo.value.grad), wt.value.grad.numpy(), atol=1e-5, rtol=1e-5)


def test_summary_and_training_match_keras():
    def build(lib, layers):
        inputs = lib.Input(shape=(6, 8))
        h = layers.EinsumDense("abc,cde->abde", output_shape=(6, 2, 4), bias_axes="de", activation="relu")(inputs)
        h = layers.EinsumDense("abcd,cde->abe", output_shape=(6, 3), bias_axes="e",
                               kernel_regularizer=lib.regularizers.L2(0.01), bias_regularizer="l1")(h)
        h = layers.EinsumDense("...b,bc->...c", output_shape=5, bias_axes="c", activity_regularizer="l2")(h)
        h = layers.Flatten()(h)
        return lib.Model(inputs, layers.Dense(1)(h))

    theirs, ours = both(build)
    assert summary_of(ours) == summary_of(theirs)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 6, 8)).astype("float32")
    y = rng.standard_normal((32, 1)).astype("float32")
    theirs.compile(K.optimizers.Adam(0.01), "mse", metrics=["mae"])
    ours.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    ht = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    ho = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert sorted(ho) == sorted(ht)
    for key in ht:
        np.testing.assert_allclose(ho[key], ht[key], rtol=1e-4, atol=1e-6)
    for wo, wt in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(wo, wt, rtol=1e-4, atol=1e-5)


def test_sequential_summary_with_a_dense_style_layer():
    def build(lib, layers):
        return lib.Sequential([lib.Input(shape=(7,)), layers.EinsumDense("ab,bc->ac", output_shape=64, bias_axes="c"),
                               layers.EinsumDense("ab,bc->ac", output_shape=3)])

    theirs, ours = both(build)
    assert summary_of(ours) == summary_of(theirs)


def _config_view(config):
    keys = ("equation", "output_shape", "bias_axes", "activation", "name", "trainable")
    return {k: config[k] for k in keys}


def test_config_round_trip_matches_keras():
    fresh()
    kwargs = dict(output_shape=(None, 16), bias_axes="d", activation="relu", name="proj")
    lt = K.layers.EinsumDense("abc,cd->abd", **kwargs)
    lo = keras.layers.EinsumDense("abc,cd->abd", **kwargs)
    ct, co = lt.get_config(), lo.get_config()
    assert _config_view(co) == _config_view(ct)
    again = keras.layers.EinsumDense.from_config(co)
    assert _config_view(again.get_config()) == _config_view(ct)
    assert again(nerve.zeros(2, 3, 5)).shape == (2, 3, 16)
    # each library's config builds the layer in the other
    assert _config_view(K.layers.EinsumDense.from_config(co).get_config()) == _config_view(ct)
    assert _config_view(keras.layers.EinsumDense.from_config(ct).get_config()) == _config_view(ct)
    # an int output_shape becomes a one-item tuple, as in Keras
    one = keras.layers.EinsumDense("ab,bc->ac", 4).get_config()
    assert one["output_shape"] == K.layers.EinsumDense("ab,bc->ac", 4).get_config()["output_shape"]
    # layers.serialize / deserialize in Keras's form
    entry = keras.layers.serialize(lo)
    assert entry["class_name"] == "EinsumDense" and entry["module"] == K.layers.serialize(lt)["module"]
    assert isinstance(keras.layers.deserialize(entry), keras.layers.EinsumDense)


def _files_model(lib):
    inputs = lib.Input(shape=(3, 5))
    h = lib.layers.EinsumDense("abc,cde->abde", output_shape=(3, 2, 4), bias_axes="de", activation="tanh")(inputs)
    h = lib.layers.EinsumDense("abcd,cde->abe", output_shape=(3, 2), bias_axes="e")(h)
    h = lib.layers.EinsumDense("...b,bc->...c", output_shape=1)(h)
    model = lib.Model(inputs, h)
    model.compile(lib.optimizers.SGD(0.05), "mse")
    return model


def _files_data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((16, 3, 5)).astype("float32"), rng.standard_normal((16, 3, 1)).astype("float32")


def test_keras_file_opens_in_nerve_and_nerve_file_opens_in_keras(tmp_path):
    x, y = _files_data()
    fresh()
    theirs = _files_model(K)
    theirs.fit(x, y, epochs=1, batch_size=8, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = keras.models.load_model(tmp_path / "k.keras")
    assert_same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert summary_of(ours) == summary_of(theirs)
    assert [_config_view(a.get_config()) for a in ours.layers[1:]] == \
        [_config_view(b.get_config()) for b in theirs.layers[1:]]

    # nerve trains on and saves; Keras opens nerve's file with every weight in place
    ours.fit(x, y, epochs=1, batch_size=8, verbose=0)
    ours.save(tmp_path / "n.keras")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Ss]kipping variable loading.*")
        back = K.models.load_model(tmp_path / "n.keras")
    assert_same(back.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert [a.get_config() for a in back.layers] == [b.get_config() for b in theirs.layers]
    again = keras.models.load_model(tmp_path / "n.keras")  # and nerve's file in nerve
    assert_same(again.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert summary_of(again) == summary_of(ours)

    # weights files, both ways, onto the same model built in the other library
    theirs.save_weights(tmp_path / "k.weights.h5")
    fresh(clear_keras=False)
    mine = _files_model(keras)
    mine.load_weights(tmp_path / "k.weights.h5")
    assert_same(mine.predict(x, verbose=0), theirs.predict(x, verbose=0))
    ours.save_weights(tmp_path / "n.weights.h5")
    native = _files_model(K)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Ss]kipping variable loading.*")
        native.load_weights(tmp_path / "n.weights.h5")
    assert_same(native.predict(x, verbose=0), ours.predict(x, verbose=0))


BAD = [
    ("abc->abd", (None, 8), (3, 5), None),  # not a two-operand equation
    ("a.b,bc->ac", 8, (5,), None),
    ("abc,cd->abd", (4, 8), (3, 5), None),  # output_shape disagrees with the input at 'b'
    ("abc,cd->abde", (3, 8, 2), (3, 5), None),  # 'e' is nowhere in the input or weight
    ("abc,cdf->abd", (3, 8), (3, 5), None),  # weight letter 'f' has no size
    ("abc,cd->abd", (3, 8), (3, 5), "x"),  # a bias letter not in the output
    ("abc,cd->abd", (None, 4), (3, 5), "bd"),  # a bias over a dim output_shape leaves open
]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: f"{b[0]}|{b[3]}")
def test_bad_equations_and_shapes_raise_keras_s_errors(bad):
    eq, out_shape, in_shape, bias_axes = bad
    fresh()
    errors = []
    for lib in (K, keras):
        try:
            lib.layers.EinsumDense(eq, output_shape=out_shape, bias_axes=bias_axes)(lib.Input(shape=in_shape))
        except Exception as e:  # noqa: BLE001 - the type and text are what is compared
            errors.append((type(e), str(e)))
        else:
            errors.append(None)
    assert errors[0] is not None and errors[0][0] is ValueError
    assert errors[1] == errors[0]


def test_lora_and_quantization_are_refused_clearly():
    with pytest.raises(NotImplementedError, match="lora_rank"):
        keras.layers.EinsumDense("ab,bc->ac", 4, lora_rank=2)
    with pytest.raises(NotImplementedError, match="quantization_config"):
        keras.layers.EinsumDense("ab,bc->ac", 4, quantization_config=K.quantizers.Int8QuantizationConfig())
    # (constraints are applied now: tests/test_keras_constraints.py)


@pytest.mark.parametrize("eq, shapes", [
    ("...b,bc->...c", [(2, 3, 5), (5, 4)]),
    ("ab...,bc->ac...", [(4, 5, 3), (5, 6)]),
    ("...ij,...jk", [(2, 3, 4), (4, 5)]),  # implicit output: the `...` dims first, as torch's
    ("bi...,bj...->bij", [(2, 3, 4), (2, 5, 4)]),
    ("...,...->...", [(3, 1), (4,)]),  # the `...` dims broadcast
])
def test_nerve_einsum_takes_ellipses_as_torch_does(eq, shapes):
    # what EinsumDense's "...b,bc->...c" equations need from the core op: values and gradients
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype("float32") for s in shapes]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ns = [nerve.tensor(a, requires_grad=True) for a in arrays]
    yt, yn = torch.einsum(eq, *ts), nerve.einsum(eq, *ns)
    (yt * yt).sum().backward()
    (yn * yn).sum().backward()
    np.testing.assert_allclose(to_numpy(yn), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(ns, ts):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=1e-5, atol=1e-5)


def _built_by_hand(lib):
    """Build a layer with ``build()``, then call it: on data of the wrong rank, symbolically on the
    wrong rank and on the right one; what each call gives, and whether the weights stayed."""
    layer = lib.layers.EinsumDense("abc,cd->abd", output_shape=(3, 8), bias_axes="d")
    layer.build((None, 3, 5))
    kernel = layer.kernel
    seen = [layer.built]
    for x in (np.zeros((2, 5), "float32"), lib.Input(shape=(5,)), lib.Input(shape=(3, 5)),
              np.ones((2, 3, 5), "float32")):
        try:
            seen.append(tuple(layer(x).shape))
        except ValueError as e:
            seen.append(str(e))
    return seen + [layer.kernel is kernel, len(layer.weights), layer.get_build_config()]


def test_a_layer_built_by_hand_keeps_its_weights_and_checks_the_input_rank():
    fresh()
    assert _built_by_hand(keras) == _built_by_hand(K)


@pytest.mark.parametrize("init", ["glorot_uniform", "he_normal", "lecun_uniform"])
def test_kernel_initial_scale_takes_fans_from_the_equation_as_keras(init):
    # Keras's variance-scaling initializers count the kernel's input letters and output letters
    # (here fan_in 64, fan_out 16 * 16), not the conv kernels' rule; the draws differ, their scale not
    fresh()
    scales = []
    for lib in (K, keras):
        layer = lib.layers.EinsumDense("abc,cde->abde", output_shape=(12, 16, 16), kernel_initializer=init)
        layer.build((None, 12, 64))
        w = to_numpy(layer.kernel.value if lib is keras else layer.kernel)
        assert w.shape == (64, 16, 16)
        scales.append((np.abs(w).max(), w.std()))
    np.testing.assert_allclose(scales[1], scales[0], rtol=0.05)


def _block_model(lib):
    """A keras-hub style block: per-head projections held by a layer of the user's own."""

    class HeadsBlock(lib.layers.Layer):
        def __init__(self, heads, size, **kwargs):
            super().__init__(**kwargs)
            self.query = lib.layers.EinsumDense("abc,cde->abde", output_shape=(None, heads, size), bias_axes="de")
            self.out = lib.layers.EinsumDense("abcd,cde->abe", output_shape=(None, 6), bias_axes="e")

        def call(self, x):
            return x + self.out(lib.ops.tanh(self.query(x)))

    inputs = lib.Input(shape=(4, 6))
    return lib.Model(inputs, lib.layers.Dense(2)(HeadsBlock(3, 5)(inputs)))


def test_weights_files_of_einsum_dense_inside_a_layer_of_one_s_own(tmp_path):
    x = sample(("", 0, (4, 6)), batch=5)
    fresh()
    theirs = _block_model(K)
    theirs.save_weights(tmp_path / "k.weights.h5")
    fresh(clear_keras=False)
    ours = _block_model(keras)
    ours.load_weights(tmp_path / "k.weights.h5")
    assert_same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert summary_of(ours) == summary_of(theirs)
    # and back: nerve's file (weights changed by a step of training) into Keras's model
    ours.compile(keras.optimizers.SGD(0.1), "mse")
    ours.fit(x, np.ones((5, 4, 2), "float32"), verbose=0)
    ours.save_weights(tmp_path / "n.weights.h5")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Ss]kipping variable loading.*")
        theirs.load_weights(tmp_path / "n.weights.h5")
    assert_same(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
