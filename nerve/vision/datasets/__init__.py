"""Datasets, as ``torchvision.datasets``: ``MNIST``, ``FashionMNIST``, ``KMNIST``, ``CIFAR10``, ``CIFAR100``,
``ImageFolder``, ``DatasetFolder``, ``FakeData``.

Also the pieces behind Keras's ``image_dataset_from_directory`` and ``keras.datasets``
(``image_dataset``, ``keras_datasets``), the IDX reader (``idx``) and downloads (``download``).
"""

from .cifar import CIFAR10, CIFAR100, load_cifar10, load_cifar100
from .download import DownloadError
from .fakedata import FakeData
from .folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder, default_loader, find_classes, make_dataset
from .idx import IDXError, read_idx, write_idx
from .image_dataset import image_dataset_from_directory
from .keras_datasets import load_fashion_mnist, load_mnist
from .mnist import KMNIST, MNIST, FashionMNIST
from .vision import VisionDataset

__all__ = [
    "CIFAR10", "CIFAR100", "IMG_EXTENSIONS", "DatasetFolder", "DownloadError", "FakeData", "FashionMNIST", "IDXError", "ImageFolder", "KMNIST",
    "MNIST", "VisionDataset", "default_loader", "find_classes", "image_dataset_from_directory",
    "load_cifar10", "load_cifar100", "load_fashion_mnist", "load_mnist", "make_dataset", "read_idx", "write_idx",
]
