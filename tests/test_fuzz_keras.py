"""nerve.keras against Keras 3 (torch backend) on options of fit, compile, the callbacks, losses,
metrics and optimizers that the other comparisons leave out: each test runs one program on both
libraries (only the module differs, the same initial weights) and compares what comes back.

Skipped where Keras 3 is not installed.
"""

import os
import warnings

import numpy as np
import pytest
from _keras_compare import K, fresh

from nerve import keras


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)
    yield


RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 4)).astype("float32")
LABELS = RNG.integers(0, 3, 24)
X_VAL = RNG.standard_normal((8, 4)).astype("float32")
LABELS_VAL = RNG.integers(0, 3, 8)


def numbers(v):
    """A result as plain NumPy / Python values (dicts and lists walked)."""
    if isinstance(v, dict):
        return {k: numbers(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [numbers(x) for x in v]
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    elif hasattr(v, "numpy"):
        v = v.numpy()
    return v


def assert_close(got, want, path="result"):
    """The same structure (dict keys in order, list lengths) and numbers to float32 tolerance."""
    assert not isinstance(want, Exception) and not isinstance(got, Exception), f"{path}: Keras {want!r}, nerve {got!r}"
    got, want = numbers(got), numbers(want)
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{path}: {list(got)} != {list(want)}"
        for k in want:
            assert_close(got[k], want[k], f"{path}[{k!r}]")
    elif isinstance(want, list) and want and not np.isscalar(want[0]) and not isinstance(want[0], str):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {got} != {want}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{path}[{i}]")
    elif isinstance(want, str) or want is None or isinstance(want, list) and isinstance(want[0], str):
        assert got == want, f"{path}: {got!r} != {want!r}"
    else:
        np.testing.assert_allclose(np.asarray(got, "float64"), np.asarray(want, "float64"), rtol=1e-4, atol=1e-5,
                                   err_msg=path)


def on_both(program):
    """``program(library)`` run on Keras, then on nerve.keras (in fresh sessions); (Keras's, nerve's)
    results, or the exceptions they raised."""
    out = []
    for k in (K, keras):
        fresh(clear_keras=k is K)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out.append(program(k))
            except Exception as e:  # noqa: BLE001 (compared below)
                out.append(e)
    return out


def classifier(k, units=3, activation="softmax"):
    """A small MLP; nerve's copy starts from the weights Keras's started from."""
    m = k.Sequential([k.Input((4,)), k.layers.Dense(5, activation="relu"), k.layers.Dense(units, activation=activation)])
    if k is K:
        classifier.weights = m.get_weights()
    else:
        m.set_weights(classifier.weights)
    return m


def same_error(theirs, ours):
    assert isinstance(theirs, Exception) and type(ours) is type(theirs), (theirs, ours)
    assert str(ours) == str(theirs)


# ---------------------------------------------------------------------------------------------
# callbacks: mode="auto" takes the direction of the compiled metric, as Keras's MonitorCallback


@pytest.mark.parametrize("monitor", ["precision", "recall", "val_auc", "loss"])
def test_auto_mode_follows_the_compiled_metric_s_direction_as_keras(tmp_path, monitor):
    # Precision and recall go up: the best checkpoint is the highest (nerve took the lowest).
    yb, yb_val = (LABELS > 0).astype("float32")[:, None], (LABELS_VAL > 0).astype("float32")[:, None]

    def program(k):
        m = classifier(k, 1, "sigmoid")
        m.compile(k.optimizers.SGD(0.3), "binary_crossentropy", metrics=["precision", "recall", "auc"])
        folder = tmp_path / k.__name__
        ck = k.callbacks.ModelCheckpoint(str(folder / "m{epoch}.weights.h5"), monitor=monitor, save_best_only=True,
                                         save_weights_only=True)
        es = k.callbacks.EarlyStopping(monitor=monitor, patience=1, restore_best_weights=True)
        rl = k.callbacks.ReduceLROnPlateau(monitor=monitor, patience=1, factor=0.5)
        h = m.fit(X, yb, epochs=8, batch_size=8, shuffle=False, verbose=0, validation_data=(X_VAL, yb_val),
                  callbacks=[ck, es, rl])
        return h.history, sorted(os.listdir(folder)), float(ck.best), float(es.best), m.get_weights()

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


@pytest.mark.parametrize("make", [
    lambda k: k.callbacks.EarlyStopping(monitor="val_dense_1_loss"),
    lambda k: k.callbacks.ReduceLROnPlateau(monitor="val_acc"),
    lambda k: k.callbacks.ModelCheckpoint("never.keras", monitor="score"),
    # Keras looks a metric up by its own name: a weighted one renamed in the logs is not found
    lambda k: k.callbacks.EarlyStopping(monitor="val_weighted_accuracy"),
])
def test_auto_mode_of_a_value_that_is_no_compiled_metric_is_keras_error(make):
    def program(k):
        m = classifier(k)
        m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])
        m.fit(X, LABELS, epochs=2, verbose=0, validation_data=(X_VAL, LABELS_VAL), callbacks=[make(k)])

    same_error(*on_both(program))


