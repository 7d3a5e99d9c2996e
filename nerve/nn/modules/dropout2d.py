"""Dropout1d, Dropout2d and Dropout3d: zero whole channels while training."""

from __future__ import annotations

from ..functional.dropout2d import dropout1d, dropout2d, dropout3d
from .dropout import _DropoutNd


class Dropout1d(_DropoutNd):
    """Zero each channel of (N, C, L) or (C, L) inputs with probability ``p`` while training, scaling the rest by
    1/(1-p)."""

    def forward(self, input):
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero each channel of (N, C, H, W) inputs with probability ``p`` while training, scaling the rest by 1/(1-p).

    Other shapes are taken as torch takes them (see :func:`nerve.nn.functional.dropout2d`).
    """

    def forward(self, input):
        return dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero each channel of (N, C, D, H, W) inputs with probability ``p`` while training, scaling the rest by 1/(1-p).

    Other shapes are taken as torch takes them (see :func:`nerve.nn.functional.dropout3d`).
    """

    def forward(self, input):
        return dropout3d(input, self.p, self.training, self.inplace)
