"""Keras 3's file formats, both ways: a model built and saved in one library (``model.save('m.keras')``,
``model.save_weights('m.weights.h5')``) is opened by the other (``keras.models.load_model``,
``model.load_weights``) and predicts and evaluates the same, with the same layer configs; nerve's own
older files still load; unsafe and broken files are refused with clear errors; saves are atomic."""

import contextlib
import os
import warnings

import numpy as np
import pytest
from _keras_compare import K, assert_same, summary_of

import nerve
from nerve import keras
from nerve.keras import keras_h5

h5py = pytest.importorskip("h5py")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def convnet(k):
    model = k.Sequential([
        k.Input((8, 8, 3)),
        k.layers.Conv2D(4, 3, padding="same", activation="relu"),
        k.layers.BatchNormalization(),
        k.layers.MaxPooling2D(),
        k.layers.Conv2D(3, (2, 2), strides=2),
        k.layers.GlobalAveragePooling2D(),
        k.layers.Dropout(0.2),
        k.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=k.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def two_inputs(k):
    a, b = k.Input((6,), name="a"), k.Input((4,), name="b")
    x = k.layers.Concatenate()([k.layers.Dense(5, activation="tanh")(a), b])
    left = k.layers.ReLU()(k.layers.Dense(4)(x))
    right = k.layers.Activation("sigmoid")(k.layers.Dense(4, use_bias=False)(x))
    out = k.layers.Dense(2)(k.layers.Add()([left, right]))
    model = k.Model([a, b], out)
    model.compile(optimizer=k.optimizers.SGD(0.1, momentum=0.9), loss="mse",
                  metrics=["mae", k.metrics.MeanSquaredError(name="mse")])
    return model


def recurrent(k):
    model = k.Sequential([
        k.Input((5,), dtype="int32"),
        k.layers.Embedding(20, 4),
        k.layers.LSTM(6, return_sequences=True),
        k.layers.GRU(3),
        k.layers.Flatten(),
        k.layers.Dense(2),
    ])
    model.compile(optimizer=k.optimizers.RMSprop(0.01), loss=k.losses.MeanSquaredError(), metrics=["mse"])
    return model


def masked_sequence(k):
    model = k.Sequential([
        k.Input((6,), dtype="int32"),
        k.layers.Embedding(15, 4, mask_zero=True),
        k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True)),
        k.layers.TimeDistributed(k.layers.Dense(2)),
        k.layers.SimpleRNN(3),
        k.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    return model


def signal(k):
    model = k.Sequential([
        k.Input((10, 3)),
        k.layers.Conv1D(4, 3, padding="causal"),
        k.layers.LayerNormalization(),
        k.layers.MaxPooling1D(),
        k.layers.GlobalMaxPooling1D(),
        k.layers.Dense(2),
    ])
    model.compile(optimizer="adam", loss="mse")
    return model


def image_ops(k):
    model = k.Sequential([
        k.Input((6, 6, 2)),
        k.layers.ZeroPadding2D(1),
        k.layers.Conv2D(3, 3, use_bias=False),
        k.layers.LeakyReLU(0.2),
        k.layers.AveragePooling2D(2),
        k.layers.UpSampling2D(),
        k.layers.Reshape((-1,)),
        k.layers.Dense(4),
        k.layers.Softmax(),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    return model


def nested_and_shared(k):
    a, b = k.Input((4,), name="a"), k.Input((4,), name="b")
    inner = k.Sequential([k.layers.Dense(3, activation="relu"), k.layers.Dense(3)], name="inner")
    diff = k.layers.Subtract(name="diff")([inner(a), inner(b)])
    total = k.layers.Dense(1, name="total")(k.layers.Concatenate()([a, b]))
    model = k.Model({"a": a, "b": b}, {"diff": diff, "total": total})
    model.compile(optimizer="adam", loss={"diff": "mse", "total": "mae"})
    return model


def attention(k):
    q, v = k.Input((5, 4), name="q"), k.Input((6, 4), name="v")
    mixed = k.layers.Add()([k.layers.MultiHeadAttention(2, 3)(q, v), k.layers.Attention()([q, v])])
    out = k.layers.RNN(k.layers.StackedRNNCells([k.layers.LSTMCell(4), k.layers.GRUCell(2)]))(mixed)
    model = k.Model([q, v], out)
    model.compile(optimizer="adam", loss="mse")
    return model


BUILDERS = [convnet, two_inputs, recurrent, masked_sequence, signal, image_ops, nested_and_shared, attention]


def data(build):
    rng = np.random.default_rng(7)
    if build is masked_sequence:
        return np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]], "int32"), rand(2, 1, seed=8)
    if build is signal:
        return rand(3, 10, 3, seed=9), rand(3, 2, seed=10)
    if build is image_ops:
        return rand(2, 6, 6, 2, seed=11), np.eye(4, dtype="float32")[[1, 3]]
    if build is attention:
        return [rand(3, 5, 4, seed=15), rand(3, 6, 4, seed=16)], rand(3, 2, seed=17)
    if build is nested_and_shared:
        return {"a": rand(3, 4, seed=12), "b": rand(3, 4, seed=13)}, {"diff": rand(3, 3, seed=14),
                                                                        "total": rng.random((3, 1), "float32")}
    if build is two_inputs:
        return [rand(4, 6, seed=1), rand(4, 4, seed=2)], rand(4, 2, seed=3)
    if build is recurrent:
        return np.random.default_rng(4).integers(0, 20, (4, 5)).astype("int32"), rand(4, 2, seed=5)
    return rand(4, 8, 8, 3, seed=6), np.array([0, 2, 1, 2])


def same(got, want):
    """Outputs equal to float32 tolerance: one array, a list, or a dict by output name."""
    if isinstance(want, dict):
        assert sorted(got) == sorted(want)
        got, want = [got[k] for k in sorted(got)], [want[k] for k in sorted(want)]
    assert_same(got, want)


def layer_configs(model):
    """Each layer's config as Keras reports it, without names and Keras's per-session object ids."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in ("name", "shared_object_id")}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return [(type(layer).__name__, clean(layer.get_config())) for layer in model.layers]


def evaluate(model, x, y):
    return model.evaluate(x, y, verbose=0, return_dict=True)


@contextlib.contextmanager
def strict_loading():
    """Keras's loading made to fail where it would skip variables it found no match for in the file."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Ss]kipping variable loading.*")
        yield


@pytest.mark.parametrize("build", BUILDERS)
def test_a_model_saved_by_nerve_opens_in_keras(tmp_path, build):
    x, y = data(build)
    keras.utils.set_random_seed(1)
    ours = build(keras)
    ours.fit(x, y, epochs=1, verbose=0)
    ours.save(tmp_path / "m.keras")
    with strict_loading():
        theirs = K.models.load_model(tmp_path / "m.keras")
    native = build(K)  # the same architecture written in Keras: its configs are the reference
    same(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert int(theirs.optimizer.iterations) == ours.optimizer.iterations
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
    assert layer_configs(theirs) == layer_configs(native)
    # the compile config came along: the same optimizer settings, loss and metrics
    assert theirs.optimizer.get_config() | {"name": None} == native.optimizer.get_config() | {"name": None}
    got, want = evaluate(theirs, x, y), evaluate(ours, x, y)
    assert sorted(got) == sorted(want)
    np.testing.assert_allclose([got[k] for k in sorted(got)], [want[k] for k in sorted(want)], rtol=1e-5, atol=1e-6)

    # weights only: Keras's load_weights on the same architecture built in Keras
    ours.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5") as f:
        assert "vars" in f and "layers" in f  # Keras's HDF5 layout
    native.optimizer.build(native.trainable_variables)  # so that Keras takes the optimizer's state too
    with strict_loading():
        native.load_weights(tmp_path / "m.weights.h5")
    same(native.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert int(native.optimizer.iterations) == ours.optimizer.iterations


@pytest.mark.parametrize("build", BUILDERS)
def test_a_model_saved_by_keras_opens_in_nerve(tmp_path, build):
    x, y = data(build)
    K.utils.set_random_seed(2)
    theirs = build(K)
    theirs.fit(x, y, epochs=1, verbose=0)  # moving statistics and weights away from their initial values
    theirs.save(tmp_path / "k.keras")
    ours = keras.models.load_model(tmp_path / "k.keras")
    same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    # layer names, classes, output shapes, parameter counts, the optimizer's included (its state came along)
    assert summary_of(ours) == summary_of(theirs)
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__
    np.testing.assert_allclose(float(ours.optimizer.learning_rate), float(theirs.optimizer.learning_rate))
    got, want = evaluate(ours, x, y), evaluate(theirs, x, y)
    assert sorted(got) == sorted(want)
    np.testing.assert_allclose([got[k] for k in sorted(got)], [want[k] for k in sorted(want)], rtol=1e-5, atol=1e-6)
    # nerve's model saved again opens in Keras with the same configs
    ours.save(tmp_path / "again.keras")
    with strict_loading():
        back = K.models.load_model(tmp_path / "again.keras")
    assert layer_configs(back) == layer_configs(theirs)
    same(back.predict(x, verbose=0), theirs.predict(x, verbose=0))
    # and Keras's weights file into nerve
    theirs.save_weights(tmp_path / "k.weights.h5")
    fresh = build(keras)
    fresh.predict(x, verbose=0)
    fresh.load_weights(tmp_path / "k.weights.h5")
    same(fresh.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_custom_layers_and_subclassed_models_travel_both_ways(tmp_path):
    """Classes of the user's own, registered in each library under the same name: found by name; a
    layer's asset files travel too."""
    x = rand(3, 4, seed=15)

    def define(k):
        @k.saving.register_keras_serializable(package="files")
        class Scaled(k.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def build(self, shape):
                self.w = self.add_weight(shape=(shape[-1], self.units), initializer="random_normal", name="w")

            def call(self, inputs):
                return k.ops.matmul(inputs, self.w) * 2.0

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        @k.saving.register_keras_serializable(package="files")
        class Net(k.Model):
            def __init__(self, hidden, **kwargs):
                super().__init__(**kwargs)
                self.hidden = hidden
                self.dense = k.layers.Dense(hidden, activation="relu")
                self.scaled = Scaled(2)

            def call(self, inputs):
                return self.scaled(self.dense(inputs))

            def get_config(self):
                return {**super().get_config(), "hidden": self.hidden}

        @k.saving.register_keras_serializable(package="files")
        class Shift(k.layers.Layer):  # state kept in an asset file, not in weights
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.table = np.zeros(4, "float32")

            def call(self, inputs):
                return inputs + k.ops.convert_to_tensor(self.table)

            def save_assets(self, folder):
                np.save(os.path.join(folder, "table.npy"), self.table)

            def load_assets(self, folder):
                self.table = np.load(os.path.join(folder, "table.npy"))

        return Scaled, Net, Shift

    classes = {K: define(K), keras: define(keras)}
    for source, target in ((K, keras), (keras, K)):
        scaled, net, shift = classes[source]
        shifted = source.Sequential([source.Input((4,)), shift(name="shift")])
        shifted.layers[0].table = np.arange(4, dtype="float32")
        for model in (source.Sequential([source.Input((4,)), scaled(3, name="scaled"), source.layers.Dense(2)]),
                      net(5), shifted):
            want = model.predict(x, verbose=0)
            model.save(tmp_path / "custom.keras")
            loaded = target.models.load_model(tmp_path / "custom.keras")
            assert type(loaded).__name__ == type(model).__name__
            same(loaded.predict(x, verbose=0), want)


@pytest.mark.parametrize("build", BUILDERS)
def test_nerve_s_file_without_its_own_member_rebuilds_from_config_json(tmp_path, build):
    """nerve's .keras zip read as Keras reads it: from config.json and model.weights.h5 alone."""
    import zipfile

    x, y = data(build)
    ours = build(keras)
    ours.fit(x, y, epochs=1, verbose=0)
    ours.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as src, zipfile.ZipFile(tmp_path / "plain.keras", "w") as dst:
        for name in src.namelist():
            if name != "nerve.safetensors":
                dst.writestr(name, src.read(name))
    again = keras.models.load_model(tmp_path / "plain.keras")
    same(again.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert summary_of(again) == summary_of(ours)
    for got, want in zip(again.get_config()["layers"], ours.get_config()["layers"], strict=True):
        assert (got["class_name"], got.get("inbound_nodes")) == (want["class_name"], want.get("inbound_nodes"))
        if got["class_name"] not in ("Sequential", "Functional"):  # (a nested model: its summary compared)
            assert got["config"] | want["config"] == got["config"]  # what nerve's model was given, and defaults
    for model in (ours, again):
        keras.utils.set_random_seed(5)  # the same dropout masks
        model.train_on_batch(x, y)
    same(again.predict(x, verbose=0), ours.predict(x, verbose=0))  # the optimizer's state came along


@pytest.mark.parametrize("build", [signal, two_inputs, recurrent])  # Adam, SGD with momentum, RMSprop
def test_training_goes_on_in_the_other_library_with_the_optimizer_s_state(tmp_path, build):
    """Trained in one library, saved, loaded in the other: the next step is the step the first
    library takes (the optimizer's moments travel in Keras's layout)."""
    x, y = data(build)
    for source, target in ((K, keras), (keras, K)):
        source.utils.set_random_seed(4)
        model = build(source)
        for _ in range(2):
            model.train_on_batch(x, y)
        model.save(tmp_path / "trained.keras")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no optimizer variables skipped
            loaded = target.models.load_model(tmp_path / "trained.keras")
        assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
        model.train_on_batch(x, y)
        loaded.train_on_batch(x, y)
        same(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_training_resumes_from_nerve_s_keras_file(tmp_path):
    """The optimizer's state travels in nerve's member of the zip: one more step after loading is the
    step the saved model would have taken."""
    x, y = data(convnet)
    ours = convnet(keras)
    ours.fit(x, y, epochs=2, verbose=0)
    ours.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert again.optimizer.iterations == ours.optimizer.iterations
    for model in (ours, again):
        keras.utils.set_random_seed(3)  # the same dropout masks
        model.train_on_batch(x, y)
    same(again.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_without_h5py_nerve_writes_its_own_format_and_reads_both(tmp_path, monkeypatch):
    x, y = data(convnet)
    ours = convnet(keras)
    ours.fit(x, y, epochs=1, verbose=0)
    ours.save_weights(tmp_path / "keras_layout.weights.h5")
    monkeypatch.setattr(keras_h5, "have_h5py", lambda: False)
    ours.save_weights(tmp_path / "own.weights.h5")
    ours.save(tmp_path / "own.keras")
    for name in ("own.weights.h5", "own.keras"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) not in (keras_h5.HDF5_SIGNATURE,) and not (tmp_path / name).read_bytes().startswith(b"PK")
    monkeypatch.undo()
    same(keras.models.load_model(tmp_path / "own.keras").predict(x, verbose=0), ours.predict(x, verbose=0))
    for name in ("own.weights.h5", "keras_layout.weights.h5"):
        fresh = convnet(keras)
        fresh.predict(x, verbose=0)
        fresh.load_weights(tmp_path / name)
        same(fresh.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_a_lambda_layer_is_refused_both_ways(tmp_path):
    x = rand(2, 3)
    theirs = K.Sequential([K.Input((3,)), K.layers.Lambda(lambda t: t * 2, name="double"), K.layers.Dense(2)])
    theirs.predict(x, verbose=0)
    theirs.save(tmp_path / "lambda.keras")
    for safe_mode in (True, False):  # nerve never runs code from a file, even when told it may
        with pytest.raises(ValueError, match=r"lambda\.keras.*'double'.*Python code.*never runs code"):
            keras.models.load_model(tmp_path / "lambda.keras", safe_mode=safe_mode)
    ours = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2, name="double"),
                             keras.layers.Dense(2)])
    ours.predict(x, verbose=0)
    with pytest.raises(ValueError, match="Layer 'double' is a Lambda layer"):
        ours.save(tmp_path / "ours.keras")
    # a lambda as an activation: no name for Keras's config to hold it by
    odd = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation=lambda t: t * 2, name="odd")])
    odd.predict(x, verbose=0)
    with pytest.raises(ValueError, match=r"Layer 'odd' \(Dense\) cannot be written in Keras's config.*lambda"):
        odd.save(tmp_path / "ours.keras")
    assert not (tmp_path / "ours.keras").exists()


def test_keras_arguments_nerve_lacks_are_named(tmp_path):
    theirs = K.Sequential([K.Input((3,)), K.layers.BatchNormalization(renorm=True, name="bn")])
    theirs.save(tmp_path / "r.keras")
    with pytest.raises(ValueError, match=r"r\.keras: layer 'bn' \(BatchNormalization\) sets `renorm=True`"):
        keras.models.load_model(tmp_path / "r.keras")
    # an optimizer state nerve cannot map (AMSGrad's): said, and training starts afresh
    theirs = K.Sequential([K.Input((3,)), K.layers.Dense(2)])
    theirs.compile(optimizer=K.optimizers.Adam(amsgrad=True), loss="mse")
    theirs.fit(rand(4, 3), rand(4, 2), verbose=0)
    theirs.save(tmp_path / "a.keras")
    with pytest.warns(UserWarning, match=r"a\.keras: the optimizer's state saved by Keras \(8 variables\) is not loaded"):
        keras.models.load_model(tmp_path / "a.keras")
    # a metric nerve.keras lacks (a Keras user's own class): the compile config is refused by name;
    # compile=False loads the model
    @K.saving.register_keras_serializable(package="test_formats")
    class HalfMean(K.metrics.Mean):
        pass

    x = rand(2, 3)
    theirs = K.Sequential([K.Input((3,)), K.layers.Dense(2)])
    theirs.compile(optimizer="sgd", loss="mse", metrics=[HalfMean()])
    theirs.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"m\.keras: .*HalfMean.*compile=False"):
        keras.models.load_model(tmp_path / "m.keras")
    same(keras.models.load_model(tmp_path / "m.keras", compile=False).predict(x, verbose=0),
         theirs.predict(x, verbose=0))


def test_truncated_and_corrupt_files_give_clear_errors_naming_the_file(tmp_path):
    ours = convnet(keras)
    ours.predict(data(convnet)[0], verbose=0)
    ours.save(tmp_path / "m.keras")
    ours.save_weights(tmp_path / "m.weights.h5")
    whole = (tmp_path / "m.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"cut\.keras is not a readable \.keras file"):
        keras.models.load_model(tmp_path / "cut.keras")
    weights = (tmp_path / "m.weights.h5").read_bytes()
    (tmp_path / "cut.weights.h5").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ValueError, match=r"cut\.weights\.h5 is not a readable HDF5 weights file"):
        ours.load_weights(tmp_path / "cut.weights.h5")
    # a zip whose config.json is not JSON
    import zipfile

    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("metadata.json", "{}")
    with pytest.raises(ValueError, match=r"bad\.keras is corrupt: its config\.json is not JSON"):
        keras.models.load_model(tmp_path / "bad.keras")


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    x, _ = data(convnet)
    ours = convnet(keras)
    ours.predict(x, verbose=0)
    ours.save(tmp_path / "m.keras")
    ours.save_weights(tmp_path / "m.weights.h5")
    before = {name: (tmp_path / name).read_bytes() for name in ("m.keras", "m.weights.h5")}

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nerve._atomic.os, "fsync", full_disk)  # fails after the bytes went to the temporary file
    ours.layers[-1].kernel.assign(np.zeros((3, 3), dtype="float32"))
    with pytest.raises(OSError, match="No space left"):
        ours.save(tmp_path / "m.keras")
    with pytest.raises(OSError, match="No space left"):
        ours.save_weights(tmp_path / "m.weights.h5")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "m.weights.h5"]  # no temporary file left behind
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert float(np.abs(K.models.load_model(tmp_path / "m.keras").layers[-1].kernel.numpy()).max()) > 0


def test_a_dense_config_written_by_keras_builds_the_layer_in_nerve():
    theirs = K.layers.Dense(3, activation="relu")
    theirs.build((None, 4))
    ours = keras.layers.Dense.from_config(theirs.get_config())  # it holds quantization_config=None
    ours.build((None, 4))
    ours.set_weights(theirs.get_weights())
    x = rand(5, 4)
    assert_same(ours(nerve.tensor(x)), theirs(x))
    with pytest.raises(NotImplementedError, match="LoRA and quantization"):
        keras.layers.Dense(3, lora_rank=4)
