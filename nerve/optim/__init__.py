"""Optimizers and learning-rate schedulers, as ``torch.optim``."""

from . import lr_scheduler
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
           "Rprop", "ASGD", "Adafactor", "LBFGS", "lr_scheduler"]


def __getattr__(name):
    if name == "swa_utils":  # loaded on first use: it builds on nerve.nn
        import importlib

        return importlib.import_module("nerve.optim.swa_utils")
    raise AttributeError(f"module 'nerve.optim' has no attribute {name!r}")
