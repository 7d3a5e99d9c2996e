"""The confusion-matrix metrics (TruePositives ... Precision, Recall, AUC, PrecisionAtRecall ...)
and Sum of nerve.keras against Keras 3 (torch backend): the same batches fed to both with
``update_state``, the same results; and a binary classifier's fit logs them as Keras does."""

import numpy as np
import pytest
from _keras_compare import K, both, fresh, keras

COUNTS = ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"]


def batches(seed, labels=1, n=3, size=24, edges=False):
    """``n`` batches of (0/1 labels, scores in [0, 1], per-example weights); with ``edges`` the
    scores are rounded to tenths, so that some sit on a threshold (0, 0.5, 1 ...)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = rng.integers(0, 2, (size, labels)).astype("float32")
        p = rng.random((size, labels)).astype("float32")
        if edges:
            p = (np.round(p * 10) / 10).astype("float32")
        out.append((y, p, rng.random(size).astype("float32")))
    return out


def on_thresholds(seed, num_thresholds=200):
    """One batch whose scores are AUC's thresholds i / (T - 1) themselves (float32), where
    Keras's bucket ``ceil(p * (T - 1))`` and a plain ``p > t`` do not always agree."""
    rng = np.random.default_rng(seed)
    p = (np.arange(num_thresholds) / (num_thresholds - 1)).astype("float32").reshape(-1, 1)
    return [(rng.integers(0, 2, p.shape).astype("float32"), p, rng.random(len(p)).astype("float32"))]


def run_both(make, data, weighted=True):
    """Feed ``data`` to the metric ``make(library)`` of each library; their results as arrays."""
    results = []
    for lib in (K, keras):
        m = make(lib)
        for y, p, w in data:
            m.update_state(y, p, sample_weight=w if weighted else None)
        results.append((m, np.asarray(K.ops.convert_to_numpy(m.result()) if lib is K else m.result())))
    (theirs, want), (ours, got) = results
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    return theirs, ours


@pytest.mark.parametrize("name", COUNTS + ["Precision", "Recall"])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.1, 0.5, 0.85], [0.0, 0.25, 0.5, 0.75, 1.0]])
@pytest.mark.parametrize("weighted", [False, True])
def test_counts_precision_recall_equal_keras(name, thresholds, weighted):
    data = batches(0, edges=True) + batches(1)
    theirs, ours = run_both(lambda lib: getattr(lib.metrics, name)(thresholds=thresholds), data, weighted)
    assert [v.path.split("/")[-1] for v in ours.variables] == [v.path.split("/")[-1] for v in theirs.variables]


@pytest.mark.parametrize("kw", [dict(top_k=2), dict(class_id=3), dict(top_k=2, class_id=1),
                                dict(top_k=1, thresholds=[0.2, 0.6]), dict(class_id=0, thresholds=[0.0, 0.5, 1.0])])
@pytest.mark.parametrize("name", ["Precision", "Recall"])
def test_top_k_and_class_id_equal_keras(name, kw):
    # no ties among the scores: which of two equal scores is in the top k is torch.topk's choice
    data = batches(2, labels=5) + batches(3, labels=5, edges="top_k" not in kw)
    run_both(lambda lib: getattr(lib.metrics, name)(**kw), data)


@pytest.mark.parametrize("curve", ["ROC", "PR", "PRGAIN"])
@pytest.mark.parametrize("summation", ["interpolation", "minoring", "majoring"])
def test_auc_curves_and_summations_equal_keras(curve, summation):
    for kw in (dict(), dict(num_thresholds=7), dict(thresholds=[0.7, 0.2, 0.45]),
               dict(thresholds=[0.25, 0.5, 0.75])):
        run_both(lambda lib: lib.metrics.AUC(curve=curve, summation_method=summation, **kw),
                 batches(4, edges=True) + on_thresholds(5, kw.get("num_thresholds", 200)) + batches(5))
        run_both(lambda lib: lib.metrics.AUC(curve=curve, summation_method=summation, **kw), batches(6), False)


@pytest.mark.parametrize("kw", [dict(multi_label=True), dict(multi_label=True, curve="PR"),
                                dict(multi_label=True, num_labels=4, label_weights=[1.0, 0.5, 2.0, 0.0]),
                                dict(multi_label=True, curve="PR", label_weights=[1.0, 0.5, 2.0, 0.0]),
                                dict(multi_label=True, curve="PRGAIN", summation_method="minoring"),
                                dict(multi_label=True, thresholds=[0.3, 0.8]),
                                dict(label_weights=[1.0, 0.5, 2.0, 0.0]), dict(multi_label=False)])
