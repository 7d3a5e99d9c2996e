"""Keras's ``data_format="channels_first"`` in nerve.keras, against Keras 3 itself (torch backend).

Each convolution, pooling, up-sampling, padding and cropping layer, and BatchNormalization on
axis 1, built in both libraries in both data formats with Keras's weights copied over: outputs,
the gradients of their sum (inputs and weights), weight shapes and output shapes equal; models'
summaries and a small channels-first convnet's fit history equal; ``keras.config``'s
``image_data_format`` / ``set_image_data_format`` honoured as the layers' default; and the same
error for an unknown data format.

Skipped where Keras 3 is not installed.
"""

import numpy as np
import pytest
from _keras_compare import K, assert_same, both, fresh, in_format, run_both, same_fit, summary_of, to_numpy

from nerve import keras
from nerve.keras import layers

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FORMATS = ("channels_last", "channels_first")
RNG = np.random.default_rng(7)
SEQ, IMG, VOL = (2, 9, 3), (2, 7, 8, 3), (2, 5, 6, 4, 3)  # channels-last shapes


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)
    yield
    K.config.set_image_data_format("channels_last")
    keras.config.set_image_data_format("channels_last")


CASES = [
    ("Conv1D", {"filters": 4, "kernel_size": 3}, SEQ),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}, SEQ),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2}, SEQ),
    ("Conv1D", {"filters": 6, "kernel_size": 3, "groups": 3, "use_bias": False}, SEQ),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, SEQ),
    ("MaxPooling1D", {}, SEQ),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, SEQ),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1}, SEQ),
    ("GlobalAveragePooling1D", {}, SEQ),
    ("GlobalMaxPooling1D", {"keepdims": True}, SEQ),
    ("ZeroPadding1D", {"padding": (1, 2)}, SEQ),
    ("Conv2D", {"filters": 4, "kernel_size": 3}, IMG),
    ("Conv2D", {"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same"}, IMG),
    ("Conv2D", {"filters": 6, "kernel_size": 2, "dilation_rate": 2, "groups": 3, "activation": "tanh"}, IMG),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, IMG),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1}, IMG),
    ("MaxPooling2D", {}, IMG),
    ("MaxPooling2D", {"pool_size": 2, "strides": 2, "padding": "same"}, IMG),
    ("AveragePooling2D", {"pool_size": (2, 3), "strides": 1}, IMG),
    ("GlobalAveragePooling2D", {}, IMG),
    ("GlobalMaxPooling2D", {"keepdims": True}, IMG),
    ("UpSampling2D", {"size": (2, 3)}, IMG),
    ("UpSampling2D", {"interpolation": "bilinear"}, IMG),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 1))}, IMG),
    ("Flatten", {}, IMG),
    ("Conv3D", {"filters": 4, "kernel_size": 2, "strides": 2, "padding": "same"}, VOL),
    ("Conv3D", {"filters": 6, "kernel_size": (2, 3, 1), "groups": 3}, VOL),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": (2, 1, 2)}, VOL),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, VOL),
    ("MaxPooling3D", {}, VOL),
    ("AveragePooling3D", {"pool_size": 2, "strides": 1}, VOL),
    ("GlobalAveragePooling3D", {"keepdims": True}, VOL),
    ("GlobalMaxPooling3D", {}, VOL),
    ("UpSampling3D", {"size": (1, 2, 2)}, VOL),
    ("ZeroPadding3D", {"padding": (1, 0, 2)}, VOL),
    ("Cropping3D", {"cropping": ((0, 1), (1, 1), (1, 0))}, VOL),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("cls, kw, shape", CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_each_layer_equals_keras_in_both_formats(cls, kw, shape, data_format):
    x = in_format(RNG.standard_normal(shape).astype("float32"), data_format)
    theirs = getattr(K.layers, cls)(data_format=data_format, **kw)
    ours = getattr(layers, cls)(data_format=data_format, **kw)
    assert ours.data_format == theirs.data_format == data_format
    (yt, yn), (gt, gn), (wt, wn) = run_both(theirs, ours, x)
    assert_same(yn, yt)
    np.testing.assert_allclose(gn, gt, atol=1e-5, rtol=1e-5)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert len(wn) == len(wt)
    for a, b in zip(wn, wt):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)
    symbolic = ours(keras.Input(x.shape[1:]))
    assert tuple(symbolic.shape) == tuple(theirs.compute_output_shape((None,) + x.shape[1:]))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shape", [IMG, VOL])
