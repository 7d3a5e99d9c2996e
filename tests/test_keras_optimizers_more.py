"""Keras 3's Adamax, Nadam, Lion, Ftrl and Lamb in nerve.keras against Keras 3 (torch backend): the
same fit from the same initial weights gives the same weights, with their options, a schedule and
the base optimizer's extras; configs, string names, and their state saved in ``.keras`` files."""

import warnings

import numpy as np
import pytest
from _keras_compare import K, keras, summary_of

RNG = np.random.default_rng(0)
X = RNG.normal(size=(48, 6)).astype("float32")
Y = RNG.normal(size=(48, 3)).astype("float32")

CASES = [
    ("Adamax", {"learning_rate": 0.02}),
    ("Adamax", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.02, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 1e-4}),
    ("Lion", {"learning_rate": 0.003}),
    ("Lion", {"learning_rate": 0.002, "beta_1": 0.5, "beta_2": 0.9}),
    ("Ftrl", {"learning_rate": 0.2}),
    ("Ftrl", {"learning_rate": 0.3, "learning_rate_power": -0.7, "initial_accumulator_value": 0.3,
              "l1_regularization_strength": 0.001, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.03, "beta": 0.5}),
    ("Ftrl", {"learning_rate": 0.3, "learning_rate_power": 0.0, "l1_regularization_strength": 0.05}),
    ("Lamb", {"learning_rate": 0.01}),
    ("Lamb", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5}),
]
NAMES = ["Adamax", "Nadam", "Lion", "Ftrl", "Lamb"]


def mlp(lib, L):
    return lib.Sequential([L.Input((6,)), L.Dense(8, activation="tanh"), L.Dense(3)])


def both(build):
    """The model in Keras and in nerve, Keras's initial weights copied into nerve's (no fresh
    sessions: Keras's clear_session costs a garbage collection, and no test here compares names)."""
    theirs, ours = build(K, K.layers), build(keras, keras.layers)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def fit_both(opt_name, kwargs, epochs=2, make_kwargs=None):
    """Fit the same MLP with the optimizer in both libraries (12+ steps); the losses and weights agree
    after each epoch. Returns (Keras's model, nerve's model, initial weights)."""
    theirs, ours = both(mlp)
    initial = theirs.get_weights()
    make = make_kwargs or (lambda lib: kwargs)
    theirs.compile(optimizer=getattr(K.optimizers, opt_name)(**make(K)), loss="mse")
    ours.compile(optimizer=getattr(keras.optimizers, opt_name)(**make(keras)), loss="mse")
    for _ in range(epochs):
        h_theirs = theirs.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        h_ours = ours.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5, atol=1e-6)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations)
    return theirs, ours, initial


def moved(model, initial):
    return max(float(np.abs(w - w0).max()) for w, w0 in zip(model.get_weights(), initial))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] + "-" + "-".join(sorted(c[1]))[:40])
def test_fit_matches_keras(case):
    _, ours, initial = fit_both(*case)
    assert moved(ours, initial) > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_fit_with_a_schedule_matches_keras(name):
    def make(lib):
        lr = 0.2 if name == "Ftrl" else 0.01
        return {"learning_rate": lib.optimizers.schedules.ExponentialDecay(lr, decay_steps=3, decay_rate=0.5)}

    theirs, ours, _ = fit_both(name, None, make_kwargs=make)
    np.testing.assert_allclose(float(ours.optimizer.learning_rate), float(theirs.optimizer.learning_rate),
                               rtol=1e-6)


EXTRAS = [
    {"weight_decay": 0.05},
    {"clipnorm": 0.05},
    {"clipvalue": 0.01},
    {"global_clipnorm": 0.05},
    {"use_ema": True, "ema_momentum": 0.9},
    {"use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 3},
    {"gradient_accumulation_steps": 3},
]


@pytest.mark.parametrize("extra", EXTRAS, ids=lambda e: "-".join(e))
@pytest.mark.parametrize("name", NAMES)
def test_base_optimizer_options_match_keras(name, extra):
    lr = 0.2 if name == "Ftrl" else 0.01
    _, ours, initial = fit_both(name, {"learning_rate": lr, **extra}, epochs=1)
    assert moved(ours, initial) > 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_apply_gradients_on_variables_matches_keras(name):
    rng = np.random.default_rng(1)
    start = [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(12)]
    results = []
    for lib in (K, keras):
        variables = [lib.Variable(w) for w in start]
        opt = getattr(lib.optimizers, name)(learning_rate=0.05)
        for step in grads:
            opt.apply_gradients(zip([lib.ops.convert_to_tensor(g) for g in step], variables))
        results.append([np.asarray(lib.ops.convert_to_numpy(v)) for v in variables])
        assert int(opt.iterations) == 12
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] + "-" + "-".join(sorted(c[1]))[:40])
def test_config_matches_keras_and_round_trips(case):
    name, kwargs = case
    theirs = getattr(K.optimizers, name)(**kwargs)
    ours = getattr(keras.optimizers, name)(**kwargs)
    assert ours.get_config() | {"name": None} == theirs.get_config() | {"name": None}
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()
    rebuilt = keras.optimizers.get(keras.optimizers.serialize(ours))
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()


