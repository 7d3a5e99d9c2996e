"""Reshaping layers: ``UpSampling2D``, ``ZeroPadding2D`` and ``Cropping2D`` on (N, H, W, C) images, on the core's
``interpolate`` and ``pad`` (channels-last in and out, as Keras; (N, C, H, W) with
``data_format='channels_first'``), and ``UpSampling1D``, ``ZeroPadding1D``, ``Cropping1D`` on
(N, steps, C) sequences."""

from __future__ import annotations

from .conv import (
    _F,
    _pair,
    channel_axis,
    check_ndim,
    check_ndim4,
    from_channels_first,
    set_data_format,
    spatial_dims,
    standardize_tuple,
    to_channels_first,
    with_spatial,
)
from .layer import Layer


class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times: (N, H, W, C) -> (N, H*sh, W*sw, C).

    Args:
        size: int or (sh, sw).
        interpolation: ``'nearest'`` (repeats) or ``'bilinear'`` (half-pixel centres, as Keras's
            resize and torch's ``align_corners=False``).
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        self.size = _pair(size, "size")
        self.interpolation = interpolation.lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(f"nerve.keras UpSampling2D supports interpolation 'nearest' and "
                                      f"'bilinear', not {interpolation!r}")

    def call(self, inputs):
        check_ndim4(self, inputs.shape)
        if self.interpolation == "nearest":
            rows = 2 if self.data_format == "channels_first" else 1
            return inputs.repeat_interleave(self.size[0], dim=rows).repeat_interleave(self.size[1], dim=rows + 1)
        x = to_channels_first(self, inputs)
        h, w = x.shape[2] * self.size[0], x.shape[3] * self.size[1]
        y = _F().interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        return from_channels_first(self, y)

    def compute_output_shape(self, input_shape):
        h, w = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (None if h is None else h * self.size[0],
                                                   None if w is None else w * self.size[1]), input_shape[channel_axis(self)])


