"""nerve.keras with datasets: image_dataset_from_directory batches, keras.datasets, GPU device."""

import numpy as np
import pytest

import nerve
from nerve import keras
from nerve.keras import layers


@pytest.fixture(autouse=True)
def _fresh():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


def test_fit_on_image_dataset_from_directory(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for cls, channel in (("blue", 2), ("red", 0)):
        (tmp_path / cls).mkdir()
        for i in range(12):
            arr = rng.integers(0, 60, size=(10, 10, 3)).astype("uint8")
            arr[..., channel] = 200 + rng.integers(0, 50)
            Image.fromarray(arr).save(tmp_path / cls / f"{i}.png")
    train = keras.utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=8, seed=1,
                                                     validation_split=0.25, subset="training", verbose=False)
    val = keras.utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=8, seed=1,
                                                   validation_split=0.25, subset="validation", verbose=False)
    assert train.class_names == ["blue", "red"]
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Rescaling(1 / 255.0),
                              layers.Conv2D(4, 3, activation="relu"), layers.GlobalAveragePooling2D(),
                              layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(train, epochs=15, validation_data=val, verbose=0)
    assert h.params["steps"] == len(train) == 3
    assert h.history["val_accuracy"][-1] == 1.0
    assert model.evaluate(val, verbose=0, return_dict=True)["accuracy"] == 1.0
    assert model.predict(val, verbose=0).shape == (6, 2)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(train, epochs=1, validation_split=0.2, verbose=0)


def test_keras_datasets_fashion_mnist():
    try:
        (x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()
    except Exception as e:  # no local copy and no network
        pytest.skip(f"Fashion-MNIST not available: {e}")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8 and y.shape == (60000,)
    assert xt.shape == (10000, 28, 28) and yt.max() == 9


@pytest.mark.skipif(not nerve.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_on_gpu():
    keras.backend.set_device("cuda")
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(256, 8, 8, 1)).astype("float32")
        y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
        model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, padding="same", activation="relu"),
                                  layers.BatchNormalization(), layers.MaxPooling2D(), layers.Flatten(),
                                  layers.Dropout(0.2), layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        assert model.weights[0].value.device.type == "cuda"
        h = model.fit(x, y, epochs=5, validation_split=0.2, verbose=0)
        assert h.history["accuracy"][-1] > 0.8
        # the per-step loss and counts stay on the GPU; what the history holds is read back as floats
        assert all(type(v) is float for k in ("loss", "accuracy", "val_loss") for v in h.history[k])
        assert isinstance(model.predict(x, verbose=0), np.ndarray)
    finally:
        keras.backend.set_device("cpu")


def test_fit_on_a_generator_uses_every_batch():
    # fit looks at the first batch to build the model; a one-shot generator must not lose it
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    sizes = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: sizes.append(b))
    model.fit((b for b in [(x[:8], y[:8]), (x[8:16], y[8:16]), (x[16:], y[16:])]), verbose=0, callbacks=[cb])
    assert sizes == [0, 1, 2]
