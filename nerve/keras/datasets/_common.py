"""What Keras's small datasets share: where they are downloaded from, the shuffled train/test
split of the housing tables, and the word-index sequences of IMDB and Reuters (shifted, cut to
``maxlen``, out-of-vocabulary words marked), each step as Keras takes it so that the same seed
gives the same arrays."""

from __future__ import annotations

import numpy as np

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def fetch(path: str, name: str, file_hash: str) -> str:
    """The cached copy of ``name`` (saved as ``path`` in the Keras cache), downloaded and checked
    against ``file_hash`` when it is missing."""
    from nerve.vision.datasets.download import get_file

    return get_file(path, origin=ORIGIN + name, file_hash=file_hash)


def check_split(test_split) -> None:
    if not (0 <= test_split < 1):
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1).")


def shuffled(rng, *arrays):
    """The arrays in one order drawn from ``rng``, a ``np.random.RandomState`` (Keras's generator)."""
    indices = np.arange(len(arrays[0]))
    rng.shuffle(indices)
    return [a[indices] for a in arrays]


def split_table(x, y, test_split: float, seed: int):
    """``(x_train, y_train), (x_test, y_test)``: the rows shuffled, the first ``1 - test_split`` for training."""
    x, y = shuffled(np.random.RandomState(seed), x, y)
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def shift(xs, start_char, index_from: int) -> list:
    """Each sequence's word indices plus ``index_from``, after ``start_char`` when there is one."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    return [[w + index_from for w in x] for x in xs]


def shorter_than(maxlen: int, xs, labels):
    """The sequences shorter than ``maxlen`` (Keras drops the others whole) and their labels."""
    kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limit_vocabulary(xs, num_words, skip_top: int, oov_char):
    """Words outside ``[skip_top, num_words)`` become ``oov_char``, or are dropped when it is None;
    ``num_words`` None keeps every word."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def word_index(path: str, name: str, file_hash: str) -> dict:
    import json

    with open(fetch(path, name, file_hash), encoding="utf-8") as f:
        return json.load(f)
