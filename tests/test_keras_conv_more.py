"""DepthwiseConv2D, SeparableConv2D, DepthwiseConv1D, Conv1DTranspose and Cropping2D in nerve.keras
against Keras 3 itself (torch backend).

Each layer built in both libraries, in both data formats and with several arguments, Keras's weights
copied over: outputs and the gradients of their sum (inputs and weights) equal to float32 tolerance,
weight shapes and output shapes equal; MobileNet-style and sequence models with them: summaries,
weight paths and predictions equal, a few steps of fit give Keras's history; a .keras file saved by
Keras loads in nerve with the same predictions, and nerve's file loads in Keras; configs round-trip;
bad arguments raise Keras's errors.

Skipped where Keras 3 is not installed.
"""

import numpy as np
import pytest
from _keras_compare import K, assert_same, both, fresh, in_format, names, run_both, same_fit, summary_of, to_numpy

from nerve import keras
from nerve.keras import layers

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FORMATS = ("channels_last", "channels_first")
RNG = np.random.default_rng(11)
SEQ, IMG = (2, 11, 3), (2, 9, 8, 3)  # channels-last shapes


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)
    yield


CASES = [
    ("DepthwiseConv2D", {"kernel_size": 3}, IMG),
    ("DepthwiseConv2D", {"kernel_size": (3, 2), "strides": 2, "padding": "same", "depth_multiplier": 2}, IMG),
    ("DepthwiseConv2D", {"kernel_size": 2, "dilation_rate": 2, "depth_multiplier": 3, "use_bias": False,
                         "activation": "relu"}, IMG),
    ("DepthwiseConv2D", {"kernel_size": 4, "strides": (1, 2), "padding": "same", "bias_initializer": "ones"}, IMG),
    ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "dilation_rate": 2, "padding": "same"}, IMG),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 3}, IMG),
    ("SeparableConv2D", {"filters": 5, "kernel_size": (2, 3), "strides": 2, "padding": "same",
                         "depth_multiplier": 2, "activation": "tanh"}, IMG),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": (2, 1), "use_bias": False,
                         "padding": "same"}, IMG),
    ("DepthwiseConv1D", {"kernel_size": 3}, SEQ),
    ("DepthwiseConv1D", {"kernel_size": 4, "strides": 2, "padding": "same", "depth_multiplier": 2}, SEQ),
    ("DepthwiseConv1D", {"kernel_size": 2, "dilation_rate": 3, "use_bias": False, "activation": "sigmoid"}, SEQ),
    ("DepthwiseConv1D", {"kernel_size": 3, "strides": 2, "dilation_rate": 2, "padding": "same"}, SEQ),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3}, SEQ),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, SEQ),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 2, "strides": 3}, SEQ),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 4, "strides": 2, "output_padding": 1, "activation": "relu"},
     SEQ),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1,
                         "use_bias": False}, SEQ),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 2}, SEQ),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 2, "dilation_rate": 3, "padding": "same"}, SEQ),
    ("Cropping2D", {}, IMG),
    ("Cropping2D", {"cropping": 2}, IMG),
    ("Cropping2D", {"cropping": (1, 3)}, IMG),
    ("Cropping2D", {"cropping": ((0, 2), (3, 0))}, IMG),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("cls, kw, shape", CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_each_layer_equals_keras_with_gradients(cls, kw, shape, data_format):
    x = in_format(RNG.standard_normal(shape).astype("float32"), data_format)
    theirs = getattr(K.layers, cls)(data_format=data_format, **kw)
    ours = getattr(layers, cls)(data_format=data_format, **kw)
    (yt, yn), (gt, gn), (wt, wn) = run_both(theirs, ours, x)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert_same(yn, yt)
    # (Cropping2D has no weights; its input's gradient is the mask of the kept cells)
    np.testing.assert_allclose(gn, gt, atol=1e-5, rtol=1e-5)
    assert len(wn) == len(wt)
    for a, b in zip(wn, wt):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)
    symbolic = ours(keras.Input(x.shape[1:]))
    assert tuple(symbolic.shape) == tuple(theirs.compute_output_shape((None,) + x.shape[1:]))


def test_global_image_data_format_is_the_new_layers_default():
    try:
        for lib in (K, keras):
            lib.config.set_image_data_format("channels_first")
        for cls, kw in (("DepthwiseConv2D", {"kernel_size": 2}), ("SeparableConv2D", {"filters": 2, "kernel_size": 2}),
                        ("DepthwiseConv1D", {"kernel_size": 2}), ("Conv1DTranspose", {"filters": 2, "kernel_size": 2}),
                        ("Cropping2D", {})):
            ours, theirs = getattr(layers, cls)(**kw), getattr(K.layers, cls)(**kw)
            assert ours.data_format == theirs.data_format == "channels_first"
            assert ours.get_config()["data_format"] == "channels_first"
    finally:
        for lib in (K, keras):
            lib.config.set_image_data_format("channels_last")