def test_auc_multi_label_and_label_weights_equal_keras(kw):
    run_both(lambda lib: lib.metrics.AUC(**kw), batches(7, labels=4) + batches(8, labels=4, edges=True))


def test_auc_from_logits_equal_keras():
    data = [(y, (p - 0.5) * 8, w) for y, p, w in batches(9)]
    run_both(lambda lib: lib.metrics.AUC(from_logits=True), data)
    run_both(lambda lib: lib.metrics.AUC(from_logits=True, curve="PR"), data)


@pytest.mark.parametrize("name, value", [("PrecisionAtRecall", 0.6), ("RecallAtPrecision", 0.55),
                                         ("SensitivityAtSpecificity", 0.4), ("SpecificityAtSensitivity", 0.7)])
@pytest.mark.parametrize("kw", [dict(), dict(num_thresholds=1), dict(num_thresholds=11)])
def test_rate_at_rate_metrics_equal_keras(name, value, kw):
    run_both(lambda lib: getattr(lib.metrics, name)(value, **kw),
             batches(10) + batches(11, edges=True) + on_thresholds(11, kw.get("num_thresholds", 200)))
    run_both(lambda lib: getattr(lib.metrics, name)(value, class_id=2, **kw), batches(12, labels=3))


def test_sum_equal_keras():
    rng = np.random.default_rng(13)
    for lib_values in ([rng.random((4, 3)), rng.random(5)], [rng.random((4, 3)), rng.random((6, 3))]):
        for weights in (None, [rng.random(len(v)) for v in lib_values]):
            got, want = keras.metrics.Sum(), K.metrics.Sum()
            for i, v in enumerate(lib_values):
                w = None if weights is None else weights[i]
                got.update_state(v, sample_weight=w)
                want.update_state(v, sample_weight=w)
            np.testing.assert_allclose(got.result(), K.ops.convert_to_numpy(want.result()), rtol=1e-6)
            assert got.name == want.name == "sum"


def test_names_configs_and_reset_as_keras():
    """Default names with Keras's suffixes, get_config / from_config, reset_state to zero."""
    fresh()
    data = batches(14)
    for make in (lambda lib: lib.metrics.Precision(thresholds=[0.2, 0.7], class_id=None),
                 lambda lib: lib.metrics.Recall(top_k=1), lambda lib: lib.metrics.Precision(),
                 lambda lib: lib.metrics.FalseNegatives(0.4),
                 lambda lib: lib.metrics.AUC(curve="PR", summation_method="majoring", thresholds=[0.6, 0.1]),
                 lambda lib: lib.metrics.AUC(), lambda lib: lib.metrics.AUC(name="my_auc", num_thresholds=50),
                 lambda lib: lib.metrics.SensitivityAtSpecificity(0.5, num_thresholds=20)):
        theirs, ours = run_both(make, data)
        assert ours.name == theirs.name
        assert [v.path for v in ours.variables] == [v.path for v in theirs.variables]
        want = {k: v for k, v in theirs.get_config().items() if k != "dtype"}
        assert ours.get_config() == want
        again = type(ours).from_config(ours.get_config())
        for y, p, w in data:
            again.update_state(y, p, sample_weight=w)
        np.testing.assert_array_equal(np.asarray(again.result()), np.asarray(ours.result()))
        theirs.reset_state()
        ours.reset_state()
        np.testing.assert_array_equal(np.asarray(ours.result()), K.ops.convert_to_numpy(theirs.result()))


def test_errors_as_keras():
    for make in (lambda lib: lib.metrics.Precision(thresholds=[0.5, 1.5]),
                 lambda lib: lib.metrics.AUC(curve="XY"), lambda lib: lib.metrics.AUC(curve="Roc"), lambda lib: lib.metrics.AUC(summation_method="mid"),
                 lambda lib: lib.metrics.AUC(num_thresholds=1), lambda lib: lib.metrics.PrecisionAtRecall(1.5),
                 lambda lib: lib.metrics.AUC(num_labels=3)):
        with pytest.raises(ValueError) as want:
            make(K)
        with pytest.raises(ValueError) as got:
            make(keras)
        assert str(got.value).split(".")[0] == str(want.value).split(".")[0]
    y, p, _ = batches(15)[0]
    for lib in (K, keras):
        with pytest.raises(ValueError, match="When class_id is provided, y_pred must be a 2D array"):
            lib.metrics.Recall(class_id=0).update_state(y[:, 0], p[:, 0])


