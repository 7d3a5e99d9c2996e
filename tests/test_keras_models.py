"""nerve.keras models: building, summary, fit / evaluate / predict, saving, errors."""

import numpy as np
import pytest

import nerve
from nerve import keras
from nerve.keras import keras_h5, layers


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


def convnet(input_shape=(28, 28, 1)):
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def separable(n=600, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(classes, d))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(size=(n, d))).astype("float32")
    return x, y


def test_convnet_summary_totals():
    model = convnet()
    assert model.count_params() == 34826
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "Total params: 34,826 (136.04 KB)" in text
    assert "Trainable params: 34,826 (136.04 KB)" in text
    assert "│ conv2d_1 (Conv2D)               │ (None, 11, 11, 64)     │        18,496 │" in text
    assert [w.shape for w in model.get_weights()] == [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (1600, 10), (10,)]


def test_sequential_builds_lazily_and_from_input_shape():
    lazy = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)])
    assert not lazy.built
    out = lazy(np.zeros((3, 5), "float32"))
    assert tuple(out.shape) == (3, 2) and lazy.built
    assert [w.shape for w in lazy.get_weights()] == [(5, 4), (4,), (4, 2), (2,)]
    eager = keras.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(10, activation="softmax")])
    assert eager.built and eager.count_params() == 7850
    m = keras.Sequential()
    m.add(keras.Input((6,)))
    m.add(layers.Dense(3))
    m.add(layers.Dense(1))
    assert m.output_shape == (None, 1)
    popped = m.pop()
    assert isinstance(popped, layers.Dense) and m.output_shape == (None, 3)
    assert keras.models.Sequential is keras.Sequential


def test_default_initializers_and_trainable():
    d = layers.Dense(50)
    d.build((None, 30))
    k, b = d.get_weights()
    limit = np.sqrt(6 / (30 + 50))
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.8 * limit
    assert np.all(b == 0)
    bn = layers.BatchNormalization()
    assert bn.momentum == 0.99 and bn.epsilon == 1e-3
    bn.build((None, 4))
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    d.trainable = False
    assert d.trainable_weights == [] and len(d.non_trainable_weights) == 2
    assert not d.kernel.value.requires_grad


