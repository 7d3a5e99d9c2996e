"""The networks ``nerve train`` offers, built by name so that ``nerve predict`` can rebuild them.

Each architecture exists twice, once from ``nerve.nn`` (channels-first input, for the PyTorch-style
loop) and once from ``nerve.keras`` (channels-last input, for ``fit``), with the same layers and
sizes. All of them output logits: the softmax is part of the loss during training and is applied
by ``nerve predict``.
"""

from __future__ import annotations

ARCHITECTURES = {
    "linear": "the article's network: Flatten, Linear(pixels, classes)",
    "mlp": "Flatten, Linear(pixels, 256), ReLU, Linear(256, 128), ReLU, Linear(128, classes)",
    "cnn": "Conv(32, 3x3) ReLU MaxPool, Conv(64, 3x3) ReLU MaxPool, Flatten, Dropout(0.5), Linear(classes)",
}


def _cnn_flat_size(h: int, w: int) -> int:
    """Features after two (valid 3x3 conv, 2x2 max-pool) blocks."""
    h0, w0 = h, w
    for _ in range(2):
        h, w = (h - 2) // 2, (w - 2) // 2
    if h < 1 or w < 1:
        raise ValueError(f"the cnn needs images of at least 10x10 pixels, not {h0}x{w0}")
    return 64 * h * w


def check_input(arch: str, input_shape: tuple[int, int, int]) -> str | None:
    """Why ``arch`` cannot take images of ``input_shape`` (channels, height, width), or None."""
    if arch == "cnn":
        try:
            _cnn_flat_size(input_shape[1], input_shape[2])
        except ValueError as e:
            return str(e)
    return None


def build_torch(arch: str, input_shape: tuple[int, int, int], num_classes: int):
    """A ``nerve.nn`` model for inputs of shape (channels, height, width)."""
    from nerve import nn

    c, h, w = input_shape
    if arch == "linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))
    if arch == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * h * w, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, num_classes),
        )
    if arch == "cnn":
        return nn.Sequential(
            nn.Conv2d(c, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.5),
            nn.Linear(_cnn_flat_size(h, w), num_classes),
        )
    raise ValueError(f"unknown model {arch!r} (choose from {', '.join(ARCHITECTURES)})")


def build_keras(arch: str, input_shape: tuple[int, int, int], num_classes: int):
    """The same network as a ``nerve.keras.Sequential`` for inputs of shape (height, width, channels)."""
    from nerve import keras
    from nerve.keras import layers

    h, w, c = input_shape
    if arch == "linear":
        body = [layers.Flatten(), layers.Dense(num_classes)]
    elif arch == "mlp":
        body = [layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dense(128, activation="relu"),
                layers.Dense(num_classes)]
    elif arch == "cnn":
        _cnn_flat_size(h, w)
        body = [
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(), layers.Dropout(0.5), layers.Dense(num_classes),
        ]
    else:
        raise ValueError(f"unknown model {arch!r} (choose from {', '.join(ARCHITECTURES)})")
    return keras.Sequential([keras.Input(shape=(h, w, c)), *body])
