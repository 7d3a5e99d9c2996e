"""keras.io's two PyTorch-backend guides, run on Keras 3 (torch backend, with PyTorch) and on nerve.

"Customizing what happens in fit() with PyTorch" (``guides/custom_train_step_in_torch.py``) and
"Writing a training loop from scratch in PyTorch" (``guides/writing_a_custom_training_loop_in_torch.py``)
in keras-team/keras-io. Each program is written once, as a function of what it imports: Keras 3
and ``torch``, or ``nerve.keras`` and ``nerve`` (``import torch`` -> ``import nerve as torch``,
``import keras`` -> ``from nerve import keras``). The nerve run loads the initial weights the
Keras run drew (``get_weights`` / ``set_weights``), and where a program draws random numbers
(``keras.random`` in the GAN) it replays Keras's draws, so both compute the same losses and
metrics step by step, compared to float32 tolerance.

Shortened to run in seconds: a few small batches of generated data in place of MNIST, tiny
networks, two or three epochs; batches in order (``shuffle=False``): shuffled, the two libraries'
orders are their own (one test checks that nerve learns shuffled as the guide has it).
"""

import contextlib
import io
import re
from types import SimpleNamespace

import numpy as np
import pytest
from _keras_compare import K, fresh, to_numpy

import nerve
from nerve import keras

torch = pytest.importorskip("torch")

REF = SimpleNamespace(keras=K, torch=torch)
NERVE = SimpleNamespace(keras=keras, torch=nerve)
RTOL, ATOL = 2e-5, 1e-6  # float32 after a few Adam steps of the same arithmetic


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops: one thread is faster on this shared machine
    yield
    torch.set_num_threads(threads)


class _Shared:
    """The Keras run (first) records each model's initial weights; the nerve run loads them."""

    def __init__(self):
        self.weights = {}

    def __call__(self, key, model):
        if key not in self.weights:
            self.weights[key] = model.get_weights()
        else:
            model.set_weights(self.weights[key])
        return model


def _both(program, *args, share=None, **kwargs):
    """``program(lib, share, ...)`` on Keras then on nerve: (result, printed lines) of each."""
    share, out = share or _Shared(), []
    for lib in (REF, NERVE):
        fresh(clear_keras=lib is REF)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            result = program(lib, share, *args, **kwargs)
        out.append((result, buf.getvalue().splitlines()))
    return out


def _close(got, want, rtol=RTOL, atol=ATOL):
    """Equal structures of numbers (dicts, lists, arrays, tensors) to float32 tolerance."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (got, want)
        for k in want:
            _close(got[k], want[k], rtol, atol)
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            _close(g, w, rtol, atol)
    else:
        g, w = np.asarray(to_numpy(got) if hasattr(got, "detach") else got), np.asarray(to_numpy(want))
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


_NUMBER = re.compile(r"-?\d+\.?\d*(?:e[-+]\d+)?")


def _same_lines(got, want):
    """The printed lines agree word for word, their numbers to one unit of the last printed digit."""
    assert len(got) == len(want), (want, got)
    for a, b in zip(want, got):
        assert _NUMBER.sub("#", a) == _NUMBER.sub("#", b), f"\nkeras: {a}\nnerve: {b}"
        for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b)):
            unit = 10.0 ** -(len(x.split(".")[1]) if "." in x else 0)
            assert abs(float(x) - float(y)) <= unit * 1.01, f"\nkeras: {a}\nnerve: {b}"


def _regression(n=64, d=8, seed=0):
    """float64 arrays, as the guide's ``np.random.random``: x, y and per-example weights."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    return x, x @ rng.normal(size=(d, 1)) * 0.3 + 0.1 * rng.random((n, 1)), rng.random((n, 1))


