"""``DistributedSampler``: each of ``num_replicas`` processes sees its own share of the dataset.

As ``torch.utils.data.distributed.DistributedSampler``: the (optionally shuffled) index list is
padded by repeating its start (or cut, with ``drop_last``) to a multiple of ``num_replicas``,
and replica ``rank`` takes every ``num_replicas``-th index from position ``rank``. Shuffling is
seeded by ``seed + epoch``: call ``set_epoch(epoch)`` before each epoch so that the order changes
and every replica agrees on it. Without an initialised process group, ``num_replicas`` and
``rank`` come from the environment (``WORLD_SIZE``/``RANK``, or Open MPI's
``OMPI_COMM_WORLD_SIZE``/``OMPI_COMM_WORLD_RANK``), else 1 and 0.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _env_int(*names: str, default: int) -> int:
    for n in names:
        if os.environ.get(n, "").strip().lstrip("-").isdigit():
            return int(os.environ[n])
    return default


class DistributedSampler(Sampler):
    """The indices of one replica.

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: how many processes share the data.
        rank: this process's index in [0, num_replicas).
        shuffle: shuffle (with ``seed + epoch``) before splitting.
        seed: the shuffle's seed; must be the same on every replica.
        drop_last: cut the tail instead of padding, so that every replica gets the same count.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        if num_replicas is None:
            num_replicas = _env_int("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", default=1)
        if rank is None:
            rank = _env_int("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", default=0)
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.Generator(np.random.PCG64(self.seed + self.epoch)).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which (with ``seed``) decides the shuffle of the next iteration."""
        self.epoch = epoch
