"""``nerve.nn``: ``Module``, ``Parameter``, containers, layers and losses, as ``torch.nn``."""
# ruff: noqa: F401, I001

from . import functional, init, parallel, utils
from .modules.activation import (
    CELU, ELU, GELU, SELU, SiLU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU,
    ReLU, ReLU6, Sigmoid, Softmax, Softmin, Softplus, Softsign, Tanh, Tanhshrink, Threshold,
)
from .modules.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .modules.dropout import AlphaDropout, Dropout
from .modules.flatten import Flatten, Unflatten
from .modules.linear import Bilinear, Identity, Linear
from .modules.loss import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
from .modules.module import Module
from .parallel import DataParallel
from .modules.normalization import LayerNorm
from .modules.sparse import Embedding
from .parameter import Buffer, Parameter, UninitializedBuffer, UninitializedParameter

# ---- convolution, pooling and batch norm (owned by the conv work; add imports below this line) ----
from .modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .modules.conv import Conv1d, Conv2d, Conv3d
from .modules.dropout2d import Dropout2d, Dropout3d
from .modules.pooling import (
    AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
    MaxPool1d, MaxPool2d, MaxPool3d,
)
from .modules.normalization import GroupNorm
from .modules.instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
# ---- padding, shuffles, fold, distances, more pooling and activations (the small-layers work) ----
from .modules.activation import GLU, Softmax2d
from .modules.distance import CosineSimilarity, PairwiseDistance
from .modules.fold import Fold, Unfold
from .modules.padding import (
    CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d, ReflectionPad1d,
    ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d,
    ZeroPad3d,
)
from .modules.pixelshuffle import ChannelShuffle, PixelShuffle, PixelUnshuffle
from .modules.loss import (
    CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss, MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
)
from .modules.pooling import AdaptiveAvgPool1d, AdaptiveMaxPool1d, LPPool1d, LPPool2d, LPPool3d
# ---- recurrent layers (the rnn work) ----
from .modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
# ---- attention and Transformer layers (the transformer work) ----
from .modules.transformer import (
    MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
)
from .modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
# ---- spatial transformers, local response norm, embedding bags, lazy layers (the nn-extras work) ----
from .modules.normalization import LocalResponseNorm
# ---- layers found missing by the torch differential checks (tests/test_fuzz_nn.py) ----
from .modules.normalization import RMSNorm
from .modules.dropout2d import Dropout1d
from .modules.activation import Hardshrink, Softshrink
from .modules.sparse import EmbeddingBag
from .modules.linear import LazyLinear
from .modules.batchnorm import LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d
from .modules.conv import (
    LazyConv1d, LazyConv2d, LazyConv3d, LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d,
)
from .modules.instancenorm import LazyInstanceNorm1d, LazyInstanceNorm2d, LazyInstanceNorm3d
# ---- connectionist temporal classification
from .modules.loss import CTCLoss
# ---- the nn-gaps work: what torch users call that nerve lacked
from .modules.pooling import MaxUnpool1d, MaxUnpool2d, MaxUnpool3d
from .modules.activation import RReLU
from .modules.dropout import FeatureAlphaDropout
from .modules.loss import TripletMarginWithDistanceLoss
from .modules.pooling import FractionalMaxPool2d, FractionalMaxPool3d
from .modules.loss import NLLLoss2d