class _StepLogs:
    """Makes a callback (of either library) that keeps a copy of the logs after each training step."""

    def __init__(self, lib):
        self.seen = []
        seen = self.seen

        class Recorder(lib.keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                seen.append(dict(logs))

        self.callback = Recorder()


# --------------------------------------------------------------------------------------------
# "Customizing what happens in fit() with PyTorch"


def _functional(lib, cls, d):
    keras = lib.keras
    inputs = keras.Input(shape=(d,))
    outputs = keras.layers.Dense(1)(inputs)
    return cls(inputs, outputs)


def compiled_loss_step(lib, share, x, y, sw=None, epochs=2, feed="arrays"):
    """The first example (and, with ``sw``, the sample-weight one): compute_loss and self.metrics;
    fed from arrays or (``feed="dataloader"``) from a DataLoader of (x, y) float32 batches."""
    keras, torch = lib.keras, lib.torch

    class CustomModel(keras.Model):
        def train_step(self, data):
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    model = share("dense", _functional(lib, CustomModel, x.shape[1]))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    names = [m.name for m in model.metrics]
    steps = _StepLogs(lib)
    if feed == "arrays":
        history = model.fit(x, y, sample_weight=sw, batch_size=16, epochs=epochs, shuffle=False, verbose=0,
                            callbacks=[steps.callback])
    else:
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(x).float(), torch.from_numpy(y).float())
        loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
        history = model.fit(loader, epochs=epochs, verbose=0, callbacks=[steps.callback])
    return names, history.history, steps.seen, model.get_weights()


@pytest.mark.parametrize("feed", ["arrays", "dataloader"])
def test_train_step_with_compute_loss_and_compiled_metrics_as_keras(feed):
    x, y, _ = _regression()
    (want, _), (got, _) = _both(compiled_loss_step, x, y, feed=feed)
    assert got[0] == want[0] == ["loss", "compile_metrics"]
    assert set(got[1]) == {"loss", "mae"}
    _close(got[1:], want[1:])


def test_train_step_with_sample_weight_as_keras():
    x, y, sw = _regression()
    (want, _), (got, _) = _both(compiled_loss_step, x, y, sw)
    _close(got[1:], want[1:])
    (plain, _), _ = _both(compiled_loss_step, x, y)
    assert abs(plain[1]["loss"][0] - want[1]["loss"][0]) > 1e-4  # the weights count


def own_metrics_step(lib, share, x, y):
    """Going lower-level: own Mean / MeanAbsoluteError trackers, a Keras loss object, a metrics property."""
    keras, torch = lib.keras, lib.torch

    class CustomModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = keras.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    model = share("dense", _functional(lib, CustomModel, x.shape[1]))
    model.compile(optimizer="adam")
    steps = _StepLogs(lib)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[steps.callback])
    return history.history, steps.seen, model.get_weights()


def test_own_metric_trackers_reset_each_epoch_as_keras():
    x, y, _ = _regression()
    (want, _), (got, _) = _both(own_metrics_step, x, y)
    _close(got, want)
    # the trackers start again each epoch: the first step's logs of an epoch are that step's values
    assert got[1][4]["loss"] != pytest.approx(got[1][3]["loss"])


