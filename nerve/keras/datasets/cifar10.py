"""``keras.datasets.cifar10``."""


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: (50000, 32, 32, 3) and (10000, 32, 32, 3) uint8 images,
    (n, 1) uint8 labels 0-9."""
    from nerve.vision.datasets import load_cifar10

    return load_cifar10()
