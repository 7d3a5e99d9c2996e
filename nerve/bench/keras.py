"""Keras front-end benchmarks: what ``fit`` costs over a hand-written loop, and against Keras 3.

* ``keras fit, article model``: one epoch of ``fit`` on the article's Keras model
  (Flatten, Dense(10, softmax), SGD 0.01, categorical cross-entropy, accuracy, batch 32) against
  the same work written as a nerve PyTorch-style loop (shuffle, batches cut with ``x[idx]``,
  zero_grad / forward to the softmax output / cross-entropy from the logits / backward / step,
  and the running loss and accuracy counted every batch, as fit counts them: fit reads the loss
  and counts the hits each step, and builds its logs only when a callback or the progress bar
  asks, here once per epoch). The "PyTorch" column holds that nerve loop here: the ratio is
  fit's overhead (goal <= 1.1x).
* ``keras fit, keras.io convnet``: keras.io's "Simple MNIST convnet" (adam, batch 128,
  validation_split 0.1) for one epoch, nerve.keras against Keras 3 itself on torch (CPU), when
  Keras 3 is installed. The "PyTorch" column holds Keras 3 on torch (goal <= 0.8x).

Data: the first Fashion-MNIST training images when Debian's copy is there, else a learnable
stand-in of the same shapes (``bench.fashion_arrays``). ``quick`` uses fewer examples; both runs
are interleaved, in alternating order, median of several repeats.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from . import fashion_arrays, interleaved, row


def _data(n):
    """(x of shape (n, 28, 28, 1) in [0, 1], one-hot y, source): Fashion-MNIST when present."""
    x, labels, source = fashion_arrays(n)
    return np.ascontiguousarray(x.reshape(n, 28, 28, 1)), np.eye(10, dtype=np.float32)[labels], source


def _article_data(n):
    x, y, source = _data(n)
    return x.reshape(n, 28, 28), y, source


def article_fit_vs_loop(n: int, repeat: int) -> dict:
    import nerve
    import nerve.nn as nn
    import nerve.nn.functional as F
    from nerve import keras

    x, y, source = _article_data(n)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])

    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))  # logits; the softmax output is taken below
    opt = nerve.optim.SGD(net.parameters(), lr=0.01)
    labels = y.argmax(1)

    def loop():
        order = np.random.permutation(n)
        total = correct = seen = 0.0
        for lo in range(0, n, 32):
            idx = order[lo:lo + 32]
            xb, yb = nerve.from_numpy(x[idx]), nerve.from_numpy(labels[idx])
            opt.zero_grad()
            logits = net(xb)
            out = F.softmax(logits, dim=1)  # the model's output, as the article's model ends in softmax
            loss = F.cross_entropy(logits, yb)  # categorical cross-entropy, from the logits
            loss.backward()
            opt.step()
            k = len(idx)
            total += loss.item() * k
            correct += float((out.detach().numpy().argmax(1) == labels[idx]).sum())
            seen += k
        return total / seen, correct / seen

    def fit():
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)

    t = interleaved({"fit": fit, "loop": loop}, repeat=repeat)
    return row("keras fit, article model (1 epoch)", t["fit"], t["loop"],
               f"{n} {source} examples, batch 32; reference = the same epoch as a nerve PyTorch-style loop")


def _convnet(k, L):
    return k.Sequential([
        k.Input(shape=(28, 28, 1)),
        L.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        L.MaxPooling2D(pool_size=(2, 2)),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])


def convnet_vs_keras(n: int, repeat: int) -> dict:
    from nerve import keras

    x, y, source = _data(n)
    ours = _convnet(keras, keras.layers)
    ours.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import keras as K
        if K.backend.backend() != "torch":
            raise ImportError(f"Keras runs on {K.backend.backend()}, not torch")
    except ImportError as e:
        t = interleaved({"ours": lambda: ours.fit(x, y, batch_size=128, epochs=1, validation_split=0.1, verbose=0)},
                        repeat=repeat)
        return row("keras fit, keras.io convnet (1 epoch)", t["ours"], None, f"{n} {source} examples; Keras 3 missing: {e}")
    theirs = _convnet(K, K.layers)
    theirs.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    t = interleaved({
        "ours": lambda: ours.fit(x, y, batch_size=128, epochs=1, validation_split=0.1, verbose=0),
        "theirs": lambda: theirs.fit(x, y, batch_size=128, epochs=1, validation_split=0.1, verbose=0),
    }, repeat=repeat)
    return row("keras fit, keras.io convnet (1 epoch)", t["ours"], t["theirs"],
               f"{n} {source} examples, batch 128, validation_split 0.1; reference = Keras {K.__version__} on torch CPU")


def run(quick: bool) -> list[dict]:
    rows = [article_fit_vs_loop(6000 if quick else 60000, 5 if quick else 9)]
    rows.append(convnet_vs_keras(1280 if quick else 6000, 2 if quick else 3))
    return rows
