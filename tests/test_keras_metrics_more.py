"""The rest of Keras 3's metrics in nerve.keras (F-scores, IoUs, R2, the hinges, Poisson, KL divergence,
log-cosh, MSLE, RMSE, cosine similarity, MeanMetricWrapper) and their lower-case functions, against
Keras 3 (torch backend): the same batches through ``update_state`` (with and without sample weights),
the same ``result()``; the same configs, errors and ``fit`` logs."""

import re
import warnings

import numpy as np
import pytest
from _keras_compare import K, both, keras

import nerve


def _numpy(x):
    return x.numpy() if isinstance(x, nerve.Tensor) else K.ops.convert_to_numpy(x)


def run_both(make, data, weighted=True, rtol=1e-5, atol=1e-6):
    """Feed ``data`` (batches of labels, predictions, weights) to ``make(library)`` of each library;
    the same result (a float32 tensor of the same shape) after each of them, and after a reset."""
    metrics = make(K), make(keras)
    theirs, ours = metrics
    for y, p, w in data:
        for m in metrics:
            m.update_state(y, p, sample_weight=w if weighted else None)
        want, got = theirs.result(), ours.result()
        assert isinstance(got, nerve.Tensor) and got.dtype == nerve.float32
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(_numpy(got), _numpy(want), rtol=rtol, atol=atol)
    return theirs, ours


def regression_batches(seed, n=3, size=12, cols=4):
    rng = np.random.default_rng(seed)
    return [(rng.random((size, cols)).astype("float32") * 2, rng.random((size, cols)).astype("float32") * 2,
             rng.random(size).astype("float32")) for _ in range(n)]


def label_batches(seed, n=3, size=12, cols=4, signed=False):
    """0/1 labels (or -1/1 with ``signed``) and scores in (-1, 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = rng.integers(0, 2, (size, cols)).astype("float32")
        out.append((2 * y - 1 if signed else y, (rng.random((size, cols)) * 2 - 1).astype("float32"),
                    rng.random(size).astype("float32")))
    return out


def one_hot_batches(seed, n=3, size=12, classes=4):
    """One-hot labels and softmax-like scores."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = np.eye(classes, dtype="float32")[rng.integers(0, classes, size)]
        p = rng.random((size, classes)).astype("float32")
        out.append((y, p / p.sum(axis=1, keepdims=True), rng.random(size).astype("float32")))
    return out


MEAN_METRICS = {
    "MeanSquaredLogarithmicError": regression_batches, "RootMeanSquaredError": regression_batches,
    "LogCoshError": regression_batches, "Poisson": regression_batches, "CosineSimilarity": regression_batches,
    "KLDivergence": one_hot_batches, "CategoricalHinge": one_hot_batches,
    "Hinge": label_batches, "SquaredHinge": label_batches,
    "PearsonCorrelation": regression_batches, "ConcordanceCorrelation": regression_batches,
}


@pytest.mark.parametrize("name", sorted(MEAN_METRICS))
def test_mean_metrics_equal_keras(name):
    for weighted in (False, True):
        data = MEAN_METRICS[name](len(name) + weighted)
        theirs, ours = run_both(lambda lib: getattr(lib.metrics, name)(), data, weighted)
        assert ours.name == theirs.name
        assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}
        for m in (theirs, ours):
            m.reset_state()
        np.testing.assert_allclose(_numpy(ours.result()), _numpy(theirs.result()))
    # labels already -1/1, and (n,) labels against (n, 1) predictions, as Keras broadcasts them
    if "Hinge" in name:
        run_both(lambda lib: getattr(lib.metrics, name)(), label_batches(1, signed=True))
        y, p, w = label_batches(2, cols=1)[0]
        run_both(lambda lib: getattr(lib.metrics, name)(), [(y[:, 0], p, w)])


