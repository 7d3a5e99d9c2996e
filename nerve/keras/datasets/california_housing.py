"""``keras.datasets.california_housing``: 20,640 California districts of the 1990 census, 8
attributes each, and the median house value in dollars."""

from __future__ import annotations

import numpy as np

from . import _common

__all__ = ["load_data"]

_SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: float32 (n, 8) attributes and (n,) values, shuffled with
    ``seed``, the last ``test_split`` of them for testing; ``version="small"`` keeps the first 600 rows."""
    _common.check_split(test_split)
    with np.load(_common.fetch(path, "california_housing.npz", _SHA256), allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    elif version != "large":
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version}")
    return _common.split_table(x, y, test_split, seed)