# ---------------------------------------------------------------------------------------------
# fit


def test_validation_freq_as_a_list_of_epochs_as_keras():
    def program(k):
        m = classifier(k)
        m.compile(k.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["acc"])
        h = m.fit(X, LABELS, epochs=4, batch_size=8, shuffle=False, verbose=0, validation_split=0.25,
                  validation_freq=[1, 3])
        return h.history, m.get_weights()

    theirs, ours = on_both(program)
    assert_close(ours, theirs)
    assert len(ours[0]["val_loss"]) == 2


def test_csv_logger_keeps_columns_for_validation_values_as_keras(tmp_path):
    # With no validation (or validation_freq > 1) Keras still writes val_ columns, "NA" in them.
    def program(k):
        m = classifier(k)
        m.compile(k.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
        texts = []
        for i, kw in enumerate([{}, dict(validation_data=(X_VAL, LABELS_VAL), validation_freq=2)]):
            path = str(tmp_path / f"{k.__name__}{i}.csv")
            m.fit(X, LABELS, epochs=2, shuffle=False, verbose=0, callbacks=[k.callbacks.CSVLogger(path)], **kw)
            texts.append(open(path).read())
        return texts

    theirs, ours = on_both(program)
    assert ours == theirs and "NA" in ours[0]


# ---------------------------------------------------------------------------------------------
# losses and metrics called by hand


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy", "binary_focal_crossentropy",
                                  "mean_squared_error", "kl_divergence", "hinge"])
def test_loss_functions_on_numpy_arrays_as_keras(name):
    # (binary_ and categorical_crossentropy took the predictions' device from a NumPy array: an error)
    y_true = RNG.integers(0, 2, (5, 3)).astype("float32")
    y_pred = RNG.uniform(0.05, 0.95, (5, 3)).astype("float32")
    theirs, ours = on_both(lambda k: getattr(k.losses, name)(y_true, y_pred / y_pred.sum(-1, keepdims=True)))
    assert_close(ours, theirs)


SEQ_X = RNG.standard_normal((12, 5, 4)).astype("float32")
SEQ_Y = RNG.integers(0, 2, (12, 5, 2)).astype("float32")
SEQ_WEIGHTS = (RNG.random((12, 5)) > 0.3).astype("float32")  # per time step, as a padding mask


def test_metrics_take_weights_per_row_or_per_element_as_keras():
    # Mean flattened its values, so weights per row of 2D values could not broadcast; BinaryAccuracy
    # and RootMeanSquaredError averaged each example first, so weights per element could not either
    values = RNG.standard_normal((4, 3)).astype("float32")

    def program(k):
        mean, acc, rmse = k.metrics.Mean(), k.metrics.BinaryAccuracy(), k.metrics.RootMeanSquaredError()
        mean.update_state(values, sample_weight=np.array([1.0, 0.0, 2.0, 1.0], "float32"))
        acc.update_state(SEQ_Y[:, 0], SEQ_Y[::-1, 0], sample_weight=SEQ_WEIGHTS[:, :2])
        rmse.update_state(SEQ_Y[:, 0], values[:1, :2], sample_weight=SEQ_WEIGHTS[:, :2])
        return [float(mean.result()), float(acc.result()), float(rmse.result())]

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