def test_cosine_similarity_axis_and_mean_metric_wrapper_equal_keras():
    rng = np.random.default_rng(3)
    data = [(rng.normal(size=(5, 3, 4)).astype("float32"), rng.normal(size=(5, 3, 4)).astype("float32"),
             rng.random(5).astype("float32")) for _ in range(2)]
    run_both(lambda lib: lib.metrics.CosineSimilarity(axis=1), data)
    run_both(lambda lib: lib.metrics.PearsonCorrelation(axis=1), data)
    run_both(lambda lib: lib.metrics.ConcordanceCorrelation(axis=-2), data)
    theirs, ours = run_both(lambda lib: lib.metrics.MeanMetricWrapper(lib.losses.huber, delta=0.3),
                            regression_batches(4))
    # a function of one's own, on NumPy arrays
    run_both(lambda lib: lib.metrics.MeanMetricWrapper(lambda t, p: np.abs(np.asarray(t) - np.asarray(p)).max(-1),
                                                       name="max_error"), regression_batches(5))
    assert ours.name == theirs.name == "mean_metric_wrapper"
    assert keras.metrics.MeanMetricWrapper.from_config(theirs.get_config())._fn is keras.losses.huber
    again = keras.metrics.MeanMetricWrapper.from_config(ours.get_config())
    for y, p, w in regression_batches(4):
        again.update_state(y, p, sample_weight=w)
    np.testing.assert_allclose(_numpy(again.result()), _numpy(ours.result()), rtol=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.4])
def test_f_scores_equal_keras(average, threshold):
    multi = [(y, (p + 1) / 2, w) for y, p, w in label_batches(5, cols=3)]  # multi-label, scores in (0, 1)
    for data in (multi, one_hot_batches(6, classes=3)):
        for weighted in (False, True):
            theirs, ours = run_both(lambda lib: lib.metrics.F1Score(average=average, threshold=threshold),
                                    data, weighted)
            run_both(lambda lib: lib.metrics.FBetaScore(average=average, beta=2.0, threshold=threshold,
                                                        name="f2"), data, weighted)
    assert ours.name == theirs.name == "f1_score"
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}
    assert [v.path for v in ours.variables] == [v.path for v in theirs.variables]
    for m in (theirs, ours):
        m.reset_state()
    np.testing.assert_allclose(_numpy(ours.result()), _numpy(theirs.result()))


