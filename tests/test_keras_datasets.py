"""keras.datasets and keras.utils.get_file against Keras 3 itself: the same small files (written
here, served by a local HTTP server) give the same arrays for every option."""

import hashlib
import json
import os
import pickle

import numpy as np
import pytest
from _keras_compare import K as keras  # Keras 3, on its torch backend

from nerve.keras import datasets
from nerve.keras.datasets import _common
from nerve.keras.utils import get_file
from nerve.vision.datasets import CIFAR10, CIFAR100
from nerve.vision.datasets.download import DownloadError


@pytest.fixture()
def keras_server(server, monkeypatch, tmp_path):
    """The local web server (tests/conftest.py) as Keras's download folder, and an empty Keras cache."""
    root, url = server
    monkeypatch.setattr(_common, "ORIGIN", url + "/")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return root, url + "/"


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _ragged(rng, n, vocab=60):
    seqs = np.empty(n, dtype=object)
    for i in range(n):
        seqs[i] = rng.integers(1, vocab, rng.integers(3, 25)).tolist()
    return seqs


def _publish(monkeypatch, module, www, name, arrays):
    """Write ``name`` as an .npz on the server and make ``module`` expect its checksum."""
    np.savez(www / name, **arrays)
    monkeypatch.setattr(module, "_SHA256", _sha256(www / name))
    return www / name


def _keras_reading(monkeypatch, module_name, path):
    """Keras's loader of that dataset, reading ``path`` instead of downloading."""
    import importlib

    mod = importlib.import_module(f"keras.src.datasets.{module_name}")
    monkeypatch.setattr(mod, "get_file", lambda *a, **k: str(path))
    return mod.load_data


def _same(ours, theirs):
    (xa, ya), (xb, yb) = ours
    (xc, yc), (xd, yd) = theirs
    for got, want in ((xa, xc), (xb, xd)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert [list(s) for s in got] == [list(s) for s in want]
    for got, want in ((ya, yc), (yb, yd)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


SEQUENCE_OPTIONS = [{}, {"num_words": 20}, {"num_words": 30, "skip_top": 5}, {"maxlen": 15}, {"seed": 7},
                    {"start_char": None, "oov_char": None, "num_words": 25}, {"start_char": None, "index_from": 0},
                    {"oov_char": 9, "skip_top": 2, "maxlen": 20, "index_from": 5}]


def test_imdb_matches_keras(keras_server, monkeypatch):
    www, _ = keras_server
    rng = np.random.default_rng(0)
    path = _publish(monkeypatch, datasets.imdb, www, "imdb.npz",
                    {"x_train": _ragged(rng, 30), "y_train": rng.integers(0, 2, 30),
                     "x_test": _ragged(rng, 20), "y_test": rng.integers(0, 2, 20)})
    theirs = _keras_reading(monkeypatch, "imdb", path)
    for options in SEQUENCE_OPTIONS:
        _same(datasets.imdb.load_data(**options), theirs(**options))
    cached = os.path.join(os.environ["KERAS_HOME"], "datasets", "imdb.npz")
    assert _sha256(cached) == _sha256(path)
    path.unlink()  # the cached copy serves from now on
    (x, y), _ = datasets.imdb.load_data(num_words=10)
    assert max(max(s) for s in x) < 10 and all(s[0] == 1 for s in x) and set(y) <= {0, 1}
    with pytest.raises(ValueError, match="no sequence was kept. Increase maxlen"):
        datasets.imdb.load_data(maxlen=2)


def test_reuters_matches_keras(keras_server, monkeypatch):
    www, _ = keras_server
    rng = np.random.default_rng(1)
    path = _publish(monkeypatch, datasets.reuters, www, "reuters.npz",
                    {"x": _ragged(rng, 41), "y": rng.integers(0, 46, 41)})
    theirs = _keras_reading(monkeypatch, "reuters", path)
    for options in SEQUENCE_OPTIONS + [{"test_split": 0.5}, {"test_split": 0.0, "maxlen": 12}]:
        _same(datasets.reuters.load_data(**options), theirs(**options))
    assert datasets.reuters.get_label_names() == keras.datasets.reuters.get_label_names()


@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_word_index_download(keras_server, monkeypatch, name):
    www, _ = keras_server
    words = {"the": 1, "and": 2, "film": 3, "étoile": 4}
    file = www / f"{name}_word_index.json"
    file.write_text(json.dumps(words), encoding="utf-8")
    module = getattr(datasets, name)
    monkeypatch.setattr(module, "_WORD_INDEX_MD5", hashlib.md5(file.read_bytes()).hexdigest())
    assert module.get_word_index() == words
    monkeypatch.setattr(module, "_WORD_INDEX_MD5", "0" * 32)  # a changed file fails its checksum
    file.write_text("{}")
    os.unlink(os.path.join(os.environ["KERAS_HOME"], "datasets", f"{name}_word_index.json"))
    with pytest.raises(DownloadError, match="md5 checksum mismatch"):
        module.get_word_index()
    assert not os.path.exists(os.path.join(os.environ["KERAS_HOME"], "datasets", f"{name}_word_index.json"))


def test_sequence_files_cannot_run_code(keras_server, monkeypatch, tmp_path):
    www, _ = keras_server

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    seqs = np.empty(2, dtype=object)
    seqs[0], seqs[1] = [1, 2], Evil()
    _publish(monkeypatch, datasets.reuters, www, "reuters.npz", {"x": seqs, "y": np.array([0, 1])})
    with pytest.raises(ValueError, match="reuters.npz: not a valid .npz dataset file: refused to load posix.system"):
        datasets.reuters.load_data()
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name,columns,options", [
    ("boston_housing", 13, [{}, {"test_split": 0.3, "seed": 5}, {"test_split": 0.0}]),
    ("california_housing", 8, [{}, {"version": "small"}, {"test_split": 0.25, "seed": 1}]),
])
def test_housing_matches_keras(keras_server, monkeypatch, name, columns, options):
    www, _ = keras_server
    rng = np.random.default_rng(2)
    n = 700 if name == "california_housing" else 50
    dtype = np.float32 if name == "california_housing" else np.float64
    path = _publish(monkeypatch, getattr(datasets, name), www, f"{name}.npz",
                    {"x": rng.standard_normal((n, columns)).astype(dtype), "y": rng.random(n).astype(dtype)})
    theirs = _keras_reading(monkeypatch, name, path)
    for kw in options:
        for got, want in zip(sum(getattr(datasets, name).load_data(**kw), ()), sum(theirs(**kw), ())):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=f"Invalid `test_split` argument: {bad}. It must be between 0 and 1"):
            getattr(datasets, name).load_data(test_split=bad)
    if name == "california_housing":
        with pytest.raises(ValueError, match="Argument `version` must be one of 'small', 'large'. Received: version=x"):
            datasets.california_housing.load_data(version="x")


