"""``keras.utils.PyDataset`` and Python generators in fit / evaluate / predict, against Keras 3
(torch backend): the same model (Keras's weights copied) gives the same history; the order of
``__getitem__`` indices and of ``on_epoch_begin`` / ``on_epoch_end`` calls, and the batches a
generator gives up, are Keras's; Keras's errors and warnings by message.

Skipped where Keras 3 is not installed.
"""

import random
import threading
import warnings

import numpy as np
import pytest
from _keras_compare import K, fresh

from nerve import keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 4)).astype("float32")
Y = RNG.integers(0, 3, size=20).astype("int64")
XV = RNG.normal(size=(8, 4)).astype("float32")
YV = RNG.integers(0, 3, size=8).astype("int64")


@pytest.fixture(autouse=True)
def _fresh():
    fresh(clear_keras=False)
    yield


def dataset(lib, log, tag="t", x=X, y=Y, batch=4, out="xy", workers=1, **kwargs):
    """A PyDataset of ``lib`` whose hooks and ``__getitem__`` calls are written to ``log``."""

    class Batches(lib.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers, **kwargs)

        def __len__(self):
            return -(-len(x) // batch)

        def __getitem__(self, i):
            log.append((tag, i))
            xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
            if out == "x":
                return xb
            if out == "xyw":
                return xb, yb, np.linspace(0.5, 1.5, len(xb)).astype("float32")
            return xb, yb

        def on_epoch_begin(self):
            log.append((tag, "begin"))

        def on_epoch_end(self):
            log.append((tag, "end"))

    return Batches()


def endless(lib, log):
    """A PyDataset with no length (``num_batches`` None) that cycles through the 5 batches of X."""

    class Endless(lib.utils.PyDataset):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, i):
            log.append(i)
            j = i % 5
            return X[j * 4:(j + 1) * 4], Y[j * 4:(j + 1) * 4]

    return Endless()