def custom_test_step(lib, share, x, y):
    """Providing your own evaluation step: evaluate() runs test_step."""
    keras = lib.keras

    class CustomModel(keras.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    model = share("dense", _functional(lib, CustomModel, x.shape[1]))
    model.compile(loss="mse", metrics=["mae"])
    listed = model.evaluate(x, y, batch_size=16, verbose=0)
    named = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    return listed, named


def test_custom_test_step_in_evaluate_as_keras():
    x, y, _ = _regression()
    (want, _), (got, _) = _both(custom_test_step, x, y)
    assert isinstance(got[0], list) and set(got[1]) == {"loss", "mae"}
    _close(got, want)


def own_compute_loss(lib, share, x, y, takes_training):
    """fit's own train_step and evaluate's test_step with a subclass's compute_loss (with or without
    the ``training`` argument of Keras 3's signature)."""
    keras, torch = lib.keras, lib.torch

    class WithTraining(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
            return loss + 0.1 * torch.mean(torch.abs(y_pred))

    class WithoutTraining(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            return loss + 0.1 * torch.mean(torch.abs(y_pred))

    model = share("dense", _functional(lib, WithTraining if takes_training else WithoutTraining, x.shape[1]))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return history.history, model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True), model.get_weights()


@pytest.mark.parametrize("takes_training", [True, False])
def test_own_compute_loss_in_fit_and_evaluate_as_keras(takes_training):
    x, y, _ = _regression()
    (want, _), (got, _) = _both(own_compute_loss, x, y, takes_training)
    _close(got, want)
    (plain, _), _ = _both(compiled_loss_step, x, y)
    assert want[0]["loss"][0] > plain[1]["loss"][0] + 0.01  # the penalty counts


class _SharedDraws:
    """``keras.random.normal`` / ``uniform``: the Keras run records what it draws, the nerve run
    draws too (its own sampler, seed generator and shapes) and then hands out Keras's numbers."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.draws, self.replayed, self.samplers = monkeypatch, [], 0, {}

    def install(self, lib):
        for name in ("normal", "uniform"):
            sampler = self.samplers.setdefault((id(lib), name), getattr(lib.keras.random, name))
            self.monkeypatch.setattr(lib.keras.random, name, self._wrapped(lib, sampler))

    def _wrapped(self, lib, sampler):
        def draw(shape, *args, **kwargs):
            out = sampler(shape, *args, **kwargs)
            if lib is REF:
                self.draws.append(to_numpy(out))
                return out
            want = self.draws[self.replayed]
            self.replayed += 1
            assert tuple(out.shape) == want.shape and str(out.dtype).endswith(str(want.dtype))
            return nerve.tensor(want)
        return draw


def gan(lib, share, draws, images, feed="arrays", epochs=2):
    """The end-to-end GAN, at 8x8: two Sequential models, two optimizers, a seed generator."""
    keras, torch = lib.keras, lib.torch
    layers = keras.layers
    draws.install(lib)

    discriminator = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )
    latent_dim = 6
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(2 * 2 * 8),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((2, 2, 8)),
            layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    share("discriminator", discriminator)
    share("generator", generator)

    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
            self.seed_generator = keras.random.SeedGenerator(1337)
            self.built = True

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def train_step(self, real_images):
            device = "cuda" if torch.cuda.is_available() else "cpu"
            if isinstance(real_images, tuple):
                real_images = real_images[0]
            batch_size = real_images.shape[0]
            latent = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            fakes = self.generator(latent)
            real_images = torch.tensor(real_images, device=device)
            combined = torch.concat([fakes, real_images], axis=0)
            labels = torch.concat(
                [torch.ones((batch_size, 1), device=device), torch.zeros((batch_size, 1), device=device)],
                axis=0,
            )
            labels += 0.05 * keras.random.uniform(labels.shape, seed=self.seed_generator)

            self.zero_grad()
            d_loss = self.loss_fn(labels, self.discriminator(combined))
            d_loss.backward()
            grads = [v.value.grad for v in self.discriminator.trainable_weights]
            with torch.no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

            latent = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            misleading_labels = torch.zeros((batch_size, 1), device=device)
            self.zero_grad()
            g_loss = self.loss_fn(misleading_labels, self.discriminator(self.generator(latent)))
            grads = g_loss.backward()
            grads = [v.value.grad for v in self.generator.trainable_weights]
            with torch.no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)

            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    model = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    model.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    steps = _StepLogs(lib)
    if feed == "arrays":
        history = model.fit(images, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=[steps.callback])
    else:  # the guide's DataLoader of (images, images)
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(images))
        dataloader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
        history = model.fit(dataloader, epochs=epochs, verbose=0, callbacks=[steps.callback])
    return history.history, steps.seen, discriminator.get_weights(), generator.get_weights()


def test_gan_train_step_as_keras(monkeypatch):
    images = np.random.default_rng(1).random((32, 8, 8, 1)).astype("float32")
    draws, share = _SharedDraws(monkeypatch), _Shared()
    (want, _), (got, _) = _both(gan, draws, images, share=share)
    assert draws.replayed == len(draws.draws) == 3 * 4  # three draws a step, two steps, two epochs
    assert set(got[0]) == {"d_loss", "g_loss"}
    _close(got, want)
    # the guide feeds a DataLoader of (images, images) pairs; nerve hands train_step the pair as a
    # tuple (Keras 3 hands it a list, which the guide's `isinstance(..., tuple)` misses), so
    # it trains on the same batches as from the array
    draws.replayed = 0
    fresh(clear_keras=False)
    loaded = gan(NERVE, share, draws, images, feed="dataloader")
    _close(loaded[:2], got[:2])


# --------------------------------------------------------------------------------------------
# "Writing a training loop from scratch in PyTorch"

FEATURES, CLASSES, BATCH = 20, 10, 32


def _digits(n_train=96, n_val=64, seed=0):
    """Stand-ins for the flattened MNIST digits: float32 features, one-hot float32 labels."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(CLASSES, FEATURES))
    labels = rng.integers(0, CLASSES, n_train + n_val)
    x = (centers[labels] + rng.normal(size=(len(labels), FEATURES))).astype("float32")
    return x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]


def _loaders(lib, data, shuffle):
    torch, keras = lib.torch, lib.keras
    x_train, y_train, x_val, y_val = data
    y_train = keras.utils.to_categorical(y_train)
    y_val = keras.utils.to_categorical(y_val)
    train_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    val_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val))
    train_dataloader = torch.utils.data.DataLoader(train_dataset, batch_size=BATCH, shuffle=shuffle)
    val_dataloader = torch.utils.data.DataLoader(val_dataset, batch_size=BATCH, shuffle=False)
    return train_dataloader, val_dataloader