def _cifar_folder(folder, names, label_keys, n, seed):
    """CIFAR pickles with bytes keys, as the real ones; returns their md5s."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    md5 = {}
    for name in names:
        entry = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
        for key, classes in label_keys.items():
            entry[key.encode()] = rng.integers(0, classes, n).tolist()
        (folder / name).write_bytes(pickle.dumps(entry, protocol=3))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return md5


def test_cifar10_and_cifar100_match_keras(keras_server, monkeypatch):
    cache = os.path.join(os.environ["KERAS_HOME"], "datasets")
    from pathlib import Path

    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    md5 = _cifar_folder(Path(cache) / "cifar-10-batches-py", names, {"labels": 10}, 3, 0)
    meta = Path(cache) / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=3))
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5[n]] for n in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                          "md5": hashlib.md5(meta.read_bytes()).hexdigest()})
    ours = datasets.cifar10.load_data()  # (Keras's own reads exactly 50,000 training images: not comparable here)
    assert ours[0][0].shape == (15, 32, 32, 3) and ours[0][1].shape == (15, 1) and ours[0][1].dtype == np.uint8
    first = pickle.loads((Path(cache) / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    np.testing.assert_array_equal(ours[0][0][:3], first[b"data"].reshape(3, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(ours[0][1][:3, 0], first[b"labels"])

    md5 = _cifar_folder(Path(cache) / "cifar-100-python", ["train", "test"], {"fine_labels": 100,
                                                                               "coarse_labels": 20}, 4, 1)
    meta = Path(cache) / "cifar-100-python" / "meta"
    meta.write_bytes(pickle.dumps({b"fine_label_names": [b"apple"] * 100}, protocol=3))
    monkeypatch.setattr(CIFAR100, "train_list", [["train", md5["train"]]])
    monkeypatch.setattr(CIFAR100, "test_list", [["test", md5["test"]]])
    monkeypatch.setattr(CIFAR100, "meta", {"filename": "meta", "key": "fine_label_names",
                                           "md5": hashlib.md5(meta.read_bytes()).hexdigest()})
    theirs = _keras_reading(monkeypatch, "cifar100", cache)
    for mode in ("fine", "coarse"):
        for got, want in zip(sum(datasets.cifar100.load_data(mode), ()), sum(theirs(mode), ())):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match='`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode=x'):
        datasets.cifar100.load_data("x")


def test_get_file_names_and_extracts_as_keras(keras_server, tmp_path):
    import tarfile

    www, url = keras_server
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "a.txt").write_text("hello")
    with tarfile.open(www / "pkg.tar.gz", "w:gz") as tar:
        tar.add(inner, arcname="pkg")
    digest = _sha256(www / "pkg.tar.gz")
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()  # Keras falls back to /tmp/.keras for a cache_dir that does not exist
    for fname, folder in (("thing-target", "thing-target"), ("thing.tar.gz", "thing_extracted"), (None, "pkg.tar.gz")):
        ours = get_file(fname, url + "pkg.tar.gz", extract=True, file_hash=digest, cache_dir=str(tmp_path / "ours"))
        theirs = keras.utils.get_file(fname, url + "pkg.tar.gz", extract=True, file_hash=digest,
                                      cache_dir=str(tmp_path / "theirs"))
        assert os.path.relpath(ours, tmp_path / "ours") == os.path.relpath(theirs, tmp_path / "theirs") == \
            os.path.join("datasets", folder)
        assert open(os.path.join(ours, "pkg", "a.txt")).read() == "hello"
    assert sorted(os.listdir(tmp_path / "ours" / "datasets")) == sorted(os.listdir(tmp_path / "theirs" / "datasets"))
    plain = get_file("copy.tar.gz", url + "pkg.tar.gz", cache_dir=str(tmp_path / "ours"))
    assert plain == str(tmp_path / "ours" / "datasets" / "copy.tar.gz") and _sha256(plain) == digest
    with pytest.raises(ValueError, match="Paths are no longer accepted as the `fname` argument"):
        get_file(os.path.join("sub", "x.bin"), url + "pkg.tar.gz", cache_dir=str(tmp_path / "ours"))
    for ours_theirs in ((get_file, tmp_path / "ours"), (keras.utils.get_file, tmp_path / "theirs")):
        fn, cache = ours_theirs
        with pytest.warns(UserWarning, match="Could not extract archive."):
            kept = fn("raw.tar.gz", url + "pkg.tar.gz", extract=True, archive_format=None, cache_dir=str(cache))
        assert not os.path.exists(kept) and os.path.relpath(kept, cache) == os.path.join("datasets", "raw_extracted")
    zipped = tmp_path / "pkg.zip"
    import zipfile

    with zipfile.ZipFile(zipped, "w") as z:
        z.write(inner / "a.txt", "pkg/a.txt")
    (www / "z.tar.gz").write_bytes(zipped.read_bytes())  # a zip under a tar name: untar=True refuses it
    with pytest.raises(ValueError, match="z.tar.gz: could not unpack it: not a tar archive"):
        get_file("z.tar.gz", url + "z.tar.gz", untar=True, cache_dir=str(tmp_path / "ours"))
    (www / "broken.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="broken.tar.gz: could not unpack it"):
        get_file("broken.tar.gz", url + "broken.tar.gz", extract=True, cache_dir=str(tmp_path / "ours"))
    assert not os.path.exists(tmp_path / "ours" / "datasets" / "broken_extracted")
    assert not [n for n in os.listdir(tmp_path / "ours" / "datasets") if n.startswith(".unpack-")]


def test_get_file_downloads_the_origin_with_its_query_string(tmp_path):
    """An origin such as ``.../data.npz?raw=true`` (a GitHub or signed link) is fetched as given,
    whether the file's name comes from it or is given, as Keras's ``get_file`` does."""
    import http.server
    import threading

    asked = []

    class QueryOnly(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            asked.append(self.path)
            body = b"the file" if self.path == "/d/data.bin?raw=true" else b"a page asking for the token"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QueryOnly)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        origin = f"http://127.0.0.1:{httpd.server_address[1]}/d/data.bin?raw=true"
        for fname in (None, "data.bin"):
            path = get_file(fname, origin, cache_dir=str(tmp_path / "k"), force_download=True)
            assert path == str(tmp_path / "k" / "datasets" / "data.bin")
            assert open(path, "rb").read() == b"the file"
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert asked == ["/d/data.bin?raw=true"] * 2


def test_imdb_sentiment_script_learns(keras_server, monkeypatch):
    """The classic Keras IMDB script (load_data(num_words=...), pad_sequences, Embedding, pooling,
    a sigmoid unit) on a small IMDB-format file whose label is whether word 7 occurs."""
    from nerve import keras as nk

    www, _ = keras_server
    rng = np.random.default_rng(3)
    seqs = _ragged(rng, 400, vocab=40)
    labels = np.array([int(7 in s) for s in seqs])
    _publish(monkeypatch, datasets.imdb, www, "imdb.npz", {"x_train": seqs[:300], "y_train": labels[:300],
                                                           "x_test": seqs[300:], "y_test": labels[300:]})
    (x_train, y_train), (x_test, y_test) = nk.datasets.imdb.load_data(num_words=60)
    x_train = nk.utils.pad_sequences(x_train, maxlen=30)
    x_test = nk.utils.pad_sequences(x_test, maxlen=30)
    nk.utils.set_random_seed(0)
    model = nk.Sequential([nk.Input((30,), dtype="int32"), nk.layers.Embedding(60, 8),
                           nk.layers.GlobalMaxPooling1D(), nk.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=nk.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=15, validation_split=0.2, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.9, accuracy  # word 7 is index 10 after index_from=3
