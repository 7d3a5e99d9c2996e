"""``keras.datasets.mnist.load_data()`` and ``fashion_mnist.load_data()``: NumPy uint8 arrays in Keras's shapes.

Local copies first (the Keras cache ``~/.keras/datasets/``, Debian's ``dataset-fashion-mnist``,
torchvision-style roots), else Keras's download location, checksum-checked, cached where Keras
caches it.
"""

from __future__ import annotations

import os

import numpy as np

from .download import DEBIAN_FASHION_MNIST, fetch_file, keras_cache_dir
from .idx import read_idx

__all__ = ["load_fashion_mnist", "load_mnist"]

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
_FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def _torchvision_dirs(name):
    from .mnist import _torchvision_dirs as dirs

    return dirs(name)


def _expected(filename):
    n = 60000 if filename.startswith("train") else 10000
    return (n, 28, 28) if "images" in filename else (n,)


def _shape_check(filename, seen=None):
    def ok(path):
        a = read_idx(path)
        if seen is not None:
            seen[path] = a  # read once: the check's array is the one returned
        return a.shape == _expected(filename) and a.dtype == np.uint8
    return ok


def _read_local_idx(dirs):
    """The four MNIST-format arrays from the first folder that holds them all (plain or .gz), else None."""
    for d in dirs:
        d = os.path.expanduser(d)
        found = []
        for base in _IDX_FILES:
            p = next((os.path.join(d, n) for n in (base, base + ".gz") if os.path.isfile(os.path.join(d, n))), None)
            found.append(p)
        if all(found):
            try:
                arrays = [read_idx(p) for p in found]
            except ValueError:
                continue
            if all(a.shape == _expected(b) for a, b in zip(arrays, _IDX_FILES)):
                return arrays
    return None


def load_mnist(path: str = "mnist.npz"):
    """MNIST as ``((x_train, y_train), (x_test, y_test))``: uint8 arrays (60000, 28, 28), (60000,), ...

    Args:
        path: the file name under ``~/.keras/datasets/`` (as Keras).
    """
    cache = os.path.join(keras_cache_dir(), "datasets")
    target = os.path.join(cache, path)
    from .download import check_integrity

    if not check_integrity(target, sha256=MNIST_NPZ_SHA256):
        arrays = _read_local_idx(_torchvision_dirs("MNIST"))
        if arrays is not None:
            x_train, y_train, x_test, y_test = arrays
            return (x_train, y_train), (x_test, y_test)
    name = os.path.basename(path)
    npz = fetch_file(name, os.path.dirname(target), sha256=MNIST_NPZ_SHA256,
                     mirrors=[KERAS_ORIGIN] if name == "mnist.npz" else [], dataset="keras.datasets.mnist",
                     hint=f"download {KERAS_ORIGIN}mnist.npz into {cache}, or the MNIST IDX files into "
                          f"{_torchvision_dirs('MNIST')[0]}")
    with np.load(npz, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_fashion_mnist():
    """Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``: uint8 arrays (60000, 28, 28), (60000,), ..."""
    cache = os.path.join(keras_cache_dir(), "datasets", "fashion-mnist")
    local = [DEBIAN_FASHION_MNIST] + _torchvision_dirs("FashionMNIST")
    paths, seen = {}, {}
    for base in _IDX_FILES:
        fname = base + ".gz"
        paths[base] = fetch_file(fname, cache, md5=_FASHION_MD5[fname],
                                 mirrors=[KERAS_ORIGIN, "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
                                 local_dirs=local, validate=_shape_check(fname, seen), dataset="keras.datasets.fashion_mnist",
                                 hint="on Debian or Ubuntu install the dataset-fashion-mnist package, or download "
                                      f"the four files from {KERAS_ORIGIN}", copy_local=False)
    x_train, y_train, x_test, y_test = (seen[paths[b]] if paths[b] in seen else read_idx(paths[b]) for b in _IDX_FILES)
    return (x_train, y_train), (x_test, y_test)
