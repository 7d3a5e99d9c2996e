"""nerve.keras callbacks: EarlyStopping, ModelCheckpoint, CSVLogger, LearningRateScheduler,
ReduceLROnPlateau, TerminateOnNaN, and the utilities (plot_history, ops, random)."""

import csv
import os

import numpy as np
import pytest

from nerve import keras
from nerve.keras import layers


@pytest.fixture(autouse=True)
def _fresh():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


def data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def small_model(lr=0.05):
    m = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="softmax")])
    m.compile(keras.optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class Score(keras.callbacks.Callback):
    """Puts a scripted value into the logs and remembers the weights at each epoch's end."""

    def __init__(self, values):
        super().__init__()
        self.values, self.weights = values, []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def test_early_stopping_restores_best_weights():
    x, y = data()
    m = small_model()
    score = Score([3.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0])
    # a logged value that is no compiled metric needs its mode (Keras 3 refuses "auto" for it)
    es = keras.callbacks.EarlyStopping(monitor="score", patience=2, restore_best_weights=True, mode="min")
    h = m.fit(x, y, epochs=7, verbose=0, callbacks=[score, es])
    assert h.epoch == [0, 1, 2, 3] and es.stopped_epoch == 3 and es.best_epoch == 1
    for got, want in zip(m.get_weights(), score.weights[1]):
        np.testing.assert_array_equal(got, want)
    assert not np.allclose(score.weights[3][0], score.weights[1][0])


def test_early_stopping_modes_and_start_epoch():
    x, y = data()
    m = small_model()
    es = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=0, start_from_epoch=3)
    m.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[es])
    assert es._max  # 'auto' watches accuracies for a maximum (known once the metrics are built)
    Score_ = Score([0.0] * 10)
    h = m.fit(x, y, epochs=10, verbose=0, validation_data=(x, y),
              callbacks=[Score_, keras.callbacks.EarlyStopping(monitor="score", patience=1, mode="max", start_from_epoch=3)])
    assert len(h.epoch) == 5  # watched from epoch 3: 3 sets best, 4 does not improve -> stop


def test_model_checkpoint_saves_best_only(tmp_path):
    x, y = data()
    m = small_model()
    path = os.path.join(tmp_path, "ck-{epoch:02d}-{score:.2f}.keras")
    ck = keras.callbacks.ModelCheckpoint(path, monitor="score", save_best_only=True, mode="min")
    m.fit(x, y, epochs=5, verbose=0, callbacks=[Score([3.0, 1.0, 2.0, 0.5, 0.7]), ck])
    assert sorted(os.listdir(tmp_path)) == ["ck-01-3.00.keras", "ck-02-1.00.keras", "ck-04-0.50.keras"]
    best = keras.models.load_model(tmp_path / "ck-04-0.50.keras")
    assert best.count_params() == m.count_params()
    wpath = str(tmp_path / "w.weights.h5")
    m.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.ModelCheckpoint(wpath, save_weights_only=True)])
    m2 = small_model()
    m2.load_weights(wpath)
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    with pytest.raises(ValueError, match=".keras"):
        keras.callbacks.ModelCheckpoint(str(tmp_path / "m.h5"))


def test_csv_logger_rows(tmp_path):
    x, y = data()
    m = small_model()
    path = tmp_path / "log.csv"
    m.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[keras.callbacks.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert all(0 <= float(r[1]) <= 1 for r in rows[1:])
    m.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[keras.callbacks.CSVLogger(path, append=True)])
    assert len(list(csv.reader(open(path)))) == 6


def test_learning_rate_scheduler_changes_lr():
    x, y = data()
    m = small_model(lr=0.1)
    seen = []
    cb = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(m.optimizer._opt.param_groups[0]["lr"]))
    sched = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    h = m.fit(x, y, epochs=4, verbose=0, callbacks=[sched, cb])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert seen == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert float(m.optimizer.learning_rate) == pytest.approx(0.0125)


def test_reduce_lr_on_plateau():
    x, y = data()
    m = small_model(lr=0.1)
    cb = keras.callbacks.ReduceLROnPlateau(monitor="score", factor=0.5, patience=1, min_lr=0.03, mode="min")
    h = m.fit(x, y, epochs=5, verbose=0, callbacks=[Score([1.0, 1.0, 1.0, 1.0, 1.0]), cb])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.03, 0.03])  # logged before the cut, as Keras


