"""Losses: cross_entropy (fused log-softmax + NLL), nll_loss, mse, l1, smooth l1, huber, BCE, KL.

``cross_entropy`` with class indices is one op: forward computes each row's log-sum-exp and
picks the target logits; backward is ``softmax - onehot``, scaled, written straight into one
array. It runs once per training step of every classifier, so it stays vectorised and keeps
float32 in float32.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...autograd import Function, GraphNode
from ...ops import _errstate, _global_shift
from ...tensor import Tensor
from .activation import exp_shifted, log_softmax, sum_along

_REDUCTIONS = ("mean", "sum", "none")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='{}' instead.".format(
        _legacy(size_average, reduce)), UserWarning, stacklevel=3)
    return _legacy(size_average, reduce)


def _legacy(size_average, reduce) -> str:
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(t: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return t.mean()
    if reduction == "sum":
        return t.sum()
    if reduction == "none":
        return t
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduced(xp, loss, reduction: str):
    """The forward of a loss op that holds its reduction (one graph node, as PyTorch's): the
    elementwise ``loss`` summed, averaged or kept."""
    if reduction == "none":
        return loss
    if reduction == "mean" and not loss.size:
        return xp.full((), xp.nan, dtype=loss.dtype)
    total = loss.sum()
    return total / loss.size if reduction == "mean" else total


def _per_element(g, reduction: str, size: int):
    """The gradient reaching each element of a reduced loss from the output's gradient ``g``."""
    return g / size if reduction == "mean" and size else g


def _scale_t(fn, g):
    """A class-index loss's output gradient as each row's factor (``backward_t``): divided by the
    mean's denominator, as an (M, 1) column where the loss was not reduced."""
    if fn.reduction == "mean":
        d = fn.denom
        g = g / (d if isinstance(d, (int, float)) else fn.const(fn.device.xp.asarray(d, dtype=g._data.dtype)))
    return g.reshape(-1, 1) if g.ndim else g


# ---------------------------------------------------------------- class-index losses

_ARANGES: dict = {}


def _kept(key, make):
    """``make()``, made once per ``key`` and kept (at most 64 at a time)."""
    r = _ARANGES.get(key)
    if r is None:
        if len(_ARANGES) > 64:
            _ARANGES.clear()
        r = _ARANGES[key] = make()
    return r


def _arange(xp, n: int, like):
    """``xp.arange(n)``, kept: on the GPU making one costs more than the loss's own kernels."""
    return _kept(n if xp is np else (n, str(like.device)), lambda: xp.arange(n))  # one per size and GPU


def _pick(xp, a, tt, hot):
    """``a[i, tt[i]]`` for every row i: fancy indexing on NumPy, a one-hot mask on the GPU (one kernel
    instead of CuPy's many for advanced indexing)."""
    if hot is None:
        return a[_arange(xp, a.shape[0], a), tt]
    return xp.where(hot, a, xp.zeros((), dtype=a.dtype)).sum(axis=1)


def _flat_at(a, tt):
    """Flat indices of ``a[i, tt[i]]`` in a C-contiguous NumPy (M, C) array: indexing a 1-D view
    costs about 10K instructions less than a pair of index arrays."""
    m, c = a.shape
    return _kept(("row starts", m, c), lambda: np.arange(m) * c) + tt


def _sub_at(xp, grad, tt, hot, v) -> None:
    """``grad[i, tt[i]] -= v[i]`` in place (``v`` a scalar or one value per row)."""
    if hot is None and xp is np and grad.flags.c_contiguous:
        grad.reshape(-1)[_flat_at(grad, tt)] -= v
    elif hot is None:
        grad[_arange(xp, grad.shape[0], grad), tt] -= v
    else:
        grad -= hot * (v[:, None] if getattr(v, "ndim", 0) else v)


class CrossEntropy(Function):
    """Fused log-softmax + NLL on (M, C) logits and (M,) class indices.

    Attributes set by ``apply``: ignore_index, smoothing, reduction, and no_ignored (the caller's
    range check proved that no target equals ignore_index, so no mask is needed).
    """

    torch_name = "NllLossBackward0"  # PyTorch's cross_entropy ends in nll_loss
    flat = None  # _plain's flat offsets of the target entries

    def torch_edges(self) -> list:  # PyTorch's nll_loss(log_softmax(x)): one input, the log-softmax's node
        if self.smoothing:  # PyTorch's graph is another one (a sum of two losses): nerve's edges
            return self.parents
        return [None if self.parents[0] is None else GraphNode("LogSoftmaxBackward0", [self.parents[0]])]

    def forward(self, xp, x, t, w=None):
        m, c = x.shape
        if xp is np and w is None and self.no_ignored and not self.smoothing and m:
            out = self._plain(x, t, m, c)
            if out is not None:
                return out
        # the caller's range check already knows when no target can equal ignore_index
        all_valid = self.no_ignored
        if not all_valid:
            valid = t != self.ignore_index
            all_valid = bool(valid.all())
        tt = t if all_valid else xp.where(valid, t, 0)
        self.hot = None if xp is np else tt[:, None] == _arange(xp, c, x)
        sh, e, s = exp_shifted(xp, x, 1)
        picked = _pick(xp, sh, tt, self.hot)
        eps = self.smoothing
        if eps:
            row_dot = sum_along(xp, sh, 1)[:, 0] if w is None else sh @ w
        s = s[:, 0]
        lse = xp.log(s)
        nll = lse - picked
        # per-sample weight of the NLL term: w[t] on valid rows, 0 on ignored ones
        cw = None
        if w is not None:
            cw = w[tt]
        if not all_valid:
            vmask = valid.astype(x.dtype)
            cw = vmask if cw is None else cw * vmask
        loss = nll if cw is None else nll * cw
        if eps:
            wsum = c if w is None else w.sum()
            smooth = wsum * lse - row_dot
            if not all_valid:
                smooth = smooth * vmask
            loss = (1 - eps) * loss + (eps / c) * smooth
        if self.reduction == "mean":
            denom = (m if all_valid else valid.sum().astype(x.dtype)) if w is None else cw.sum()
            out = loss.sum() / denom
        elif self.reduction == "sum":
            out = loss.sum()
        else:
            out = loss
            denom = 1
        self.e, self.s, self.tt, self.cw, self.w = e, s, tt, cw, w
        self.denom = denom if self.reduction == "mean" else 1
        if not all_valid and not valid.any():  # every target ignored: a NaN mean, zero gradients (as torch)
            self.denom = float("inf")
        self.vmask = None if all_valid else vmask
        return xp.asarray(out, dtype=x.dtype)

    def _plain(self, x, t, m, c):
        """The common case on NumPy (no weights, no ignored targets, no smoothing) in as few
        NumPy calls and Python frames as it takes, with the global shift of ``exp_shifted``.
        None when some row's sum of exponentials comes near underflow (or the logits hold an
        inf or a NaN): the general path then shifts row by row."""
        shifted = _global_shift(x, 1, keep_shifted=True)
        if shifted is None:
            return None
        _, sh, e, s = shifted
        s = s[:, 0]
        nll = np.log(s)
        self.flat = _flat_at(sh, t)  # the backward subtracts at the same offsets
        nll -= sh.reshape(-1)[self.flat]
        self.e, self.s, self.tt, self.cw, self.w, self.hot, self.vmask = e, s, t, None, None, None, None
        if self.reduction == "none":
            self.denom = 1
            return nll
        total = float(np.add.reduce(nll))
        if self.reduction == "mean":
            self.denom, total = m, total / m
        else:
            self.denom = 1
        return np.array(total, dtype=x.dtype)

    def backward(self, xp, g):
        e, tt, cw, hot = self.e, self.tt, self.cw, self.hot
        m, c = e.shape
        scale = g / self.denom if self.reduction == "mean" else g  # () or (M,)
        eps = self.smoothing
        col = scale[:, None] if scale.ndim else scale
        if not eps:
            if cw is None:
                if xp is np and not scale.ndim:  # one number: a Python float saves a NumPy call
                    grad = e * (float(scale) / self.s)[:, None]
                    if self.flat is not None and grad.flags.c_contiguous:
                        # _plain's offsets, written through a view: only a C-ordered grad has one
                        # (logits that came in another layout give a grad in that layout)
                        grad.reshape(-1)[self.flat] -= scale
                        return grad, None, None
                else:
                    grad = e * (col / self.s[:, None])
                _sub_at(xp, grad, tt, hot, scale)
            else:
                a = cw * scale
                grad = e * (a / self.s)[:, None]
                _sub_at(xp, grad, tt, hot, a)
            return grad, None, None
        wsum = c if self.w is None else self.w.sum()
        nll_c = (1 - eps) * (cw if cw is not None else 1.0)
        smooth_c = (eps / c) * (self.vmask if self.vmask is not None else 1.0)
        a = (nll_c + smooth_c * wsum) * scale
        a = xp.broadcast_to(xp.asarray(a, dtype=e.dtype), (m,))
        grad = e * (a / self.s)[:, None]
        _sub_at(xp, grad, tt, hot, xp.broadcast_to(xp.asarray(nll_c * scale, dtype=e.dtype), (m,)))
        sc = xp.broadcast_to(xp.asarray(smooth_c * scale, dtype=e.dtype), (m,))
        grad -= sc[:, None] * (self.w[None, :] if self.w is not None else 1.0)
        return grad, None, None

    def backward_t(self, g):
        from .activation import Softmax

        xp = self.device.xp
        e, tt, cw = self.e, self.tt, self.cw
        m, c = e.shape
        dt = e.dtype
        probs = e / self.s[:, None]
        p = self.derived(Softmax, probs, parents=self.parents[:1], in_meta=self.in_meta[:1], y=probs, axis=1)
        hot = self.const((tt[:, None] == xp.arange(c)).astype(dt))
        col = _scale_t(self, g)

        def rows(v):  # a constant per row (a number or an (M,) array), as an (M, 1) tensor
            return self.const(xp.broadcast_to(xp.asarray(v, dtype=dt), (m,))[:, None])

        eps = self.smoothing
        if not eps:
            return (p - hot) * (col if cw is None else col * rows(cw)), None, None
        wsum = c if self.w is None else self.w.sum()
        nll_c = (1 - eps) * (cw if cw is not None else 1.0)
        smooth_c = (eps / c) * (self.vmask if self.vmask is not None else 1.0)
        w_row = 1.0 if self.w is None else self.const(self.w[None, :])
        grad = p * (col * rows(nll_c + smooth_c * wsum)) - hot * (col * rows(nll_c)) - (col * rows(smooth_c)) * w_row
        return grad, None, None


class NLL(Function):
    """Negative log-likelihood on (M, C) log-probabilities and (M,) class indices."""

    torch_name = "NllLossBackward0"

    def torch_edges(self) -> list:  # the target and the class weights are no inputs of PyTorch's node
        return self.parents[:1]

    def forward(self, xp, x, t, w=None):
        m = x.shape[0]
        all_valid = self.no_ignored
        if not all_valid:
            valid = t != self.ignore_index
            all_valid = bool(valid.all())
        tt = t if all_valid else xp.where(valid, t, 0)
        cw = w[tt] if w is not None else None
        if not all_valid:
            vmask = valid.astype(x.dtype)
            cw = vmask if cw is None else cw * vmask
        if xp is np and x.flags.c_contiguous:
            loss = -x.reshape(-1)[_flat_at(x, tt)]
        else:
            loss = -x[xp.arange(m), tt]
        if cw is not None:
            loss = loss * cw
        if self.reduction == "mean":
            self.denom = (m if all_valid else valid.sum().astype(x.dtype)) if w is None else cw.sum()
            out = loss.sum() / self.denom
        else:
            self.denom = 1
            out = loss.sum() if self.reduction == "sum" else loss
        if not all_valid and not valid.any():  # every target ignored: a NaN mean, zero gradients (as torch)
            self.denom = float("inf")
        self.shape, self.tt, self.cw = x.shape, tt, cw
        return xp.asarray(out, dtype=x.dtype)

    def backward(self, xp, g):
        m = self.shape[0]
        scale = g / self.denom if self.reduction == "mean" else g
        a = scale if self.cw is None else self.cw * scale
        grad = xp.zeros(self.shape, dtype=g.dtype)
        if xp is np:
            grad.reshape(-1)[_flat_at(grad, self.tt)] = -a
        else:
            grad[xp.arange(m), self.tt] = -xp.broadcast_to(a, (m,))
        return grad, None, None

    def backward_t(self, g):
        xp = self.device.xp
        c = self.shape[1]
        dt = g._data.dtype
        col = _scale_t(self, g)
        a = col if self.cw is None else col * self.const(self.cw[:, None].astype(dt))
        return -(a * self.const((self.tt[:, None] == xp.arange(c)).astype(dt))), None, None


def _class_layout(input: Tensor, target: Tensor, name: str):
    """Bring (N, C, d1, ...) or (C,) inputs to (M, C) and the targets to (M,)."""
    nd = input._data.ndim  # (the array's: Tensor.ndim is a Python property)
    if nd == 0:
        raise ValueError(f"{name}: input must have at least 1 dimension (the classes)")
    if nd == 1:  # one sample: its class index as () or, as PyTorch also takes, (1,)
        tshape = target._data.shape
        if len(tshape) > 1:
            raise RuntimeError(f"0D or 1D target tensor expected, multi-target not supported (got shape {list(tshape)})")
        if tshape and tshape[0] != 1:
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {tshape[0]}")
        return input.reshape(1, -1), target.reshape(1), ()
    shape, tshape = input._data.shape, target._data.shape
    n, c = shape[0], shape[1]
    if not tshape or tshape[0] != n:
        raise ValueError(f"Expected input batch_size ({n}) to match target batch_size ({tshape[0] if tshape else 0}).")
    expect = (n,) + shape[2:]
    if tshape != expect:
        raise RuntimeError(f"Expected target size {list(expect)}, got {list(tshape)}")
    if len(shape) == 2:
        return input, target, None
    x = input.permute(0, *range(2, nd), 1)
    return x.reshape(-1, c), target.reshape(-1), expect


_max_of = np.maximum.reduce  # the ufunc: ndarray.max adds NumPy's Python wrapper frames
# each signed integer dtype's unsigned twin, for the one-reduction range check below
_UNSIGNED = {np.dtype(f"int{b}"): np.dtype(f"uint{b}") for b in (8, 16, 32, 64)}


def _check_targets(t: Tensor, c: int, ignore_index: int) -> bool:
    """Raise on a class index outside [0, c) other than ``ignore_index``; True when none is ignored."""
    arr = t._data
    if arr.dtype.kind not in "iu":
        raise RuntimeError(f"expected a target of class indices with an integer dtype (int64), got {t.dtype}")
    if not arr.size:
        return True
    if t._device.type == "cpu":
        # one reduction: seen as unsigned, a negative index is larger than any class count
        u = _UNSIGNED.get(arr.dtype)
        if u is not None and int(_max_of(arr.view(u), axis=None)) < c:
            return not 0 <= ignore_index < c
        lo, hi = int(arr.min()), int(arr.max())
    else:  # one transfer (one synchronisation) instead of two
        lo, hi = (int(v) for v in t._device.xp.stack([arr.min(), arr.max()]).tolist())
    if lo >= 0 and hi < c:
        return not lo <= ignore_index <= hi
    bad = ((arr < 0) | (arr >= c)) & (arr != ignore_index)
    if bad.any():
        value = int(arr[bad].reshape(-1)[0])
        raise IndexError(f"Target {value} is out of bounds for {c} classes (valid targets are 0 to {c - 1})")
    return False


def _check_weight(weight, c: int, input: Tensor):
    if weight is None:
        return None
    if tuple(weight.shape) != (c,):
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    if weight._data.dtype != input._data.dtype:
        weight = weight.to(dtype=input.dtype)
    return weight


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and targets (log-softmax and NLL in one stable op).

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,).
        target: class indices (N,), (N, d1, ...) or (); or class probabilities of input's shape.
        weight: per-class weights (C,).
        ignore_index: targets equal to it add nothing (class indices only).
        reduction: ``'mean'`` (weighted mean over non-ignored targets), ``'sum'`` or ``'none'``.
        label_smoothing: mix the targets with the uniform distribution by this amount.

    Raises:
        IndexError: a class index outside [0, C) (naming it).
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"cross_entropy: expected floating point logits, got {input.dtype}")
    shape = input._data.shape
    c = shape[1] if len(shape) >= 2 else shape[0]
    if weight is not None:
        weight = _check_weight(weight, c, input)
    if target._data.dtype.kind == "f":
        if ignore_index != -100:  # torch refuses it rather than leave it unused
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing, c)
    x, t, out_shape = _class_layout(input, target, "cross_entropy")
    no_ignored = _check_targets(t, c, ignore_index)
    args = (x, t) if weight is None else (x, t, weight)
    loss = CrossEntropy.apply(*args, ignore_index=ignore_index, smoothing=float(label_smoothing),
                              reduction=reduction, no_ignored=no_ignored)
    if reduction == "none" and out_shape is not None:
        loss = loss.reshape(out_shape)
    return loss


