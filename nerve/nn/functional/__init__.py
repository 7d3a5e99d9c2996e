"""``nerve.nn.functional`` (``F``): stateless layers, activations and losses, as ``torch.nn.functional``."""
# ruff: noqa: F401, I001

from .activation import (
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax, logsigmoid, mish, prelu, relu,
    relu6, relu_, selu, sigmoid, silu, softmax, softmin, softplus, softsign, tanh, tanhshrink, threshold,
)
from .dropout import alpha_dropout, dropout
from .layer_norm import layer_norm
from .linear import bilinear, linear
from .loss import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div, l1_loss, mse_loss,
    nll_loss, smooth_l1_loss,
)
from .misc import cosine_similarity, embedding, normalize, one_hot, pad

# ---- convolution, pooling and batch norm (owned by the conv work; add imports below this line) ----
from .conv import conv1d, conv2d, conv3d
from .dropout2d import dropout1d, dropout2d, dropout3d
from .normalization import batch_norm
from .pooling import (
    adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool2d,
    avg_pool3d, max_pool1d, max_pool2d, max_pool3d,
)

# ---- attention (owned by the transformer work) ----
from .attention import scaled_dot_product_attention
from .group_norm import group_norm, instance_norm
# ---- shuffles, fold, distances, more pooling and activations (the small-layers work) ----
from .activation import glu
from .fold import fold, unfold
from .loss import (
    cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, margin_ranking_loss, multi_margin_loss,
    multilabel_margin_loss, multilabel_soft_margin_loss, poisson_nll_loss, soft_margin_loss, triplet_margin_loss,
)
from .misc import pairwise_distance
from .pooling import adaptive_avg_pool1d, adaptive_max_pool1d, lp_pool1d, lp_pool2d, lp_pool3d
from .shuffle import channel_shuffle, pixel_shuffle, pixel_unshuffle
from .upsampling import interpolate, upsample, upsample_bilinear, upsample_nearest
from .conv_transpose import conv_transpose1d, conv_transpose2d, conv_transpose3d
# ---- the API-surface work
from .activation import hardshrink, softshrink
from .layer_norm import rms_norm
from .misc import pdist
# ---- spatial transformers, local response norm, gumbel softmax, embedding bags (the nn-extras work)
from .grid_sample import affine_grid, grid_sample
from .activation import gumbel_softmax
from .local_response_norm import local_response_norm
from .embedding_bag import embedding_bag
# ---- connectionist temporal classification
from .ctc import ctc_loss
# ---- the nn-gaps work: what torch users call that nerve lacked
from .unpool import max_unpool1d, max_unpool2d, max_unpool3d
from .activation import rrelu
from .dropout import feature_alpha_dropout
from .loss import triplet_margin_with_distance_loss
from .activation import celu_, elu_, hardtanh_, leaky_relu_, rrelu_, selu_, threshold_
from .pooling import (
    adaptive_max_pool1d_with_indices, adaptive_max_pool2d_with_indices, adaptive_max_pool3d_with_indices,
    max_pool1d_with_indices, max_pool2d_with_indices, max_pool3d_with_indices,
)
from .fractional_pool import (
    fractional_max_pool2d, fractional_max_pool2d_with_indices, fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)
