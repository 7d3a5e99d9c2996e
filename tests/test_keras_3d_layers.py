"""The 3-D layers of nerve.keras (Conv3D, Conv3DTranspose, the 3-D pooling, UpSampling3D,
ZeroPadding3D, Cropping3D) against Keras 3 itself (torch backend): small volume models built in
both, Keras's weights copied over with set_weights, then outputs (to 1e-5 in float32), one SGD
step's loss and updated weights, summaries, weight names and shapes; each layer's options alone;
get_config; and errors for inputs of the wrong rank.

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

RNG = np.random.default_rng(0)
VOL = RNG.standard_normal((2, 7, 8, 6, 3)).astype("float32")


def convnet(k, L):
    """A small 3-D convnet classifier."""
    return k.Sequential([
        k.Input((7, 8, 6, 3)),
        L.Conv3D(4, 3, padding="same", activation="relu"),
        L.MaxPooling3D(2, padding="same"),
        L.Conv3D(6, (2, 3, 1), strides=(1, 2, 1), activation="relu"),
        L.GlobalAveragePooling3D(),
        L.Dense(3, activation="softmax"),
    ])


def volume_stack(k, L):
    """Every 3-D layer and most options, shapes kept small."""
    return k.Sequential([
        k.Input((7, 8, 6, 3)),
        L.ZeroPadding3D(((1, 0), (0, 2), (1, 1))),
        L.Conv3D(4, 3, strides=2, padding="same", groups=1, bias_initializer="ones"),
        L.Conv3D(4, (2, 2, 3), dilation_rate=(1, 2, 1), padding="same", groups=2, activation="tanh"),
        L.AveragePooling3D((2, 2, 1), strides=1),
        L.UpSampling3D((1, 2, 2)),
        L.Cropping3D(((0, 1), (1, 1), 1)),
        L.Conv3DTranspose(3, (2, 3, 2), strides=(2, 1, 2), padding="same", activation="relu"),
        L.Conv3D(5, 2, use_bias=False),
        L.MaxPool3D((1, 2, 2)),
        L.Conv3DTranspose(2, 2, strides=(1, 2, 3)),
        L.AvgPool3D(2),
        L.GlobalMaxPooling3D(keepdims=True),
        L.Flatten(),
    ])


@pytest.mark.parametrize("build", [convnet, volume_stack])
def test_3d_models_outputs_step_and_summary_equal_keras(build):
    theirs, ours = both(build)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert names(ours) == names(theirs)
    assert [tuple(layer.output.shape) for layer in ours.layers] == \
        [tuple(layer.output.shape) for layer in theirs.layers]
    assert_same(ours.predict(VOL, verbose=0), theirs(VOL))
    assert summary_of(ours) == summary_of(theirs)
    if build is convnet:
        y = np.eye(3, dtype="float32")[[0, 2]]
        same_step(theirs, ours, VOL, y, loss="categorical_crossentropy")
    else:
        y = RNG.standard_normal(tuple(_np(theirs(VOL)).shape)).astype("float32")
        same_step(theirs, ours, VOL, y)


@pytest.mark.parametrize("cls, kw", [
    ("Conv3D", {"filters": 2, "kernel_size": 3}),
    ("Conv3D", {"filters": 2, "kernel_size": (3, 2, 1), "strides": (2, 3, 1), "padding": "same"}),
    ("Conv3D", {"filters": 6, "kernel_size": 2, "strides": 2, "padding": "valid", "groups": 3}),
    ("Conv3D", {"filters": 2, "kernel_size": (2, 3, 2), "dilation_rate": (2, 1, 2), "padding": "same"}),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "activation": "sigmoid", "use_bias": False}),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 3}),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": (3, 2, 1), "strides": (2, 3, 1), "padding": "same"}),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 3}),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1}),
    ("MaxPooling3D", {}),
    ("MaxPooling3D", {"pool_size": (3, 2, 2), "strides": (2, 1, 3), "padding": "same"}),
    ("MaxPooling3D", {"pool_size": 3, "strides": 2, "padding": "valid"}),
    ("AveragePooling3D", {"pool_size": 2}),
    ("AveragePooling3D", {"pool_size": (3, 2, 1), "strides": (2, 2, 1)}),
    ("AveragePooling3D", {"pool_size": 3, "strides": 1, "padding": "same"}),
    ("GlobalAveragePooling3D", {}),
    ("GlobalAveragePooling3D", {"keepdims": True}),
    ("GlobalMaxPooling3D", {"keepdims": True}),
    ("UpSampling3D", {}),
    ("UpSampling3D", {"size": (1, 3, 2)}),
    ("ZeroPadding3D", {}),
    ("ZeroPadding3D", {"padding": 2}),
    ("ZeroPadding3D", {"padding": (1, 0, 2)}),
    ("Cropping3D", {}),
    ("Cropping3D", {"cropping": (2, 0, 1)}),
    ("Cropping3D", {"cropping": ((0, 3), (2, 1), (1, 0))}),
])
def test_each_3d_layer_option_equals_keras(cls, kw):
    # the layers alone, without ``both``'s Keras session clearing (0.3 s each)
    theirs, ours = getattr(K.layers, cls)(**kw), getattr(layers, cls)(**kw)
    want = theirs(VOL)
    ours(VOL)
    ours.set_weights(theirs.get_weights())
    assert_same(ours(VOL), want)
    symbolic = ours(keras.Input(VOL.shape[1:]))
    assert tuple(symbolic.shape) == tuple(theirs.compute_output_shape((None,) + VOL.shape[1:]))


def test_average_pooling3d_same_with_uneven_padding_averages_the_covered_cells():
    # pool 2, stride 1, 'same': one cell of padding after on each axis; the window there averages
    # only the cells it covers (Keras's TensorFlow and JAX backends), the reference here is NumPy's
    got = _np(layers.AveragePooling3D(2, strides=1, padding="same")(VOL))
    padded = np.pad(VOL, ((0, 0), (0, 1), (0, 1), (0, 1), (0, 0)), constant_values=np.nan)
    want = np.nanmean(np.stack([padded[:, a:a + 7, b:b + 8, c:c + 6] for a in (0, 1) for b in (0, 1)
                                for c in (0, 1)]), axis=0)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_conv3d_kernel_layout_is_keras():
    conv = layers.Conv3D(4, (2, 3, 1), groups=1)
    y = _np(conv(VOL))
    kernel, bias = conv.get_weights()
    assert kernel.shape == (2, 3, 1, 3, 4) and bias.shape == (4,)
    want = sum(VOL[:, i, j, 0, :] @ kernel[i, j, 0] for i in range(2) for j in range(3)) + bias
    np.testing.assert_allclose(y[:, 0, 0, 0], want, atol=1e-5)
    up = layers.Conv3DTranspose(5, (2, 1, 3))
    up(VOL)
    assert up.get_weights()[0].shape == (2, 1, 3, 5, 3)


@pytest.mark.parametrize("make", [
    lambda: layers.Conv3D(2, 2), lambda: layers.Conv3DTranspose(2, 2), lambda: layers.MaxPooling3D(),
    lambda: layers.AveragePooling3D(2), lambda: layers.GlobalAveragePooling3D(), lambda: layers.GlobalMaxPooling3D(),
    lambda: layers.UpSampling3D(), lambda: layers.ZeroPadding3D(), lambda: layers.Cropping3D(),
])
@pytest.mark.parametrize("shape", [(2, 6, 6, 3), (1, 2, 4, 4, 4, 3)])
def test_wrong_rank_raises_keras_error(make, shape):
    with pytest.raises(ValueError, match=f"expected ndim=5, found ndim={len(shape)}"):
        make()(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match=f"expected ndim=5, found ndim={len(shape)}"):
        keras.Sequential([keras.Input(shape[1:]), make()])


def test_bad_arguments_and_channel_counts_raise_clear_errors():
    conv = layers.Conv3D(4, 2)
    conv(VOL)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        conv(np.zeros((1, 4, 4, 4, 2), "float32"))
    with pytest.raises(ValueError, match="filters must be evenly divisible"):
        layers.Conv3D(5, 3, groups=2)
    with pytest.raises(ValueError, match="input channels must be evenly divisible"):
        layers.Conv3D(4, 3, groups=2)(VOL)
    with pytest.raises(ValueError, match="tuple of 3 integers"):
        layers.Conv3D(4, (3, 3))
    with pytest.raises(ValueError, match="padding"):
        layers.Conv3D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="padding"):
        layers.MaxPooling3D(padding="full")
    with pytest.raises(ValueError, match="must be one of {'channels_first', 'channels_last'}"):
        layers.Conv3D(4, 3, data_format="channels_middle")
    with pytest.raises(NotImplementedError, match="dilation_rate=1"):
        layers.Conv3DTranspose(4, 3, dilation_rate=2)
    with pytest.raises(ValueError, match="non-negative"):
        layers.ZeroPadding3D(-1)
    with pytest.raises(ValueError, match="tuple of 3 ints"):
        layers.ZeroPadding3D((1, 2))
    with pytest.raises(ValueError, match="smaller than the corresponding spatial dimension"):
        layers.Cropping3D((3, 0, 0))(np.zeros((1, 6, 6, 6, 1), "float32"))


@pytest.mark.parametrize("cls, kw", [
    ("Conv3D", {"filters": 4, "kernel_size": (3, 2, 1), "strides": 2, "padding": "same", "activation": "relu"}),
    ("Conv3D", {"filters": 4, "kernel_size": 3, "dilation_rate": (1, 2, 2), "groups": 2}),
    ("Conv3DTranspose", {"filters": 4, "kernel_size": 3, "strides": (2, 1, 1), "output_padding": (1, 0, 0)}),
    ("MaxPooling3D", {"pool_size": 3, "padding": "same"}),
    ("AveragePooling3D", {"pool_size": (2, 1, 2), "strides": 1}),
    ("GlobalAveragePooling3D", {"keepdims": True}),
    ("GlobalMaxPooling3D", {}),
    ("UpSampling3D", {"size": (1, 2, 3)}),
    ("ZeroPadding3D", {"padding": ((1, 2), (0, 1), (3, 0))}),
    ("Cropping3D", {"cropping": 2}),
])
def test_get_config_round_trips_and_keeps_keras_arguments(cls, kw):
    layer = getattr(layers, cls)(**kw)
    config = layer.get_config()
    for key, value in kw.items():
        want = [list(v) if isinstance(v, tuple) else v for v in value] if isinstance(value, tuple) else value
        assert config[key] == want
    assert getattr(layers, cls).from_config(config).get_config() == config
    getattr(K.layers, cls)(**kw)


def test_aliases_are_the_layers():
    assert layers.MaxPool3D is layers.MaxPooling3D and layers.AvgPool3D is layers.AveragePooling3D
    assert layers.GlobalAvgPool3D is layers.GlobalAveragePooling3D
    assert layers.GlobalMaxPool3D is layers.GlobalMaxPooling3D
    assert layers.Convolution3D is layers.Conv3D and layers.Convolution3DTranspose is layers.Conv3DTranspose