def test_weighted_metrics_with_weights_per_time_step_in_fit_as_keras():
    def program(k):
        m = k.Sequential([k.Input((5, 4)), k.layers.Dense(6, activation="tanh"), k.layers.Dense(2)])
        if k is K:
            program.weights = m.get_weights()
        else:
            m.set_weights(program.weights)
        m.compile(k.optimizers.SGD(0.05), "mse", metrics=["mae"],
                  weighted_metrics=["mae", k.metrics.RootMeanSquaredError(), "binary_accuracy"])
        h = m.fit(SEQ_X, SEQ_Y, sample_weight=SEQ_WEIGHTS, epochs=2, batch_size=5, shuffle=False, verbose=0)
        return h.history, m.evaluate(SEQ_X, SEQ_Y, sample_weight=SEQ_WEIGHTS, verbose=0, return_dict=True)

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


def test_evaluate_lists_a_renamed_weighted_metric_as_keras():
    # metrics=["accuracy"] and weighted_metrics=["accuracy"]: Keras's list has 'accuracy' twice,
    # then 'weighted_accuracy' with the values not listed by name
    def program(k):
        m = classifier(k)
        m.compile(k.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", k.metrics.SparseCategoricalCrossentropy(name="sce")])
        weights = np.linspace(0.1, 1.0, len(X)).astype("float32")
        return [m.evaluate(X, LABELS, sample_weight=weights, verbose=0), m.test_on_batch(X, LABELS, weights),
                m.train_on_batch(X, LABELS, weights), m.metrics_names]

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


# ---------------------------------------------------------------------------------------------
# optimizers


@pytest.mark.parametrize("make", [
    lambda k: k.optimizers.SGD(0.1, weight_decay=0.05, momentum=0.9, nesterov=True),
    lambda k: k.optimizers.RMSprop(0.01, weight_decay=0.1),
    lambda k: k.optimizers.Adagrad(0.1, weight_decay=0.1),
    lambda k: k.optimizers.SGD(k.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5), weight_decay=0.2, clipnorm=0.5),
    lambda k: k.optimizers.SGD(k.optimizers.schedules.CosineDecay(0.0, decay_steps=10, alpha=0.1, warmup_target=0.1,
                                                                  warmup_steps=4)),
], ids=["sgd_weight_decay", "rmsprop_weight_decay", "adagrad_weight_decay", "scheduled_weight_decay",
        "cosine_warmup"])
def test_weight_decay_and_cosine_warmup_train_as_keras(make):
    # Keras's weight decay is decoupled (w -= w * wd * lr before the update); nerve's SGD, RMSprop
    # and Adagrad added it to the gradient. CosineDecay ignored warmup_target / warmup_steps.
    def program(k):
        m = classifier(k)
        opt = make(k)
        m.compile(opt, "sparse_categorical_crossentropy")
        h = m.fit(X, LABELS, epochs=3, batch_size=5, shuffle=False, verbose=0)
        return h.history, m.get_weights(), float(opt.learning_rate)

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


@pytest.mark.parametrize("make", [
    lambda k: k.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=4),
    lambda k: k.optimizers.SGD(0.1, momentum=0.9, use_ema=True, ema_momentum=0.5),
    lambda k: k.optimizers.Adam(0.01, gradient_accumulation_steps=3),
    lambda k: k.optimizers.RMSprop(0.01, gradient_accumulation_steps=2, use_ema=True, ema_momentum=0.8),
    lambda k: k.optimizers.SGD(k.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5), momentum=0.5,
                               gradient_accumulation_steps=2),
    lambda k: k.optimizers.SGD(k.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5), momentum=0.5, nesterov=True),
    lambda k: k.optimizers.RMSprop(k.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5), momentum=0.5),
], ids=["adam_ema", "sgd_momentum_ema", "adam_accumulation", "rmsprop_accumulation_ema",
        "sgd_momentum_schedule_accumulation", "nesterov_schedule", "rmsprop_momentum_schedule"])
def test_ema_accumulation_and_momentum_under_a_changing_rate_as_keras(make):
    # use_ema and gradient_accumulation_steps were taken and ignored; SGD's and RMSprop's momentum
    # (PyTorch's, per unit of rate) moved differently from Keras's once the rate changed
    def program(k):
        m = classifier(k)
        opt = make(k)
        m.compile(opt, "sparse_categorical_crossentropy")
        h = m.fit(X, LABELS, epochs=3, batch_size=5, shuffle=False, verbose=0)
        return h.history, m.get_weights(), int(opt.iterations), float(opt.learning_rate)

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