def test_defaults_and_string_names_match_keras():
    for name in NAMES:
        ours, theirs = getattr(keras.optimizers, name)(), getattr(K.optimizers, name)()
        assert ours.get_config() | {"name": None} == theirs.get_config() | {"name": None}
    for name in ("adamax", "nadam", "lion", "ftrl", "Nadam"):
        assert type(keras.optimizers.get(name)).__name__ == type(K.optimizers.get(name)).__name__
        theirs, ours = both(mlp)
        theirs.compile(optimizer=name, loss="mse")
        ours.compile(optimizer=name, loss="mse")
        assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__
        assert ours.optimizer.get_config() | {"name": None} == theirs.optimizer.get_config() | {"name": None}
    for name in ("nadam", "Lion", "FTRL"):  # a config's class name, in any case
        config = {"class_name": name, "config": {"learning_rate": 0.5}}
        theirs, ours = K.optimizers.get(dict(config)), keras.optimizers.get(dict(config))
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.get_config() | {"name": None} == theirs.get_config() | {"name": None}
    for lib in (K, keras):  # Keras knows no "lamb" by name
        with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
            lib.optimizers.get("lamb")


def test_invalid_arguments_raise_as_keras():
    for name, kwargs in (("Lion", {"beta_1": 0.0}), ("Lion", {"beta_1": 1.5}),
                         ("Ftrl", {"learning_rate_power": 0.5}), ("Ftrl", {"initial_accumulator_value": -1.0}),
                         ("Ftrl", {"l1_regularization_strength": -1.0}), ("Ftrl", {"l2_regularization_strength": -1}),
                         ("Ftrl", {"l2_shrinkage_regularization_strength": -0.1})):
        with pytest.raises(ValueError) as theirs:
            getattr(K.optimizers, name)(**kwargs)
        with pytest.raises(ValueError) as ours:
            getattr(keras.optimizers, name)(**kwargs)
        assert str(ours.value) == str(theirs.value)


def trained(lib, name, kwargs, steps=3):
    lib.utils.set_random_seed(4)
    model = mlp(lib, lib.layers)
    model.compile(optimizer=getattr(lib.optimizers, name)(**kwargs), loss="mse")
    for i in range(steps):
        model.train_on_batch(X[i * 8:(i + 1) * 8], Y[i * 8:(i + 1) * 8])
    return model


SAVE_CASES = [("Adamax", {"learning_rate": 0.02}), ("Nadam", {"learning_rate": 0.02}),
              ("Lion", {"learning_rate": 0.003}),
              ("Ftrl", {"learning_rate": 0.3, "l1_regularization_strength": 0.001, "beta": 0.5}),
              ("Lamb", {"learning_rate": 0.02})]


@pytest.mark.parametrize("case", SAVE_CASES, ids=lambda c: c[0])
def test_training_resumes_from_nerve_s_keras_file(tmp_path, case):
    ours = trained(keras, *case)
    ours.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert type(again.optimizer) is type(ours.optimizer)
    assert again.optimizer.get_config() == ours.optimizer.get_config()
    assert again.optimizer.iterations == ours.optimizer.iterations == 3
    for model in (ours, again):
        model.train_on_batch(X[24:32], Y[24:32])
    for a, b in zip(again.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", SAVE_CASES, ids=lambda c: c[0])
def test_training_goes_on_in_the_other_library_with_the_optimizer_s_state(tmp_path, case):
    """Trained in one library, saved, loaded in the other: the next steps are the steps the first
    library takes (the optimizer's variables travel in Keras's layout, none skipped)."""
    for source, target in ((K, keras), (keras, K)):
        model = trained(source, *case)
        model.save(tmp_path / "trained.keras")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = target.models.load_model(tmp_path / "trained.keras")
        assert type(loaded.optimizer).__name__ == case[0]
        assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 3
        assert summary_of(loaded) == summary_of(model)  # the optimizer's params counted alike
        for i in range(3, 5):
            model.train_on_batch(X[i * 8:(i + 1) * 8], Y[i * 8:(i + 1) * 8])
            loaded.train_on_batch(X[i * 8:(i + 1) * 8], Y[i * 8:(i + 1) * 8])
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


SCHEDULES = [
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "power": 2.0}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "end_learning_rate": 0.01, "power": 0.5,
                         "cycle": True}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 4}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 3, "t_mul": 1.0, "m_mul": 0.5,
                             "alpha": 0.1}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.3, "first_decay_steps": 5, "t_mul": 1.5, "m_mul": 0.8,
                             "alpha": 0.05}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.3, "first_decay_steps": 1, "t_mul": 3.0}),
]


