"""``keras.datasets.imdb``: 50,000 movie reviews labelled positive (1) or negative (0), each a list
of word indices ranked by frequency (index 1 is the most common word)."""

from __future__ import annotations

import numpy as np

from . import _common

__all__ = ["get_word_index", "load_data"]

_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
_WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """``(x_train, y_train), (x_test, y_test)``: 25,000 training and 25,000 test reviews, as Keras.

    Args:
        path: the file's name in the Keras cache (``~/.keras/datasets``).
        num_words: keep the ``num_words`` most frequent words; the others become ``oov_char``.
        skip_top: the most frequent words to turn into ``oov_char`` as well.
        maxlen: drop reviews of ``maxlen`` words or more (the start mark counted).
        seed: the shuffle of each split.
        start_char: put in front of every review (None: nothing).
        oov_char: stands for the words cut by ``num_words`` / ``skip_top`` (None: they are removed).
        index_from: added to every word index (0, 1 and 2 stay for padding, start and OOV).

    Returns:
        object arrays of lists of ints, and int64 label arrays.
    """
    from nerve.vision.datasets.arrays import load_npz

    f = load_npz(_common.fetch(path, "imdb.npz", _SHA256))
    rng = np.random.RandomState(seed)  # one generator: the training split's shuffle, then the test split's
    x_train, labels_train = _common.shuffled(rng, f["x_train"], f["y_train"])
    x_test, labels_test = _common.shuffled(rng, f["x_test"], f["y_test"])
    x_train = _common.shift(x_train, start_char, index_from)
    x_test = _common.shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = _common.shorter_than(maxlen, x_train, labels_train)
        x_test, labels_test = _common.shorter_than(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                             "Increase maxlen.")
    xs = _common.limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    idx = len(x_train)
    return (np.array(xs[:idx], dtype="object"), labels[:idx]), (np.array(xs[idx:], dtype="object"), labels[idx:])


def get_word_index(path="imdb_word_index.json") -> dict:
    """``{word: index}`` for the words of ``load_data`` (whose indices are these plus ``index_from``)."""
    return _common.word_index(path, "imdb_word_index.json", _WORD_INDEX_MD5)