def _classifier(lib, layers):
    return lib.Sequential([lib.Input((6,)), layers.Dense(5, activation="tanh"), layers.Dense(1, activation="sigmoid")])


def test_binary_classifier_fit_logs_as_keras():
    rng = np.random.default_rng(16)
    x = rng.normal(size=(80, 6)).astype("float32")
    y = (x[:, 0] - 0.7 * x[:, 2] + 0.3 * rng.normal(size=80) > 0).astype("float32")
    theirs, ours = both(_classifier)
    history = []
    for lib, m in ((K, theirs), (keras, ours)):
        m.compile(lib.optimizers.SGD(0.2), "binary_crossentropy",
                  metrics=["accuracy", lib.metrics.Precision(), lib.metrics.Recall(), lib.metrics.AUC(),
                           "auc", "AUC", lib.metrics.AUC(curve="PR")])
        h = m.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.25, shuffle=False).history
        history.append((h, m.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)))
    (ht, et), (ho, eo) = history
    assert list(ho) == list(ht)
    assert "auc_1" in ho and "val_AUC" in ho and "val_precision" in ho
    for key in ht:
        np.testing.assert_allclose(ho[key], ht[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert list(eo) == list(et)
    np.testing.assert_allclose([eo[k] for k in et], [et[k] for k in et], rtol=1e-5, atol=1e-6)


def test_strings_in_compile_as_keras():
    """'precision', 'recall', 'auc', 'true_positives' (and the class names) resolve as in Keras."""
    x = np.random.default_rng(17).normal(size=(32, 6)).astype("float32")
    y = (x[:, 1] > 0).astype("float32")
    theirs, ours = both(_classifier)
    logs = []
    for lib, m in ((K, theirs), (keras, ours)):
        m.compile("sgd", "binary_crossentropy",
                  metrics=["precision", "recall", "auc", "true_positives", "FalseNegatives", "Recall"])
        logs.append(m.evaluate(x, y, verbose=0, return_dict=True))
    assert list(logs[1]) == list(logs[0])
    np.testing.assert_allclose(list(logs[1].values()), list(logs[0].values()), rtol=1e-5, atol=1e-6)


def test_metric_objects_survive_save_and_load(tmp_path):
    """A model compiled with metric objects, saved and loaded, logs what Keras's logs (the saved
    compile config gives the metrics back as objects with their arguments, not as their names)."""
    x = np.random.default_rng(18).normal(size=(40, 6)).astype("float32")
    y = (x[:, 3] > 0.2).astype("float32")
    theirs, ours = both(_classifier)
    for lib, m in ((K, theirs), (keras, ours)):
        m.compile("sgd", "binary_crossentropy",
                  metrics=[lib.metrics.BinaryAccuracy(threshold=0.3), lib.metrics.AUC(thresholds=[0.2, 0.6]),
                           lib.metrics.Recall(top_k=1), lib.metrics.PrecisionAtRecall(0.5, num_thresholds=9)])
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    ours.save(tmp_path / "m.keras")
    got = keras.models.load_model(tmp_path / "m.keras").evaluate(x, y, verbose=0, return_dict=True)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [lambda k: k.metrics.SparseCategoricalAccuracy(), lambda k: k.metrics.Mean(),
                                  lambda k: k.metrics.Sum(), lambda k: k.metrics.Precision(thresholds=[0.3, 0.6]),
                                  lambda k: k.metrics.AUC()],
                         ids=["accuracy", "mean", "sum", "precision-thresholds", "auc"])
def test_result_is_a_float32_tensor_as_keras_on_torch(make):
    """``m.result()`` is a tensor in Keras (torch backend), not a float: scripts call ``.numpy()`` on it,
    format it and print it."""
    import nerve

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 16)
    p = rng.random((16, 2)).astype("float32")
    got = {}
    for lib in (K, keras):
        m = make(lib)
        if isinstance(m, lib.metrics.SparseCategoricalAccuracy):
            m.update_state(y, p)
        elif isinstance(m, (lib.metrics.Mean, lib.metrics.Sum)):
            m.update_state(p[:, 0])
        else:
            m.update_state(y, p[:, 1])
        got[lib] = m.result()
    theirs, ours = got[K], got[keras]
    assert isinstance(ours, nerve.Tensor) and ours.dtype == nerve.float32
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), K.ops.convert_to_numpy(theirs), rtol=1e-6)
    if ours.ndim == 0:
        assert f"{ours:.4f}" == f"{float(theirs):.4f}" and float(ours) == pytest.approx(float(theirs), rel=1e-6)
