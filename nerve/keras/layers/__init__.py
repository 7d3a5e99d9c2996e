"""``keras.layers``: the layers nerve's Keras front end provides (channels-last images by default,
channels-first with ``data_format="channels_first"`` or ``keras.config.set_image_data_format``)."""

from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .conv import (
    AveragePooling2D,
    AvgPool2D,
    Conv2D,
    Convolution2D,
    DepthwiseConv2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
    SeparableConv2D,
    SeparableConvolution2D,
)
from .conv1d import (
    AveragePooling1D,
    AvgPool1D,
    Conv1D,
    Convolution1D,
    DepthwiseConv1D,
    MaxPool1D,
    MaxPooling1D,
    SeparableConv1D,
    SeparableConvolution1D,
)
from .conv3d import (
    AveragePooling3D,
    AvgPool3D,
    Conv3D,
    Conv3DTranspose,
    Convolution3D,
    Convolution3DTranspose,
    Cropping3D,
    GlobalAveragePooling3D,
    GlobalAvgPool3D,
    GlobalMaxPool3D,
    GlobalMaxPooling3D,
    MaxPool3D,
    MaxPooling3D,
    UpSampling3D,
    ZeroPadding3D,
)
from .conv_transpose import Conv1DTranspose, Conv2DTranspose, Convolution1DTranspose, Convolution2DTranspose
from .core import (
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    Lambda,
    LeakyReLU,
    Masking,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)
from .einsum_dense import EinsumDense
from .layer import Input, InputLayer, KerasTensor, Layer
from .merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .reshaping import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell, StackedRNNCells
from .serialization import deserialize, serialize
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Concatenate",
    "Conv2D", "Convolution2D", "Dense", "Dropout", "Embedding", "Flatten", "GlobalAveragePooling2D",
    "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D", "Identity", "Input", "InputLayer",
    "KerasTensor", "Layer", "LayerNormalization", "LeakyReLU", "MaxPool2D", "MaxPooling2D", "Multiply",
    "ReLU", "Rescaling", "Reshape", "Softmax", "Subtract", "add", "concatenate",
    "GRU", "LSTM", "SimpleRNN", "RNN", "GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells", "Conv2DTranspose", "Convolution2DTranspose", "UpSampling2D", "ZeroPadding2D",
    "Bidirectional", "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPool1D", "GlobalMaxPooling1D", "Lambda",
    "Masking", "TimeDistributed",
    "AdditiveAttention", "Attention", "AveragePooling1D", "AvgPool1D", "Conv1D", "Convolution1D", "Cropping1D",
    "MaxPool1D", "MaxPooling1D", "MultiHeadAttention", "SeparableConv1D", "SeparableConvolution1D", "UpSampling1D",
    "ZeroPadding1D", "Maximum", "Minimum", "average", "maximum", "minimum", "multiply", "subtract",
    "AveragePooling3D", "AvgPool3D", "Conv3D", "Conv3DTranspose", "Convolution3D", "Convolution3DTranspose", "Cropping3D", "GlobalAveragePooling3D",
    "GlobalAvgPool3D", "GlobalMaxPool3D", "GlobalMaxPooling3D", "MaxPool3D", "MaxPooling3D", "UpSampling3D", "ZeroPadding3D",
]
__all__ += ["deserialize", "serialize"]
__all__ += ["Conv1DTranspose", "Convolution1DTranspose", "Cropping2D", "DepthwiseConv1D", "DepthwiseConv2D",
            "SeparableConv2D", "SeparableConvolution2D"]
__all__ += ["EinsumDense"]
