"""``nerve.nn.utils``: gradient clipping, flattening parameters into one vector, weight and spectral
normalisation, parametrizations."""
# ruff: noqa: F401, I001

from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from . import rnn
from . import parametrizations, parametrize
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm
