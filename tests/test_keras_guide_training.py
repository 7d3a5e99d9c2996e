"""keras.io's guides "Training & evaluation with the built-in methods" and "Writing your own
callbacks", run on Keras 3 (torch backend) and on nerve.keras with only the import changed.

Each test runs one of the guides' programs in both libraries, from the same initial weights, on
small generated MNIST-shaped data, and compares what they give: the History (keys in order,
values to float32 tolerance), evaluate's list or dict, predict's arrays, what the callbacks saw
and printed, the files they wrote. The fits pass ``shuffle=False`` (the two libraries' shuffles
draw different orders). Skipped where Keras 3 is not installed.
"""

import os
import re

import numpy as np
import pytest
from _keras_compare import K, fresh

from nerve import keras

RNG = np.random.default_rng(0)
# MNIST as the guides prepare it: 784 floats in [0, 1] per image, float32 labels 0..9
X_TRAIN = RNG.random((256, 784)).astype("float32")
Y_TRAIN = RNG.integers(0, 10, 256).astype("float32")
X_VAL = RNG.random((64, 784)).astype("float32")
Y_VAL = RNG.integers(0, 10, 64).astype("float32")
X_TEST = RNG.random((64, 784)).astype("float32")
Y_TEST = RNG.integers(0, 10, 64).astype("float32")


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)
    yield


# ---------------------------------------------------------------- the guides' models
def get_uncompiled_model(k):
    inputs = k.Input(shape=(784,), name="digits")
    x = k.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = k.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = k.layers.Dense(10, activation="softmax", name="predictions")(x)
    return k.Model(inputs=inputs, outputs=outputs)


def compile_with_strings(model):
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    return model


def twins(build=get_uncompiled_model):
    """The model built by ``build(library)`` in Keras and in nerve, nerve's with Keras's weights."""
    theirs, ours = build(K), build(keras)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def both(program, build=get_uncompiled_model):
    """``program(library, model)`` run on twin models: (Keras's result, nerve's result)."""
    theirs, ours = twins(build)
    return program(K, theirs), program(keras, ours)


def same_history(got, want, rtol=1e-4, atol=1e-5):
    """History dicts (or History objects, or logs): the same keys in the same order, close values."""
    got, want = getattr(got, "history", got), getattr(want, "history", want)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=atol, err_msg=key)


def numbers_apart(text):
    """(text with each number as N, the numbers) so printed lines compare to a tolerance."""
    pattern = r"-?\d+\.\d+(?:e[-+]\d+)?|-?\d+"
    return re.sub(pattern, "N", text), [float(v) for v in re.findall(pattern, text)]


def printed_alike(got, want, rtol=1e-4, atol=1e-5):
    layout_got, values_got = numbers_apart(got)
    layout_want, values_want = numbers_apart(want)
    assert layout_got == layout_want
    np.testing.assert_allclose(values_got, values_want, rtol=rtol, atol=atol)


# RMSprop: nerve divides by sqrt(v) + eps where Keras divides by sqrt(v + eps) (see nerve.keras's
# docstring); after a few steps the losses agree to about 1e-4 relative.
RMS = dict(rtol=2e-3, atol=2e-4)


# ---------------------------------------------------------------- the first end-to-end example
def test_end_to_end_fit_evaluate_predict():
    def program(k, model):
        model.compile(optimizer=k.optimizers.RMSprop(), loss=k.losses.SparseCategoricalCrossentropy(),
                      metrics=[k.metrics.SparseCategoricalAccuracy()])
        history = model.fit(X_TRAIN, Y_TRAIN, batch_size=64, epochs=2, validation_data=(X_VAL, Y_VAL),
                            verbose=0, shuffle=False)
        results = model.evaluate(X_TEST, Y_TEST, batch_size=128, verbose=0)
        as_dict = model.evaluate(X_TEST, Y_TEST, batch_size=128, verbose=0, return_dict=True)
        predictions = model.predict(X_TEST[:3], verbose=0)
        return history, results, as_dict, predictions, dict(zip(model.metrics_names, results))

    theirs, ours = both(program)
    same_history(ours[0], theirs[0], **RMS)
    assert list(ours[0].history) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                     "val_sparse_categorical_accuracy"]
    assert isinstance(ours[1], list) and len(ours[1]) == len(theirs[1]) == 2
    np.testing.assert_allclose(ours[1], theirs[1], **RMS)
    same_history(ours[2], theirs[2], **RMS)
    assert ours[3].shape == theirs[3].shape == (3, 10)
    np.testing.assert_allclose(ours[3], theirs[3], **RMS)
    assert list(ours[4])[0] == list(theirs[4])[0] == "loss"  # Keras 3 then names 'compile_metrics'


def test_compile_with_strings_and_validation_split():
    def program(k, model):
        compile_with_strings(model)
        return model.fit(X_TRAIN, Y_TRAIN, batch_size=64, validation_split=0.2, epochs=1, verbose=0,
                         shuffle=False)

    theirs, ours = both(program)
    same_history(ours, theirs, **RMS)
    assert ours.params == theirs.params


# ---------------------------------------------------------------- custom losses
def custom_mse_class(k):
    class CustomMSE(k.losses.Loss):
        def __init__(self, regularization_factor=0.1, name="custom_mse"):
            super().__init__(name=name)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = k.ops.mean(k.ops.square(y_true - y_pred), axis=-1)
            reg = k.ops.mean(k.ops.square(0.5 - y_pred), axis=-1)
            return mse + reg * self.regularization_factor

        def get_config(self):
            return {"regularization_factor": self.regularization_factor, "name": self.name}

    return CustomMSE


def test_custom_loss_function_and_loss_subclass():
    def program(k, model):
        def custom_mean_squared_error(y_true, y_pred):
            return k.ops.mean(k.ops.square(y_true - y_pred), axis=-1)

        out = []
        y_train_one_hot = k.ops.one_hot(Y_TRAIN, num_classes=10)
        start = model.get_weights()
        model.compile(optimizer=k.optimizers.Adam(), loss=custom_mean_squared_error)
        out.append(model.fit(X_TRAIN, y_train_one_hot, batch_size=64, epochs=1, verbose=0, shuffle=False).history)
        model.set_weights(start)
        CustomMSE = custom_mse_class(k)
        model.compile(optimizer=k.optimizers.Adam(), loss=CustomMSE())
        out.append(model.fit(X_TRAIN, y_train_one_hot, batch_size=64, epochs=2, verbose=0, shuffle=False).history)
        loss = CustomMSE(regularization_factor=0.3)
        again = CustomMSE.from_config(loss.get_config())
        out.append((loss.name, loss.get_config(), again.regularization_factor, again.name))
        y_pred = model.predict(X_TEST, verbose=0)
        y_true = np.eye(10, dtype="float32")[Y_TEST.astype(int)]
        out.append(float(k.ops.convert_to_numpy(loss(y_true, y_pred))))
        return out

    theirs, ours = both(program)
    same_history(ours[0], theirs[0], rtol=1e-4, atol=1e-6)
    same_history(ours[1], theirs[1], rtol=1e-4, atol=1e-6)
    assert ours[2] == theirs[2] == ("custom_mse", {"regularization_factor": 0.3, "name": "custom_mse"}, 0.3,
                                    "custom_mse")
    assert ours[3] == pytest.approx(theirs[3], rel=1e-4)


# ---------------------------------------------------------------- custom metrics
def categorical_true_positives(k):
    class CategoricalTruePositives(k.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = k.ops.reshape(k.ops.argmax(y_pred, axis=1), (-1, 1))
            values = k.ops.cast(y_true, "int32") == k.ops.cast(y_pred, "int32")
            values = k.ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = k.ops.cast(sample_weight, "float32")
                values = k.ops.multiply(values, sample_weight)
            self.true_positives.assign_add(k.ops.sum(values))

        def result(self):
            return self.true_positives.value

        def reset_state(self):
            self.true_positives.assign(0.0)

    return CategoricalTruePositives


def test_custom_metric_subclass():
    def program(k, model):
        metric_class = categorical_true_positives(k)
        model.compile(optimizer=k.optimizers.RMSprop(learning_rate=1e-3),
                      loss=k.losses.SparseCategoricalCrossentropy(), metrics=[metric_class()])
        history = model.fit(X_TRAIN, Y_TRAIN, batch_size=64, epochs=3, verbose=0, shuffle=False)
        evaluated = model.evaluate(X_TEST, Y_TEST, verbose=0, return_dict=True)
        # the metric on its own: state kept across calls until reset_state
        m = metric_class(name="ctp_alone")
        labels = np.array([[1], [2], [3]], "float32")
        scores = np.eye(4, dtype="float32")[[1, 2, 0]]
        m.update_state(labels, scores)
        m.update_state(labels, scores, sample_weight=np.array([[2.0], [1.0], [1.0]], "float32"))
        alone = float(k.ops.convert_to_numpy(m.result()))
        m.reset_state()
        after_reset = float(k.ops.convert_to_numpy(m.result()))
        return (history, evaluated, alone, after_reset, len(m.variables), m.variables[0].shape,
                [type(v) for v in history.history["categorical_true_positives"]])

    theirs, ours = both(program)
    same_history(ours[0], theirs[0], **RMS)
    same_history(ours[1], theirs[1], **RMS)
    assert ours[2:6] == theirs[2:6]
    assert ours[6] == theirs[6] == [float] * 3


# ---------------------------------------------------------------- losses added by layers
def activity_regularized(k):
    class ActivityRegularizationLayer(k.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * k.ops.sum(inputs))
            return inputs

    inputs = k.Input(shape=(784,), name="digits")
    x = k.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = ActivityRegularizationLayer()(x)
    x = k.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = k.layers.Dense(10, name="predictions")(x)
    return k.Model(inputs=inputs, outputs=outputs)


def test_add_loss_in_a_layer_adds_to_the_reported_loss():
    def program(k, model):
        losses_before = len(model.losses)
        model.compile(optimizer=k.optimizers.RMSprop(learning_rate=1e-3),
                      loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(X_TRAIN, Y_TRAIN, batch_size=64, epochs=1, verbose=0, shuffle=False)
        reported = model.evaluate(X_TEST, Y_TEST, batch_size=64, verbose=0)
        logits = model(X_TEST)
        added = [float(k.ops.convert_to_numpy(v)) for v in model.losses]
        model(X_TEST)  # a second call replaces the first's added loss
        count = len(model.losses)
        plain = float(k.ops.convert_to_numpy(k.losses.SparseCategoricalCrossentropy(from_logits=True)(Y_TEST, logits)))
        return history, reported, added, plain, count, losses_before

    theirs, ours = both(program, activity_regularized)
    same_history(ours[0], theirs[0], **RMS)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-4)
    assert len(ours[2]) == len(theirs[2]) == 1
    assert ours[2][0] == pytest.approx(theirs[2][0], rel=1e-4)
    # the reported loss is the compiled loss plus the layer's
    assert ours[1] == pytest.approx(ours[3] + ours[2][0], rel=1e-4)
    assert ours[2][0] > 0.01
    assert ours[4:] == theirs[4:] == (1, 0)


def logistic_endpoint_model(k):
    class LogisticEndpoint(k.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = k.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)
            return k.ops.softmax(logits)

    inputs = k.Input(shape=(3,), name="inputs")
    targets = k.Input(shape=(10,), name="targets")
    logits = k.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    return k.Model(inputs=[inputs, targets], outputs=predictions)


def test_logistic_endpoint_compiled_without_a_loss():
    rng = np.random.default_rng(1)
    data = {"inputs": rng.random((40, 3)), "targets": rng.random((40, 10))}

    def program(k, model):
        model.compile(optimizer="adam")  # the loss comes from the layer
        history = model.fit(data, epochs=3, batch_size=16, verbose=0, shuffle=False)
        evaluated = model.evaluate(data, verbose=0)
        return history, evaluated, model.predict(data, verbose=0)

    theirs, ours = both(program, logistic_endpoint_model)
    same_history(ours[0], theirs[0])
    assert ours[1] == pytest.approx(theirs[1], rel=1e-4)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours[2].sum(axis=1), 1.0, rtol=1e-5)


def test_a_layer_called_on_two_tensors_saves_and_loads(tmp_path):
    """The endpoint's second positional input (``layer(targets, logits)``) is part of the graph,
    in the saved file too."""
    def build(k):
        class Endpoint(k.layers.Layer):
            def call(self, targets, logits):
                self.add_loss(k.ops.mean(k.ops.square(targets - logits)))
                return k.ops.softmax(logits)

        inputs, targets = k.Input(shape=(3,), name="inputs"), k.Input(shape=(10,), name="targets")
        model = k.Model([inputs, targets], Endpoint(name="predictions")(targets, k.layers.Dense(10)(inputs)))
        return model, Endpoint

    data = {"inputs": RNG.random((4, 3)).astype("float32"), "targets": RNG.random((4, 10)).astype("float32")}
    out = []
    for k in (K, keras):
        model, endpoint = build(k)
        if out:
            model.set_weights(out[0][2])
        path = str(tmp_path / f"{k.__name__}.keras")
        model.save(path)
        loaded = k.models.load_model(path, custom_objects={"Endpoint": endpoint})
        model.compile("sgd")
        out.append((model.predict(data, verbose=0), loaded.predict(data, verbose=0), model.get_weights(),
                    model.evaluate(data, verbose=0)))
    (want, want_loaded, _, want_loss), (got, got_loaded, _, got_loss) = out
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_loaded, got, rtol=1e-6)
    np.testing.assert_allclose(want_loaded, want, rtol=1e-6)
    assert got_loss == pytest.approx(want_loss, rel=1e-5)


def test_no_loss_to_compute_is_the_same_error():
    errors = []
    for k in (K, keras):
        model = get_uncompiled_model(k)
        model.compile(optimizer="adam")
        with pytest.raises(ValueError) as info:
            model.fit(X_TRAIN[:8], Y_TRAIN[:8], verbose=0)
        errors.append(str(info.value))
    assert errors[1] == errors[0] == "No loss to compute. Provide a `loss` argument in `compile()`."
    with pytest.raises(ValueError, match=r"You must call `compile\(\)` before using the model."):
        get_uncompiled_model(keras).fit(X_TRAIN[:8], Y_TRAIN[:8], verbose=0)


# ---------------------------------------------------------------- PyDataset
def test_fit_and_evaluate_on_py_datasets():
    def program(k, model):
        class ExamplePyDataset(k.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return int(np.ceil(len(self.x) / float(self.batch_size)))

            def __getitem__(self, idx):
                batch_x = self.x[idx * self.batch_size:(idx + 1) * self.batch_size]
                batch_y = self.y[idx * self.batch_size:(idx + 1) * self.batch_size]
                return batch_x, batch_y

        class WeightedPyDataset(ExamplePyDataset):
            def __getitem__(self, idx):
                batch_x, batch_y = super().__getitem__(idx)
                return batch_x, batch_y, np.where(batch_y == 5, 2.0, 1.0)  # (x, y, sample_weight)

        compile_with_strings(model)
        train_py_dataset = ExamplePyDataset(X_TRAIN, Y_TRAIN, batch_size=32)
        val_py_dataset = ExamplePyDataset(X_VAL, Y_VAL, batch_size=32)
        history = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=2, verbose=0,
                            shuffle=False)
        evaluated = model.evaluate(val_py_dataset, verbose=0)
        weighted = model.fit(WeightedPyDataset(X_TRAIN, Y_TRAIN, batch_size=32), epochs=1, verbose=0, shuffle=False)
        return history, evaluated, weighted

    theirs, ours = both(program)
    same_history(ours[0], theirs[0], **RMS)
    np.testing.assert_allclose(ours[1], theirs[1], **RMS)
    same_history(ours[2], theirs[2], **RMS)


def test_fit_and_evaluate_on_data_loaders():
    """The guide's PyTorch DataLoader section: torch's with Keras, nerve's (``import nerve as torch``)
    with nerve.keras."""
    import torch as real_torch

    import nerve

    def program(k, model):
        torch = real_torch if k is K else nerve

        class ExampleTorchDataset(torch.utils.data.Dataset):
            def __init__(self, x, y):
                self.x, self.y = x, y

            def __len__(self):
                return len(self.x)

            def __getitem__(self, idx):
                return self.x[idx], self.y[idx]

        train_dataloader = torch.utils.data.DataLoader(ExampleTorchDataset(X_TRAIN[:96], Y_TRAIN[:96]),
                                                       batch_size=32, shuffle=False)
        val_dataloader = torch.utils.data.DataLoader(ExampleTorchDataset(X_VAL, Y_VAL), batch_size=32,
                                                     shuffle=False)
        compile_with_strings(model)
        history = model.fit(train_dataloader, epochs=2, validation_data=val_dataloader, verbose=0)
        evaluated = model.evaluate(val_dataloader, verbose=0, return_dict=True)
        # only some batches per epoch (the next epoch goes on from there) and per validation
        steps = model.fit(train_dataloader, epochs=3, steps_per_epoch=2, validation_data=val_dataloader,
                          validation_steps=1, verbose=0)
        return history, evaluated, steps

    theirs, ours = both(program)
    for got, want in zip(ours, theirs):
        same_history(got, want)


# ---------------------------------------------------------------- class and sample weights
def test_class_weight_and_sample_weight():
    class_weight = {c: 1.0 for c in range(10)}
    class_weight[5] = 2.0
    sample_weight = np.ones(shape=(len(Y_TRAIN),))
    sample_weight[Y_TRAIN == 5] = 2.0

    def program(k, model):
        start = model.get_weights()
        compile_with_strings(model)
        by_class = model.fit(X_TRAIN, Y_TRAIN, class_weight=class_weight, batch_size=64, epochs=1, verbose=0,
                             shuffle=False)
        model.set_weights(start)
        compile_with_strings(model)
        by_sample = model.fit(X_TRAIN, Y_TRAIN, sample_weight=sample_weight, batch_size=64, epochs=1, verbose=0,
                              shuffle=False)
        return by_class, by_sample, model.get_weights()

    theirs, ours = both(program)
    same_history(ours[0], theirs[0], **RMS)
    same_history(ours[1], theirs[1], **RMS)
    # the two ways weigh the same examples the same
    same_history(ours[0], ours[1], rtol=1e-5)


# ---------------------------------------------------------------- several inputs and outputs
def multi_io(k):
    image_input = k.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = k.Input(shape=(None, 10), name="ts_input")
    x1 = k.layers.Conv2D(3, 3)(image_input)
    x1 = k.layers.GlobalMaxPooling2D()(x1)
    x2 = k.layers.Conv1D(3, 3)(timeseries_input)
    x2 = k.layers.GlobalMaxPooling1D()(x2)
    x = k.layers.concatenate([x1, x2])
    score_output = k.layers.Dense(1, name="score_output")(x)
    class_output = k.layers.Dense(5, name="class_output")(x)
    return k.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])


def multi_io_compiles(k):
    """The guide's compile calls for the two-output model, in its order."""
    def per_output_metrics():
        return [k.metrics.MeanAbsolutePercentageError(), k.metrics.MeanAbsoluteError()]

    return [
        dict(loss=[k.losses.MeanSquaredError(), k.losses.CategoricalCrossentropy()]),
        dict(loss=[k.losses.MeanSquaredError(), k.losses.CategoricalCrossentropy()],
             metrics=[per_output_metrics(), [k.metrics.CategoricalAccuracy()]]),
        dict(loss={"score_output": k.losses.MeanSquaredError(), "class_output": k.losses.CategoricalCrossentropy()},
             metrics={"score_output": per_output_metrics(), "class_output": [k.metrics.CategoricalAccuracy()]}),
        dict(loss={"score_output": k.losses.MeanSquaredError(), "class_output": k.losses.CategoricalCrossentropy()},
             metrics={"score_output": per_output_metrics(), "class_output": [k.metrics.CategoricalAccuracy()]},
             loss_weights={"score_output": 2.0, "class_output": 1.0}),
        dict(loss=[None, k.losses.CategoricalCrossentropy()]),
    ]


def test_multi_input_multi_output_losses_metrics_and_loss_weights():
    rng = np.random.default_rng(2)
    img_data = rng.random((16, 32, 32, 3))
    ts_data = rng.random((16, 20, 10))
    score_targets = rng.random((16, 1))
    class_targets = rng.random((16, 5))
    as_lists = ([img_data, ts_data], [score_targets, class_targets])
    as_dicts = ({"img_input": img_data, "ts_input": ts_data},
                {"score_output": score_targets, "class_output": class_targets})

    def program(k, model, case):
        import warnings

        start, out = model.get_weights(), []
        for inputs, targets in (as_lists, as_dicts) if case in (0, 3) else (as_lists,):
            model.set_weights(start)
            model.compile(optimizer=k.optimizers.RMSprop(1e-3), **multi_io_compiles(k)[case])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Keras: no gradients for score_output without its loss
                out.append(model.fit(inputs, targets, batch_size=8, epochs=1, verbose=0, shuffle=False).history)
        out.append(model.evaluate(*as_lists, verbose=0))
        return out

    results = []
    for case in range(5):
        theirs, ours = both(lambda k, model, case=case: program(k, model, case), multi_io)
        for got, want in zip(ours[:-1], theirs[:-1]):
            same_history(got, want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ours[-1], theirs[-1], rtol=1e-4, atol=1e-4)
        results.append(ours)
    assert list(results[1][0]) == ["class_output_categorical_accuracy", "class_output_loss", "loss",
                                   "score_output_loss", "score_output_mean_absolute_error",
                                   "score_output_mean_absolute_percentage_error"]
    # loss_weights weigh the outputs' losses in the total
    weighted = results[3][0]
    assert weighted["loss"][0] == pytest.approx(2 * weighted["score_output_loss"][0]
                                                + weighted["class_output_loss"][0], rel=1e-5)


def test_a_loss_dict_missing_an_output_is_refused_as_in_keras():
    rng = np.random.default_rng(3)
    x = [rng.random((8, 32, 32, 3)), rng.random((8, 20, 10))]
    y = [rng.random((8, 1)), rng.random((8, 5))]
    errors = []
    for k in (K, keras):
        model = multi_io(k)
        model.compile(optimizer=k.optimizers.RMSprop(1e-3), loss={"class_output": k.losses.CategoricalCrossentropy()})
        with pytest.raises(ValueError) as info:
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        errors.append(str(info.value))
    assert errors[1] == errors[0]


# ---------------------------------------------------------------- callbacks in fit
def test_early_stopping_on_val_loss(capsys):
    def program(k, model):
        compile_with_strings(model)
        callbacks = [k.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2, verbose=1)]
        capsys.readouterr()
        history = model.fit(X_TRAIN[:160], Y_TRAIN[:160], epochs=20, batch_size=64, callbacks=callbacks,
                            validation_split=0.2, verbose=0, shuffle=False)
        return history, capsys.readouterr().out, callbacks[0].stopped_epoch

    theirs, ours = both(program)
    same_history(ours[0], theirs[0], **RMS)
    assert len(ours[0].history["loss"]) < 20
    assert ours[1:] == theirs[1:]


def test_a_callback_collecting_per_batch_losses():
    def program(k, model):
        class LossHistory(k.callbacks.Callback):
            def on_train_begin(self, logs):
                self.per_batch_losses = []

            def on_batch_end(self, batch, logs):
                self.per_batch_losses.append(logs.get("loss"))

        compile_with_strings(model)
        history = LossHistory()
        model.fit(X_TRAIN, Y_TRAIN, epochs=2, batch_size=64, callbacks=[history], verbose=0, shuffle=False)
        return history.per_batch_losses

    theirs, ours = both(program)
    assert len(ours) == len(theirs) == 8
    assert all(type(v) is float for v in ours)
    np.testing.assert_allclose(ours, theirs, **RMS)


def test_model_checkpoint_best_only_and_every_n_batches(tmp_path, capsys):
    def program(k, model):
        folder = tmp_path / k.__name__
        folder.mkdir()
        compile_with_strings(model)
        callbacks = [k.callbacks.ModelCheckpoint(filepath=str(folder / "mymodel_{epoch}.keras"), save_best_only=True,
                                                 monitor="val_loss", verbose=1)]
        capsys.readouterr()
        model.fit(X_TRAIN, Y_TRAIN, epochs=3, batch_size=64, callbacks=callbacks, validation_split=0.2, verbose=0,
                  shuffle=False)
        printed = capsys.readouterr().out.replace(str(folder), "DIR")
        saved = sorted(os.listdir(folder))
        restored = k.models.load_model(str(folder / saved[-1]))
        predictions = restored.predict(X_TEST, verbose=0)
        # the fault-tolerance example: a checkpoint every 2 batches, named by the loss so far
        ckpt = folder / "ckpt"
        ckpt.mkdir()
        callbacks = [k.callbacks.ModelCheckpoint(filepath=str(ckpt / "ckpt-loss={loss:.2f}.keras"), save_freq=2)]
        model.fit(X_TRAIN, Y_TRAIN, epochs=1, batch_size=64, callbacks=callbacks, verbose=0, shuffle=False)
        every = sorted(os.listdir(ckpt))
        latest = max((str(ckpt / name) for name in every), key=os.path.getctime)
        again = k.models.load_model(latest)
        return printed, saved, predictions, every, again.predict(X_TEST, verbose=0), model.predict(X_TEST, verbose=0)

    theirs, ours = both(program)
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
    np.testing.assert_allclose(ours[2], theirs[2], **RMS)
    assert ours[3] == theirs[3] and len(ours[3]) == 2
    np.testing.assert_allclose(ours[4], ours[5], rtol=1e-6)  # the last checkpoint is the trained model
    np.testing.assert_allclose(ours[4], theirs[4], **RMS)


def test_learning_rate_schedule_given_to_the_optimizer():
    def program(k, model):
        lr_schedule = k.optimizers.schedules.ExponentialDecay(0.1, decay_steps=100000, decay_rate=0.96, staircase=True)
        model.compile(k.optimizers.RMSprop(learning_rate=lr_schedule), "sparse_categorical_crossentropy")
        first = model.fit(X_TRAIN, Y_TRAIN, epochs=1, batch_size=64, verbose=0, shuffle=False)
        fast = k.optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
        optimizer = k.optimizers.SGD(learning_rate=fast)
        model.compile(optimizer, "sparse_categorical_crossentropy")
        second = model.fit(X_TRAIN, Y_TRAIN, epochs=2, batch_size=64, verbose=0, shuffle=False)
        return first, second, float(optimizer.learning_rate), model.get_weights()

    theirs, ours = both(program)
    same_history(ours[0], theirs[0], rtol=2e-2, atol=2e-2)  # RMSprop at 0.1: see RMS
    same_history(ours[1], theirs[1], rtol=2e-2, atol=2e-2)
    assert ours[2] == pytest.approx(theirs[2], rel=1e-6)
    assert ours[2] == pytest.approx(0.05 * 0.5 ** (8 / 3), rel=1e-6)


def test_get_weights_gives_copies_that_training_leaves_alone():
    """A Dense(1) kernel's copy (its transpose is contiguous already) must not follow the training."""
    def program(k, model):
        before = model.get_weights()
        kept = [w.copy() for w in before]
        model.fit(X_TRAIN, Y_TRAIN, batch_size=64, epochs=1, verbose=0, shuffle=False)
        return [np.array_equal(a, b) for a, b in zip(before, kept)], model.get_weights()

    theirs, ours = both(program, built_model)
    assert ours[0] == theirs[0] == [True, True]
    for got, want in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_crossentropy_of_a_saturated_softmax_is_clipped_as_keras():
    """Keras clips probabilities to [1e-7, 1 - 1e-7]: a confidently wrong softmax costs at most
    -log(1e-7) per example, and gives no gradient beyond."""
    def program(k, model):
        model.compile(k.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.set_weights([w * 40 for w in model.get_weights()])  # logits in the thousands
        first = model.evaluate(X_TEST, Y_TEST, verbose=0, return_dict=True)
        history = model.fit(X_TRAIN, Y_TRAIN, batch_size=64, epochs=2, verbose=0, shuffle=False)
        probs = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
        losses = [float(k.ops.convert_to_numpy(cls()(labels, probs)))
                  for cls, labels in ((k.losses.SparseCategoricalCrossentropy, np.array([1, 1, 0, 0])),
                                      (k.losses.CategoricalCrossentropy, np.eye(3)[[1, 1, 0, 0]]))]
        return first, history, losses

    theirs, ours = both(program)
    same_history(ours[0], theirs[0])
    assert ours[0]["loss"] > 5  # saturated
    same_history(ours[1], theirs[1])
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)


def test_crossentropy_of_unnormalized_probabilities_as_keras():
    """With ``from_logits=False`` Keras divides the predictions by their sum before the clip and the
    log, so raw scores (a Dense without softmax, the mistake the RNN guide's loss would make) cost
    what they cost in Keras; values and gradients against Keras 3's own."""
    import torch

    rng = np.random.default_rng(3)
    for scores in (rng.random((5, 4), dtype=np.float32) * 3,  # positive, not summing to one
                   rng.standard_normal((5, 4)).astype(np.float32)):  # raw logits, negatives included
        labels = np.array([0, 3, 1, 2, 3])
        for name, target in (("SparseCategoricalCrossentropy", labels),
                             ("CategoricalCrossentropy", np.eye(4, dtype=np.float32)[labels])):
            tp = torch.tensor(scores, requires_grad=True)
            want = getattr(K.losses, name)()(torch.tensor(target), tp)
            want.backward()
            from nerve import tensor as ntensor

            xp = ntensor(scores, requires_grad=True)
            got = getattr(keras.losses, name)()(target, xp)
            got.backward()
            np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5, err_msg=name)
            np.testing.assert_allclose(xp.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_crossentropy_of_a_softmax_output_uses_its_logits_until_the_output_changes():
    """On a softmax output the categorical cross-entropy takes the softmax's input (one fused op); a
    softmax output changed in place afterwards is a new tensor for it: Keras's formula on its values."""
    import torch

    from nerve import no_grad
    from nerve import tensor as ntensor

    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((6, 5)) * 3).astype(np.float32)
    target = np.eye(5, dtype=np.float32)[[0, 4, 1, 1, 3, 2]]
    for shift in (None, 0.05):
        tx = torch.tensor(logits, requires_grad=True)
        ty = K.activations.softmax(tx)
        want = K.losses.CategoricalCrossentropy()(torch.tensor(target), ty if shift is None else ty + shift)
        want.backward()
        x = ntensor(logits, requires_grad=True)
        y = keras.activations.softmax(x)
        assert keras.activations.logits_of(y) is x
        if shift is not None:
            y.add_(shift)
            assert keras.activations.logits_of(y) is None
        got = keras.losses.CategoricalCrossentropy()(target, y)
        got.backward()
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)
    with no_grad():  # nothing recorded, nothing kept
        assert keras.activations.logits_of(keras.activations.softmax(ntensor(logits))) is None


# ---------------------------------------------------------------- "Writing your own callbacks"
def get_model(k):
    model = k.Sequential()
    model.add(k.layers.Dense(1))
    model.compile(optimizer=k.optimizers.RMSprop(learning_rate=0.1), loss="mean_squared_error",
                  metrics=["mean_absolute_error"])
    return model


def built_model(k):
    model = get_model(k)
    model.build((None, 784))
    return model


def all_hooks_recorder(k, seen):
    """A callback that prints what each hook got, as the guide's, and records it in ``seen``."""
    class CustomCallback(k.callbacks.Callback):
        def _note(self, text, hook, index, logs):
            seen.append((hook, index, list(logs.keys())))
            print(text.format(*([] if index is None else [index])) + f"; got log keys: {list(logs.keys())}")

    hooks = {
        "on_train_begin": "Starting training", "on_train_end": "Stop training",
        "on_epoch_begin": "Start epoch {} of training", "on_epoch_end": "End epoch {} of training",
        "on_test_begin": "Start testing", "on_test_end": "Stop testing",
        "on_predict_begin": "Start predicting", "on_predict_end": "Stop predicting",
        "on_train_batch_begin": "...Training: start of batch {}", "on_train_batch_end": "...Training: end of batch {}",
        "on_test_batch_begin": "...Evaluating: start of batch {}", "on_test_batch_end": "...Evaluating: end of batch {}",
        "on_predict_batch_begin": "...Predicting: start of batch {}",
        "on_predict_batch_end": "...Predicting: end of batch {}",
    }
    for hook, text in hooks.items():
        if "batch" in hook or "epoch" in hook:
            def method(self, index, logs=None, hook=hook, text=text):
                self._note(text, hook, index, logs)
        else:
            def method(self, logs=None, hook=hook, text=text):
                self._note(text, hook, None, logs)
        setattr(CustomCallback, hook, method)
    return CustomCallback


def test_every_hook_in_keras_order_with_keras_logs(capsys):
    x, y = X_TRAIN, Y_TRAIN
    runs = []
    for k in (K, keras):
        seen = []
        CustomCallback = all_hooks_recorder(k, seen)
        model = get_model(k)
        capsys.readouterr()
        model.fit(x, y, batch_size=128, epochs=2, verbose=0, validation_split=0.5, callbacks=[CustomCallback()])
        model.evaluate(X_TEST, Y_TEST, batch_size=32, verbose=0, callbacks=[CustomCallback()])
        model.predict(X_TEST, batch_size=32, verbose=0, callbacks=[CustomCallback()])
        runs.append((seen, capsys.readouterr().out))
    (theirs, printed_theirs), (ours, printed_ours) = runs
    assert ours == theirs
    assert printed_ours == printed_theirs
    assert ("on_epoch_end", 1, ["loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error"]) in ours
    assert ("on_predict_batch_end", 1, ["outputs"]) in ours


def loss_and_error_printer(k):
    class LossAndErrorPrintingCallback(k.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

        def on_test_batch_end(self, batch, logs=None):
            print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            print("The average loss for epoch {} is {:7.2f} and mean absolute error is {:7.2f}.".format(
                epoch, logs["loss"], logs["mean_absolute_error"]))

    return LossAndErrorPrintingCallback


def test_logs_dict_printed_per_batch_and_epoch(capsys):
    def program(k, model):
        printer = loss_and_error_printer(k)
        capsys.readouterr()
        model.fit(X_TRAIN, Y_TRAIN, batch_size=128, epochs=2, verbose=0, callbacks=[printer()], shuffle=False)
        model.evaluate(X_TEST, Y_TEST, batch_size=32, verbose=0, callbacks=[printer()])
        return capsys.readouterr().out

    theirs, ours = both(program, built_model)
    assert ours.count("\n") == theirs.count("\n") == 2 * 2 + 2 + 2
    printed_alike(ours, theirs, rtol=0, atol=0.0100001)  # two decimals printed


def test_early_stopping_at_min_loss_restores_the_best_weights(capsys):
    def program(k, model):
        class EarlyStoppingAtMinLoss(k.callbacks.Callback):
            def __init__(self, patience=0):
                super().__init__()
                self.patience = patience
                self.best_weights = None

            def on_train_begin(self, logs=None):
                self.wait = 0
                self.stopped_epoch = 0
                self.best = np.inf

            def on_epoch_end(self, epoch, logs=None):
                current = logs.get("loss")
                if np.less(current, self.best):
                    self.best = current
                    self.wait = 0
                    self.best_weights = self.model.get_weights()
                else:
                    self.wait += 1
                    if self.wait >= self.patience:
                        self.stopped_epoch = epoch
                        self.model.stop_training = True
                        print("Restoring model weights from the end of the best epoch.")
                        self.model.set_weights(self.best_weights)

            def on_train_end(self, logs=None):
                if self.stopped_epoch > 0:
                    print(f"Epoch {self.stopped_epoch + 1}: early stopping")

        stopper = EarlyStoppingAtMinLoss()
        capsys.readouterr()
        history = model.fit(X_TRAIN, Y_TRAIN, batch_size=32, steps_per_epoch=2, epochs=30, verbose=0,
                            callbacks=[loss_and_error_printer(k)(), stopper], shuffle=False)
        return history, capsys.readouterr().out, model.get_weights(), stopper.best_weights, stopper.stopped_epoch

    theirs, ours = both(program, built_model)
    same_history(ours[0], theirs[0], rtol=1e-3, atol=1e-3)
    assert ours[4] == theirs[4] and 0 < ours[4] < 29
    printed_alike(ours[1], theirs[1], rtol=0, atol=0.0100001)
    assert "early stopping" in ours[1]
    for got, best in zip(ours[2], ours[3]):
        np.testing.assert_array_equal(got, best)
    for got, want in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_custom_learning_rate_scheduler_sets_the_optimizer_rate(capsys):
    lr_table = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]

    def lr_schedule(epoch, lr):
        if epoch < lr_table[0][0] or epoch > lr_table[-1][0]:
            return lr
        for start, rate in lr_table:
            if epoch == start:
                return rate
        return lr

    def program(k, model):
        class CustomLearningRateScheduler(k.callbacks.Callback):
            def __init__(self, schedule):
                super().__init__()
                self.schedule = schedule
                self.rates = []

            def on_epoch_begin(self, epoch, logs=None):
                if not hasattr(self.model.optimizer, "learning_rate"):
                    raise ValueError('Optimizer must have a "learning_rate" attribute.')
                lr = self.model.optimizer.learning_rate
                scheduled_lr = self.schedule(epoch, lr)
                self.model.optimizer.learning_rate = scheduled_lr
                print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")

            def on_epoch_end(self, epoch, logs=None):
                self.rates.append(float(np.array(self.model.optimizer.learning_rate)))

        scheduler = CustomLearningRateScheduler(lr_schedule)
        capsys.readouterr()
        history = model.fit(X_TRAIN, Y_TRAIN, batch_size=32, steps_per_epoch=2, epochs=15, verbose=0,
                            callbacks=[loss_and_error_printer(k)(), scheduler], shuffle=False)
        return history, capsys.readouterr().out, scheduler.rates

    theirs, ours = both(program, built_model)
    same_history(ours[0], theirs[0], rtol=1e-3, atol=1e-3)
    lines_ours = [line for line in ours[1].splitlines() if "Learning rate" in line]
    lines_theirs = [line for line in theirs[1].splitlines() if "Learning rate" in line]
    assert lines_ours == lines_theirs and len(lines_ours) == 15
    printed_alike(ours[1], theirs[1], rtol=0, atol=0.0100001)
    assert ours[2] == theirs[2]
    assert ours[2][3] == pytest.approx(0.05) and ours[2][-1] == pytest.approx(0.001)
