"""``nerve.keras``: Keras 3's API on nerve, so ``from nerve import keras`` runs a Keras script.

Models (``Sequential``, functional ``Model(inputs, outputs)``, subclassed ``Model``), layers
with channels-last images, ``compile`` / ``fit`` / ``evaluate`` / ``predict``, callbacks, the
progress bar, saving, ``keras.ops`` and ``keras.random``. It holds no math of its own: layers
call nerve's functional ops and ``fit`` runs nerve.optim's optimizers, the same train step a
user writes by hand.
"""

from . import (
    activations,
    backend,
    callbacks,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    utils,
)
from .layers import Input, InputLayer, KerasTensor, Layer
from .models import Model, Sequential
from .models.functional import Functional
from .saving import load_model
from .variables import Variable

__version__ = "3.0.0-nerve"

config = backend

__all__ = [
    "Functional", "Input", "InputLayer", "KerasTensor", "Layer", "Model", "Sequential", "Variable", "activations",
    "backend", "callbacks", "datasets", "initializers", "layers", "load_model", "losses", "metrics", "models",
    "ops", "optimizers", "random", "regularizers", "saving", "utils",
]
