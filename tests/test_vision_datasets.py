"""nerve.vision.datasets: the IDX reader, downloads (against a local HTTP server), MNIST/FashionMNIST
(real Fashion-MNIST from Debian's package), ImageFolder, image_dataset_from_directory, Keras loaders."""

import gzip
import hashlib
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

import nerve
from nerve.utils.data import DataLoader
from nerve.vision import datasets, transforms
from nerve.vision.datasets import download as dl
from nerve.vision.datasets.idx import IDXError, read_idx, write_idx
from nerve.vision.datasets.image_dataset import image_dataset_from_directory

DEBIAN = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(k, raising=False)


# ---------------------------------------------------------------- IDX


def idx_bytes(code, dtype, arr):
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(dtype).tobytes()


IDX_TYPES = [(0x08, ">u1", np.uint8), (0x09, ">i1", np.int8), (0x0B, ">i2", np.int16), (0x0C, ">i4", np.int32),
             (0x0D, ">f4", np.float32), (0x0E, ">f8", np.float64)]


@pytest.mark.parametrize("code, be, native", IDX_TYPES)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_every_dtype(tmp_path, code, be, native, gz):
    rng = np.random.default_rng(code)
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(native)
    raw = idx_bytes(code, be, arr)  # built by hand, big-endian, independent of write_idx
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(raw) if gz else raw)
    got = read_idx(path)
    assert got.dtype == native and got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, arr)
    path2 = tmp_path / ("b.idx" + (".gz" if gz else ""))
    write_idx(path2, arr)
    np.testing.assert_array_equal(read_idx(path2), arr)
    if not gz:
        assert path2.read_bytes() == raw


def test_idx_truncated_and_corrupt_files_name_the_file(tmp_path):
    arr = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    raw = idx_bytes(0x08, ">u1", arr)
    cases = {
        "short.idx": raw[:-7],
        "header.idx": raw[:6],
        "magic.idx": b"\x01\x02" + raw[2:],
        "code.idx": raw[:2] + b"\x0a" + raw[3:],
        "extra.idx": raw + b"\x00\x01",
        "empty.idx": b"",
        "short.idx.gz": gzip.compress(raw[:-10]),
        "cut.idx.gz": gzip.compress(raw)[:-12],
        "notgz.idx.gz": raw,
    }
    messages = {}
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(IDXError) as e:
            read_idx(p)
        assert str(p) in str(e.value)
        messages[name] = str(e.value)
    assert "truncated" in messages["short.idx"] and "expected 60 bytes" in messages["short.idx"]
    assert "not an IDX file" in messages["magic.idx"]
    assert "unknown IDX type code 0x0A" in messages["code.idx"]
    assert "bytes left after" in messages["extra.idx"]
    gzbad = tmp_path / "crc.idx.gz"
    blob = bytearray(gzip.compress(raw))
    blob[-8] ^= 0xFF  # break the CRC
    gzbad.write_bytes(bytes(blob))
    with pytest.raises(IDXError, match="crc.idx.gz"):
        read_idx(gzbad)


# ---------------------------------------------------------------- downloads against a local server


