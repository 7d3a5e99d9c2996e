"""``keras.datasets.boston_housing``: 506 Boston suburbs of the 1970s, 13 attributes each, and the
median house price in k$ (Keras warns about this table's ethical problem: its "B" column)."""

from __future__ import annotations

import numpy as np

from . import _common

__all__ = ["load_data"]

_SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: float64 (n, 13) attributes and (n,) prices, shuffled
    with ``seed``, the last ``test_split`` of them for testing."""
    _common.check_split(test_split)
    with np.load(_common.fetch(path, "boston_housing.npz", _SHA256), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    return _common.split_table(x, y, test_split, seed)