def class_id_batches(seed, classes=4, n=3, size=20):
    """Integer class ids (some outside [0, classes)), class scores, and integer weights."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(-1, classes + 1, size), rng.random((size, classes)).astype("float32"),
             rng.integers(0, 3, size)) for _ in range(n)]


IOUS = [
    lambda lib: lib.metrics.IoU(num_classes=4, target_class_ids=[0, 2]),
    lambda lib: lib.metrics.MeanIoU(num_classes=4),
    lambda lib: lib.metrics.MeanIoU(4, ignore_class=1, name="miou"),
    lambda lib: lib.metrics.MeanIoU(4, sparse_y_pred=False),
    lambda lib: lib.metrics.OneHotIoU(num_classes=4, target_class_ids=[1, 3]),
    lambda lib: lib.metrics.OneHotMeanIoU(num_classes=4),
    lambda lib: lib.metrics.OneHotMeanIoU(4, ignore_class=0, sparse_y_pred=True),
]


@pytest.mark.parametrize("index", range(len(IOUS)))
def test_iou_metrics_equal_keras(index):
    make = IOUS[index]
    config, _ = make(K).get_config(), make(keras)  # (one made in each: the default names keep in step)
    data = class_id_batches(7 + index)
    if not config.get("sparse_y_true", False):  # one-hot labels (an id outside the classes: all zeros)
        data = [(np.eye(5, dtype="float32")[y % 5][:, :4], p, w) for y, p, w in data]
    if config.get("sparse_y_pred", False):
        data = [(y, p.argmax(axis=1), w) for y, p, w in data]
    for weighted in (False, True):
        theirs, ours = run_both(make, data, weighted)
    assert ours.name == theirs.name
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}
    assert [v.path for v in ours.variables] == [v.path for v in theirs.variables]
    np.testing.assert_array_equal(ours.total_cm.numpy(), _numpy(theirs.total_cm.value))
    again = type(ours).from_config(ours.get_config())
    for y, p, w in data:
        again.update_state(y, p, sample_weight=w)
    np.testing.assert_array_equal(_numpy(again.result()), _numpy(ours.result()))


def test_binary_iou_and_float_weights_equal_keras():
    rng = np.random.default_rng(14)
    data = [(rng.integers(0, 2, (10, 1)).astype("float32"), rng.random((10, 1)).astype("float32"),
             rng.random(10).astype("float32") * 3) for _ in range(3)]
    for kw in (dict(), dict(target_class_ids=[1], threshold=0.3), dict(target_class_ids=(0,), threshold=0.7)):
        run_both(lambda lib: lib.metrics.BinaryIoU(**kw), data, False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            theirs, ours = run_both(lambda lib: lib.metrics.BinaryIoU(**kw), data)  # weights truncated to int
        assert sum("weight as `float`" in str(w.message) for w in caught) == 2 * len(data)
        assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}


@pytest.mark.parametrize("aggregation", ["uniform_average", "variance_weighted_average", None])
def test_r2_score_equal_keras(aggregation):
    for weighted in (False, True):
        data = [(y, y + 0.3 * p - 0.2, w) for y, p, w in regression_batches(15, cols=3)]
        theirs, ours = run_both(lambda lib: lib.metrics.R2Score(class_aggregation=aggregation), data, weighted)
        run_both(lambda lib: lib.metrics.R2Score(class_aggregation=aggregation, num_regressors=2), data, weighted)
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}
    assert [v.path for v in ours.variables] == [v.path for v in theirs.variables]
    # a column of zeros (no variance: Keras's -inf score counts as 0)
    const = [(np.concatenate([y[:, :2], np.zeros_like(y[:, :1])], axis=1), p, w) for y, p, w in data]
    run_both(lambda lib: lib.metrics.R2Score(class_aggregation=aggregation), const)
    y, p, w = regression_batches(16, n=1, size=4, cols=1)[0]  # (n,) labels, (n, 1) predictions
    run_both(lambda lib: lib.metrics.R2Score(), [(y[:, 0], p, w)])
    for regressors in (3, 5):  # the adjusted score falls back to the plain one, with Keras's warning
        with pytest.warns(UserWarning) as caught:
            run_both(lambda lib: lib.metrics.R2Score(num_regressors=regressors), [(y, p, None)])
        assert len({str(w.message) for w in caught if "R2" in str(w.message)}) == 1


FUNCTIONS = [("metrics", "hinge", label_batches, {}), ("metrics", "squared_hinge", label_batches, {}),
             ("metrics", "categorical_hinge", one_hot_batches, {}), ("metrics", "kl_divergence", one_hot_batches, {}),
             ("metrics", "poisson", regression_batches, {}), ("metrics", "log_cosh", regression_batches, {}),
             ("metrics", "mean_squared_logarithmic_error", regression_batches, {}),
             ("metrics", "huber", regression_batches, dict(delta=0.5)),
             ("metrics", "pearson_correlation", regression_batches, {}),
             ("metrics", "concordance_correlation", regression_batches, dict(axis=0)),
             ("losses", "dice", one_hot_batches, {}), ("losses", "dice", one_hot_batches, dict(axis=-1)),
             ("losses", "tversky", one_hot_batches, dict(alpha=0.3, beta=0.7, axis=(1,))),
             ("losses", "cosine_similarity", regression_batches, {}), ("losses", "log_cosh", regression_batches, {}),
             ("metrics", "binary_focal_crossentropy", one_hot_batches, dict(apply_class_balancing=True, gamma=1.5)),
             ("losses", "binary_focal_crossentropy", label_batches, dict(from_logits=True, label_smoothing=0.1)),
             ("metrics", "categorical_focal_crossentropy", one_hot_batches, dict(alpha=0.4, label_smoothing=0.1)),
             ("losses", "categorical_focal_crossentropy", label_batches, dict(from_logits=True, gamma=3.0)),
             ("metrics", "binary_accuracy", label_batches, dict(threshold=0.1)),
             ("metrics", "categorical_accuracy", one_hot_batches, {}),
             ("metrics", "top_k_categorical_accuracy", one_hot_batches, dict(k=2))]


@pytest.mark.parametrize("module, name, batches, kw", FUNCTIONS, ids=[f[1] for f in FUNCTIONS])
def test_functions_give_per_example_values_as_keras(module, name, batches, kw):
    for y, p, _ in batches(17, n=1):
        want = getattr(getattr(K, module), name)(y, p, **kw)
        got = getattr(getattr(keras, module), name)(y, p, **kw)
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(_numpy(got), _numpy(want), rtol=1e-5, atol=1e-6)


def test_sparse_accuracy_functions_as_keras():
    rng = np.random.default_rng(18)
    p = rng.random((9, 5)).astype("float32")
    for y in (rng.integers(0, 5, 9), rng.integers(0, 5, (9, 1))):
        for fn, kw in (("sparse_categorical_accuracy", {}), ("sparse_top_k_categorical_accuracy", dict(k=2)),
                       ("sparse_top_k_categorical_accuracy", dict(k=2, from_sorted_ids=True))):
            pred = np.argsort(-p, axis=1) if kw.get("from_sorted_ids") else p
            want = getattr(K.metrics, fn)(y, pred, **kw)
            got = getattr(keras.metrics, fn)(y, pred, **kw)
            assert tuple(got.shape) == tuple(want.shape)
            np.testing.assert_array_equal(_numpy(got), _numpy(want))


@pytest.mark.parametrize("name, kw", [("Hinge", {}), ("SquaredHinge", {}), ("CategoricalHinge", {}),
                                      ("Poisson", {}), ("KLDivergence", {}), ("LogCosh", {}),
                                      ("MeanSquaredLogarithmicError", {}), ("CosineSimilarity", dict(axis=-1)),
                                      ("Huber", dict(delta=0.4)),
                                      ("BinaryFocalCrossentropy", dict(apply_class_balancing=True, alpha=0.3)),
                                      ("CategoricalFocalCrossentropy", dict(gamma=1.0, label_smoothing=0.2)),
                                      ("Dice", dict(axis=-1)), ("Tversky", dict(alpha=0.2, beta=0.8, axis=1)),
                                      ("Dice", {})])
def test_loss_classes_equal_keras(name, kw):
    y, p, w = one_hot_batches(19, n=1)[0]
    for reduction in ("sum_over_batch_size", "sum", "none"):
        want = getattr(K.losses, name)(reduction=reduction, **kw)
        got = getattr(keras.losses, name)(reduction=reduction, **kw)
        assert got.name == want.name
        for weights in (None, w):
            g, t = _numpy(got(y, p, sample_weight=weights)), _numpy(want(y, p, sample_weight=weights))
            assert g.shape == t.shape
            np.testing.assert_allclose(g, t, rtol=1e-5, atol=1e-6)


def test_errors_as_keras():
    makers = [lambda lib: lib.metrics.FBetaScore(average="samples"), lambda lib: lib.metrics.FBetaScore(beta=2),
              lambda lib: lib.metrics.FBetaScore(beta=-1.0), lambda lib: lib.metrics.F1Score(threshold=1),
              lambda lib: lib.metrics.F1Score(threshold=1.5), lambda lib: lib.metrics.R2Score(class_aggregation="x"),
              lambda lib: lib.metrics.R2Score(num_regressors=-1),
              lambda lib: lib.metrics.IoU(num_classes=3, target_class_ids=[0, 3]),
              lambda lib: lib.metrics.F1Score().update_state(np.ones(4), np.ones(4)),
              lambda lib: lib.metrics.R2Score().update_state(np.ones((2, 3, 4)), np.ones((2, 3, 4)))]
    for make in makers:
        with pytest.raises(ValueError) as want:
            make(K)
        with pytest.raises(ValueError) as got:
            make(keras)
        # (Keras on torch writes a shape as torch.Size([4]))
        assert str(got.value).split(" Received")[0] == str(want.value).split(" Received")[0]
        assert str(got.value) == re.sub(r"torch.Size\(\[(.*?)\]\)", lambda m: str(tuple(eval(m.group(1) + ","))),
                                        str(want.value))
    for lib in (K, keras):
        with pytest.raises(TypeError):
            lib.metrics.MeanIoU()


def _regressor(lib, layers):
    return lib.Sequential([lib.Input((5,)), layers.Dense(6, activation="tanh"), layers.Dense(2, activation="softplus")])


def _classifier(lib, layers):
    return lib.Sequential([lib.Input((5,)), layers.Dense(6, activation="tanh"), layers.Dense(3, activation="softmax")])


def _fit_both(build, x, y, metrics, loss, weighted_metrics=None, sample_weight=None):
    theirs, ours = both(build)
    logs = []
    for lib, model in ((K, theirs), (keras, ours)):
        model.compile(lib.optimizers.SGD(0.1), loss if isinstance(loss, str) else loss(lib), metrics=metrics(lib),
                      weighted_metrics=weighted_metrics and weighted_metrics(lib))
        h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25, shuffle=False,
                      sample_weight=sample_weight).history
        logs.append((h, model.evaluate(x, y, batch_size=24, verbose=0, return_dict=True, sample_weight=sample_weight)))
    (ht, et), (ho, eo) = logs
    assert list(ho) == list(ht), (list(ho), list(ht))
    for key in ht:
        # a per-class result is a NumPy array in both logs, one number a Python float
        assert [type(v) for v in ho[key]] == [type(v) for v in ht[key]], key
        np.testing.assert_allclose(ho[key], ht[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert list(eo) == list(et)
    for key in et:
        assert type(eo[key]) is type(et[key]), key
        np.testing.assert_allclose(eo[key], et[key], rtol=1e-4, atol=1e-5, err_msg=key)
    return ho


def test_regression_fit_logs_as_keras():
    rng = np.random.default_rng(20)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = np.abs(np.stack([x[:, 0] + 0.5 * x[:, 1], x[:, 2] * x[:, 3]], axis=1)).astype("float32")
    keys = _fit_both(_regressor, x, y, lambda lib: [
        "msle", "root_mean_squared_error", lib.metrics.R2Score(), "r2_score", "log_cosh_error", "poisson",
        lib.metrics.CosineSimilarity(), lib.metrics.LogCoshError(), lib.metrics.hinge,
        lib.metrics.MeanMetricWrapper(lib.losses.huber, name="huber", delta=0.5)], "huber")
    assert "val_root_mean_squared_error" in keys and "r2_score_1" in keys and "logcosh" in keys


def test_classifier_fit_logs_as_keras():
    rng = np.random.default_rng(21)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)]
    keys = _fit_both(_classifier, x, y, lambda lib: [
        "f1_score", lib.metrics.F1Score(average="macro", name="f1_macro"),
        lib.metrics.FBetaScore(average="weighted", beta=0.5, threshold=0.4), lib.metrics.OneHotMeanIoU(3),
        lib.metrics.OneHotIoU(3, [0, 2], name="iou_02"), "categorical_hinge", "kl_divergence", "squared_hinge",
        lib.metrics.categorical_accuracy], "categorical_hinge")
    assert "val_f1_macro" in keys and "one_hot_mean_io_u" in keys and "categorical_accuracy" in keys


def logit_batches(seed, n=3, size=12, classes=4):
    """Class ids (some of them 2, the class a test ignores), one-hot labels, logits, and weights."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.integers(0, classes, size)
        out.append((ids, np.eye(classes, dtype="float32")[ids], rng.normal(size=(size, classes)).astype("float32") * 2,
                    rng.random(size).astype("float32")))
    return out