def make_tiny_mnist(folder, n_train=12, n_test=5, seed=0):
    """Small MNIST-format .gz files; returns {filename: md5}."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    os.makedirs(folder, exist_ok=True)
    md5 = {}
    for name, a in arrays.items():
        write_idx(os.path.join(folder, name), a)
        md5[name] = hashlib.md5(open(os.path.join(folder, name), "rb").read()).hexdigest()
    return md5, arrays


def tiny_class(md5, mirrors, name="TinyMNIST"):
    return type(name, (datasets.MNIST,), {
        "resources": [(f, m) for f, m in md5.items()], "mirrors": mirrors, "local_dirs": [], "_keras_npz": None,
    })


def leftovers(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_download_from_a_good_mirror(server, tmp_path):
    www, url = server
    md5, arrays = make_tiny_mnist(www / "good")
    Tiny = tiny_class(md5, [url + "/good/"])
    ds = Tiny(tmp_path / "root", train=True, download=True)
    assert len(ds) == 12 and ds.data.shape == (12, 28, 28) and ds.data.dtype == nerve.uint8
    np.testing.assert_array_equal(ds.data.numpy(), arrays["train-images-idx3-ubyte.gz"])
    assert ds.targets.dtype == nerve.int64
    raw = tmp_path / "root" / "TinyMNIST" / "raw"
    assert "train-images-idx3-ubyte" in leftovers(raw)  # extracted as torchvision does
    assert not [f for f in leftovers(raw) if f.endswith(".tmp")]
    img, label = ds[0]
    assert isinstance(img, Image.Image) and img.size == (28, 28) and isinstance(label, int)


def test_bad_checksum_then_good_mirror(server, tmp_path):
    www, url = server
    md5, arrays = make_tiny_mnist(www / "good")
    make_tiny_mnist(www / "bad", seed=1)  # same names, other bytes: wrong checksums
    Tiny = tiny_class(md5, [url + "/bad/", url + "/good/"])
    ds = Tiny(tmp_path / "root", train=False, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), arrays["t10k-images-idx3-ubyte.gz"])


def test_all_mirrors_bad_leaves_nothing(server, tmp_path):
    www, url = server
    md5, _ = make_tiny_mnist(www / "good")
    make_tiny_mnist(www / "bad", seed=1)
    Tiny = tiny_class(md5, [url + "/bad/", url + "/missing/"])
    root = tmp_path / "root"
    with pytest.raises(dl.DownloadError) as e:
        Tiny(root, download=True)
    msg = str(e.value)
    assert "TinyMNIST: could not get train-images-idx3-ubyte.gz" in msg
    assert url + "/bad/train-images-idx3-ubyte.gz: md5 checksum mismatch" in msg
    assert url + "/missing/train-images-idx3-ubyte.gz" in msg and "404" in msg
    assert "Looked for a local copy in" in msg and "To get the files" in msg
    assert leftovers(root / "TinyMNIST" / "raw") == []  # no partial file, no temporary file


def test_download_url_checksums(server, tmp_path):
    www, url = server
    (www / "f.bin").write_bytes(b"hello")
    out = dl.download_url(url + "/f.bin", tmp_path / "f.bin", sha256=hashlib.sha256(b"hello").hexdigest())
    assert open(out, "rb").read() == b"hello"
    with pytest.raises(Exception, match="sha256 checksum mismatch"):
        dl.download_url(url + "/f.bin", tmp_path / "g.bin", sha256="0" * 64)
    assert not (tmp_path / "g.bin").exists() and not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_local_copy_is_taken_before_download(tmp_path):
    md5, arrays = make_tiny_mnist(tmp_path / "copy")
    Tiny = type("TinyLocal", (datasets.MNIST,), {"resources": list(md5.items()), "mirrors": [],
                                                  "local_dirs": [str(tmp_path / "copy")], "_keras_npz": None})
    ds = Tiny(tmp_path / "root", download=True)
    np.testing.assert_array_equal(ds.targets.numpy(), arrays["train-labels-idx1-ubyte.gz"])


def test_no_files_without_download(tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True to download it"):
        datasets.MNIST(tmp_path)
    with pytest.raises(RuntimeError, match="download=True"):
        datasets.FashionMNIST(tmp_path, train=False)


def test_offline_without_copy_is_one_clear_error(tmp_path):
    Offline = type("FashionMNIST", (datasets.FashionMNIST,), {"local_dirs": [str(tmp_path / "nowhere")],
                                                              "mirrors": ["http://127.0.0.1:9/"]})
    with pytest.raises(dl.DownloadError) as e:
        Offline(tmp_path / "root", download=True)
    msg = str(e.value)
    assert "FashionMNIST: could not get train-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "nowhere") in msg and "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in msg
    assert "dataset-fashion-mnist" in msg
    assert leftovers(tmp_path / "root" / "FashionMNIST" / "raw") == []


# ---------------------------------------------------------------- real data: Fashion-MNIST from Debian


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory):
    if not os.path.isfile(os.path.join(DEBIAN, "train-images-idx3-ubyte.gz")):
        pytest.skip("Debian's dataset-fashion-mnist package is not installed")
    return tmp_path_factory.mktemp("fashion")


def test_fashion_mnist_from_the_debian_copy(fashion_root):
    assert os.listdir(fashion_root) == []
    train = datasets.FashionMNIST(fashion_root, train=True, download=True)
    test = datasets.FashionMNIST(fashion_root, train=False, download=True)
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == nerve.uint8
    assert test.data.shape == (10000, 28, 28) and len(test) == 10000
    assert train.targets.dtype == nerve.int64
    counts = np.bincount(train.targets.numpy(), minlength=10)
    assert counts.tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert np.bincount(test.targets.numpy()).tolist() == [1000] * 10
    assert train.classes[0] == "T-shirt/top" and train.classes[9] == "Ankle boot"
    assert train.class_to_idx["Bag"] == 8
    img, label = train[0]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
    assert label == 9  # the first training image is an ankle boot
    assert os.path.isfile(fashion_root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz")


def test_fashion_mnist_loader_vectorised_path(fashion_root):
    ds = datasets.FashionMNIST(fashion_root, train=False, download=True, transform=transforms.ToTensor())
    idx = [5, 0, 9999, 17]
    batch = ds.__getitems__(idx)
    x, y = batch.batch
    assert x.shape == (4, 1, 28, 28) and x.dtype == nerve.float32 and y.dtype == nerve.int64
    per_item = [ds[i] for i in idx]
    np.testing.assert_array_equal(x.numpy(), np.stack([p[0].numpy() for p in per_item]))
    assert y.tolist() == [p[1] for p in per_item]
    loader = DataLoader(ds, batch_size=64, shuffle=True)
    n, seen = 0, 0
    for xb, yb in loader:
        n += 1
        seen += len(yb)
    assert n == len(loader) == 157 and seen == 10000
    assert 0.0 <= float(xb.min()) and float(xb.max()) <= 1.0
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    norm = datasets.FashionMNIST(fashion_root, train=False, transform=tf)
    a = next(iter(DataLoader(norm, batch_size=8)))[0]
    b = next(iter(DataLoader(norm, batch_size=8, collate_fn=lambda s: nerve.stack([t for t, _ in s]))))
    np.testing.assert_allclose(a.numpy(), b.numpy())
    c = next(iter(DataLoader(norm, batch_size=8, num_workers=2)))[0]
    np.testing.assert_array_equal(a.numpy(), c.numpy())


def test_keras_fashion_mnist_load_data(fashion_root, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert set(np.unique(y_train).tolist()) == set(range(10))


def test_keras_mnist_local_idx_and_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    from nerve.vision.datasets import keras_datasets

    monkeypatch.setattr(keras_datasets, "KERAS_ORIGIN", "http://127.0.0.1:9/")
    with pytest.raises(dl.DownloadError, match="keras.datasets.mnist: could not get mnist.npz"):
        datasets.load_mnist()
    assert leftovers(tmp_path / "keras" / "datasets") == []
    raw = tmp_path / "data" / "MNIST" / "raw"
    rng = np.random.default_rng(0)
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8))
    write_idx(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, 60000).astype(np.uint8))
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 10000).astype(np.uint8))
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8 and y_test.shape == (10000,)


# ---------------------------------------------------------------- image folders


@pytest.fixture()
def image_tree(tmp_path):
    """root/{cat,dog,eel}: RGB PNGs, grayscale and RGBA PNGs, JPEGs; a text file that is ignored."""
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    made = {}
    for cls, n in (("dog", 3), ("cat", 4), ("eel", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            h, w = 20 + i, 30 - i
            if i % 3 == 0:
                img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
                name = f"{i}.png"
            elif i % 3 == 1:
                img = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))  # grayscale
                name = f"{i}.jpg"
            else:
                img = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8))  # RGBA
                name = f"{i}.png"
            img.save(root / cls / name)
            made[f"{cls}/{name}"] = img
    (root / "cat" / "notes.txt").write_text("not an image")
    return root, made


def test_image_folder(image_tree):
    root, made = image_tree
    ds = datasets.ImageFolder(root)
    assert ds.classes == ["cat", "dog", "eel"] and ds.class_to_idx == {"cat": 0, "dog": 1, "eel": 2}
    assert len(ds) == 9 and ds.targets == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert [os.path.relpath(p, root) for p, _ in ds.samples[:4]] == ["cat/0.png", "cat/1.jpg", "cat/2.png", "cat/3.png"]
    assert ds.imgs == ds.samples
    for k in range(len(ds)):
        img, label = ds[k]
        assert isinstance(img, Image.Image) and img.mode == "RGB" and isinstance(label, int)
    img, _ = ds[2]  # the RGBA file, converted to RGB (alpha dropped)
    np.testing.assert_array_equal(np.asarray(img), np.asarray(made["cat/2.png"].convert("RGB")))
    tf = transforms.Compose([transforms.Resize(16), transforms.CenterCrop(16), transforms.ToTensor()])
    loader = DataLoader(datasets.ImageFolder(root, transform=tf), batch_size=4, shuffle=True)
    xb, yb = next(iter(loader))
    assert xb.shape == (4, 3, 16, 16) and yb.dtype == nerve.int64
    only_png = datasets.ImageFolder(root, is_valid_file=lambda p: p.endswith(".png"), allow_empty=True)
    assert all(p.endswith(".png") for p, _ in only_png.samples)


def test_image_folder_errors(image_tree, tmp_path):
    root, _ = image_tree
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    ds = datasets.ImageFolder(root)
    k = [p for p, _ in ds.samples].index(str(root / "dog" / "broken.jpg"))
    with pytest.raises(OSError, match="broken.jpg"):
        ds[k]
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes a"):
        datasets.ImageFolder(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(tmp_path / "flat")


def test_image_folder_workers_match(image_tree):
    root, _ = image_tree
    tf = transforms.Compose([transforms.Resize((8, 8)), transforms.ToTensor()])
    ds = datasets.ImageFolder(root, transform=tf)
    a = [(x.numpy(), y.tolist()) for x, y in DataLoader(ds, batch_size=2)]
    b = [(x.numpy(), y.tolist()) for x, y in DataLoader(ds, batch_size=2, num_workers=2)]
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        assert ya == yb


def test_image_dataset_from_directory(image_tree):
    root, made = image_tree
    ds = image_dataset_from_directory(root, image_size=(12, 10), batch_size=4, shuffle=False, verbose=False)
    assert ds.class_names == ["cat", "dog", "eel"] and len(ds) == 3
    assert [os.path.relpath(p, root) for p in ds.file_paths][:2] == ["cat/0.png", "cat/1.jpg"]
    batches = list(ds)
    x, y = batches[0]
    assert x.shape == (4, 12, 10, 3) and x.dtype == np.float32 and y.dtype == np.int32
    assert y.tolist() == [0, 0, 0, 0] and batches[-1][0].shape == (1, 12, 10, 3)
    assert 0 <= x.min() and x.max() <= 255 and x.max() > 1
    # bilinear without antialiasing, as tf.image.resize (and torch's interpolate, align_corners=False)
    torch = pytest.importorskip("torch")
    src = np.asarray(made["cat/0.png"]).astype(np.float32)
    want = torch.nn.functional.interpolate(torch.tensor(src).permute(2, 0, 1)[None], size=(12, 10), mode="bilinear",
                                           align_corners=False, antialias=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(x[0], want, rtol=1e-5, atol=1e-3)


def test_image_dataset_label_and_color_modes(image_tree):
    root, _ = image_tree
    kw = dict(image_size=(8, 8), shuffle=False, verbose=False, batch_size=9)
    x, y = next(iter(image_dataset_from_directory(root, label_mode="categorical", **kw)))
    assert y.shape == (9, 3) and y.dtype == np.float32 and y.sum(axis=1).tolist() == [1.0] * 9
    g, _ = next(iter(image_dataset_from_directory(root, color_mode="grayscale", **kw)))
    assert g.shape == (9, 8, 8, 1)
    a, _ = next(iter(image_dataset_from_directory(root, color_mode="rgba", **kw)))
    assert a.shape == (9, 8, 8, 4)
    only = next(iter(image_dataset_from_directory(root, labels=None, **kw)))
    assert isinstance(only, np.ndarray) and only.shape == (9, 8, 8, 3)
    two = image_dataset_from_directory(root, class_names=["eel", "dog"], label_mode="binary", **kw)
    xb, yb = next(iter(two))
    assert two.class_names == ["eel", "dog"] and yb.shape == (5, 1) and yb.dtype == np.float32
    assert yb[:, 0].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]  # the order of class_names: eel (2 files) then dog
    manual = image_dataset_from_directory(root, labels=list(range(9)), **kw)
    assert manual.class_names == [str(i) for i in range(9)]
    with pytest.raises(ValueError, match="exactly 2 class_names"):
        image_dataset_from_directory(root, label_mode="binary", **kw)


def test_image_dataset_validation_split_as_keras(image_tree):
    root, _ = image_tree
    kw = dict(image_size=(8, 8), seed=42, validation_split=0.34, verbose=False, batch_size=2)
    train = image_dataset_from_directory(root, subset="training", **kw)
    val = image_dataset_from_directory(root, subset="validation", **kw)
    both = image_dataset_from_directory(root, subset="both", **kw)
    # Keras: sorted files shuffled by np.random.RandomState(seed), validation = the last int(0.34 * 9) = 3
    files = [str(root / c / f) for c in ("cat", "dog", "eel") for f in sorted(os.listdir(root / c)) if not f.endswith(".txt")]
    np.random.RandomState(42).shuffle(files)
    assert train.file_paths == files[:-3] and val.file_paths == files[-3:]
    assert both[0].file_paths == train.file_paths and both[1].file_paths == val.file_paths
    assert set(train.file_paths).isdisjoint(val.file_paths) and len(train) == 3 and len(val) == 2
    labels = sorted(int(y) for _, yb in train for y in yb)
    want = sorted(["cat", "dog", "eel"].index(os.path.basename(os.path.dirname(p))) for p in files[:-3])
    assert labels == want
    with pytest.raises(ValueError, match="you must provide a `seed` argument"):
        image_dataset_from_directory(root, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="If `subset` is set, `validation_split` must be set"):
        image_dataset_from_directory(root, subset="training", seed=1)
    with pytest.raises(ValueError, match="`color_mode` must be one of"):
        image_dataset_from_directory(root, color_mode="cmyk")
    with pytest.raises(ValueError, match="`label_mode` argument must be one of"):
        image_dataset_from_directory(root, label_mode="sparse")


def test_image_dataset_broken_file_and_crop(image_tree):
    root, _ = image_tree
    ds = image_dataset_from_directory(root, image_size=(10, 10), crop_to_aspect_ratio=True, shuffle=False,
                                      verbose=False)
    x, _ = next(iter(ds))
    assert x.shape == (9, 10, 10, 3)
    (root / "eel" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = image_dataset_from_directory(root, image_size=(10, 10), shuffle=False, verbose=False)
    with pytest.raises(OSError, match="zz.png"):
        list(ds)


def test_keras_get_file(server, tmp_path):
    www, url = server
    (www / "blob.bin").write_bytes(b"x" * 1000)
    digest = hashlib.sha256(b"x" * 1000).hexdigest()
    path = dl.get_file("blob.bin", url + "/blob.bin", file_hash=digest, cache_dir=str(tmp_path / "k"))
    assert path == str(tmp_path / "k" / "datasets" / "blob.bin") and open(path, "rb").read() == b"x" * 1000
    (www / "blob.bin").unlink()  # cached now: no download needed
    assert dl.get_file("blob.bin", url + "/blob.bin", file_hash=digest, cache_dir=str(tmp_path / "k")) == path
    with pytest.raises(dl.DownloadError, match="sha256 checksum mismatch"):
        (www / "other.bin").write_bytes(b"y")
        dl.get_file("other.bin", url + "/other.bin", file_hash="0" * 64, cache_dir=str(tmp_path / "k"))
    assert not (tmp_path / "k" / "datasets" / "other.bin").exists()


def test_image_dataset_tf_style_pipeline(image_tree):
    root, _ = image_tree
    ds = image_dataset_from_directory(root, image_size=(8, 8), batch_size=2, seed=1, verbose=False)
    piped = ds.cache().shuffle(10, seed=3).prefetch(buffer_size=-1).map(lambda x, y: (x / 255.0, y))
    batches = list(piped)
    assert len(batches) == len(ds) == 5 and all(b[0].max() <= 1.0 for b in batches)
    assert sum(len(b[1]) for b in batches) == 9
    first = list(ds.take(1))
    assert len(first) == 1 and first[0][0].shape == (2, 8, 8, 3)
    images, labels = first[0]  # as tf tensors: .numpy() works, so Keras tutorials' plotting code runs
    assert images[0].numpy().astype("uint8").shape == (8, 8, 3) and type(images.numpy()) is np.ndarray
    assert int(labels[0]) in (0, 1, 2) and labels.numpy().dtype == np.int32


def test_written_files_get_the_usual_mode(tmp_path):
    write_idx(tmp_path / "a.idx", np.zeros(3, np.uint8))
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(tmp_path / "a.idx").st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


# ---------------------------------------------------------------- CIFAR


def make_cifar_archive(folder, n_per_batch=4, seed=0):
    """A small cifar-10-python.tar.gz with the real layout; returns (md5s of the members, tgz md5, arrays)."""
    import tarfile

    rng = np.random.default_rng(seed)
    src = folder / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    arrays = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        arrays[name] = (data, labels)
        with open(src / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, f, protocol=2)
    with open(src / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"], "num_vis": 3072}, f, protocol=2)
    md5 = {n: hashlib.md5((src / n).read_bytes()).hexdigest() for n in names + ["batches.meta"]}
    tgz = folder / "cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    return md5, hashlib.md5(tgz.read_bytes()).hexdigest(), arrays


def tiny_cifar(md5, tgz_md5, mirrors, local_dirs=()):
    return type("CIFAR10", (datasets.CIFAR10,), {
        "train_list": [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)],
        "test_list": [["test_batch", md5["test_batch"]]],
        "meta": {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]},
        "tgz_md5": tgz_md5, "mirrors": mirrors, "local_dirs": list(local_dirs),
    })


def test_cifar10_download_and_items(server, tmp_path):
    www, url = server
    md5, tgz_md5, arrays = make_cifar_archive(www)
    C = tiny_cifar(md5, tgz_md5, [url + "/"])
    with pytest.raises(RuntimeError, match="You can use download=True"):
        C(tmp_path / "root")
    train = C(tmp_path / "root", train=True, download=True, transform=transforms.ToTensor())
    test = C(tmp_path / "root", train=False)
    assert train.data.shape == (20, 32, 32, 3) and train.data.dtype == np.uint8 and len(test) == 4
    want = arrays["data_batch_1"][0].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(train.data[:4], want)
    assert train.targets[:4] == arrays["data_batch_1"][1] and train.classes[3] == "cat"
    img, label = test[0]
    assert isinstance(img, Image.Image) and img.size == (32, 32) and img.mode == "RGB" and isinstance(label, int)
    x, y = next(iter(DataLoader(train, batch_size=8)))
    assert x.shape == (8, 3, 32, 32) and x.dtype == nerve.float32 and y.tolist() == train.targets[:8]
    np.testing.assert_array_equal(x.numpy()[0], transforms.ToTensor()(want[0]).numpy())
    # a second root takes the extracted folder as a local copy, without the network
    C2 = tiny_cifar(md5, tgz_md5, [], local_dirs=[tmp_path / "root"])
    assert len(C2(tmp_path / "other", download=True)) == 20


def test_cifar_pickles_cannot_run_code(tmp_path):
    from nerve.vision.datasets.cifar import load_batch

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (tmp_path / "evil").write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="evil.*refused to load"):
        load_batch(tmp_path / "evil")
    assert not (tmp_path / "pwned").exists()
