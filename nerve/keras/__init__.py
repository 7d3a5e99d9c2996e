"""``nerve.keras``: Keras 3's API on nerve, so ``from nerve import keras`` runs a Keras script.

Models (``Sequential``, functional ``Model(inputs, outputs)``, subclassed ``Model``), layers
with channels-last images, ``compile`` / ``fit`` / ``evaluate`` / ``predict``, callbacks, the
progress bar, saving, ``keras.ops`` and ``keras.random``. It holds no math of its own: layers
call nerve's functional ops and ``fit`` runs nerve.optim's optimizers, the same train step a
user writes by hand.

Where it knowingly differs from Keras 3:

* files: ``model.save('m.keras')`` and ``save_weights('w.weights.h5')`` keep Keras's names but
  write nerve's own safe format (safetensors layout, architecture as JSON), which Keras cannot
  read; ``load_weights`` reads Keras's ``.weights.h5`` / ``.keras`` weights into the same model
  built in nerve.keras (with h5py installed), but ``load_model`` cannot rebuild a model from
  Keras's config.
* optimizers are nerve.optim's, set to Keras's update rules (RMSprop divides by ``sqrt(v + eps)``,
  Adam adds eps before the bias correction, Nadam is NAdam with Keras's momentum schedule; Adamax,
  Lion, Ftrl and Lamb take Keras's rules from ``nerve.optim.keras_rules``), except Adagrad: it divides by ``sqrt(v) + eps``
  where Keras uses ``sqrt(v + eps)``; its steps differ only where ``v`` is near eps (1e-7).
* BatchNormalization updates its moving variance with the unbiased batch variance (as PyTorch)
  where Keras uses the biased one.
* a Dense or Conv2D kernel's ``variable.value`` is the core's parameter in the core's layout
  ((out, in) and (out, in, kh, kw)); ``shape``, ``numpy()``, ``assign``, ``get_weights`` and
  files use Keras's.
* masks (``Embedding(mask_zero=True)``, ``Masking``) ride along with the tensors as in Keras, but
  a functional model's graph holds no mask ops: Keras's summary of a masked functional model
  also lists ops such as ``not_equal`` and ``any`` as layers, nerve's does not.
* a ``Lambda`` layer cannot be saved to a ``.keras`` file (they hold no code); ``TimeDistributed``
  folds the time steps into the batch (Keras loops over them: the same results).
* a ``PyDataset`` with ``workers > 1`` gives ``fit`` the batches of ``workers=1``, in order (Keras
  3.15 first serves what its threads fetched while it built the model, so its order can differ);
  ``use_multiprocessing=True`` fetches on threads too.
"""

from . import (
    activations,
    backend,
    callbacks,
    constraints,
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
    "backend", "callbacks", "constraints", "datasets", "initializers", "layers", "load_model", "losses", "metrics",
    "models", "ops", "optimizers", "random", "regularizers", "saving", "utils",
]
