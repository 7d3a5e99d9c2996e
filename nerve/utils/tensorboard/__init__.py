"""``nerve.utils.tensorboard``: ``SummaryWriter``, as ``torch.utils.tensorboard``, writing
TensorBoard's event files without TensorFlow, TensorBoard or protobuf (view them with
``pip install tensorboard`` and ``tensorboard --logdir runs``)."""

from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