def get_model(keras, regularized=False):
    inputs = keras.Input(shape=(FEATURES,), name="digits")
    x = keras.layers.Dense(64, activation="relu")(inputs)
    if regularized:
        x = regularized(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(CLASSES, name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def _log(step, loss):
    if step % 2 == 0:
        print(f"Training loss (for 1 batch) at step {step}: {loss.detach().numpy():.4f}")
        print(f"Seen so far: {(step + 1) * BATCH} samples")


def torch_optimizer_loop(lib, share, data, shuffle=False, epochs=3):
    """A Keras model in a plain PyTorch loop: torch.optim.Adam on model.parameters(), CrossEntropyLoss."""
    torch, keras = lib.torch, lib.keras
    train_dataloader, _ = _loaders(lib, data, shuffle)
    model = share("mlp", get_model(keras))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for epoch in range(epochs):
        for step, (inputs, targets) in enumerate(train_dataloader):
            logits = model(inputs)
            loss = loss_fn(logits, targets)
            model.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach().numpy()))
            _log(step, loss)
    return losses, model.get_weights()


def test_keras_model_in_a_torch_loop_with_torch_optimizer_as_keras():
    (want, want_lines), (got, got_lines) = _both(torch_optimizer_loop, _digits())
    _close(got, want)
    _same_lines(got_lines, want_lines)
    assert got[0][-1] < got[0][0]


def keras_optimizer_loop(lib, share, data, with_metrics=False, regularized=False, epochs=3):
    """The loop with keras.optimizers.Adam (optimizer.apply) and CategoricalCrossentropy; with
    ``with_metrics`` CategoricalAccuracy on the batches and a validation loop each epoch; with
    ``regularized`` a layer that adds an activity loss (add_loss), summed into the loss."""
    torch, keras = lib.torch, lib.keras
    train_dataloader, val_dataloader = _loaders(lib, data, False)

    class ActivityRegularizationLayer(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * torch.sum(inputs))
            return inputs

    model = share("mlp" + "+reg" * regularized,
                  get_model(keras, regularized and ActivityRegularizationLayer()))
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.CategoricalAccuracy()
    val_acc_metric = keras.metrics.CategoricalAccuracy()
    record = {"loss": [], "extra": [], "acc": [], "val_acc": []}
    for epoch in range(epochs):
        print(f"\nStart of epoch {epoch}")
        for step, (inputs, targets) in enumerate(train_dataloader):
            logits = model(inputs)
            loss = loss_fn(targets, logits)
            if model.losses:
                record["extra"].append(float(model.losses[0].detach().numpy()))
                loss = loss + torch.sum(*model.losses)
            model.zero_grad()
            trainable_weights = [v for v in model.trainable_weights]
            loss.backward()
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                optimizer.apply(gradients, trainable_weights)
            if with_metrics:
                train_acc_metric.update_state(targets, logits)
            record["loss"].append(float(loss.detach().numpy()))
            _log(step, loss)
        if not with_metrics:
            continue
        train_acc = train_acc_metric.result()
        print(f"Training acc over epoch: {float(train_acc):.4f}")
        record["acc"].append(float(train_acc))
        train_acc_metric.reset_state()
        for x_batch_val, y_batch_val in val_dataloader:
            val_logits = model(x_batch_val, training=False)
            val_acc_metric.update_state(y_batch_val, val_logits)
        val_acc = val_acc_metric.result()
        val_acc_metric.reset_state()
        print(f"Validation acc: {float(val_acc):.4f}")
        record["val_acc"].append(float(val_acc))
    return record, model.get_weights()