def _cross_entropy_probs(input, target, weight, reduction, eps, c):
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)} "
                           "(class-probability targets have the input's shape)")
    dim = 1 if input.ndim >= 2 else 0
    logp = log_softmax(input, dim=dim)
    if target._data.dtype != input._data.dtype:
        target = target.to(dtype=input.dtype)
    if eps:
        target = target * (1 - eps) + eps / c
    prod = logp * target
    if weight is not None:
        shape = [1] * input.ndim
        shape[dim] = c
        prod = prod * weight.reshape(shape)
    loss = -prod.sum(dim)
    if reduction == "mean":
        return loss.sum() / max(input.numel() // c, 1) if input.ndim >= 1 else loss
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices under log-probabilities ``input`` (N, C, ...)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    weight = _check_weight(weight, c, input)
    x, t, out_shape = _class_layout(input, target, "nll_loss")
    no_ignored = _check_targets(t, c, ignore_index)
    args = (x, t) if weight is None else (x, t, weight)
    loss = NLL.apply(*args, ignore_index=ignore_index, reduction=reduction, no_ignored=no_ignored)
    if reduction == "none" and out_shape is not None:
        loss = loss.reshape(out_shape)
    return loss


# ---------------------------------------------------------------- regression losses


def _warn_size(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


class MSE(Function):
    """(x - t)^2 and its reduction in one op (``MseLossBackward0``, as PyTorch's)."""

    torch_name = "MseLossBackward0"

    def forward(self, xp, x, t):
        self.d = d = x - t
        return _reduced(xp, d * d, self.reduction)

    def backward(self, xp, g):
        gd = 2 * _per_element(g, self.reduction, self.d.size) * self.d
        return gd, (-gd if self.parents[1] is not None else None)

    def backward_t(self, g):
        from ...ops import Sub

        d = self.derived(Sub, self.d)  # x - t, kept by forward: as sub's node on the same inputs
        gd = 2 * _per_element(g, self.reduction, self.d.size) * d
        return gd, (-gd if self.parents[1] is not None else None)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean squared error: mean((input - target)^2)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(input, target)
    if weight is None:
        a, b = input._coerce(target) if isinstance(target, Tensor) else (input, target)
        return MSE.apply(a, b, reduction=reduction)
    d = input - target
    sq = d * d
    if weight is not None:
        sq = sq * weight
    return _reduce(sq, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean absolute error: mean(|input - target|)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(input, target)
    a = (input - target).abs()
    if weight is not None:
        a = a * weight
    return _reduce(a, reduction)


class SmoothL1(Function):
    """Elementwise smooth L1 (``huber=False``, divided by beta) or Huber loss (``huber=True``)."""

    def forward(self, xp, x, y):
        d = x - y
        ad = xp.abs(d)
        b = self.beta
        self.d, self.ad = d, ad
        if b == 0:
            return ad
        quad = 0.5 * d * d
        if self.huber:
            return xp.where(ad < b, quad, b * (ad - 0.5 * b))
        return xp.where(ad < b, quad / b, ad - 0.5 * b)

    def backward(self, xp, g):
        b, d = self.beta, self.d
        if b == 0:
            gd = g * xp.sign(d)
        elif self.huber:
            gd = g * xp.where(self.ad < b, d, b * xp.sign(d))
        else:
            gd = g * xp.where(self.ad < b, d / b, xp.sign(d))
        return gd, -gd if self.parents[1] is not None else None

    def backward_t(self, g):
        from ...ops import Sub

        xp = self.device.xp
        b, dt = self.beta, self.d.dtype
        sign = xp.sign(self.d)
        if b == 0:
            gd = g * self.const(sign)
        else:
            inside = self.ad < b  # quadratic there: the slope is d (/ beta), with d kept by forward
            d = self.derived(Sub, self.d)
            slope = d * self.const(inside.astype(dt) * (1.0 if self.huber else 1.0 / b))
            gd = g * (slope + self.const(xp.where(inside, 0, sign * (b if self.huber else 1.0)).astype(dt)))
        return gd, -gd if self.parents[1] is not None else None


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _warn_size(input, target)
    a, b = input._coerce(target) if isinstance(target, Tensor) else (input, target)
    return _reduce(SmoothL1.apply(a, b, beta=float(beta), huber=False), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _check_reduction(reduction)
    _warn_size(input, target)
    a, b = input._coerce(target) if isinstance(target, Tensor) else (input, target)
    out = SmoothL1.apply(a, b, beta=float(delta), huber=True)
    if weight is not None:
        out = out * weight
    return _reduce(out, reduction)


# ---------------------------------------------------------------- binary losses


class BCE(Function):
    """-(t log x + (1 - t) log(1 - x)), logs clamped at -100 as PyTorch's, then ``reduction``."""

    torch_name = "BinaryCrossEntropyBackward0"

    def forward(self, xp, x, t):
        self.x, self.t = x, t
        with _errstate(xp):  # log(0): -inf, clamped
            self.logx = xp.maximum(xp.log(x), -100)
            self.log1mx = xp.maximum(xp.log1p(-x), -100)
        return _reduced(xp, -(t * self.logx + (1 - t) * self.log1mx), self.reduction)

    def backward(self, xp, g):
        x, t = self.x, self.t
        g = _per_element(g, self.reduction, x.size)
        gx = gt = None
        if self.parents[0] is not None:
            gx = g * (x - t) / xp.maximum((1 - x) * x, 1e-12)
        if self.parents[1] is not None:
            gt = g * (self.log1mx - self.logx)
        return gx, gt

    def backward_t(self, g):
        x, t = self.saved(0, self.x), self.saved(1, self.t)
        g = _per_element(g, self.reduction, self.x.size)
        gx = gt = None
        if self.parents[0] is not None:
            gx = g * (x - t) / ((1 - x) * x).clamp(min=1e-12)
        if self.parents[1] is not None:
            gt = g * ((-x).log1p().clamp(min=-100) - x.log().clamp(min=-100))
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities ``input`` (in [0, 1]) and ``target`` of the same shape."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) is "
            "deprecated. Please ensure they have the same size."
        )
    arr = input._data
    if arr.size and (bool((arr < 0).any()) or bool((arr > 1).any())):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if target._data.dtype != arr.dtype:
        target = target.to(dtype=input.dtype)
    if weight is None:
        return BCE.apply(input, target, reduction=reduction)
    return _reduce(BCE.apply(input, target, reduction="none") * weight, reduction)


class BCEWithLogits(Function):
    """(1 - t) x + L (log(1 + exp(-|x|)) + max(-x, 0)), L = 1 + (pos_weight - 1) t, then ``reduction``."""

    torch_name = "BinaryCrossEntropyWithLogitsBackward0"

    def forward(self, xp, x, t, pw=None):
        self.x, self.t, self.pw = x, t, pw
        sp = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)  # softplus(-x), stably
        self.sp = sp
        if pw is None:
            return _reduced(xp, (1 - t) * x + sp, self.reduction)
        lw = 1 + (pw - 1) * t
        return _reduced(xp, (1 - t) * x + lw * sp, self.reduction)

    def backward(self, xp, g):
        x, t, pw = self.x, self.t, self.pw
        g = _per_element(g, self.reduction, x.size)
        s = 0.5 * (xp.tanh(0.5 * x) + 1)
        gx = gt = None
        if self.parents[0] is not None:
            gx = g * (s - t) if pw is None else g * ((1 - t) + (1 + (pw - 1) * t) * (s - 1))
        if self.parents[1] is not None:
            gt = -g * x if pw is None else g * (-x + (pw - 1) * self.sp)
        return gx, gt, None

    def backward_t(self, g):
        from ...ops import Sigmoid
        from .activation import Softplus

        xp = self.device.xp
        x, t = self.saved(0, self.x), self.saved(1, self.t)
        pw = None if self.pw is None else self.saved(2, self.pw)
        g = _per_element(g, self.reduction, self.x.size)
        gx = gt = None
        if self.parents[0] is not None:
            sv = 0.5 * (xp.tanh(0.5 * self.x) + 1)
            s = self.derived(Sigmoid, sv, parents=self.parents[:1], in_meta=self.in_meta[:1], y=sv)
            gx = g * (s - t) if pw is None else g * ((1 - t) + (1 + (pw - 1) * t) * (s - 1))
        if self.parents[1] is not None:
            if pw is None:
                gt = -g * x
            else:
                # softplus(-x), kept by forward, as -(softplus with beta -1)'s node on x
                sp = -self.derived(Softplus, -self.sp, parents=self.parents[:1], in_meta=self.in_meta[:1],
                                   beta=-1.0, z=-self.x, linear=xp.zeros(self.x.shape, bool))
                gt = g * (-x + (pw - 1) * sp)
        return gx, gt, None


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable op.

    Args:
        input: logits.
        target: probabilities of the same shape.
        weight: rescales each element's loss (broadcast).
        pos_weight: weight of the positive term, per class (broadcast along the last dim).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    if target._data.dtype != input._data.dtype:
        target = target.to(dtype=input.dtype)
    inner = reduction if weight is None else "none"  # a weight applies before the reduction
    if pos_weight is not None:
        if pos_weight._data.dtype != input._data.dtype:
            pos_weight = pos_weight.to(dtype=input.dtype)
        loss = BCEWithLogits.apply(input, target, pos_weight, reduction=inner)
    else:
        loss = BCEWithLogits.apply(input, target, reduction=inner)
    return loss if weight is None else _reduce(loss * weight, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL divergence with ``input`` as log-probabilities: target * (log target - input)."""
    if size_average is None and reduce is None and reduction == "mean":  # the default, and PyTorch warns of it
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        safe = target.clamp(min=1e-45) if target._data.dtype.kind == "f" else target
        loss = target * (safe.log() - input)
        loss = loss.masked_fill(target == 0, 0.0) if hasattr(loss, "masked_fill") else loss
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- margin, embedding and likelihood losses
# Composites of differentiable tensor ops: their gradients come from the ops'.


def _where(cond: Tensor, a, b) -> Tensor:
    from ...functions import where

    return where(cond, a, b)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin), targets in {1, -1}."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} "
        )
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """``input`` where target is 1, max(0, margin - input) where it is -1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    hinge = _where(target != 1, (margin - input).clamp(min=0), 0.0)
    return _reduce(hinge + _where(target != -1, input, 0.0), reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target * input)), targets in {1, -1}."""
    from .activation import logsigmoid

    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    return _reduce(-logsigmoid(target * input), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                                reduce=None, reduction: str = "mean") -> Tensor:
    """Per-class binary cross-entropy with logits over (N, C), averaged over the C classes per sample.

    Args:
        target: 0/1 labels of input's shape.
        weight: per-class weights (broadcast against the (N, C) losses).
    """
    from .activation import logsigmoid

    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    c = input.shape[-1]
    loss = loss.sum(dim=input.ndim - 1) / c
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1 (cos along the last dim)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    d = input1.ndim - 1
    eps = 1e-12  # torch's: added to each squared norm
    cos = (input1 * input2).sum(d) / (((input1 * input1).sum(d) + eps) * ((input2 * input2).sum(d) + eps)).sqrt()
    loss = _where(target == 1, 1 - cos, 0.0) + _where(target == -1, (cos - margin).clamp(min=0), 0.0)
    return _reduce(loss, reduction)


def _check_triplet(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float) -> None:
    """The checks of both triplet losses, as PyTorch's: a positive margin, inputs of one rank."""
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative {negative.ndim}D inputs"
        )


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin), d the p-norm distance of :func:`pairwise_distance`.

    Args:
        swap: use min(d(a, n), d(p, n)) as the negative distance (the distance swap).
    """
    from .misc import pairwise_distance

    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_triplet(anchor, positive, negative, margin)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_swap = pairwise_distance(positive, negative, p, eps)
        d_neg = _where(d_swap < d_neg, d_swap, d_neg)
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin) with any distance ``d``, as
    ``torch.nn.functional.triplet_margin_with_distance_loss``.

    Args:
        distance_function: ``d(x1, x2)`` -> one distance per example; :func:`pairwise_distance` by default.
        swap: use min(d(a, n), d(p, n)) as the negative distance (the distance swap).
    """
    from ...functions import minimum
    from .misc import pairwise_distance

    _check_reduction(reduction)
    _check_triplet(anchor, positive, negative, margin)
    d = pairwise_distance if distance_function is None else distance_function
    d_pos = d(anchor, positive)
    d_neg = d(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, d(positive, negative))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under Poisson(rate): ``exp(input) - target * input`` for
    log-rates (``log_input=True``), else ``input - target * log(input + eps)``.

    Args:
        full: add the Stirling term target log target - target + 0.5 log(2 pi target) where target > 1.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target > 1
        t = _where(big, target, 1.0)
        stirling = t * t.log() - t + 0.5 * (2 * np.pi * t).log()
        loss = loss + _where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """0.5 (log var + (input - target)^2 / var) (+ 0.5 log 2 pi with ``full``).

    Args:
        var: variances, of input's shape, one dim short of it, or with one dim of size 1 (broadcast);
            or a float. Clamped at ``eps`` for stability without stopping its gradient, as torch.
    """
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = Tensor._make(input._device.xp.full(input._data.shape, float(var), dtype=input._data.dtype), input._device)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    v = var.detach()
    var = var - v + v.clamp(min=eps)  # the clamped value, the gradient of var itself
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduce(loss, reduction)


