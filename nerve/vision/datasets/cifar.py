"""CIFAR-10 and CIFAR-100, as in torchvision, and the arrays behind ``keras.datasets.cifar10.load_data()``.

The files are the "python version" batches (pickles) under ``root/cifar-10-batches-py/``. They
are read with an unpickler that only rebuilds NumPy arrays, lists, dicts and strings: a file
that asks for anything else is refused, never run. ``download=True`` first looks for a copy
(an extracted folder or the archive in the Keras cache and torchvision-style roots), else
downloads the archive, checksum-checked.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile

import numpy as np
from PIL import Image

from ..._atomic import atomic_write
from ...backend import CPU
from ...tensor import Tensor
from ...utils.data.collate import CollatedBatch
from ..transforms.transforms import is_batchable
from .arrays import ArraysOnlyUnpickler
from .download import check_integrity, fetch_file, keras_cache_dir
from .vision import VisionDataset

__all__ = ["CIFAR10", "CIFAR100", "load_cifar10", "load_cifar100"]

def load_batch(path) -> dict:
    """One CIFAR pickle as a dict with str keys, loaded without running code from the file."""
    try:
        with open(path, "rb") as f:
            entry = ArraysOnlyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a valid CIFAR batch file: {e}") from e
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: not a valid CIFAR batch file (expected a dict, got {type(entry).__name__})")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _search_dirs(keras_target: str) -> list[str]:
    """Where a copy may already be: the Keras cache (Keras 3 unpacks into ``datasets/<keras_target>``),
    ``data`` folders and torchvision's cache."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "torch")
    keras = os.path.join(keras_cache_dir(), "datasets")
    return [keras, os.path.join(keras, keras_target), "data", os.path.join(os.path.expanduser("~"), "data"),
            os.path.join(torch_home, "datasets")]


class CIFAR10(VisionDataset):
    """CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes.

    Args:
        root: folder holding ``cifar-10-batches-py/``.
        train: the training batches (else the test batch).
        transform: applied to each PIL image.
        target_transform: applied to each int label.
        download: fetch the archive when the files are missing (local copies first).

    Attributes:
        data: uint8 array (N, 32, 32, 3), as torchvision. targets: list of int. classes, class_to_idx.
    """

    base_folder = "cifar-10-batches-py"
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names", "md5": "5ff9c542aee3614f3951f8cda6e48888"}
    label_key = "labels"
    #: folders searched for a copy before downloading (None: the Keras cache and torchvision-style roots)
    local_dirs: list[str] | None = None

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if not self._check_integrity():
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
        batches = [load_batch(os.path.join(self.root, self.base_folder, name))
                   for name, _ in (self.train_list if train else self.test_list)]
        self.data = np.vstack([b["data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
        self._labels = np.concatenate([np.asarray(b[self.label_key], dtype=np.int64) for b in batches])
        self.targets = self._labels.tolist()
        meta = load_batch(os.path.join(self.root, self.base_folder, self.meta["filename"]))
        self.classes = list(meta[self.meta["key"]])
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _files(self):
        return self.train_list + self.test_list + [[self.meta["filename"], self.meta["md5"]]]

    def _check_integrity(self, folder=None) -> bool:
        folder = folder or os.path.join(self.root, self.base_folder)
        return all(check_integrity(os.path.join(folder, name), md5) for name, md5 in self._files())

    def download(self) -> None:
        """Get the batches into ``root``: an extracted copy, a local archive, or the mirrors."""
        if self._check_integrity():
            return
        dirs = self._search_dirs()
        for d in dirs:
            folder = os.path.join(os.path.expanduser(d), self.base_folder)
            if os.path.abspath(folder) != os.path.abspath(os.path.join(self.root, self.base_folder)) and \
                    self._check_integrity(folder):
                for name, _ in self._files():
                    with open(os.path.join(folder, name), "rb") as src, \
                            atomic_write(os.path.join(self.root, self.base_folder, name)) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                return
        archive = fetch_file(self.filename, self.root, md5=self.tgz_md5, mirrors=self.mirrors, local_dirs=dirs,
                             dataset=type(self).__name__, hint=f"download {self.mirrors[0]}{self.filename}")
        self._extract(archive)
        if not self._check_integrity():
            raise RuntimeError(f"{archive}: the archive does not hold the expected {self.base_folder} files")

    def _search_dirs(self) -> list[str]:
        return list(self.local_dirs) if self.local_dirs is not None else _search_dirs(self.base_folder + "-target")

    def _extract(self, archive: str) -> None:
        wanted = {f"{self.base_folder}/{name}" for name, _ in self._files()}
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if member.name in wanted and member.isfile():
                    src = tar.extractfile(member)
                    with src, atomic_write(os.path.join(self.root, member.name)) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        """(PIL RGB image, int label), each through its transform."""
        img = Image.fromarray(self.data[int(index)])
        target = self.targets[int(index)]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _batches_from_memory(self) -> bool:
        return self.transform is not None and self.target_transform is None and is_batchable(self.transform)

    def __getitems__(self, indices):
        """A whole batch with one fancy index and the transform on the batch (see ``MNIST.__getitems__``)."""
        if not self._batches_from_memory() or len(self.targets) != len(self._labels):
            return [self[i] for i in indices]
        idx = np.asarray(indices, dtype=np.int64)
        images = self.transform.batch(self.data[idx])
        return CollatedBatch([images, Tensor._make(np.asarray(self.targets, dtype=np.int64)[idx], CPU)], len(idx))

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"


class CIFAR100(CIFAR10):
    """CIFAR-100: as CIFAR-10 with 100 fine classes."""

    base_folder = "cifar-100-python"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names", "md5": "7973b15100ade9c7d40fb424638fde48"}
    label_key = "fine_labels"


def load_cifar10():
    """CIFAR-10 as Keras gives it: ``(x_train (50000, 32, 32, 3) uint8, y_train (50000, 1) uint8), (x_test, y_test)``."""
    root = os.path.join(keras_cache_dir(), "datasets")
    train = CIFAR10(root, train=True, download=True)
    test = CIFAR10(root, train=False)
    return ((train.data, train._labels.astype(np.uint8).reshape(-1, 1)),
            (test.data, test._labels.astype(np.uint8).reshape(-1, 1)))


def load_cifar100(label_mode: str = "fine"):
    """CIFAR-100 as Keras gives it: ``(x_train (50000, 32, 32, 3) uint8, y_train (50000, 1) int64), (x_test,
    y_test)``, with the 100 fine labels or (``label_mode="coarse"``) the 20 superclasses."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.')
    root = os.path.join(keras_cache_dir(), "datasets")
    out = []
    for train in (True, False):
        data = CIFAR100(root, train=train, download=train)
        if label_mode == "coarse":
            names = data.train_list if train else data.test_list
            labels = np.concatenate([np.asarray(load_batch(os.path.join(root, data.base_folder, name))
                                                ["coarse_labels"], dtype=np.int64) for name, _ in names])
        else:
            labels = data._labels
        out.append((data.data, labels.reshape(-1, 1)))
    return tuple(out)