def test_torch_loop_with_keras_optimizer_and_loss_as_keras():
    (want, want_lines), (got, got_lines) = _both(keras_optimizer_loop, _digits())
    _close(got, want)
    _same_lines(got_lines, want_lines)


def test_torch_loop_with_keras_metrics_and_validation_as_keras():
    (want, want_lines), (got, got_lines) = _both(keras_optimizer_loop, _digits(), with_metrics=True)
    _close(got, want)
    _same_lines(got_lines, want_lines)
    assert len(got[0]["val_acc"]) == 3 and got[0]["val_acc"][-1] > 0.3


def test_torch_loop_with_add_loss_layer_as_keras():
    (want, want_lines), (got, got_lines) = _both(keras_optimizer_loop, _digits(), with_metrics=True,
                                                 regularized=True)
    assert len(got[0]["extra"]) == len(got[0]["loss"]) == 9  # model.losses: one value, each step
    _close(got, want)
    _same_lines(got_lines, want_lines)


def test_torch_loop_shuffled_learns_on_nerve():
    """As the guide has it (shuffle=True): nerve's batch order is its own; the loss falls."""
    losses, _ = torch_optimizer_loop(NERVE, lambda key, model: model, _digits(), shuffle=True, epochs=8)
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])


# --------------------------------------------------------------------------------------------
# What the guides lean on, each against Keras directly


def test_fit_output_and_log_order_of_a_custom_train_step_as_keras(capsys):
    """verbose=2 prints the same line layout; History and the step logs list the same keys in the
    same order (the compiled metrics flattened out of ``compile_metrics``)."""
    x, y, _ = _regression(32)
    share, printed, results = _Shared(), [], []
    for lib in (REF, NERVE):
        fresh(clear_keras=lib is REF)
        capsys.readouterr()
        results.append(compiled_loss_step(lib, share, x, y, epochs=1))
        model = share("dense", _functional(lib, lib.keras.Model, x.shape[1]))
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=2)
        text = re.sub(r"\d+(ms|us|s)/step", "T/step", capsys.readouterr().out)
        printed.append(re.sub(r"\d+(\.\d+)?(e[-+]\d+)?", "N", text))
    (_, want_history, want_steps, _), (_, got_history, got_steps, _) = results
    assert list(got_history) == list(want_history)
    assert [list(s) for s in got_steps] == [list(s) for s in want_steps]
    assert printed[1] == printed[0]


def test_metrics_property_and_names_as_keras():
    def states(lib):
        keras = lib.keras
        x, y, _ = _regression(16, 3)
        out = []
        one = _functional(lib, keras.Model, 3)
        out.append([m.name for m in one.metrics])  # not compiled
        one.compile("adam", "mse")
        out.append(one.metrics_names)
        one.compile("adam", "mse", metrics=[])
        out.append(one.metrics_names)
        one.compile("adam", "mse", metrics=["mae"])
        one.fit(x, y, verbose=0)
        out.append(one.metrics_names)
        out.append(sorted(one.metrics[1].result()))
        inputs = keras.Input((3,))
        two = keras.Model(inputs, [keras.layers.Dense(1, name="a")(inputs), keras.layers.Dense(1, name="b")(inputs)])
        two.compile("adam", ["mse", "mse"], metrics=[["mae"], ["mae"]])
        out.append(two.metrics_names)
        two.fit(x, [y, y], verbose=0)
        out.append(two.metrics_names)
        out.append(sorted(two.metrics[1].result()))
        out.append(list(two.evaluate(x, [y, y], verbose=0, return_dict=True)))
        return out

    fresh()
    want = states(REF)
    fresh()
    assert states(NERVE) == want
    assert want[3] == ["loss", "compile_metrics"] and want[4] == ["mae"]