def _margin_layout(input: Tensor, target: Tensor, name: str):
    """(N, C) input and (N,) or (N, C) target from batched or single-sample (C,) forms."""
    if input.ndim == 1 or input.ndim == 0:
        return input.reshape(1, -1), target.reshape(1, -1 if target.ndim else 1), True
    return input, target, False


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                      size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge: sum over j != y of w[y] max(0, margin - x[y] + x[j])^p / C, per sample.

    Args:
        input: (N, C) or (C,) scores; target: (N,) or () class indices.
        p: 1 or 2.
        weight: per-class weights (C,).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    x, t, single = _margin_layout(input, target, "multi_margin_loss")
    n, c = x.shape
    t = t.reshape(-1)
    if t.shape[0] != n:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples "
            f"(batch size). Expected target size [{n}], but got {list(target.shape)}. Input has shape "
            f"{list(input.shape)}."
        )
    if weight is not None and weight.shape[0] != c:
        raise RuntimeError(f"inconsistent weight size, expected {c} but got {list(weight.shape)}")
    td = t._data
    if td.size and (int(td.min()) < 0 or int(td.max()) >= c):
        raise RuntimeError("target out of range")
    xp = x._device.xp
    other = Tensor._make((td[:, None] != xp.arange(c)).astype(x._data.dtype), x._device)
    z = (margin - x.gather(1, t.unsqueeze(1)) + x).clamp(min=0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight[t].unsqueeze(1)
    loss = (z * other).sum(1) / c
    if single:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge: sum over target classes j and non-target classes k of max(0, 1 - (x[j] - x[k])) / C.

    Args:
        input: (N, C) or (C,) scores.
        target: int class indices of input's shape; the first -1 in a row ends its targets.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    x, t, single = _margin_layout(input, target, "multilabel_margin_loss")
    n, c = x.shape
    xp = x._device.xp
    td = t._data
    valid = xp.cumprod((td >= 0).astype(xp.int32), axis=1).astype(bool)  # the entries before the first negative one
    if bool(((td >= c) & valid).any()) or bool(((td < -1) & valid).any()):
        raise RuntimeError("argument #2 'target' is out of range")
    tsafe = xp.where(valid, td, 0)
    is_target = xp.zeros((n, c), dtype=bool)
    rows = xp.broadcast_to(xp.arange(n)[:, None], (n, c))
    is_target[rows[valid], tsafe[valid]] = True
    mask = Tensor._make((valid[:, :, None] & ~is_target[:, None, :]).astype(x._data.dtype), x._device)
    xt = x.gather(1, Tensor._make(tsafe, x._device))
    z = (1 - xt.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0)
    loss = (z * mask).sum((1, 2)) / c
    if single:
        loss = loss.reshape(())
    return _reduce(loss, reduction)