def test_batch_normalization_on_axis_1_equals_keras(shape, training):
    x = in_format(RNG.standard_normal(shape).astype("float32") * 2 + 1, "channels_first")
    theirs, ours = K.layers.BatchNormalization(axis=1), layers.BatchNormalization(axis=1)
    theirs(x)
    ours(x)
    weights = [RNG.uniform(0.5, 1.5, 3).astype("float32") for _ in range(4)]
    theirs.set_weights(weights)
    (yt, yn), (gt, gn), (wt, wn) = run_both(theirs, ours, x, training=training)
    assert_same(yn, yt, atol=1e-4)
    np.testing.assert_allclose(gn, gt, atol=1e-4, rtol=1e-4)
    for a, b in zip(wn, wt):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):  # the moving statistics, updated
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def image_net(k, L):
    """A small channels-first image classifier."""
    return k.Sequential([
        k.Input((3, 10, 9)),
        L.Conv2D(4, 3, padding="same", activation="relu", data_format="channels_first"),
        L.BatchNormalization(axis=1),
        L.MaxPooling2D(2, data_format="channels_first"),
        L.Conv2D(5, (2, 3), strides=(1, 2), data_format="channels_first", activation="relu"),
        L.ZeroPadding2D(1, data_format="channels_first"),
        L.AveragePooling2D(2, data_format="channels_first"),
        L.Flatten(data_format="channels_first"),
        L.Dense(3, activation="softmax"),
    ])


def sequence_and_volume_net(k, L):
    """Channels-first 1-D and 3-D layers in one functional model (summary shapes only)."""
    seq = k.Input((3, 12))
    s = L.Conv1D(4, 3, padding="causal", data_format="channels_first")(seq)
    s = L.SeparableConv1D(2, 2, data_format="channels_first")(s)
    s = L.MaxPooling1D(2, data_format="channels_first")(s)
    s = L.ZeroPadding1D(1, data_format="channels_first")(s)
    s = L.GlobalAveragePooling1D(data_format="channels_first")(s)
    vol = k.Input((2, 6, 5, 4))
    v = L.Conv3D(3, 2, data_format="channels_first")(vol)
    v = L.UpSampling3D((1, 2, 1), data_format="channels_first")(v)
    v = L.Conv3DTranspose(2, 2, strides=2, data_format="channels_first")(v)
    v = L.Cropping3D(1, data_format="channels_first")(v)
    v = L.ZeroPadding3D((0, 1, 0), data_format="channels_first")(v)
    v = L.AveragePooling3D(2, data_format="channels_first")(v)
    v = L.GlobalMaxPooling3D(data_format="channels_first")(v)
    out = L.Dense(2)(L.Concatenate()([s, v]))
    return k.Model([seq, vol], out)


def image_upsampling_net(k, L):
    return k.Sequential([
        k.Input((2, 5, 6)),
        L.Conv2DTranspose(3, 3, strides=2, padding="same", data_format="channels_first"),
        L.UpSampling2D(2, data_format="channels_first"),
        L.GlobalAveragePooling2D(data_format="channels_first", keepdims=True),
        L.Flatten(data_format="channels_first"),
    ])


@pytest.mark.parametrize("build", [image_net, sequence_and_volume_net, image_upsampling_net])
def test_channels_first_models_summary_and_outputs_equal_keras(build):
    theirs, ours = both(build)
    assert summary_of(ours) == summary_of(theirs)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    inputs = [RNG.standard_normal((2,) + tuple(i.shape[1:])).astype("float32") for i in theirs.inputs]
    inputs = inputs[0] if len(inputs) == 1 else inputs
    assert_same(ours.predict(inputs, verbose=0), to_numpy(theirs(inputs)))


def test_channels_first_convnet_fit_gives_keras_history():
    x = RNG.standard_normal((48, 3, 10, 9)).astype("float32")
    y = RNG.integers(0, 3, 48)
    theirs, ours = both(image_net)
    for m, lib in ((theirs, K), (ours, keras)):
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    same_fit(theirs, ours, x, y, batch_size=16, epochs=3, validation_split=0.25)


def test_global_image_data_format_is_the_layers_default():
    assert keras.config.image_data_format() == K.config.image_data_format() == "channels_last"
    for lib in (K, keras):
        lib.config.set_image_data_format("Channels_First")
    assert keras.config.image_data_format() == K.config.image_data_format() == "channels_first"
    assert keras.backend.image_data_format() == "channels_first"
    for cls in ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "SeparableConv1D"):
        assert getattr(layers, cls)(2, 2).data_format == "channels_first"
    for cls in ("MaxPooling2D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling3D", "Flatten",
                "UpSampling2D", "ZeroPadding2D", "ZeroPadding1D", "Cropping3D"):
        kw = {"pool_size": 2} if cls == "AveragePooling1D" else {}
        assert getattr(layers, cls)(**kw).data_format == getattr(K.layers, cls)(**kw).data_format
        assert getattr(layers, cls)(**kw).data_format == "channels_first"
    assert layers.Conv2D(2, 2, data_format="channels_last").data_format == "channels_last"
    # a model built with no data_format anywhere: channels-first throughout, as Keras's
    theirs, ours = both(lambda k, L: k.Sequential([
        k.Input((3, 8, 7)), L.Conv2D(4, 3), L.MaxPooling2D(), L.GlobalAveragePooling2D()]))
    assert summary_of(ours) == summary_of(theirs)
    x = RNG.standard_normal((2, 3, 8, 7)).astype("float32")
    assert_same(ours.predict(x, verbose=0), to_numpy(theirs(x)))
    for lib in (K, keras):
        lib.config.set_image_data_format("channels_last")
    assert layers.Conv2D(2, 2).data_format == "channels_last"