def test_compute_loss_adds_the_add_loss_values_as_keras():
    def run(lib, share):
        keras, torch = lib.keras, lib.torch

        class Penalty(keras.layers.Layer):
            def call(self, inputs):
                self.add_loss(0.5 * torch.mean(inputs * inputs))
                return inputs

        inputs = keras.Input((4,))
        model = share("pen", keras.Model(inputs, keras.layers.Dense(2)(Penalty()(keras.layers.Dense(3)(inputs)))))
        after_build = len(model.losses)
        x, y, _ = _regression(8, 4)
        y = np.concatenate([y, -y], axis=1)
        model.compile("sgd", "mse")
        y_pred = model(x)
        y_pred = model(x)  # the second forward pass replaces the first one's losses
        loss = model.compute_loss(y=torch.from_numpy(y), y_pred=y_pred)
        loss.backward()
        grads = [v.value.grad for v in model.trainable_weights]
        bare = _functional(lib, keras.Model, 4)
        bare.compile("sgd")
        with pytest.raises(ValueError) as no_loss:
            bare.compute_loss(y=torch.from_numpy(y[:, :1]), y_pred=bare(x))
        with pytest.raises(ValueError) as not_tensor:
            Penalty().add_loss(1.0)
        return (after_build, len(model.losses), tuple(loss.shape), float(loss), float(model.losses[0]),
                [g is not None for g in grads], str(no_loss.value), str(not_tensor.value))

    (want, _), (got, _) = _both(run)
    assert want[:2] == (0, 1) and want[5] == [True] * 4
    assert got[:3] == want[:3] and got[5:] == want[5:]
    _close(got[3:5], want[3:5])


def test_zero_grad_and_parameters_as_keras():
    def run(lib, share):
        keras, torch = lib.keras, lib.torch
        model = share("bn", keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()]))
        params = list(model.parameters())
        out = [len(params), sorted(p.requires_grad for p in params), sorted(tuple(p.shape) for p in params)]
        torch.sum(model(np.ones((4, 3), "float32"), training=True)).backward()
        out.append([v.value.grad is not None for v in model.weights])
        model.zero_grad()
        out.append([v.value.grad is None for v in model.weights])
        return out

    (want, _), (got, _) = _both(run)
    assert want[0] == 6 and all(want[4])
    assert got[:2] == want[:2] and got[3:] == want[3:]
    # nerve keeps a Dense kernel as (out, in), the layout its linear op takes (see variables.py)
    assert sorted(tuple(reversed(s)) if len(s) == 2 else s for s in got[2]) == want[2]


def test_what_train_step_receives_as_keras():
    """fit(x, y) hands train_step (x, y); with sample weights (x, y, sample_weight); with no
    targets x itself, or (x,) when x is a list of inputs (Keras's pack_x_y_sample_weight)."""
    def run(lib, share):
        keras = lib.keras
        seen = []

        def describe(item):
            if isinstance(item, (list, tuple)):
                return [type(item).__name__, [describe(i) for i in item]]
            return tuple(item.shape)

        class Probe(keras.Model):
            def train_step(self, data):
                seen.append(describe(data))
                return {"seen": len(seen)}

        x, y, sw = _regression(8, 3)
        one = _functional(lib, Probe, 3)
        one.compile("sgd")
        one.fit(x, y, batch_size=8, verbose=0)
        one.fit(x, y, sample_weight=sw, batch_size=8, verbose=0)
        history = one.fit(x, batch_size=8, verbose=0)
        a, b = keras.Input((3,)), keras.Input((3,))
        two = Probe([a, b], keras.layers.Add()([a, b]))
        two.compile("sgd")
        two.fit([x, x], batch_size=8, verbose=0)
        return seen, history.history

    (want, _), (got, _) = _both(run)
    assert want[0][2] == (8, 3) and want[0][3][0] == "tuple"
    assert got == want


