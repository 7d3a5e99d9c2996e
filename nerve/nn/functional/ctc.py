"""Connectionist temporal classification: ``ctc_loss``, as ``torch.nn.functional.ctc_loss``.

The loss of one sample is the negative log of the probability of its target sequence, summed
over every alignment of it to the input frames: each frame emits a class or the blank, and
collapsing repeats then dropping blanks gives the target (Graves et al., 2006). The sum is the
forward (alpha) recursion over the extended target ``blank, l1, blank, l2, ..., blank``, in log
space, one frame at a time and vectorised over the batch; backward adds the backward (beta)
recursion. Frames past a sample's input length do not count and get no gradient.

The gradient is PyTorch's: ``exp(log_probs) - posterior`` per frame, where the posterior is the
share of the target's probability that goes through each class at that frame. That is the
gradient with respect to the logits when ``log_probs`` comes from ``log_softmax`` (what the loss
expects); with ``log_softmax`` in the graph, it gives exactly the true gradient of the loss.
"""

from __future__ import annotations

import numpy as np

from ...autograd import Function
from ...tensor import Tensor
from .loss import _check_reduction

_NEG_INF = float("-inf")


class CtcLoss(Function):
    """Per-sample CTC negative log-likelihoods of (T, N, C) log-probabilities; the targets, lengths
    and options are attributes (``apply``'s keywords), not inputs."""

    torch_name = "CtcLossBackward0"

    def forward(self, xp, lp):
        ext, il, skip, valid = self.ext, self.il, self.skip, self.valid
        t_max, n, _ = lp.shape
        s_ext = ext.shape[1]
        rows = xp.arange(n)[:, None]
        lpe = lp[:, rows, ext]  # (T, N, S'): each frame's log-probability of each extended label
        lpe = xp.where(valid, lpe, _NEG_INF)
        alpha = xp.full((t_max, n, s_ext), _NEG_INF, dtype=lp.dtype)
        if t_max:
            alpha[0, :, :2] = lpe[0, :, :2]
        with np.errstate(invalid="ignore"):  # (-inf) - (-inf) inside logaddexp: -inf, as wanted
            for t in range(1, t_max):
                prev = alpha[t - 1]
                acc = prev.copy()
                acc[:, 1:] = xp.logaddexp(acc[:, 1:], prev[:, :-1])
                acc[:, 2:] = xp.where(skip[:, 2:], xp.logaddexp(acc[:, 2:], prev[:, :-2]), acc[:, 2:])
                alpha[t] = acc + lpe[t]
        last = xp.maximum(il - 1, 0)
        s_last = self.lengths * 2  # the final blank; the label before it is s_last - 1
        end = alpha[last, xp.arange(n), s_last]
        end2 = xp.where(s_last > 0, alpha[last, xp.arange(n), xp.maximum(s_last - 1, 0)], _NEG_INF)
        with np.errstate(invalid="ignore"):
            nll = -xp.logaddexp(end, end2)
        # no frames: the empty target has probability 1, any other 0
        nll = xp.where(il == 0, xp.where(self.lengths == 0, 0.0, float("inf")), nll).astype(lp.dtype)
        self.lp, self.lpe, self.alpha, self.nll = lp, lpe, alpha, nll
        if self.zero_infinity:
            nll = xp.where(xp.isinf(nll), 0.0, nll).astype(lp.dtype)
        return nll

    def backward(self, xp, g):
        lp, lpe, alpha, nll = self.lp, self.lpe, self.alpha, self.nll
        ext, il, skip, valid = self.ext, self.il, self.skip, self.valid
        t_max, n, c = lp.shape
        s_ext = ext.shape[1]
        s_last = self.lengths * 2
        beta = xp.full((t_max, n, s_ext), _NEG_INF, dtype=lp.dtype)
        pos = xp.arange(s_ext)[None, :]
        start = valid & ((pos == s_last[:, None]) | (pos == s_last[:, None] - 1))  # where a path may end
        nxt = xp.full((n, s_ext), _NEG_INF, dtype=lp.dtype)
        with np.errstate(invalid="ignore"):
            for t in range(t_max - 1, -1, -1):
                acc = nxt.copy()
                acc[:, :-1] = xp.logaddexp(acc[:, :-1], nxt[:, 1:])
                acc[:, :-2] = xp.where(skip[:, 2:], xp.logaddexp(acc[:, :-2], nxt[:, 2:]), acc[:, :-2])
                rec = acc + lpe[t]
                first = (il - 1 == t)[:, None]  # this sample's last frame: paths start at its end
                nxt = xp.where(first, xp.where(start, lpe[t], _NEG_INF), xp.where((t < il - 1)[:, None], rec, _NEG_INF))
                beta[t] = nxt
            ab = alpha + beta  # (T, N, S'): log-probability of the paths through (t, s)
            top = ab.max(axis=2, keepdims=True)
            top = xp.where(xp.isfinite(top), top, 0.0)
            # sum each frame's paths by the class they emit: (N, T, S') @ (N, S', C)
            onehot = ((ext[:, :, None] == xp.arange(c)) & valid[:, :, None]).astype(lp.dtype)
            by_class = xp.matmul(xp.exp(ab - top).transpose(1, 0, 2), onehot).transpose(1, 0, 2)
            with np.errstate(divide="ignore"):
                log_post = xp.log(by_class) + top
            grad = xp.exp(lp) - xp.exp(log_post + nll[None, :, None] - lp)
        frames = (xp.arange(t_max)[:, None] < il[None, :])[:, :, None]
        scale = g
        if self.zero_infinity:
            scale = xp.where(xp.isinf(nll), 0.0, g)
        grad = xp.where(frames, grad * scale[None, :, None], 0.0).astype(lp.dtype)
        if self.zero_infinity:
            grad = xp.where(xp.isinf(nll)[None, :, None], 0.0, grad).astype(lp.dtype)
        return (grad,)


