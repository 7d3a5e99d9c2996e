"""How a batch is laid out for ``train_step`` / ``test_step``: ``x``, ``(x,)``, ``(x, y)`` or
``(x, y, sample_weight)`` (Keras's ``pack_x_y_sample_weight`` / ``unpack_x_y_sample_weight``)."""

from __future__ import annotations


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch a step receives: ``x`` alone when there are no targets (``(x,)`` when ``x`` is a
    list or tuple of inputs), else ``(x, y)``, or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch, with None for what it leaves out.

    Raises:
        ValueError: a tuple or list of more than three items.
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found: {data}")