def test_depthwise_kernel_layout_is_keras():
    # output channel c * multiplier + j of pixel (0, 0): channel c's window times kernel[:, :, c, j]
    conv = layers.DepthwiseConv2D(2, depth_multiplier=2)
    x = RNG.standard_normal(IMG).astype("float32")
    y = to_numpy(conv(x))
    kernel, bias = conv.get_weights()
    assert kernel.shape == (2, 2, 3, 2) and bias.shape == (6,)
    want = np.einsum("nijc,ijcm->ncm", x[:, :2, :2], kernel).reshape(2, 6) + bias
    np.testing.assert_allclose(y[:, 0, 0], want, atol=1e-5)
    up = layers.Conv1DTranspose(5, 3)
    up(RNG.standard_normal(SEQ).astype("float32"))
    assert up.get_weights()[0].shape == (3, 5, 3)


def mobilenet_block(k, L, data_format="channels_last"):
    """A tiny MobileNet-style classifier: depthwise and separable convolutions, cropping."""
    shape = (10, 9, 3) if data_format == "channels_last" else (3, 10, 9)
    kw = {"data_format": data_format}
    return k.Sequential([
        k.Input(shape),
        L.Conv2D(4, 3, padding="same", **kw),
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu", **kw),
        L.Conv2D(5, 1, **kw),
        L.Cropping2D(((1, 0), (0, 1)), **kw),
        L.SeparableConv2D(6, 3, strides=2, padding="same", activation="relu", **kw),
        L.DepthwiseConv2D((2, 3), strides=2, use_bias=False, **kw),
        L.GlobalAveragePooling2D(**kw),
        L.Dense(3, activation="softmax"),
    ])


def sequence_net(k, L):
    seq = k.Input((12, 4))
    s = L.DepthwiseConv1D(3, padding="same", depth_multiplier=2, activation="relu")(seq)
    s = L.Conv1D(4, 3, strides=2)(s)
    s = L.Conv1DTranspose(3, 3, strides=2, padding="same")(s)
    s = L.SeparableConv1D(4, 2)(s)
    s = L.DepthwiseConv1D(2, dilation_rate=2)(s)
    s = L.Conv1DTranspose(2, 2, strides=2, activation="tanh")(s)
    out = L.Dense(2)(L.GlobalAveragePooling1D()(s))
    return k.Model(seq, out)


BUILDS = [mobilenet_block, lambda k, L: mobilenet_block(k, L, "channels_first"), sequence_net]


@pytest.mark.parametrize("build", BUILDS, ids=["mobilenet", "mobilenet-channels-first", "sequence"])
def test_models_summary_weights_and_predictions_equal_keras(build):
    theirs, ours = both(build)
    assert summary_of(ours) == summary_of(theirs)
    assert names(ours) == names(theirs)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    x = RNG.standard_normal((3,) + tuple(theirs.inputs[0].shape[1:])).astype("float32")
    assert_same(ours.predict(x, verbose=0), to_numpy(theirs(x)))


@pytest.mark.parametrize("build", [mobilenet_block, sequence_net], ids=["mobilenet", "sequence"])
def test_fit_gives_keras_history(build):
    theirs, ours = both(build)
    x = RNG.standard_normal((24,) + tuple(theirs.inputs[0].shape[1:])).astype("float32")
    out = to_numpy(theirs(x[:1])).shape[-1]
    y = RNG.integers(0, out, 24) if out == 3 else RNG.standard_normal((24, out)).astype("float32")
    loss, metric = ("sparse_categorical_crossentropy", "accuracy") if out == 3 else ("mse", "mae")
    for m, lib in ((theirs, K), (ours, keras)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss=loss, metrics=[metric])
    same_fit(theirs, ours, x, y, batch_size=8, epochs=2, validation_split=0.25)


@pytest.mark.parametrize("build", [lambda k, L: mobilenet_block(k, L, "channels_first"), sequence_net],
                         ids=["mobilenet-channels-first", "sequence"])
def test_keras_file_loads_in_nerve_and_back(build, tmp_path):
    theirs, _ = both(build)
    x = RNG.standard_normal((2,) + tuple(theirs.inputs[0].shape[1:])).astype("float32")
    want = to_numpy(theirs(x))
    theirs.save(tmp_path / "k.keras")
    ours = keras.models.load_model(tmp_path / "k.keras")
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert_same(ours.predict(x, verbose=0), want)
    ours.save(tmp_path / "n.keras")
    back = K.models.load_model(tmp_path / "n.keras")
    assert_same(to_numpy(back(x)), want)
    # the weights file alone, both ways
    theirs.save_weights(tmp_path / "k.weights.h5")
    _, fresh_ours = both(build)
    fresh_ours.load_weights(tmp_path / "k.weights.h5")
    assert_same(fresh_ours.predict(x, verbose=0), want)
    fresh_ours.save_weights(tmp_path / "n.weights.h5")
    fresh_theirs = build(K, K.layers)
    fresh_theirs.load_weights(tmp_path / "n.weights.h5")
    assert_same(to_numpy(fresh_theirs(x)), want)