@pytest.mark.parametrize("case", SCHEDULES, ids=lambda c: c[0] + "-" + "-".join(sorted(c[1]))[:40])
def test_schedule_values_and_config_match_keras(case):
    name, kwargs = case
    theirs = getattr(K.optimizers.schedules, name)(**kwargs)
    ours = getattr(keras.optimizers.schedules, name)(**kwargs)
    steps = range(400)
    want = np.array([float(K.ops.convert_to_numpy(theirs(s))) for s in steps])
    got = np.array([float(ours(s)) for s in steps])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)  # float32 steps of the rate
    assert len(np.unique(np.round(want, 6))) > 5  # the rate does change
    assert ours.get_config() == theirs.get_config()
    again = type(ours)(**ours.get_config())
    np.testing.assert_allclose([again(s) for s in steps], got, rtol=1e-7)
    with pytest.raises(ValueError) as k_err:
        getattr(K.optimizers.schedules, name)(**{**kwargs, list(kwargs)[1]: 0})
    with pytest.raises(ValueError) as n_err:
        getattr(keras.optimizers.schedules, name)(**{**kwargs, list(kwargs)[1]: 0})
    assert str(n_err.value) == str(k_err.value)


@pytest.mark.parametrize("case", [SCHEDULES[2], SCHEDULES[5]], ids=lambda c: c[0])
@pytest.mark.parametrize("opt", ["SGD", "Adam", "Nadam", "Lion"])
def test_schedule_in_fit_matches_keras(case, opt):
    name, kwargs = case

    def make(lib):
        lr = getattr(lib.optimizers.schedules, name)(**{**kwargs, "initial_learning_rate": 0.02})
        return {"learning_rate": lr}

    theirs, ours, _ = fit_both(opt, None, make_kwargs=make)
    np.testing.assert_allclose(float(ours.optimizer.learning_rate), float(theirs.optimizer.learning_rate),
                               rtol=1e-6)
    config = ours.optimizer.get_config()
    assert config["learning_rate"]["class_name"] == name
    rebuilt = type(ours.optimizer).from_config(config)
    assert rebuilt.get_config() == config


LOSS_SCALES = [("Adam", 2.0**15, 3), ("SGD", 2.0**126, 2), ("Nadam", 2.0**127, 4)]  # the last two overflow
# (SGD's scale doubles to 2.0**128, float32's inf, as in Keras: no step is taken after that)


def loss_scaled(lib, inner, initial_scale, growth):
    return lib.optimizers.LossScaleOptimizer(getattr(lib.optimizers, inner)(learning_rate=0.01),
                                             initial_scale=initial_scale, dynamic_growth_steps=growth)


