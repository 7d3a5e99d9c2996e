"""MNIST, Fashion-MNIST and Kuzushiji-MNIST, as in torchvision.

Files live under ``root/<ClassName>/raw/`` (torchvision's layout). ``download=True`` first takes
a local copy (Debian's ``dataset-fashion-mnist`` package, the Keras cache, torchvision-style
roots), else the public mirrors, checksum-checked. The images stay in one uint8 array, so a
batch is one fancy index: ``__getitems__`` with a batchable transform (``ToTensor``,
``Normalize``, ``Compose`` of those) builds the whole batch in a few NumPy operations.
"""

from __future__ import annotations

import gzip
import os
import shutil
import warnings

import numpy as np
from PIL import Image

from ..._atomic import atomic_write
from ...backend import CPU
from ...tensor import Tensor
from ...utils.data.collate import CollatedBatch
from ..transforms.transforms import is_batchable
from .download import DEBIAN_FASHION_MNIST, fetch_file, keras_cache_dir
from .idx import IDXError, read_idx, write_idx
from .vision import VisionDataset

__all__ = ["FashionMNIST", "KMNIST", "MNIST"]


def _torchvision_dirs(name: str) -> list[str]:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "torch")
    return [os.path.join("data", name, "raw"), os.path.join(os.path.expanduser("~"), "data", name, "raw"),
            os.path.join(torch_home, "datasets", name, "raw")]


