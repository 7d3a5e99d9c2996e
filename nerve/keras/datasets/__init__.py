"""``keras.datasets``: ``mnist.load_data()`` and ``fashion_mnist.load_data()`` (uint8 NumPy arrays)."""

from . import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
