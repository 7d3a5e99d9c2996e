"""``keras.datasets.fashion_mnist``."""


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: (60000, 28, 28) and (10000, 28, 28) uint8 images."""
    from nerve.vision.datasets import load_fashion_mnist

    return load_fashion_mnist()