def test_fit_separable_reaches_high_accuracy_and_history_keys():
    x, y = separable()
    model = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=8, batch_size=32, validation_split=0.2, verbose=0)
    assert list(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h.history["val_accuracy"][-1] >= 0.95
    assert h.epoch == list(range(8)) and h.params["steps"] == 15
    assert model.history is h
    res = model.evaluate(x, y, verbose=0)
    assert isinstance(res, list) and res[1] >= 0.95
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"} and d["loss"] == pytest.approx(res[0])
    p = model.predict(x, batch_size=64, verbose=0)
    assert isinstance(p, np.ndarray) and p.shape == (600, 3) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_accuracy_resolution_like_keras():
    x, y = separable(n=64)
    onehot = keras.utils.to_categorical(y, 3)
    for loss, target, kind in [("categorical_crossentropy", onehot, "CategoricalAccuracy"),
                               ("sparse_categorical_crossentropy", y, "SparseCategoricalAccuracy")]:
        m = keras.Sequential([keras.Input((8,)), layers.Dense(3, activation="softmax")])
        m.compile("sgd", loss, metrics=["accuracy"])
        m.fit(x, target, epochs=1, verbose=0)
        assert type(m._metrics[0][1]).__name__ == kind
    b = keras.Sequential([keras.Input((8,)), layers.Dense(1, activation="sigmoid")])
    b.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    h = b.fit(x, (y == 1).astype("float32"), epochs=30, verbose=0)
    assert type(b._metrics[0][1]).__name__ == "BinaryAccuracy"
    assert h.history["accuracy"][-1] > 0.9


def test_validation_split_takes_the_last_fraction():
    x, y = separable(n=100)
    model = keras.Sequential([keras.Input((8,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(batch))
    h = model.fit(x, y, batch_size=10, epochs=1, validation_split=0.3, verbose=0, callbacks=[cb])
    assert len(seen) == 7  # 70 training examples
    val = model.evaluate(x[70:], y[70:], verbose=0, return_dict=True)
    assert h.history["val_loss"][0] == pytest.approx(val["loss"], rel=1e-5)
    assert h.history["val_accuracy"][0] == pytest.approx(val["accuracy"])


def test_functional_multi_input_output_and_subclassed():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = layers.Concatenate()([layers.Dense(8, activation="relu")(a), layers.Dense(8, activation="relu")(b)])
    out1 = layers.Dense(2, activation="softmax", name="cls")(h)
    out2 = layers.Dense(1, name="reg")(h)
    model = keras.Model([a, b], [out1, out2])
    assert [layer.name for layer in model.layers][:2] == ["a", "b"]
    model.compile(keras.optimizers.Adam(0.01), loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], ["mae"]])
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(200, 4)).astype("float32"), rng.normal(size=(200, 3)).astype("float32")
    y1 = (xa[:, 0] > 0).astype("int64")
    y2 = xb.sum(1, keepdims=True).astype("float32")
    hist = model.fit([xa, xb], [y1, y2], epochs=15, verbose=0)
    assert {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"} <= set(hist.history)
    assert hist.history["cls_accuracy"][-1] > 0.85
    p1, p2 = model.predict([xa, xb], verbose=0)
    assert p1.shape == (200, 2) and p2.shape == (200, 1)

    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(16, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, x, training=None):
            return self.out(self.hidden(x))

    x, y = separable()
    net = Net()
    net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hh = net.fit(x, y, epochs=6, verbose=0)
    assert hh.history["accuracy"][-1] > 0.9
    assert len(net.trainable_weights) == 4 and net.count_params() == 8 * 16 + 16 + 16 * 3 + 3


def test_fit_from_nerve_tensors_and_dataloader():
    from nerve.utils.data import DataLoader, TensorDataset

    x, y = separable()
    model = keras.Sequential([keras.Input((8,)), layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(nerve.tensor(x), nerve.tensor(y), epochs=2, verbose=0)
    loader = DataLoader(TensorDataset(nerve.tensor(x), nerve.tensor(y)), batch_size=50, shuffle=True)
    h = model.fit(loader, epochs=3, validation_data=loader, verbose=0)
    assert h.params["steps"] == 12 and h.history["val_accuracy"][-1] > 0.9


def test_train_test_predict_on_batch():
    x, y = separable(n=64)
    model = keras.Sequential([keras.Input((8,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()[0].copy()
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert not np.allclose(before, model.get_weights()[0])
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.predict_on_batch(x).shape == (64, 3)


def test_errors_give_sizes_and_known_names():
    model = keras.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="Known optimizers: adadelta, adagrad, adam, adamax, adamw, ftrl, lion, lossscaleoptimizer, nadam, rmsprop, sgd"):
        model.compile(optimizer="sgdd", loss="mse")
    with pytest.raises(ValueError, match="Known losses: .*categorical_crossentropy"):
        model.compile(optimizer="sgd", loss="crossentropy")
    with pytest.raises(ValueError, match="Known metrics: accuracy"):
        model.compile(optimizer="sgd", loss="mse", metrics=["acuracy"])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.zeros((100, 28, 28), "float32")
    with pytest.raises(ValueError, match=r"(?s)'x' sizes: 100.*'y' sizes: 90"):
        model.fit(x, np.zeros((90, 10), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 28, 28\), found shape=\(100, 28, 27\)"):
        model.fit(np.zeros((100, 28, 27), "float32"), np.zeros((100, 10), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 28, 28\), found shape=\(5, 27, 28\)"):
        model.predict(np.zeros((5, 27, 28), "float32"), verbose=0)


def test_save_load_round_trip(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 12, 12, 1)).astype("float32")
    model = keras.Sequential([keras.Input((12, 12, 1)), layers.Conv2D(4, 3, padding="same", activation="relu"),
                              layers.BatchNormalization(), layers.MaxPooling2D(), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, np.arange(16) % 3, epochs=2, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is keras.Sequential and [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam"
    loaded.fit(x, np.arange(16) % 3, epochs=1, verbose=0)  # trains after loading

    a = keras.Input((5,))
    b = keras.Input((2,))
    h = layers.Add()([layers.Dense(3)(a), layers.Dense(3)(b)])
    f = keras.Model([a, b], layers.Dense(1, activation="sigmoid")(h))
    xs = [np.ones((4, 5), "float32"), np.ones((4, 2), "float32")]
    f.save(tmp_path / "f.keras")
    g = keras.models.load_model(tmp_path / "f.keras")
    np.testing.assert_array_equal(g.predict(xs, verbose=0), f.predict(xs, verbose=0))

    f.save_weights(tmp_path / "f.weights.h5")
    clone = keras.models.clone_model(f)
    assert not np.allclose(clone.predict(xs, verbose=0), f.predict(xs, verbose=0))
    clone.load_weights(tmp_path / "f.weights.h5")
    np.testing.assert_array_equal(clone.predict(xs, verbose=0), f.predict(xs, verbose=0))
    if keras_h5.have_h5py():  # Keras 3's own HDF5 layout (tests/test_keras_file_formats.py reads it in Keras)
        assert (tmp_path / "f.weights.h5").read_bytes()[:8] == keras_h5.HDF5_SIGNATURE
    else:  # our own safe format, read back with nerve.load
        raw = nerve.load(tmp_path / "f.weights.h5")
        assert raw["format"] == "nerve.keras" and len(raw["weights"]) == 6
    with pytest.raises(ValueError, match=".weights.h5"):
        f.save_weights(tmp_path / "f.h5")


def test_progress_bar_output(capsys):
    x, y = separable(n=64)
    model = keras.Sequential([keras.Input((8,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    last = out.split("\r")[-1]
    assert last.startswith("4/4 ━━━━━━━━━━━━━━━━━━━━ ")
    assert "s/step - accuracy: " in last and " - loss: " in last and " - val_accuracy: " in last
    model.fit(x, y, batch_size=16, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[1].startswith("4/4 - 0s - ") and "- accuracy:" in lines[1]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_sample_and_class_weights():
    x, y = separable(n=90)
    model = keras.Sequential([keras.Input((8,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    w = np.where(y == 0, 2.0, 0.5).astype("float32")
    ev = model.evaluate(x, y, sample_weight=w, batch_size=90, verbose=0, return_dict=True)
    per = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(y, model(x)))
    assert ev["loss"] == pytest.approx(float((per * w).mean()), rel=1e-5)
    h1 = model.fit(x, y, class_weight={0: 2.0, 1: 0.5, 2: 0.5}, batch_size=90, epochs=1, shuffle=False, verbose=0)
    assert h1.history["loss"][0] == pytest.approx(ev["loss"], rel=1e-5)


def test_custom_train_step_as_in_keras3():
    """A subclass overriding train_step(data), the Keras 3 way, drives fit."""
    seen = []

    class Custom(keras.Sequential):
        def train_step(self, data):
            x, y = data
            seen.append(tuple(x.shape))
            return super().train_step(data)

    x, y = separable(n=40)
    m = Custom([keras.Input((8,)), layers.Dense(3, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy")
    m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert seen == [(16, 8), (16, 8), (8, 8)]


def test_functional_subclass_and_inputs_by_name():
    class Wrapped(keras.Model):
        def __init__(self, **kwargs):
            a, b = keras.Input((2,), name="left"), keras.Input((3,), name="right")
            out = layers.Dense(1)(layers.Concatenate()([a, b]))
            super().__init__(inputs=[a, b], outputs=out, **kwargs)

        def describe(self):
            return f"{len(self.layers)} layers"

    m = Wrapped()
    assert isinstance(m, Wrapped) and m.describe() == "4 layers" and m.name == "wrapped"
    xa, xb = np.ones((4, 2), "float32"), np.ones((4, 3), "float32")
    np.testing.assert_array_equal(m.predict({"left": xa, "right": xb}, verbose=0), m.predict([xa, xb], verbose=0))
    m.compile("sgd", "mse")
    m.fit({"left": xa, "right": xb}, np.zeros((4, 1), "float32"), epochs=1, verbose=0)