@pytest.mark.parametrize("kw", [dict(from_logits=True), dict(from_logits=True, ignore_class=2),
                                dict(ignore_class=2), dict(from_logits=True, ignore_class=2, name="xe")])
def test_sparse_crossentropy_metric_arguments_equal_keras(kw):
    data = logit_batches(22)
    if not kw.get("from_logits"):
        data = [(i, y, np.exp(p) / np.exp(p).sum(axis=1, keepdims=True), w) for i, y, p, w in data]
    for weighted in (False, True):
        theirs, ours = run_both(lambda lib: lib.metrics.SparseCategoricalCrossentropy(**kw),
                                [(i[:, None] if weighted else i, p, w) for i, _, p, w in data], weighted)
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}


@pytest.mark.parametrize("kw", [dict(from_logits=True), dict(from_logits=True, label_smoothing=0.2),
                                dict(label_smoothing=0.1)])
def test_crossentropy_metric_arguments_equal_keras(kw):
    data = logit_batches(23)
    probs = [(y, np.exp(p) / np.exp(p).sum(axis=1, keepdims=True), w) for _, y, p, w in data]
    for weighted in (False, True):
        run_both(lambda lib: lib.metrics.CategoricalCrossentropy(**kw),
                 [(y, p, w) for _, y, p, w in data] if kw.get("from_logits") else probs, weighted)
        binary = [(y[:, :1], p[:, :1] if kw.get("from_logits") else 1 / (1 + np.exp(-p[:, :1])), w)
                  for _, y, p, w in data]
        theirs, ours = run_both(lambda lib: lib.metrics.BinaryCrossentropy(**kw), binary, weighted)
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"}