@pytest.mark.parametrize("case", LOSS_SCALES, ids=lambda c: c[0])
def test_loss_scale_optimizer_fit_matches_keras(case):
    """Steps with finite gradients update and count towards doubling the scale; steps that
    overflow update nothing and halve it: the same weights, scale, counter and iterations."""
    theirs, ours = both(mlp)
    theirs.compile(optimizer=loss_scaled(K, *case), loss="mse")
    ours.compile(optimizer=loss_scaled(keras, *case), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow in the scaled backward
        h_theirs = theirs.fit(X * 3, Y * 3, batch_size=8, epochs=2, shuffle=False, verbose=0)
        h_ours = ours.fit(X * 3, Y * 3, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)
    t_opt, o_opt = theirs.optimizer, ours.optimizer
    assert float(o_opt.dynamic_scale) == float(t_opt.dynamic_scale)
    assert int(o_opt.step_counter) == int(t_opt.step_counter)
    assert int(o_opt.iterations) == int(t_opt.iterations)
    if case[1] > 2.0**100:
        assert int(o_opt.iterations) < 12  # some steps were skipped
    np.testing.assert_allclose(float(o_opt.learning_rate), float(t_opt.learning_rate))


def test_loss_scale_optimizer_config_names_and_errors_match_keras():
    theirs, ours = loss_scaled(K, "Adam", 8.0, 5), loss_scaled(keras, "Adam", 8.0, 5)
    t_config, o_config = theirs.get_config(), ours.get_config()
    assert {k: v for k, v in o_config.items() if k not in ("inner_optimizer", "name")} == \
        {k: v for k, v in t_config.items() if k not in ("inner_optimizer", "name")}
    assert o_config["name"] == "loss_scale_optimizer" and t_config["name"].startswith("loss_scale_optimizer")
    assert o_config["inner_optimizer"]["class_name"] == t_config["inner_optimizer"]["class_name"]
    inner_theirs, inner_ours = t_config["inner_optimizer"]["config"], o_config["inner_optimizer"]["config"]
    assert inner_ours | {"name": None} == inner_theirs | {"name": None}
    again = keras.optimizers.LossScaleOptimizer.from_config(o_config)
    assert again.get_config() == o_config
    assert type(again.inner_optimizer).__name__ == "Adam"
    for kwargs in ({"dynamic": False}, {"clipnorm": 1.0}, {"foo": 1}):
        with pytest.raises(ValueError) as k_err:
            K.optimizers.LossScaleOptimizer(K.optimizers.SGD(), **kwargs)
        with pytest.raises(ValueError) as n_err:
            keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), **kwargs)
        assert str(n_err.value) == str(k_err.value)


def test_loss_scale_factor_scales_the_loss_and_unscales_the_gradients():
    def make(lib):
        return {"learning_rate": 0.01, "loss_scale_factor": 64.0}

    theirs, ours, initial = fit_both("Lion", None, make_kwargs=make)
    assert moved(ours, initial) > 1e-3
    assert ours.optimizer.get_config()["loss_scale_factor"] == theirs.optimizer.get_config()["loss_scale_factor"]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("case", [LOSS_SCALES[0], LOSS_SCALES[1]], ids=lambda c: c[0])
def test_loss_scale_optimizer_saved_and_loaded_both_ways(tmp_path, case):
    """nerve's own file keeps the scale and the counter; Keras's files and nerve's go across with
    the inner optimizer's state (no variable skipped), and the next steps are the same."""
    ours = mlp(keras, keras.layers)
    ours.compile(optimizer=loss_scaled(keras, *case), loss="mse")
    for i in range(3):
        ours.train_on_batch(X[i * 8:(i + 1) * 8] * 3, Y[i * 8:(i + 1) * 8] * 3)
    ours.save(tmp_path / "n.keras")
    again = keras.models.load_model(tmp_path / "n.keras")
    assert type(again.optimizer) is type(ours.optimizer)
    assert (again.optimizer.dynamic_scale, again.optimizer.step_counter, again.optimizer.iterations) == \
        (ours.optimizer.dynamic_scale, ours.optimizer.step_counter, ours.optimizer.iterations)
    for model in (ours, again):
        model.train_on_batch(X[24:32] * 3, Y[24:32] * 3)
    for a, b in zip(again.get_weights(), ours.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for source, target in ((K, keras), (keras, K)):
        model = mlp(source, source.layers)
        model.compile(optimizer=loss_scaled(source, *case), loss="mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for i in range(3):
                model.train_on_batch(X[i * 8:(i + 1) * 8] * 3, Y[i * 8:(i + 1) * 8] * 3)
        model.save(tmp_path / "trained.keras")
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no optimizer variables skipped
            loaded = target.models.load_model(tmp_path / "trained.keras")
        assert type(loaded.optimizer).__name__ == "LossScaleOptimizer"
        assert summary_of(loaded) == summary_of(model)
        assert float(loaded.optimizer.dynamic_scale) == float(model.optimizer.dynamic_scale)
        assert int(loaded.optimizer.step_counter) == int(model.optimizer.step_counter)
        assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for i in range(3, 5):
                model.train_on_batch(X[i * 8:(i + 1) * 8] * 3, Y[i * 8:(i + 1) * 8] * 3)
                loaded.train_on_batch(X[i * 8:(i + 1) * 8] * 3, Y[i * 8:(i + 1) * 8] * 3)
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