def test_unknown_data_format_raises_keras_error():
    for make in (lambda L: L.Conv2D(2, 2, data_format="channels_middle"),
                 lambda L: L.MaxPooling1D(data_format="channels_middle"),
                 lambda L: L.GlobalAveragePooling3D(data_format="channels_middle"),
                 lambda L: L.Flatten(data_format="channels_middle")):
        with pytest.raises(ValueError) as want:
            make(K.layers)
        with pytest.raises(ValueError) as got:
            make(layers)
        assert str(got.value) == str(want.value)
    with pytest.raises(ValueError) as want:
        K.config.set_image_data_format("nchw")
    with pytest.raises(ValueError) as got:
        keras.config.set_image_data_format("nchw")
    assert str(got.value) == str(want.value)
    assert keras.config.image_data_format() == "channels_last"


def test_channels_first_wrong_channel_count_names_axis_1():
    theirs, ours = K.layers.Conv1D(2, 2, data_format="channels_first"), layers.Conv1D(2, 2,
                                                                                       data_format="channels_first")
    x = np.zeros((1, 3, 6), "float32")
    theirs(x)
    ours(x)
    bad = np.zeros((1, 4, 6), "float32")
    with pytest.raises(ValueError, match="expected axis 1 of input shape to have value 3"):
        theirs(bad)
    with pytest.raises(ValueError, match="expected axis 1 of input shape to have value 3"):
        ours(bad)


def test_image_dataset_from_directory_takes_the_global_data_format(tmp_path):
    # Keras's own image_dataset_from_directory needs TensorFlow (not installed): the reference here
    # is nerve's channels-last batches, which channels_first must give with the channels moved first
    Image = pytest.importorskip("PIL.Image")
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(RNG.integers(0, 255, (6, 5, 3)).astype("uint8")).save(tmp_path / cls / f"{i}.png")

    def batches(**kw):
        ds = keras.utils.image_dataset_from_directory(tmp_path, image_size=(4, 5), batch_size=6, shuffle=False,
                                                      verbose=False, **kw)
        return [(np.asarray(to_numpy(x)), np.asarray(to_numpy(y))) for x, y in ds]

    last = batches()
    keras.config.set_image_data_format("channels_first")
    default, explicit = batches(), batches(data_format="channels_first")
    assert default[0][0].shape == (6, 3, 4, 5)
    for (x, y), (xe, ye), (xl, yl) in zip(default, explicit, last):
        np.testing.assert_array_equal(x, xe)
        np.testing.assert_array_equal(x, np.moveaxis(xl, -1, 1))
        np.testing.assert_array_equal(y, yl)
    with pytest.raises(ValueError, match="must be one of"):
        batches(data_format="nhwc")


@pytest.mark.parametrize("cls, kw", [("Conv2D", {"filters": 2, "kernel_size": 3}), ("MaxPooling1D", {}),
                                     ("GlobalAveragePooling3D", {}), ("Flatten", {}), ("UpSampling2D", {}),
                                     ("Conv3DTranspose", {"filters": 2, "kernel_size": 2})])
def test_config_keeps_the_data_format_chosen_by_the_global_default(cls, kw):
    for lib in (K, keras):
        lib.config.set_image_data_format("channels_first")
    theirs, ours = getattr(K.layers, cls)(**kw).get_config(), getattr(layers, cls)(**kw).get_config()
    for lib in (K, keras):
        lib.config.set_image_data_format("channels_last")
    assert ours["data_format"] == theirs["data_format"] == "channels_first"
    assert getattr(layers, cls).from_config(ours).data_format == getattr(K.layers, cls).from_config(theirs).data_format


def test_channels_first_model_saved_by_keras_loads_in_nerve_and_back(tmp_path):
    theirs, _ = both(image_net)
    theirs.save(tmp_path / "k.keras")
    ours = keras.models.load_model(tmp_path / "k.keras")
    assert [layer.data_format for layer in ours.layers if hasattr(layer, "data_format")] == \
        [layer.data_format for layer in theirs.layers if hasattr(layer, "data_format")]
    x = RNG.standard_normal((2, 3, 10, 9)).astype("float32")
    assert_same(ours.predict(x, verbose=0), to_numpy(theirs(x)))
    ours.save(tmp_path / "n.keras")
    back = K.models.load_model(tmp_path / "n.keras")
    assert_same(to_numpy(back(x)), to_numpy(theirs(x)))
