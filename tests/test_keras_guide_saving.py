"""keras.io's guides "Making new layers and models via subclassing" and "Save, serialize, and
export models", run on Keras 3 (torch backend) and on nerve.keras with only the import changed.

Each guide program is a function of the library (``k``): the test runs it on both, with Keras's
initial weights copied into nerve's, and compares what it returns. Left out: the guides' parts
that need TensorFlow (``tf.GradientTape`` loops, ``tf.saved_model``, ``model.export``) and the
interchange of files between Keras and nerve (nerve's ``.keras`` / ``.weights.h5`` files are its
own safe format; the last tests check that each library refuses the other's files clearly).
"""

import json
import warnings

import numpy as np
import pytest
from _keras_compare import K, assert_same, fresh, to_numpy

from nerve import keras


@pytest.fixture(autouse=True)
def _fresh():
    fresh()
    yield


def rand(*shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


def numpy_of(k, value):
    return np.asarray(k.ops.convert_to_numpy(value))


# ------------------------------------------------------------------ the subclassing guide


def linear_classes(k):
    ops = k.ops

    class Linear(k.layers.Layer):  # weights made in __init__
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class LazyLinear(k.layers.Layer):  # weights made in build() from the input shape
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units})
            return config

    return Linear, LazyLinear


def test_linear_layer_add_weight_and_its_weight_lists():
    (Lt, _), (Lo, _) = linear_classes(K), linear_classes(keras)
    theirs, ours = Lt(4, 2), Lo(4, 2)
    ours.set_weights(theirs.get_weights())
    x = np.ones((2, 2), "float32")
    assert_same(ours(keras.ops.ones((2, 2))), theirs(K.ops.ones((2, 2))))
    assert_same(ours(x), theirs(x))
    for layer in (theirs, ours):
        assert layer.weights == [layer.w, layer.b]
        assert layer.trainable_weights == [layer.w, layer.b]
        assert layer.non_trainable_weights == []
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights]
    # the variables take part in arithmetic as tensors do
    for k, layer in ((K, theirs), (keras, ours)):
        np.testing.assert_allclose(numpy_of(k, layer.w * 2 + 1), layer.get_weights()[0] * 2 + 1, rtol=1e-6)
        np.testing.assert_allclose(numpy_of(k, x @ layer.w), x @ layer.get_weights()[0], rtol=1e-5)
        np.testing.assert_allclose(numpy_of(k, -layer.b), -layer.get_weights()[1])