class MNIST(VisionDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28, 10 classes.

    Args:
        root: folder holding ``MNIST/raw/``.
        train: the training set (else the test set).
        transform: applied to each PIL image (e.g. ``ToTensor()``).
        target_transform: applied to each int label.
        download: fetch the files when they are not under ``root`` (local copies first).

    Attributes:
        data: uint8 tensor (N, 28, 28). targets: int64 tensor (N,). classes: the class names.
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    #: folders searched for a local copy before downloading (None: the defaults of ``_local_dirs``)
    local_dirs: list[str] | None = None
    _keras_npz = ("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
    _hint = ("download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
             "t10k-labels-idx1-ubyte.gz from https://ossci-datasets.s3.amazonaws.com/mnist/ (or put Keras's "
             "mnist.npz in ~/.keras/datasets/)")

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if not self._check_exists():
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        self._images, self._labels = self._load_data()

    # ------------------------------------------------------------ files

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def _local_dirs(self) -> list[str]:
        if self.local_dirs is not None:
            return list(self.local_dirs)
        return _torchvision_dirs(type(self).__name__)

    def _file(self, base: str) -> str | None:
        for name in (base, base + ".gz"):
            p = os.path.join(self.raw_folder, name)
            if os.path.isfile(p):
                return p
        return None

    def _check_exists(self) -> bool:
        return all(self._file(os.path.splitext(f)[0]) is not None for f, _ in self.resources)

    @staticmethod
    def _expected_shape(filename: str) -> tuple[int, ...]:
        n = 60000 if filename.startswith("train") else 10000
        return (n, 28, 28) if "images" in filename else (n,)

    def _validator(self, filename: str):
        shape = self._expected_shape(filename)

        def ok(path: str) -> bool:
            arr = read_idx(path)
            return arr.shape == shape and arr.dtype == np.uint8

        return ok

    def _from_keras_npz(self) -> bool:
        """Write the raw files from Keras's ``mnist.npz`` when it is cached; True on success."""
        if self._keras_npz is None:
            return False
        from .download import check_integrity

        path = os.path.join(keras_cache_dir(), "datasets", self._keras_npz[0])
        if not check_integrity(path, sha256=self._keras_npz[1]):
            return False
        with np.load(path, allow_pickle=False) as f:
            arrays = {"train-images-idx3-ubyte.gz": f["x_train"], "train-labels-idx1-ubyte.gz": f["y_train"],
                      "t10k-images-idx3-ubyte.gz": f["x_test"], "t10k-labels-idx1-ubyte.gz": f["y_test"]}
        for name, arr in arrays.items():
            write_idx(os.path.join(self.raw_folder, name), arr.astype(np.uint8))
        return True

    def download(self) -> None:
        """Get the four raw files into ``raw_folder``: a local copy if there is one, else the mirrors."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        missing = [(f, md5) for f, md5 in self.resources if self._file(os.path.splitext(f)[0]) is None]
        local = self._local_dirs()
        have_local = any(os.path.isfile(os.path.join(os.path.expanduser(d), f)) for d in local for f, _ in missing)
        if not have_local and self._from_keras_npz():
            missing = []
        for filename, md5 in missing:
            path = fetch_file(filename, self.raw_folder, md5=md5, mirrors=self.mirrors, local_dirs=local,
                              validate=self._validator(filename), dataset=type(self).__name__, hint=self._hint)
            self._extract(path)

    @staticmethod
    def _extract(gz_path: str) -> None:
        """Decompress next to the .gz (as torchvision does), through a temporary file."""
        out = gz_path[:-3]
        if os.path.isfile(out):
            return
        with gzip.open(gz_path, "rb") as src, atomic_write(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

    def _load_data(self) -> tuple[np.ndarray, np.ndarray]:
        prefix = "train" if self.train else "t10k"
        img_path = self._file(f"{prefix}-images-idx3-ubyte")
        lbl_path = self._file(f"{prefix}-labels-idx1-ubyte")
        images = read_idx(img_path)
        labels = read_idx(lbl_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise IDXError(f"{img_path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise IDXError(f"{lbl_path}: expected {len(images)} labels (one per image in {img_path}), "
                           f"got shape {labels.shape}")
        return images, labels.astype(np.int64)

    # ------------------------------------------------------------ items

    @property
    def data(self) -> Tensor:
        return Tensor._make(self._images, CPU)

    @data.setter
    def data(self, value) -> None:
        self._images = np.asarray(value.numpy() if isinstance(value, Tensor) else value)

    @property
    def targets(self) -> Tensor:
        return Tensor._make(self._labels, CPU)

    @targets.setter
    def targets(self, value) -> None:
        self._labels = np.asarray(value.numpy() if isinstance(value, Tensor) else value).astype(np.int64)

    @property
    def train_labels(self) -> Tensor:
        warnings.warn("train_labels has been renamed targets")
        return self.targets

    @property
    def test_labels(self) -> Tensor:
        warnings.warn("test_labels has been renamed targets")
        return self.targets

    @property
    def train_data(self) -> Tensor:
        warnings.warn("train_data has been renamed data")
        return self.data

    @property
    def test_data(self) -> Tensor:
        warnings.warn("test_data has been renamed data")
        return self.data

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int):
        """(PIL image, int label), each through its transform."""
        img = Image.fromarray(self._images[int(index)], mode="L")
        target = int(self._labels[int(index)])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __getitems__(self, indices):
        """A whole batch: one fancy index, and the transform on the whole batch when it allows.

        Returns a ``CollatedBatch`` ``[images, labels]`` when the transform is batchable (and there is
        no target_transform), else the list of ``self[i]``.
        """
        if self.transform is None or self.target_transform is not None or not is_batchable(self.transform):
            return [self[i] for i in indices]
        idx = np.asarray(indices, dtype=np.int64)
        images = self.transform.batch(self._images[idx])
        return CollatedBatch([images, Tensor._make(self._labels[idx], CPU)], len(idx))

    def _batches_from_memory(self) -> bool:
        """True when ``__getitems__`` builds batches in a few array operations (the DataLoader then
        needs no workers)."""
        return self.transform is not None and self.target_transform is None and is_batchable(self.transform)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grayscale clothes in 10 classes, MNIST's format and sizes.

    ``download=True`` takes Debian's ``dataset-fashion-mnist`` copy when installed.
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    _keras_npz = None
    _hint = ("on Debian or Ubuntu install the dataset-fashion-mnist package (apt install dataset-fashion-mnist), "
             "or download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
             "and t10k-labels-idx1-ubyte.gz from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")

    def _local_dirs(self) -> list[str]:
        if self.local_dirs is not None:
            return list(self.local_dirs)
        return [DEBIAN_FASHION_MNIST, os.path.join(keras_cache_dir(), "datasets", "fashion-mnist")] + \
            _torchvision_dirs(type(self).__name__)


class KMNIST(MNIST):
    """Kuzushiji-MNIST: 28x28 cursive Japanese characters in 10 classes."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    _keras_npz = None
    _hint = "download the four files from http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