def _lengths(v, name: str, n: int):
    """``input_lengths``/``target_lengths`` (a tensor, list, tuple or int) as an int64 NumPy array of ``n``."""
    if isinstance(v, Tensor):
        if v._data.dtype.kind not in "iu":
            raise RuntimeError(f"{name} must be integral")
        a = np.asarray(v.detach().cpu().numpy()).reshape(-1)
    else:
        a = np.asarray(v).reshape(-1)
        if a.dtype.kind not in "iu":
            raise RuntimeError(f"{name} must be integral, got {v!r}")
    if a.size != n:
        raise RuntimeError(f"{name} must be of size batch_size ({n}), got {a.size} values")
    return a.astype(np.int64)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss of (T, N, C) log-probabilities (``log_softmax`` over C) against targets.

    Args:
        log_probs: (T, N, C), or (T, C) for one unbatched sample.
        targets: (N, S) class indices padded to S, or the N targets concatenated, 1-D; blank
            never appears in them.
        input_lengths: (N,) frames of each sample (at most T).
        target_lengths: (N,) length of each target.
        blank: the blank's class index.
        reduction: ``'mean'`` (each loss divided by its target length, then the batch mean),
            ``'sum'`` or ``'none'``.
        zero_infinity: give impossible targets (too long for their input) a zero loss and
            gradient instead of ``inf``.
    """
    _check_reduction(reduction)
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"ctc_loss: log_probs must be a Tensor, got {type(log_probs).__name__}")
    unbatched = log_probs.ndim == 2
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(
            f"ctc_loss: expected log_probs of shape (T, N, C) or (T, C), but got a {log_probs.ndim}-dimensional "
            f"tensor of shape {tuple(log_probs.shape)}"
        )
    if not log_probs.is_floating_point():
        raise RuntimeError(f"ctc_loss: log_probs must be a floating-point tensor, got {log_probs.dtype}")
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    t_max, n, c = lp.shape
    if not 0 <= blank < c:
        raise RuntimeError(f"blank must be in label range: blank={blank} with {c} classes")
    il = _lengths(input_lengths, "input_lengths", n)
    tl = _lengths(target_lengths, "target_lengths", n)
    if (il < 0).any() or (il > t_max).any():
        bad = int(il[(il < 0) | (il > t_max)][0])
        raise RuntimeError(f"Expected input_lengths to have values between 0 and T={t_max}, but got value {bad}")
    if (tl < 0).any():
        raise RuntimeError(f"Expected target_lengths to have values at least 0, but got value {int(tl.min())}")
    tg = np.asarray(targets.detach().cpu().numpy() if isinstance(targets, Tensor) else targets)
    if tg.dtype.kind == "f" and not np.array_equal(tg, np.floor(tg)):
        raise RuntimeError("ctc_loss: targets must hold class indices (whole numbers)")
    tg = tg.astype(np.int64)
    s_max = int(tl.max()) if n else 0
    if unbatched or tg.ndim == 2:  # padded: (N, S)
        tg = tg.reshape(1, -1) if unbatched else tg
        if tg.shape[0] != n:
            raise RuntimeError(f"ctc_loss: targets of shape {tuple(tg.shape)} for a batch of {n}: expected ({n}, S)")
        if tg.shape[1] < s_max:
            raise RuntimeError(
                f"ctc_loss: a target length is {s_max} but the padded targets hold only {tg.shape[1]} per sample"
            )
        labels = tg[:, :s_max]
    elif tg.ndim == 1:  # concatenated
        if tg.size < int(tl.sum()):
            raise RuntimeError(
                f"ctc_loss: the concatenated targets hold {tg.size} labels but target_lengths add up to {int(tl.sum())}"
            )
        labels = np.zeros((n, s_max), np.int64)
        offsets = np.concatenate([[0], np.cumsum(tl)[:-1]])
        for i in range(n):
            labels[i, :tl[i]] = tg[offsets[i]:offsets[i] + tl[i]]
    else:
        raise RuntimeError(f"ctc_loss: targets must be 1-D (concatenated) or 2-D (N, S), got shape {tuple(tg.shape)}")
    used = np.arange(s_max)[None, :] < tl[:, None]
    bad = used & ((labels < 0) | (labels >= c))
    if bad.any():
        raise IndexError(f"ctc_loss: target class {int(labels[bad][0])} is out of range for {c} classes")
    if (used & (labels == blank)).any():
        raise RuntimeError(f"ctc_loss: the targets contain the blank index {blank}")
    # the extended targets: blank, l1, blank, l2, ..., blank (padded with blanks)
    s_ext = 2 * s_max + 1
    ext = np.full((n, s_ext), blank, np.int64)
    ext[:, 1::2] = np.where(used, labels, blank)
    valid = np.arange(s_ext)[None, :] <= 2 * tl[:, None]
    skip = np.zeros((n, s_ext), bool)  # a label may be reached from two back: not a blank, not a repeat
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    xp = log_probs._device.xp
    if xp is not np:
        ext, il, skip, valid, lengths = (xp.asarray(a) for a in (ext, il, skip, valid, tl))
    else:
        lengths = tl
    loss = CtcLoss.apply(lp, ext=ext, il=il, skip=skip, valid=valid, lengths=lengths,
                         zero_infinity=bool(zero_infinity))
    if reduction == "none":
        return loss.squeeze(0) if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    per = Tensor._make(xp.asarray(np.maximum(tl, 1).astype(lp._data.dtype)), log_probs._device)
    return (loss / per).mean()