def test_terminate_on_nan_stops_at_once():
    x, y = data()
    x[40:] = np.nan
    m = small_model()
    batches = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    h = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
              callbacks=[keras.callbacks.TerminateOnNaN(), cb])
    assert batches == [0, 1, 2, 3, 4, 5] and h.epoch == [0] and m.stop_training


def test_step_logs_only_when_read_and_same_epoch_logs():
    # With no per-batch callback fit reads the metrics once per epoch; with one, every step's
    # running logs are there. The epoch's logs are the same either way.
    x, y = data()
    quiet = small_model().fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    steps = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(dict(logs)))
    heard = small_model().fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[cb]).history
    assert quiet == heard and all(type(v) is float for v in quiet["accuracy"] + quiet["loss"])
    assert len(steps) == 16 and all(set(s) == {"accuracy", "loss"} for s in steps)
    assert steps[-1]["loss"] == pytest.approx(heard["loss"][-1])
    assert steps[-1]["accuracy"] == pytest.approx(heard["accuracy"][-1])
    assert all(type(v) is float for s in steps for v in s.values())

    class Mine(keras.Sequential):  # an overriding train_step still gets the logs from super()
        def train_step(self, data):
            logs = super().train_step(data)
            return {**logs, "twice": 2 * logs["loss"]}

    m = Mine([keras.Input((4,)), layers.Dense(2, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, batch_size=8, verbose=0).history
    assert h["twice"][0] == pytest.approx(2 * h["loss"][0])
    assert type(h["accuracy"][0]) is float


def test_plot_history_png(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = data()
    m = small_model()
    h = m.fit(x, y, epochs=2, verbose=0, validation_split=0.25)
    out = keras.utils.plot_history(h, tmp_path / "h.png")
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_ops_random_and_utils():
    from nerve.keras import ops

    x = ops.convert_to_tensor([[1, 2], [3, 4]])
    rand = keras.random.normal((2, 2), seed=7)
    res = rand + ops.ones((2, 2)) * x
    np.testing.assert_allclose(ops.convert_to_numpy(res), ops.convert_to_numpy(rand) + np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(ops.convert_to_numpy(keras.random.normal((3,), seed=7)),
                                  ops.convert_to_numpy(keras.random.normal((3,), seed=7)))
    assert ops.convert_to_numpy(ops.zeros((2, 3))).sum() == 0
    assert ops.shape(ops.matmul(ops.ones((2, 3)), ops.ones((3, 4)))) == (2, 4)
    np.testing.assert_allclose(ops.convert_to_numpy(ops.mean(ops.convert_to_tensor([1.0, 3.0]))), 2.0)
    assert int(ops.convert_to_numpy(ops.argmax(ops.convert_to_tensor([0.1, 0.7, 0.2])))) == 1
    s = ops.convert_to_numpy(ops.softmax(ops.convert_to_tensor([[1.0, 2.0, 3.0]])))
    np.testing.assert_allclose(s.sum(), 1.0, rtol=1e-6)
    u = ops.convert_to_numpy(keras.random.uniform((1000,), minval=2, maxval=3, seed=1))
    assert u.min() >= 2 and u.max() < 3
    r = ops.convert_to_numpy(keras.random.randint((100,), 0, 5, seed=1))
    assert r.min() >= 0 and r.max() < 5
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1], 3), np.eye(3, dtype="float32")[[0, 2, 1]])
    keras.utils.set_random_seed(3)
    a = keras.random.normal((4,))
    keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(keras.random.normal((4,))))


def test_optimizer_defaults_like_keras():
    from nerve.keras import optimizers as o

    assert float(o.SGD().learning_rate) == pytest.approx(0.01)
    adam = o.Adam()
    assert float(adam.learning_rate) == pytest.approx(0.001) and adam.epsilon == 1e-7
    rms = o.RMSprop()
    assert float(rms.learning_rate) == pytest.approx(0.001) and rms.rho == 0.9
    ada = o.Adagrad()
    assert float(ada.learning_rate) == pytest.approx(0.001) and ada.initial_accumulator_value == 0.1
    dl = o.Adadelta()
    assert float(dl.learning_rate) == pytest.approx(0.001) and dl.rho == 0.95
    assert o.AdamW().weight_decay == 0.004
    for name in ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"]:
        x, y = data()
        m = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="softmax")])
        m.compile(name, "sparse_categorical_crossentropy")
        before = m.get_weights()[0].copy()
        m.fit(x, y, epochs=1, verbose=0)
        assert not np.allclose(before, m.get_weights()[0]), name
