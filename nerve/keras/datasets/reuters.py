"""``keras.datasets.reuters``: 11,228 Reuters newswires labelled with one of 46 topics, each a list
of word indices ranked by frequency."""

from __future__ import annotations

import numpy as np

from . import _common

__all__ = ["get_label_names", "get_word_index", "load_data"]

_SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
_WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
_LABELS = ("cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee",
           "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx",
           "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock",
           "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
           "dlr", "gas", "silver", "wpi", "hog", "lead")


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """``(x_train, y_train), (x_test, y_test)``: the newswires shuffled, then split, as Keras.

    Args:
        path: the file's name in the Keras cache (``~/.keras/datasets``).
        num_words, skip_top, maxlen, start_char, oov_char, index_from: as ``imdb.load_data``.
        test_split: the fraction of the newswires kept for testing (the last ones after the shuffle).
        seed: the shuffle.

    Returns:
        object arrays of lists of ints, and int64 topic arrays (0-45, named by ``get_label_names``).
    """
    from nerve.vision.datasets.arrays import load_npz

    f = load_npz(_common.fetch(path, "reuters.npz", _SHA256))
    xs, labels = _common.shuffled(np.random.RandomState(seed), f["x"], f["y"])
    if start_char is not None or index_from:
        xs = _common.shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = _common.shorter_than(maxlen, xs, labels)
    xs = _common.limit_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return ((np.array(xs[:idx], dtype="object"), np.array(labels[:idx])),
            (np.array(xs[idx:], dtype="object"), np.array(labels[idx:])))


def get_word_index(path="reuters_word_index.json") -> dict:
    """``{word: index}`` for the words of ``load_data`` (whose indices are these plus ``index_from``)."""
    return _common.word_index(path, "reuters_word_index.json", _WORD_INDEX_MD5)


def get_label_names() -> tuple:
    """The 46 topics' names, in the order of the labels."""
    return _LABELS