def test_sparse_crossentropy_loss_ignore_class_equal_keras():
    ids, _, logits, w = logit_batches(24, n=1)[0]
    for reduction in ("sum_over_batch_size", "sum", "none"):
        want = K.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2, reduction=reduction)
        got = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2, reduction=reduction)
        for weights in (None, w):
            np.testing.assert_allclose(_numpy(got(ids, logits, sample_weight=weights)),
                                       _numpy(want(ids, logits, sample_weight=weights)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(keras.losses.sparse_categorical_crossentropy(ids, logits, True, 2)),
                               _numpy(K.losses.sparse_categorical_crossentropy(ids, logits, True, 2)), rtol=1e-5)


def test_sparse_classifier_with_ignored_class_fits_as_keras():
    rng = np.random.default_rng(25)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = ((x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)).astype("int64")

    def build(lib, layers):
        return lib.Sequential([lib.Input((5,)), layers.Dense(6, activation="tanh"), layers.Dense(3)])

    _fit_both(build, x, y, lambda lib: [lib.metrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1),
                                        lib.metrics.SparseTopKCategoricalAccuracy(k=2)],
              lambda lib: lib.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1))


def test_serialize_and_deserialize_as_keras():
    for make in (lambda lib: lib.metrics.F1Score(average="macro", threshold=0.3),
                 lambda lib: lib.metrics.OneHotIoU(3, [0, 2], name="iou"), lambda lib: lib.metrics.R2Score(),
                 lambda lib: lib.metrics.PearsonCorrelation(axis=0), lambda lib: lib.metrics.Poisson()):
        want, got = K.metrics.serialize(make(K)), keras.metrics.serialize(make(keras))
        assert {k: got[k] for k in ("module", "class_name")} == {k: want[k] for k in ("module", "class_name")}
        assert got["config"] == {k: v for k, v in want["config"].items() if k != "dtype"}
        again = keras.metrics.deserialize(got)
        assert type(again) is type(make(keras)) and again.get_config() == got["config"]
        assert type(keras.metrics.deserialize(want)).__name__ == type(K.metrics.deserialize(want)).__name__