class ZeroPadding2D(Layer):
    """Zeros around (N, H, W, C) images.

    Args:
        padding: int (all four sides), (symmetric_height, symmetric_width), or
            ((top, bottom), (left, right)).
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        if isinstance(padding, int):
            self.padding = ((padding, padding), (padding, padding))
        elif hasattr(padding, "__len__") and len(padding) == 2:
            if isinstance(padding[0], int):
                self.padding = ((padding[0], padding[0]), (padding[1], padding[1]))
            else:
                self.padding = (_pair(padding[0], "1st entry of padding"), _pair(padding[1], "2nd entry of padding"))
        else:
            raise ValueError("`padding` should be either an int, a tuple of 2 ints (symmetric_height_crop, "
                             "symmetric_width_crop), or a tuple of 2 tuples of 2 ints ((top_crop, bottom_crop), "
                             f"(left_crop, right_crop)). Received: padding={padding}.")
        if any(p < 0 for side in self.padding for p in side):
            raise ValueError(f"The `padding` argument must be non-negative. Received: padding={padding}")

    def call(self, inputs):
        check_ndim4(self, inputs.shape)
        (t, b), (left, r) = self.padding
        if self.data_format == "channels_first":
            return _F().pad(inputs, (left, r, t, b))
        return _F().pad(inputs, (0, 0, left, r, t, b))

    def compute_output_shape(self, input_shape):
        h, w = spatial_dims(self, input_shape)
        (t, b), (left, r) = self.padding
        return with_spatial(self, input_shape[0], (None if h is None else h + t + b,
                                                   None if w is None else w + left + r), input_shape[channel_axis(self)])


def _two(value, what):
    """An int (both ends) or a pair (start, end) of non-negative ints."""
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"`{what}` should be either an int, or a tuple of 2 ints. Received: {what}={value}")
    if any(v < 0 for v in pair):
        raise ValueError(f"The `{what}` argument must be non-negative. Received: {what}={value}")
    return pair


def _add(n, extra):
    return None if n is None else n + extra


class Cropping2D(Layer):
    """Drop rows and columns at the edges of (N, H, W, C) images ((N, C, H, W) with
    ``data_format='channels_first'``).

    Args:
        cropping: int (all four sides), (symmetric_height, symmetric_width), or
            ((top, bottom), (left, right)).
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        if isinstance(cropping, int):
            if cropping < 0:
                raise ValueError(f"`cropping` cannot be negative. Received: cropping={cropping}.")
            self.cropping = ((cropping, cropping), (cropping, cropping))
        elif hasattr(cropping, "__len__"):
            if len(cropping) != 2:
                raise ValueError(f"`cropping` should have two elements. Received: cropping={cropping}.")
            self.cropping = (standardize_tuple(cropping[0], 2, "1st entry of cropping", allow_zero=True),
                             standardize_tuple(cropping[1], 2, "2nd entry of cropping", allow_zero=True))
        else:
            raise ValueError("`cropping` should be either an int, a tuple of 2 ints (symmetric_height_crop, "
                             "symmetric_width_crop), or a tuple of 2 tuples of 2 ints ((top_crop, bottom_crop), "
                             f"(left_crop, right_crop)). Received: cropping={cropping}.")

    def _check(self, shape, what):
        for d, (start, end) in zip(spatial_dims(self, shape), self.cropping):
            if d is not None and start + end >= d:
                raise ValueError("Values in `cropping` argument should be smaller than the corresponding spatial "
                                 f"dimension of the input. Received: {what}={tuple(shape)}, cropping={self.cropping}")

    def call(self, inputs):
        check_ndim4(self, inputs.shape)
        self._check(inputs.shape, "inputs.shape")
        (t, b), (left, r) = self.cropping
        h, w = spatial_dims(self, inputs.shape)
        if self.data_format == "channels_first":
            return inputs[:, :, t:h - b, left:w - r]
        return inputs[:, t:h - b, left:w - r]

    def compute_output_shape(self, input_shape):
        check_ndim4(self, input_shape)
        self._check(input_shape, "input_shape")
        h, w = spatial_dims(self, input_shape)
        (t, b), (left, r) = self.cropping
        return with_spatial(self, input_shape[0], (_add(h, -t - b), _add(w, -left - r)),
                            input_shape[channel_axis(self)])


class UpSampling1D(Layer):
    """Repeat each step ``size`` times: (N, steps, C) -> (N, steps * size, C)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, inputs):
        check_ndim(self, inputs.shape, 3)
        return inputs.repeat_interleave(self.size, dim=1)

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, None if steps is None else steps * self.size, c)


class ZeroPadding1D(Layer):
    """Zero steps at the start and end of (N, steps, C) sequences.

    Args:
        padding: int (both ends) or (start, end).
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        set_data_format(self, data_format)
        self.padding = _two(padding, "padding")

    def call(self, inputs):
        check_ndim(self, inputs.shape, 3)
        if self.data_format == "channels_first":
            return _F().pad(inputs, self.padding)
        return _F().pad(inputs, (0, 0) + self.padding)

    def compute_output_shape(self, input_shape):
        (steps,) = spatial_dims(self, input_shape)
        return with_spatial(self, input_shape[0], (_add(steps, sum(self.padding)),), input_shape[channel_axis(self)])


class Cropping1D(Layer):
    """Drop steps at the start and end of (N, steps, C) sequences.

    Args:
        cropping: int (both ends) or (start, end).
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _two(cropping, "cropping")

    def call(self, inputs):
        check_ndim(self, inputs.shape, 3)
        start, end = self.cropping
        steps = inputs.shape[1]
        if start + end >= steps:
            raise ValueError(f"`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                             f"Received: input_shape={tuple(inputs.shape)}, cropping={self.cropping}")
        return inputs[:, start:steps - end]

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, _add(steps, -sum(self.cropping)), c)
