"""``keras.datasets.mnist``."""


def load_data(path="mnist.npz"):
    """``(x_train, y_train), (x_test, y_test)``: (60000, 28, 28) and (10000, 28, 28) uint8 images."""
    from nerve.vision.datasets import load_mnist

    return load_mnist(path)