def test_keras_file_with_the_new_metrics_loads_and_evaluates_as_keras(tmp_path):
    """A .keras file Keras saved with these metrics compiled in: nerve restores them from their configs
    (dtype and all) and evaluates as Keras; nerve's own file of it loads again the same."""
    rng = np.random.default_rng(26)
    x = rng.normal(size=(30, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 30)]
    theirs = _classifier(K, K.layers)
    theirs.compile("sgd", "categorical_crossentropy", metrics=[
        K.metrics.F1Score(average="weighted"), K.metrics.OneHotMeanIoU(3), K.metrics.RootMeanSquaredError(),
        K.metrics.R2Score(), K.metrics.CategoricalCrossentropy(from_logits=False, label_smoothing=0.1),
        K.metrics.ConcordanceCorrelation(), "categorical_hinge", "kl_divergence"])
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    theirs.save(tmp_path / "m.keras")
    ours = keras.models.load_model(tmp_path / "m.keras")
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "ours.keras")
    again = keras.models.load_model(tmp_path / "ours.keras").evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(list(again.values()), list(want.values()), rtol=1e-5, atol=1e-6)


def test_hinge_and_focal_losses_fit_as_keras():
    """Keras's loss classes match the labels' rank to the predictions' first ((n,) to (n, 1)); its
    hinge metrics do not, and broadcast them: both as Keras."""
    rng = np.random.default_rng(27)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")

    def build(lib, layers):
        return lib.Sequential([lib.Input((5,)), layers.Dense(4, activation="tanh"), layers.Dense(1)])

    for loss in ("hinge", "squared_hinge",
                 lambda lib: lib.losses.BinaryFocalCrossentropy(apply_class_balancing=True, from_logits=True)):
        _fit_both(build, x, y, lambda lib: ["hinge", lib.metrics.SquaredHinge()], loss)
    y3 = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)]
    _fit_both(_classifier, x, y3, lambda lib: [lib.metrics.categorical_focal_crossentropy], "categorical_focal_crossentropy")


