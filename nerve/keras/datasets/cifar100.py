"""``keras.datasets.cifar100``."""


def load_data(label_mode="fine"):
    """``(x_train, y_train), (x_test, y_test)``: (50000, 32, 32, 3) and (10000, 32, 32, 3) uint8 images,
    (n, 1) int64 labels: the 100 classes, or the 20 superclasses with ``label_mode="coarse"``."""
    from nerve.vision.datasets import load_cifar100

    return load_cifar100(label_mode)
