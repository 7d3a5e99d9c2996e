"""The ``torch.*`` names of ``torch.nn.functional``'s functions that scripts call as ``torch.X``
(``torch.conv2d``, ``torch.dropout``, ``torch.layer_norm``, ...).

``nerve/__init__.py`` loads this module on first use of one of them, so that ``import nerve`` does
not load ``nerve.nn``. Most are ``nerve.nn.functional``'s own functions. The rest take PyTorch's
``torch.X`` arguments, which differ from ``F.X``'s: ``torch.dropout(input, p, train)``,
``torch.embedding(weight, indices)``, ``torch.batch_norm`` and ``torch.instance_norm`` with the
weights first, ``torch.adaptive_max_pool1d`` returning the indices too, and the losses taking
``reduction`` as a number (0 none, 1 mean, 2 sum).

The losses' ``reduction`` defaults to 0 (none), as PyTorch 2.13's ``torch.X`` behaves:
``torch.kl_div(a, b)`` gives the elementwise losses there, although the op's schema names mean.
"""

from __future__ import annotations

from .nn import functional as F

# the same functions as nn.functional's, under torch's names
for _name in ("adaptive_avg_pool1d avg_pool1d bilinear channel_shuffle conv1d conv2d conv3d conv_transpose1d "
              "conv_transpose2d conv_transpose3d cosine_similarity hardshrink max_pool1d max_pool2d max_pool3d "
              "pairwise_distance pdist pixel_shuffle pixel_unshuffle prelu rms_norm").split():
    globals()[_name] = getattr(F, _name)

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(r) -> str:
    if isinstance(r, str):
        return r
    if r not in _REDUCTIONS:
        raise ValueError(f"{r} is not a valid value for reduction (0 none, 1 mean, 2 sum)")
    return _REDUCTIONS[r]


def dropout(input, p: float, train: bool):
    """``torch.dropout``: ``p`` and ``train`` are required (``F.dropout``'s ``training`` defaults to True)."""
    return F.dropout(input, p, train)


def embedding(weight, indices, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False):
    """``torch.embedding``: the weight first; ``padding_idx=-1`` means none."""
    return F.embedding(indices, weight, padding_idx=None if padding_idx == -1 else padding_idx,
                       scale_grad_by_freq=scale_grad_by_freq)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5, cudnn_enable: bool = True):
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5, cudnn_enabled: bool = True):
    return F.group_norm(input, num_groups, weight, bias, eps)


def batch_norm(input, weight, bias, running_mean, running_var, training: bool, momentum: float, eps: float,
               cudnn_enabled: bool = True):
    """``torch.batch_norm``: the weight and bias before the running statistics, every argument given."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats: bool, momentum: float,
                  eps: float, cudnn_enabled: bool = True):
    """``torch.instance_norm``: the weight and bias before the running statistics, every argument given."""
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def adaptive_max_pool1d(input, output_size):
    """``torch.adaptive_max_pool1d``: ``(values, indices)``."""
    return F.adaptive_max_pool1d(input, output_size, return_indices=True)


def selu(input):
    return F.selu(input)


def celu(input, alpha: float = 1.0):
    return F.celu(input, alpha)


def threshold(input, threshold: float, value: float):
    return F.threshold(input, threshold, value)


def kl_div(input, target, reduction=0, *, log_target: bool = False):
    reduction = _reduction(reduction)
    if reduction == "mean":  # the op itself does not warn of 'mean' as F.kl_div does
        return F.kl_div(input, target, reduction="none", log_target=log_target).mean()
    return F.kl_div(input, target, reduction=reduction, log_target=log_target)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=0):
    return F.binary_cross_entropy_with_logits(input, target, weight, reduction=_reduction(reduction),
                                              pos_weight=pos_weight)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, reduction=0):
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, reduction=0):
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def hinge_embedding_loss(input, target, margin: float = 1.0, reduction=0):
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, reduction=0):
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=_reduction(reduction))


def poisson_nll_loss(input, target, log_input: bool, full: bool, eps: float, reduction):
    """``torch.poisson_nll_loss``: every argument given, ``reduction`` a number."""
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=_reduction(reduction))