def compute_sum(k):
    class ComputeSum(k.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(k.ops.sum(inputs, axis=0))
            return self.total

    x = k.ops.ones((2, 2))
    my_sum = ComputeSum(2)
    first = numpy_of(k, my_sum(x))
    second = numpy_of(k, my_sum(x))
    return first, second, len(my_sum.weights), len(my_sum.non_trainable_weights), my_sum.trainable_weights


def test_non_trainable_weight_accumulates():
    want, got = compute_sum(K), compute_sum(keras)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[2:] == want[2:] == (1, 1, [])


def test_deferred_build_and_nested_layers_track_weights():
    def mlp(k):
        _, LazyLinear = linear_classes(k)

        class MLPBlock(k.layers.Layer):
            def __init__(self):
                super().__init__()
                self.linear_1 = LazyLinear(32)
                self.linear_2 = LazyLinear(32)
                self.linear_3 = LazyLinear(1)

            def call(self, inputs):
                x = k.activations.relu(self.linear_1(inputs))
                x = k.activations.relu(self.linear_2(x))
                return self.linear_3(x)

        lazy = LazyLinear(32)
        before = (lazy.built, len(lazy.weights))
        lazy(k.ops.ones((2, 2)))
        block = MLPBlock()
        block(k.ops.ones((3, 64)))
        return before, (lazy.built, len(lazy.weights)), block

    before_t, after_t, theirs = mlp(K)
    before_o, after_o, ours = mlp(keras)
    assert before_o == before_t == (False, 0)
    assert after_o == after_t == (True, 2)
    assert len(ours.weights) == len(theirs.weights) == 6
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 6
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights(theirs.get_weights())
    x = rand(5, 64)
    assert_same(ours(x), theirs(x))


def regularized_layers(k):
    class ActivityRegularizationLayer(k.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * k.ops.mean(inputs))
            return inputs

    class OuterLayer(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    class OuterLayerWithKernelRegularizer(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = k.layers.Dense(32, kernel_regularizer=k.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    return ActivityRegularizationLayer, OuterLayer, OuterLayerWithKernelRegularizer


def test_add_loss_in_call_is_reset_at_each_call():
    def run(k):
        _, OuterLayer, _ = regularized_layers(k)
        layer = OuterLayer()
        counts = [len(layer.losses)]
        layer(k.ops.zeros((1, 1)))
        counts.append(len(layer.losses))
        layer(k.ops.convert_to_tensor(rand(4, 3)))
        counts.append(len(layer.losses))
        return counts, float(numpy_of(k, layer.losses[0])), len(layer.activity_reg.losses)

    (counts_t, value_t, inner_t), (counts_o, value_o, inner_o) = run(K), run(keras)
    assert counts_o == counts_t == [0, 1, 1]
    assert inner_o == inner_t == 1
    assert value_o == pytest.approx(value_t, rel=1e-6)


def test_kernel_regularizer_loss_of_an_inner_layer():
    theirs, ours = regularized_layers(K)[2](), regularized_layers(keras)[2]()
    x = rand(2, 5)
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert len(ours.losses) == len(theirs.losses) == 1
    np.testing.assert_allclose(to_numpy(ours.losses[0]), to_numpy(theirs.losses[0]), rtol=1e-5)


def test_add_loss_goes_into_fit_with_and_without_a_compiled_loss():
    def run(k):
        Reg = regularized_layers(k)[0]
        inputs = k.Input(shape=(3,))
        outputs = Reg()(inputs)
        model = k.Model(inputs, outputs)
        x, y = rand(8, 3, seed=1), rand(8, 3, seed=2)
        model.compile(optimizer="adam", loss="mse")
        first = model.fit(x, y, verbose=0, shuffle=False).history
        model.compile(optimizer="adam")  # Keras 3 keeps the earlier compile's loss
        second = model.fit(x, y, verbose=0, shuffle=False).history
        fresh_model = k.Model(inputs, outputs)
        fresh_model.compile(optimizer="adam")  # add_loss's loss alone
        third = fresh_model.fit(x, y, verbose=0, shuffle=False).history
        return first, second, third

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theirs = run(K)
        ours = run(keras)
    for h_t, h_o in zip(theirs, ours):
        assert h_o.keys() == h_t.keys()
        np.testing.assert_allclose(h_o["loss"], h_t["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours[2]["loss"], 0.01 * rand(8, 3, seed=1).mean(), rtol=1e-5)
    said = [str(w.message) for w in caught if "trainable weights" in str(w.message)]
    assert said and set(said) == {"The model does not have any trainable weights."}


def test_custom_layer_config_round_trip():
    def run(k):
        _, LazyLinear = linear_classes(k)
        layer = LazyLinear(64, name="lin")
        config = layer.get_config()
        new_layer = LazyLinear.from_config(config)
        return config, new_layer

    (ct, nt), (co, no) = run(K), run(keras)
    for key in ("units", "name", "trainable"):
        assert co[key] == ct[key]
    assert (no.units, no.name) == (nt.units, nt.name) == (64, "lin")
    json.dumps(co)


def custom_dropout(k):
    class CustomDropout(k.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = k.random.SeedGenerator(1337)

        def call(self, inputs, training=None):
            if training:
                return k.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
            return inputs

    return CustomDropout


def test_training_argument_in_call():
    x = rand(64, 16) + 1
    for k in (K, keras):
        layer = custom_dropout(k)(0.5)
        np.testing.assert_array_equal(numpy_of(k, layer(x)), x)
        np.testing.assert_array_equal(numpy_of(k, layer(x, training=False)), x)
        dropped = numpy_of(k, layer(x, training=True))
        kept = dropped != 0
        np.testing.assert_allclose(dropped[kept], x[kept] * 2, rtol=1e-6)
        assert 0.35 < 1 - kept.mean() < 0.65
        again = numpy_of(k, layer(x, training=True))
        assert (again != dropped).any()  # the seed generator moves on
        # fit calls it with training=True, predict with training=False
        model = k.Sequential([k.Input((16,)), layer])
        np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def vae_classes(k):
    ops, layers = k.ops, k.layers

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = k.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
            epsilon = k.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class Encoder(layers.Layer):
        def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean, z_log_var = self.dense_mean(x), self.dense_log_var(x)
            return z_mean, z_log_var, self.sampling((z_mean, z_log_var))

    class Decoder(layers.Layer):
        def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            return self.dense_output(self.dense_proj(inputs))

    class VariationalAutoEncoder(k.Model):
        def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    return VariationalAutoEncoder


class FixedNoise:
    """The same normal draw for both libraries at every call, so that the two VAEs sample the
    same z (Keras's and nerve's generators differ, and Keras's fit calls the model once more
    than nerve's to build its metrics); it checks that the guide's arguments arrive."""

    def __init__(self, k, monkeypatch):
        self.k = k
        monkeypatch.setattr(k.random, "normal", self)

    def __call__(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        assert isinstance(seed, self.k.random.SeedGenerator)
        draw = np.random.default_rng(7).standard_normal(tuple(int(d) for d in shape))
        return self.k.ops.convert_to_tensor(draw.astype("float32"))


def test_vae_end_to_end_fit_loss_history(monkeypatch):
    x_train = (rand(96, 20, seed=3) > 0.5).astype("float32")
    results, initial = [], []
    for k in (K, keras):
        FixedNoise(k, monkeypatch)
        vae = vae_classes(k)(20, 16, 4)
        vae(x_train[:2])
        if initial:
            vae.set_weights(initial)
        initial = vae.get_weights()
        vae.compile(k.optimizers.Adam(learning_rate=1e-3), loss=k.losses.MeanSquaredError())
        history = vae.fit(x_train, x_train, epochs=2, batch_size=32, shuffle=False, verbose=0).history
        results.append((vae.get_weights(), history, len(vae.losses), [w.shape for w in vae.weights]))
    (wt, ht, nt, st), (wo, ho, no, so) = results
    assert [tuple(s) for s in so] == [tuple(s) for s in st]
    assert ho.keys() == ht.keys() and nt == no == 1
    np.testing.assert_allclose(ho["loss"], ht["loss"], rtol=1e-4)
    assert ht["loss"][1] < ht["loss"][0]
    for a, b in zip(wo, wt):  # Adam adds eps elsewhere in nerve.optim: a unit with ~0 gradients drifts
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_seed_generator_streams_are_reproducible():
    gen_a, gen_b = keras.random.SeedGenerator(1337), keras.random.SeedGenerator(1337)
    a1, a2 = (to_numpy(keras.random.normal((3, 4), seed=gen_a)) for _ in range(2))
    b1 = to_numpy(keras.random.normal((3, 4), seed=gen_b))
    np.testing.assert_array_equal(a1, b1)
    assert (a1 != a2).any()