@pytest.mark.parametrize("make", [
    lambda k: k.optimizers.Adam(learning_rate=0.1),
    lambda k: k.optimizers.Adam(learning_rate=0.1, amsgrad=True),
    lambda k: k.optimizers.AdamW(learning_rate=0.1, weight_decay=0.1),
], ids=["adam", "amsgrad", "adamw"])
def test_optimizer_apply_as_keras_also_for_tiny_gradients(make):
    """optimizer.apply(gradients, variables) moves the weights as Keras's does, also where the
    gradients are far below 1 (Keras adds epsilon to sqrt(v) before the bias correction)."""
    def run(lib, share):
        keras, torch = lib.keras, lib.torch
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        share("dense", layer)
        optimizer = make(keras)
        variables = layer.trainable_weights
        for scale in (1e-7, -3e-6, 1e-5, 1e-3):
            gradients = [torch.ones_like(v.value) * scale for v in variables]
            with torch.no_grad():
                optimizer.apply(gradients, variables)
        return layer.get_weights()

    (want, _), (got, _) = _both(run)
    _close(got, want, rtol=1e-4, atol=1e-6)  # Keras rounds 1 - beta_2 ** t to float32


def test_pack_and_unpack_x_y_sample_weight_as_keras():
    x, y, sw = np.zeros((2, 3)), np.ones((2, 1)), np.full((2,), 0.5)

    def run(utils):
        out = []
        for data in (x, (x,), [x, y], (x, y), (x, y, sw), ([x, x],)):
            out.append([None if part is None else np.shape(part) for part in utils.unpack_x_y_sample_weight(data)])
        for args in ((x,), ([x, x],), (x, y), (x, y, sw)):
            packed = utils.pack_x_y_sample_weight(*args)
            out.append((type(packed).__name__, len(packed) if isinstance(packed, tuple) else np.shape(packed)))
        with pytest.raises(ValueError) as err:
            utils.unpack_x_y_sample_weight((x, y, sw, sw))
        out.append(str(err.value).split(":")[0])
        return out

    assert run(keras.utils) == run(K.utils)


def test_add_loss_values_live_until_the_next_outermost_call_as_keras():
    def run(lib, share):
        keras, torch = lib.keras, lib.torch

        class Penalty(keras.layers.Layer):
            def call(self, inputs):
                self.add_loss(torch.mean(inputs))
                return inputs

        class Twice(keras.Model):
            def __init__(self):
                super().__init__()
                self.penalty = Penalty()
                self.dense = keras.layers.Dense(2)

            def call(self, inputs):
                return self.dense(self.penalty(self.penalty(inputs)))

        model, x = Twice(), np.ones((3, 2), "float32")
        counts = []
        for _ in range(2):
            model(x)
            counts.append(len(model.losses))  # the shared layer's two calls, once
        model.penalty(2 * x)  # called on its own: its losses are this call's
        counts += [len(model.penalty.losses), len(model.losses), float(model.losses[0])]
        model(x)
        counts.append(len(model.losses))
        return counts

    (want, _), (got, _) = _both(run)
    assert want == [2, 2, 1, 1, 2.0, 2]
    assert got == want


def test_metrics_held_as_attributes_are_listed_and_reset_as_keras():
    """A tracker the model holds (alone or in a list) is in ``metrics`` without overriding it, after
    fit's own; fit resets it each epoch."""
    def run(lib, share):
        keras, torch = lib.keras, lib.torch

        class Tracked(keras.Model):
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(1)
                self.mean_output = keras.metrics.Mean(name="mean_output")
                self.more = [keras.metrics.Mean(name="mean_target")]

            def call(self, inputs):
                return self.dense(inputs)

            def train_step(self, data):
                x, y = data
                self.zero_grad()
                y_pred = self(x, training=True)
                self.compute_loss(y=y, y_pred=y_pred).backward()
                with torch.no_grad():
                    self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
                self.mean_output.update_state(torch.mean(y_pred))
                self.more[0].update_state(y)
                return {"mean_output": self.mean_output.result(), "mean_target": self.more[0].result()}

        model = Tracked()
        names = [[m.name for m in model.metrics]]
        model.compile(keras.optimizers.SGD(0.1), "mse", metrics=["mae"])
        names.append([m.name for m in model.metrics])
        x, y, _ = _regression(8, 3)
        model(x[:1])
        share("tracked", model)
        return names, model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history

    (want, _), (got, _) = _both(run)
    assert want[0] == [["mean_output", "mean_target"], ["loss", "compile_metrics", "mean_output", "mean_target"]]
    assert got[0] == want[0]
    _close(got[1], want[1])