def test_sgd_momentum_with_rate_callbacks_as_keras():
    def program(k):
        m = classifier(k)
        m.compile(k.optimizers.SGD(0.2, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
        h = m.fit(X, LABELS, epochs=6, batch_size=6, shuffle=False, verbose=0,
                  callbacks=[k.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=0.05),
                             k.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9)])
        return h.history, m.get_weights()

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


def test_setting_the_rate_of_a_scheduled_optimizer_is_keras_error():
    def program(k):
        opt = k.optimizers.SGD(k.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5))
        opt.learning_rate = 0.5

    same_error(*on_both(program))


def test_validation_data_of_four_items_is_keras_error():
    # (nerve took the tuple for a dataset and failed with an AttributeError)
    def program(k):
        m = classifier(k)
        m.compile("sgd", "sparse_categorical_crossentropy")
        m.fit(X, LABELS, epochs=1, verbose=0, validation_data=(X_VAL, LABELS_VAL, LABELS_VAL, LABELS_VAL))

    same_error(*on_both(program))


def test_class_weight_leaves_the_validation_split_unweighted_as_keras():
    # (nerve turned the class weights into sample weights before the split: val_loss was weighted)
    def program(k):
        m = classifier(k)
        m.compile(k.optimizers.SGD(0.3), "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
        h = m.fit(X, LABELS, epochs=2, batch_size=8, shuffle=False, verbose=0, validation_split=0.3,
                  class_weight={0: 1.0, 1: 2.0, 2: 3.0})
        return h.history, m.get_weights()

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


def test_get_metrics_result_as_keras():
    def program(k):
        m = classifier(k)
        m.compile(k.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy", "sparse_categorical_crossentropy"])
        m.fit(X, LABELS, epochs=1, batch_size=8, verbose=0, shuffle=False)
        after_fit = m.get_metrics_result()
        m.reset_metrics()
        return after_fit, m.get_metrics_result()

    theirs, ours = on_both(program)
    assert_close(ours, theirs)


def test_sparse_top_k_accuracy_from_sorted_ids_as_keras():
    ids = np.array([[2, 0, 1], [1, 2, 0], [0, 1, 2], [2, 1, 0]], "int32")  # classes, best first
    labels, weights = np.array([0, 0, 0, 1]), np.array([1.0, 2.0, 0.5, 1.0], "float32")

    def program(k):
        metric = k.metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True)
        metric.update_state(labels, ids, sample_weight=weights)
        return [float(metric.result()), metric.get_config()["from_sorted_ids"]]

    theirs, ours = on_both(program)
    assert_close(ours, theirs)
    assert ours[1] is True


def test_optimizer_config_has_keras_keys_and_values():
    # (the EMA and accumulation settings were left out, so a saved optimizer lost them)
    def program(k):
        return [k.optimizers.SGD().get_config(),
                k.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=2).get_config(),
                k.optimizers.RMSprop(weight_decay=0.1, clipnorm=1.0).get_config()]

    theirs, ours = on_both(program)
    assert [list(c) for c in ours] == [list(c) for c in theirs]
    assert_close(ours, theirs)
    ours_back = keras.optimizers.Adam.from_config(ours[1])
    assert (ours_back.use_ema, ours_back.gradient_accumulation_steps) == (True, 2)


@pytest.mark.parametrize("name", ["mse", "categorical_crossentropy", "huber", "MeanSquaredError", "Huber"])
def test_losses_get_gives_functions_for_function_names_as_keras(name):
    # (nerve gave a Loss object for every name: a scalar where Keras gives a value per example)
    y_true = RNG.integers(0, 2, (5, 3)).astype("float32")
    y_pred = RNG.uniform(0.1, 0.9, (5, 3)).astype("float32")
    theirs, ours = on_both(lambda k: k.losses.get(name)(y_true, y_pred))
    assert_close(ours, theirs)


@pytest.mark.parametrize("name", ["accuracy", "acc", "mse", "AUC"])
def test_metrics_get_by_hand_as_keras(name):
    # (nerve's get needed a batch to resolve 'accuracy' and failed without one)
    def program(k):
        metric = k.metrics.get(name)
        return type(metric).__name__ if hasattr(metric, "update_state") else metric.__name__

    theirs, ours = on_both(program)
    if isinstance(theirs, Exception):
        same_error(theirs, ours)
    else:
        assert ours == theirs