def generator(log, n, tag="g", x=X, y=Y, only_x=False):
    for i in range(n):
        log.append((tag, i))
        j = i % (len(x) // 4)
        xb, yb = x[j * 4:(j + 1) * 4], y[j * 4:(j + 1) * 4]
        yield (xb,) if only_x else (xb, yb)


def mlp(k, L):
    return k.Sequential([k.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])


def models():
    """The same compiled model in Keras and in nerve.keras (Keras's weights copied).

    (Not ``both``: its ``clear_session`` collects garbage, 0.3 s a test, for layer names these
    tests do not look at.)"""
    theirs, ours = mlp(K, K.layers), mlp(keras, keras.layers)
    ours.set_weights(theirs.get_weights())
    for lib, m in ((K, theirs), (keras, ours)):
        m.compile(lib.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return theirs, ours


def run(fn):
    """``fn()``'s result and the messages of the warnings it gave (NumPy's and torch's left out)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if "__array__" not in str(w.message)]


def assert_history(got, want):
    assert sorted(got.history) == sorted(want.history)
    for key in want.history:
        np.testing.assert_allclose(got.history[key], want.history[key], rtol=1e-5, atol=1e-6, err_msg=key)


def in_both(theirs, ours, call):
    """``call(model, library, log)`` on both; returns (Keras's, ours) as (result, log, warnings)."""
    out = []
    for lib, m in ((K, theirs), (keras, ours)):
        log = []
        result, caught = run(lambda: call(m, lib, log))
        out.append((result, log, caught))
    return out


# ------------------------------------------------------------------------- PyDataset itself
def test_pydataset_arguments_properties_and_sequence_alias():
    assert keras.utils.Sequence is keras.utils.PyDataset
    ds = dataset(keras, [], workers=3, use_multiprocessing=True, max_queue_size=4)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (3, True, 4)
    ds.workers = 2
    assert ds.workers == 2
    assert [xb.shape[0] for xb, _ in ds] == [4] * 5  # iterating by hand walks the batches in order
    for lib in (K, keras):
        with pytest.raises(TypeError, match="unexpected keyword argument 'shuffle'"):
            dataset(lib, [], shuffle=True)

    class NoSuper(keras.utils.PyDataset):
        def __init__(self):
            self.size = 5

    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        assert NoSuper().workers == 1

    class NoLength(keras.utils.PyDataset):
        def __getitem__(self, i):
            return X, Y

    with pytest.raises(NotImplementedError, match="You need to implement the `num_batches` property"):
        NoLength().num_batches


# ------------------------------------------------------------------------- fit / evaluate / predict vs Keras
def test_fit_evaluate_predict_on_pydataset_match_keras():
    theirs, ours = models()

    def fit(m, lib, log):
        return m.fit(dataset(lib, log), epochs=2, shuffle=False, verbose=0,
                     validation_data=dataset(lib, log, "v", XV, YV))

    (hk, log_k, _), (ho, log_o, _) = in_both(theirs, ours, fit)
    assert_history(ho, hk)
    # one batch taken to build the metrics, a reset (on_epoch_end), then the epochs; each
    # validation starts with a reset too
    assert log_o == log_k
    assert log_o[:6] == [("t", "begin"), ("t", 0), ("t", "end"), ("t", "begin"), ("t", 0), ("t", 1)]
    # a second fit: no batch taken to build, only the reset
    (hk, log_k, _), (ho, log_o, _) = in_both(theirs, ours, fit)
    assert_history(ho, hk)
    assert log_o == log_k and log_o[:2] == [("t", "end"), ("t", "begin")]

    def evaluate(m, lib, log):
        return m.evaluate(dataset(lib, log), verbose=0, return_dict=True)

    (rk, log_k, _), (ro, log_o, _) = in_both(theirs, ours, evaluate)
    assert log_o == log_k
    for key in rk:
        np.testing.assert_allclose(ro[key], rk[key], rtol=1e-5)

    def predict(m, lib, log):
        return m.predict(dataset(lib, log, out="x"), verbose=0)

    (pk, log_k, _), (po, log_o, _) = in_both(theirs, ours, predict)
    assert log_o == log_k == [("t", "begin")] + [("t", i) for i in range(5)] + [("t", "end")]
    np.testing.assert_allclose(po, pk, rtol=1e-5, atol=1e-6)
    (p2, _, _) = in_both(theirs, ours, lambda m, lib, log: m.predict(dataset(lib, log), verbose=0))[1]
    np.testing.assert_allclose(p2, pk, rtol=1e-5, atol=1e-6)  # (x, y) batches: predict takes x


def test_evaluate_first_after_compile_and_steps_match_keras():
    theirs, ours = models()

    def evaluate(m, lib, log):
        first = m.evaluate(dataset(lib, log), verbose=0)
        second = m.evaluate(dataset(lib, log), steps=2, verbose=0)
        return first + second

    (rk, log_k, _), (ro, log_o, _) = in_both(theirs, ours, evaluate)
    np.testing.assert_allclose(ro, rk, rtol=1e-5)
    assert log_o == log_k
    assert log_o[-5:] == [("t", "end"), ("t", "begin"), ("t", 0), ("t", 1), ("t", "end")]


def test_shuffle_draws_keras_batch_orders():
    theirs, ours = models()

    def fit(m, lib, log):
        random.seed(7)  # Keras shuffles a PyDataset's batch order with Python's random
        return m.fit(dataset(lib, log), epochs=3, shuffle=True, verbose=0)

    (hk, log_k, _), (ho, log_o, _) = in_both(theirs, ours, fit)
    assert log_o == log_k
    assert_history(ho, hk)
    epochs, current = [], None
    for tag, event in log_o[3:]:  # after the batch taken to build
        if event == "begin":
            current = []
        elif event == "end":
            epochs.append(current)
        else:
            current.append(event)
    assert len(epochs) == 3 and all(sorted(e) == list(range(5)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


@pytest.mark.parametrize("steps", [3, 7])
def test_steps_per_epoch_on_pydataset_matches_keras(steps):
    theirs, ours = models()

    def fit(m, lib, log):
        return m.fit(dataset(lib, log), epochs=3, steps_per_epoch=steps, shuffle=False, verbose=0)

    (hk, log_k, warn_k), (ho, log_o, warn_o) = in_both(theirs, ours, fit)
    assert_history(ho, hk)
    assert log_o == log_k
    assert warn_o == warn_k and warn_o and all(w.startswith("Your input ran out of data") for w in warn_o)
    batches = [e for _, e in log_o[3:] if isinstance(e, int)]
    # 3 of 5 batches: the pass goes on across epochs (0-2, then 3-4, then 0-2); 7: whole passes
    assert batches == ([0, 1, 2, 3, 4, 0, 1, 2] if steps == 3 else [0, 1, 2, 3, 4] * 3)


def test_endless_pydataset_with_steps_per_epoch_matches_keras():
    theirs, ours = models()

    def fit(m, lib, log):
        return m.fit(endless(lib, log), epochs=2, steps_per_epoch=3, verbose=0)

    (hk, log_k, warn_k), (ho, log_o, warn_o) = in_both(theirs, ours, fit)
    assert_history(ho, hk)
    assert log_o == log_k == [0, 0, 1, 2, 3, 4, 5]
    assert warn_o == warn_k == ["`shuffle=True` was passed, but will be ignored since the data `x` was provided as an "
                                "infinite PyDataset. The PyDataset is expected to already be shuffled."]


def test_validation_steps_and_sample_weights_match_keras():
    theirs, ours = models()

    def fit(m, lib, log):
        return m.fit(dataset(lib, log, out="xyw"), epochs=2, shuffle=False, verbose=0,
                     validation_data=dataset(lib, log, "v", XV, YV), validation_steps=1)

    (hk, log_k, _), (ho, log_o, _) = in_both(theirs, ours, fit)
    assert_history(ho, hk)  # the loss weighted, `metrics=["accuracy"]` not (as Keras 3)
    assert log_o == log_k
    assert [e for t, e in log_o if t == "v" and isinstance(e, int)] == [0, 0]


def test_class_weight_on_pydataset_matches_keras():
    theirs, ours = models()
    weights = {0: 0.5, 1: 2.0}  # class 2 not listed: weight 1

    def fit(m, lib, log):
        return m.fit(dataset(lib, log), class_weight=weights, epochs=2, shuffle=False, verbose=0)

    (hk, _, _), (ho, _, _) = in_both(theirs, ours, fit)
    assert_history(ho, hk)


def test_workers_fetch_ahead_on_threads_and_give_the_same_history():
    histories, threads = [], []
    for workers, multi in ((1, False), (2, False), (3, True)):
        fresh(clear_keras=False)
        _, ours = models()
        log, names = [], set()

        class Watched(type(dataset(keras, log, workers=workers, use_multiprocessing=multi))):
            def __getitem__(self, i):
                names.add(threading.current_thread().name)
                return super().__getitem__(i)

        ds = Watched()
        h = ours.fit(ds, epochs=2, steps_per_epoch=3, shuffle=False, verbose=0,
                     validation_data=dataset(keras, log, "v", XV, YV, workers=workers))
        histories.append(h)
        threads.append(names)
        # batches are fetched (ahead or not) only between an on_epoch_begin and its on_epoch_end,
        # so a hook that changes the data between epochs is seen as with workers=1
        events = [e for t, e in log if t == "t"]
        assert events[:3] == ["begin", 0, "end"]  # the batch taken to build: nothing fetched ahead
        inside = False
        for e in events:
            assert e in ("begin", "end") or inside
            inside = e == "begin" or (inside and e != "end")
        if workers == 1:
            assert events == ["begin", 0, "end", "begin", 0, 1, 2, "end", "begin", 3, 4, "end"]
    for h in histories[1:]:
        assert_history(h, histories[0])
    assert threads[0] == {"MainThread"}
    assert all(any(name.startswith("PyDataset") for name in n) for n in threads[1:])


def test_workers_propagate_errors_from_getitem():
    _, ours = models()

    class Broken(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=2)

        def __len__(self):
            return 5

        def __getitem__(self, i):
            if i == 3:
                raise KeyError("batch 3 is missing")
            return X[:4], Y[:4]

    with pytest.raises(KeyError, match="batch 3 is missing"):
        ours.fit(Broken(), epochs=1, shuffle=False, verbose=0)


# ------------------------------------------------------------------------- generators vs Keras
@pytest.mark.parametrize("n,epochs", [(10, 2), (5, 3)])
def test_generator_with_steps_per_epoch_matches_keras(n, epochs):
    theirs, ours = models()

    def fit(m, lib, log):
        return m.fit(generator(log, n), steps_per_epoch=3, epochs=epochs, verbose=0)

    (hk, log_k, warn_k), (ho, log_o, warn_o) = in_both(theirs, ours, fit)
    assert_history(ho, hk)
    assert log_o == log_k == [("g", i) for i in range(min(n, 3 * epochs))]
    assert warn_o == warn_k
    assert warn_o[0].startswith("`shuffle=True` was passed, but will be ignored since the data `x` was provided as "
                                "a generator.")
    # 5 batches, 3 per epoch: the second epoch runs out after 2; the third gets the two batches
    # kept when the generator was first looked at (as Keras)
    assert sum(w.startswith("Your input ran out of data") for w in warn_o) == (0 if n == 10 else 2)


def test_generator_validation_evaluate_predict_match_keras():
    theirs, ours = models()

    def fit(m, lib, log):
        return m.fit(generator(log, 10), steps_per_epoch=3, epochs=2, verbose=0, shuffle=False,
                     validation_data=generator(log, 2, "v", XV, YV), validation_steps=2)

    (hk, log_k, _), (ho, log_o, _) = in_both(theirs, ours, fit)
    assert_history(ho, hk)
    assert log_o == log_k

    def evaluate(m, lib, log):
        return m.evaluate(generator(log, 10), steps=3, verbose=0)

    (rk, log_k, warn_k), (ro, log_o, warn_o) = in_both(theirs, ours, evaluate)
    np.testing.assert_allclose(ro, rk, rtol=1e-5)
    assert log_o == log_k == [("g", i) for i in range(3)] and warn_o == warn_k == []

    def predict(m, lib, log):
        return m.predict(generator(log, 5, only_x=True), verbose=0)

    (pk, log_k, warn_k), (po, log_o, warn_o) = in_both(theirs, ours, predict)
    np.testing.assert_allclose(po, pk, rtol=1e-5, atol=1e-6)
    assert po.shape == (20, 3) and log_o == log_k
    assert len(warn_o) == len(warn_k) == 1 and warn_o[0].startswith("Your input ran out of data")

    (pk, _, _), (po, _, _) = in_both(theirs, ours, lambda m, lib, log: m.predict(generator(log, 5), steps=2,
                                                                                  verbose=0))
    np.testing.assert_allclose(po, pk, rtol=1e-5, atol=1e-6)
    assert po.shape == (8, 3)


# ------------------------------------------------------------------------- errors, as Keras's
def keras_and_our_errors(call):
    theirs, ours = models()
    messages = []
    for lib, m in ((K, theirs), (keras, ours)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ValueError) as err:
                call(m, lib)
        messages.append(str(err.value))
    return messages


@pytest.mark.parametrize("call", [
    lambda m, lib: m.fit(dataset(lib, []), Y, verbose=0),
    lambda m, lib: m.evaluate(dataset(lib, []), Y, verbose=0),
    lambda m, lib: m.fit(dataset(lib, []), sample_weight=np.ones(20), verbose=0),
    lambda m, lib: m.fit(dataset(lib, [], out="xyw"), class_weight={0: 2.0}, verbose=0),
    lambda m, lib: m.fit(generator([], 5), Y, verbose=0),
    lambda m, lib: m.fit(generator([], 5), class_weight={0: 2.0}, verbose=0),
    lambda m, lib: m.fit(generator([], 0), verbose=0),
    lambda m, lib: m.fit(dataset(lib, []), validation_split=0.2, verbose=0),
], ids=["y", "evaluate-y", "sample_weight", "class_weight-and-sample_weight", "generator-y",
        "generator-class_weight", "empty-generator", "validation_split"])
def test_errors_are_keras_messages(call):
    theirs, ours = keras_and_our_errors(call)
    theirs = theirs.replace("<class 'test_keras_pydataset.dataset.<locals>.Batches'>", "CLASS")
    ours = ours.replace("<class 'test_keras_pydataset.dataset.<locals>.Batches'>", "CLASS")
    assert ours == theirs


@pytest.mark.parametrize("call", [
    lambda m, lib: m.fit((x for x in [X[:4], X[4:8]]), verbose=0),
    lambda m, lib: m.predict((x for x in [X[:4], X[4:8]]), verbose=0),
], ids=["fit", "predict"])
def test_generator_of_bare_arrays_is_keras_error(call):
    theirs, ours = keras_and_our_errors(call)
    head = "When passing a Python generator to a Keras model, the generator must return a tuple"
    assert theirs.startswith(head) and ours.startswith(head)


@pytest.mark.parametrize("value", ["hello", (X[:4], Y[:4], Y[:4], Y[:4])])
def test_bad_getitem_is_keras_error(value):
    def call(m, lib):
        class Bad(lib.utils.PyDataset):
            def __len__(self):
                return 2

            def __getitem__(self, i):
                return value

        m.fit(Bad(), verbose=0)

    theirs, ours = keras_and_our_errors(call)
    head = "PyDataset.__getitem__() must return a tuple or a dict. If a tuple, it must be ordered either (input,)"
    assert theirs.startswith(head) and ours.startswith(head)
    assert theirs.splitlines()[0][:160] == ours.splitlines()[0][:160]


def test_batch_size_with_a_pydataset_is_ignored_as_in_keras():
    theirs, ours = models()

    def fit(m, lib, log):
        return m.fit(dataset(lib, log), batch_size=3, shuffle=False, verbose=0)

    (hk, log_k, warn_k), (ho, log_o, warn_o) = in_both(theirs, ours, fit)
    assert_history(ho, hk)
    assert log_o == log_k and warn_o == warn_k == []