CONFIGS = [
    ("DepthwiseConv2D", {"kernel_size": (3, 2), "strides": 2, "padding": "same", "depth_multiplier": 2,
                         "dilation_rate": 1, "use_bias": False}),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 3, "activation": "relu",
                         "depthwise_initializer": "he_normal", "pointwise_initializer": "ones"}),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 1}),
    ("Cropping2D", {"cropping": ((1, 2), (0, 3))}),
]


def as_json(value):
    return [as_json(v) for v in value] if isinstance(value, (tuple, list)) else value


@pytest.mark.parametrize("cls, kw", CONFIGS)
def test_get_config_round_trips_and_keeps_keras_arguments(cls, kw):
    layer = getattr(layers, cls)(**kw)
    config = layer.get_config()
    theirs = getattr(K.layers, cls)(**kw).get_config()
    for key, value in kw.items():
        assert config[key] == as_json(value)
    assert set(config) <= set(theirs) | {"batch_input_shape"}
    assert getattr(layers, cls).from_config(config).get_config() == config
    # nerve's config is one Keras takes
    getattr(K.layers, cls).from_config(config)


def test_initializers_and_regularizers_by_name_equal_keras():
    def build(k, L):
        return k.Sequential([
            k.Input((6, 6, 2)),
            L.SeparableConv2D(3, 2, depthwise_initializer="ones", pointwise_initializer="zeros",
                              bias_initializer="ones", depthwise_regularizer="l2", pointwise_regularizer="l1"),
            L.DepthwiseConv2D(2, depthwise_initializer="ones", depthwise_regularizer="l1", bias_regularizer="l2"),
            L.Flatten(),
        ])

    fresh()
    theirs, ours = build(K, K.layers), build(keras, layers)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    ours.set_weights([RNG.standard_normal(w.shape).astype("float32") for w in theirs.get_weights()])
    theirs.set_weights(ours.get_weights())
    x = RNG.standard_normal((2, 6, 6, 2)).astype("float32")
    theirs(x)
    ours(x)
    np.testing.assert_allclose(float(sum(to_numpy(v) for v in ours.losses)),
                               float(sum(to_numpy(v) for v in theirs.losses)), rtol=1e-5)


BAD = [
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 0}),
    ("DepthwiseConv2D", {"kernel_size": (3, 0)}),
    ("DepthwiseConv2D", {"kernel_size": 3, "padding": "causal"}),
    ("DepthwiseConv2D", {"kernel_size": (3, 3, 3)}),
    ("SeparableConv2D", {"filters": 0, "kernel_size": 3}),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3, "depth_multiplier": -1}),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3, "data_format": "channels_middle"}),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 0}),
    ("DepthwiseConv1D", {"kernel_size": 3, "padding": "full"}),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 2, "strides": 2, "dilation_rate": 3}),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 2, "padding": "causal"}),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 2, "padding": "causal"}),
    ("SeparableConv1D", {"filters": 0, "kernel_size": 2}),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 2, "depth_multiplier": 0}),
    ("Cropping2D", {"cropping": -1}),
    ("Cropping2D", {"cropping": (1, 2, 3)}),
    ("Cropping2D", {"cropping": ((1, -2), (0, 0))}),
    ("Cropping2D", {"cropping": "1"}),
]


@pytest.mark.parametrize("cls, kw", BAD)
def test_bad_arguments_raise_keras_errors(cls, kw):
    with pytest.raises(ValueError) as want:
        getattr(K.layers, cls)(**kw)
    with pytest.raises(ValueError) as got:
        getattr(layers, cls)(**kw)
    assert type(got.value) is type(want.value)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("cls, kw, shape", [
    ("DepthwiseConv2D", {"kernel_size": 2}, (2, 5, 3)),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 2}, (2, 5, 3)),
    ("DepthwiseConv1D", {"kernel_size": 2}, (2, 5, 5, 3)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 2}, (2, 5, 5, 3)),
    ("Cropping2D", {"cropping": 3}, (2, 5, 6, 3)),
    ("Cropping2D", {"cropping": ((0, 0), (4, 2))}, (2, 8, 6, 3)),
])
def test_bad_inputs_raise_value_errors_as_keras(cls, kw, shape):
    x = np.zeros(shape, "float32")
    with pytest.raises(ValueError):
        getattr(K.layers, cls)(**kw)(x)
    with pytest.raises(ValueError):
        getattr(layers, cls)(**kw)(x)


def test_wrong_channel_count_after_build_raises_keras_error():
    for cls, kw in (("DepthwiseConv2D", {"kernel_size": 2}), ("SeparableConv2D", {"filters": 2, "kernel_size": 2})):
        theirs, ours = getattr(K.layers, cls)(**kw), getattr(layers, cls)(**kw)
        theirs(np.zeros((1, 4, 4, 3), "float32"))
        ours(np.zeros((1, 4, 4, 3), "float32"))
        for layer in (theirs, ours):
            with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
                layer(np.zeros((1, 4, 4, 2), "float32"))
