"""``keras.datasets``: the standard datasets as Keras loads them (NumPy arrays), from the Keras
cache, a local copy or Keras's own download locations, each file checked against its checksum."""

from . import boston_housing, california_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist", "imdb", "mnist",
           "reuters"]