def test_loss_strings_in_compile_as_keras():
    rng = np.random.default_rng(28)
    x = rng.normal(size=(20, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
    theirs, ours = both(_classifier)
    for loss in ("hinge", "squared_hinge", "categorical_hinge", "msle", "mean_squared_logarithmic_error",
                 "cosine_similarity", "log_cosh", "kl_divergence", "kld", "poisson", "huber", "bce",
                 "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky"):
        theirs.compile("sgd", loss)
        ours.compile("sgd", loss)
        np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                                   rtol=1e-5, atol=1e-6, err_msg=loss)


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_bar_shows_per_class_results_as_keras(capsys, verbose):
    """A result of several numbers (F1Score per class) shows as their mean; a negative value near 0 in
    the one-line form as Keras writes it."""
    rng = np.random.default_rng(29)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]
    theirs, ours = both(_classifier)
    printed = []
    for lib, model in ((K, theirs), (keras, ours)):
        model.compile(lib.optimizers.SGD(0.1), "categorical_crossentropy",
                      metrics=["f1_score", lib.metrics.R2Score(), lib.metrics.Precision(thresholds=[0.2, 0.5])])
        capsys.readouterr()
        model.fit(x, y, batch_size=16, epochs=1, verbose=verbose, shuffle=False)
        model.evaluate(x, y, verbose=verbose)
        text = capsys.readouterr().out.split("\r")[-1] if verbose == 1 else capsys.readouterr().out
        text = re.sub(r"\x1b\[[0-9;]*m|━|─", "", text)  # colours and the bar itself
        printed.append(re.sub(r"\d+(?:ms|us|s)/step|\b\d+s\b", "", text).split())  # times
    assert printed[1] == printed[0], [" ".join(p) for p in printed]


def test_weighted_metrics_in_fit_as_keras():
    """fit's sample weights reach the new metrics given as weighted_metrics (named weighted_* where taken)."""
    rng = np.random.default_rng(30)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 2] > 0.5)]
    w = rng.integers(0, 3, 64).astype("float32")  # whole numbers: the IoUs count in int32 (as Keras)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keys = _fit_both(_classifier, x, y, lambda lib: ["f1_score"], "categorical_crossentropy",
                         weighted_metrics=lambda lib: [
                             "f1_score", lib.metrics.FBetaScore(average="micro", beta=2.0),
                             lib.metrics.OneHotMeanIoU(3), lib.metrics.R2Score(), "root_mean_squared_error",
                             "categorical_hinge", lib.metrics.CategoricalCrossentropy(label_smoothing=0.1)],
                         sample_weight=w)
    assert "weighted_f1_score" in keys and "val_one_hot_mean_io_u" in keys
